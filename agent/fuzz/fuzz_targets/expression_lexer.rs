//! The CEL operator count against CEL's own parser: for any text within nodecap's bounds
//! (`MAX_LEN` characters, `MAX_OPERATORS` operators and brackets as `lexer::operators`
//! counts them), CEL's parser runs without overflowing the stack, and the tree it builds is
//! no deeper than the count allows. A count that missed what CEL's lexer sees (a raw string,
//! a comment, an escape) would let deep text through: a crash or a failed assertion here.
#![no_main]
// A fuzz target reports a finding by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr};
use libfuzzer_sys::fuzz_target;
use nodecap::core::expression::{MAX_LEN, MAX_OPERATORS, lexer};

/// The keys and values of a map or struct literal.
fn entry_parts(entries: &[IdedEntryExpr]) -> Vec<&IdedExpr> {
    entries
        .iter()
        .flat_map(|e| match &e.expr {
            EntryExpr::MapEntry(e) => vec![&e.key, &e.value],
            EntryExpr::StructField(f) => vec![&f.value],
        })
        .collect()
}

/// Levels of the tree below and including `expr`.
fn depth(expr: &IdedExpr) -> usize {
    let children: Vec<&IdedExpr> = match &expr.expr {
        Expr::Call(c) => c.target.iter().map(|t| &**t).chain(&c.args).collect(),
        Expr::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Expr::List(l) => l.elements.iter().collect(),
        Expr::Map(m) => entry_parts(&m.entries),
        Expr::Struct(s) => entry_parts(&s.entries),
        Expr::Select(s) => vec![&*s.operand],
        _ => Vec::new(),
    };
    1 + children.into_iter().map(depth).max().unwrap_or(0)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let count = lexer::operators(text);
    if text.len() > MAX_LEN || count > MAX_OPERATORS {
        return;
    }
    if let Ok(program) = cel::Program::compile(text) {
        let levels = depth(program.expression());
        // A macro (`map`, `all`, …) expands to a comprehension a few levels deep for the
        // three tokens `.`, `(` and `,` it takes; every other level takes a token of its own.
        assert!(
            levels <= 2 * count + 2,
            "{levels} levels from {count} operators and brackets: {text:?}"
        );
    }
});
