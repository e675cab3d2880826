//! `examples/sqlite_service` in-process: a thread-per-connection TCP service over one
//! SQLite connection owned by a `ThreadBound`, with async code on the loop reaching the
//! same connection.

#[path = "../examples/sqlite_service/service.rs"]
mod service;

#[test]
fn the_sqlite_service_serves_blocking_clients_and_async_code_through_one_connection() {
    let db = service::TempDb::new("test");
    let outcome = service::run(&db.0, 4, 50).expect("the service run");
    assert_eq!(outcome.shared_total, 200);
    assert_eq!(outcome.notes, 20);
}

#[test]
fn a_request_on_a_closed_database_is_answered_with_an_error() {
    let db = service::TempDb::new("closed");
    let conn = service::Db::open(&db.0).expect("open");
    assert_eq!(conn.add("k".to_owned(), 2), Ok(2));
    assert!(conn.close().is_clean());
    let refused = conn.get("k".to_owned()).unwrap_err();
    assert!(refused.contains("shut down"), "{refused}");
}
