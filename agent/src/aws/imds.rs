//! IMDSv2 client: what the node is (instance type, id, region, availability zone) and which
//! ENIs it has. Owns every request to the instance metadata service (the IMDSv2 flow:
//! <https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html>).
//!
//! Why not `aws-config`'s IMDS client: on a 401 it retries with the *same* cached token until
//! its own TTL runs out, so a token the service invalidated (an instance stop/start, a
//! restarted IMDS) fails every request for hours. This client drops the token on 401 and asks
//! for a new one, and counts its requests so the cost of a boot can be measured.
//!
//! Rules: a token PUT with a TTL, reused until shortly before it expires; a 404 is `Ok(None)`
//! (absent, the caller decides); connection errors, timeouts and 5xx are retried with
//! exponential backoff, all inside one overall deadline (fixed when the client is made, renewed
//! per collection tick by the daemon); any
//! other status is an error naming the URL. Values are parsed by pure functions below.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tokio::time::Instant;

use crate::core::excerpt::{Excerpt, MAX_CHARS, clip};
use crate::core::names::{InstanceType, Region, SubnetId};
use crate::core::node::Identity;

pub const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
const TOKEN_TTL: Duration = Duration::from_secs(21_600);
/// Ask for a new token this long before the old one expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest answer read, in bytes. IMDS answers are small: an identity document is about
/// 500 bytes, a MAC listing 18 bytes an ENI, an address list 16 bytes an address (50 on the
/// largest ENIs; 40 bytes each for IPv6). Anything longer is not IMDS, and is not kept.
pub const MAX_BODY: usize = 64 * 1024;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A 401 right after a fresh token means the service rejects us: stop after this many.
const MAX_TOKEN_REFRESHES: u32 = 3;
/// ENIs whose addresses are asked for at once: at most eight requests in flight, well within
/// what IMDS serves, and a tick's wake-ups a quarter of one ENI at a time.
const ENIS_AT_ONCE: usize = 4;
/// The most ENIs read: no instance type attaches more than 64.
pub const MAX_ENIS: usize = 128;
/// The directory of the node's ENIs, one sub-directory per MAC.
const MACS: &str = "meta-data/network/interfaces/macs/";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "IMDS {url}: no answer within the {deadline:?} deadline after {attempts} attempts ({last})"
    )]
    Deadline {
        url: String,
        deadline: Duration,
        attempts: u32,
        /// What the last attempt got: a status, a timeout or a connection error.
        last: AttemptFailure,
    },
    #[error("IMDS {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("IMDS {url}: {expected}, got {value}")]
    Invalid {
        url: String,
        expected: Expected,
        value: Excerpt,
    },
    #[error("IMDS {url}: an answer longer than {MAX_BODY} bytes; IMDS answers are a few KiB")]
    TooLarge { url: String },
}

/// What one attempt got instead of an answer.
#[derive(Debug)]
pub enum AttemptFailure {
    /// A 5xx answer.
    Status(u16),
    TimedOut,
    /// The exchange failed (told by its innermost cause: hyper's own messages are generic).
    Exchange(Box<dyn std::error::Error + Send + Sync>),
    /// The body went past [`MAX_BODY`]: not retried.
    TooLarge,
}

impl std::fmt::Display for AttemptFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptFailure::Status(status) => write!(f, "HTTP {status}"),
            AttemptFailure::TimedOut => f.write_str("timed out"),
            AttemptFailure::Exchange(e) => write!(f, "{}", crate::error::root_cause(e.as_ref())),
            AttemptFailure::TooLarge => write!(f, "an answer longer than {MAX_BODY} bytes"),
        }
    }
}

/// What an IMDS answer should have been.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Expected {
    #[error("expected UTF-8 text")]
    Text,
    #[error("expected a session token")]
    Token,
    #[error("expected {0}")]
    Present(&'static str),
    #[error("expected a non-negative integer")]
    Number,
    #[error("expected at most {MAX_ENIS} MAC addresses (aa:bb:cc:dd:ee:ff), one a line")]
    Macs,
    #[error("expected an ENI id (eni- and at most 32 characters)")]
    EniId,
    #[error("expected a subnet id (subnet- and at most 32 characters)")]
    SubnetId,
    #[error("{0}")]
    Identity(IdentityError),
}

