//! A test instance metadata service: a real HTTP server with IMDSv2 semantics.
//!
//! - `PUT /latest/api/token` needs `X-aws-ec2-metadata-token-ttl-seconds` in 1..=21600 (else
//!   400) and echoes it back with a new token.
//! - Every `GET /latest/...` needs a valid `X-aws-ec2-metadata-token` (else 401).
//! - Directories list their entries one per line, sub-directories ending in `/`; missing
//!   paths are 404; lists (`local-ipv4s`, `ipv4-prefix`, ...) are newline-separated.
//! - Faults can be injected while it runs: expire every token, fail the next N requests with a
//!   status, delay answers, replace or remove any value. Every request is recorded.
//!
//! It runs on its own thread and runtime, so blocking tests (that spawn `nodecap`) and async
//! tests can both use it. Dropping the handle stops it.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;

use crate::Background;

/// One ENI as IMDS describes it under `network/interfaces/macs/<mac>/`.
#[derive(Debug, Clone, Serialize)]
pub struct Eni {
    pub mac: String,
    pub interface_id: String,
    pub device_number: u32,
    pub network_card: u32,
    pub local_ipv4s: Vec<String>,
    pub ipv4_prefixes: Vec<String>,
    pub ipv6s: Vec<String>,
    pub subnet_id: String,
    pub subnet_ipv4_cidr_block: String,
}

/// The instance the server describes.
#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub instance_type: String,
    pub instance_id: String,
    pub region: String,
    pub availability_zone: String,
    pub enis: Vec<Eni>,
}

impl Instance {
    /// A deterministic instance of `instance_type` with `enis` ENIs of `ips_per_eni` IPv4
    /// addresses each (the primary included), in us-east-1a.
    pub fn example(instance_type: &str, enis: u32, ips_per_eni: u32) -> Self {
        let enis = (0..enis)
            .map(|i| Eni {
                mac: format!("0e:00:00:00:00:{:02x}", i + 1),
                interface_id: format!("eni-{:017x}", i + 1),
                device_number: i,
                network_card: 0,
                local_ipv4s: (0..ips_per_eni)
                    .map(|j| format!("10.0.{}.{}", i + 1, j + 10))
                    .collect(),
                ipv4_prefixes: Vec::new(),
                ipv6s: Vec::new(),
                subnet_id: "subnet-0123456789abcdef0".to_owned(),
                subnet_ipv4_cidr_block: "10.0.0.0/16".to_owned(),
            })
            .collect();
        Instance {
            instance_type: instance_type.to_owned(),
            instance_id: "i-0123456789abcdef0".to_owned(),
            region: "us-east-1".to_owned(),
            availability_zone: "us-east-1a".to_owned(),
            enis,
        }
    }

    /// The metadata tree: paths under `/latest/` to values.
    pub fn tree(&self) -> BTreeMap<String, String> {
        let mut tree = BTreeMap::new();
        let md = |p: &str| format!("meta-data/{p}");
        tree.insert(md("instance-type"), self.instance_type.clone());
        tree.insert(md("instance-id"), self.instance_id.clone());
        tree.insert(md("placement/region"), self.region.clone());
        tree.insert(
            md("placement/availability-zone"),
            self.availability_zone.clone(),
        );
        tree.insert(md("ami-id"), "ami-0123456789abcdef0".to_owned());
        if let Some(primary) = self.enis.first() {
            tree.insert(md("mac"), primary.mac.clone());
            if let Some(ip) = primary.local_ipv4s.first() {
                tree.insert(md("local-ipv4"), ip.clone());
            }
        }
        for eni in &self.enis {
            let p = |leaf: &str| md(&format!("network/interfaces/macs/{}/{leaf}", eni.mac));
            tree.insert(p("mac"), eni.mac.clone());
            tree.insert(p("device-number"), eni.device_number.to_string());
            tree.insert(p("network-card"), eni.network_card.to_string());
            tree.insert(p("interface-id"), eni.interface_id.clone());
            tree.insert(p("subnet-id"), eni.subnet_id.clone());
            tree.insert(
                p("subnet-ipv4-cidr-block"),
                eni.subnet_ipv4_cidr_block.clone(),
            );
            if !eni.local_ipv4s.is_empty() {
                tree.insert(p("local-ipv4s"), eni.local_ipv4s.join("\n"));
            }
            if !eni.ipv4_prefixes.is_empty() {
                tree.insert(p("ipv4-prefix"), eni.ipv4_prefixes.join("\n"));
            }
            if !eni.ipv6s.is_empty() {
                tree.insert(p("ipv6s"), eni.ipv6s.join("\n"));
            }
        }
        let document = serde_json::json!({
            "accountId": "123456789012",
            "architecture": "x86_64",
            "availabilityZone": self.availability_zone,
            "imageId": "ami-0123456789abcdef0",
            "instanceId": self.instance_id,
            "instanceType": self.instance_type,
            "pendingTime": "2026-11-27T00:00:00Z",
            "privateIp": self.enis.first().and_then(|e| e.local_ipv4s.first()),
            "region": self.region,
            "version": "2017-09-30",
        });
        tree.insert(
            "dynamic/instance-identity/document".to_owned(),
            serde_json::to_string_pretty(&document).unwrap_or_default(),
        );
        tree
    }
}

