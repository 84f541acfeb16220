//! The server: binds every configured listener, accepts connections within the limits, runs each
//! session on the tokio runtime, reloads certificates, and shuts down gracefully.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use mailwright::server::Server;
//! let data_dir = std::path::Path::new("mailwright-data");
//! mailwright::core::datadir::init(data_dir)?;
//! let config = mailwright::core::datadir::load_config(data_dir, None)?;
//! let server = Server::bind(data_dir, config).await?;
//! for (service, addr) in server.local_addrs() {
//!     println!("{service} on {addr}");
//! }
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, watch};
use tracing::{Instrument, info, info_span, warn};

use crate::core::Core;
use crate::core::config::Config;
use crate::core::datadir;
use crate::core::directory::Directory;
use crate::core::login::Logins;
pub use crate::core::net::Service;
use crate::core::net::{ConnLimits, Peer};
use crate::core::tls::{TlsError, TlsStore};
use crate::intake::Intake;
use crate::outbound::Outbound;
use crate::protocols::Shared;
use crate::protocols::conn::Conn;
use crate::store::MailStore;
use crate::store::maildir::MaildirStore;
use mailwright_sansio::DecodeError;
use mailwright_sansio::driver::{Driver, DriverConfig};
use mailwright_sansio::proxy::{self, ProxyConfig, ProxyHeader};

