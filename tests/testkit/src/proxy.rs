//! A fault-injecting HTTP proxy for the AWS API emulator: forwards every request to the
//! upstream, or answers it with a fault the test chooses (throttling as CloudWatch sends it,
//! a 500, a dropped connection), and counts what passed through.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::Background;

/// What the proxy does with the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward to the upstream.
    None,
    /// HTTP 400 with a Smithy RPC v2 CBOR `Throttling` error, as CloudWatch throttles.
    Throttle,
    /// HTTP 500.
    ServerError,
    /// HTTP 503 with no body, as an unreachable backend behind a load balancer.
    Unavailable,
}

#[derive(Debug)]
struct State {
    fault: Fault,
    requests: u64,
    forwarded: u64,
    refused: u64,
}

#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _background: Background,
}

/// `{"__type": "Throttling", "message": "Rate exceeded"}` in CBOR.
fn throttling_body() -> Bytes {
    let mut body = vec![0xa2];
    for text in ["__type", "Throttling", "message", "Rate exceeded"] {
        body.push(0x60 | u8::try_from(text.len()).unwrap_or(0));
        body.extend_from_slice(text.as_bytes());
    }
    Bytes::from(body)
}

impl FaultProxy {
    /// Proxies to `upstream` (`http://host:port`) from any free loopback port.
    pub fn start(upstream: &str) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), upstream)
    }

    /// Proxies to `upstream` from `addr` (e.g. a port clients were already refused on).
    pub fn start_on(addr: SocketAddr, upstream: &str) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State {
            fault: Fault::None,
            requests: 0,
            forwarded: 0,
            refused: 0,
        }));
        let shared = Arc::clone(&state);
        let upstream = upstream.trim_end_matches('/').to_owned();
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let (background, addr) =
            Background::serve(addr, move |request: Request<hyper::body::Incoming>| {
                let state = Arc::clone(&shared);
                let client = client.clone();
                let upstream = upstream.clone();
                async move {
                    let fault = {
                        let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
                        s.requests += 1;
                        s.fault
                    };
                    // Answered by the proxy itself: a fault, or an upstream it could not reach.
                    let reply = |status: StatusCode, body: Bytes, cbor: bool| {
                        state.lock().unwrap_or_else(PoisonError::into_inner).refused += 1;
                        let mut r = Response::new(Full::new(body));
                        *r.status_mut() = status;
                        if cbor {
                            r.headers_mut().insert(
                                "content-type",
                                hyper::header::HeaderValue::from_static("application/cbor"),
                            );
                            r.headers_mut().insert(
                                "smithy-protocol",
                                hyper::header::HeaderValue::from_static("rpc-v2-cbor"),
                            );
                        }
                        Ok::<_, Infallible>(r)
                    };
                    match fault {
                        Fault::Throttle => {
                            return reply(StatusCode::BAD_REQUEST, throttling_body(), true);
                        }
                        Fault::ServerError => {
                            return reply(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new(), false);
                        }
                        Fault::Unavailable => {
                            return reply(StatusCode::SERVICE_UNAVAILABLE, Bytes::new(), false);
                        }
                        Fault::None => {}
                    }
                    let (parts, body) = request.into_parts();
                    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
                        return reply(StatusCode::BAD_GATEWAY, Bytes::new(), false);
                    };
                    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                    let mut forward = Request::new(Full::new(body));
                    *forward.method_mut() = parts.method;
                    *forward.headers_mut() = parts.headers;
                    let Ok(uri) = format!("{upstream}{path}").parse() else {
                        return reply(StatusCode::BAD_GATEWAY, Bytes::new(), false);
                    };
                    *forward.uri_mut() = uri;
                    match client.request(forward).await {
                        Ok(response) => {
                            let (parts, body) = response.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            state
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .forwarded += 1;
                            Ok(Response::from_parts(parts, Full::new(body)))
                        }
                        Err(_) => reply(StatusCode::BAD_GATEWAY, Bytes::new(), false),
                    }
                }
            })?;
        Ok(FaultProxy {
            addr,
            state,
            _background: background,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_fault(&self, fault: Fault) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fault = fault;
    }

    /// (requests received, requests forwarded upstream). A request still in flight is
    /// received but not yet forwarded.
    pub fn counts(&self) -> (u64, u64) {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (s.requests, s.forwarded)
    }

    /// Requests the proxy answered itself (a fault, or no upstream), not the emulator.
    pub fn refused(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .refused
    }
}
