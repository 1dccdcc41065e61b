//! A test Price List Query API endpoint: `GetProducts` (awsJson1_1, `X-Amz-Target:
//! AWSPriceListService.GetProducts`) answered with recorded pages, in order, each page after
//! the first asked for by the `NextToken` of the one before. Every request (its target and
//! JSON body) is kept for the test to read; the next answers can be made throttling errors.
//! Requests are not authenticated.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};

use crate::Background;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// The `X-Amz-Target` header.
    pub target: String,
    pub body: serde_json::Value,
}

#[derive(Debug, Default)]
struct State {
    pages: Vec<String>,
    requests: Vec<Request>,
    throttles: usize,
}

/// A running test Pricing endpoint.
#[derive(Debug)]
pub struct PricingServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _background: Background,
}

impl PricingServer {
    /// Serves `pages` (whole `GetProducts` answers, JSON).
    pub fn start(pages: Vec<String>) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State {
            pages,
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let (background, addr) = Background::serve(any, move |request| {
            let state = Arc::clone(&shared);
            async move {
                let target = request
                    .headers()
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let body = match request.into_body().collect().await {
                    Ok(body) => body.to_bytes(),
                    Err(_) => Bytes::new(),
                };
                let body: serde_json::Value =
                    serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                state.requests.push(Request {
                    target: target.clone(),
                    body: body.clone(),
                });
                let (status, answer) = if state.throttles > 0 {
                    state.throttles -= 1;
                    (
                        StatusCode::BAD_REQUEST,
                        error("ThrottlingException", "Rate exceeded"),
                    )
                } else if target != "AWSPriceListService.GetProducts" {
                    (
                        StatusCode::BAD_REQUEST,
                        error("UnknownOperationException", &target),
                    )
                } else {
                    page(&state.pages, body["NextToken"].as_str())
                };
                let mut response = Response::new(Full::new(Bytes::from(answer)));
                *response.status_mut() = status;
                response.headers_mut().insert(
                    "content-type",
                    hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
                );
                Ok::<_, Infallible>(response)
            }
        })?;
        Ok(PricingServer {
            addr,
            state,
            _background: background,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    /// The next `n` answers are `ThrottlingException`s.
    pub fn throttle_next(&self, n: usize) {
        self.lock().throttles += n;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The first page without a token; with one, the page after the page that gave it.
fn page(pages: &[String], token: Option<&str>) -> (StatusCode, String) {
    let index = match token {
        None => Some(0),
        Some(token) => pages
            .iter()
            .position(|p| {
                serde_json::from_str::<serde_json::Value>(p)
                    .is_ok_and(|v| v["NextToken"].as_str() == Some(token))
            })
            .map(|i| i + 1),
    };
    match index.and_then(|i| pages.get(i)) {
        Some(page) => (StatusCode::OK, page.clone()),
        None => (
            StatusCode::BAD_REQUEST,
            error("InvalidNextTokenException", "The next token is not valid."),
        ),
    }
}

fn error(kind: &str, message: &str) -> String {
    serde_json::json!({ "__type": kind, "message": message }).to_string()
}
