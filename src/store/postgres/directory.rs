//! Users, domains and aliases in the database (`[store] directory = "database"`): the tables
//! `users` (the passwd file's `{SCHEME}hash`), `domains` and `aliases` (one row per target), and
//! the copies between them and the files of a data directory (for `full_server migrate`).
//!
//! Every change notifies [`DIRECTORY_CHANNEL`] in its transaction, so the other nodes read the
//! directory again at once (see `listen`); their cache otherwise lasts `[auth] cache_ttl_secs`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio_postgres::GenericClient;

use super::listen::DIRECTORY_CHANNEL;
use super::{Db, PostgresStore, pg};
use crate::core::auth::AuthError;
use crate::core::directory::{
    Address, AliasMap, AliasSource, Directory, DirectoryDb, DirectoryError,
};
use crate::store::types::StoreError;

/// The directory tables of a [`PostgresStore`]'s database.
#[derive(Debug)]
pub struct PgDirectory {
    db: Arc<Db>,
}

impl PostgresStore {
    /// The users, domains and aliases of this store's database, for
    /// [`Directory::with_database`].
    pub fn directory(&self) -> Arc<PgDirectory> {
        Arc::new(PgDirectory {
            db: self.db.clone(),
        })
    }

    /// Sets `user`'s limits (`None`: unlimited), making their account if needed: the `quota
    /// set` command on this store.
    pub fn set_quota(
        &self,
        user: &Address,
        bytes: Option<u64>,
        messages: Option<u64>,
    ) -> Result<(), StoreError> {
        let name = user.to_string();
        let limit = |l: Option<u64>| l.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
        let (bytes, messages) = (limit(bytes), limit(messages));
        self.db.run(|| async {
            super::ensure_account(&self.db, &name).await?;
            self.db
                .client()
                .await?
                .execute(
                    "UPDATE accounts SET bytes_limit = $2, messages_limit = $3 \
                     WHERE username = $1",
                    &[&name, &bytes, &messages],
                )
                .await
                .map_err(pg)?;
            Ok(())
        })
    }
}

fn db_error(e: StoreError) -> DirectoryError {
    DirectoryError::Database(Box::new(e))
}

impl PgDirectory {
    /// Runs `f` to its end, blocking the thread (from an async thread too, as the store does).
    fn run<T>(
        &self,
        f: impl Future<Output = Result<T, DirectoryError>>,
    ) -> Result<T, DirectoryError> {
        crate::core::blocking(|| self.db.handle.block_on(f))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, DirectoryError> {
        self.db.client().await.map_err(db_error)
    }
}

fn sql(e: tokio_postgres::Error) -> DirectoryError {
    db_error(pg(e))
}

/// Runs one change and its notification in a transaction.
async fn change<T>(
    db: &PgDirectory,
    f: impl AsyncFnOnce(&deadpool_postgres::Transaction<'_>) -> Result<T, DirectoryError>,
) -> Result<T, DirectoryError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await.map_err(sql)?;
    let out = f(&tx).await?;
    tx.batch_execute(&format!("NOTIFY {DIRECTORY_CHANNEL}"))
        .await
        .map_err(sql)?;
    tx.commit().await.map_err(sql)?;
    Ok(out)
}

async fn read_tables(
    client: &impl GenericClient,
) -> Result<(BTreeSet<String>, AliasMap), DirectoryError> {
    let domains = client
        .query("SELECT name FROM domains", &[])
        .await
        .map_err(sql)?
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    let mut aliases = AliasMap::new();
    for row in client
        .query("SELECT source, target FROM aliases ORDER BY id", &[])
        .await
        .map_err(sql)?
    {
        let source: String = row.get(0);
        let source: AliasSource = source
            .parse()
            .map_err(|e| DirectoryError::Refused(format!("aliases table: {e}")))?;
        aliases.entry(source).or_default().push(row.get(1));
    }
    Ok((domains, aliases))
}

impl DirectoryDb for PgDirectory {
    fn domains_and_aliases(&self) -> Result<(BTreeSet<String>, AliasMap), DirectoryError> {
        self.run(async { read_tables(&**self.client().await?).await })
    }

