//! The PostgreSQL store's own promises, on a real server started on loopback: lost
//! connections are transient and mended, rows it did not write are refused without
//! being fetched, and errors are sorted into transient and failed.
#![cfg(feature = "postgres")]

#[path = "stores/postgres_server.rs"]
mod postgres_server;

use cutover::store::{
    MAX_DOCUMENT_LEN, PostgresStore, PostgresStoreError, RolloutId, Store, StoreError, Stored,
    Version,
};
use postgres::{Client, NoTls};
use postgres_server::PostgresServer;

#[test]
fn postgres_store_on_a_real_server() {
    let Some(server) = PostgresServer::start() else {
        return;
    };
    a_lost_connection_is_transient_and_mended(&server);
    // Connected after the restart above, which cuts every connection.
    let mut sql = Client::connect(&server.params(), NoTls).expect("connects");
    rows_it_did_not_write_are_refused(&server, &mut sql);
    a_missing_table_fails_for_good(&server);
    table_names_cannot_inject_sql(&server, &mut sql);
}

fn store(server: &PostgresServer, table: &str) -> PostgresStore {
    let mut store = PostgresStore::connect(&server.params(), table).expect("connects");
    store.create_table().expect("the table is made");
    store
}

fn a_lost_connection_is_transient_and_mended(server: &PostgresServer) {
    let mut store = store(server, "restarts");
    let id = RolloutId::new("web").unwrap();
    let first = store.save(&id, b"before", None).unwrap();
    server.restart();
    // The first call may find the connection cut (transient); the store then
    // connects again, and the call after it goes through.
    let mut attempts = 0;
    let second = loop {
        attempts += 1;
        match store.save(&id, b"after", Some(first)) {
            Ok(version) => break version,
            Err(error) if attempts < 3 => assert!(error.is_transient(), "{error:?}"),
            Err(error) => panic!("the store did not reconnect: {error:?}"),
        }
    };
    assert_eq!(second, Version::new(2).unwrap());
    assert_eq!(
        store.load(&id).unwrap(),
        Some(Stored::new(second, b"after".to_vec()))
    );
}

fn rows_it_did_not_write_are_refused(server: &PostgresServer, sql: &mut Client) {
    let mut store = store(server, "foreign_rows");
    // Written past the store: a version below 1 (the CHECK is dropped to allow it)
    // and a document over the limit, made on the server so it never crosses the wire.
    sql.batch_execute(&format!(
        "ALTER TABLE foreign_rows DROP CONSTRAINT foreign_rows_version_check;
         INSERT INTO foreign_rows VALUES ('zero', 0, '\\x00');
         INSERT INTO foreign_rows VALUES ('huge', 1, convert_to(repeat('x', {}), 'UTF8'))",
        MAX_DOCUMENT_LEN + 1
    ))
    .expect("rows written by hand");
    let zero = RolloutId::new("zero").unwrap();
    assert!(matches!(
        store.load(&zero),
        Err(StoreError::Failed(PostgresStoreError::BadVersion {
            version: 0,
            ..
        }))
    ));
    assert!(matches!(
        store.save(&zero, b"x", Some(Version::FIRST)),
        Err(StoreError::Failed(PostgresStoreError::BadVersion {
            version: 0,
            ..
        }))
    ));
    let huge = RolloutId::new("huge").unwrap();
    match store.load(&huge) {
        Err(StoreError::Failed(PostgresStoreError::TooLong { len, .. })) => {
            assert_eq!(len, MAX_DOCUMENT_LEN as i64 + 1);
        }
        other => panic!("an oversized row must be refused: {other:?}"),
    }
}

fn a_missing_table_fails_for_good(server: &PostgresServer) {
    let mut store = PostgresStore::connect(&server.params(), "never_created").unwrap();
    let error = store.load(&RolloutId::new("web").unwrap()).unwrap_err();
    assert!(
        matches!(&error, StoreError::Failed(PostgresStoreError::Postgres(e)) if e.code().is_some_and(|c| c.code() == "42P01")),
        "{error:?}"
    );
}

fn table_names_cannot_inject_sql(server: &PostgresServer, sql: &mut Client) {
    let name = "t; DROP TABLE restarts; --";
    assert!(matches!(
        PostgresStore::connect(&server.params(), name),
        Err(PostgresStoreError::TableName { .. })
    ));
    let still_there = sql
        .query_one("SELECT count(*) FROM restarts", &[])
        .expect("the table is still there");
    assert_eq!(still_there.get::<_, i64>(0), 1);
}
