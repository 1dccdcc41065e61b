//! The CloudWatch publisher's error path: a failed PutMetricData answer's status, error code
//! and message (the server's text, any length) become a kind and a log line's parts that are
//! always short, and the kind follows the status and code as the publisher retries by it.
#![no_main]
// A fuzz target reports a finding by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use nodecap::telemetry::cloudwatch::ErrorKind;
use nodecap::telemetry::cloudwatch::call::PutFailure;

fuzz_target!(|data: &[u8]| {
    // Two bytes of status (0: no answer), then code, message and fallback, NUL-separated.
    let (status, rest) = match data {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => return,
    };
    let status = (status != 0).then_some(status % 1000);
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.split('\0');
    let code = parts.next().unwrap_or_default();
    let message = parts.next();
    let fallback = parts.next().unwrap_or_default();
    let failure = PutFailure::of(status, code, message, fallback);
    assert!(failure.code.chars().count() <= 65, "{:?}", failure.code);
    assert!(
        failure.message.len() <= 1024,
        "{} bytes",
        failure.message.len()
    );
    let throttling = matches!(code, "Throttling" | "ThrottlingException") || status == Some(429);
    let expected = match status {
        _ if throttling => ErrorKind::Throttling,
        Some(s) if s >= 500 => ErrorKind::Server,
        Some(_) => ErrorKind::Validation,
        None => ErrorKind::Network,
    };
    assert_eq!(failure.kind, expected, "{status:?} {code:?}");
});
