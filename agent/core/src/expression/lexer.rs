//! What CEL's lexer sees, as far as the complexity bound needs it: which characters are
//! operators and brackets, and which are inside comments and string literals, lexed as CEL's
//! grammar lexes them (cel-spec `doc/langdef.md` "Syntax"; cel-go `parser/gen/CEL.g4`):
//!
//! - a comment is `//` to the end of the line;
//! - a string is quoted with `"`, `'`, `"""` or `'''`; a backslash escapes the next character,
//!   except in a raw string (an `r` or `R` prefix), where `r"\"` is a whole string;
//! - a bytes literal is a string with a `b` or `B` prefix (`br"…"` raw);
//! - a prefix is a prefix only as a whole identifier directly before the quote: `xr"…"` is
//!   the identifier `xr` and a string.
//!
//! A counter that saw quotes inside comments and raw strings the way an escaping lexer does
//! could be told that 200 operators were inside a string, and let seven nested `map`s
//! through.

/// Operators and brackets outside comments and literals: each of `( [ { . , ? : + - * / %
/// < > = ! & |` counts one, and so does the keyword `in`. Each is one level of the parser's
/// and the evaluator's recursion at most.
pub fn operators(text: &str) -> usize {
    let b = text.as_bytes();
    let mut count = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            i = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |n| i + n);
        } else if c == b'"' || c == b'\'' {
            i = past_string(b, i, false);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &b[start..i];
            if matches!(b.get(i), Some(b'"' | b'\'')) && is_prefix(word) {
                let raw = word.iter().any(|c| c.eq_ignore_ascii_case(&b'r'));
                i = past_string(b, i, raw);
            } else if word == b"in" {
                count += 1;
            }
        } else {
            if b"([{.,?:+-*/%<>=!&|".contains(&c) {
                count += 1;
            }
            i += 1;
        }
    }
    count
}

/// `r`, `b`, `br` in either case: what may stand before a quote as a literal's prefix.
fn is_prefix(word: &[u8]) -> bool {
    matches!(word.to_ascii_lowercase().as_slice(), b"r" | b"b" | b"br")
}

/// The index just past the string literal whose opening quote is at `start` (the end of the
/// text when it does not close: CEL refuses that text anyway).
fn past_string(b: &[u8], start: usize, raw: bool) -> usize {
    let quote = b[start];
    let triple = b.get(start..start + 3) == Some(&[quote; 3][..]);
    let mut i = start + if triple { 3 } else { 1 };
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && !raw {
            i += 2;
        } else if triple {
            if b.get(i..i + 3) == Some(&[quote; 3][..]) {
                return i + 3;
            }
            i += 1;
        } else if c == quote {
            return i + 1;
        } else if c == b'\n' || c == b'\r' {
            // A single-quoted string cannot span lines: CEL's lexer stops here.
            return i;
        } else {
            i += 1;
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_cel_lexes_as_operators() {
        assert_eq!(operators("max_pods + 1"), 1);
        assert_eq!(operators("vcpus in [1, 2]"), 3);
        assert_eq!(operators(r#"size("((((") + 1"#), 2);
        assert_eq!(operators(r#"'a\'(' + b"x(" + '''(('(''' + """"(""""#), 3);
        // A raw string ends at its first quote: the backslash does not escape it.
        assert_eq!(operators(r#"size(r"\") + (1)"#), 3);
        assert_eq!(operators(r#"size(R'\') + (1)"#), 3);
        assert_eq!(operators(r#"size(br"\") + (1)"#), 3);
        // Not a prefix: the identifier xr, then an escaping string.
        assert_eq!(operators(r#"xr"\"(" + 1"#), 1);
        // A comment hides everything to the end of its line, quotes too.
        assert_eq!(operators("1 // \" ((((\n + (1)"), 2);
        assert_eq!(operators("// ((((((("), 0);
        // The two ways the old counter was bypassed (the third hostile review): code that an
        // escaping lexer takes for the inside of a string, after a raw string or a comment
        // holding a quote. Seven nested maps: 5 operators and brackets each.
        let code = format!("{}x{}", "[1,2].map(x, ".repeat(7), ")".repeat(7));
        let hidden = format!(r#"size(r"\") + {code} + size("x")"#);
        assert_eq!(operators(&hidden), 4 + 35, "{hidden}");
        let commented = format!("1 // \"\n + {code} + \"\"");
        assert_eq!(operators(&commented), 2 + 35, "{commented}");
    }
}
