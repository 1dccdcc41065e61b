//! A test ipamd: the VPC CNI's `/metrics` (Prometheus text) and `/v1/enis` (JSON) on one
//! loopback port, with the content a test gives it (usually the files under
//! `tests/fixtures/ipamd/`). Like ipamd, the introspection answers `text/plain` JSON and
//! ignores the method. Dropping the server stops it: "ipamd died".

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::Background;

#[derive(Debug, Default)]
struct Content {
    metrics: String,
    enis: String,
    requests: u64,
}

/// A running test ipamd.
#[derive(Debug)]
pub struct IpamdServer {
    addr: SocketAddr,
    content: Arc<Mutex<Content>>,
    _background: Background,
}

impl IpamdServer {
    /// Serves `metrics` at `/metrics` and `enis` at `/v1/enis` on `addr` (port 0: any).
    pub fn start_on(addr: SocketAddr, metrics: &str, enis: &str) -> std::io::Result<Self> {
        let content = Arc::new(Mutex::new(Content {
            metrics: metrics.to_owned(),
            enis: enis.to_owned(),
            requests: 0,
        }));
        let shared = Arc::clone(&content);
        let (background, addr) = Background::serve(addr, move |request| {
            let content = Arc::clone(&shared);
            async move {
                let mut c = content.lock().unwrap_or_else(PoisonError::into_inner);
                c.requests += 1;
                let (status, body) = match request.uri().path() {
                    "/metrics" => (StatusCode::OK, c.metrics.clone()),
                    "/v1/enis" => (StatusCode::OK, c.enis.clone()),
                    _ => (
                        StatusCode::OK,
                        r#"{"AvailableCommands":["/v1/enis","/v1/eni-configs","/v1/networkutils-env-settings","/v1/ipamd-env-settings"]}"#.to_owned(),
                    ),
                };
                let mut response = Response::new(Full::new(Bytes::from(body)));
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            }
        })?;
        Ok(IpamdServer {
            addr,
            content,
            _background: background,
        })
    }

    pub fn start(metrics: &str, enis: &str) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), metrics, enis)
    }

    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    pub fn enis_url(&self) -> String {
        format!("http://{}/v1/enis", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces what `/metrics` and `/v1/enis` answer.
    pub fn set(&self, metrics: &str, enis: &str) {
        let mut c = self.content.lock().unwrap_or_else(PoisonError::into_inner);
        c.metrics = metrics.to_owned();
        c.enis = enis.to_owned();
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.content
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .requests
    }
}