#[derive(Debug, Default)]
struct State {
    tree: BTreeMap<String, String>,
    tokens: BTreeSet<String>,
    issued: u64,
    fail_next: Vec<u16>,
    delay: Duration,
    /// Answers for these paths (`meta-data/…`, no leading `/latest/`) wait this long.
    path_delays: BTreeMap<String, Duration>,
    requests: Vec<String>,
    /// Appended to every token's body (a proxy that adds a newline), not to the token.
    token_suffix: String,
}

/// A running test IMDS. Dropping it stops the server.
#[derive(Debug)]
pub struct ImdsServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _background: Background,
}

impl ImdsServer {
    /// Starts serving `instance` on an ephemeral loopback port.
    pub fn start(instance: &Instance) -> std::io::Result<Self> {
        Self::start_on(
            "127.0.0.1:0".parse().map_err(std::io::Error::other)?,
            instance,
        )
    }

    pub fn start_on(addr: SocketAddr, instance: &Instance) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State {
            tree: instance.tree(),
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let (background, addr) = Background::serve(addr, move |req| {
            let state = Arc::clone(&shared);
            async move { Ok::<_, Infallible>(handle(&state, req).await) }
        })?;
        Ok(ImdsServer {
            addr,
            state,
            _background: background,
        })
    }

    /// `http://127.0.0.1:PORT`, the value for `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Invalidates every token issued so far: the next GET with one gets 401.
    pub fn expire_tokens(&self) {
        self.state().tokens.clear();
    }

    /// The next `n` requests (token or metadata) answer `status` with an empty body.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.state()
            .fail_next
            .extend(std::iter::repeat_n(status, n));
    }

    /// Every answer waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        self.state().delay = delay;
    }

    /// Answers for `path` (e.g. `meta-data/network/interfaces/macs/`) wait this long first,
    /// on top of [`set_delay`](Self::set_delay)'s.
    pub fn set_delay_for(&self, path: &str, delay: Duration) {
        self.state().path_delays.insert(path.to_owned(), delay);
    }

    /// Sets (`Some`) or removes (`None`) a value, e.g. `meta-data/instance-type`.
    pub fn set(&self, path: &str, value: Option<&str>) {
        let mut state = self.state();
        match value {
            Some(v) => state.tree.insert(path.to_owned(), v.to_owned()),
            None => state.tree.remove(path),
        };
    }

    /// Every token issued from now on comes with `suffix` after it in the body (the token
    /// itself is what precedes it).
    pub fn set_token_suffix(&self, suffix: &str) {
        self.state().token_suffix = suffix.to_owned();
    }

    /// Requests seen so far, as `METHOD /path`.
    pub fn requests(&self) -> Vec<String> {
        self.state().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking test thread must not hide the server's state from the others.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";

async fn handle(state: &Mutex<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (delay, fault) = {
        let mut s = lock(state);
        s.requests
            .push(format!("{} {}", req.method(), req.uri().path()));
        let fault = if s.fail_next.is_empty() {
            None
        } else {
            Some(s.fail_next.remove(0))
        };
        let key = req
            .uri()
            .path()
            .strip_prefix("/latest/")
            .unwrap_or_default();
        let delay = s.delay + s.path_delays.get(key).copied().unwrap_or_default();
        (delay, fault)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = fault {
        return reply(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "",
        );
    }
    let path = req.uri().path().to_owned();
    if path == "/latest/api/token" {
        if req.method() != Method::PUT {
            return reply(StatusCode::METHOD_NOT_ALLOWED, "");
        }
        let ttl = req
            .headers()
            .get(TTL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u32>().ok());
        let Some(ttl) = ttl.filter(|t| (1..=21600).contains(t)) else {
            return reply(StatusCode::BAD_REQUEST, "");
        };
        let mut s = lock(state);
        s.issued += 1;
        let token = format!("token-{}-{ttl}", s.issued);
        s.tokens.insert(token.clone());
        let mut response = reply(StatusCode::OK, &format!("{token}{}", s.token_suffix));
        if let Ok(value) = ttl.to_string().parse() {
            response.headers_mut().insert(TTL_HEADER, value);
        }
        return response;
    }
    if req.method() != Method::GET {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "");
    }
    let s = lock(state);
    let token_ok = req
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| s.tokens.contains(t));
    if !token_ok {
        return reply(StatusCode::UNAUTHORIZED, "");
    }
    let Some(key) = path.strip_prefix("/latest/") else {
        return reply(StatusCode::NOT_FOUND, "");
    };
    if let Some(value) = s.tree.get(key) {
        return reply(StatusCode::OK, value);
    }
    // A directory: list the next path segment of every key below it.
    let dir = if key.is_empty() || key.ends_with('/') {
        key.to_owned()
    } else {
        format!("{key}/")
    };
    let mut entries = BTreeSet::new();
    for k in s.tree.keys() {
        if let Some(rest) = k.strip_prefix(&dir) {
            match rest.split_once('/') {
                Some((child, _)) => entries.insert(format!("{child}/")),
                None => entries.insert(rest.to_owned()),
            };
        }
    }
    if entries.is_empty() {
        return reply(StatusCode::NOT_FOUND, "");
    }
    reply(
        StatusCode::OK,
        &entries.into_iter().collect::<Vec<_>>().join("\n"),
    )
}

fn reply(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response
}

/// Serves one connection; used by [`Background::serve`].
pub(crate) async fn serve_connection<F, Fut>(stream: tokio::net::TcpStream, service: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send,
{
    let io = TokioIo::new(stream);
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, hyper::service::service_fn(service))
        .await;
}
