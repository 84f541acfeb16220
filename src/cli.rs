//! The `full_server` command line: serve, and administer the same data directory while it runs.
//!
//! ```text
//! full_server [--data-dir DIR] [--config FILE] [serve]
//! full_server user add|passwd|del|list ...     (passwords from a prompt or --password-stdin)
//! full_server alias add|del|list ...
//! full_server domain add|list ...
//! full_server hash-password [--scheme S]
//! full_server dkim generate DOMAIN [--selector S] [--algorithm ed25519|rsa] [--bits N]
//! full_server dkim show DOMAIN
//! full_server queue list|show ID|retry [ID...]|delete ID
//! full_server check-config
//! full_server migrate --to postgres|maildir [--user U]... [--force]
//! ```
//! Admin commands edit the files of the data directory atomically; a running server picks the change
//! up on its next lookup, without a restart. With `[store] directory = "database"` (the default on
//! the PostgreSQL store) users, domains and aliases are changed in the database instead, which
//! every node sees at once (`NOTIFY`); with `[store] backend = "postgres"` quotas are there too.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::core::auth::{Scheme, hash_password};
use crate::core::datadir;
use crate::core::directory::{Address, AliasSource, Directory};
use crate::intake::{Role, role_address};

/// The reference mail server and its admin commands.
#[derive(Debug, Parser)]
#[command(
    name = "full_server",
    version,
    about = "Mailwright reference mail server"
)]
pub struct Cli {
    /// Data directory: configuration, users, certificates and mail. Created on first run.
    #[arg(long, global = true, default_value = datadir::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Configuration file (default: mailwright.toml in the data directory).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage users (the passwd file, or the database with `[store] directory = "database"`).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage aliases.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Manage local domains.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Print a password hash for the passwd file.
    HashPassword(PasswordArgs),
    /// Manage DKIM signing keys (`dkim/<domain>/<selector>.key`).
    #[command(subcommand)]
    Dkim(DkimCommand),
    /// Inspect and manage the outbound queue (like Postfix's mailq, postqueue and postsuper).
    #[command(subcommand)]
    Queue(QueueCommand),
    /// TLS reporting (RFC 8460): send a day's reports now.
    #[command(subcommand)]
    Tlsrpt(TlsrptCommand),
    /// Check the configuration, users and aliases; exit non-zero on problems.
    CheckConfig,
    /// Per-user quotas (Maildir++ `maildirsize`, or the database on the PostgreSQL store; IMAP
    /// QUOTA, RFC 9208, reports them).
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// Per-folder message indexes (`mailwright-index` in each Maildir folder).
    #[command(subcommand)]
    Index(IndexCommand),
    /// Copy the users' mail between the Maildirs and the database of `[store]`, UIDs, flags,
    /// keywords and MODSEQs kept (run it with the server stopped; the source is left as it is).
    Migrate(MigrateArgs),
}

/// `migrate` arguments.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The store to copy into (from the other one).
    #[arg(long, value_enum)]
    pub to: MigrateTarget,
    /// A user to copy (repeatable; default: every user of the passwd file).
    #[arg(long = "user")]
    pub users: Vec<String>,
    /// Replace the mail of users the target has already (else they are named and skipped).
    #[arg(long)]
    pub force: bool,
}

/// The store `migrate` copies into.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MigrateTarget {
    /// The PostgreSQL database of `[store]`.
    Postgres,
    /// The Maildirs of the data directory.
    Maildir,
}

/// `index` subcommands. Safe while the server runs: the index is a cache that every reader
/// checks against the Maildir.
#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Build the indexes again from the Maildirs: of every user, of one user's folders, or of
    /// one folder (`INBOX`, or a name with `/` between levels as IMAP shows it).
    Rebuild {
        /// The address (default: every user).
        user: Option<String>,
        /// The folder (default: all of the user's).
        folder: Option<String>,
    },
}

