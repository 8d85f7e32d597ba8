-- Board pages and counts filter on organization_id as well as the scenario. With the
-- organization outside the index, every link the page skips (OFFSET) or counts had to
-- be read from the table to check it: up to 500 rows for the tenth page of 50 cards,
-- and every link of the scenario for the counts. With it inside, both read the index
-- alone until the page's own rows. Keep in step with ../sqlite/0007_board_index_tenant_first.sql.
DROP INDEX scenario_links_board;
CREATE INDEX scenario_links_board
    ON scenario_links (organization_id, scenario_id, step_id, available, created_at, id);
