//! The one HTTP GET the ipamd collectors share: plain HTTP on loopback, a whole-request
//! timeout, a capped body, and "nobody listening" told apart from every other failure, because
//! a node without the VPC CNI is not a failing node.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// ipamd's answers are a few hundred KiB at most (a large node's `/v1/enis`); anything far
/// bigger is not ipamd.
const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{url}: nothing listening")]
    Refused { url: String },
    #[error("{url}: {reason}")]
    Failed { url: String, reason: String },
}

/// A keep-alive HTTP/1 client for loopback endpoints.
#[derive(Debug, Clone)]
pub struct Getter {
    client: Client<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
}

impl Getter {
    pub fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        Getter {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        }
    }

    /// `GET url` → the body of a 200 answer.
    pub async fn get(&self, url: &str) -> Result<Bytes, Error> {
        let failed = |reason: String| Error::Failed {
            url: url.to_owned(),
            reason,
        };
        let request = Request::get(url)
            .body(Empty::new())
            .map_err(|e| failed(format!("invalid URL: {e}")))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                if is_refused(&e) {
                    Error::Refused {
                        url: url.to_owned(),
                    }
                } else {
                    failed(e.to_string())
                }
            })?;
            let status = response.status();
            if status != StatusCode::OK {
                return Err(failed(format!("HTTP {}", status.as_u16())));
            }
            Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map(|body| body.to_bytes())
                .map_err(|e| failed(format!("reading the body: {e}")))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| failed(format!("no answer within {:?}", self.timeout)))?
    }
}

fn is_refused(error: &hyper_util::client::legacy::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        source = e.source();
    }
    false
}