/// The store's database, which the outbound queue may use.
#[cfg(feature = "postgres")]
type QueueDb = Option<crate::store::postgres::Database>;
/// No database without the `postgres` feature.
#[cfg(not(feature = "postgres"))]
type QueueDb = Option<std::convert::Infallible>;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listener could not be bound.
    #[error("cannot listen on {what}: {source}")]
    Bind {
        /// The address or socket path.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The resolver could not be set up.
    #[error(transparent)]
    Dns(#[from] crate::core::dns::DnsError),
    /// The outbound queue directory could not be opened.
    #[error("cannot open the queue: {0}")]
    Queue(std::io::Error),
    /// The mail store could not be opened (the database unreachable, its schema not migrated).
    #[error("cannot open the mail store: {0}")]
    Store(crate::store::StoreError),
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

/// A bound, not yet running server.
pub struct Server {
    shared: Arc<Shared>,
    listeners: Vec<(Service, Listener)>,
    shutdown_tx: watch::Sender<bool>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listeners", &self.local_addrs())
            .finish_non_exhaustive()
    }
}

/// How long shutdown waits for sessions to finish before it stops waiting.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

impl Server {
    /// Loads certificates and binds every listener of `config`; the users' mail is in Maildirs
    /// under `data_dir` ([`MaildirStore`]).
    pub async fn bind(data_dir: &Path, config: Config) -> Result<Self, ServerError> {
        Self::bind_with(data_dir, config, None).await
    }

    /// [`bind`](Self::bind) over another mail store: a store of another backend, or a test's
    /// wrapper of the Maildir store that injects faults. The server's own directory is the one
    /// `[store] directory` names (the files of `data_dir` by default), whatever `store` uses.
    pub async fn bind_with_store(
        data_dir: &Path,
        config: Config,
        store: Arc<dyn MailStore>,
    ) -> Result<Self, ServerError> {
        Self::bind_with(data_dir, config, Some(store)).await
    }

    /// A database directory with no user and no domain while the data directory's files have
    /// some (a site moving its users to the database, or one that kept them in files before
    /// `directory = "database"` was the default): the files are copied in once, as `migrate
    /// --to postgres` does, so that nobody's login or mail stops at the switch. A failure is
    /// logged; the server starts on what the database has.
    #[cfg(feature = "postgres")]
    async fn fill_empty_database_directory(
        data_dir: &Path,
        pg: &Arc<crate::store::postgres::PostgresStore>,
    ) {
        use crate::core::directory::DirectoryDb;
        let (data_dir, pg) = (data_dir.to_owned(), pg.clone());
        let copied = tokio::task::spawn_blocking(move || {
            let db = pg.directory();
            if !db.users()?.is_empty() || !db.domains_and_aliases()?.0.is_empty() {
                return Ok(None);
            }
            let files = Directory::open(&data_dir, Duration::ZERO);
            if files.passwd().users()?.is_empty() && files.domains()?.is_empty() {
                return Ok(None);
            }
            crate::store::postgres::copy_files_to_database(&data_dir, &pg).map(Some)
        })
        .await;
        match copied {
            Ok(Ok(Some(c))) => tracing::info!(
                "the database directory was empty: copied {} users, {} domains and {} aliases \
                 from the data directory's files",
                c.users,
                c.domains,
                c.aliases
            ),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!("copying the directory files into the database: {e}"),
            Err(e) => tracing::warn!("copying the directory files into the database: {e}"),
        }
    }

    /// The directory `[store] directory` names, and the store: `store` if given, else the one
    /// `[store] backend` names, with its database for the outbound queue. A database directory
    /// shares the PostgreSQL store's pool.
    async fn configured_directory_and_store(
        data_dir: &Path,
        config: &Config,
        store: Option<Arc<dyn MailStore>>,
    ) -> Result<(Arc<Directory>, Arc<dyn MailStore>, QueueDb), ServerError> {
        let cache_ttl = Duration::from_secs(config.auth.cache_ttl_secs);
        if config.store.directory_backend() == crate::core::config::DirectoryBackend::Database {
            #[cfg(feature = "postgres")]
            {
                let pg = Arc::new(
                    crate::store::postgres::PostgresStore::connect(data_dir, &config.store)
                        .await
                        .map_err(ServerError::Store)?,
                );
                Self::fill_empty_database_directory(data_dir, &pg).await;
                let directory = Arc::new(Directory::with_database(
                    data_dir,
                    cache_ttl,
                    pg.directory(),
                ));
                return Ok(match store {
                    Some(store) => (directory, store, None),
                    None => {
                        let db = pg.database();
                        (directory, pg, Some(db))
                    }
                });
            }
            #[cfg(not(feature = "postgres"))]
            return Err(ServerError::Store(crate::store::StoreError::Misuse(
                "built without the postgres feature",
            )));
        }
        let directory = Arc::new(Directory::open(data_dir, cache_ttl));
        let (store, queue_db) = match store {
            Some(store) => (store, None),
            None => Self::configured_store(data_dir, config, &directory).await?,
        };
        Ok((directory, store, queue_db))
    }

    /// The store `[store]` names, and its database for the outbound queue.
    async fn configured_store(
        data_dir: &Path,
        config: &Config,
        directory: &Arc<Directory>,
    ) -> Result<(Arc<dyn MailStore>, QueueDb), ServerError> {
        match config.store.backend {
            crate::core::config::StoreBackend::Maildir => Ok((
                Arc::new(MaildirStore::new(directory.clone(), &config.storage)),
                None,
            )),
            #[cfg(feature = "postgres")]
            crate::core::config::StoreBackend::Postgres => {
                let store = crate::store::postgres::PostgresStore::connect(data_dir, &config.store)
                    .await
                    .map_err(ServerError::Store)?;
                let db = store.database();
                Ok((Arc::new(store), Some(db)))
            }
            #[cfg(not(feature = "postgres"))]
            crate::core::config::StoreBackend::Postgres => {
                let _ = data_dir;
                Err(ServerError::Store(crate::store::StoreError::Misuse(
                    "built without the postgres feature",
                )))
            }
        }
    }

    /// The outbound queue `[outbound] queue` names: files, or the store's database.
    fn open_queue(
        data_dir: &Path,
        config: &Config,
        db: QueueDb,
    ) -> Result<crate::outbound::queue::Queue, ServerError> {
        use crate::core::config::QueueBackend;
        let dir = data_dir.join("queue");
        let backend = config.outbound.queue_backend(config.store.backend);
        match (backend, db) {
            #[cfg(feature = "postgres")]
            (QueueBackend::Database, Some(db)) => crate::outbound::queue::Queue::open_database(
                dir,
                db,
                config.outbound.queue_lease_secs,
            )
            .map_err(ServerError::Queue),
            (QueueBackend::Database, _) if config.outbound.queue.is_some() => {
                Err(ServerError::Queue(std::io::Error::other(
                    "outbound.queue = \"database\": the store has no database",
                )))
            }
            _ => crate::outbound::queue::Queue::open(dir).map_err(ServerError::Queue),
        }
    }

    async fn bind_with(
        data_dir: &Path,
        config: Config,
        store: Option<Arc<dyn MailStore>>,
    ) -> Result<Self, ServerError> {
        datadir::ensure_certificate(data_dir, &config).map_err(|e| {
            ServerError::Tls(TlsError::Pem {
                path: datadir::resolve(data_dir, &config.tls.cert),
                reason: format!("cannot create a development certificate: {e}"),
            })
        })?;
        let tls = TlsStore::load(
            datadir::resolve(data_dir, &config.tls.cert),
            datadir::resolve(data_dir, &config.tls.key),
        )?;
        let mut listeners = Vec::new();
        let l = &config.listen;
        let tcp = [
            (Service::Smtp, &l.smtp),
            (Service::Submission, &l.submission),
            (Service::Submissions, &l.submissions),
            (Service::Lmtp, &l.lmtp),
            (Service::Imap, &l.imap),
            (Service::Imaps, &l.imaps),
            (Service::Pop3, &l.pop3),
            (Service::Pop3s, &l.pop3s),
            (Service::ManageSieve, &l.managesieve),
        ];
        for (service, addrs) in tcp {
            for addr in addrs {
                let listener =
                    TcpListener::bind(addr)
                        .await
                        .map_err(|source| ServerError::Bind {
                            what: addr.to_string(),
                            source,
                        })?;
                listeners.push((service, Listener::Tcp(listener)));
            }
        }
        if let Some(path) = &l.lmtp_socket {
            let path = datadir::resolve(data_dir, path);
            // A socket left by an earlier run (not a live one: bind would fail on a live socket's
            // path too, so remove only sockets, never other files).
            if std::fs::symlink_metadata(&path).is_ok_and(|m| {
                use std::os::unix::fs::FileTypeExt;
                m.file_type().is_socket()
            }) {
                let _ = std::fs::remove_file(&path);
            }
            let listener = UnixListener::bind(&path).map_err(|source| ServerError::Bind {
                what: path.display().to_string(),
                source,
            })?;
            // Connecting needs write permission on the socket, and the MTA's LMTP client runs as
            // its own user (Postfix's `lmtp` as `postfix`): 0666, Dovecot's default for its LMTP
            // listener. Access is narrowed by the directory's permissions.
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).map_err(
                    |source| ServerError::Bind {
                        what: path.display().to_string(),
                        source,
                    },
                )?;
            }
            listeners.push((Service::LmtpUnix, Listener::Unix(listener, path)));
        }
        let (shutdown_tx, shutdown) = watch::channel(false);
        let limits = ConnLimits::new(
            config.limits.max_connections,
            config.limits.max_connections_per_ip,
        );
        let dns = crate::core::dns::Dns::new(&config.dns).or_else(|e| {
            // No usable /etc/resolv.conf: run with a local resolver address so that lookups fail as
            // temporary errors (mail is queued, not lost) instead of refusing to start.
            warn!("{e}; using 127.0.0.1:53");
            crate::core::dns::Dns::new(&crate::core::config::DnsConfig {
                nameservers: vec![SocketAddr::from(([127, 0, 0, 1], 53))],
                ..config.dns.clone()
            })
        })?;
        let abuse = crate::core::abuse::Abuse::new(&config.abuse)
            .with_trusted_networks(&config.outbound.trusted_networks);
        let srs = crate::outbound::srs::Srs::load_or_create(&data_dir.join("srs.key"))
            .map_err(ServerError::Queue)?;
        let logins = Logins::for_this_machine(config.limits.auth_failure_delay());
        let (directory, store, queue_db) =
            Self::configured_directory_and_store(data_dir, &config, store).await?;
        let queue = Arc::new(Self::open_queue(data_dir, &config, queue_db)?);
        // Every session runs on this driver: its bounds on writes and TLS handshakes are
        // `[limits]` of the configuration.
        let mut driver_config = DriverConfig::default();
        driver_config.write_timeout = config.limits.write_timeout();
        driver_config.tls_handshake_timeout = config.limits.tls_handshake_timeout();
        let core = Arc::new(Core {
            config,
            data_dir: data_dir.to_owned(),
            directory,
            tls,
            limits,
            dns,
            abuse,
            logins,
        });
        let outbound = Arc::new(Outbound {
            core: core.clone(),
            queue,
            srs,
            store: store.clone(),
            destinations: crate::outbound::relay::Destinations::default(),
            mta_sts: crate::outbound::mtasts::Cache::new(data_dir.join("mta-sts")),
            tls_rpt: crate::outbound::tlsrpt::Recorder::new(data_dir.join("tls-rpt")),
            sign: crate::intake::trust::sign,
        });
        let intake = Arc::new(Intake {
            core: core.clone(),
            outbound: outbound.clone(),
            store: store.clone(),
        });
        let shared = Arc::new(Shared {
            core,
            intake,
            outbound,
            store,
            shutdown,
            driver: Driver::new(driver_config),
        });
        Ok(Self {
            shared,
            listeners,
            shutdown_tx,
        })
    }

    /// The bound addresses, one per TCP listener (unix sockets are left out).
    pub fn local_addrs(&self) -> Vec<(Service, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|(s, l)| match l {
                Listener::Tcp(t) => t.local_addr().ok().map(|a| (*s, a)),
                Listener::Unix(..) => None,
            })
            .collect()
    }

    /// The first bound address of `service`.
    pub fn addr(&self, service: Service) -> Option<SocketAddr> {
        self.local_addrs()
            .into_iter()
            .find(|(s, _)| *s == service)
            .map(|(_, a)| a)
    }

    /// The unix socket path of LMTP, if configured.
    pub fn lmtp_socket(&self) -> Option<&Path> {
        self.listeners.iter().find_map(|(_, l)| match l {
            Listener::Unix(_, p) => Some(p.as_path()),
            Listener::Tcp(_) => None,
        })
    }

    /// The state shared by sessions (the layers below the protocols).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Serves one connection over an in-memory pipe, as if it had been accepted on `service` from
    /// `peer` (connection limits, implicit TLS and the session all apply), and returns the client's
    /// end. Simulation tests drive whole servers this way, without sockets and with tokio's paused
    /// clock; a configuration with no listeners binds no socket at all.
    pub fn connect(&self, service: Service, peer: Peer) -> tokio::io::DuplexStream {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let conn = Conn::memory(server, Some(self.shared.core.tls.acceptor()));
        let shared = self.shared.clone();
        tokio::spawn(async move { crate::protocols::accept(service, conn, peer, &shared).await });
        client
    }

    /// Starts shutdown for the sessions of [`Server::connect`] without running the listeners:
    /// each session answers with its protocol's goodbye.
    pub fn shut_down_sessions(&self) {
        let _ = self.shutdown_tx.send(true);
    }

    /// The core services: configuration, directory, limits.
    pub fn core(&self) -> &Arc<Core> {
        &self.shared.core
    }

    /// Serves until `shutdown` completes, then stops accepting, lets sessions finish what they are
    /// doing (an in-flight delivery completes; idle sessions are told the server is closing) for up to
    /// [`SHUTDOWN_GRACE`], and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        let mut accept_tasks = Vec::new();
        for (service, listener) in self.listeners {
            let shared = self.shared.clone();
            let done = done_tx.clone();
            accept_tasks.push(tokio::spawn(accept_loop(service, listener, shared, done)));
        }
        let reload = tokio::spawn(reload_loop(self.shared.core.clone()));
        let relay = tokio::spawn(crate::outbound::relay::run(
            self.shared.outbound.clone(),
            self.shared.shutdown.clone(),
        ));
        // TLS-RPT's daily reports, when it is on (the records are made only then).
        let tls_rpt = self
            .shared
            .core
            .config
            .outbound
            .tls_rpt
            .then(|| tokio::spawn(crate::outbound::tlsrpt::run(self.shared.outbound.clone())));
        drop(done_tx);
        shutdown.await;
        info!("shutting down: no new connections; waiting for sessions to finish");
        let _ = self.shutdown_tx.send(true);
        for task in &accept_tasks {
            task.abort();
        }
        reload.abort();
        // Deliveries in flight finish or are retried after restart (their state is on disk).
        relay.abort();
        if let Some(task) = tls_rpt {
            task.abort();
        }
        for task in accept_tasks {
            // An aborted accept loop drops its clone of `done_tx`.
            let _ = task.await;
        }
        // Every session holds a clone of `done_tx`: recv returns None once all have ended.
        if tokio::time::timeout(SHUTDOWN_GRACE, done_rx.recv())
            .await
            .is_err()
        {
            warn!("sessions still open after {SHUTDOWN_GRACE:?}; exiting anyway");
        }
        if let Some(path) = self.shared.core.config.listen.lmtp_socket.as_ref() {
            let _ = std::fs::remove_file(datadir::resolve(&self.shared.core.data_dir, path));
        }
        info!("stopped");
    }
}

