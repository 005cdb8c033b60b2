//! Where no server answers, a private cluster starts from the installed binaries.

use sqlx::postgres::PgConnectOptions;
use sqlx::ConnectOptions;

#[tokio::test]
async fn a_private_cluster_starts_where_nothing_answers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = format!(
        "{}/../target/private-cluster-test-{port}",
        env!("CARGO_MANIFEST_DIR")
    );
    let options: PgConnectOptions = format!("postgres://postgres@127.0.0.1:{port}/postgres")
        .parse()
        .unwrap();
    assert!(
        options.connect().await.is_err(),
        "something already answers on {port}"
    );

    let started = crm_api::private_cluster::start(&options, &dir);
    if let Err(why) = &started {
        // Without PostgreSQL's binaries the server says so, and so does this test.
        assert!(why.contains("no PostgreSQL"), "{why}");
        return;
    }
    let mut conn = options.connect().await.unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    drop(conn);
    crm_api::private_cluster::stop(&dir).unwrap();
    assert!(
        options.connect().await.is_err(),
        "the private cluster did not stop"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
