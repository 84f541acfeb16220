//! Changes made by the other nodes: one `LISTEN` connection per node, outside the pool.
//!
//! Every write sends `NOTIFY mailwright_<hash of the user>` with the mailbox's name (see
//! [`channel_of`](super::channel_of)). A node listens on the channel of each user somebody
//! watches here ([`Listener::watch`], from `Account::watch`) and wakes that user's mailbox in
//! its [`Notifier`], so an IDLE on this node hears of an APPEND on another at once; sessions on
//! this store do not poll (`Account::poll_interval` is `None`). When the connection drops it is
//! made again a second later and listens on every channel again, then wakes every watcher once,
//! so what was missed meanwhile costs each watching session one sync, never correctness; so
//! does each new LISTEN, for the writes between a session's subscription and it.
//!
//! The same connection listens on [`DIRECTORY_CHANNEL`], which every change of users, domains or
//! aliases notifies: each notification (and each new connection) moves the directory's
//! generation on, so the node reads the directory again at once.
//!
//! The connection also listens on [`QUEUE_CHANNEL`], which a node notifies when it puts a
//! message in the outbound queue kept in the database: every node's delivery loop wakes at once
//! (and once more after a reconnection, for what it missed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{AsyncMessage, Socket};

use super::channel_of;
use crate::core::directory::Address;
use crate::store::notify::Notifier;
use crate::store::types::MailboxName;

/// The channel notified when users, domains or aliases change.
pub(super) const DIRECTORY_CHANNEL: &str = "mailwright_directory";

/// The channel of the outbound queue kept in the database: notified at each enqueue.
pub const QUEUE_CHANNEL: &str = "mailwright_queue";

/// The channels listened on, to the user each one is.
type Channels = Arc<Mutex<HashMap<String, Address>>>;

/// This node's listening connection: the users to listen for go to its task.
#[derive(Debug)]
pub(super) struct Listener {
    channels: Channels,
    new: mpsc::UnboundedSender<String>,
    /// Moves on when the directory may have changed (see [`DIRECTORY_CHANNEL`]).
    pub(super) directory_generation: Arc<AtomicU64>,
}

impl Listener {
    /// Starts the task that keeps the connection (on the current runtime).
    pub(super) fn start<T>(
        config: tokio_postgres::Config,
        tls: T,
        notifier: Arc<Notifier>,
        queue: Arc<tokio::sync::Notify>,
    ) -> Self
    where
        T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
        T::Stream: Send + Sync + 'static,
        T::TlsConnect: Send,
        <T::TlsConnect as tokio_postgres::tls::TlsConnect<Socket>>::Future: Send,
    {
        let channels: Channels = Arc::default();
        let (new, rx) = mpsc::unbounded_channel();
        let directory_generation = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(
            config,
            tls,
            notifier,
            queue,
            channels.clone(),
            rx,
            directory_generation.clone(),
        ));
        Self {
            channels,
            new,
            directory_generation,
        }
    }

    /// Listens for `user`'s changes from now on (at once if the connection is up).
    pub(super) fn watch(&self, user: &Address) {
        let channel = channel_of(user);
        let mut map = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if !map.contains_key(&channel) {
            map.insert(channel.clone(), user.clone());
            let _ = self.new.send(channel);
        }
    }
}

async fn run<T>(
    config: tokio_postgres::Config,
    tls: T,
    notifier: Arc<Notifier>,
    queue: Arc<tokio::sync::Notify>,
    channels: Channels,
    mut new: mpsc::UnboundedReceiver<String>,
    directory_generation: Arc<AtomicU64>,
) where
    T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
    T::Stream: Send + Sync + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<Socket>>::Future: Send,
{
    loop {
        let (client, mut connection) = match config.connect(tls.clone()).await {
            Ok(c) => c,
            Err(e) => {
                if new.is_closed() {
                    return;
                }
                tracing::warn!("database LISTEN connection: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let (ended_tx, mut ended) = tokio::sync::oneshot::channel::<()>();
        let (notifier_c, channels_c, queue_c) = (notifier.clone(), channels.clone(), queue.clone());
        let generation_c = directory_generation.clone();
        tokio::spawn(async move {
            while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                let Ok(message) = message else {
                    break;
                };
                if let AsyncMessage::Notification(n) = message {
                    if n.channel() == DIRECTORY_CHANNEL {
                        generation_c.fetch_add(1, Ordering::Release);
                        continue;
                    }
                    if n.channel() == QUEUE_CHANNEL {
                        queue_c.notify_one();
                        continue;
                    }
                    let user = channels_c
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get(n.channel())
                        .cloned();
                    if let (Some(user), Ok(mailbox)) = (user, MailboxName::new(n.payload())) {
                        notifier_c.changed(&user, &mailbox);
                    }
                }
            }
            let _ = ended_tx.send(());
        });
        let known: Vec<String> = channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        let mut up = client
            .batch_execute(&format!(
                "LISTEN {DIRECTORY_CHANNEL}; LISTEN {QUEUE_CHANNEL}"
            ))
            .await
            .is_ok();
        // Changes made while nobody listened: read the directory again.
        directory_generation.fetch_add(1, Ordering::Release);
        for channel in known {
            if !up {
                break;
            }
            // Channels are `mailwright_` and hex digits: an identifier as it stands.
            if client
                .batch_execute(&format!("LISTEN {channel}"))
                .await
                .is_err()
            {
                up = false;
                break;
            }
        }
        if up {
            // Writes made while nobody listened (before this connection, or between a
            // session's subscription and its LISTEN) woke nobody: every watcher looks once.
            notifier.changed_all();
            queue.notify_one();
        }
        while up {
            tokio::select! {
                channel = new.recv() => {
                    let Some(channel) = channel else {
                        // The store is gone.
                        return;
                    };
                    if client.batch_execute(&format!("LISTEN {channel}")).await.is_err() {
                        up = false;
                    } else {
                        notifier.changed_all();
                    }
                }
                _ = &mut ended => up = false,
            }
        }
        drop(client);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
