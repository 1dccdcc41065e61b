//! The endpoint's optional TLS and basic authentication, configured by a web-config file in
//! the format Prometheus exporters share (prometheus/exporter-toolkit
//! `docs/web-configuration.md`; node_exporter's `--web.config.file`):
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt        # relative paths are relative to this file
//!   key_file: server.key
//!   client_ca_file: ca.crt       # with client_auth_type: RequireAndVerifyClientCert
//!   min_version: TLS12           # or TLS13
//! basic_auth_users:
//!   prometheus: $2y$10$...       # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':\n')
//! ```
//!
//! `/metrics` then needs the credentials (401 with `WWW-Authenticate: Basic` without them);
//! `/healthz` and `/readyz` stay open, since the kubelet's probes carry none. Keys the
//! toolkit has and nodecap does not implement (cipher suites, curve preferences, HTTP
//! headers) are refused by name rather than ignored. A password that verified once is kept
//! in memory, so a scrape costs one bcrypt check per process, not one per scrape.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use crate::core::excerpt::{MAX_CHARS, clip};

/// The highest bcrypt cost accepted. Each step doubles a check's time: cost 10 (htpasswd's
/// and exporter-toolkit's examples) takes about 60 ms on one core, 12 about 250 ms — and a
/// check occupies a blocking thread, up to [`super::server::MAX_SCRAPES`] at once. Users run
/// 10–12; a cost-31 hash would pin a core for a day per check, so a hash over 12 is refused
/// at start (a wrong password is checked every time, so a higher cost is a lever for anyone
/// who can reach the port).
pub const MAX_BCRYPT_COST: u32 = 12;

/// Roughly how long one check at `cost` takes on one core (60 ms at cost 10).
fn check_time(cost: u32) -> String {
    let ms = 60u64 << cost.saturating_sub(10).min(40);
    humantime::format_duration(std::time::Duration::from_millis(ms)).to_string()
}

/// The most bytes of a web-config file read.
const MAX_FILE: u64 = 64 * 1024;

/// A web-config file nodecap cannot use.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("web config")]
    Read(#[source] crate::file::ReadError),
    #[error("web config {path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error("web config {path}: {what} {file}")]
    Pem {
        path: PathBuf,
        what: &'static str,
        file: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "web config {path}: tls_server_config needs TLS, and this build has none (built without the `tls` feature)"
    )]
    NoTls { path: PathBuf },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsFile>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
}

/// The TLS settings, validated; their files are read by [`tls::acceptor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Client certificates are required and verified against this CA.
    pub client_ca_file: Option<PathBuf>,
    pub tls13_only: bool,
}

/// A web-config file's settings, checked; the files they name not yet read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub tls: Option<Tls>,
    /// User name → bcrypt hash.
    pub users: Option<BTreeMap<String, String>>,
}

/// What the endpoint enforces (by default: nothing, plain HTTP).
#[derive(Default)]
pub struct Web {
    pub tls: Option<Tls>,
    #[cfg(feature = "tls")]
    pub acceptor: Option<tokio_rustls::TlsAcceptor>,
    pub auth: Option<Arc<Auth>>,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("tls", &self.tls)
            .field("auth", &self.auth.is_some())
            .finish_non_exhaustive()
    }
}

/// Reads and checks the web-config file at `path`, certificates included.
pub fn load(path: &Path) -> Result<Web, Error> {
    let text = crate::file::read_text(path, MAX_FILE).map_err(Error::Read)?;
    let Settings { tls, users } = parse(&text, path)?;
    let auth = users.map(|users| Arc::new(Auth::new(users)));
    #[cfg(feature = "tls")]
    {
        let acceptor = tls.as_ref().map(|t| tls::acceptor(t, path)).transpose()?;
        Ok(Web {
            tls,
            acceptor,
            auth,
        })
    }
    #[cfg(not(feature = "tls"))]
    {
        if tls.is_some() {
            return Err(Error::NoTls {
                path: path.to_owned(),
            });
        }
        Ok(Web { tls, auth })
    }
}

/// The file's settings: TLS (paths resolved against the file's directory) and the users.
pub fn parse(text: &str, path: &Path) -> Result<Settings, Error> {
    let invalid = |problem: String| Error::Invalid {
        path: path.to_owned(),
        problem,
    };
    let file: File = serde_saphyr::from_str(text).map_err(|e| {
        invalid(clip(
            e.to_string().lines().next().unwrap_or_default(),
            2 * MAX_CHARS,
        ))
    })?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let tls = file
        .tls_server_config
        .map(|t| tls(t, dir))
        .transpose()
        .map_err(invalid)?;
    if let Some(users) = &file.basic_auth_users {
        check_users(users).map_err(invalid)?;
    }
    Ok(Settings {
        tls,
        users: file.basic_auth_users,
    })
}

