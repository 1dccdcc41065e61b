//! What ipamd says about its own configuration, from two introspection endpoints beside
//! `/v1/enis` (docs/vpc-cni.md "Introspection (`127.0.0.1:61679`)"):
//!
//! - `/v1/ipamd-env-settings`: an object with `WARM_IP_TARGET`, `WARM_ENI_TARGET` (numbers),
//!   `AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG`, `AWS_MANAGE_ENIS_NON_SCHEDULABLE` and
//!   `ENABLE_SUBNET_DISCOVERY` (booleans). It does not include `MINIMUM_IP_TARGET`,
//!   `WARM_PREFIX_TARGET` or `ENABLE_PREFIX_DELEGATION`: the first two can be declared in
//!   nodecap's configuration (`run.minimum_ip_target`, `run.warm_prefix_target`), the third
//!   is read from the datastore (see the snapshot's CNI facts).
//! - `/v1/eni-configs`: a JSON string, the name of the node's ENIConfig; HTTP 404 when the
//!   node has none.
//!
//! An ipamd too old for an endpoint answers 404 or, as it does for any path it does not
//! know, its list of commands (`{"AvailableCommands":[…]}`): either way the endpoint is
//! absent, which is not a failure.

use super::collector::{Collector, CollectorId, Reading};
use super::http::{self, OptionalEndpoint, ReadError};
use crate::core::excerpt::Excerpt;
use crate::telemetry::family::Describe;

/// The longest answer read from either endpoint: the settings object is about 200 bytes, an
/// ENIConfig name at most 253 characters.
pub const MAX_BODY: usize = 64 * 1024;
/// The longest ENIConfig name taken: a Kubernetes object name (a DNS subdomain).
pub const MAX_NAME: usize = 253;

/// Collects `/v1/ipamd-env-settings` and `/v1/eni-configs`.
#[derive(Debug)]
pub struct IpamdSettingsCollector {
    settings: OptionalEndpoint,
    eni_configs: OptionalEndpoint,
    declared: Declared,
}

/// What the configuration declares about aws-node where ipamd does not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Declared {
    /// aws-node's `MINIMUM_IP_TARGET` (0 when it is not set).
    pub minimum_ip_target: Option<u32>,
    /// aws-node's `WARM_PREFIX_TARGET` (the manifest sets 1).
    pub warm_prefix_target: Option<u32>,
}

impl IpamdSettingsCollector {
    /// `introspection` is ipamd's `/v1/enis` URL: the two endpoints are its siblings.
    pub fn new(introspection: &hyper::Uri, declared: Declared) -> Self {
        IpamdSettingsCollector {
            settings: OptionalEndpoint::new(
                sibling(introspection, "/v1/ipamd-env-settings"),
                MAX_BODY,
            ),
            eni_configs: OptionalEndpoint::new(sibling(introspection, "/v1/eni-configs"), MAX_BODY),
            declared,
        }
    }
}

/// `url` with its path replaced.
fn sibling(url: &hyper::Uri, path: &'static str) -> hyper::Uri {
    let mut parts = url.clone().into_parts();
    parts.path_and_query = Some(hyper::http::uri::PathAndQuery::from_static(path));
    hyper::Uri::from_parts(parts).unwrap_or_else(|_| url.clone())
}

/// ipamd's own configuration as far as it says, and what the configuration declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpamdSettings {
    /// `/v1/ipamd-env-settings` (without it the collector does not apply).
    pub env: EnvSettings,
    /// `/v1/eni-configs`.
    pub eni_config: EniConfig,
    pub declared: Declared,
}

/// `/v1/ipamd-env-settings`. A key the answer lacks is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvSettings {
    pub warm_ip_target: Option<u32>,
    pub warm_eni_target: Option<u32>,
    pub custom_networking: Option<bool>,
    pub manage_enis_non_schedulable: Option<bool>,
    pub subnet_discovery: Option<bool>,
}

