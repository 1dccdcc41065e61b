//! What PutMetricData takes: a [`Datum`] with its [`Unit`], the call's limits and the
//! [`batches`] that respect them, and the per-source [`Counters`] that turn a counter into the
//! increase since its last publication. Pure; shared by every pipeline that publishes.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// PutMetricData's limits: datums and bytes per call.
const MAX_DATUMS_PER_CALL: usize = 1000;
const MAX_BYTES_PER_CALL: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
        }
    }
}

/// One value of one metric, as PutMetricData takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub name: String,
    pub dimensions: Vec<(String, String)>,
    pub value: f64,
    pub unit: Unit,
    pub timestamp: SystemTime,
}

impl Datum {
    /// An upper bound of the datum's size in a request (the CBOR/query encodings carry the
    /// strings plus field names and framing), for keeping a call under 1 MB.
    pub fn encoded_size(&self) -> usize {
        let strings: usize = self.name.len()
            + self
                .dimensions
                .iter()
                .map(|(k, v)| k.len() + v.len() + 24)
                .sum::<usize>();
        strings + 96
    }
}

/// The namespace compatibility mode publishes to, as the cni-metrics-helper does.
pub const COMPAT_NAMESPACE: &str = "Kubernetes";

/// The last value of every counter, per key: the state between publications. A decrease is a
/// reset of the counter's source (the increase is then the new value), never a negative delta;
/// the first value seen is the baseline and publishes nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    last: BTreeMap<String, f64>,
}

impl Counters {
    /// The increase since the last call for `key`, `None` the first time (the baseline).
    pub fn delta(&mut self, key: &str, current: f64) -> Option<f64> {
        if !current.is_finite() || current < 0.0 {
            return None;
        }
        let previous = self.last.insert(key.to_owned(), current)?;
        Some(if current >= previous {
            current - previous
        } else {
            current
        })
    }
}

/// Splits datums into PutMetricData calls: at most [`MAX_DATUMS_PER_CALL`] datums and
/// [`MAX_BYTES_PER_CALL`] bytes each, in order.
pub fn batches(datums: &[Datum]) -> Vec<&[Datum]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, datum) in datums.iter().enumerate() {
        let size = datum.encoded_size();
        if i > start && (i - start == MAX_DATUMS_PER_CALL || bytes + size > MAX_BYTES_PER_CALL) {
            out.push(&datums[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < datums.len() {
        out.push(&datums[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_deltas_survive_resets() {
        let mut c = Counters::default();
        // Rises, resets (the source restarted) to a lower value, rises again.
        let totals = [10.0, 15.0, 22.0, 3.0, 9.0, 9.0];
        let deltas: Vec<f64> = totals
            .iter()
            .filter_map(|&t| c.delta("addReqCount", t))
            .collect();
        assert_eq!(deltas, [5.0, 7.0, 3.0, 6.0, 0.0]);
        assert!(deltas.iter().all(|d| *d >= 0.0));
        // The true increase: 12 before the reset, then 9 from zero.
        assert_eq!(deltas.iter().sum::<f64>(), 12.0 + 9.0);
        assert_eq!(c.delta("other", f64::NAN), None);
    }

    #[test]
    fn batches_respect_both_limits() {
        let datum = |name: &str| Datum {
            name: name.to_owned(),
            dimensions: vec![("ClusterName".to_owned(), "bars".to_owned())],
            value: 1.0,
            unit: Unit::Count,
            timestamp: SystemTime::UNIX_EPOCH,
        };
        let many: Vec<Datum> = (0..2500).map(|i| datum(&format!("M{i}"))).collect();
        let calls = batches(&many);
        assert_eq!(
            calls.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
        // Large datums: the byte limit splits first.
        let big: Vec<Datum> = (0..300)
            .map(|i| Datum {
                dimensions: vec![("NodeName".to_owned(), "x".repeat(10_000)); 1],
                ..datum(&format!("B{i}"))
            })
            .collect();
        let calls = batches(&big);
        assert!(calls.len() > 1);
        for call in &calls {
            assert!(call.len() <= MAX_DATUMS_PER_CALL);
            assert!(call.iter().map(Datum::encoded_size).sum::<usize>() <= MAX_BYTES_PER_CALL);
        }
        assert_eq!(calls.iter().map(|c| c.len()).sum::<usize>(), 300);
        assert!(batches(&[]).is_empty());
    }
}
