//! How one PutMetricData call can fail, as the publisher counts and retries it, and what of
//! a failed call's answer (its status, code and message, foreign text) reaches the log.

use crate::core::excerpt::{Excerpt, MAX_CHARS, clip};

/// Why a PutMetricData call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorKind {
    /// Throttled (429 or a throttling code): retried with backoff.
    Throttling,
    /// 5xx: retried with backoff.
    Server,
    /// Any other 4xx: the batch is dropped, not retried.
    Validation,
    /// No answer: retried with backoff.
    Network,
    /// An answer longer than the client reads: the batch is dropped, not retried.
    TooLong,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorKind::Throttling => "throttling",
            ErrorKind::Server => "server",
            ErrorKind::Validation => "validation",
            ErrorKind::Network => "network",
            ErrorKind::TooLong => "too_long",
        })
    }
}

/// A failed call's answer, as the publisher counts and logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutFailure {
    pub kind: ErrorKind,
    /// The error code, at most [`MAX_CHARS`] characters.
    pub code: String,
    /// The server's message quoted short ([`Excerpt`]), else `fallback` cut to 200 characters.
    pub message: String,
}

impl PutFailure {
    /// The answer's HTTP status (none: no answer), error code and message; `fallback`
    /// describes the failure when the answer has no message (the SDK's error chain).
    pub fn of(status: Option<u16>, code: &str, message: Option<&str>, fallback: &str) -> Self {
        let code = clip(code, MAX_CHARS);
        let kind = match (status, code.as_str()) {
            (_, "Throttling" | "ThrottlingException") | (Some(429), _) => ErrorKind::Throttling,
            (Some(s), _) if s >= 500 => ErrorKind::Server,
            (Some(_), _) => ErrorKind::Validation,
            (None, _) => ErrorKind::Network,
        };
        let message = message.map_or_else(|| clip(fallback, 200), |m| Excerpt::of(m).to_string());
        PutFailure {
            kind,
            code,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_short_quotes() {
        let long = "x".repeat(30_000_000);
        let f = PutFailure::of(Some(400), "InvalidParameterValue", Some(&long), "");
        assert_eq!(f.kind, ErrorKind::Validation);
        assert!(
            f.message.len() < 120 && f.message.contains("(30000000 bytes)"),
            "{}",
            f.message
        );
        assert_eq!(
            PutFailure::of(Some(503), "", None, "").kind,
            ErrorKind::Server
        );
        assert_eq!(
            PutFailure::of(Some(400), "ThrottlingException", None, "").kind,
            ErrorKind::Throttling
        );
        assert_eq!(
            PutFailure::of(Some(429), "", None, "").kind,
            ErrorKind::Throttling
        );
        // 200 characters and an ellipsis.
        assert_eq!(
            PutFailure::of(None, "", None, &long)
                .message
                .chars()
                .count(),
            201
        );
        assert!(PutFailure::of(Some(400), &long, None, "").code.len() <= 4 * MAX_CHARS);
    }
}
