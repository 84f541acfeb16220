//! A throw-away certificate authority for TLS tests: a CA and a server certificate for
//! `localhost` and `127.0.0.1` signed by it, as PEM files for peers (Dovecot, Postfix, the
//! examples' `--ca-file`) and as rustls configurations for in-process tests.
//!
//! `testsupport/` holds the original; each published crate that uses it carries a copy in its
//! own `tests/support/`, so that its tests run from the unpacked package alone
//! (`.ci/package-check` fails when a copy differs). Include it from an integration test with
//! `#[path = "support/tls.rs"] mod tls;` (needs `rcgen`, `rustls`, `tokio-rustls` and
//! `mailwright-sansio` with its `tokio` feature as dev-dependencies).
#![allow(dead_code, unreachable_pub)] // each test crate uses part of it

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use mailwright_sansio::upgrade::Upgrade;
use tokio::io::DuplexStream;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

/// A CA and a server certificate it signed.
pub struct Pki {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The server certificate, PEM.
    pub cert_pem: String,
    /// The server's private key, PKCS#8 PEM.
    pub key_pem: String,
    ca_der: CertificateDer<'static>,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

/// Paths of the PEM files written by [`Pki::write`].
pub struct PemFiles {
    /// The CA certificate (what a client trusts: `--ca-file`).
    pub ca: PathBuf,
    /// The server certificate.
    pub cert: PathBuf,
    /// The server's key.
    pub key: PathBuf,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Pki {
    /// A new CA and a certificate for `localhost` and `127.0.0.1`.
    pub fn new() -> Pki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Mailwright test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let mut leaf =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
        Pki {
            ca_pem: ca_cert.pem(),
            cert_pem: leaf_cert.pem(),
            key_pem: leaf_key.serialize_pem(),
            ca_der: ca_cert.der().clone(),
            cert_der: leaf_cert.der().clone(),
            key_der: leaf_key.serialize_der(),
        }
    }

    /// Writes `ca.pem`, `cert.pem` and `key.pem` into `dir`.
    pub fn write(&self, dir: &Path) -> PemFiles {
        let files = PemFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.ca, &self.ca_pem).unwrap();
        std::fs::write(&files.cert, &self.cert_pem).unwrap();
        std::fs::write(&files.key, &self.key_pem).unwrap();
        files
    }

    /// A server configuration presenting the certificate.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der.clone()], key)
            .unwrap();
        Arc::new(config)
    }

    /// A client configuration that trusts the CA (and nothing else).
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    /// An acceptor presenting the certificate.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.server_config())
    }

    /// A connector that trusts the CA.
    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.client_config())
    }
}

/// The name the server certificate is for.
pub fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

/// A handshake over one end of a duplex pipe.
pub type Handshake<S> = Box<
    dyn FnMut(DuplexStream) -> Pin<Box<dyn Future<Output = io::Result<S>> + Send>> + Send + Unpin,
>;

/// One end of a duplex pipe that can run its side of a TLS handshake in place.
pub type Tls<S> = Upgrade<DuplexStream, S, Handshake<S>>;

impl Pki {
    /// Both ends of a duplex pipe: the client's trusts the CA and checks the name `localhost`,
    /// the server's presents the certificate.
    pub fn duplex(
        &self,
    ) -> (
        Tls<tokio_rustls::client::TlsStream<DuplexStream>>,
        Tls<tokio_rustls::server::TlsStream<DuplexStream>>,
    ) {
        let (c, s) = tokio::io::duplex(64 * 1024);
        let connector = self.connector();
        let acceptor = self.acceptor();
        let client: Handshake<_> = Box::new(move |io| Box::pin(connector.connect(localhost(), io)));
        let server: Handshake<_> = Box::new(move |io| Box::pin(acceptor.accept(io)));
        (Upgrade::new(c, client), Upgrade::new(s, server))
    }
}
