//! Private PostgreSQL clusters for the tests that stop, lag or replicate a server: each
//! on a free port, in a folder of its own under `target/`, stopped and removed when
//! dropped. Never the shared server.

use sqlx::postgres::PgConnectOptions;

/// A private cluster (a primary, or a hot standby of one).
pub struct Cluster {
    dir: String,
    options: PgConnectOptions,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
        .port()
}

fn dir_for(name: &str, port: u16) -> String {
    format!("{}/../target/{name}-{port}", env!("CARGO_MANIFEST_DIR"))
}

fn options(port: u16) -> PgConnectOptions {
    PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username("postgres")
}

impl Cluster {
    /// A new cluster named `name` (its folder's prefix), started.
    pub fn start(name: &str) -> Self {
        let port = free_port();
        let cluster = Self {
            dir: dir_for(name, port),
            options: options(port),
        };
        crm_app::private_cluster::start(&cluster.options, &cluster.dir)
            .unwrap_or_else(|why| panic!("the private cluster did not start: {why}"));
        cluster
    }

    /// A streaming hot standby of `primary` (`pg_basebackup`), named `name`, started.
    pub fn standby_of(primary: &Cluster, name: &str) -> Self {
        let port = free_port();
        let cluster = Self {
            dir: dir_for(name, port),
            options: options(port),
        };
        crm_app::private_cluster::start_standby(&primary.options, &cluster.dir, port)
            .unwrap_or_else(|why| panic!("the standby did not start: {why}"));
        cluster
    }

    /// The URL of `database` on this cluster, as its superuser.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.options.get_port()
        )
    }

    /// Stops the cluster (fast shutdown).
    pub fn stop(&self) {
        crm_app::private_cluster::stop(&self.dir)
            .unwrap_or_else(|why| panic!("the private cluster did not stop: {why}"));
    }

    /// Starts the stopped cluster again (a standby stays a standby).
    pub fn restart(&self) {
        crm_app::private_cluster::start(&self.options, &self.dir)
            .unwrap_or_else(|why| panic!("the private cluster did not start again: {why}"));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = crm_app::private_cluster::stop(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
