//! A private PostgreSQL cluster for machines where no server answers but PostgreSQL's
//! binaries are installed: `initdb` into a data folder, then `pg_ctl start` on the port of
//! the configured URL, listening on 127.0.0.1 only, with `trust` authentication.
//!
//! `initdb` refuses to run as root, so when this process is root the cluster runs as the
//! unprivileged `nobody` user, which then owns the data folder. Nothing outside that folder
//! changes: when `nobody` cannot reach the configured folder (a parent such as `/root` is
//! closed to others), the cluster lives in `/var/tmp/crm-private-cluster-<hash>` instead,
//! and the server says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::postgres::PgConnectOptions;

/// Starts (initialising first if needed) a private cluster in `dir` for `owner`'s port and
/// user. Returns once the server accepts connections.
///
/// # Errors
/// A sentence saying what is missing or what failed.
pub fn start(owner: &PgConnectOptions, dir: &str) -> Result<(), String> {
    let host = owner.get_host();
    if !matches!(host, "127.0.0.1" | "localhost" | "::1") && !host.starts_with('/') {
        return Err(format!(
            "nothing answers at {host}, which is not this machine; start PostgreSQL there"
        ));
    }
    let bin = find_bin_dir().ok_or(
        "no PostgreSQL server answers and no PostgreSQL binaries (initdb, pg_ctl) are installed",
    )?;
    let as_nobody = is_root();
    let data = data_dir(dir, as_nobody)?;
    let user = owner.get_username().to_owned();
    let port = owner.get_port();
    if as_nobody {
        chown_nobody(&data)?;
    }
    if !data.join("PG_VERSION").exists() {
        tracing::warn!(dir = %data.display(), "no PostgreSQL answers: initialising a private cluster");
        run(
            &bin.join("initdb"),
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                &user,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
            as_nobody,
        )?;
    }
    tracing::warn!(port, dir = %data.display(), "starting the private PostgreSQL cluster");
    pg_ctl_start(&bin, &data, port, as_nobody)
}

/// `pg_ctl start` of the cluster in `data` on `port`, listening on 127.0.0.1 only, its
/// socket in its own folder; returns once it accepts connections.
fn pg_ctl_start(bin: &Path, data: &Path, port: u16, as_nobody: bool) -> Result<(), String> {
    let options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {}",
        data.display()
    );
    let log = data.join("server.log");
    run(
        &bin.join("pg_ctl"),
        &[
            "-D",
            &data.to_string_lossy(),
            "-o",
            &options,
            "-l",
            &log.to_string_lossy(),
            "-w",
            "start",
        ],
        as_nobody,
    )
}

/// Starts a streaming-replication hot standby of the private cluster at `primary`
/// (a loopback address; its `pg_hba.conf` must allow replication connections, as
/// `initdb`'s does), in `dir` and listening on `port`: the first time a copy is taken
/// with `pg_basebackup -X stream -R` (which writes `standby.signal` and the primary's
/// address), then the copy is started. For tests (feature `test-support`).
///
/// # Errors
/// A sentence saying what is missing or what failed.
#[cfg(feature = "test-support")]
pub fn start_standby(primary: &PgConnectOptions, dir: &str, port: u16) -> Result<(), String> {
    let bin = find_bin_dir().ok_or("no PostgreSQL binaries")?;
    let as_nobody = is_root();
    let data = data_dir(dir, as_nobody)?;
    if as_nobody {
        chown_nobody(&data)?;
    }
    if !data.join("PG_VERSION").exists() {
        let primary_port = primary.get_port().to_string();
        // `initdb` and `pg_ctl` may be links into the version's folder, which holds it.
        let real = bin
            .join("pg_ctl")
            .canonicalize()
            .map_err(|e| e.to_string())?;
        let basebackup = [bin.clone(), real.parent().unwrap_or(&bin).to_path_buf()]
            .iter()
            .map(|dir| dir.join("pg_basebackup"))
            .find(|p| p.is_file())
            .ok_or("no pg_basebackup beside pg_ctl")?;
        run(
            &basebackup,
            &[
                "-D",
                &data.to_string_lossy(),
                "-h",
                primary.get_host(),
                "-p",
                &primary_port,
                "-U",
                primary.get_username(),
                "-X",
                "stream",
                "-R",
                "-c",
                "fast",
            ],
            as_nobody,
        )?;
    }
    // PostgreSQL refuses a data folder others may read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("chmod {}: {e}", data.display()))?;
    }
    pg_ctl_start(&bin, &data, port, as_nobody)
}

