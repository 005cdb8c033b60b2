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

    // PostgreSQL's binaries are installed wherever the tests run (.ci/run installs them).
    crm_app::private_cluster::start(&options, &dir)
        .unwrap_or_else(|why| panic!("the private cluster did not start: {why}"));
    let mut conn = options.connect().await.unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    drop(conn);
    crm_app::private_cluster::stop(&dir).unwrap();
    assert!(
        options.connect().await.is_err(),
        "the private cluster did not stop"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// As root the cluster runs as `nobody`; a configured folder that `nobody` cannot reach is
/// replaced by one under /var/tmp, and no folder outside the cluster's own changes mode.
#[cfg(unix)]
#[test]
fn no_permissions_change_outside_the_cluster_folder() {
    use std::os::unix::fs::PermissionsExt;
    let closed = format!(
        "{}/../target/closed-parent-{}",
        env!("CARGO_MANIFEST_DIR"),
        uuid::Uuid::new_v4().simple()
    );
    std::fs::create_dir_all(&closed).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    let configured = format!("{closed}/postgres");
    let used = crm_app::private_cluster::data_dir(&configured, true).unwrap();
    let mode = std::fs::metadata(&closed).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the closed parent was opened");
    assert!(
        used.to_string_lossy()
            .starts_with("/var/tmp/crm-private-cluster-"),
        "{}",
        used.display()
    );
    // Where others can pass, the configured folder is used as it is.
    let open = crm_app::private_cluster::data_dir(&configured, false).unwrap();
    assert!(open.ends_with("postgres"), "{}", open.display());
    std::fs::remove_dir_all(&closed).unwrap();
    let _ = std::fs::remove_dir(&used);
}
