//! Roundcube 1.6 (Debian `roundcube-core`, PHP's built-in web server, SQLite) against
//! `full_server`'s IMAP and submission, driven by headless Chromium through Selenium
//! (`tests/roundcube/flow.py`): log in, list folders, see the quota, sort by date, subject and
//! size, search, thread view, open a multipart message and download its attachment, send a
//! message that arrives, reply, flag a message, delete one and empty the Trash, move one to
//! another folder, see another client's changes after Refresh, page through 60 messages,
//! create, rename and delete a folder with a non-ASCII name. A failing step saves a screenshot
//! in the test's temporary directory and prints its path.
//!
//! Roundcube runs from its Debian tree with a configuration of the test's own
//! (`ROUNDCUBE_CONFIG_DIR`, a fresh SQLite database); nothing under `/etc/roundcube` is used
//! but `defaults.inc.php`, copied. With `MW_ROUNDCUBE_SHOTS` set, every step leaves a screenshot
//! and the temporary directory (with Roundcube's IMAP and SMTP logs) is kept.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestServer, peer, run_with_timeout, tempdir};
use mailwright::server::Service;

/// Roundcube's web root in the Debian package (its `index.php` finds the code and config).
const PUBLIC_HTML: &str = "/var/lib/roundcube/public_html";
/// Roundcube's defaults, which a configuration directory must hold.
const DEFAULTS: &str = "/etc/roundcube/defaults.inc.php";
/// The SQLite schema the test's database starts from.
const SCHEMA: &str = "/usr/share/roundcube/SQL/sqlite.initial.sql";
/// Debian's Python, where `python3-selenium` installs (a `python3` first on `PATH` may be another).
const PYTHON: &str = "/usr/bin/python3";

/// `php -S` serving Roundcube; killed on drop.
struct PhpServer {
    child: Child,
    log: PathBuf,
}

