//! The Prometheus exporter: [`render`] encodes what the snapshot (and the CloudWatch
//! publisher's counts) export as text format 0.0.4, with the `prometheus` crate's
//! `TextEncoder` (escaped label values and help); [`server`] serves the rendered text, with
//! the TLS and basic authentication of a [`web`] config file when given.
//!
//! Families are sorted by name, series by their label values (as a `prometheus` registry
//! gathers them), so the output is deterministic. A fresh rendering per snapshot means a
//! series that vanished is simply not there.

pub mod server;
pub mod web;

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};

use crate::telemetry::family::{Export, Kind, Rows, Samples};

/// The samples of `sources` as Prometheus text format 0.0.4.
pub fn render(sources: &[&dyn Export]) -> Result<String, prometheus::Error> {
    let mut samples = Samples::default();
    for source in sources {
        source.export(&mut samples);
    }
    let families: Vec<MetricFamily> = samples.into_families().map(family).collect();
    let mut out = Vec::with_capacity(16 * 1024);
    TextEncoder::new().encode(&families, &mut out)?;
    String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

/// One family's samples as the encoder's `MetricFamily`: label pairs sorted by name, series
/// by their label values.
fn family(rows: Rows) -> MetricFamily {
    let d = rows.describe;
    let mut order: Vec<usize> = (0..d.labels.len()).collect();
    order.sort_by_key(|&i| d.labels[i]);
    let mut series: Vec<(Vec<String>, f64)> = rows
        .rows
        .into_iter()
        .map(|(mut values, value)| {
            // Label values in the order of their sorted names.
            let sorted = order
                .iter()
                .map(|&i| std::mem::take(&mut values[i]))
                .collect();
            (sorted, value)
        })
        .collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let metrics = series
        .into_iter()
        .map(|(values, value)| {
            let mut metric = Metric::default();
            metric.set_label(
                order
                    .iter()
                    .zip(values)
                    .map(|(&i, value)| {
                        let mut pair = LabelPair::default();
                        pair.set_name(d.labels[i].to_owned());
                        pair.set_value(value);
                        pair
                    })
                    .collect(),
            );
            match d.kind {
                Kind::Gauge => {
                    let mut gauge = Gauge::default();
                    gauge.set_value(value);
                    metric.set_gauge(gauge);
                }
                Kind::Counter => {
                    let mut counter = Counter::default();
                    counter.set_value(value);
                    metric.set_counter(counter);
                }
            }
            metric
        })
        .collect();
    let mut family = MetricFamily::default();
    family.set_name(d.name.to_owned());
    family.set_help(d.help.to_owned());
    family.set_field_type(match d.kind {
        Kind::Gauge => MetricType::GAUGE,
        Kind::Counter => MetricType::COUNTER,
    });
    family.set_metric(metrics);
    family
}
