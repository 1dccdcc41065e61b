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
    /// Each page's `NextToken`, read once.
    tokens: Vec<Option<String>>,
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
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), pages)
    }

    pub fn start_on(addr: SocketAddr, pages: Vec<String>) -> std::io::Result<Self> {
        let tokens = pages
            .iter()
            .map(|p| {
                let page: serde_json::Value = serde_json::from_str(p).unwrap_or_default();
                page["NextToken"].as_str().map(str::to_owned)
            })
            .collect();
        let state = Arc::new(Mutex::new(State {
            pages,
            tokens,
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let (background, addr) = Background::serve(addr, move |request| {
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
                    page(&state, body["NextToken"].as_str())
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
fn page(state: &State, token: Option<&str>) -> (StatusCode, String) {
    let index = match token {
        None => Some(0),
        Some(token) => state
            .tokens
            .iter()
            .position(|t| t.as_deref() == Some(token))
            .map(|i| i + 1),
    };
    match index.and_then(|i| state.pages.get(i)) {
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

/// `GetProducts` answers for `types` (one on-demand Linux product each, priced 0.05 USD an
/// hour per position in the list plus one, with an on-demand and three reserved terms as AWS's
/// entries have), `per_page` entries a page, joined by `NextToken`s: a region's worth of
/// pages for benchmarks.
pub fn synthetic_pages(types: &[String], per_page: usize) -> Vec<String> {
    let entries: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let sku = format!("SKU{i:013}");
            let usd = format!("{:.10}", 0.05 * (i + 1) as f64);
            let term = |code: &str, unit: &str, price: &str| {
                serde_json::json!({
                    "offerTermCode": code, "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z",
                    "priceDimensions": { format!("{sku}.{code}.6YS6EN2CT7"): {
                        "rateCode": format!("{sku}.{code}.6YS6EN2CT7"), "unit": unit,
                        "description": format!("{price} per {unit} for {name}"),
                        "beginRange": "0", "endRange": "Inf", "appliesTo": [],
                        "pricePerUnit": { "USD": price } } },
                    "termAttributes": {}
                })
            };
            let reserved: serde_json::Map<String, serde_json::Value> =
                ["4NA7Y494T4", "6QCMYABX3D", "HU7G6KETJZ"]
                    .iter()
                    .map(|code| (format!("{sku}.{code}"), term(code, "Quantity", "500")))
                    .collect();
            serde_json::json!({
                "product": { "productFamily": "Compute Instance", "sku": sku, "attributes": {
                    "servicecode": "AmazonEC2", "location": "US East (N. Virginia)",
                    "locationType": "AWS Region", "instanceType": name, "tenancy": "Shared",
                    "operatingSystem": "Linux", "licenseModel": "No License required",
                    "usagetype": format!("BoxUsage:{name}"), "operation": "RunInstances",
                    "capacitystatus": "Used", "preInstalledSw": "NA", "regionCode": "us-east-1",
                    "servicename": "Amazon Elastic Compute Cloud", "marketoption": "OnDemand" } },
                "serviceCode": "AmazonEC2",
                "terms": {
                    "OnDemand": { format!("{sku}.JRTCKXETXF"): term("JRTCKXETXF", "Hrs", &usd) },
                    "Reserved": reserved
                },
                "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z"
            })
            .to_string()
        })
        .collect();
    let chunks: Vec<&[String]> = entries.chunks(per_page.max(1)).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(n, chunk)| {
            let mut page = serde_json::json!({ "FormatVersion": "aws_v1", "PriceList": chunk });
            if n + 1 < chunks.len() {
                page["NextToken"] = serde_json::Value::from(format!("page-{}", n + 2));
            }
            page.to_string()
        })
        .collect()
}
