//! The data directory: everything the server keeps, in one place.
//!
//! ```text
//! mailwright-data/
//!   mailwright.toml      configuration (commented defaults on first run)
//!   domains passwd aliases
//!   tls/cert.pem tls/key.pem   self-signed for localhost on first run
//!   mail/<domain>/<user>/Maildir/
//!   lmtp.sock            LMTP unix socket
//! ```

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::core::config::{Config, ConfigError, DEFAULT_CONFIG_TEXT};

/// The default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "mailwright-data";

/// Name of the configuration file inside the data directory.
pub const CONFIG_FILE: &str = "mailwright.toml";

/// Writes `bytes` to `path` atomically and durably: a temporary file beside it, fsync, rename,
/// fsync of the directory. Readers see the old or the new content, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// What [`init`] created, for the first-run message.
#[derive(Debug, Default)]
pub struct Created {
    /// Paths created by this call.
    pub paths: Vec<PathBuf>,
}

/// Creates the data directory with a commented configuration, a `localhost` domain, empty users and
/// aliases, and a self-signed certificate, leaving anything that exists as it is.
pub fn init(data_dir: &Path) -> std::io::Result<Created> {
    let mut created = Created::default();
    if !data_dir.exists() {
        std::fs::create_dir_all(data_dir)?;
        created.paths.push(data_dir.to_owned());
    }
    std::fs::create_dir_all(data_dir.join("mail"))?;
    let files: [(&str, &str, u32); 4] = [
        (CONFIG_FILE, DEFAULT_CONFIG_TEXT, 0o644),
        ("domains", "# one local domain per line\nlocalhost\n", 0o644),
        ("passwd", "", 0o600),
        (
            "aliases",
            "# alias@domain: target, target   (@domain: target is a catch-all)\n",
            0o644,
        ),
    ];
    for (name, text, mode) in files {
        let path = data_dir.join(name);
        if !path.exists() {
            write_atomic(&path, text.as_bytes(), mode)?;
            created.paths.push(path);
        }
    }
    // The certificate names the configured host (the default configuration's on a first run).
    let config = load_config(data_dir, None).unwrap_or_default();
    if let Some((cert, key)) = ensure_certificate(data_dir, &config)? {
        created.paths.push(cert);
        created.paths.push(key);
    }
    Ok(created)
}

/// Creates a self-signed development certificate where `config.tls` names files that do not exist
/// yet (in the data directory or elsewhere), for the configured host name, `localhost` and
/// `127.0.0.1`. Returns the paths it wrote; `None` when both files exist.
pub fn ensure_certificate(
    data_dir: &Path,
    config: &Config,
) -> std::io::Result<Option<(PathBuf, PathBuf)>> {
    let (cert, key) = (
        resolve(data_dir, &config.tls.cert),
        resolve(data_dir, &config.tls.key),
    );
    if cert.exists() && key.exists() {
        return Ok(None);
    }
    let mut names = vec![config.hostname.clone()];
    for name in ["localhost", "127.0.0.1"] {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.to_owned());
        }
    }
    let (cert_pem, key_pem) = self_signed(&names).map_err(std::io::Error::other)?;
    for dir in [cert.parent(), key.parent()].into_iter().flatten() {
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    write_atomic(&key, key_pem.as_bytes(), 0o600)?;
    write_atomic(&cert, cert_pem.as_bytes(), 0o644)?;
    Ok(Some((cert, key)))
}

/// A self-signed certificate for `names` (DNS names or IP addresses; the first is also the
/// subject's common name, which clients show): `(cert PEM, key PEM)`.
pub fn self_signed(names: &[String]) -> Result<(String, String), rcgen::Error> {
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    let mut subject = rcgen::DistinguishedName::new();
    if let Some(first) = names.first() {
        subject.push(rcgen::DnType::CommonName, first.as_str());
    }
    subject.push(
        rcgen::DnType::OrganizationName,
        "Mailwright self-signed development certificate",
    );
    params.distinguished_name = subject;
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Loads the configuration of a data directory, or the one at `config` if given.
pub fn load_config(data_dir: &Path, config: Option<&Path>) -> Result<Config, ConfigError> {
    let path = config.map_or_else(|| data_dir.join(CONFIG_FILE), Path::to_owned);
    if config.is_none() && !path.exists() {
        return Ok(Config::default());
    }
    Config::load(&path)
}

/// Resolves a path from the configuration against the data directory.
pub fn resolve(data_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        data_dir.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_creates_everything_once() {
        let dir = std::env::temp_dir().join(format!("mailwright-datadir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let created = init(&dir).unwrap();
        assert!(created.paths.len() >= 6, "{:?}", created.paths);
        for f in [
            CONFIG_FILE,
            "domains",
            "passwd",
            "aliases",
            "tls/cert.pem",
            "tls/key.pem",
        ] {
            assert!(dir.join(f).is_file(), "{f}");
        }
        assert_eq!(
            std::fs::metadata(dir.join("passwd"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        let again = init(&dir).unwrap();
        assert!(
            again.paths.is_empty(),
            "second run creates nothing: {:?}",
            again.paths
        );
        let config = load_config(&dir, None).unwrap();
        assert_eq!(config.hostname, "localhost");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
