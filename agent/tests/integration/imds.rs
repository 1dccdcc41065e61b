//! The IMDSv2 client against a real HTTP server with IMDSv2 semantics and injected faults
//! (nodecap-testkit): token reuse, refresh on 401, 404 as absent, retries on 5xx, and the
//! overall deadline with slow or refused connections.

use std::time::{Duration, Instant};

use nodecap::aws::imds::{Error, ImdsClient};
use nodecap_testkit::imds::{ImdsServer, Instance};

fn server() -> ImdsServer {
    ImdsServer::start(&Instance::example("m5.large", 3, 10)).unwrap()
}

fn client(server: &ImdsServer, deadline: Duration) -> ImdsClient {
    ImdsClient::new(&server.url().parse().unwrap(), deadline)
}

#[tokio::test]
async fn identity_in_two_requests_and_the_token_is_reused() {
    let imds = server();
    let c = client(&imds, Duration::from_secs(5));
    let id = c.identity().await.unwrap();
    assert_eq!(
        (
            id.instance_type.as_str(),
            id.region.as_str(),
            id.availability_zone.as_str()
        ),
        ("m5.large", "us-east-1", "us-east-1a")
    );
    assert_eq!(c.requests(), 2);
    assert_eq!(
        c.get("meta-data/instance-type").await.unwrap().as_deref(),
        Some("m5.large")
    );
    assert_eq!(
        imds.requests(),
        [
            "PUT /latest/api/token",
            "GET /latest/dynamic/instance-identity/document",
            "GET /latest/meta-data/instance-type"
        ]
    );
}

#[tokio::test]
async fn an_expired_token_is_replaced() {
    let imds = server();
    let c = client(&imds, Duration::from_secs(5));
    c.get("meta-data/instance-id").await.unwrap();
    imds.expire_tokens();
    imds.clear_requests();
    assert_eq!(
        c.get("meta-data/instance-id").await.unwrap().as_deref(),
        Some("i-0123456789abcdef0")
    );
    assert_eq!(
        imds.requests(),
        [
            "GET /latest/meta-data/instance-id",
            "PUT /latest/api/token",
            "GET /latest/meta-data/instance-id"
        ]
    );
}

#[tokio::test]
async fn missing_paths_are_none_and_required_ones_name_the_path() {
    let imds = server();
    let c = client(&imds, Duration::from_secs(5));
    assert_eq!(c.get("meta-data/no-such-thing").await.unwrap(), None);
    imds.set("dynamic/instance-identity/document", None);
    let err = c.identity().await.unwrap_err().to_string();
    assert!(
        err.contains("/latest/dynamic/instance-identity/document"),
        "{err}"
    );
    assert!(
        err.contains("expected the instance identity document"),
        "{err}"
    );
}

#[tokio::test]
async fn garbage_values_are_named() {
    let imds = server();
    let c = client(&imds, Duration::from_secs(5));
    imds.set(
        "dynamic/instance-identity/document",
        Some("<html>oops</html>"),
    );
    let err = c.identity().await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("\"<html>oops</html>\""));
}

#[tokio::test]
async fn server_errors_are_retried() {
    let imds = server();
    imds.fail_next(3, 500);
    let c = client(&imds, Duration::from_secs(10));
    assert_eq!(c.identity().await.unwrap().instance_type, "m5.large");
    assert_eq!(c.requests(), 5);
    // A 4xx other than 401/404 is not retried.
    imds.fail_next(1, 403);
    let err = c.get("meta-data/ami-id").await.unwrap_err().to_string();
    assert!(err.ends_with("/latest/meta-data/ami-id: HTTP 403"), "{err}");
}

#[tokio::test]
async fn slow_answers_hit_the_deadline() {
    let imds = server();
    imds.set_delay(Duration::from_secs(5));
    let c = client(&imds, Duration::from_millis(1500));
    let start = Instant::now();
    let err = c.identity().await.unwrap_err();
    let elapsed = start.elapsed();
    assert!(matches!(err, Error::Deadline { .. }), "{err}");
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn refused_connections_retry_until_the_deadline() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}").parse().unwrap();
    let c = ImdsClient::new(&endpoint, Duration::from_secs(1));
    let start = Instant::now();
    let err = c.identity().await.unwrap_err();
    let elapsed = start.elapsed();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "IMDS http://127.0.0.1:{port}/latest/api/token: no answer within the 1s deadline"
        )),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");
    assert!(c.requests() > 3, "retried: {}", c.requests());
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn eni_tree() {
    let imds = server();
    let c = client(&imds, Duration::from_secs(5));
    let enis = c.enis().await.unwrap();
    assert_eq!(enis.len(), 3);
    assert_eq!(enis[0].device_number, 0);
    assert_eq!(enis[2].interface_id, "eni-00000000000000003");
    assert_eq!(enis[2].subnet_id, "subnet-0123456789abcdef0");
    assert_eq!(enis[1].ipv4.len(), 10);
    assert_eq!(enis[1].ipv4[0], "10.0.2.10");
    assert!(enis[0].ipv4_prefixes.is_empty());
    // The list, then per ENI its device number, card, id, subnet, directory and IPv4 list, after
    // the token: no prefixes, no IPv6, so those lists are not asked for.
    let gets = |imds: &ImdsServer| {
        imds.requests()
            .iter()
            .filter(|r| r.starts_with("GET "))
            .count()
    };
    assert_eq!(gets(&imds), 1 + 3 * 6, "{:?}", imds.requests());
    // Again: an ENI's id, device, card and subnet are known, only its directory and addresses are
    // asked for.
    imds.clear_requests();
    assert_eq!(c.enis().await.unwrap(), enis);
    assert_eq!(gets(&imds), 1 + 3 * 2, "{:?}", imds.requests());
    // A subnet id becomes a label value: anything else is refused, quoted short.
    let fresh = client(&imds, Duration::from_secs(5));
    let path = "meta-data/network/interfaces/macs/0e:00:00:00:00:03/subnet-id";
    imds.set(path, Some(&"x".repeat(1000)));
    let e = nodecap::error::Chain(&fresh.enis().await.unwrap_err()).to_string();
    assert!(
        e.contains("expected a subnet id (subnet- and at most 32 characters)") && e.len() < 300,
        "{e}"
    );
    imds.set(path, Some("subnet-0123456789abcdef0"));
    // Prefixes and IPv6 addresses appear in the directory, and are read the same tick.
    let mac = "0e:00:00:00:00:02";
    imds.set(
        &format!("meta-data/network/interfaces/macs/{mac}/ipv4-prefix"),
        Some("10.0.9.0/28\n10.0.9.16/28"),
    );
    imds.set(
        &format!("meta-data/network/interfaces/macs/{mac}/ipv6s"),
        Some("2600:1f14::10"),
    );
    let enis = c.enis().await.unwrap();
    assert_eq!(enis[1].ipv4_prefixes, ["10.0.9.0/28", "10.0.9.16/28"]);
    assert_eq!(enis[1].ipv6, ["2600:1f14::10"]);
    assert!(enis[0].ipv4_prefixes.is_empty() && enis[2].ipv6.is_empty());
}
