//! The crate's shape, checked: which module may import which (the arrows of `src/lib.rs`),
//! no import cycle between files, and a pure core that names no CLI, HTTP, AWS, async or I/O
//! crate. Read from the source, so a new `use` that points the wrong way fails here, naming
//! the file and the import.
//!
//! An import is any `crate::…` or `super::…` path outside comments and `#[cfg(test)]`
//! modules, inline or in a `tests.rs` of their own (tests may reach for fixtures anywhere), and any use of a child module a file
//! declares (`mod x;` … `x::y`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first: a module may import its own layer's modules only as the
/// `SIBLINGS_APART` rule allows, and any lower layer.
const LAYERS: &[&[&str]] = &[
    // The pure core and the small shared pieces.
    &["core", "error", "exit", "file", "logging"],
    // What the core is sized for: the kubelet's side, and AWS's.
    &["kubelet", "aws"],
    // The plumbing every long-running pipeline shares: metric vocabulary, endpoint,
    // CloudWatch publisher, signals, the loop.
    &["telemetry"],
    // The pipelines: the node's two, and the cluster-level subnet reader.
    &["init", "daemon", "subnets"],
    // Configuration hands each pipeline its settings.
    &["config"],
    // The shell.
    &["cli"],
    &["commands"],
];

/// Inside the daemon, the data flow: collectors → snapshot → exporters → the pipeline.
const DAEMON_LAYERS: &[&[&str]] = &[
    &["daemon::collect"],
    &["daemon::snapshot"],
    &["daemon::export"],
    &["daemon"],
];

/// Modules of one layer that must not import each other.
const SIBLINGS_APART: &[&[&str]] = &[
    &["kubelet", "aws"],
    // The pipelines: neither of the node's two, nor the cluster-level reader, rides on
    // another's internals; what they share is `telemetry`.
    &["init", "daemon", "subnets"],
    &["daemon::export::cloudwatch", "daemon::export::findings"],
    &["telemetry::prometheus", "telemetry::cloudwatch"],
];

/// The std modules the pure core must not name (Cargo keeps its crates out: see
/// [`CORE_DEPENDENCIES`]).
const NOT_IN_CORE: &[&str] = &["std::fs", "std::net", "std::process", "std::env"];

/// Everything the core crate (`agent/core`) may depend on: data types, CEL, SVG drawing. No
/// async runtime, HTTP, AWS, command-line or filesystem crate.
const CORE_DEPENDENCIES: &[&str] = &[
    "cel",
    "ipnet",
    "plotters",
    "serde",
    "serde_json",
    "thiserror",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every library source file, by module path (`daemon::collect::imds`; the root is "").
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src(), &mut files);
    let mut modules = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src()).unwrap().with_extension("");
        let mut parts: Vec<String> = relative
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        match parts.last().map(String::as_str) {
            // The binary is another crate; it imports the library by name.
            Some("main") if parts.len() == 1 => continue,
            // A `#[cfg(test)] mod tests;` in its own file: tests may reach anywhere.
            Some("tests") => continue,
            Some("lib") if parts.len() == 1 => parts.clear(),
            Some("mod") => {
                parts.pop();
            }
            _ => {}
        }
        modules.insert(parts.join("::"), file);
    }
    modules
}

/// The code of a file without comment lines and without its trailing test module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let end = text.find("\n#[cfg(test)]").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The child modules a file declares (`mod x;`, `pub mod x;`).
fn children(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line
                .strip_prefix("pub(crate) ")
                .or_else(|| line.strip_prefix("pub "))
                .unwrap_or(line);
            line.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(|name| name.trim().to_owned())
        })
        .collect()
}

/// The module paths `code` names: through `crate::`, `super::`, and the names of the child
/// modules it declares (resolved from `module`).
fn imports(module: &str, code: &str) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    let this: Vec<String> = module
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    // `super` is the parent module, for `a/b.rs` and `a/b/mod.rs` alike.
    let mut parent = this.clone();
    parent.pop();
    let mut starts: Vec<(String, Vec<String>)> = vec![
        ("crate::".to_owned(), Vec::new()),
        ("super::".to_owned(), parent),
    ];
    for child in children(code) {
        let mut base = this.clone();
        base.push(child.clone());
        starts.push((format!("{child}::"), base));
    }
    for (start, base) in starts {
        for (at, _) in code.match_indices(&start) {
            let before = code[..at].chars().last().unwrap_or(' ');
            if is_ident(before) || before == ':' {
                continue;
            }
            let mut base = base.clone();
            let mut rest = &code[at + start.len()..];
            while let Some(after) = rest.strip_prefix("super::") {
                base.pop();
                rest = after;
            }
            for path in paths(rest) {
                let mut full = base.clone();
                full.extend(path);
                found.insert(full);
            }
        }
    }
    found
}

/// The paths that follow `crate::`: `a::b::C`, or each first-level entry of `{a::b, c}`.
fn paths(rest: &str) -> Vec<Vec<String>> {
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0;
        let mut entries = Vec::new();
        let mut current = String::new();
        for c in group.chars() {
            match c {
                '{' => {
                    depth += 1;
                    current.push(c);
                }
                '}' if depth == 0 => break,
                '}' => {
                    depth -= 1;
                    current.push(c);
                }
                ',' if depth == 0 => entries.push(std::mem::take(&mut current)),
                c => current.push(c),
            }
        }
        entries.push(current);
        return entries
            .iter()
            .flat_map(|e| paths(e.trim()))
            .filter(|p| !p.is_empty())
            .collect();
    }
    let mut path = Vec::new();
    let mut rest = rest;
    loop {
        let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        path.push(rest[..end].to_owned());
        match rest[end..].strip_prefix("::") {
            Some(after) if after.starts_with('{') => {
                // `a::{b, c}`: `a::b` and `a::c`.
                return paths(after)
                    .into_iter()
                    .map(|sub| {
                        let mut p = path.clone();
                        p.extend(sub);
                        p
                    })
                    .collect();
            }
            Some(after) => rest = after,
            None => break,
        }
    }
    vec![path]
}

