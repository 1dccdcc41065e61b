//! A test ipamd: the VPC CNI's `/metrics` (Prometheus text) and its introspection
//! (`/v1/enis`, `/v1/ipamd-env-settings`, `/v1/eni-configs`: JSON) on one loopback port, with
//! the content a test gives it (usually the files under `tests/fixtures/ipamd/`). Like ipamd,
//! the introspection answers `text/plain` JSON, ignores the method, answers 404 at
//! `/v1/eni-configs` for a node without an ENIConfig, and its list of commands at any other
//! path. Dropping the server stops it: "ipamd died".

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::Background;
use crate::imds::Instance;

/// A `/v1/enis` document (VPC CNI ≥ 1.20 shape, network card 0) for `instance`: every
/// secondary address of every ENI in the warm pool as a /32, the first `assigned` of them
/// (in ENI order) holding a pod.
pub fn enis_document(instance: &Instance, assigned: usize) -> String {
    let mut enis = serde_json::Map::new();
    let mut given = 0;
    let mut total = 0;
    for eni in &instance.enis {
        let mut cidrs = serde_json::Map::new();
        for ip in eni.local_ipv4s.iter().skip(1) {
            total += 1;
            let addresses = if given < assigned {
                given += 1;
                serde_json::json!({ ip: {
                    "Address": ip,
                    "IPAMKey": {"networkName": "aws-cni", "containerID": format!("c{given}"), "ifName": "eth0"},
                    "IPAMMetadata": {"k8sPodNamespace": "default", "k8sPodName": format!("pod-{given}")},
                    "AssignedTime": "2026-11-20T08:00:00Z",
                    "UnassignedTime": "0001-01-01T00:00:00Z",
                }})
            } else {
                serde_json::json!({})
            };
            cidrs.insert(
                format!("{ip}/32"),
                serde_json::json!({
                    "Cidr": {"IP": ip, "Mask": "/////w=="},
                    "IPAddresses": addresses,
                    "IsPrefix": false,
                    "AddressFamily": "",
                }),
            );
        }
        enis.insert(
            eni.interface_id.clone(),
            serde_json::json!({
                "ID": eni.interface_id,
                "IsPrimary": eni.device_number == 0,
                "IsTrunk": false,
                "IsEFA": false,
                "DeviceNumber": eni.device_number,
                "AvailableIPv4Cidrs": cidrs,
                "IPv6Cidrs": {},
                "IsExcludedForPodIPs": false,
                "RouteTableID": eni.device_number + 1,
                "SubnetID": eni.subnet_id,
            }),
        );
    }
    serde_json::json!({"0": {"TotalIPs": total, "AssignedIPs": given, "ENIs": enis}}).to_string()
}

/// What ipamd v1.23 answers at `/v1/ipamd-env-settings` with aws-node's defaults.
pub const DEFAULT_SETTINGS: &str = r#"{"AWS_MANAGE_ENIS_NON_SCHEDULABLE":false,"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG":false,"ENABLE_SUBNET_DISCOVERY":true,"WARM_ENI_TARGET":1,"WARM_IP_TARGET":0}"#;

#[derive(Debug, Default)]
struct Content {
    metrics: String,
    enis: String,
    /// `None`: 404 (an ipamd without the endpoint).
    settings: Option<String>,
    /// `None`: 404 (no ENIConfig).
    eni_config: Option<String>,
    requests: u64,
    /// Every answer waits this long first.
    delay: Duration,
}

/// A running test ipamd.
#[derive(Debug)]
pub struct IpamdServer {
    addr: SocketAddr,
    content: Arc<Mutex<Content>>,
    _background: Background,
}

impl IpamdServer {
    /// Serves `metrics` at `/metrics` and `enis` at `/v1/enis` on `addr` (port 0: any).
    pub fn start_on(addr: SocketAddr, metrics: &str, enis: &str) -> std::io::Result<Self> {
        let content = Arc::new(Mutex::new(Content {
            metrics: metrics.to_owned(),
            enis: enis.to_owned(),
            settings: Some(DEFAULT_SETTINGS.to_owned()),
            eni_config: None,
            requests: 0,
            delay: Duration::ZERO,
        }));
        let shared = Arc::clone(&content);
        let (background, addr) = Background::serve(addr, move |request| {
            let content = Arc::clone(&shared);
            async move {
                let delay = {
                    let mut c = content.lock().unwrap_or_else(PoisonError::into_inner);
                    c.requests += 1;
                    c.delay
                };
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let c = content.lock().unwrap_or_else(PoisonError::into_inner);
                let found = |body: &Option<String>| match body {
                    Some(body) => (StatusCode::OK, body.clone()),
                    None => (StatusCode::NOT_FOUND, "404 page not found\n".to_owned()),
                };
                let (status, body) = match request.uri().path() {
                    "/metrics" => (StatusCode::OK, c.metrics.clone()),
                    "/v1/enis" => (StatusCode::OK, c.enis.clone()),
                    "/v1/ipamd-env-settings" => found(&c.settings),
                    "/v1/eni-configs" => found(&c.eni_config),
                    _ => (
                        StatusCode::OK,
                        r#"{"AvailableCommands":["/v1/enis","/v1/eni-configs","/v1/networkutils-env-settings","/v1/ipamd-env-settings"]}"#.to_owned(),
                    ),
                };
                let mut response = Response::new(Full::new(Bytes::from(body)));
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            }
        })?;
        Ok(IpamdServer {
            addr,
            content,
            _background: background,
        })
    }

    pub fn start(metrics: &str, enis: &str) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), metrics, enis)
    }

    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    pub fn enis_url(&self) -> String {
        format!("http://{}/v1/enis", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces what `/metrics` and `/v1/enis` answer.
    pub fn set(&self, metrics: &str, enis: &str) {
        let mut c = self.content.lock().unwrap_or_else(PoisonError::into_inner);
        c.metrics = metrics.to_owned();
        c.enis = enis.to_owned();
    }

    /// Replaces what `/v1/ipamd-env-settings` and `/v1/eni-configs` answer (`None`: 404).
    pub fn set_settings(&self, settings: Option<&str>, eni_config: Option<&str>) {
        let mut c = self.content.lock().unwrap_or_else(PoisonError::into_inner);
        c.settings = settings.map(str::to_owned);
        c.eni_config = eni_config.map(str::to_owned);
    }

    /// Every answer waits `delay` first (a slow ipamd).
    pub fn set_delay(&self, delay: Duration) {
        self.content
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .delay = delay;
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.content
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .requests
    }
}