/// The node's ENIConfig, as ipamd found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EniConfig {
    /// The name ipamd found on the node's label or annotation.
    Named(String),
    /// HTTP 404: the node has no ENIConfig.
    None,
    /// This ipamd has no such endpoint.
    Absent,
}

/// An answer nodecap cannot read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("expected a JSON object of settings, got {0}")]
    Settings(Excerpt),
    #[error("{key}: expected {expected}, got {got}")]
    Value {
        key: &'static str,
        expected: &'static str,
        got: Excerpt,
    },
    #[error("expected an ENIConfig name as a JSON string, got {0}")]
    EniConfig(Excerpt),
}

/// The settings serve no family of their own: the snapshot derives the CNI's mode and the
/// `nodecap_cni_setting` series from them (`snapshot::cni`).
impl crate::telemetry::family::Export for IpamdSettings {
    fn export(&self, _out: &mut crate::telemetry::family::Samples) {}
}

impl Collector for IpamdSettingsCollector {
    type Part = IpamdSettings;
    type Error = ReadError<ParseError>;
    const ID: CollectorId = CollectorId::IpamdSettings;
    const FAMILIES: &'static [&'static Describe] = &[];
    const TIMEOUT: std::time::Duration = http::TIMEOUT;

    async fn collect(&mut self) -> Result<Reading<IpamdSettings>, Self::Error> {
        let (settings, eni_config) = tokio::join!(
            self.settings.read(|body| parse_settings(&body)),
            self.eni_configs.read(|body| parse_eni_config(&body)),
        );
        let absent = || {
            Reading::NotApplicable(format!(
                "ipamd at {} has no /v1/ipamd-env-settings (older than the endpoint)",
                self.settings.url().authority().map_or("?", |a| a.as_str())
            ))
        };
        let env = match settings {
            Ok(Reading::Fresh(Some(env)) | Reading::Partial(Some(env), _)) => env,
            Ok(Reading::NotApplicable(why)) => return Ok(Reading::NotApplicable(why)),
            Ok(Reading::Fresh(None) | Reading::Partial(None, _)) => return Ok(absent()),
            Err(e) if not_found(&e) => return Ok(absent()),
            Err(e) => return Err(e),
        };
        let eni_config = match eni_config {
            Ok(Reading::Fresh(config) | Reading::Partial(config, _)) => config,
            // Not listening there but listening here: ipamd restarted in between.
            Ok(Reading::NotApplicable(_)) => EniConfig::Absent,
            Err(e) if not_found(&e) => EniConfig::None,
            Err(e) => return Err(e),
        };
        Ok(Reading::Fresh(IpamdSettings {
            env,
            eni_config,
            declared: self.declared,
        }))
    }
}

/// An HTTP 404.
fn not_found(e: &ReadError<ParseError>) -> bool {
    matches!(e, ReadError::Fetch(http::Error::Status { status: 404, .. }))
}

/// ipamd's answer to a path it does not serve.
fn is_command_list(value: &serde_json::Value) -> bool {
    value.get("AvailableCommands").is_some()
}

/// `/v1/ipamd-env-settings`: `None` when ipamd answered with its list of commands.
pub fn parse_settings(body: &[u8]) -> Result<Option<EnvSettings>, ParseError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| ParseError::Settings(Excerpt::of_bytes(body)))?;
    let Some(object) = value.as_object() else {
        return Err(ParseError::Settings(Excerpt::of_bytes(body)));
    };
    if is_command_list(&value) {
        return Ok(None);
    }
    let count = |key: &'static str| -> Result<Option<u32>, ParseError> {
        match object.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            // ipamd reads a negative or malformed target as unset (0); a count is a count.
            Some(v) => match v.as_i64() {
                Some(n) => Ok(Some(u32::try_from(n.max(0)).unwrap_or(u32::MAX))),
                None => Err(ParseError::Value {
                    key,
                    expected: "a number",
                    got: Excerpt::of(&v.to_string()),
                }),
            },
        }
    };
    let flag = |key: &'static str| -> Result<Option<bool>, ParseError> {
        match object.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or_else(|| ParseError::Value {
                key,
                expected: "true or false",
                got: Excerpt::of(&v.to_string()),
            }),
        }
    };
    Ok(Some(EnvSettings {
        warm_ip_target: count("WARM_IP_TARGET")?,
        warm_eni_target: count("WARM_ENI_TARGET")?,
        custom_networking: flag("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG")?,
        manage_enis_non_schedulable: flag("AWS_MANAGE_ENIS_NON_SCHEDULABLE")?,
        subnet_discovery: flag("ENABLE_SUBNET_DISCOVERY")?,
    }))
}

