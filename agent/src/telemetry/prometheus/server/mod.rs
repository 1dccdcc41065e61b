//! The HTTP endpoint: `GET /metrics` (the pre-rendered snapshot, text format 0.0.4),
//! `/healthz` (the collection loop is alive), `/readyz` (a first snapshot exists). A scrape
//! clones a reference-counted buffer: no I/O, no rendering, no lock held across a write.
//!
//! Hardening, because a DaemonSet binds the node IP: HTTP/1 only; `GET` and `HEAD` only
//! (405 otherwise); no request bodies (413); headers must arrive within
//! [`HEADER_READ_TIMEOUT`] and fit in [`MAX_HEADER_BYTES`] (431).
//!
//! Fair under connection floods ([`Gate`]), whatever the flooders' addresses: every
//! connection is accepted at once (the kernel's accept queue never fills behind idle ones),
//! then must send its first byte within [`FIRST_BYTE_TIMEOUT`]. Until it does it costs a
//! socket and a small task, and when [`MAX_WAITING`] such connections exist the oldest is
//! closed for the new one. One that has spoken gets one of the [`MAX_CONNECTIONS`] HTTP slots
//! (and hyper's buffers), but holds it only while it is inside a request: while it reads its
//! request head (a byte a second, slowloris), does its TLS handshake or idles between
//! keep-alive requests, its slot is **idle**, and when every slot is taken the connection
//! that has been idle longest is closed for the newcomer. A complete request is refused only
//! when every slot is inside a request, and at most [`MAX_SCRAPES`] of those can be
//! `/metrics` (a bcrypt check takes tens of milliseconds; more scrapes at once are answered
//! 503 at once), so the probes `/healthz` and `/readyz`, which need no check, always find a
//! slot. The TLS handshake has [`HANDSHAKE_TIMEOUT`], a request head [`HEADER_READ_TIMEOUT`]
//! (the same bound closes a keep-alive connection idle that long). One peer address holds at
//! most [`MAX_PER_PEER`] connections; more are closed on accept.
//!
//! The numbers: a Prometheus server keeps one connection per target, a kubelet probe opens
//! one per probe, so 256 slots are ten times what a node's legitimate clients ever hold at
//! once (node_exporter's exporter-toolkit has no cap at all, only Go's timeouts; linkerd's
//! proxy bounds its admin server by a concurrency limit and sheds the excess, as here). Each
//! slot costs at most hyper's 16 KiB buffers (and rustls' with TLS): 256 of them stay inside
//! the daemon's 48 MiB. Prometheus sends its whole request head in one packet, so 5 s to
//! read one only ever closes a client that is not a scraper.

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

/// Connections on an HTTP slot (they have sent something), inside a request or not.
pub const MAX_CONNECTIONS: u32 = 256;
/// `/metrics` requests being answered at once (each may wait for a bcrypt check).
pub const MAX_SCRAPES: u32 = 64;
/// Connections accepted that have sent nothing yet.
pub const MAX_WAITING: u32 = 2048;
/// Connections from one peer address, in either state.
pub const MAX_PER_PEER: u32 = 32;
/// How long a new connection may stay silent.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a request head may take to arrive, and a keep-alive connection may idle.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_HEADER_BYTES: usize = 16 * 1024;
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

/// A short plain-text answer.
fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Who is connected: per peer address, the waiting room of connections that have sent
/// nothing yet, and the HTTP slots, with those not inside a request ordered by how long they
/// have been so.
#[derive(Debug, Default)]
pub struct Gate {
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    per_peer: HashMap<IpAddr, u32>,
    conns: HashMap<u64, Conn>,
    /// Silent connections by arrival: key → connection id.
    waiting: BTreeMap<u64, u64>,
    /// Connections on an idle slot, by when they became idle: key → connection id.
    idle: BTreeMap<u64, u64>,
    /// Connections on a slot, idle or inside a request.
    open: u32,
    next: u64,
}

/// Where one connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Waiting,
    Idle,
    Busy,
    /// Closed by the gate for a newer connection.
    Closed,
}

#[derive(Debug)]
struct Conn {
    peer: IpAddr,
    /// Its key in `waiting` or `idle`, whichever `place` says.
    key: u64,
    place: Place,
    /// Closing the connection is sending on this.
    close: Option<oneshot::Sender<()>>,
}

