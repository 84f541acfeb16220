//! IMAP4rev1 over the users' Maildirs, driving `mailwright-imap-proto`'s server flow.
//!
//! Being built (issue 9): until it lands, a connection is greeted and told the service is not
//! available yet.

use std::io;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use crate::net::{Conn, Peer};
use crate::server::Shared;

/// Serves one IMAP connection.
pub(crate) async fn serve(mut conn: Conn, _peer: Peer, _shared: &Arc<Shared>) -> io::Result<()> {
    conn.write_all(b"* BYE [UNAVAILABLE] IMAP is not available on this server yet\r\n")
        .await?;
    conn.shutdown().await
}
