//! The Prometheus exporter: [`render`] encodes what the snapshot (and the CloudWatch
//! publisher's counts) export as text format 0.0.4, with the `prometheus` crate's
//! `TextEncoder` (escaped label values and help); [`server`] serves the rendered text.
//!
//! Families are sorted by name, series by their label values (as a `prometheus` registry
//! gathers them), so the output is deterministic. A fresh rendering per snapshot means a
//! series that vanished is simply not there.

pub mod server;

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};

use crate::daemon::family::{Export, Kind, Rows, Samples};

/// The samples of `sources` as Prometheus text format 0.0.4.
pub fn render(sources: &[&dyn Export]) -> Result<String, prometheus::Error> {
    let mut samples = Samples::default();
    for source in sources {
        source.export(&mut samples);
    }
    let families: Vec<MetricFamily> = samples.families().map(family).collect();
    let mut out = Vec::with_capacity(16 * 1024);
    TextEncoder::new().encode(&families, &mut out)?;
    String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

/// One family's samples as the encoder's `MetricFamily`: label pairs sorted by name, series
/// by their label values.
fn family(rows: &Rows) -> MetricFamily {
    let d = rows.describe;
    let mut order: Vec<usize> = (0..d.labels.len()).collect();
    order.sort_by_key(|&i| d.labels[i]);
    let mut metrics: Vec<(Vec<&str>, Metric)> = rows
        .rows
        .iter()
        .map(|(values, value)| {
            let sorted: Vec<&str> = order.iter().map(|&i| values[i].as_str()).collect();
            let mut metric = Metric::default();
            metric.set_label(
                order
                    .iter()
                    .map(|&i| {
                        let mut pair = LabelPair::default();
                        pair.set_name(d.labels[i].to_owned());
                        pair.set_value(values[i].clone());
                        pair
                    })
                    .collect(),
            );
            match d.kind {
                Kind::Gauge => {
                    let mut gauge = Gauge::default();
                    gauge.set_value(*value);
                    metric.set_gauge(gauge);
                }
                Kind::Counter => {
                    let mut counter = Counter::default();
                    counter.set_value(*value);
                    metric.set_counter(counter);
                }
            }
            (sorted, metric)
        })
        .collect();
    metrics.sort_by(|a, b| a.0.cmp(&b.0));
    let mut family = MetricFamily::default();
    family.set_name(d.name.to_owned());
    family.set_help(d.help.to_owned());
    family.set_field_type(match d.kind {
        Kind::Gauge => MetricType::GAUGE,
        Kind::Counter => MetricType::COUNTER,
    });
    family.set_metric(metrics.into_iter().map(|(_, m)| m).collect());
    family
}