impl GateState {
    fn key(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Closes connection `id` for a newer one: its slot (if it had one) is free at once.
    fn close(&mut self, id: u64) {
        if let Some(conn) = self.conns.get_mut(&id) {
            if matches!(conn.place, Place::Idle | Place::Busy) {
                self.open -= 1;
            }
            conn.place = Place::Closed;
            if let Some(close) = conn.close.take() {
                let _ = close.send(());
            }
        }
    }
}

/// One admitted connection's place at the gate, given back when dropped.
#[derive(Debug)]
pub struct Ticket {
    slot: ConnectionSlot,
    /// Resolves when the gate closes this connection for a newer one.
    closed: oneshot::Receiver<()>,
}

/// A handle on one connection's slot, for its requests to say when they are inside one.
#[derive(Debug, Clone)]
struct ConnectionSlot {
    gate: Arc<Gate>,
    id: u64,
}

/// A request in progress: its connection's slot is not idle until this is dropped.
#[derive(Debug)]
pub struct Busy(ConnectionSlot);

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
            state.close(oldest);
        }
        let key = state.key();
        let id = key;
        let (close, closed) = oneshot::channel();
        state.conns.insert(
            id,
            Conn {
                peer,
                key,
                place: Place::Waiting,
                close: Some(close),
            },
        );
        state.waiting.insert(key, id);
        Some(Ticket {
            slot: ConnectionSlot {
                gate: Arc::clone(self),
                id,
            },
            closed,
        })
    }

    /// Connections on a slot, and those of them inside a request.
    pub fn slots(&self) -> (u32, u32) {
        let state = self.lock();
        let idle = u32::try_from(state.idle.len()).unwrap_or(u32::MAX);
        (state.open, state.open.saturating_sub(idle))
    }
}

