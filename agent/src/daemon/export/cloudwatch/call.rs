//! How one PutMetricData call can fail, as the publisher counts and retries it.

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
