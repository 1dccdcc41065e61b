//! Following `NextToken`s without following them forever: the tokens a listing has given,
//! remembered by a keyed hash, so a repeated one (a server going round in circles) is caught
//! and memory per page stays constant however long a hostile token is; and the [`Deadline`]
//! every page of a command's listings shares.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// When every listing of one command or cycle must be done: started once, passed to each
/// listing, so the pages of all of them together take at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    started: tokio::time::Instant,
    limit: Duration,
}

impl Deadline {
    /// `limit` from now.
    pub fn after(limit: Duration) -> Self {
        Deadline {
            started: tokio::time::Instant::now(),
            limit,
        }
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The instant it passes (far in the future for a limit too long to add).
    pub fn instant(&self) -> tokio::time::Instant {
        self.started
            .checked_add(self.limit)
            .unwrap_or_else(|| self.started + Duration::from_secs(100 * 365 * 86_400))
    }

    /// Time since it started, to the millisecond.
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX))
    }
}

#[derive(Debug, Default)]
pub struct PageTokens {
    seen: HashSet<u64>,
    hasher: RandomState,
}

impl PageTokens {
    /// Whether `token` was not given before in this listing (and remembers it).
    pub fn is_new(&mut self, token: &str) -> bool {
        self.seen.insert(self.hasher.hash_one(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_token_is_caught() {
        let mut tokens = PageTokens::default();
        assert!(tokens.is_new("a"));
        assert!(tokens.is_new("b"));
        assert!(!tokens.is_new("a"));
    }
}
