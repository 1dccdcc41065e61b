//! The configuration file's shape, checked before the TOML parser builds anything: a 1 MiB
//! file of 500,000 nested arrays or one key of 300,000 dotted parts made the parser build as
//! many nested values (48–58 MiB, past `init`'s 32 MiB budget) before the clear error came.
//! nodecap's keys are two levels deep (a section and its key) and their values scalars, so
//! the bounds below are generous; they are counted outside strings and comments, as TOML
//! lexes them (basic strings with escapes, literal strings, both multi-line forms).

/// Arrays and tables (`[` and `{`) open at once, at most.
pub const MAX_DEPTH: u32 = 16;
/// Dots outside strings and comments on one line, at most: a dotted key's parts less one
/// (TOML keys cannot span lines), and the decimal points of the line's numbers.
const MAX_DOTS: u32 = 64;

/// Where a text's shape is past a bound: its line, and which bound.
#[derive(Debug, PartialEq, Eq)]
pub struct TooDeep {
    pub line: usize,
    pub problem: String,
}

/// Checks `text` against [`MAX_DEPTH`] and [`MAX_DOTS`]; anything else (an unterminated
/// string, a bad token) is left for the parser to report.
pub fn check(text: &str) -> Result<(), TooDeep> {
    let b = text.as_bytes();
    let (mut i, mut line, mut depth, mut dots) = (0, 1, 0u32, 0u32);
    let past = |line, problem: String| Err(TooDeep { line, problem });
    while i < b.len() {
        match b[i] {
            b'\n' => {
                line += 1;
                dots = 0;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            quote @ (b'"' | b'\'') => {
                let triple: &[u8] = if quote == b'"' { b"\"\"\"" } else { b"'''" };
                let multi = b[i..].starts_with(triple);
                let end: &[u8] = if multi { triple } else { &triple[..1] };
                i += end.len();
                while i < b.len() {
                    if quote == b'"' && b[i] == b'\\' {
                        if b.get(i + 1) == Some(&b'\n') {
                            line += 1;
                        }
                        i += 2;
                        continue;
                    }
                    if b[i] == b'\n' {
                        if !multi {
                            break;
                        }
                        line += 1;
                    }
                    if b[i..].starts_with(end) {
                        i += end.len();
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return past(
                        line,
                        format!("arrays or tables nested deeper than {MAX_DEPTH}"),
                    );
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'.' => {
                dots += 1;
                if dots > MAX_DOTS {
                    return past(
                        line,
                        format!(
                            "more than {MAX_DOTS} dots outside strings (a dotted key of that many parts?)"
                        ),
                    );
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_and_dots_are_counted_outside_strings_and_comments() {
        assert_eq!(
            check("[kubelet]\nbackend = \"flags\"\nx = [[1, 2], {a = 1.5}]\n"),
            Ok(())
        );
        let deep = format!("x = {}{}\n", "[".repeat(17), "]".repeat(17));
        assert_eq!(check(&deep).unwrap_err().line, 1);
        let in_strings = format!(
            "a = \"{0}\\\"{0}\"\nb = '{0}'\nc = \"\"\"\n{0}\n\"\"\"\n# {0}\nd = '''{0}'''\n",
            "[{.".repeat(100)
        );
        assert_eq!(check(&in_strings), Ok(()));
        let dotted = format!("{} = 1\n", vec!["a"; 66].join("."));
        let err = check(&format!("[run]\n\n{dotted}")).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.problem.contains("more than 64 dots"), "{}", err.problem);
        let multi_line = format!("a = \"\"\"\n\n\"\"\"\n{}\n", "[".repeat(17));
        assert_eq!(check(&multi_line).unwrap_err().line, 4);
    }
}
