//! How an error is told: every error type in nodecap says only what its own step was, names
//! what it worked on (a path, a URL, a key), and keeps the failure underneath as its
//! `source()`. [`Chain`] prints the whole story on one line, `what failed: why: why`, and is
//! the only place that walks a chain; `main`, the logs and collector statuses all use it.
//!
//! Foreign values are quoted short where they enter an error ([`Excerpt`]); as a last guard,
//! [`Chain`] cuts any one cause at [`MAX_CAUSE`] characters, so no library message that
//! quotes its input whole can make a line of megabytes.
//!
//! [`Excerpt`]: crate::core::excerpt::Excerpt

use std::fmt;

/// An error and its causes on one line, joined by `": "`.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

/// The most characters of one cause a [`Chain`] shows.
const MAX_CAUSE: usize = 512;

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = |f: &mut fmt::Formatter<'_>, e: &dyn std::error::Error| {
            f.write_str(&crate::core::excerpt::clip(&e.to_string(), MAX_CAUSE))
        };
        one(f, self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            f.write_str(": ")?;
            one(f, c)?;
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
        let e = Outer(std::io::Error::other("x".repeat(10_000)));
        let line = Chain(&e).to_string();
        assert!(
            line.ends_with(&format!(": {}…", "x".repeat(MAX_CAUSE))),
            "{line}"
        );
    }
}
