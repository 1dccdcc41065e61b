//! The one HTTP GET the ipamd collectors share: plain HTTP on loopback, a whole-request
//! timeout, a capped body, and "nobody listening" told apart from every other failure,
//! because a node without the VPC CNI is not a failing node.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::collector::Reading;

/// How long ipamd has to answer one request.
pub const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{url}: nothing listening")]
    Refused { url: Uri },
    #[error("{url}: no answer within {timeout:?}")]
    Timeout { url: Uri, timeout: Duration },
    #[error("{url}")]
    Request {
        url: Uri,
        source: hyper_util::client::legacy::Error,
    },
    #[error("{url}: HTTP {status}")]
    Status { url: Uri, status: u16 },
    #[error("{url}: an answer longer than {limit} bytes; not what this endpoint sends")]
    TooLarge { url: Uri, limit: usize },
    #[error("{url}: reading the body")]
    Body {
        url: Uri,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A fetch that failed, or an answer that did not parse.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Fetch(#[from] Error),
    #[error("{url}")]
    Parse { url: Uri, source: E },
}

/// An endpoint of a node service that may not be installed: until it has answered once,
/// "nothing listening" means the service is not (yet) on this node; after that, it means the
/// service died.
#[derive(Debug)]
pub struct OptionalEndpoint {
    client: Client<HttpConnector, Empty<Bytes>>,
    url: Uri,
    /// The longest answer read, in bytes; a longer one fails the read (and is not kept).
    max_body: usize,
    answered: bool,
}

impl OptionalEndpoint {
    pub fn new(url: Uri, max_body: usize) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(TIMEOUT));
        connector.set_nodelay(true);
        OptionalEndpoint {
            client: Client::builder(TokioExecutor::new()).build(connector),
            url,
            max_body,
            answered: false,
        }
    }

    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// `GET`, then `parse` the body of a 200 answer; not applicable while nothing has ever
    /// answered.
    pub async fn read<T, E: std::error::Error + 'static>(
        &mut self,
        parse: impl FnOnce(Bytes) -> Result<T, E>,
    ) -> Result<Reading<T>, ReadError<E>> {
        let body = match self.fetch().await {
            Ok(body) => {
                self.answered = true;
                body
            }
            Err(Error::Refused { url }) if !self.answered => {
                return Ok(Reading::NotApplicable(format!(
                    "nothing listening at {url}: the VPC CNI is not running on this node (yet)"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        parse(body)
            .map(Reading::Fresh)
            .map_err(|source| ReadError::Parse {
                url: self.url.clone(),
                source,
            })
    }

    async fn fetch(&self) -> Result<Bytes, Error> {
        let url = &self.url;
        let request = Request::get(url.clone())
            .body(Empty::new())
            .map_err(|e| Error::Body {
                url: url.clone(),
                source: Box::new(e),
            })?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|source| {
                if is_refused(&source) {
                    Error::Refused { url: url.clone() }
                } else {
                    Error::Request {
                        url: url.clone(),
                        source,
                    }
                }
            })?;
            let status = response.status();
            if status != StatusCode::OK {
                return Err(Error::Status {
                    url: url.clone(),
                    status: status.as_u16(),
                });
            }
            Limited::new(response.into_body(), self.max_body)
                .collect()
                .await
                .map(|body| body.to_bytes())
                .map_err(|source| {
                    if source.is::<http_body_util::LengthLimitError>() {
                        Error::TooLarge {
                            url: url.clone(),
                            limit: self.max_body,
                        }
                    } else {
                        Error::Body {
                            url: url.clone(),
                            source,
                        }
                    }
                })
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| Error::Timeout {
                url: url.clone(),
                timeout: TIMEOUT,
            })?
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
