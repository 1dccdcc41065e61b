//! The HTTP endpoint: `GET /metrics` (the pre-rendered snapshot, text format 0.0.4),
//! `/healthz` (the collection loop is alive), `/readyz` (a first snapshot exists). A scrape
//! clones a reference-counted buffer: no I/O, no rendering, no lock held across a write.
//!
//! Hardening, because a DaemonSet binds the node IP: HTTP/1 only; `GET` and `HEAD` only
//! (405 otherwise); no request bodies (413); headers must arrive within
//! [`HEADER_READ_TIMEOUT`] and fit in [`MAX_HEADER_BYTES`] (431); at most
//! [`MAX_CONNECTIONS`] connections at once (more wait in the kernel's accept queue).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

pub const MAX_CONNECTIONS: u32 = 2048;
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the endpoint serves; replaced whole after each tick.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// The rendered snapshot; `None` until the first tick completes.
    pub metrics: Option<Bytes>,
    /// When the last tick completed.
    pub at: Option<Instant>,
}

/// The endpoint's answer to one request. Pure apart from reading the clock for `/healthz`.
pub fn respond<B: Body>(
    request: &Request<B>,
    published: &Published,
    stale_after: Duration,
) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: &'static str| {
        let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *r.status_mut() = status;
        r.headers_mut().insert(
            CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    };
    let has_body = request.body().size_hint().upper() != Some(0)
        || request
            .headers()
            .contains_key(hyper::header::TRANSFER_ENCODING);
    if has_body {
        return reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request bodies are not accepted\n",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut r = reply(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match request.uri().path() {
        "/metrics" => match &published.metrics {
            Some(body) => {
                let mut r = Response::new(Full::new(body.clone()));
                r.headers_mut().insert(
                    CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static(METRICS_CONTENT_TYPE),
                );
                r
            }
            None => reply(StatusCode::SERVICE_UNAVAILABLE, "no snapshot yet\n"),
        },
        "/readyz" if published.metrics.is_some() => reply(StatusCode::OK, "ready\n"),
        "/readyz" => reply(StatusCode::SERVICE_UNAVAILABLE, "no snapshot yet\n"),
        "/healthz" => match published.at {
            Some(at) if at.elapsed() > stale_after => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "the collection loop is stuck: no new snapshot for 3 intervals\n",
            ),
            _ => reply(StatusCode::OK, "ok\n"),
        },
        _ => reply(
            StatusCode::NOT_FOUND,
            "not found: /metrics, /healthz, /readyz\n",
        ),
    }
}

/// Serves `listener` until `stop` turns true, then lets open requests finish (idle
/// keep-alive connections are closed) and returns once every connection has ended.
pub async fn serve(
    listener: TcpListener,
    published: watch::Receiver<Arc<Published>>,
    mut stop: watch::Receiver<bool>,
    stale_after: Duration,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS as usize));
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = stopped(&mut stop) => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let published = published.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let current = published.borrow().clone();
                async move { Ok::<_, Infallible>(respond(&request, &current, stale_after)) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .max_headers(64);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stopped(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    // Every connection task holds a permit: all of them back means all connections ended.
    let _ = slots.acquire_many(MAX_CONNECTIONS).await;
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The borrow `wait_for` returns is not `Send`: drop it here, not in the caller.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str) -> Request<http_body_util::Empty<Bytes>> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(http_body_util::Empty::new())
            .unwrap()
    }

    #[test]
    fn routes() {
        let ready = Published {
            metrics: Some(Bytes::from_static(b"nodecap_build_info{version=\"0\"} 1\n")),
            at: Some(Instant::now()),
        };
        let starting = Published::default();
        let minute = Duration::from_secs(60);
        let status =
            |m: &str, p: &str, state: &Published| respond(&request(m, p), state, minute).status();
        assert_eq!(status("GET", "/metrics", &ready), StatusCode::OK);
        assert_eq!(status("GET", "/metrics?x=1", &ready), StatusCode::OK);
        assert_eq!(status("HEAD", "/metrics", &ready), StatusCode::OK);
        assert_eq!(
            status("GET", "/metrics", &starting),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status("GET", "/readyz", &ready), StatusCode::OK);
        assert_eq!(
            status("GET", "/readyz", &starting),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status("GET", "/healthz", &starting), StatusCode::OK);
        assert_eq!(status("GET", "/healthz", &ready), StatusCode::OK);
        assert_eq!(status("GET", "/", &ready), StatusCode::NOT_FOUND);
        assert_eq!(status("GET", "/metrics/", &ready), StatusCode::NOT_FOUND);
        assert_eq!(
            status("POST", "/metrics", &ready),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            status("DELETE", "/nothing", &ready),
            StatusCode::METHOD_NOT_ALLOWED
        );
        let r = respond(&request("GET", "/metrics"), &ready, minute);
        assert_eq!(r.headers()[CONTENT_TYPE], METRICS_CONTENT_TYPE);
        let stuck = Published {
            at: Some(
                Instant::now()
                    .checked_sub(Duration::from_secs(200))
                    .unwrap(),
            ),
            ..ready.clone()
        };
        assert_eq!(
            status("GET", "/healthz", &stuck),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let with_body = Request::get("/metrics")
            .body(Full::new(Bytes::from_static(b"x")))
            .unwrap();
        assert_eq!(
            respond(&with_body, &ready, minute).status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
