//! The SQLite and PostgreSQL migrations must describe the same schema: the same tables,
//! columns (type family and nullability) and indexes. A migration added to one folder and
//! not the other fails here.

use stagecoach_storage::schema::{POSTGRES_ONLY, SQLITE_ONLY, postgres_shape, sqlite_shape};

use crate::support::{Backend, TestDatabase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_schemas_do_not_drift() {
    let sqlite = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let Some(postgres) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    for db in [&sqlite, &postgres] {
        let store = stagecoach_storage::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        store.close().await;
    }
    let mut left = sqlite_shape(&sqlite.url).await.unwrap();
    let mut right = postgres_shape(&postgres.url).await.unwrap();
    postgres.drop_schema().await;
    assert!(
        left.columns.contains_key("steps"),
        "the shape reader sees the tables: {left:?}"
    );
    // The declared differences are real, and the only ones.
    for name in SQLITE_ONLY {
        let in_sqlite = left.columns.remove(name).is_some() | left.indexes.remove(name).is_some();
        assert!(
            in_sqlite,
            "{name} is declared SQLite-only but SQLite lacks it"
        );
        assert!(
            !right.columns.contains_key(name) && !right.indexes.contains_key(name),
            "{name} is declared SQLite-only but PostgreSQL has it"
        );
    }
    for name in POSTGRES_ONLY {
        assert!(
            !left.indexes.contains_key(name),
            "{name} is declared PostgreSQL-only but SQLite has it"
        );
        // Present wherever pg_trgm could be installed, as on the test server.
        assert!(
            right.indexes.remove(name).is_some(),
            "{name} is declared PostgreSQL-only but PostgreSQL lacks it"
        );
    }
    assert_eq!(
        left.columns, right.columns,
        "columns differ between the SQLite and PostgreSQL migrations"
    );
    assert_eq!(
        left.indexes, right.indexes,
        "indexes differ between the SQLite and PostgreSQL migrations"
    );
}
