//! A real PostgreSQL server for the store's tests and bench: started on loopback in a
//! temporary directory, stopped and removed when dropped (a panicking test included).
//!
//! It finds `initdb` and `pg_ctl` on the `PATH`, then in `/usr/lib/postgresql/*/bin`
//! (Debian's place, newest first). PostgreSQL refuses to run as root, so as root it
//! runs them as the `postgres` user (or `nobody`) with `runuser` (or `setpriv`). The
//! server listens on 127.0.0.1 on a free port, its socket in the temporary directory,
//! and trusts local connections of its superuser `cutover`.
#![allow(dead_code, reason = "shared by tests and the bench, each using a part")]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running server; dropping it stops it and removes its files.
pub struct PostgresServer {
    bin: PathBuf,
    /// Who runs the server (`None`: this process's user).
    user: Option<ServerUser>,
    port: u16,
    data: PathBuf,
    // Dropped after the server is stopped (fields drop in order, after `Drop::drop`).
    directory: tempfile::TempDir,
}

/// What to install where no server is found.
const INSTALL: &str = "apt-get install -y postgresql";

impl PostgresServer {
    /// Starts a server, or returns `None` (saying so on stderr) if PostgreSQL is not
    /// installed. Under CI (the `CI` variable set) a missing server is a failure.
    ///
    /// # Panics
    ///
    /// If the server is installed but does not start, or is missing under CI.
    pub fn start() -> Option<PostgresServer> {
        let Some(bin) = find_bin() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL (initdb, pg_ctl) not found, and CI is set: install it ({INSTALL})"
            );
            eprintln!(
                "note: PostgreSQL (initdb, pg_ctl) not found: the PostgreSQL store was NOT tested; \
                 install it with `{INSTALL}`"
            );
            return None;
        };
        let user = ServerUser::needed();
        let directory = tempfile::Builder::new()
            .prefix("cutover-pg-")
            .tempdir()
            .expect("a temporary directory");
        if let Some(user) = &user {
            std::os::unix::fs::chown(directory.path(), Some(user.uid), Some(user.gid))
                .expect("the temporary directory given to the server's user");
        }
        let data = directory.path().join("data");
        let mut server = PostgresServer {
            bin,
            user,
            port: 0,
            data,
            directory,
        };
        server.run_as(
            "initdb",
            &[
                "-D".as_ref(),
                server.data.as_os_str(),
                "-U".as_ref(),
                "cutover".as_ref(),
                "--auth=trust".as_ref(),
                "--no-sync".as_ref(),
                "--locale=C".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
            ],
        );
        // Another process may take the free port before the server binds it: try again.
        for attempt in 1..=5 {
            server.port = free_port();
            let settings = format!(
                "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n",
                server.port,
                server.directory.path().display()
            );
            let config = server.data.join("postgresql.conf");
            let mut text = std::fs::read_to_string(&config).expect("postgresql.conf");
            text.push_str(&settings);
            std::fs::write(&config, text).expect("postgresql.conf written");
            let log = server.directory.path().join("server.log");
            let started = server.command(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    server.data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "start".as_ref(),
                ],
            );
            if started.status.success() {
                return Some(server);
            }
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(attempt < 5, "PostgreSQL did not start:\n{log}");
            eprintln!(
                "PostgreSQL did not start on port {} (retrying):\n{log}",
                server.port
            );
        }
        unreachable!("the loop returns or panics")
    }

    /// The `postgres` connection parameters of the server's superuser.
    pub fn params(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=cutover dbname=postgres connect_timeout=10",
            self.port
        )
    }

    /// Restarts the server (fast shutdown: connections are cut), keeping its data.
    pub fn restart(&self) {
        // With no log file, the new server would hold this call's output pipe open.
        let log = self.directory.path().join("server.log");
        self.run_as(
            "pg_ctl",
            &[
                "-D".as_ref(),
                self.data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-m".as_ref(),
                "fast".as_ref(),
                "restart".as_ref(),
            ],
        );
    }

    /// Runs a PostgreSQL program as the server's user, and fails loudly if it fails.
    fn run_as(&self, program: &str, args: &[&std::ffi::OsStr]) -> Output {
        let output = self.command(program, args);
        assert!(
            output.status.success(),
            "{program} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn command(&self, program: &str, args: &[&std::ffi::OsStr]) -> Output {
        let program = self.bin.join(program);
        let mut command = match &self.user {
            None => Command::new(&program),
            Some(user) => match find_program("runuser") {
                Some(runuser) => {
                    let mut command = Command::new(runuser);
                    command.args(["-u", &user.name, "--"]).arg(&program);
                    command
                }
                None => {
                    let setpriv = find_program("setpriv").expect("runuser or setpriv");
                    let mut command = Command::new(setpriv);
                    command
                        .arg(format!("--reuid={}", user.uid))
                        .arg(format!("--regid={}", user.gid))
                        .arg("--init-groups")
                        .arg(&program);
                    command
                }
            },
        };
        command
            .args(args)
            .current_dir(self.directory.path())
            .env("LC_ALL", "C")
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()))
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // Immediate: nothing in a test's server is worth a clean shutdown.
        let stopped = self.command(
            "pg_ctl",
            &[
                "-D".as_ref(),
                self.data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
        if !stopped.status.success() {
            eprintln!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&stopped.stderr)
            );
        }
    }
}

/// The directory holding `initdb` and `pg_ctl`, if PostgreSQL is installed.
fn find_bin() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|dir| has_both(dir))
    {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Where `program` is: on the `PATH`, or in root's `sbin` directories.
fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The unprivileged user a root process runs the server as.
struct ServerUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl ServerUser {
    /// `None` unless this process is root; then `postgres` if it exists, else `nobody`.
    fn needed() -> Option<ServerUser> {
        if id(&["-u"]) != Some(0) {
            return None;
        }
        let name = if id(&["-u", "postgres"]).is_some() {
            "postgres"
        } else {
            "nobody"
        };
        Some(ServerUser {
            name: name.to_owned(),
            uid: id(&["-u", name]).expect("the user exists"),
            gid: id(&["-g", name]).expect("the user has a group"),
        })
    }
}

/// What `id ARGS` prints, as a number; `None` if it fails.
fn id(args: &[&str]) -> Option<u32> {
    let output = Command::new("id").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port on loopback");
    listener.local_addr().expect("its address").port()
}
