//! One value checked: a positive count, a CEL expression, a cluster name, an EC2 id, a
//! region, a URL, a duration. Each error names its key and what was expected.

use std::time::Duration;

use crate::core::expression::Expression;
use crate::core::names::InvalidName;

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

/// A name of its own type ([`crate::core::names`]): a cluster name, a region, a VPC or subnet
/// id, a node name; the error names `key` and what the type expects.
pub(super) fn name<T>(key: &'static str, value: String) -> Result<T, Error>
where
    T: TryFrom<String, Error = InvalidName>,
{
    T::try_from(value).map_err(|e| value_error(key, e.expected, e.got))
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