/// `/v1/eni-configs`: a JSON string naming a Kubernetes object.
pub fn parse_eni_config(body: &[u8]) -> Result<EniConfig, ParseError> {
    let bad = || ParseError::EniConfig(Excerpt::of_bytes(body));
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| bad())?;
    if is_command_list(&value) {
        return Ok(EniConfig::Absent);
    }
    let name = value.as_str().ok_or_else(bad)?;
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if valid {
        Ok(EniConfig::Named(name.to_owned()))
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_as_ipamd_writes_them() {
        let body = br#"{"AWS_MANAGE_ENIS_NON_SCHEDULABLE":false,"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG":true,"ENABLE_SUBNET_DISCOVERY":true,"WARM_ENI_TARGET":1,"WARM_IP_TARGET":5}"#;
        assert_eq!(
            parse_settings(body).unwrap(),
            Some(EnvSettings {
                warm_ip_target: Some(5),
                warm_eni_target: Some(1),
                custom_networking: Some(true),
                manage_enis_non_schedulable: Some(false),
                subnet_discovery: Some(true),
            })
        );
        // Older releases lack keys; a negative target is unset, as ipamd reads it.
        let old = br#"{"WARM_ENI_TARGET":-1,"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG":false}"#;
        let s = parse_settings(old).unwrap().unwrap();
        assert_eq!(
            (s.warm_eni_target, s.warm_ip_target, s.subnet_discovery),
            (Some(0), None, None)
        );
    }

    #[test]
    fn an_ipamd_without_the_endpoint_answers_its_commands() {
        let commands = br#"{"AvailableCommands":["/v1/enis","/v1/eni-configs"]}"#;
        assert_eq!(parse_settings(commands).unwrap(), None);
        assert_eq!(parse_eni_config(commands).unwrap(), EniConfig::Absent);
    }

    #[test]
    fn eni_config_names() {
        assert_eq!(
            parse_eni_config(br#""us-west-2a""#).unwrap(),
            EniConfig::Named("us-west-2a".to_owned())
        );
        let long = format!("\"{}\"", "a".repeat(MAX_NAME + 1));
        for bad in [
            &br#""""#[..],
            br#""Has Spaces""#,
            br"42",
            br"{}",
            b"not json",
            long.as_bytes(),
        ] {
            let e = parse_eni_config(bad).unwrap_err().to_string();
            assert!(e.starts_with("expected an ENIConfig name"), "{e}");
            assert!(e.len() < 140, "{e}");
        }
    }

    #[test]
    fn bad_settings_name_the_key_and_quote_little() {
        let e = parse_settings(br#"{"WARM_IP_TARGET":"five"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"WARM_IP_TARGET: expected a number, got "\"five\"""#
        );
        let e = parse_settings(br#"{"ENABLE_SUBNET_DISCOVERY":1}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"ENABLE_SUBNET_DISCOVERY: expected true or false, got "1""#
        );
        let huge = format!("[{}]", "1,".repeat(10_000) + "1");
        let e = parse_settings(huge.as_bytes()).unwrap_err().to_string();
        assert!(e.len() < 140, "{e}");
    }

    #[test]
    fn siblings_keep_the_authority() {
        let url = hyper::Uri::from_static("http://127.0.0.1:61679/v1/enis");
        assert_eq!(
            sibling(&url, "/v1/eni-configs").to_string(),
            "http://127.0.0.1:61679/v1/eni-configs"
        );
    }
}
