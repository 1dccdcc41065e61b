//! Following `NextToken`s without following them forever: the tokens a listing has given,
//! remembered by a keyed hash, so a repeated one (a server going round in circles) is caught
//! and memory per page stays constant however long a hostile token is.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

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
