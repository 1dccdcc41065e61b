//! The evaluation budget: a worst-case estimate of what evaluating an expression costs, made
//! from its syntax tree before it is taken, in the manner of Kubernetes' CEL cost model
//! (cel-go `checker/cost.go`, used by `k8s.io/apiserver/pkg/cel`): each node costs a step,
//! sizes are carried up the tree as upper bounds, and a comprehension (`map`, `filter`, `all`,
//! `exists`, `exists_one`) costs its range's size times its step. nodecap's variables are
//! numbers and one short string, so every bound is known before evaluation; the `cel` crate
//! has no budget of its own to stop an evaluation midway.
//!
//! What counts:
//!
//! | node | steps | largest value, bytes |
//! |---|---|---|
//! | literal, variable | 1 | [`VALUE`] (+ a string's length; `instance_type` at most [`INSTANCE_TYPE`]) |
//! | list, map | 1 + the elements' | [`VALUE`] + the elements' |
//! | `a + b` | 1 + both + one per [`VALUE`] copied | both, one header shared (numbers stay one value) |
//! | `c ? a : b`, `a[i]`, `a.f` | 1 + the operands' | the larger branch, the operand |
//! | other calls | 1 + the arguments' | [`VALUE`], or the arguments' for a function not known to give a scalar |
//! | comprehension over n items | the range's + n × (condition + step) + result | the accumulator after n steps |

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr, LiteralValue};

/// Bytes of one value (the size of a `cel::Value` with its heap header, rounded up).
const VALUE: u64 = 32;
/// The longest instance type name assumed (the longest today is 22 characters).
const INSTANCE_TYPE: u64 = 64;

/// An upper bound of evaluating an expression once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Nodes evaluated, comprehension iterations included.
    pub steps: u64,
    /// The largest single value made.
    pub bytes: u64,
}

/// Upper bounds of one value: its bytes, and its items when it is a list or a map (what a
/// comprehension over it iterates).
#[derive(Debug, Clone, Copy, Default)]
struct Bound {
    bytes: u64,
    items: u64,
}

const SCALAR: Bound = Bound {
    bytes: VALUE,
    items: 0,
};

/// Functions whose result is one scalar whatever their arguments.
const SCALAR_RESULTS: &[&str] = &[
    "_-_",
    "_*_",
    "_/_",
    "_%_",
    "-_",
    "!_",
    "_==_",
    "_!=_",
    "_<_",
    "_<=_",
    "_>_",
    "_>=_",
    "_&&_",
    "_||_",
    "@in",
    "@not_strictly_false",
    "size",
    "int",
    "uint",
    "double",
    "bool",
    "matches",
    "startsWith",
    "endsWith",
    "contains",
    "type",
    "has",
];

/// The worst case of evaluating `expr`.
pub fn estimate(expr: &IdedExpr) -> Estimate {
    let mut walk = Walk {
        scope: Vec::new(),
        largest: 0,
    };
    let (steps, bound) = walk.node(expr);
    Estimate {
        steps,
        bytes: walk.largest.max(bound.bytes),
    }
}

struct Walk<'e> {
    /// Comprehension variables in scope, innermost last.
    scope: Vec<(&'e str, Bound)>,
    largest: u64,
}

impl<'e> Walk<'e> {
    /// (steps, bound of the value) of one node.
    fn node(&mut self, expr: &'e IdedExpr) -> (u64, Bound) {
        let (steps, bound) = match &expr.expr {
            Expr::Literal(literal) => (1, literal_bound(literal)),
            Expr::Ident(name) => (1, self.variable(name)),
            Expr::List(list) => self.items(list.elements.iter()),
            Expr::Map(map) => self.entries(&map.entries),
            Expr::Struct(s) => self.entries(&s.entries),
            Expr::Select(select) => {
                let (steps, operand) = self.node(&select.operand);
                (steps + 1, if select.test { SCALAR } else { operand })
            }
            Expr::Call(call) => {
                let mut steps = 1u64;
                let mut args = Vec::with_capacity(call.args.len() + 1);
                for arg in call.target.iter().map(|t| &**t).chain(&call.args) {
                    let (s, b) = self.node(arg);
                    steps = steps.saturating_add(s);
                    args.push(b);
                }
                let bound = call_bound(&call.func_name, &args);
                if call.func_name == "_+_" {
                    steps = steps.saturating_add(bound.bytes / VALUE);
                }
                (steps, bound)
            }
            Expr::Comprehension(c) => {
                let (range_steps, range) = self.node(&c.iter_range);
                let (init_steps, init) = self.node(&c.accu_init);
                let n = range.items;
                let element = Bound {
                    bytes: range.bytes,
                    items: range.bytes / VALUE,
                };
                let vars = |accu: Bound| {
                    let mut v = vec![(c.iter_var.as_str(), element), (c.accu_var.as_str(), accu)];
                    if let Some(second) = &c.iter_var2 {
                        v.push((second.as_str(), element));
                    }
                    v
                };
                // How much one step adds to the accumulator, then the step's cost with the
                // accumulator at its largest.
                let (_, first) = self.scoped(vars(init), |w| w.node(&c.loop_step));
                let last = Bound {
                    bytes: init
                        .bytes
                        .saturating_add(n.saturating_mul(first.bytes.saturating_sub(init.bytes))),
                    items: init
                        .items
                        .saturating_add(n.saturating_mul(first.items.saturating_sub(init.items))),
                };
                let (cond_steps, _) = self.scoped(vars(last), |w| w.node(&c.loop_cond));
                let (step_steps, _) = self.scoped(vars(last), |w| w.node(&c.loop_step));
                let (result_steps, result) = self.scoped(vars(last), |w| w.node(&c.result));
                let steps = range_steps
                    .saturating_add(init_steps)
                    .saturating_add(n.saturating_mul(cond_steps.saturating_add(step_steps)))
                    .saturating_add(result_steps);
                self.largest = self.largest.max(last.bytes);
                (steps, result)
            }
            Expr::Unspecified => (1, SCALAR),
            // A kind a newer `cel` adds: the most a value can be.
            #[allow(unreachable_patterns)]
            _ => (1, SCALAR),
        };
        self.largest = self.largest.max(bound.bytes);
        (steps, bound)
    }

