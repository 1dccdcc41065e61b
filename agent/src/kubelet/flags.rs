//! `KUBELET_EXTRA_ARGS`: the kubelet flags an environment file gives the kubelet (the AL2 and
//! Ubuntu EKS AMIs' `/etc/default/kubelet` style; the unit runs
//! `kubelet … $KUBELET_EXTRA_ARGS`). The one place nodecap reads and writes that variable:
//! `init`'s `flags` backend merges nodecap's flags in, the kubelet collector and the cluster
//! name lookup read flags out.
//!
//! The file is read as both of its readers read it: `bash` when a script sources it, and
//! systemd's `EnvironmentFile=` when the unit starts. Both take `NAME=value` lines, single and
//! double quotes (which may span lines), backslash escapes and continuations, and comments on
//! lines of their own; the last assignment of a name wins. `export NAME=value` is bash's
//! alone: systemd ignores the whole line ("Ignoring invalid environment assignment"), so
//! flags written that way never reached a kubelet started by systemd. Read, it counts as bash
//! counts it; rewritten, nodecap drops the `export`, and both readers see the flags.
//! Where they disagree — `$` and backquotes (bash expands them, systemd does not), an unquoted
//! space (bash runs the rest as a command), `;`, `|`, `&`, redirections — nodecap refuses the
//! file with the line, rather than guess one reading and lose flags under the other.
//! (Hand-written: `shell-words` splits a line, but cannot say where a quoted value spanning
//! lines ends, nor refuse what the two readers read differently.)
//!
//! The effective value is split into flags on whitespace, as `$KUBELET_EXTRA_ARGS` is when
//! the unit expands it. Written back, it is one double-quoted string, with `\`, `"`, `$` and
//! `` ` `` escaped, which both readers read back to the same words; the rest of the file is
//! kept byte for byte.

use std::borrow::Cow;
use std::ops::Range;

/// The variable's name.
pub const VARIABLE: &str = "KUBELET_EXTRA_ARGS";

/// The environment file is not one nodecap can read the way both bash and systemd do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "line {line}: expected NAME=value (optionally after `export `), a comment or a blank line"
    )]
    NotAssignment { line: usize },
    #[error("line {line}: a quote opened here is never closed")]
    Unterminated { line: usize },
    #[error(
        "line {line}: {VARIABLE}: {found:?} outside single quotes: bash expands it and systemd's EnvironmentFile= does not; put the flags in single quotes or escape it"
    )]
    Expansion { line: usize, found: char },
    #[error(
        "line {line}: {VARIABLE}: {found:?} unquoted: a shell would not read it as part of the value; quote the whole value"
    )]
    Unquoted { line: usize, found: char },
    #[error("{flag}: expected a value")]
    MissingValue { flag: String },
    #[error("{VARIABLE}: the merged file would not read back to the same flags; nothing written")]
    Unmergeable,
}

/// One `NAME=value` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement<'a> {
    /// Bytes of the file it takes, from its line's start to its last line's end (the
    /// newline excluded): more than one line when a quote or a continuation spans lines.
    span: Range<usize>,
    indent: &'a str,
    name: &'a str,
    /// The value as bash and systemd read it (for [`VARIABLE`]; others are only skipped).
    value: String,
}

/// Quoting state while reading a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

/// Every statement of an environment file, in order.
fn statements(text: &str) -> Result<Vec<Statement<'_>>, Error> {
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let end_of_line = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
        let physical = &text[pos..end_of_line];
        let trimmed = physical.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            pos = end_of_line + 1;
            continue;
        }
        let indent = &physical[..physical.len() - trimmed.len()];
        let body = match trimmed.strip_prefix("export") {
            Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start_matches([' ', '\t']),
            _ => trimmed,
        };
        let name = body
            .split_once('=')
            .map(|(name, _)| name)
            .filter(|name| is_name(name))
            .ok_or_else(|| Error::NotAssignment { line: line_of(pos) })?;
        let value_start = end_of_line - body.len() + name.len() + 1;
        let (value, end) = read_value(text, value_start, name == VARIABLE, &line_of)?;
        out.push(Statement {
            span: pos..end,
            indent,
            name,
            value,
        });
        pos = end + 1;
    }
    Ok(out)
}

fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Reads the value starting at byte `start`: returns it unquoted and the byte where its
/// statement's last line ends. `strict`: refuse what bash and systemd read differently.
fn read_value(
    text: &str,
    start: usize,
    strict: bool,
    line_of: &dyn Fn(usize) -> usize,
) -> Result<(String, usize), Error> {
    let mut value = String::new();
    let mut quote = Quote::None;
    let mut opened = start;
    let mut chars = text[start..].char_indices().map(|(i, c)| (start + i, c));
    while let Some((at, c)) = chars.next() {
        match (quote, c) {
            (Quote::None, '\n') => return Ok((value, at)),
            (Quote::None, ' ' | '\t') => {
                // Only blanks may follow, up to the end of the line.
                let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
                let rest = text[at..end].trim_start_matches([' ', '\t']);
                return match rest.chars().next() {
                    Some(found) if strict => Err(Error::Unquoted {
                        line: line_of(at),
                        found,
                    }),
                    _ => Ok((value, end)),
                };
            }
            (Quote::None, '\'') => (quote, opened) = (Quote::Single, at),
            (Quote::None, '"') => (quote, opened) = (Quote::Double, at),
            (Quote::Single, '\'') | (Quote::Double, '"') => quote = Quote::None,
            (Quote::None | Quote::Double, '\\') => match chars.next() {
                // A continuation: the next line goes on with the value.
                Some((_, '\n')) => {}
                Some((_, next @ ('"' | '\\' | '$' | '`'))) => value.push(next),
                Some((_, next)) => {
                    if quote == Quote::Double {
                        value.push('\\');
                    }
                    value.push(next);
                }
                None => return Err(Error::Unterminated { line: line_of(at) }),
            },
            (Quote::None | Quote::Double, found @ ('$' | '`')) if strict => {
                return Err(Error::Expansion {
                    line: line_of(at),
                    found,
                });
            }
            (Quote::None, found @ (';' | '&' | '|' | '<' | '>' | '(' | ')')) if strict => {
                return Err(Error::Unquoted {
                    line: line_of(at),
                    found,
                });
            }
            (_, c) => value.push(c),
        }
    }
    match quote {
        Quote::None => Ok((value, text.len())),
        Quote::Single | Quote::Double => Err(Error::Unterminated {
            line: line_of(opened),
        }),
    }
}

/// The flags of the effective (last) `KUBELET_EXTRA_ARGS` assignment, as the unit gets them.
pub fn extra_args(text: &str) -> Result<Vec<String>, Error> {
    Ok(statements(text)?
        .into_iter()
        .rfind(|s| s.name == VARIABLE)
        .map(|s| words(&s.value))
        .unwrap_or_default())
}

/// A value split into flags on whitespace, as `$KUBELET_EXTRA_ARGS` expands unquoted.
fn words(value: &str) -> Vec<String> {
    value.split_whitespace().map(str::to_owned).collect()
}

/// Every value given to `flag` (`--flag=value` or `--flag value`), in order: the kubelet
/// takes the last one for a single value.
pub fn values_of<'a>(args: &'a [String], flag: &str) -> Result<Vec<&'a str>, Error> {
    let mut values = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        match word.split_once('=') {
            Some((name, value)) if name == flag => values.push(value),
            None if word == flag => match words.next() {
                Some(value) => values.push(value.as_str()),
                None => {
                    return Err(Error::MissingValue {
                        flag: flag.to_owned(),
                    });
                }
            },
            _ => {}
        }
    }
    Ok(values)
}

/// `args` without `--name=value` and `--name value` for every name in `owned`.
fn without(args: &[String], owned: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let name = word.split_once('=').map_or(word.as_str(), |(n, _)| n);
        if owned.contains(&name) {
            if !word.contains('=') {
                words.next();
            }
            continue;
        }
        out.push(word.clone());
    }
    out
}

/// Sets `KUBELET_EXTRA_ARGS` in an environment file to the user's own flags followed by
/// `ours` (each `--name=value`): the user's flags stay, the flags nodecap sets are replaced.
/// The effective (last) assignment is rewritten in place, keeping its indentation (an
/// `export ` before it is dropped: systemd ignores such a line); every other byte of the
/// file is kept. Without one, an assignment is appended.
pub fn merge(existing: &str, ours: &[String]) -> Result<String, Error> {
    let owned: Vec<&str> = ours
        .iter()
        .filter_map(|flag| flag.split_once('=').map(|(name, _)| name))
        .collect();
    let assign = |indent: &str, mut args: Vec<String>| {
        args.extend(ours.iter().cloned());
        format!("{indent}{VARIABLE}=\"{}\"", escape(&args.join(" ")))
    };
    let effective = statements(existing)?
        .into_iter()
        .rfind(|s| s.name == VARIABLE);
    let merged = match effective {
        Some(statement) => {
            let line = assign(statement.indent, without(&words(&statement.value), &owned));
            format!(
                "{}{line}{}",
                &existing[..statement.span.start],
                &existing[statement.span.end..]
            )
        }
        None => {
            let mut out = existing.to_owned();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            // A file ending in a backslash continuation would take the next line into its
            // last value: a blank line ends it first.
            if statements(&out)?
                .last()
                .is_some_and(|s| s.span.end == out.len())
            {
                out.push('\n');
            }
            out.push_str(&assign("", Vec::new()));
            out.push('\n');
            out
        }
    };
    // What is written must read back to the user's flags and nodecap's.
    if !extra_args(&merged)?.ends_with(ours) {
        return Err(Error::Unmergeable);
    }
    Ok(merged)
}

