//! How an error is told: every error type in nodecap says only what its own step was, names
//! what it worked on (a path, a URL, a key), and keeps the failure underneath as its
//! `source()`. [`Chain`] prints the whole story on one line, `what failed: why: why`, and is
//! the only place that walks a chain; `main`, the logs and collector statuses all use it.

use std::fmt;

/// An error and its causes on one line, joined by `": "`.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

/// The innermost cause: what a layered library error (hyper, the AWS SDK) finally comes down
/// to, such as "Connection refused (os error 111)".
pub fn root_cause<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> &'a (dyn std::error::Error + 'static) {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("config /etc/nodecap/config.toml: cannot read")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn one_line_with_every_cause() {
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(
            Chain(&e).to_string(),
            "config /etc/nodecap/config.toml: cannot read: disk on fire"
        );
        assert_eq!(root_cause(&e).to_string(), "disk on fire");
    }
}