    fn password(&self, user: &str) -> Result<Option<String>, DirectoryError> {
        self.run(async {
            let row = self
                .client()
                .await?
                .query_opt("SELECT password FROM users WHERE username = $1", &[&user])
                .await
                .map_err(sql)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn users(&self) -> Result<Vec<String>, DirectoryError> {
        self.run(async {
            let rows = self
                .client()
                .await?
                .query("SELECT username FROM users ORDER BY username", &[])
                .await
                .map_err(sql)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn set_user(&self, user: &Address, hashed: &str, replace: bool) -> Result<(), DirectoryError> {
        let name = user.to_string();
        self.run(change(self, async |tx| {
            let query = if replace {
                "UPDATE users SET password = $2 WHERE username = $1"
            } else {
                "INSERT INTO users (username, password) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            };
            match (
                tx.execute(query, &[&name, &hashed]).await.map_err(sql)?,
                replace,
            ) {
                (0, true) => Err(AuthError::User(format!("no user {name}")).into()),
                (0, false) => Err(AuthError::User(format!("user {name} exists already")).into()),
                _ => Ok(()),
            }
        }))
    }

    fn remove_user(&self, user: &Address) -> Result<(), DirectoryError> {
        let name = user.to_string();
        self.run(change(self, async |tx| {
            let n = tx
                .execute("DELETE FROM users WHERE username = $1", &[&name])
                .await
                .map_err(sql)?;
            if n == 0 {
                return Err(AuthError::User(format!("no user {name}")).into());
            }
            Ok(())
        }))
    }

    fn add_domain(&self, domain: &str) -> Result<bool, DirectoryError> {
        self.run(change(self, async |tx| {
            let n = tx
                .execute(
                    "INSERT INTO domains (name) VALUES ($1) ON CONFLICT DO NOTHING",
                    &[&domain],
                )
                .await
                .map_err(sql)?;
            Ok(n == 1)
        }))
    }

    fn add_alias(&self, source: &AliasSource, targets: &[String]) -> Result<(), DirectoryError> {
        let source = source.to_string();
        self.run(change(self, async |tx| {
            for target in targets {
                tx.execute(
                    "INSERT INTO aliases (source, target) VALUES ($1, $2) \
                         ON CONFLICT DO NOTHING",
                    &[&source, target],
                )
                .await
                .map_err(sql)?;
            }
            Ok(())
        }))
    }

    fn remove_alias(&self, source: &AliasSource) -> Result<bool, DirectoryError> {
        let source = source.to_string();
        self.run(change(self, async |tx| {
            let n = tx
                .execute("DELETE FROM aliases WHERE source = $1", &[&source])
                .await
                .map_err(sql)?;
            Ok(n > 0)
        }))
    }

    fn generation(&self) -> u64 {
        self.db
            .listener
            .directory_generation
            .load(Ordering::Acquire)
    }
}

/// How much one copy between the files and the database carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectoryCopy {
    /// Users (with their password hashes).
    pub users: usize,
    /// Local domains.
    pub domains: usize,
    /// Aliases (each with all its targets).
    pub aliases: usize,
}

/// Copies the `passwd`, `domains` and `aliases` files of `data_dir` into the database of
/// `store`, in one transaction: every user with the hash of the file (the further fields of
/// a passwd line are not kept), every domain, and every alias with exactly the file's targets.
/// What the database has besides stays. Running it again changes nothing.
/// Blocks: call it off the async threads.
pub fn copy_files_to_database(
    data_dir: &Path,
    store: &PostgresStore,
) -> Result<DirectoryCopy, DirectoryError> {
    let files = Directory::open(data_dir, std::time::Duration::ZERO);
    let mut users = Vec::new();
    for user in files.users()? {
        let stored = files.password_hash(&user)?.unwrap_or_default();
        users.push((user, stored));
    }
    let domains = files.domains()?;
    let aliases = files.aliases()?;
    let db = store.directory();
    db.run(change(&db, async |tx| {
        for (user, stored) in &users {
            tx.execute(
                "INSERT INTO users (username, password) VALUES ($1, $2) \
                 ON CONFLICT (username) DO UPDATE SET password = EXCLUDED.password",
                &[user, stored],
            )
            .await
            .map_err(sql)?;
        }
        for domain in &domains {
            tx.execute(
                "INSERT INTO domains (name) VALUES ($1) ON CONFLICT DO NOTHING",
                &[domain],
            )
            .await
            .map_err(sql)?;
        }
        for (source, targets) in &aliases {
            let source = source.to_string();
            let have: Vec<String> = tx
                .query(
                    "SELECT target FROM aliases WHERE source = $1 ORDER BY id",
                    &[&source],
                )
                .await
                .map_err(sql)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if have == *targets {
                continue;
            }
            tx.execute("DELETE FROM aliases WHERE source = $1", &[&source])
                .await
                .map_err(sql)?;
            for target in targets {
                tx.execute(
                    "INSERT INTO aliases (source, target) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&source, target],
                )
                .await
                .map_err(sql)?;
            }
        }
        Ok(())
    }))?;
    Ok(DirectoryCopy {
        users: users.len(),
        domains: domains.len(),
        aliases: aliases.len(),
    })
}

/// Copies the users, domains and aliases of `store`'s database into the files of `data_dir`:
/// every user with the database's hash (added, or the hash of their line replaced), every
/// domain, and every alias with exactly the database's targets. What the files have besides
/// stays. Running it again changes nothing. Blocks: call it off the async threads.
pub fn copy_database_to_files(
    store: &PostgresStore,
    data_dir: &Path,
) -> Result<DirectoryCopy, DirectoryError> {
    let db = store.directory();
    let (domains, aliases) = db.run(async { read_tables(&**db.client().await?).await })?;
    let users: Vec<(String, String)> = db.run(async {
        let rows = db
            .client()
            .await?
            .query(
                "SELECT username, password FROM users ORDER BY username",
                &[],
            )
            .await
            .map_err(sql)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    })?;
    let files = Directory::open(data_dir, std::time::Duration::ZERO);
    files.passwd().set_many(&users)?;
    files.merge_files(&domains, &aliases)?;
    Ok(DirectoryCopy {
        users: users.len(),
        domains: domains.len(),
        aliases: aliases.len(),
    })
}
