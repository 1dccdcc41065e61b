//! A JSON body's nesting depth, counted byte by byte as it streams past (strings and their
//! escapes skipped): no parse, no allocation. The Price List client checks every answer with
//! it before the SDK's JSON reader, which recurses once per level (`aws/answer.rs`).

/// An answer nesting arrays or objects deeper than the bound.
#[derive(Debug, thiserror::Error)]
#[error("the answer nests arrays or objects deeper than {0}")]
pub struct TooDeep(pub u32);

/// The nesting so far of a JSON text fed in chunks.
#[derive(Debug, Default)]
pub struct Depth {
    depth: u32,
    deepest: u32,
    in_string: bool,
    escaped: bool,
}

impl Depth {
    /// Counts the next chunk; an error as soon as the nesting passes `max`.
    pub fn feed(&mut self, bytes: &[u8], max: u32) -> Result<(), TooDeep> {
        for &b in bytes {
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    self.depth += 1;
                    self.deepest = self.deepest.max(self.depth);
                    if self.depth > max {
                        return Err(TooDeep(max));
                    }
                }
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }

    /// Arrays and objects open now.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// The deepest nesting seen so far.
    pub fn deepest(&self) -> u32 {
        self.deepest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings_across_chunks() {
        let mut d = Depth::default();
        d.feed(br#"{"PriceList": ["{\"a\": [[[\"", "]]]"#, 4)
            .unwrap();
        assert_eq!(d.depth(), 2, "brackets inside strings do not count");
        d.feed(br#"", {"x": [1]}]}"#, 4).unwrap();
        assert_eq!((d.depth(), d.deepest()), (0, 4));
        let mut d = Depth::default();
        d.feed(b"[[", 3).unwrap();
        assert!(
            d.feed(b"[[", 3).is_err(),
            "the fourth level, in the next chunk"
        );
        let mut d = Depth::default();
        d.feed(br#"["\\", ["#, 2).unwrap();
        assert_eq!(d.depth(), 2, "an escaped backslash ends no string");
    }
}
