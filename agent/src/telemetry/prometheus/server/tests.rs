use super::*;

fn peer(i: u32) -> IpAddr {
    IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i))
}

#[test]
fn the_gate_bounds_peers_and_evicts_the_oldest_silent_connection() {
    let gate = Arc::new(Gate::default());
    let one = peer(1);
    let tickets: Vec<Ticket> = (0..MAX_PER_PEER)
        .map(|_| gate.admit(one).unwrap())
        .collect();
    assert!(gate.admit(one).is_none(), "over the peer's share");
    let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
    assert!(gate.admit(mapped).is_none(), "the same peer over IPv6");
    drop(tickets);
    assert!(gate.admit(one).is_some(), "the share is given back");

    let mut first = gate.admit(peer(1000)).unwrap();
    let mut rest: Vec<Ticket> = (1..MAX_WAITING)
        .map(|i| gate.admit(peer(1000 + i)).unwrap())
        .collect();
    assert!(first.closed.try_recv().is_err(), "room for {MAX_WAITING}");
    let _newest = gate.admit(peer(5000)).unwrap();
    assert!(first.closed.try_recv().is_ok(), "the oldest made room");
    assert!(!first.open(), "a closed connection gets no slot");
    assert!(rest[0].open(), "one that spoke gets a slot");
    assert_eq!(gate.slots(), (1, 0));
    rest.clear();
    assert_eq!(gate.slots(), (0, 0));
}

/// Slowloris: connections reading a head (or idle between requests) hold their slots
/// only until a newer connection needs one; those inside a request are never closed.
#[test]
fn idle_slots_are_taken_back_oldest_first_and_busy_ones_never() {
    let gate = Arc::new(Gate::default());
    let mut slow: Vec<Ticket> = (0..MAX_CONNECTIONS)
        .map(|i| {
            let mut t = gate.admit(peer(i / MAX_PER_PEER)).unwrap();
            assert!(t.open());
            t
        })
        .collect();
    assert_eq!(gate.slots(), (MAX_CONNECTIONS, 0));
    // One request in progress on the oldest: it is not the one closed.
    let busy = slow[0].slot().busy().unwrap();
    let mut probe = gate.admit(peer(9999)).unwrap();
    assert!(probe.open(), "a newcomer gets a slot while others idle");
    assert!(slow[0].closed.try_recv().is_err(), "busy: kept");
    assert!(
        slow[1].closed.try_recv().is_ok(),
        "the longest idle is closed"
    );
    assert!(
        slow[1].slot().busy().is_none(),
        "and cannot start a request"
    );
    assert_eq!(gate.slots(), (MAX_CONNECTIONS, 1));
    // A request that ends puts its slot back at the end of the line.
    drop(busy);
    let mut next = gate.admit(peer(9998)).unwrap();
    assert!(next.open());
    assert!(slow[2].closed.try_recv().is_ok());
    assert!(slow[0].closed.try_recv().is_err(), "idle again, but newest");
    // Every slot inside a request: a newcomer is refused, nobody is closed.
    let held: Vec<Busy> = slow
        .iter()
        .skip(3)
        .map(|t| t.slot().busy().unwrap())
        .chain([&slow[0], &probe, &next].map(|t| t.slot().busy().unwrap()))
        .collect();
    assert_eq!(gate.slots(), (MAX_CONNECTIONS, MAX_CONNECTIONS));
    let mut refused = gate.admit(peer(9997)).unwrap();
    assert!(!refused.open());
    drop(held);
    drop(slow);
    drop(refused);
    drop(probe);
    drop(next);
    assert_eq!(gate.slots(), (0, 0));
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