/// `quota` subcommands. A running server sees a change at once.
#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Set a user's limits; with neither `--storage` nor `--messages` the quota is removed.
    Set {
        /// The address.
        user: String,
        /// Octets, or with a suffix K, M, G (units of 1024), e.g. `500M`.
        #[arg(long)]
        storage: Option<String>,
        /// Messages.
        #[arg(long)]
        messages: Option<u64>,
    },
    /// Print a user's usage and limits.
    Show {
        /// The address.
        user: String,
    },
}

/// `queue` subcommands. They work whether the server runs or not; a running server picks up
/// `retry` and `delete` within a second.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// List queued messages: id, size, age, sender, and each recipient with its last error.
    List,
    /// Print one message's envelope, recipient states and text.
    Show {
        /// The queue id.
        id: String,
    },
    /// Attempt delivery now, of the given messages or of all.
    Retry {
        /// Queue ids (none: every message).
        ids: Vec<String>,
    },
    /// Remove a message without delivering it (no bounce is sent).
    Delete {
        /// The queue id.
        id: String,
    },
}

/// `tlsrpt` subcommands. A running server with `outbound.tls_rpt = true` picks the request up
/// within a second.
#[derive(Debug, Subcommand)]
pub enum TlsrptCommand {
    /// Send the TLS reports of a day now (the server sends each day's once it is over).
    Send {
        /// The UTC day, `YYYY-MM-DD`. Default: today (what is recorded so far).
        #[arg(long)]
        date: Option<String>,
    },
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user (its domain must be local) and create its Maildir.
    Add {
        /// The address, e.g. alice@example.org.
        address: String,
        /// How the password is given and hashed.
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Change a user's password.
    Passwd {
        /// The address.
        address: String,
        /// How the password is given and hashed.
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Remove a user (their mail stays on disk).
    Del {
        /// The address.
        address: String,
    },
    /// List users.
    List,
}

/// `alias` subcommands.
#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Add targets to an alias; `@domain` as the alias makes a catch-all.
    Add {
        /// The alias address, or `@domain`.
        alias: String,
        /// Local users (or other aliases) receiving its mail.
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// Remove an alias.
    Del {
        /// The alias address, or `@domain`.
        alias: String,
    },
    /// List aliases.
    List,
}

/// `domain` subcommands.
#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Add a local domain.
    Add {
        /// The domain, e.g. example.org.
        domain: String,
    },
    /// List local domains.
    List,
}

/// `dkim` subcommands.
#[derive(Debug, Subcommand)]
pub enum DkimCommand {
    /// Make a signing key for a domain and print the DNS TXT record to publish.
    Generate {
        /// The domain that signs (the From domain of its mail), e.g. example.org.
        domain: String,
        /// The selector (default: `dkim.selector` of the configuration, "mail").
        #[arg(long)]
        selector: Option<String>,
        /// Signature algorithm.
        #[arg(long, value_enum, default_value_t = AlgorithmArg::Ed25519)]
        algorithm: AlgorithmArg,
        /// RSA key size in bits.
        #[arg(long, default_value_t = 2048)]
        bits: usize,
    },
    /// Print the DNS records of a domain's keys.
    Show {
        /// The domain.
        domain: String,
    },
}

/// DKIM algorithms offered on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AlgorithmArg {
    /// ed25519-sha256 (RFC 8463): short keys; sign with an RSA key too for older verifiers.
    Ed25519,
    /// rsa-sha256 (RFC 6376), verified everywhere.
    Rsa,
}

/// Password input options.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from the first line of standard input instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
    /// Hash scheme.
    #[arg(long, value_enum, default_value_t = SchemeArg::Argon2id)]
    pub scheme: SchemeArg,
}

/// Hash schemes offered on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemeArg {
    /// Argon2id (recommended).
    Argon2id,
    /// SHA-512 crypt.
    Sha512Crypt,
    /// bcrypt.
    BlfCrypt,
    /// Plain text: tests only.
    Plain,
}