/// The inside of a double-quoted shell string.
fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['\\', '"', '$', '`']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn reads_the_flags_as_the_unit_gets_them() {
        // The last assignment wins, indented or exported; earlier ones are dead.
        let text = "# kubelet flags\nKUBELET_EXTRA_ARGS=\"--node-labels=a=b --max-pods=29\"\nOTHER=$HOME\n  export KUBELET_EXTRA_ARGS='--v=2 --x=$y'\n";
        assert_eq!(extra_args(text).unwrap(), ["--v=2", "--x=$y"]);
        // Continuations, quotes spanning lines, a quoted part inside a word.
        let text = "KUBELET_EXTRA_ARGS=\"--a=1 \\\n  --b=2\n  --c=3\"\n";
        assert_eq!(extra_args(text).unwrap(), ["--a=1", "--b=2", "--c=3"]);
        let text = "KUBELET_EXTRA_ARGS=--node-labels=\"a=b c\"\n";
        assert_eq!(extra_args(text).unwrap(), ["--node-labels=a=b", "c"]);
        assert_eq!(
            extra_args("KUBELET_EXTRA_ARGS=\n").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(extra_args("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn what_bash_and_systemd_read_differently_is_refused() {
        for (text, expected) in [
            (
                "KUBELET_EXTRA_ARGS=\"--max-pods=7\n",
                "line 1: a quote opened here is never closed",
            ),
            (
                "KUBELET_EXTRA_ARGS=--max-pods 7\n",
                "line 1: KUBELET_EXTRA_ARGS: '7' unquoted",
            ),
            (
                "A=1\nKUBELET_EXTRA_ARGS=\"--x=$HOME\"\n",
                "line 2: KUBELET_EXTRA_ARGS: '$' outside single quotes",
            ),
            (
                "KUBELET_EXTRA_ARGS=`id`\n",
                "line 1: KUBELET_EXTRA_ARGS: '`' outside single quotes",
            ),
            (
                "KUBELET_EXTRA_ARGS=--a;reboot\n",
                "line 1: KUBELET_EXTRA_ARGS: ';' unquoted",
            ),
            (
                "KUBELET_EXTRA_ARGS=\"--a\" # note\n",
                "line 1: KUBELET_EXTRA_ARGS: '#' unquoted",
            ),
            (
                "if true; then\nKUBELET_EXTRA_ARGS=--a\nfi\n",
                "line 1: expected NAME=value",
            ),
        ] {
            let err = extra_args(text).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{text:?}: {err}");
            assert_eq!(merge(text, &[]).unwrap_err().to_string(), err);
        }
    }

    #[test]
    fn values_in_both_spellings() {
        let args = strings(&["--max-pods=29", "--v=2", "--max-pods", "30"]);
        assert_eq!(values_of(&args, "--max-pods").unwrap(), ["29", "30"]);
        assert!(values_of(&args, "--kube-reserved").unwrap().is_empty());
        let dangling = strings(&["--max-pods"]);
        assert_eq!(
            values_of(&dangling, "--max-pods").unwrap_err().to_string(),
            "--max-pods: expected a value"
        );
    }

    #[test]
    fn merge_keeps_user_flags_and_lines() {
        let ours = strings(&["--max-pods=29", "--kube-reserved=cpu=70m,memory=574Mi"]);
        let existing = "# managed by the AMI\nKUBELET_EXTRA_ARGS=\"--node-labels=a=b --max-pods 58 --kube-reserved=cpu=1\"\nOTHER=1\n";
        let merged = merge(existing, &ours).unwrap();
        assert_eq!(
            merged,
            "# managed by the AMI\nKUBELET_EXTRA_ARGS=\"--node-labels=a=b --max-pods=29 --kube-reserved=cpu=70m,memory=574Mi\"\nOTHER=1\n"
        );
        assert_eq!(merge(&merged, &ours).unwrap(), merged, "idempotent");
        assert_eq!(
            merge("", &ours).unwrap(),
            "KUBELET_EXTRA_ARGS=\"--max-pods=29 --kube-reserved=cpu=70m,memory=574Mi\"\n"
        );
        // What a shell would expand is escaped, so the file reads back to the same words.
        let odd = merge("KUBELET_EXTRA_ARGS='--x=$HOME'\n", &ours).unwrap();
        assert!(
            odd.starts_with("KUBELET_EXTRA_ARGS=\"--x=\\$HOME --max-pods=29"),
            "{odd}"
        );
        assert_eq!(extra_args(&odd).unwrap()[0], "--x=$HOME");
    }

    #[test]
    fn merge_rewrites_the_effective_assignment_in_place() {
        let ours = strings(&["--max-pods=29"]);
        let existing = "KUBELET_EXTRA_ARGS=--v=1\n  export KUBELET_EXTRA_ARGS=\"--node-labels=a=b \\\n --register-with-taints=t=1:NoSchedule\"\nTAIL=1";
        assert_eq!(
            merge(existing, &ours).unwrap(),
            "KUBELET_EXTRA_ARGS=--v=1\n  KUBELET_EXTRA_ARGS=\"--node-labels=a=b --register-with-taints=t=1:NoSchedule --max-pods=29\"\nTAIL=1"
        );
        assert_eq!(
            merge("A=1", &ours).unwrap(),
            "A=1\nKUBELET_EXTRA_ARGS=\"--max-pods=29\"\n"
        );
    }
}
