//! `nodecap density -o svg`: price per pod-hour against pods per node, one labelled point per
//! priced type, coloured by family, drawn by `plotters`' SVG backend into a string.
//!
//! Both axes are logarithmic: across the table max pods run from 4 to 737 and prices per
//! pod-hour over three orders of magnitude, and on a log scale equal ratios look equal (twice
//! the pods for twice the node's price is the same height). The lower right is where the
//! cheap dense types are. Text is `sans-serif` at the sizes below; the SVG viewer lays it out
//! (plotters' estimate places the labels), so no font is embedded or needed to draw.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::Row;

/// The drawing's size in pixels.
pub const SIZE: (u32, u32) = (1024, 720);

/// The right margin: room for the labels of the rightmost points and for the legend.
const LEGEND_WIDTH: u32 = 130;

/// Families the legend names: as many as fit beside the plot, 22 pixels each. Past that there
/// is no legend; each point's label names its type, and so its family.
const MAX_LEGEND: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no row has a price to chart: give --prices FILE or --pricing-api")]
    NoPrices,
    #[error("cannot draw the chart")]
    Draw(#[from] DrawingAreaErrorKind<std::io::Error>),
}

/// The chart of `rows` that have a price (the others cannot be placed), captioned `caption`.
pub fn svg(rows: &[Row], caption: &str) -> Result<String, Error> {
    let points: Vec<(&Row, f64)> = rows
        .iter()
        .filter_map(|r| r.usd_per_pod_hour.map(|p| (r, p)))
        .filter(|(r, p)| r.max_pods > 0 && *p > 0.0)
        .collect();
    if points.is_empty() {
        return Err(Error::NoPrices);
    }
    let mut families: BTreeMap<&str, Vec<(&Row, f64)>> = BTreeMap::new();
    for (row, price) in &points {
        families.entry(family(row)).or_default().push((row, *price));
    }
    let pods = snapped(points.iter().map(|(r, _)| f64::from(r.max_pods)), 2.0);
    let prices = snapped(points.iter().map(|(_, p)| *p), 10.0);
    let price_ticks = ticks_per_decade(&prices);

    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 24))
            .margin(20)
            .margin_right(LEGEND_WIDTH)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(pods.log_scale().base(2.0), prices.log_scale())?;
        chart
            .configure_mesh()
            .x_desc("pods per node (max pods)")
            .y_desc("USD per pod-hour")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_labels(price_ticks)
            .y_label_formatter(&|v| price_label(*v))
            .label_style(("sans-serif", 15))
            .bold_line_style(BLACK.mix(0.15))
            .light_line_style(TRANSPARENT)
            .axis_desc_style(("sans-serif", 16))
            .draw()?;
        for (i, members) in families.values().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            chart.draw_series(members.iter().map(|(row, price)| {
                EmptyElement::at((f64::from(row.max_pods), *price))
                    + Circle::new((0, 0), 4, colour.filled())
                    + Text::new(row.instance_type.to_string(), (6, -14), ("sans-serif", 14))
            }))?;
        }
        // The legend in the right margin, beside the plot: never over a point.
        if families.len() <= MAX_LEGEND {
            let (x, y) = chart.plotting_area().get_pixel_range();
            for (i, name) in families.keys().enumerate() {
                let colour = PALETTE[i % PALETTE.len()];
                let row = i32::try_from(i).unwrap_or(0);
                root.draw(
                    &(EmptyElement::at((x.end + 24, y.start + 12 + 22 * row))
                        + Circle::new((0, 0), 5, colour.filled())
                        + Text::new(name.to_string(), (12, -8), ("sans-serif", 15))),
                )?;
            }
        }
        root.present()?;
    }
    Ok(out)
}

/// The family of a type: its name before the dot (`m5` for `m5.large`).
fn family(row: &Row) -> &str {
    row.instance_type.family()
}

/// Family colours: Tableau 10 (legible on white, told apart by most colour-blind readers);
/// past ten families they repeat, and each point's label still names its type.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];

/// From the power of `base` below the smallest of `values` to the one above the largest (at
/// least one step apart): a log axis whose ticks fall on its ends, however narrow the data.
fn snapped(values: impl Iterator<Item = f64>, base: f64) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let lo = base.powf(lo.log(base).floor());
    let hi = base.powf(hi.log(base).ceil()).max(lo * base);
    // A hair below the power, so plotters' first tick (the next power up from the start,
    // computed in floating point) is the power itself and the axis is labelled at its foot.
    lo * (1.0 - 1e-9)..hi
}

/// The label hint that makes plotters put a tick at every 1…9 × 10^k of a price axis (it
/// adds nine light ticks per decade once the hint exceeds ten per decade); [`price_label`]
/// writes only the 1, 2 and 5 ones.
fn ticks_per_decade(range: &std::ops::Range<f64>) -> usize {
    let decades = (range.end / range.start).log10().round().max(1.0);
    // A handful of decades at most (prices per pod-hour).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let decades = decades.min(12.0) as usize;
    11 * decades
}

/// A price tick: 1, 2 or 5 × 10^k written out with no trailing zeros; the other ticks (3, 4,
/// 6, …) unlabelled.
fn price_label(v: f64) -> String {
    // The decade, with a margin for ticks computed a hair under their power of ten.
    let k = (v.log10() + 1e-9).floor();
    if ![1.0, 2.0, 5.0].contains(&(v / 10f64.powf(k)).round()) {
        return String::new();
    }
    // One significant digit: -k decimals below 1 (a price per pod-hour is above 1e-12).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let decimals = (-k).clamp(0.0, 12.0) as usize;
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::{Source, lookup_embedded};
    use crate::sizing::{SizingOptions, size};

    fn row(name: &str, price: Option<f64>) -> Row {
        let sizing = size(
            lookup_embedded(name).unwrap(),
            Source::Embedded,
            &SizingOptions::default(),
        );
        Row::new(&sizing, price)
    }

    #[test]
    fn one_labelled_point_per_priced_type() {
        let rows = [
            row("m5.large", Some(0.096)),
            row("m5.xlarge", Some(0.192)),
            row("c5.large", Some(0.085)),
            row("r5.large", None),
        ];
        let svg = svg(&rows, "test").unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        for name in ["m5.large", "m5.xlarge", "c5.large"] {
            assert_eq!(
                svg.matches(&format!(">\n{name}\n</text>")).count(),
                1,
                "{name}"
            );
        }
        assert!(!svg.contains("r5.large"));
        // Two families in the legend.
        assert!(svg.contains(">\nm5\n</text>") && svg.contains(">\nc5\n</text>"));
    }

    #[test]
    fn nothing_priced_is_an_error() {
        assert!(matches!(
            svg(&[row("m5.large", None)], "test"),
            Err(Error::NoPrices)
        ));
    }

    #[test]
    fn price_ticks_are_labelled_at_one_two_and_five() {
        assert_eq!(price_label(0.001), "0.001");
        assert_eq!(price_label(0.002), "0.002");
        assert_eq!(price_label(0.005), "0.005");
        assert_eq!(price_label(0.003), "");
        assert_eq!(price_label(0.09), "");
        assert_eq!(price_label(0.1), "0.1");
        assert_eq!(price_label(2.0), "2");
        assert_eq!(price_label(50.0), "50");
    }
}