    fn scoped<T>(&mut self, vars: Vec<(&'e str, Bound)>, f: impl FnOnce(&mut Self) -> T) -> T {
        let depth = self.scope.len();
        self.scope.extend(vars);
        let out = f(self);
        self.scope.truncate(depth);
        out
    }

    fn variable(&self, name: &str) -> Bound {
        if let Some((_, bound)) = self.scope.iter().rev().find(|(n, _)| *n == name) {
            return *bound;
        }
        match name {
            "instance_type" => Bound {
                bytes: VALUE + INSTANCE_TYPE,
                items: 0,
            },
            _ => SCALAR,
        }
    }

    fn items(&mut self, elements: impl Iterator<Item = &'e IdedExpr>) -> (u64, Bound) {
        let mut steps = 1u64;
        let mut bound = SCALAR;
        for element in elements {
            let (s, b) = self.node(element);
            steps = steps.saturating_add(s);
            bound.bytes = bound.bytes.saturating_add(b.bytes);
            bound.items += 1;
        }
        (steps, bound)
    }

    fn entries(&mut self, entries: &'e [cel::common::ast::IdedEntryExpr]) -> (u64, Bound) {
        let mut steps = 1u64;
        let mut bound = SCALAR;
        for entry in entries {
            let parts: Vec<&IdedExpr> = match &entry.expr {
                EntryExpr::MapEntry(e) => vec![&e.key, &e.value],
                EntryExpr::StructField(f) => vec![&f.value],
            };
            for part in parts {
                let (s, b) = self.node(part);
                steps = steps.saturating_add(s);
                bound.bytes = bound.bytes.saturating_add(b.bytes);
            }
            bound.items += 1;
        }
        (steps, bound)
    }
}

fn literal_bound(literal: &LiteralValue) -> Bound {
    let extra = match literal {
        LiteralValue::String(s) => s.inner().len() as u64,
        LiteralValue::Bytes(b) => b.inner().len() as u64,
        _ => 0,
    };
    Bound {
        bytes: VALUE + extra,
        items: 0,
    }
}

fn call_bound(function: &str, args: &[Bound]) -> Bound {
    let sum = |bounds: &[Bound]| Bound {
        bytes: bounds
            .iter()
            .fold(VALUE, |total, b| total.saturating_add(b.bytes)),
        items: bounds
            .iter()
            .fold(0u64, |total, b| total.saturating_add(b.items)),
    };
    match function {
        // A concatenation shares one header: two numbers add up to one number, two strings
        // or lists to their lengths together.
        "_+_" => {
            let whole = sum(args);
            Bound {
                bytes: whole.bytes.saturating_sub(2 * VALUE).max(VALUE),
                items: whole.items,
            }
        }
        "_?_:_" => {
            let (a, b) = (
                args.get(1).copied().unwrap_or(SCALAR),
                args.get(2).copied().unwrap_or(SCALAR),
            );
            Bound {
                bytes: a.bytes.max(b.bytes),
                items: a.items.max(b.items),
            }
        }
        "_[_]" => args.first().copied().unwrap_or(SCALAR),
        // A number as text is short; a string stays itself.
        "string" => Bound {
            bytes: args.first().map_or(0, |b| b.bytes).max(2 * VALUE),
            items: 0,
        },
        f if SCALAR_RESULTS.contains(&f) => SCALAR,
        _ => sum(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(text: &str) -> Estimate {
        estimate(cel::Env::stdlib().compile(text).unwrap().expression())
    }

    #[test]
    fn small_expressions_cost_little() {
        assert_eq!(of("max_pods").steps, 1);
        let karpenter = of(
            r#"{"cpu": string(vcpus * 50) + "m", "memory": string(11 * max_pods + 255) + "Mi"}"#,
        );
        assert!(karpenter.steps < 40, "{karpenter:?}");
        assert!(karpenter.bytes < 1024, "{karpenter:?}");
    }

    #[test]
    fn comprehensions_cost_their_range_times_their_step() {
        let one = of("[1, 2, 3, 4, 5].map(x, x * 2)");
        let nested = of("[1, 2, 3, 4, 5].map(a, [1, 2, 3, 4, 5].map(b, a * b))");
        let deeper =
            of("[1, 2, 3, 4, 5].map(a, [1, 2, 3, 4, 5].map(b, [1, 2, 3, 4, 5].map(c, a * b * c)))");
        let chain = of(&format!("max_pods{}", " + 1".repeat(32)));
        assert!(chain.steps < 200 && chain.bytes == VALUE, "{chain:?}");
        assert!(nested.steps > 4 * one.steps, "{one:?} {nested:?}");
        assert!(deeper.steps > 4 * nested.steps, "{nested:?} {deeper:?}");
        assert!(deeper.bytes >= 125 * VALUE, "{deeper:?}");
        // Strings that double at every level.
        let doubling = of("[instance_type].map(a, [a + a].map(b, [b + b].map(c, c + c)))");
        assert!(doubling.bytes >= 8 * INSTANCE_TYPE, "{doubling:?}");
    }
}
