//! A JSON body's nesting depth and its strings, counted byte by byte as it streams past
//! (strings and their escapes skipped): no parse, no allocation. The Price List client checks
//! every answer with it before the SDK's JSON reader, which recurses once per level and makes
//! a `String` of every entry (`aws/answer.rs`).

/// What a JSON answer may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonBound {
    /// Arrays and objects open at once.
    pub max_depth: u32,
    /// Strings in all, keys included.
    pub max_strings: u32,
}

/// An answer past its [`JsonBound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PastBound {
    #[error("the answer nests arrays or objects deeper than {0}")]
    Depth(u32),
    #[error("the answer holds more than {0} strings")]
    Strings(u32),
}

/// The nesting so far of a JSON text fed in chunks, and its strings.
#[derive(Debug, Default)]
pub struct Depth {
    depth: u32,
    deepest: u32,
    strings: u32,
    in_string: bool,
    escaped: bool,
}

impl Depth {
    /// Counts the next chunk; an error as soon as it passes `bound`.
    pub fn feed(&mut self, bytes: &[u8], bound: JsonBound) -> Result<(), PastBound> {
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
                b'"' => {
                    self.in_string = true;
                    self.strings += 1;
                    if self.strings > bound.max_strings {
                        return Err(PastBound::Strings(bound.max_strings));
                    }
                }
                b'[' | b'{' => {
                    self.depth += 1;
                    self.deepest = self.deepest.max(self.depth);
                    if self.depth > bound.max_depth {
                        return Err(PastBound::Depth(bound.max_depth));
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

    /// Strings opened so far, keys included.
    pub fn strings(&self) -> u32 {
        self.strings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(max_depth: u32) -> JsonBound {
        JsonBound {
            max_depth,
            max_strings: u32::MAX,
        }
    }

    #[test]
    fn depth_counts_brackets_outside_strings_across_chunks() {
        let mut d = Depth::default();
        d.feed(br#"{"PriceList": ["{\"a\": [[[\"", "]]]"#, depth(4))
            .unwrap();
        assert_eq!(d.depth(), 2, "brackets inside strings do not count");
        d.feed(br#"", {"x": [1]}]}"#, depth(4)).unwrap();
        assert_eq!((d.depth(), d.deepest(), d.strings()), (0, 4, 4));
        let mut d = Depth::default();
        d.feed(b"[[", depth(3)).unwrap();
        assert_eq!(
            d.feed(b"[[", depth(3)),
            Err(PastBound::Depth(3)),
            "the fourth level, in the next chunk"
        );
        let mut d = Depth::default();
        d.feed(br#"["\\", ["#, depth(2)).unwrap();
        assert_eq!(d.depth(), 2, "an escaped backslash ends no string");
        let strings = JsonBound {
            max_depth: 4,
            max_strings: 3,
        };
        let mut d = Depth::default();
        d.feed(br#"{"PriceList": ["{}", "{\"x\": 1}"#, strings)
            .unwrap();
        assert_eq!(d.feed(br#", "{}"]}"#, strings), Err(PastBound::Strings(3)));
    }
}
