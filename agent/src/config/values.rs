//! One value checked: a positive count, a CEL expression, a cluster name, an EC2 id, a
//! region, a URL, a duration. Each error names its key and what was expected.

use std::time::Duration;

use crate::core::expression::Expression;

use super::error::{Error, value_error};

pub(super) fn positive(key: &'static str, value: Option<u32>) -> Result<Option<u32>, Error> {
    match value {
        Some(0) => Err(value_error(key, "a positive integer", 0)),
        v => Ok(v),
    }
}

/// A CEL expression, parsed now so a bad one stops here (exit 64) with its position.
pub(super) fn expression(
    key: &'static str,
    text: Option<String>,
) -> Result<Option<Expression>, Error> {
    text.map(|text| Expression::parse(&text).map_err(|error| Error::Expression { key, error }))
        .transpose()
}

/// An EKS cluster name: 1 to 100 letters, digits, '-' and '_', starting with a letter or
/// digit (EKS's own rule).
pub(super) fn cluster_name(key: &'static str, name: String) -> Result<String, Error> {
    let ok = name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(name)
    } else {
        Err(value_error(
            key,
            "an EKS cluster name (1 to 100 letters, digits, '-' and '_')",
            name,
        ))
    }
}

/// An EC2 id ([`crate::aws::ec2::is_resource_id`]).
pub(super) fn ec2_id(key: &'static str, prefix: &'static str, id: String) -> Result<String, Error> {
    if crate::aws::ec2::is_resource_id(prefix, &id) {
        Ok(id)
    } else {
        Err(value_error(
            key,
            match prefix {
                "vpc-" => "a VPC id such as vpc-0123456789abcdef0",
                _ => "subnet ids such as subnet-0123456789abcdef0",
            },
            id,
        ))
    }
}

/// Whether `region` has a region name's shape (us-east-1): lowercase letters, digits and
/// dashes, at most 32.
pub fn is_region_name(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A region name such as us-east-1.
pub(super) fn aws_region_name(key: &'static str, region: String) -> Result<String, Error> {
    if is_region_name(&region) {
        Ok(region)
    } else {
        Err(value_error(key, "a region such as us-east-1", region))
    }
}

/// An `http://HOST[:PORT]/PATH` URL (ipamd serves plain HTTP on loopback).
pub(super) fn http_url(
    key: &'static str,
    expected: &'static str,
    value: Option<String>,
    default: hyper::Uri,
) -> Result<hyper::Uri, Error> {
    let Some(value) = value else {
        return Ok(default);
    };
    let valid = value
        .strip_prefix("http://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    match value.parse::<hyper::Uri>() {
        Ok(uri) if valid => Ok(uri),
        _ => Err(value_error(key, expected, value)),
    }
}

/// An interval key's value: a duration from 1 s to 1 h.
pub(super) fn interval_key(key: &'static str, text: &str) -> Result<Duration, Error> {
    parse_duration(text)
        .filter(|d| (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(d))
        .ok_or_else(|| value_error(key, "a duration from 1s to 1h such as 60s or 2m", text))
}

/// `500ms`, `1s`, `60s`, `2m`, `1h` (`humantime`'s syntax), or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    match text.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(text).ok(),
    }
}