async fn accept_loop(
    service: Service,
    listener: Listener,
    shared: Arc<Shared>,
    done: mpsc::Sender<()>,
) {
    loop {
        let (stream, peer) = match &listener {
            Listener::Tcp(l) => match l.accept().await {
                Ok((stream, addr)) => (Accepted::Tcp(stream), Peer { addr: Some(addr) }),
                Err(e) => {
                    warn!(%service, "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Listener::Unix(l, _) => match l.accept().await {
                Ok((stream, _)) => (Accepted::Unix(stream), Peer { addr: None }),
                Err(e) => {
                    warn!(%service, "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let shared = shared.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let _done = done;
            let (conn, peer) = match stream {
                Accepted::Tcp(mut stream) => {
                    let Some(peer) = proxied_peer(service, &mut stream, peer, &shared).await else {
                        return;
                    };
                    (Conn::tcp(stream, Some(shared.core.tls.acceptor())), peer)
                }
                Accepted::Unix(stream) => (Conn::unix(stream), peer),
            };
            let span = info_span!("conn", %service, %peer);
            crate::protocols::accept(service, conn, peer, &shared)
                .instrument(span)
                .await;
        });
    }
}

/// A connection as accepted, before it becomes a [`Conn`].
enum Accepted {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

/// The peer of a TCP connection: the connection's own address, or, from a source allowed to
/// send one on a listener configured for it, the client the PROXY protocol header names (LOCAL
/// and UNKNOWN headers keep the connection's address). `None`: a trusted source sent no valid
/// header in time, and the connection is dropped (logged).
async fn proxied_peer(
    service: Service,
    stream: &mut tokio::net::TcpStream,
    peer: Peer,
    shared: &Shared,
) -> Option<Peer> {
    let listen = &shared.core.config.listen;
    let addr = peer.addr?;
    if !listen.expects_proxy_header(&service.to_string(), addr.ip()) {
        return Some(peer);
    }
    let limit = Duration::from_secs(listen.proxy_timeout_secs);
    match tokio::time::timeout(limit, read_proxy_header(stream)).await {
        Ok(Ok(header)) => Some(Peer {
            addr: Some(header.source().unwrap_or(addr)),
        }),
        Ok(Err(e)) => {
            info!(%service, proxy = %addr, "dropped: PROXY header: {e}");
            None
        }
        Err(_) => {
            info!(%service, proxy = %addr, "dropped: no PROXY header within {limit:?}");
            None
        }
    }
}

/// Reads exactly a PROXY protocol header from `stream`, leaving what follows it (the client's
/// first command, a TLS handshake) unread.
async fn read_proxy_header(stream: &mut tokio::net::TcpStream) -> std::io::Result<ProxyHeader> {
    use tokio::io::AsyncReadExt;
    let config = ProxyConfig::default();
    let mut buf = Vec::with_capacity(64);
    // Bounded: every round reads at least one octet of a header of at most 16 + 216 octets.
    loop {
        match proxy::parse(&buf, &config) {
            Ok((header, _)) => return Ok(header),
            Err(DecodeError::Incomplete) => {}
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        }
        let want = proxy::wanted(&buf, &config);
        let start = buf.len();
        buf.resize(start + want.max(1), 0);
        let n = stream.read(&mut buf[start..]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.truncate(start + n);
    }
}

/// Reloads certificates on SIGHUP and when the files change (checked every 10 seconds).
async fn reload_loop(core: Arc<Core>) {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        let by_signal = tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(10)) => false,
            Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
        };
        let result = if by_signal {
            core.tls.reload().map(|()| true)
        } else {
            core.tls.reload_if_changed()
        };
        match result {
            Ok(true) => info!("TLS certificate reloaded"),
            Ok(false) => {}
            Err(e) => warn!("TLS certificate reload failed, keeping the old one: {e}"),
        }
    }
}