impl From<SchemeArg> for Scheme {
    fn from(s: SchemeArg) -> Self {
        match s {
            SchemeArg::Argon2id => Scheme::Argon2id,
            SchemeArg::Sha512Crypt => Scheme::Sha512Crypt,
            SchemeArg::BlfCrypt => Scheme::BlfCrypt,
            SchemeArg::Plain => Scheme::Plain,
        }
    }
}

/// Errors of admin commands, printed as one line.
type AdminResult = Result<(), Box<dyn std::error::Error>>;

/// What the admin commands act on: the directory the configuration names and, on the PostgreSQL
/// store, the store with the runtime its pool runs on.
struct Admin {
    directory: Directory,
    #[cfg(feature = "postgres")]
    pg: Option<(
        std::sync::Arc<crate::store::postgres::PostgresStore>,
        tokio::runtime::Runtime,
    )>,
}

impl Admin {
    /// The files of `data_dir`, whatever the configuration says (for commands that touch no
    /// user).
    fn files(data_dir: &Path) -> Self {
        Self {
            directory: Directory::open(data_dir, std::time::Duration::ZERO),
            #[cfg(feature = "postgres")]
            pg: None,
        }
    }

    /// The directory and store of the configuration: on the PostgreSQL store a connection to
    /// the database (whose schema is brought up to date).
    fn open(data_dir: &Path, config: Option<&Path>) -> Result<Self, Box<dyn std::error::Error>> {
        let loaded = datadir::load_config(data_dir, config)?;
        if loaded.store.backend != crate::core::config::StoreBackend::Postgres {
            return Ok(Self::files(data_dir));
        }
        #[cfg(feature = "postgres")]
        {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            let store = std::sync::Arc::new(runtime.block_on(
                crate::store::postgres::PostgresStore::connect(data_dir, &loaded.store),
            )?);
            let directory = match loaded.store.directory_backend() {
                crate::core::config::DirectoryBackend::Database => {
                    Directory::with_database(data_dir, std::time::Duration::ZERO, store.directory())
                }
                crate::core::config::DirectoryBackend::Files => {
                    Directory::open(data_dir, std::time::Duration::ZERO)
                }
            };
            Ok(Self {
                directory,
                pg: Some((store, runtime)),
            })
        }
        #[cfg(not(feature = "postgres"))]
        Err("store.backend = \"postgres\": built without the postgres feature".into())
    }

    /// The PostgreSQL store, if the configuration names it.
    #[cfg(feature = "postgres")]
    fn postgres(&self) -> Option<&crate::store::postgres::PostgresStore> {
        self.pg.as_ref().map(|(store, _)| store.as_ref())
    }

    /// The PostgreSQL store, if the configuration names it.
    #[cfg(not(feature = "postgres"))]
    #[allow(clippy::unused_self)]
    fn postgres(&self) -> Option<&std::convert::Infallible> {
        None
    }

    /// Whether the users' mail is in Maildirs under the data directory.
    fn maildirs(&self) -> bool {
        self.postgres().is_none()
    }
}