/// The folder the cluster lives in: `dir`, or, when the cluster runs as `nobody` and a
/// parent of `dir` is closed to others, a folder of its own under `/var/tmp` (world
/// traversable), so that no folder's permissions need changing. Created if missing.
///
/// # Errors
/// A sentence naming the folder that could not be created.
pub fn data_dir(dir: &str, as_nobody: bool) -> Result<PathBuf, String> {
    let create = |path: &Path| {
        std::fs::create_dir_all(path).map_err(|e| format!("create {}: {e}", path.display()))?;
        path.canonicalize().map_err(|e| e.to_string())
    };
    let configured = create(Path::new(dir))?;
    if !as_nobody || reachable_by_others(&configured) {
        return Ok(configured);
    }
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    configured.hash(&mut hasher);
    let elsewhere = PathBuf::from(format!(
        "/var/tmp/crm-private-cluster-{:016x}",
        hasher.finish()
    ));
    tracing::warn!(
        configured = %configured.display(),
        used = %elsewhere.display(),
        "the private cluster runs as 'nobody', who cannot reach the configured folder: using a folder under /var/tmp instead"
    );
    create(&elsewhere)
}

/// Whether every parent folder of `dir` lets others through (`o+x`).
#[cfg(unix)]
fn reachable_by_others(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    dir.ancestors()
        .skip(1)
        .all(|p| std::fs::metadata(p).is_ok_and(|meta| meta.permissions().mode() & 0o001 != 0))
}

#[cfg(not(unix))]
fn reachable_by_others(_: &Path) -> bool {
    true
}

fn run(program: &Path, args: &[&str], as_nobody: bool) -> Result<(), String> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    if as_nobody {
        drop_to_nobody(&mut cmd)?;
    }
    let out = cmd
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The folder holding `initdb` and `pg_ctl`: `PATH`, else the newest `/usr/lib/postgresql/*/bin`.
fn find_bin_dir() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path)
            .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        {
            return Some(dir);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

#[cfg(unix)]
fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_root() -> bool {
    false
}

/// uid and gid of `nobody`, read from /etc/passwd.
#[cfg(unix)]
fn nobody() -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string())?;
    passwd
        .lines()
        .find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.first() == Some(&"nobody"))
                .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
        })
        .ok_or_else(|| "no 'nobody' user to run the private cluster as".to_owned())
}

#[cfg(unix)]
fn chown_nobody(dir: &Path) -> Result<(), String> {
    let (uid, gid) = nobody()?;
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .map_err(|e| format!("chown {}: {e}", dir.display()))
}

#[cfg(unix)]
fn drop_to_nobody(cmd: &mut Command) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let (uid, gid) = nobody()?;
    cmd.uid(uid).gid(gid).env("HOME", "/tmp");
    Ok(())
}

#[cfg(not(unix))]
fn chown_nobody(_: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(not(unix))]
fn drop_to_nobody(_: &mut Command) -> Result<(), String> {
    Ok(())
}

/// Stops the private cluster of `dir` (fast shutdown), if one runs there. For tests
/// (feature `test-support`); the server leaves its cluster running.
///
/// # Errors
/// A sentence saying what failed.
#[cfg(feature = "test-support")]
pub fn stop(dir: &str) -> Result<(), String> {
    let bin = find_bin_dir().ok_or("no PostgreSQL binaries")?;
    let data = data_dir(dir, is_root())?;
    run(
        &bin.join("pg_ctl"),
        &["-D", &data.to_string_lossy(), "-m", "fast", "-w", "stop"],
        is_root(),
    )
}
