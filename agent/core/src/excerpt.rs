//! How a foreign value appears in an error or a log line: quoted, and at most
//! [`MAX_CHARS`] characters of it. A 50 MB identity document that does not parse must make a
//! one-line error, not a 50 MB one; a bad value logged every tick must not fill the disk.
//! Every error that quotes what IMDS, ipamd, the EC2 API, a file or the environment gave
//! quotes it through [`Excerpt`].

use std::fmt;

/// Characters of a foreign value an error quotes; the rest is counted, not shown.
pub const MAX_CHARS: usize = 64;

/// The start of a foreign value and its full length: displays as `"the start…" (N bytes)`
/// when cut, and as `"the value"` when whole.
#[derive(Clone, PartialEq, Eq)]
pub struct Excerpt {
    head: String,
    /// The whole value's length in bytes.
    len: usize,
}

impl Excerpt {
    /// The first [`MAX_CHARS`] characters of `text`.
    pub fn of(text: &str) -> Self {
        let end = text
            .char_indices()
            .nth(MAX_CHARS)
            .map_or(text.len(), |(i, _)| i);
        Excerpt {
            head: text[..end].to_owned(),
            len: text.len(),
        }
    }

    /// The first [`MAX_CHARS`] characters of `bytes`, invalid UTF-8 shown as `\u{FFFD}`.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        // Four bytes a character at most: enough of the start for MAX_CHARS characters.
        let start = &bytes[..bytes.len().min(MAX_CHARS * 4)];
        let mut excerpt = Excerpt::of(&String::from_utf8_lossy(start));
        excerpt.len = bytes.len();
        excerpt
    }

    /// Whether part of the value was left out.
    pub fn is_cut(&self) -> bool {
        self.head.len() < self.len
    }
}

impl From<&str> for Excerpt {
    fn from(text: &str) -> Self {
        Excerpt::of(text)
    }
}

impl fmt::Display for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_cut() {
            write!(f, "\"{}…\" ({} bytes)", self.head.escape_debug(), self.len)
        } else {
            write!(f, "{:?}", self.head)
        }
    }
}

impl fmt::Debug for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A library's message about foreign input (a JSON or YAML parser's, which may quote the
/// input), cut to `max` characters.
pub fn clip(message: &str, max: usize) -> String {
    match message.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &message[..end]),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_quoted_whole() {
        assert_eq!(Excerpt::of("m5.large").to_string(), "\"m5.large\"");
        assert_eq!(Excerpt::of("a\"b\n").to_string(), r#""a\"b\n""#);
        assert!(!Excerpt::of(&"x".repeat(MAX_CHARS)).is_cut());
    }

    #[test]
    fn long_values_show_their_start_and_size() {
        let big = "é".repeat(10_000_000);
        let shown = Excerpt::of(&big).to_string();
        assert_eq!(
            shown,
            format!("\"{}…\" (20000000 bytes)", "é".repeat(MAX_CHARS))
        );
        let bytes = [b'{'; 1_000_000];
        assert_eq!(
            Excerpt::of_bytes(&bytes).to_string(),
            format!("\"{}…\" (1000000 bytes)", "{".repeat(MAX_CHARS))
        );
        assert_eq!(
            Excerpt::of_bytes(b"\xff\xfeok").to_string(),
            "\"\u{fffd}\u{fffd}ok\""
        );
    }

    #[test]
    fn messages_are_clipped() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("0123456789abc", 10), "0123456789…");
    }
}
