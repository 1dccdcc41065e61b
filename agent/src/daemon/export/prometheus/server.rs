//! The HTTP endpoint: `GET /metrics` (the pre-rendered snapshot, text format 0.0.4),
//! `/healthz` (the collection loop is alive), `/readyz` (a first snapshot exists). A scrape
//! clones a reference-counted buffer: no I/O, no rendering, no lock held across a write.
//!
//! Hardening, because a DaemonSet binds the node IP: HTTP/1 only; `GET` and `HEAD` only
//! (405 otherwise); no request bodies (413); headers must arrive within
//! [`HEADER_READ_TIMEOUT`] and fit in [`MAX_HEADER_BYTES`] (431).
//!
//! Fair under connection floods ([`Gate`]): every connection is accepted at once (the kernel's
//! accept queue never fills behind idle ones), then must send its first byte within
//! [`FIRST_BYTE_TIMEOUT`]. Until it does it costs a socket and a small task, and when
//! [`MAX_WAITING`] such connections exist the oldest is closed for the new one; only one that
//! has sent something gets one of the [`MAX_CONNECTIONS`] HTTP slots (and hyper's buffers).
//! One peer address holds at most [`MAX_PER_PEER`] connections; more are closed on accept.
//! A scraper or a probe sends its request as it connects, so it is served while thousands of
//! silent clients cycle through the waiting room.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot, watch};

use super::web::{Auth, Web};

/// Connections being served (they have sent something).
pub const MAX_CONNECTIONS: u32 = 256;
/// Connections accepted that have sent nothing yet.
pub const MAX_WAITING: u32 = 2048;
/// Connections from one peer address, in either state.
pub const MAX_PER_PEER: u32 = 32;
/// How long a new connection may stay silent.
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(1);
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

/// Who is connected: per peer address, and the waiting room of connections that have sent
/// nothing yet, oldest first.
#[derive(Debug, Default)]
pub struct Gate {
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    per_peer: HashMap<IpAddr, u32>,
    /// Waiting connections by arrival; closing one is sending on its channel.
    waiting: BTreeMap<u64, oneshot::Sender<()>>,
    serving: u32,
    next: u64,
}

/// One admitted connection's place at the gate, given back when dropped.
#[derive(Debug)]
pub struct Ticket {
    gate: Arc<Gate>,
    peer: IpAddr,
    id: u64,
    /// Resolves when the gate closes this connection for a newer one.
    evicted: Option<oneshot::Receiver<()>>,
    serving: bool,
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new connection from `peer`: `None` when that peer already holds its share. Makes
    /// room in the waiting room by closing its oldest connection.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Ticket> {
        let peer = peer.to_canonical();
        let mut state = self.lock();
        let count = state.per_peer.entry(peer).or_default();
        if *count >= MAX_PER_PEER {
            return None;
        }
        *count += 1;
        if state.waiting.len() >= MAX_WAITING as usize
            && let Some((_, oldest)) = state.waiting.pop_first()
        {
            let _ = oldest.send(());
        }
        let id = state.next;
        state.next += 1;
        let (evict, evicted) = oneshot::channel();
        state.waiting.insert(id, evict);
        Some(Ticket {
            gate: Arc::clone(self),
            peer,
            id,
            evicted: Some(evicted),
            serving: false,
        })
    }

    /// Connections being served now.
    pub fn serving(&self) -> u32 {
        self.lock().serving
    }
}

impl Ticket {
    /// Resolves if the gate closes this waiting connection for a newer one.
    async fn evicted(&mut self) {
        match self.evicted.as_mut() {
            // A dropped sender (the ticket left the room some other way) is not an eviction.
            Some(receiver) => {
                if receiver.await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending().await,
        }
    }

    /// The connection has sent something: it leaves the waiting room for an HTTP slot, if
    /// one is free.
    fn serve(&mut self) -> bool {
        let mut state = self.gate.lock();
        state.waiting.remove(&self.id);
        self.evicted = None;
        if state.serving >= MAX_CONNECTIONS {
            return false;
        }
        state.serving += 1;
        self.serving = true;
        true
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.gate.lock();
        state.waiting.remove(&self.id);
        if self.serving {
            state.serving -= 1;
        }
        if let Some(count) = state.per_peer.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                state.per_peer.remove(&self.peer);
            }
        }
    }
}

/// Every connection's task at most: waiting and served together.
const MAX_TASKS: u32 = MAX_CONNECTIONS + MAX_WAITING;

