//! `KUBELET_EXTRA_ARGS`: the kubelet flags an environment file gives the kubelet (the AL2 and
//! Ubuntu EKS AMIs' `/etc/default/kubelet` style; the unit runs
//! `kubelet … $KUBELET_EXTRA_ARGS`). The one place nodecap reads and writes that variable:
//! `init`'s `flags` backend merges nodecap's flags in, the kubelet collector and the cluster
//! name lookup read flags out.
//!
//! The assignment's value is unquoted as a shell does (`shell-words`), then split into
//! flags on whitespace, as `$KUBELET_EXTRA_ARGS` is when the unit expands it. Written back, the
//! value is one double-quoted string, with `\`, `"`, `$` and `` ` `` escaped, which both a shell
//! and systemd's `EnvironmentFile=` read back to the same words.

use std::borrow::Cow;

/// The variable's name.
pub const VARIABLE: &str = "KUBELET_EXTRA_ARGS";

/// The environment file is not what a shell would read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("line {line}: {VARIABLE}: cannot unquote the value")]
    Quoting {
        line: usize,
        source: shell_words::ParseError,
    },
    #[error("{flag}: expected a value")]
    MissingValue { flag: String },
}

/// The value of a `KUBELET_EXTRA_ARGS=…` line, if `line` is one.
fn assignment(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix(VARIABLE)
        .and_then(|rest| rest.strip_prefix('='))
}

/// The flags one assignment's value holds.
fn words(value: &str, line: usize) -> Result<Vec<String>, Error> {
    let unquoted = shell_words::split(value).map_err(|source| Error::Quoting { line, source })?;
    Ok(unquoted
        .iter()
        .flat_map(|word| word.split_whitespace())
        .map(str::to_owned)
        .collect())
}

/// Every flag of every `KUBELET_EXTRA_ARGS` assignment in an environment file, in order.
pub fn extra_args(text: &str) -> Result<Vec<String>, Error> {
    let mut args = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if let Some(value) = assignment(line) {
            args.extend(words(value, index + 1)?);
        }
    }
    Ok(args)
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
/// Other lines, and any later assignment, are kept as they are.
pub fn merge(existing: &str, ours: &[String]) -> Result<String, Error> {
    let owned: Vec<&str> = ours
        .iter()
        .filter_map(|flag| flag.split_once('=').map(|(name, _)| name))
        .collect();
    let assign = |mut args: Vec<String>| {
        args.extend(ours.iter().cloned());
        format!("{VARIABLE}=\"{}\"", escape(&args.join(" ")))
    };
    let mut found = false;
    let mut lines: Vec<String> = Vec::new();
    for (index, line) in existing.lines().enumerate() {
        match assignment(line) {
            Some(value) if !found => {
                found = true;
                lines.push(assign(without(&words(value, index + 1)?, &owned)));
            }
            _ => lines.push(line.to_owned()),
        }
    }
    if !found {
        lines.push(assign(Vec::new()));
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
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
        let text = "# kubelet flags\nKUBELET_EXTRA_ARGS=\"--node-labels=a=b --max-pods=29\"\nOTHER=1\n  KUBELET_EXTRA_ARGS='--v=2'\n";
        assert_eq!(
            extra_args(text).unwrap(),
            ["--node-labels=a=b", "--max-pods=29", "--v=2"]
        );
        assert_eq!(
            extra_args("KUBELET_EXTRA_ARGS=--max-pods 7\n").unwrap(),
            ["--max-pods", "7"]
        );
        assert!(matches!(
            extra_args("KUBELET_EXTRA_ARGS=\"--max-pods=7\n").unwrap_err(),
            Error::Quoting { line: 1, .. }
        ));
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
}