/// An instance identity document nodecap cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "expected the identity document JSON with instanceType, instanceId, region and availabilityZone ({0})"
    )]
    NotJson(String),
    #[error("expected an instance type such as m5.large, got {0}")]
    InstanceType(Excerpt),
    #[error("expected a region, an availability zone and an instance id")]
    Location,
}

/// An IMDS base URL: `http://` and a host, nothing else (`http://169.254.169.254`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint(String);

/// An IMDS endpoint that is not `http://HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("IMDS endpoint {0}: expected an http:// URL such as {DEFAULT_ENDPOINT}")]
pub struct EndpointError(Excerpt);

impl std::str::FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(endpoint: &str) -> Result<Self, Self::Err> {
        let base = endpoint.trim_end_matches('/');
        let valid = base
            .strip_prefix("http://")
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
            && base.parse::<hyper::Uri>().is_ok();
        if valid {
            Ok(Endpoint(base.to_owned()))
        } else {
            Err(EndpointError(Excerpt::of(endpoint)))
        }
    }
}

impl Default for Endpoint {
    fn default() -> Self {
        Endpoint(DEFAULT_ENDPOINT.to_owned())
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One attached ENI as IMDS reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Eni {
    pub mac: String,
    pub interface_id: String,
    pub device_number: u32,
    pub network_card: u32,
    /// The subnet the ENI is in: joins the node to its subnets' figures.
    pub subnet_id: SubnetId,
    /// Private IPv4 addresses, the primary first.
    pub ipv4: Vec<String>,
    /// Delegated /28 prefixes.
    pub ipv4_prefixes: Vec<String>,
    pub ipv6: Vec<String>,
}

#[derive(Debug)]
struct Token {
    value: String,
    expires: Instant,
}

/// An IMDSv2 session: one endpoint, one cached token, one overall deadline.
#[derive(Debug)]
pub struct ImdsClient {
    base: String,
    http: Client<HttpConnector, Empty<Bytes>>,
    token: Mutex<Option<Token>>,
    deadline: Instant,
    budget: Duration,
    requests: AtomicU32,
    /// Per MAC: what is fixed while the ENI stays attached, so each tick asks only for the
    /// addresses (2 GETs per ENI instead of 6).
    attachments: Mutex<std::collections::HashMap<String, Attachment>>,
}

/// What IMDS says of an ENI that cannot change while it stays attached.
#[derive(Debug, Clone)]
struct Attachment {
    interface_id: String,
    device_number: u32,
    network_card: u32,
    subnet_id: SubnetId,
}

impl ImdsClient {
    /// A client for `endpoint` whose every call must finish within `deadline` from now.
    pub fn new(endpoint: &Endpoint, deadline: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(ATTEMPT_TIMEOUT));
        connector.set_nodelay(true);
        ImdsClient {
            base: endpoint.0.clone(),
            http: Client::builder(TokioExecutor::new()).build(connector),
            token: Mutex::new(None),
            deadline: Instant::now() + deadline,
            budget: deadline,
            requests: AtomicU32::new(0),
            attachments: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Starts a new overall deadline of `budget` from now, keeping the token: the daemon's
    /// client lives across collection ticks and gives each tick its own deadline.
    pub fn renew_deadline(&mut self, budget: Duration) {
        self.deadline = Instant::now() + budget;
        self.budget = budget;
    }

    /// HTTP requests sent so far, retries and token requests included.
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/latest/{path}", self.base)
    }

    /// `GET /latest/{path}`: `Ok(None)` when the path does not exist (404).
    pub async fn get(&self, path: &str) -> Result<Option<String>, Error> {
        let url = self.url(path);
        let mut refreshes = 0;
        loop {
            let token = self.token().await?;
            let (status, body) = self
                .send(Method::GET, &url, ("x-aws-ec2-metadata-token", &token))
                .await?;
            match status {
                StatusCode::OK => {
                    return String::from_utf8(Vec::from(body)).map(Some).map_err(|e| {
                        Error::Invalid {
                            url,
                            expected: Expected::Text,
                            value: Excerpt::of_bytes(e.as_bytes()),
                        }
                    });
                }
                StatusCode::NOT_FOUND => return Ok(None),
                // The service no longer accepts our token: forget it and ask for a new one.
                StatusCode::UNAUTHORIZED if refreshes < MAX_TOKEN_REFRESHES => {
                    refreshes += 1;
                    tracing::debug!(%url, "IMDS token rejected; requesting a new one");
                    *self.lock_token() = None;
                }
                status => {
                    return Err(Error::Status {
                        url,
                        status: status.as_u16(),
                    });
                }
            }
        }
    }

    /// Like [`get`](Self::get), but a missing path is an error naming what was expected.
    pub async fn require(&self, path: &str, what: &'static str) -> Result<String, Error> {
        self.get(path).await?.ok_or_else(|| Error::Invalid {
            url: self.url(path),
            expected: Expected::Present(what),
            value: Excerpt::of("404 Not Found"),
        })
    }

    fn lock_token(&self) -> std::sync::MutexGuard<'_, Option<Token>> {
        self.token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn token(&self) -> Result<String, Error> {
        if let Some(token) = self.lock_token().as_ref()
            && Instant::now() + TOKEN_MARGIN < token.expires
        {
            return Ok(token.value.clone());
        }
        let url = self.url("api/token");
        let ttl = TOKEN_TTL.as_secs().to_string();
        let (status, body) = self
            .send(
                Method::PUT,
                &url,
                ("x-aws-ec2-metadata-token-ttl-seconds", &ttl),
            )
            .await?;
        if status != StatusCode::OK {
            return Err(Error::Status {
                url,
                status: status.as_u16(),
            });
        }
        // A token goes into a header: printable ASCII. Spaces around it (a trailing newline
        // from a proxy) are not part of it; anything else makes it unusable, and retrying
        // would only repeat the same answer until the deadline.
        let text = String::from_utf8_lossy(&body);
        let value = text.trim().to_owned();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::Invalid {
                url,
                expected: Expected::Token,
                value: Excerpt::of(&text),
            });
        }
        *self.lock_token() = Some(Token {
            value: value.clone(),
            expires: Instant::now() + TOKEN_TTL,
        });
        Ok(value)
    }