/// Serves `listener` until `stop` turns true, then lets open requests finish (idle
/// keep-alive connections are closed) and returns once every connection has ended.
pub async fn serve(
    listener: TcpListener,
    web: Arc<Web>,
    published: watch::Receiver<Arc<Published>>,
    mut stop: watch::Receiver<bool>,
    stale_after: Duration,
) {
    let gate = Arc::new(Gate::default());
    let tasks = Arc::new(Semaphore::new(MAX_TASKS as usize));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        // Over its peer's share, or (never while the waiting room evicts) over every task
        // slot: closed at once, which costs the peer nothing to retry and us nothing to keep.
        let Some(mut ticket) = gate.admit(peer.ip()) else {
            tracing::debug!(%peer, "closed: over the peer's share");
            continue;
        };
        let Ok(task) = Arc::clone(&tasks).try_acquire_owned() else {
            tracing::debug!(%peer, "closed: no task slot");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let published = published.clone();
        let web = Arc::clone(&web);
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let _task = task;
            let mut first = [0u8; 1];
            let spoke = tokio::select! {
                // Waits for a byte (or the end) without taking it from the stream.
                peeked = stream.peek(&mut first) => peeked.is_ok_and(|n| n > 0),
                () = tokio::time::sleep(FIRST_BYTE_TIMEOUT) => false,
                () = ticket.evicted() => false,
                () = stopped(&mut stop) => false,
            };
            if !spoke {
                tracing::debug!(%peer, "closed: silent");
                return;
            }
            if !ticket.serve() {
                tracing::debug!(%peer, "closed: no free slot");
                return;
            }
            let auth = web.auth.clone();
            #[cfg(feature = "tls")]
            if let Some(acceptor) = &web.acceptor {
                let handshake = tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream));
                match handshake.await {
                    Ok(Ok(tls)) => serve_http(tls, published, auth, stale_after, stop).await,
                    Ok(Err(e)) => tracing::debug!(%peer, "closed: TLS handshake: {e}"),
                    Err(_) => tracing::debug!(%peer, "closed: no TLS handshake in time"),
                }
                return;
            }
            serve_http(stream, published, auth, stale_after, stop).await;
        });
    }
    drop(listener);
    // Every connection task holds a slot: all of them back means all connections ended.
    let _ = tasks.acquire_many(MAX_TASKS).await;
}

/// HTTP/1 on one connection (plain or TLS) until it ends or `stop`, when open requests
/// finish. With `auth`, `/metrics` needs the credentials; the probes never do.
async fn serve_http<IO>(
    io: IO,
    published: watch::Receiver<Arc<Published>>,
    auth: Option<Arc<Auth>>,
    stale_after: Duration,
    mut stop: watch::Receiver<bool>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let current = published.borrow().clone();
        let auth = auth.clone();
        async move {
            if let Some(auth) = auth
                && request.uri().path() == "/metrics"
            {
                let header = request.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
                if !auth.allows(header).await {
                    return Ok::<_, Infallible>(unauthorized());
                }
            }
            Ok::<_, Infallible>(respond(&request, &current, stale_after))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_headers(64);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// 401, asking for basic credentials.
fn unauthorized() -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(b"credentials required\n")));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r.headers_mut().insert(
        hyper::header::WWW_AUTHENTICATE,
        hyper::header::HeaderValue::from_static("Basic realm=\"nodecap\""),
    );
    r
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The borrow `wait_for` returns is not `Send`: drop it here, not in the caller.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_bounds_peers_and_evicts_the_oldest_silent_connection() {
        let gate = Arc::new(Gate::default());
        let one: IpAddr = "10.0.0.1".parse().unwrap();
        let tickets: Vec<Ticket> = (0..MAX_PER_PEER)
            .map(|_| gate.admit(one).unwrap())
            .collect();
        assert!(gate.admit(one).is_none(), "over the peer's share");
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert!(gate.admit(mapped).is_none(), "the same peer over IPv6");
        drop(tickets);
        assert!(gate.admit(one).is_some(), "the share is given back");

        let mut first = gate.admit("10.0.1.0".parse().unwrap()).unwrap();
        let mut rest = Vec::new();
        for i in 1..MAX_WAITING {
            let [.., high, low] = i.to_be_bytes();
            let peer = IpAddr::from([10, 1, high, low]);
            rest.push(gate.admit(peer).unwrap());
        }
        let mut evicted = first.evicted.take().unwrap();
        assert!(evicted.try_recv().is_err(), "room for {MAX_WAITING}");
        let _newest = gate.admit("10.2.0.0".parse().unwrap()).unwrap();
        assert!(evicted.try_recv().is_ok(), "the oldest made room");
        assert!(rest[0].serve(), "one that spoke is served");
        assert_eq!(gate.serving(), 1);
        drop(rest);
        assert_eq!(gate.serving(), 0);
        assert!(first.serve());
    }

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
