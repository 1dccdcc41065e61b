//! In-process cost of `plan`: look an instance type up in the embedded table and size it.
//! Target (issue 2): under 1 µs per type without an expression. With a CEL
//! `max_pods_expression` (nodeadm's `max_pods < 30 ? max_pods : 30`) and a Karpenter-style
//! `kube_reserved_expression`, the cost per evaluation is reported beside it (issue 15).
//! Run with `cargo bench -p nodecap --bench plan`.
#![allow(clippy::unwrap_used)] // a missing type should abort the bench loudly

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use nodecap::core::expression::Expression;
use nodecap::core::instance::{self, Source};
use nodecap::core::sizing::{SizingOptions, size};
use nodecap::kubelet::settings::KubeletSettings;

fn bench(c: &mut Criterion) {
    let options = SizingOptions::default();
    c.bench_function("lookup+size m5.large", |b| {
        b.iter(|| {
            let facts = instance::lookup_embedded(black_box("m5.large")).unwrap();
            black_box(size(facts, Source::Embedded, &options).max_pods)
        })
    });
    c.bench_function("lookup+size+kubelet settings m5.large", |b| {
        b.iter(|| {
            let facts = instance::lookup_embedded(black_box("m5.large")).unwrap();
            let sizing = size(facts, Source::Embedded, &options);
            black_box(KubeletSettings::from_sizing(&sizing))
        })
    });
    let names: Vec<&str> = instance::embedded()
        .iter()
        .map(|f| f.instance_type.as_ref())
        .collect();
    let per_type = names.len() as u64;
    let mut group = c.benchmark_group("every type");
    group.throughput(criterion::Throughput::Elements(per_type));
    group.bench_function("lookup+size all types", |b| {
        b.iter(|| {
            let mut total = 0u64;
            for name in &names {
                let facts = instance::lookup_embedded(black_box(name)).unwrap();
                total += u64::from(size(facts, Source::Embedded, &options).max_pods);
            }
            black_box(total)
        })
    });
    group.finish();

    let nodeadm = SizingOptions {
        max_pods_expression: Some(Expression::parse("max_pods < 30 ? max_pods : 30").unwrap()),
        ..SizingOptions::default()
    };
    let facts = instance::lookup_embedded("m5.large").unwrap();
    c.bench_function("size m5.large, max_pods_expression", |b| {
        b.iter(|| black_box(size(black_box(facts), Source::Embedded, &nodeadm).max_pods))
    });
    let karpenter = SizingOptions {
        kube_reserved_expression: Some(
            Expression::parse(
                r#"{"cpu": string(vcpus * 40) + "m", "memory": string(20 * max_pods + 50) + "Mi"}"#,
            )
            .unwrap(),
        ),
        ..nodeadm
    };
    c.bench_function("size m5.large, max_pods + kube_reserved expressions", |b| {
        b.iter(|| black_box(size(black_box(facts), Source::Embedded, &karpenter).kube_reserved))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
