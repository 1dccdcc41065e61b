//! In-process cost of `plan`: look an instance type up in the embedded table and size it.
//! Target (issue 2): under 1 µs per type. Run with `cargo bench -p nodecap --bench plan`.
#![allow(clippy::unwrap_used)] // a missing type should abort the bench loudly

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