/// The longest module that a path names.
fn resolve(path: &[String], modules: &BTreeMap<String, PathBuf>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains_key(m))
}

/// The file-level import graph: module → modules it imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let mut edges = BTreeMap::new();
    for (module, file) in &modules {
        let targets: BTreeSet<String> = imports(module, &code(file))
            .iter()
            .filter_map(|p| resolve(p, &modules))
            .filter(|target| target != module)
            .collect();
        edges.insert(module.clone(), targets);
    }
    edges
}

/// `(rank, group)` of a module among `layers` (the most specific entry wins).
fn rank(module: &str, layers: &[&[&str]]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (rank, layer) in layers.iter().enumerate() {
        for prefix in *layer {
            let matches = module == *prefix || module.starts_with(&format!("{prefix}::"));
            if matches && best.is_none_or(|(_, len)| prefix.len() > len) {
                best = Some((rank, prefix.len()));
            }
        }
    }
    best.map(|(rank, _)| rank)
}

#[test]
fn imports_follow_the_layers() {
    let mut wrong = Vec::new();
    for (from, targets) in graph() {
        if from.is_empty() {
            continue;
        }
        for to in targets {
            if to.is_empty() {
                continue;
            }
            let (a, b) = (rank(&from, LAYERS), rank(&to, LAYERS));
            let (Some(a), Some(b)) = (a, b) else {
                wrong.push(format!("{from} -> {to}: a module outside LAYERS"));
                continue;
            };
            if b > a {
                wrong.push(format!("{from} -> {to}: imports a higher layer"));
            }
            if from.starts_with("daemon")
                && to.starts_with("daemon")
                && let (Some(a), Some(b)) = (rank(&from, DAEMON_LAYERS), rank(&to, DAEMON_LAYERS))
                && b > a
            {
                wrong.push(format!("{from} -> {to}: against the daemon's data flow"));
            }
            for group in SIBLINGS_APART {
                let side = |m: &str| {
                    group
                        .iter()
                        .position(|g| m == *g || m.starts_with(&format!("{g}::")))
                };
                if let (Some(x), Some(y)) = (side(&from), side(&to))
                    && x != y
                {
                    wrong.push(format!("{from} -> {to}: siblings that must stay apart"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let graph = graph();
    // Depth-first search for a back edge; report the cycle it closes.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            cycles.push(cycle.join(" -> "));
            return;
        }
        if done.contains(node) {
            return;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, stack, done, cycles);
        }
        stack.pop();
        done.insert(node.to_owned());
    }
    let (mut done, mut cycles) = (BTreeSet::new(), Vec::new());
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

/// The core crate's own dependencies, read from its manifest.
fn core_dependencies() -> Vec<String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("core/Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(manifest).unwrap().parse().unwrap();
    ["dependencies", "build-dependencies"]
        .iter()
        .filter_map(|section| manifest.get(*section).and_then(toml::Value::as_table))
        .flat_map(|table| table.keys().cloned())
        .collect()
}

#[test]
fn the_core_depends_on_no_cli_http_aws_async_or_io_crate() {
    let extra: Vec<String> = core_dependencies()
        .into_iter()
        .filter(|d| !CORE_DEPENDENCIES.contains(&d.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "agent/core/Cargo.toml: the pure core may depend only on {CORE_DEPENDENCIES:?}, not {extra:?}"
    );
    let mut wrong = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("core/src");
    let mut files = vec![root];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path()),
            );
            continue;
        }
        let code = code(&path);
        for name in NOT_IN_CORE {
            let named = code
                .match_indices(name)
                .any(|(at, _)| at == 0 || !is_ident(code[..at].chars().last().unwrap_or(' ')));
            if named {
                wrong.push(format!("{}: names {name}", path.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The checks themselves: a cycle and an upward import are caught.
#[test]
fn the_checks_catch_what_they_should() {
    let found = imports(
        "daemon::collect::imds",
        "mod inner;\nuse super::{Collector, CollectorId};\nuse crate::core::node::Node;\nuse crate::{file, kubelet::Targets};\nfn f() { inner::go(); }",
    );
    let expected: BTreeSet<Vec<String>> = [
        vec!["daemon", "collect", "Collector"],
        vec!["daemon", "collect", "CollectorId"],
        vec!["core", "node", "Node"],
        vec!["file"],
        vec!["kubelet", "Targets"],
        vec!["daemon", "collect", "imds", "inner", "go"],
    ]
    .iter()
    .map(|p| p.iter().map(|s| (*s).to_owned()).collect())
    .collect();
    assert_eq!(found, expected);
    assert_eq!(rank("daemon::collect::imds", LAYERS), Some(3));
    assert_eq!(rank("subnets::view", LAYERS), Some(3));
    assert_eq!(rank("daemon::collect::imds", DAEMON_LAYERS), Some(0));
    assert_eq!(rank("core::sizing", LAYERS), Some(0));
    assert!(rank("commands", LAYERS) > rank("config", LAYERS));
}
