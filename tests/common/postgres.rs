//! A private PostgreSQL for a test: `initdb` into a temporary directory, `pg_ctl start` on a free
//! loopback port with its socket in that directory (fsync off: a test's database need not survive
//! a crash of the machine), stopped and removed on drop. PostgreSQL refuses to run as root: as
//! root the cluster is made and run as the `postgres` user the Debian package creates.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{peer, run_with_timeout, tempdir};

/// The Debian package that provides the server.
pub const PACKAGE: &str = "postgresql";

/// A running private cluster; its database `mail` belongs to the trusted user `mailwright`.
pub struct Postgres {
    /// The cluster's directory (data, socket, log).
    pub dir: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    bin: PathBuf,
    as_daemon_user: bool,
}

/// The directory of `initdb` and `pg_ctl`: Debian keeps them out of `PATH`.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    versions.sort();
    if let Some(dir) = versions.pop() {
        return Some(dir);
    }
    peer::require("initdb", PACKAGE).and_then(|p| p.parent().map(Path::to_owned))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Postgres {
    /// Starts a cluster, or `None` (a skip line printed; a failure under `CI=true`) when
    /// PostgreSQL is not installed.
    pub fn start() -> Option<Self> {
        Self::start_with(false).map(|(pg, _)| pg)
    }

    /// Starts a cluster that also speaks TLS, with a certificate for `localhost` and
    /// `127.0.0.1` from a throw-away CA; returns it with the CA's PEM file.
    pub fn start_with_tls() -> Option<(Self, PathBuf)> {
        Self::start_with(true).map(|(pg, ca)| (pg, ca.unwrap()))
    }

    fn start_with(tls: bool) -> Option<(Self, Option<PathBuf>)> {
        let bin = bin_dir()?;
        peer::require("psql", PACKAGE)?;
        let as_daemon_user = is_root();
        let dir = if as_daemon_user {
            // The postgres user must reach it: under /tmp whatever TMPDIR says (root's own
            // temporary directory may be closed to other users).
            static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let dir = Path::new("/tmp").join(format!(
                "mw-postgres-{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            dir
        } else {
            tempdir("postgres")
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Self {
            dir,
            port,
            bin,
            as_daemon_user,
        };
        let mut ssl = String::new();
        let mut ca_file = None;
        if tls {
            let ca_key = rcgen::KeyPair::generate().unwrap();
            let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
            let key = rcgen::KeyPair::generate().unwrap();
            let cert =
                rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                    .unwrap()
                    .signed_by(&key, &ca)
                    .unwrap();
            let (crt, key_path, ca_path) = (
                pg.dir.join("server.crt"),
                pg.dir.join("server.key"),
                pg.dir.join("ca.pem"),
            );
            std::fs::write(&crt, cert.pem()).unwrap();
            std::fs::write(&key_path, key.serialize_pem()).unwrap();
            std::fs::write(&ca_path, ca.pem()).unwrap();
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))
                    .unwrap();
            }
            ssl = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                crt.display(),
                key_path.display()
            );
            ca_file = Some(ca_path);
        }
        if as_daemon_user {
            let out = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&pg.dir)
                .output()
                .unwrap();
            assert!(out.status.success(), "chown: {out:?}");
        }
        let data = pg.dir.join("data");
        pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "mailwright",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        );
        let options = format!(
            "-k {} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=60{ssl}",
            pg.dir.display()
        );
        pg.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                pg.dir.join("log").to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        );
        pg.sql_in("postgres", "CREATE DATABASE mail");
        Some((pg, ca_file))
    }

    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut cmd = if self.as_daemon_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = run_with_timeout(cmd.args(args), Duration::from_secs(90));
        assert!(
            out.status.success(),
            "{program} failed:\n{}\n{}\nlog:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    /// Runs SQL in database `db` with psql; returns the rows, unaligned, `|` between columns.
    pub fn sql_in(&self, db: &str, sql: &str) -> String {
        let out = run_with_timeout(
            Command::new("psql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "mailwright",
                    "-At",
                    "-v",
                    "ON_ERROR_STOP=1",
                ])
                .arg("-p")
                .arg(self.port.to_string())
                .args(["-d", db, "-c", sql]),
            Duration::from_secs(30),
        );
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs SQL in the database `mail`.
    pub fn sql(&self, sql: &str) -> String {
        self.sql_in("mail", sql)
    }

    /// Sets `[store]` of a configuration to this database.
    pub fn configure(&self, config: &mut mailwright::core::config::Config) {
        config.store.backend = mailwright::core::config::StoreBackend::Postgres;
        config.store.host = Some("127.0.0.1".to_owned());
        config.store.port = Some(self.port);
        config.store.user = Some("mailwright".to_owned());
        config.store.dbname = Some("mail".to_owned());
        config.store.pool_size = 8;
        // The tests' users are the files `populate` writes; the tests of the database directory
        // set `Database` themselves.
        config.store.directory = Some(mailwright::core::config::DirectoryBackend::Files);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let path = self.bin.join("pg_ctl");
        let mut cmd = if self.as_daemon_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let _ = cmd
            .args([
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