/// `tls_server_config`, its paths resolved against `dir`; else the problem.
fn tls(t: TlsFile, dir: &Path) -> Result<Tls, String> {
    let required = match t.client_auth_type.as_deref() {
        None | Some("NoClientCert") => false,
        Some("RequireAndVerifyClientCert") => true,
        Some(other) => {
            return Err(format!(
                "tls_server_config.client_auth_type: expected NoClientCert or RequireAndVerifyClientCert, got {:?}",
                clip(other, MAX_CHARS)
            ));
        }
    };
    if required != t.client_ca_file.is_some() {
        return Err(
            "tls_server_config: client_auth_type RequireAndVerifyClientCert and client_ca_file go together".to_owned(),
        );
    }
    let version = |key: &str, value: Option<&str>| match value {
        None | Some("TLS12") => Ok(false),
        Some("TLS13") => Ok(true),
        Some(other) => Err(format!(
            "tls_server_config.{key}: expected TLS12 or TLS13, got {:?}",
            clip(other, MAX_CHARS)
        )),
    };
    let tls13_only = version("min_version", t.min_version.as_deref())?;
    if !version("max_version", t.max_version.as_deref())? && t.max_version.is_some() {
        return Err(
            "tls_server_config.max_version: TLS12 leaves out TLS 1.3; nodecap serves TLS 1.2 and 1.3".to_owned(),
        );
    }
    Ok(Tls {
        cert_file: dir.join(t.cert_file),
        key_file: dir.join(t.key_file),
        client_ca_file: t.client_ca_file.map(|f| dir.join(f)),
        tls13_only,
    })
}

/// `basic_auth_users`: names without ':', bcrypt hashes of at most [`MAX_BCRYPT_COST`];
/// else the problem.
fn check_users(users: &BTreeMap<String, String>) -> Result<(), String> {
    for (user, hash) in users {
        if user.is_empty() || user.contains(':') {
            return Err(format!(
                "basic_auth_users: user {:?}: expected a name without ':'",
                clip(user, MAX_CHARS)
            ));
        }
        let Ok(parts) = hash.parse::<bcrypt::HashParts>() else {
            return Err(format!(
                "basic_auth_users.{}: expected a bcrypt hash ($2y$…), such as `htpasswd -nBC 10 \"\" | tr -d ':\\n'` prints",
                clip(user, MAX_CHARS)
            ));
        };
        if parts.get_cost() > MAX_BCRYPT_COST {
            return Err(format!(
                "basic_auth_users.{}: bcrypt cost {} is over {MAX_BCRYPT_COST} (each check would take {}; `htpasswd -nBC 10` makes cost 10)",
                clip(user, MAX_CHARS),
                parts.get_cost(),
                check_time(parts.get_cost()),
            ));
        }
    }
    Ok(())
}

/// Basic authentication against bcrypt hashes.
pub struct Auth {
    users: BTreeMap<String, String>,
    /// Per user, the password that last verified: the same one again is compared, not
    /// hashed (bcrypt costs tens of milliseconds by design).
    verified: Mutex<HashMap<String, Vec<u8>>>,
}

impl std::fmt::Debug for Auth {
    /// User names only: never a hash or a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub fn new(users: BTreeMap<String, String>) -> Self {
        Auth {
            users,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Whether an `Authorization` header's value names a user and their password.
    pub async fn allows(self: &Arc<Self>, header: Option<&[u8]>) -> bool {
        let Some((user, password)) = header.and_then(basic_credentials) else {
            return false;
        };
        let Some(hash) = self.users.get(&user).cloned() else {
            return false;
        };
        let known = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&user)
            .is_some_and(|p| constant_time_eq(p, &password));
        if known {
            return true;
        }
        let auth = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let ok = bcrypt::verify(&password, &hash).unwrap_or(false);
            if ok {
                auth.verified
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(user, password);
            }
            ok
        })
        .await
        .unwrap_or(false)
    }
}