impl Ticket {
    /// Resolves if the gate closes this connection for a newer one.
    async fn closed(&mut self) {
        // A dropped sender (the connection is ending some other way) is not a close.
        if (&mut self.closed).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// The connection has sent something: it leaves the waiting room for an idle HTTP slot,
    /// closing the longest-idle connection when none is free. `false` when every slot is
    /// inside a request (or the gate has closed this one).
    fn open(&mut self) -> bool {
        let gate = &self.slot.gate;
        let mut state = gate.lock();
        let Some(conn) = state.conns.get(&self.slot.id) else {
            return false;
        };
        if conn.place != Place::Waiting {
            return false;
        }
        let key = conn.key;
        state.waiting.remove(&key);
        if state.open >= MAX_CONNECTIONS
            && let Some((_, oldest)) = state.idle.pop_first()
        {
            state.close(oldest);
        }
        if state.open >= MAX_CONNECTIONS {
            state.close(self.slot.id);
            return false;
        }
        state.open += 1;
        let key = state.key();
        state.idle.insert(key, self.slot.id);
        if let Some(conn) = state.conns.get_mut(&self.slot.id) {
            conn.place = Place::Idle;
            conn.key = key;
        }
        true
    }

    fn slot(&self) -> ConnectionSlot {
        self.slot.clone()
    }
}

impl ConnectionSlot {
    /// A request has arrived whole: the slot is not idle until the returned guard drops.
    /// `None` when the gate has closed this connection.
    pub fn busy(&self) -> Option<Busy> {
        let mut state = self.gate.lock();
        let conn = state.conns.get_mut(&self.id)?;
        if conn.place != Place::Idle {
            return None;
        }
        conn.place = Place::Busy;
        let key = conn.key;
        state.idle.remove(&key);
        Some(Busy(self.clone()))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut state = self.0.gate.lock();
        let key = state.key();
        let Some(conn) = state.conns.get_mut(&self.0.id) else {
            return;
        };
        if conn.place == Place::Busy {
            conn.place = Place::Idle;
            conn.key = key;
            state.idle.insert(key, self.0.id);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.slot.gate.lock();
        let Some(conn) = state.conns.remove(&self.slot.id) else {
            return;
        };
        match conn.place {
            Place::Waiting => {
                state.waiting.remove(&conn.key);
            }
            Place::Idle => {
                state.idle.remove(&conn.key);
                state.open -= 1;
            }
            Place::Busy => state.open -= 1,
            Place::Closed => {}
        }
        if let Some(count) = state.per_peer.get_mut(&conn.peer) {
            *count -= 1;
            if *count == 0 {
                state.per_peer.remove(&conn.peer);
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
    let scrapes = Arc::new(Semaphore::new(MAX_SCRAPES as usize));
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
        let shared = Shared {
            web: Arc::clone(&web),
            published: published.clone(),
            scrapes: Arc::clone(&scrapes),
            stale_after,
            stop: stop.clone(),
        };
        tokio::spawn(async move {
            let _task = task;
            accepted(stream, peer, &mut ticket, shared).await;
        });
    }
    drop(listener);
    // Every connection task holds a slot: all of them back means all connections ended.
    let _ = tasks.acquire_many(MAX_TASKS).await;
}

/// What every connection is served from.
struct Shared {
    web: Arc<Web>,
    published: watch::Receiver<Arc<Published>>,
    scrapes: Arc<Semaphore>,
    stale_after: Duration,
    stop: watch::Receiver<bool>,
}

/// One accepted connection, admitted at the gate: waits for its first byte (a silent one is
/// closed at [`FIRST_BYTE_TIMEOUT`]), takes a slot inside a request, shakes hands when TLS is
/// on, and is served until it ends or the gate evicts it for a newer one.
async fn accepted(
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    ticket: &mut Ticket,
    shared: Shared,
) {
    let Shared {
        web,
        published,
        scrapes,
        stale_after,
        mut stop,
    } = shared;
    let mut first = [0u8; 1];
    let spoke = tokio::select! {
        // Waits for a byte (or the end) without taking it from the stream.
        peeked = stream.peek(&mut first) => peeked.is_ok_and(|n| n > 0),
        () = tokio::time::sleep(FIRST_BYTE_TIMEOUT) => false,
        () = ticket.closed() => false,
        () = stopped(&mut stop) => false,
    };
    if !spoke {
        tracing::debug!(%peer, "closed: silent");
        return;
    }
    if !ticket.open() {
        tracing::debug!(%peer, "closed: every slot is inside a request");
        return;
    }
    let connection = Connection {
        slot: ticket.slot(),
        published,
        auth: web.auth.clone(),
        scrapes,
        stale_after,
        stop,
    };
    let served = async {
        #[cfg(feature = "tls")]
        if let Some(acceptor) = &web.acceptor {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            match handshake.await {
                Ok(Ok(tls)) => connection.serve(tls).await,
                Ok(Err(e)) => tracing::debug!(%peer, "closed: TLS handshake: {e}"),
                Err(_) => tracing::debug!(%peer, "closed: no TLS handshake in time"),
            }
            return;
        }
        connection.serve(stream).await;
    };
    tokio::select! {
        () = served => {}
        () = ticket.closed() => tracing::debug!(%peer, "closed: idle longest, for a newer connection"),
    }
}

/// One connection on its slot: what its requests are answered from.
struct Connection {
    slot: ConnectionSlot,
    published: watch::Receiver<Arc<Published>>,
    /// With it, `/metrics` needs the credentials; the probes never do.
    auth: Option<Arc<Auth>>,
    /// `/metrics` requests in progress, across connections.
    scrapes: Arc<Semaphore>,
    stale_after: Duration,
    stop: watch::Receiver<bool>,
}

impl Connection {
    /// HTTP/1 on the connection (plain or TLS) until it ends or `stop`, when open requests
    /// finish. Each request holds the slot busy from its complete head to its answer.
    async fn serve<IO>(self, io: IO)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            slot,
            published,
            auth,
            scrapes,
            stale_after,
            mut stop,
        } = self;
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let busy = slot.busy();
            let current = published.borrow().clone();
            let auth = auth.clone();
            let scrapes = Arc::clone(&scrapes);
            async move {
                let Some(_busy) = busy else {
                    return Ok::<_, Infallible>(reply(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "closing: idle longest\n",
                    ));
                };
                if request.uri().path() == "/metrics" {
                    let Ok(_scrape) = scrapes.try_acquire_owned() else {
                        let mut r = reply(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "too many scrapes at once\n",
                        );
                        r.headers_mut().insert(
                            hyper::header::RETRY_AFTER,
                            hyper::header::HeaderValue::from_static("1"),
                        );
                        return Ok(r);
                    };
                    if let Some(auth) = auth {
                        let header = request.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
                        if !auth.allows(header).await {
                            return Ok(unauthorized());
                        }
                    }
                }
                Ok(respond(&request, &current, stale_after))
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
mod tests;
