//! TLS with rustls (ring provider): TLS 1.2 and 1.3 only, certificates reloaded without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Errors loading certificates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the certificate and key.
    #[error("certificate and key do not make a TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds a rustls server configuration from PEM files.
pub fn load_server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let pem = |path: &Path, reason: String| TlsError::Pem {
        path: path.to_owned(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem(cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(pem(cert, "no certificate in file".to_owned()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem(key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // with_safe_default_protocol_versions: TLS 1.3 and 1.2, nothing older.
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)?;
    Ok(config)
}

/// The current TLS configuration, swapped atomically on reload.
#[derive(Debug)]
pub struct TlsStore {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<(Arc<ServerConfig>, Option<SystemTime>)>,
}

impl TlsStore {
    /// Loads the certificate and key.
    pub fn load(cert: PathBuf, key: PathBuf) -> Result<Self, TlsError> {
        let config = load_server_config(&cert, &key)?;
        let stamp = stamp(&cert, &key);
        Ok(Self {
            cert,
            key,
            current: RwLock::new((Arc::new(config), stamp)),
        })
    }

    /// The configuration new handshakes use.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            .clone()
    }

    /// An acceptor for one handshake.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config())
    }

    /// Reloads from disk; on error the old configuration stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = load_server_config(&self.cert, &self.key)?;
        let stamp = stamp(&self.cert, &self.key);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (Arc::new(config), stamp);
        Ok(())
    }

    /// Reloads if either file changed since the last load. Returns whether it reloaded.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = stamp(&self.cert, &self.key);
        let last = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1;
        if now.is_some() && now != last {
            self.reload()?;
            return Ok(true);
        }
        Ok(false)
    }
}

/// The later modification time of the two files.
fn stamp(cert: &Path, key: &Path) -> Option<SystemTime> {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    m(cert).max(m(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_generated_pair_and_reloads_on_change() {
        let dir = std::env::temp_dir().join(format!("mailwright-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = crate::core::datadir::self_signed(&["localhost".to_owned()]).unwrap();
        std::fs::write(dir.join("c.pem"), cert).unwrap();
        std::fs::write(dir.join("k.pem"), key).unwrap();
        let store = TlsStore::load(dir.join("c.pem"), dir.join("k.pem")).unwrap();
        assert!(!store.reload_if_changed().unwrap());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (cert, key) = crate::core::datadir::self_signed(&["localhost".to_owned()]).unwrap();
        std::fs::write(dir.join("c.pem"), cert).unwrap();
        std::fs::write(dir.join("k.pem"), key).unwrap();
        assert!(store.reload_if_changed().unwrap());
        std::fs::write(dir.join("k.pem"), "garbage").unwrap();
        assert!(
            store.reload().is_err(),
            "a broken key is refused and the old config kept"
        );
        assert!(TlsStore::load(dir.join("missing.pem"), dir.join("k.pem")).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