/// `Basic base64(user:password)` → (user, password).
fn basic_credentials(header: &[u8]) -> Option<(String, Vec<u8>)> {
    use base64::Engine;
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The rustls side, in builds with the `tls` feature.
#[cfg(feature = "tls")]
pub mod tls {
    use std::path::Path;
    use std::sync::Arc;

    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    use super::{Error, Tls};

    /// The most bytes of a certificate, key or CA file read: a chain of a few certificates
    /// is a few KiB.
    const MAX_PEM: u64 = 256 * 1024;

    /// A TLS acceptor from the certificate, key and client CA files of `tls`, each read as
    /// every file nodecap reads (`file::read_bytes`: regular files only, bounded).
    pub fn acceptor(tls: &Tls, config: &Path) -> Result<tokio_rustls::TlsAcceptor, Error> {
        let read = |file: &Path| crate::file::read_bytes(file, MAX_PEM).map_err(Error::Read);
        let pem = |what: &'static str, file: &Path| {
            let file = file.to_owned();
            let path = config.to_owned();
            move |source: Box<dyn std::error::Error + Send + Sync>| Error::Pem {
                path,
                what,
                file,
                source,
            }
        };
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(&read(&tls.cert_file)?)
                .collect::<Result<_, _>>()
                .map_err(|e| pem("cannot read the certificates in", &tls.cert_file)(Box::new(e)))?;
        if certs.is_empty() {
            return Err(pem("no certificate in", &tls.cert_file)("empty".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(&read(&tls.key_file)?)
            .map_err(|e| pem("cannot read the private key in", &tls.key_file)(Box::new(e)))?;
        let versions: &[&rustls::SupportedProtocolVersion] = if tls.tls13_only {
            &[&rustls::version::TLS13]
        } else {
            &[&rustls::version::TLS12, &rustls::version::TLS13]
        };
        let builder = rustls::ServerConfig::builder_with_protocol_versions(versions);
        let builder = match &tls.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&read(ca)?) {
                    let cert =
                        cert.map_err(|e| pem("cannot read the client CA in", ca)(Box::new(e)))?;
                    roots
                        .add(cert)
                        .map_err(|e| pem("unusable client CA in", ca)(Box::new(e)))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                    .build()
                    .map_err(|e| pem("unusable client CA in", ca)(Box::new(e)))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder.with_single_cert(certs, key).map_err(|e| {
            pem("the key does not match the certificate in", &tls.cert_file)(Box::new(e))
        })?;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> String {
        parse(text, Path::new("/etc/nodecap/web.yml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_exporter_toolkit_format() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let text = format!(
            "tls_server_config:\n  cert_file: tls/server.crt\n  key_file: /abs/server.key\n  min_version: TLS13\nbasic_auth_users:\n  prometheus: '{hash}'\n"
        );
        let Settings { tls, users } = parse(&text, Path::new("/etc/nodecap/web.yml")).unwrap();
        let tls = tls.unwrap();
        assert_eq!(tls.cert_file, Path::new("/etc/nodecap/tls/server.crt"));
        assert_eq!(tls.key_file, Path::new("/abs/server.key"));
        assert!(tls.tls13_only && tls.client_ca_file.is_none());
        assert_eq!(users.unwrap()["prometheus"], hash);
        for (bad, expected) in [
            (
                "tls_server_config:\n  cert_file: a\n",
                "missing field `key_file`",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [x]\n",
                "unknown field `cipher_suites`",
            ),
            (
                "http_server_config:\n  http2: false\n",
                "unknown field `http_server_config`",
            ),
            (
                "basic_auth_users:\n  alice: plain\n",
                "basic_auth_users.alice: expected a bcrypt hash",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n",
                "client_auth_type: expected NoClientCert or RequireAndVerifyClientCert",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
                "go together",
            ),
        ] {
            let err = problem(bad);
            assert!(err.contains(expected), "{bad:?}: {err}");
        }
        // The cost is the hash's second field: over MAX_BCRYPT_COST is refused, at it kept.
        let at_cost = |cost: u32| {
            let text = format!(
                "basic_auth_users:\n  prometheus: '{}'\n",
                hash.replacen("$04$", &format!("${cost:02}$"), 1)
            );
            parse(&text, Path::new("/etc/nodecap/web.yml")).map(|_| ())
        };
        assert!(at_cost(MAX_BCRYPT_COST).is_ok());
        for cost in [MAX_BCRYPT_COST + 1, 31] {
            let err = at_cost(cost).unwrap_err().to_string();
            assert!(
                err.contains(&format!(
                    "basic_auth_users.prometheus: bcrypt cost {cost} is over 12"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn files_past_their_bounds_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("web.yml");
        std::fs::write(&config, format!("# {}\n", "x".repeat(64 * 1024))).unwrap();
        let err = crate::error::Chain(&load(&config).unwrap_err()).to_string();
        assert!(
            err.ends_with("expected at most 65536 bytes; this is not a file nodecap reads"),
            "{err}"
        );
        #[cfg(feature = "tls")]
        {
            let big = dir.path().join("server.crt");
            std::fs::write(&big, vec![b'-'; 300 * 1024]).unwrap();
            std::fs::write(
                &config,
                "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
            )
            .unwrap();
            let err = crate::error::Chain(&load(&config).unwrap_err()).to_string();
            assert!(
                err.contains("server.crt: expected at most 262144 bytes"),
                "{err}"
            );
        }
    }

    #[test]
    fn basic_credentials_are_checked_against_the_hash() {
        use base64::Engine;
        let encode = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert_eq!(
            basic_credentials(encode("alice:pa:ss").as_bytes()),
            Some(("alice".to_owned(), b"pa:ss".to_vec()))
        );
        assert_eq!(basic_credentials(b"Bearer x"), None);
        assert_eq!(basic_credentials(encode("nocolon").as_bytes()), None);

        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let auth = Arc::new(Auth::new(BTreeMap::from([(
            "alice".to_owned(),
            bcrypt::hash("secret", 4).unwrap(),
        )])));
        runtime.block_on(async {
            assert!(auth.allows(Some(encode("alice:secret").as_bytes())).await);
            assert!(
                auth.allows(Some(encode("alice:secret").as_bytes())).await,
                "cached"
            );
            assert!(!auth.allows(Some(encode("alice:wrong").as_bytes())).await);
            assert!(!auth.allows(Some(encode("bob:secret").as_bytes())).await);
            assert!(!auth.allows(None).await);
        });
    }
}