    /// One request, retried on connection errors, timeouts and 5xx until the deadline.
    async fn send(
        &self,
        method: Method,
        url: &str,
        header: (&str, &str),
    ) -> Result<(StatusCode, Bytes), Error> {
        let mut attempts = 0;
        let mut backoff = FIRST_BACKOFF;
        loop {
            attempts += 1;
            let last = match self.attempt(&method, url, header).await {
                Ok((status, body)) if !status.is_server_error() => return Ok((status, body)),
                Ok((status, _)) => AttemptFailure::Status(status.as_u16()),
                Err(AttemptFailure::TooLarge) => {
                    return Err(Error::TooLarge {
                        url: url.to_owned(),
                    });
                }
                Err(failure) => failure,
            };
            let now = Instant::now();
            if now + backoff >= self.deadline {
                return Err(Error::Deadline {
                    url: url.to_owned(),
                    deadline: self.budget,
                    attempts,
                    last,
                });
            }
            tracing::debug!(%url, attempts, %last, ?backoff, "IMDS request failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        (name, value): (&str, &str),
    ) -> Result<(StatusCode, Bytes), AttemptFailure> {
        let request = Request::builder()
            .method(method)
            .uri(url)
            .header(name, value)
            .body(Empty::new())
            .map_err(|e| AttemptFailure::Exchange(Box::new(e)))?;
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        self.requests.fetch_add(1, Ordering::Relaxed);
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| AttemptFailure::Exchange(Box::new(e)))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        AttemptFailure::TooLarge
                    } else {
                        AttemptFailure::Exchange(e)
                    }
                })?
                .to_bytes();
            Ok((status, body))
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT.min(remaining), exchange).await {
            Ok(result) => result,
            Err(_) => Err(AttemptFailure::TimedOut),
        }
    }

    /// The instance identity document: type, id, region and zone in one request.
    pub async fn identity(&self) -> Result<Identity, Error> {
        let path = "dynamic/instance-identity/document";
        let text = self.require(path, "the instance identity document").await?;
        parse_identity(&text).map_err(|e| Error::Invalid {
            url: self.url(path),
            expected: Expected::Identity(e),
            value: Excerpt::of(&text),
        })
    }

    /// Every attached ENI, by network card and device number. An ENI's id, device number
    /// and card are remembered per MAC while it stays in the list; its addresses are asked
    /// for every time (two requests an ENI, three or four when it holds prefixes or IPv6),
    /// [`ENIS_AT_ONCE`] ENIs at a time.
    pub async fn enis(&self) -> Result<Vec<Eni>, Error> {
        let listing = self.require(MACS, "the list of MAC addresses").await?;
        let macs: Vec<String> = parse_list(&listing)
            .into_iter()
            .map(|mac| mac.trim_end_matches('/').to_owned())
            .collect();
        // MACs and ENI ids become label values: only what they can be is taken.
        if macs.len() > MAX_ENIS || !macs.iter().all(|mac| is_mac(mac)) {
            return Err(Error::Invalid {
                url: self.url(MACS),
                expected: Expected::Macs,
                value: Excerpt::of(&listing),
            });
        }
        self.lock_attachments().retain(|mac, _| macs.contains(mac));
        let mut enis: Vec<Eni> = stream::iter(macs)
            .map(|mac| self.eni(mac))
            .buffered(ENIS_AT_ONCE)
            .try_collect()
            .await?;
        enis.sort_by_key(|eni| (eni.network_card, eni.device_number));
        Ok(enis)
    }

    /// One ENI: what is fixed while it stays attached (asked for once), then its addresses.
    async fn eni(&self, mac: String) -> Result<Eni, Error> {
        let leaf = |name: &str| format!("{MACS}{mac}/{name}");
        let known = self.lock_attachments().get(&mac).cloned();
        let attachment = match known {
            Some(fixed) => fixed,
            None => {
                let number = |path: String, value: Option<String>| -> Result<u32, Error> {
                    let value = value.unwrap_or_else(|| "0".to_owned());
                    value.trim().parse().map_err(|_| Error::Invalid {
                        url: self.url(&path),
                        expected: Expected::Number,
                        value: Excerpt::of(&value),
                    })
                };
                let device = self
                    .require(&leaf("device-number"), "a device number")
                    .await?;
                let device_number = number(leaf("device-number"), Some(device))?;
                // Absent on single-card instances: card 0.
                let network_card =
                    number(leaf("network-card"), self.get(&leaf("network-card")).await?)?;
                // An ENI id becomes a label value: `eni-` and at most 32 characters.
                let interface_id = self
                    .id(&leaf("interface-id"), "an ENI id", Expected::EniId, |id| {
                        (id.starts_with("eni-") && id.len() <= 32).then(|| id.to_owned())
                    })
                    .await?;
                let subnet_id = self
                    .id(
                        &leaf("subnet-id"),
                        "a subnet id",
                        Expected::SubnetId,
                        |id| SubnetId::try_from(id).ok(),
                    )
                    .await?;
                let fixed = Attachment {
                    interface_id,
                    device_number,
                    network_card,
                    subnet_id,
                };
                self.lock_attachments().insert(mac.clone(), fixed.clone());
                fixed
            }
        };
        let list = |value: Option<String>| value.as_deref().map(parse_list).unwrap_or_default();
        // The ENI's directory says which address lists it has: IMDS lists `ipv4-prefix` and
        // `ipv6s` only when the ENI holds some, so an absent list costs no request. The
        // directory and the IPv4 list at once, then the lists it names.
        let (directory, ipv4s) = (leaf(""), leaf("local-ipv4s"));
        let (keys, ipv4) = tokio::try_join!(self.get(&directory), self.get(&ipv4s))?;
        let listed = |name: &str| {
            keys.as_deref().is_none_or(|keys| {
                parse_list(keys)
                    .iter()
                    .any(|k| k.trim_end_matches('/') == name)
            })
        };
        let optional = |name: &'static str| {
            let path = leaf(name);
            let wanted = listed(name);
            async move {
                if wanted {
                    self.get(&path).await
                } else {
                    Ok(None)
                }
            }
        };
        let (ipv4_prefixes, ipv6) = tokio::try_join!(optional("ipv4-prefix"), optional("ipv6s"))?;
        Ok(Eni {
            interface_id: attachment.interface_id,
            device_number: attachment.device_number,
            network_card: attachment.network_card,
            subnet_id: attachment.subnet_id,
            ipv4: list(ipv4),
            ipv4_prefixes: list(ipv4_prefixes),
            ipv6: list(ipv6),
            mac,
        })
    }

    /// An AWS resource id at `path`, trimmed, as `parse` takes it (`None`: not `expected`).
    async fn id<T>(
        &self,
        path: &str,
        what: &'static str,
        expected: Expected,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, Error> {
        let text = self.require(path, what).await?;
        let id = text.trim();
        parse(id).ok_or_else(|| Error::Invalid {
            url: self.url(path),
            expected,
            value: Excerpt::of(id),
        })
    }

    fn lock_attachments(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Attachment>> {
        self.attachments
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Newline-separated IMDS lists; blank lines and surrounding spaces ignored.
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `aa:bb:cc:dd:ee:ff`, lowercase hex as IMDS writes it.
pub fn is_mac(text: &str) -> bool {
    text.len() == 17
        && text.bytes().enumerate().all(|(i, b)| {
            if i % 3 == 2 {
                b == b':'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

/// Parses and checks the instance identity document.
pub fn parse_identity(text: &str) -> Result<Identity, IdentityError> {
    /// The document's fields as they come, before each is checked.
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Document {
        instance_type: String,
        instance_id: String,
        region: String,
        availability_zone: String,
    }
    let document: Document = serde_json::from_str(text)
        .map_err(|e| IdentityError::NotJson(clip(&e.to_string(), 2 * MAX_CHARS)))?;
    let instance_type = InstanceType::try_from(document.instance_type.as_str())
        .map_err(|_| IdentityError::InstanceType(Excerpt::of(&document.instance_type)))?;
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let region = Region::try_from(document.region).map_err(|_| IdentityError::Location)?;
    if !word(&document.availability_zone) || !word(&document.instance_id) {
        return Err(IdentityError::Location);
    }
    Ok(Identity {
        instance_type,
        instance_id: document.instance_id,
        region,
        availability_zone: document.availability_zone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_identity() {
        assert_eq!(
            parse_list("10.0.0.1\n10.0.0.2\n\n"),
            ["10.0.0.1", "10.0.0.2"]
        );
        assert!(parse_list("").is_empty());
        let doc = r#"{"instanceType":"m5.large","instanceId":"i-0abc","region":"us-east-1",
                      "availabilityZone":"us-east-1a","accountId":"1"}"#;
        let identity = parse_identity(doc).unwrap();
        assert_eq!(identity.instance_type, "m5.large");
        assert_eq!(identity.region, "us-east-1");
        assert!(
            parse_identity("<html>")
                .unwrap_err()
                .to_string()
                .starts_with("expected the identity document")
        );
        let bad = doc.replace("m5.large", "M5 LARGE");
        assert!(
            parse_identity(&bad)
                .unwrap_err()
                .to_string()
                .contains("\"M5 LARGE\"")
        );
        let empty_region = doc.replace("\"us-east-1\"", "\"\"");
        assert!(parse_identity(&empty_region).is_err());
    }

    #[test]
    fn macs() {
        assert!(is_mac("0e:1a:2b:3c:4d:5f"));
        for bad in [
            "",
            "0e:1a:2b:3c:4d",
            "0e-1a-2b-3c-4d-5f",
            "0e:1a:2b:3c:4d:5g",
            "0e:1a:2b:3c:4d:5f:",
        ] {
            assert!(!is_mac(bad), "{bad}");
        }
    }

    #[test]
    fn endpoint_must_be_http() {
        let endpoint: Endpoint = "http://127.0.0.1:1234/".parse().unwrap();
        assert_eq!(endpoint.to_string(), "http://127.0.0.1:1234");
        for bad in ["", "169.254.169.254", "https://x", "http://", "http://a/b"] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
    }
}