/// Runs an admin command (anything but `serve`). Returns the process exit code.
pub fn run_admin(data_dir: &Path, config: Option<&Path>, command: Command) -> ExitCode {
    let result = (|| -> AdminResult {
        datadir::init(data_dir)?;
        let admin = match &command {
            Command::User(_)
            | Command::Alias(_)
            | Command::Domain(_)
            | Command::Quota(_)
            | Command::Index(_)
            | Command::CheckConfig => Admin::open(data_dir, config)?,
            _ => Admin::files(data_dir),
        };
        let directory = &admin.directory;
        match command {
            Command::Serve => unreachable!("serve is not an admin command"),
            Command::User(cmd) => user(&admin, cmd),
            Command::Alias(cmd) => alias(directory, cmd),
            Command::Domain(DomainCommand::Add { domain }) => {
                let domain = directory.add_domain(&domain)?;
                println!("added domain {domain}");
                let loaded = datadir::load_config(data_dir, config)?;
                let (postmaster, why) = role_address(&loaded, directory, Role::Postmaster)?;
                // RFC 5321 §4.5.1: postmaster@ must reach someone from the first message on.
                if admin.maildirs()
                    && (postmaster.domain() == loaded.hostname
                        || directory.domains()?.contains(postmaster.domain()))
                {
                    crate::store::maildir::create_user_maildir(
                        &directory.maildir_path(&postmaster),
                    )?;
                }
                println!(
                    "postmaster@{domain} and MAILER-DAEMON@{domain} go to {postmaster} ({why}; \
                     [postmaster] address changes it)"
                );
                let (abuse, why) = role_address(&loaded, directory, Role::Abuse)?;
                println!("abuse@{domain} goes to {abuse} ({why})");
                Ok(())
            }
            Command::Domain(DomainCommand::List) => {
                directory.domains()?.iter().for_each(|d| println!("{d}"));
                Ok(())
            }
            Command::Dkim(cmd) => dkim(data_dir, config, cmd),
            Command::Queue(cmd) => queue(&data_dir.join("queue"), cmd),
            Command::Tlsrpt(TlsrptCommand::Send { date }) => {
                use crate::outbound::tlsrpt;
                let day = match date {
                    Some(d) => tlsrpt::parse_day(&d)
                        .ok_or_else(|| format!("{d}: not a day (YYYY-MM-DD)"))?,
                    None => tlsrpt::day_of(crate::outbound::queue::now_secs()),
                };
                tlsrpt::request_send(&data_dir.join("tls-rpt"), day)?;
                println!(
                    "TLS reports of {} requested from the running server",
                    tlsrpt::day_name(day)
                );
                Ok(())
            }
            Command::Quota(cmd) => quota(&admin, cmd),
            Command::Index(cmd) => {
                if !admin.maildirs() {
                    return Err("the PostgreSQL store keeps no index files".into());
                }
                index(directory, cmd)
            }
            Command::Migrate(args) => {
                use crate::store::migrate;
                let loaded = datadir::load_config(data_dir, config)?;
                let to = match args.to {
                    MigrateTarget::Postgres => migrate::Target::Postgres,
                    MigrateTarget::Maildir => migrate::Target::Maildir,
                };
                migrate::run(data_dir, &loaded, directory, to, &args.users, args.force)
            }
            Command::HashPassword(args) => {
                let password = read_password(&args)?;
                println!("{}", hash_password(args.scheme.into(), &password)?);
                Ok(())
            }
            Command::CheckConfig => {
                let loaded = datadir::load_config(data_dir, config)?;
                let cert = datadir::resolve(data_dir, &loaded.tls.cert);
                let key = datadir::resolve(data_dir, &loaded.tls.key);
                crate::core::tls::load_server_config(&cert, &key)?;
                let problems = directory.check()?;
                for (role, names) in [
                    (
                        Role::Postmaster,
                        "postmaster@, MAILER-DAEMON@ and <Postmaster>",
                    ),
                    (Role::Abuse, "abuse@"),
                ] {
                    let (to, why) = role_address(&loaded, directory, role)?;
                    println!("{names} of every local domain go to {to} ({why})");
                }
                if problems.is_empty() {
                    println!("configuration OK");
                    Ok(())
                } else {
                    Err(problems.join("\n").into())
                }
            }
        }
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("full_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn user(admin: &Admin, cmd: UserCommand) -> AdminResult {
    let directory = &admin.directory;
    match cmd {
        UserCommand::Add { address, password } => {
            let address: Address = address.parse()?;
            if !directory.domains()?.contains(address.domain()) {
                return Err(format!(
                    "domain {} is not local: add it first with `full_server domain add {}`",
                    address.domain(),
                    address.domain()
                )
                .into());
            }
            let hashed = hash_password(password.scheme.into(), &read_password(&password)?)?;
            directory.set_user(&address, &hashed, false)?;
            if admin.maildirs() {
                crate::store::maildir::create_user_maildir(&directory.maildir_path(&address))?;
                println!(
                    "added user {address} (mail in {})",
                    directory.maildir_path(&address).display()
                );
            } else {
                println!("added user {address} (mail in the database)");
            }
            Ok(())
        }
        UserCommand::Passwd { address, password } => {
            let address: Address = address.parse()?;
            let hashed = hash_password(password.scheme.into(), &read_password(&password)?)?;
            directory.set_user(&address, &hashed, true)?;
            println!("changed password of {address}");
            Ok(())
        }
        UserCommand::Del { address } => {
            let address: Address = address.parse()?;
            directory.remove_user(&address)?;
            if admin.maildirs() {
                println!(
                    "removed user {address}; mail left in {}",
                    directory.maildir_path(&address).display()
                );
            } else {
                println!("removed user {address}; mail left in the database");
            }
            Ok(())
        }
        UserCommand::List => {
            directory.users()?.iter().for_each(|u| println!("{u}"));
            Ok(())
        }
    }
}

/// A size: octets, or with a suffix K, M or G in units of 1024.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
        _ => (t, 'B'),
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("not a size: {s:?} (e.g. 1048576, 512K, 100M, 2G)"))?;
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => return Err(format!("unknown unit in {s:?}: use K, M or G")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("too large: {s:?}"))
}

fn quota(admin: &Admin, cmd: QuotaCommand) -> AdminResult {
    let directory = &admin.directory;
    let (QuotaCommand::Set { user, .. } | QuotaCommand::Show { user }) = &cmd;
    let address: Address = user.parse()?;
    if !directory.contains_user(&address.to_string())? {
        return Err(format!("no such user: {address}").into());
    }
    #[cfg(feature = "postgres")]
    if let Some(store) = admin.postgres() {
        return quota_in_database(store, &address, cmd);
    }
    let path = directory.maildir_path(&address);
    match cmd {
        QuotaCommand::Set {
            storage, messages, ..
        } => {
            crate::store::maildir::create_user_maildir(&path)?;
            let md = mailwright_maildir::Maildir::open(&path)?;
            let bytes = storage.as_deref().map(parse_size).transpose()?;
            if bytes.is_none() && messages.is_none() {
                md.remove_quota()?;
                println!("removed the quota of {address}");
            } else {
                md.set_quota(mailwright_maildir::Quota { bytes, messages })?;
                println!("set the quota of {address}");
            }
            Ok(())
        }
        QuotaCommand::Show { .. } => {
            let usage = match mailwright_maildir::Maildir::open(&path) {
                Ok(md) => md.quota_usage()?,
                Err(_) => None,
            };
            let Some(u) = usage else {
                println!("{address}: no quota");
                return Ok(());
            };
            let limit =
                |l: Option<u64>| l.map_or_else(|| "unlimited".to_owned(), |l| l.to_string());
            println!(
                "{address}: storage {} of {} octets, messages {} of {}",
                u.bytes,
                limit(u.quota.bytes),
                u.messages,
                limit(u.quota.messages)
            );
            Ok(())
        }
    }
}

/// `quota set|show` on the PostgreSQL store.
#[cfg(feature = "postgres")]
fn quota_in_database(
    store: &crate::store::postgres::PostgresStore,
    address: &Address,
    cmd: QuotaCommand,
) -> AdminResult {
    use crate::store::MailStore;
    match cmd {
        QuotaCommand::Set {
            storage, messages, ..
        } => {
            let bytes = storage.as_deref().map(parse_size).transpose()?;
            store.set_quota(address, bytes, messages)?;
            if bytes.is_none() && messages.is_none() {
                println!("removed the quota of {address}");
            } else {
                println!("set the quota of {address}");
            }
        }
        QuotaCommand::Show { .. } => match store.quota(address)? {
            None => println!("{address}: no quota"),
            Some(u) => {
                let limit =
                    |l: Option<u64>| l.map_or_else(|| "unlimited".to_owned(), |l| l.to_string());
                println!(
                    "{address}: storage {} of {} octets, messages {} of {}",
                    u.bytes,
                    limit(u.bytes_limit),
                    u.messages,
                    limit(u.messages_limit)
                );
            }
        },
    }
    Ok(())
}

fn index(directory: &Directory, cmd: IndexCommand) -> AdminResult {
    let IndexCommand::Rebuild { user, folder } = cmd;
    let users: Vec<Address> = match &user {
        Some(u) => {
            let address: Address = u.parse()?;
            if !directory.contains_user(&address.to_string())? {
                return Err(format!("no such user: {address}").into());
            }
            vec![address]
        }
        None => directory
            .users()?
            .iter()
            .map(|u| u.parse())
            .collect::<Result<_, _>>()?,
    };
    for address in users {
        let path = directory.maildir_path(&address);
        let Ok(root) = mailwright_maildir::Maildir::open(&path) else {
            // A user who never received mail has no Maildir yet, so nothing to index.
            if folder.is_some() {
                return Err(format!("{address} has no mailbox yet").into());
            }
            continue;
        };
        let names: Vec<Option<String>> = match &folder {
            Some(f) if f.eq_ignore_ascii_case("INBOX") => vec![None],
            Some(f) => vec![Some(f.replace('/', "."))],
            None => std::iter::once(None)
                .chain(root.list_folders()?.into_iter().map(Some))
                .collect(),
        };
        for name in names {
            let md = match &name {
                None => root.inbox(),
                Some(n) => root
                    .folder(n)
                    .map_err(|e| format!("{address}: folder {n}: {e}"))?,
            };
            let index = md.rebuild_index()?;
            let shown = name
                .as_deref()
                .map_or_else(|| "INBOX".to_owned(), |n| n.replace('.', "/"));
            println!("{address} {shown}: {} messages indexed", index.len());
        }
    }
    Ok(())
}

fn alias(directory: &Directory, cmd: AliasCommand) -> AdminResult {
    match cmd {
        AliasCommand::Add { alias, targets } => {
            let source: AliasSource = alias.parse()?;
            let targets = targets
                .iter()
                .map(|t| t.parse::<Address>())
                .collect::<Result<Vec<_>, _>>()?;
            directory.add_alias(&source, &targets)?;
            println!(
                "alias {source} -> {}",
                targets
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        }
        AliasCommand::Del { alias } => {
            directory.remove_alias(&alias.parse()?)?;
            println!("removed alias {alias}");
            Ok(())
        }
        AliasCommand::List => {
            for (source, targets) in directory.aliases()? {
                println!("{source}: {}", targets.join(", "));
            }
            Ok(())
        }
    }
}

fn queue(dir: &Path, cmd: QueueCommand) -> AdminResult {
    use crate::outbound::queue::RcptStatus;
    let now = crate::outbound::queue::now_secs();
    // Each recipient's state, the last reply about it and, while pending, the next attempt.
    let describe = |e: &crate::outbound::queue::Entry, r: &crate::outbound::queue::QueuedRcpt| {
        // A recipient domain backing off has its own next attempt (see `Entry::waits`).
        let at = match e.due_at(&r.domain()) {
            0 => e.next_attempt,
            at => at,
        };
        let next = || match at.saturating_sub(now) {
            0 => "next attempt now".to_owned(),
            s => format!("next attempt in {s}s"),
        };
        let via = |a: &crate::outbound::queue::Attempt| {
            a.remote
                .as_deref()
                .map_or_else(String::new, |r| format!(" from {r}"))
        };
        match &r.status {
            RcptStatus::Pending(None) => format!("{}  (waiting; {})", r.address, next()),
            RcptStatus::Pending(Some(a)) => format!(
                "{}  (deferred: {}{}; {})",
                r.address,
                a.reply,
                via(a),
                next()
            ),
            RcptStatus::Delivered(a) => format!("{}  (sent: {}{})", r.address, a.reply, via(a)),
            RcptStatus::Failed(a) => format!("{}  (failed: {}{})", r.address, a.reply, via(a)),
        }
    };
    match cmd {
        QueueCommand::List => {
            let entries = crate::outbound::queue::list(dir)?;
            for e in &entries {
                println!(
                    "{}  {:>8}  {:>6}s  <{}>{}",
                    e.id,
                    e.size,
                    now.saturating_sub(e.created),
                    e.from,
                    if e.kind == crate::outbound::queue::Kind::Report {
                        "  (report)"
                    } else {
                        ""
                    }
                );
                for r in &e.rcpts {
                    println!("    {}", describe(e, r));
                }
            }
            let total: u64 = entries.iter().map(|e| e.size).sum();
            println!("-- {} messages, {total} bytes", entries.len());
            Ok(())
        }
        QueueCommand::Show { id } => {
            let (e, body) = crate::outbound::queue::show(dir, &id)?;
            println!(
                "id: {}\nfrom: <{}>\nqueued: {}s ago\nattempts: {}\nnext attempt: in {}s",
                e.id,
                e.from,
                now.saturating_sub(e.created),
                e.attempts,
                e.next_attempt.saturating_sub(now)
            );
            for r in &e.rcpts {
                println!("rcpt: {}", describe(&e, r));
            }
            println!();
            std::io::stdout().write_all(&body)?;
            Ok(())
        }
        QueueCommand::Retry { ids } => {
            crate::outbound::queue::request_flush(dir, &ids)?;
            println!(
                "delivery requested for {}",
                if ids.is_empty() {
                    "every message".to_owned()
                } else {
                    ids.join(", ")
                }
            );
            Ok(())
        }
        QueueCommand::Delete { id } => {
            crate::outbound::queue::delete(dir, &id)?;
            println!("deleted {id}");
            Ok(())
        }
    }
}

fn dkim(data_dir: &Path, config: Option<&Path>, cmd: DkimCommand) -> AdminResult {
    use crate::intake::trust::{KeyAlgorithm, dkim};
    match cmd {
        DkimCommand::Generate {
            domain,
            selector,
            algorithm,
            bits,
        } => {
            let selector = match selector {
                Some(s) => s,
                None => datadir::load_config(data_dir, config)?.dkim.selector,
            };
            let algorithm = match algorithm {
                AlgorithmArg::Ed25519 => KeyAlgorithm::Ed25519,
                AlgorithmArg::Rsa => KeyAlgorithm::Rsa,
            };
            let key = dkim::generate_key_file(data_dir, &domain, &selector, algorithm, bits)?;
            eprintln!(
                "wrote {}; publish this record (also in {}.txt beside it):",
                dkim::key_dir(data_dir, key.domain())
                    .join(format!("{}.key", key.selector()))
                    .display(),
                key.selector()
            );
            println!("{}", key.zone_line());
            Ok(())
        }
        DkimCommand::Show { domain } => {
            let keys = dkim::load_keys(data_dir, &domain)?;
            if keys.is_empty() {
                return Err(format!(
                    "{domain} has no DKIM key: make one with `full_server dkim generate {domain}`"
                )
                .into());
            }
            for key in keys {
                println!("{}", key.zone_line());
            }
            Ok(())
        }
    }
}

/// Reads a password from standard input (`--password-stdin`) or a no-echo prompt; never from argv.
fn read_password(args: &PasswordArgs) -> Result<String, Box<dyn std::error::Error>> {
    let password = if args.password_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Again: ")?;
        if first != second {
            return Err("passwords do not match".into());
        }
        first
    };
    if password.is_empty() {
        return Err("empty password".into());
    }
    std::io::stdout().flush()?;
    Ok(password)
}
