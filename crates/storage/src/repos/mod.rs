//! One module per aggregate: its part of the [`crate::Transaction`] interface, its row type,
//! and a macro that implements it for a backend's transaction type with SQL both engines
//! accept (`$n` placeholders, `ON CONFLICT`, `RETURNING`).

pub mod agents;
pub mod ai;
pub mod board;
pub mod contact_variables;
pub mod contacts;
pub mod conversations;
pub mod crm_events;
pub mod delivery;
pub mod idempotency;
pub mod labels;
pub mod leads;
pub mod memberships;
pub mod messages;
pub mod notes;
pub mod organizations;
pub mod reports;
pub mod scenarios;
pub(crate) mod search_text;
pub mod sessions;
pub mod steps;
pub mod timeline;
pub mod tokens;

/// Appends `(v1, v2, …)` with every value bound: the list after an `IN`.
macro_rules! push_list {
    ($qb:expr, $values:expr) => {{
        $qb.push("(");
        let mut list = $qb.separated(", ");
        for value in $values {
            list.push_bind(value);
        }
        list.push_unseparated(")");
    }};
}
pub(crate) use push_list;