impl PhpServer {
    fn start(php: &Path, config_dir: &Path, port: u16, log: PathBuf) -> Self {
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(php)
            .arg("-S")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-t")
            .arg(PUBLIC_HTML)
            .env("ROUNDCUBE_CONFIG_DIR", config_dir)
            // The browser loads scripts and styles while a request waits on IMAP.
            .env("PHP_CLI_SERVER_WORKERS", "4")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("spawn php -S");
        let server = Self { child, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err() {
            assert!(
                Instant::now() < deadline,
                "php -S did not listen on {addr}:\n{}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for PhpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port for `php -S` (it takes no port 0).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Roundcube's configuration: our IMAP and submission on loopback, without TLS (the server
/// accepts plaintext logins on loopback), its own SQLite file, logs and temp directory.
fn write_config(dir: &Path, imap: u16, submission: u16, cache: bool) -> PathBuf {
    let config = dir.join("config");
    for sub in ["config", "logs", "temp", "db"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::copy(DEFAULTS, config.join("defaults.inc.php")).unwrap();
    let d = dir.display();
    let imap_cache = if cache { "'db'" } else { "null" };
    std::fs::write(
        config.join("config.inc.php"),
        format!(
            r"<?php
$config = [];
$config['db_dsnw'] = 'sqlite:///{d}/db/roundcube.db?mode=0640';
$config['imap_host'] = '127.0.0.1:{imap}';
$config['smtp_host'] = '127.0.0.1:{submission}';
$config['smtp_user'] = '%u';
$config['smtp_pass'] = '%p';
$config['des_key'] = 'mailwright-test-only-key!';
$config['log_dir'] = '{d}/logs/';
$config['temp_dir'] = '{d}/temp/';
$config['log_driver'] = 'file';
$config['imap_debug'] = true;
$config['smtp_debug'] = true;
$config['skin'] = 'elastic';
$config['plugins'] = [];
$config['enable_spellcheck'] = false;
$config['enable_installer'] = false;
$config['draft_autosave'] = 0;
$config['mail_pagesize'] = 50;
$config['create_default_folders'] = true;
$config['imap_cache'] = {imap_cache};
$config['messages_cache'] = {cache};
"
        ),
    )
    .unwrap();
    config
}

/// The programs the test runs.
struct Peers {
    php: PathBuf,
    chromium: PathBuf,
    chromedriver: PathBuf,
}

/// The peers, or `None` (after a skip line) outside CI when one is missing.
fn peers() -> Option<Peers> {
    let php = peer::require("php", "php-cli")?;
    let chromium = peer::require("chromium", "chromium")?;
    let chromedriver = peer::require("chromedriver", "chromium-driver")?;
    peer::require_file(
        Path::new(PUBLIC_HTML).join("index.php").as_path(),
        "roundcube-core",
    )?;
    peer::require_file(Path::new(SCHEMA), "roundcube-core")?;
    peer::require_file(Path::new(DEFAULTS), "roundcube-core")?;
    peer::require_file(Path::new(PYTHON), "python3")?;
    let selenium = Command::new(PYTHON)
        .args(["-c", "import selenium"])
        .status()
        .is_ok_and(|s| s.success());
    if !selenium {
        assert!(
            !peer::in_ci(),
            "python module `selenium` is missing under CI=true: .ci/run must install `python3-selenium`"
        );
        eprintln!("SKIP: python module `selenium` not found; install `python3-selenium`");
        return None;
    }
    let sqlite = Command::new(&php)
        .args(["-r", "exit(extension_loaded('pdo_sqlite') ? 0 : 1);"])
        .status()
        .is_ok_and(|s| s.success());
    if !sqlite {
        assert!(
            !peer::in_ci(),
            "PHP's pdo_sqlite is missing under CI=true: .ci/run must install `php-sqlite3`"
        );
        eprintln!("SKIP: PHP's pdo_sqlite not found; install `php-sqlite3`");
        return None;
    }
    Some(Peers {
        php,
        chromium,
        chromedriver,
    })
}

#[test]
fn roundcube_in_chromium() {
    run_flow(false);
}

/// The same flow with Roundcube's IMAP and message caches in its database: it then keeps its
/// copy of each folder in step with CONDSTORE (`UID FETCH ... (CHANGEDSINCE n)`, RFC 7162).
#[test]
fn roundcube_in_chromium_with_message_cache() {
    run_flow(true);
}

/// Starts the server, Roundcube and the Selenium flow; `cache` turns on Roundcube's caches.
fn run_flow(cache: bool) {
    // One browser at a time: two Chromiums and two Roundcubes on two cores only slow each other.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(peers) = peers() else {
        return;
    };
    let server = TestServer::start();
    // A quota for Roundcube to show (as `full_server quota set alice@example.org --storage 10M`).
    let root = server.maildir("alice@example.org");
    mailwright::store::maildir::create_user_maildir(&root)
        .unwrap()
        .set_quota(mailwright::maildir::Quota {
            bytes: Some(10 << 20),
            messages: None,
        })
        .unwrap();
    let dir = tempdir("roundcube");
    let config = write_config(
        &dir,
        server.port(Service::Imap),
        server.port(Service::Submission),
        cache,
    );
    let port = free_port();
    let php_server = PhpServer::start(&peers.php, &config, port, dir.join("logs/php-server.log"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/roundcube/flow.py");
    let out = run_with_timeout(
        Command::new(PYTHON)
            .arg(&script)
            .arg("--chromium")
            .arg(&peers.chromium)
            .arg("--chromedriver")
            .arg(&peers.chromedriver)
            .arg("--url")
            .arg(format!("http://127.0.0.1:{port}/"))
            .arg("--imap-port")
            .arg(server.port(Service::Imap).to_string())
            .arg("--schema")
            .arg(SCHEMA)
            .arg("--db")
            .arg(dir.join("db/roundcube.db"))
            .arg("--tmp")
            .arg(&dir)
            .args(std::env::var_os("MW_ROUNDCUBE_SHOTS").map(|_| "--shots")),
        Duration::from_secs(100),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Roundcube's IMAP log holds message bodies too, not always UTF-8.
    let logs = |name: &str| {
        String::from_utf8_lossy(&std::fs::read(dir.join("logs").join(name)).unwrap_or_default())
            .into_owned()
    };
    assert!(
        out.status.success() && stdout.contains("roundcube flow ok"),
        "the Roundcube flow failed (files in {}):\nstdout:\n{stdout}\nstderr:\n{stderr}\n\
         Roundcube errors:\n{}\nphp -S:\n{}",
        dir.display(),
        logs("errors.log"),
        logs("php-server.log"),
    );
    eprint!("{stdout}");
    // Roundcube sorted, threaded, fetched the attachment and read the quota on the server, where
    // it could have fallen back to doing it itself.
    let imap_log = logs("imap.log");
    for command in [
        "UID SORT (DATE)",
        "UID SORT (SUBJECT)",
        "UID SORT (SIZE)",
        "UID THREAD REFS",
        "UID FETCH 1 (BINARY.PEEK[2])",
        "GETQUOTAROOT INBOX",
        "UID MOVE 6 Projects",
    ] {
        assert!(
            imap_log.contains(&format!(" {command}")),
            "Roundcube never sent `{command}`; its IMAP log is {}",
            dir.join("logs/imap.log").display()
        );
    }
    if cache {
        assert!(
            imap_log.contains("(CHANGEDSINCE "),
            "Roundcube's cache never synchronised with CONDSTORE; its IMAP log is {}",
            dir.join("logs/imap.log").display()
        );
    }
    drop(php_server);
    if std::env::var_os("MW_ROUNDCUBE_SHOTS").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
