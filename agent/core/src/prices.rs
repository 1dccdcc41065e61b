//! Instance prices given by the user, for `nodecap density`: a two-column CSV,
//! `instance_type,usd_per_hour`, one type a line. A header (`instance_type,…` as the first
//! line that is not blank or a comment), blank lines and `#` comments are skipped; anything
//! else that is not a known shape is an error naming the line and quoting the start of it.
//! Pure: text (a whole file, or one line at a time: [`Csv`]) in, prices out.

use super::density::Prices;
use super::excerpt::Excerpt;
use super::names::InstanceType;

/// The largest price taken, in USD per hour (the dearest EC2 type costs a few hundred).
const MAX_USD_PER_HOUR: f64 = 100_000.0;
/// Prices taken from one file: EC2 has some 1,400 instance types.
const MAX_PRICES: usize = 10_000;

/// A line of the price file that is not a price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: expected {expected}, got {got}")]
pub struct Error {
    pub line: usize,
    pub expected: &'static str,
    pub got: Excerpt,
}

/// The longest line taken, in bytes (a price line is about 30).
pub const MAX_LINE: usize = 1024;

/// Prices from CSV text.
pub fn parse_csv(text: &str) -> Result<Prices, Error> {
    let mut csv = Csv::default();
    for (n, raw) in text.lines().enumerate() {
        csv.line(n + 1, raw)?;
    }
    Ok(csv.finish())
}

/// A price CSV taken a line at a time, for a caller that streams the file: what it keeps is
/// the prices, never the file.
#[derive(Debug, Default)]
pub struct Csv {
    prices: Prices,
    /// No line but blanks and comments yet: a header may come.
    seen_line: bool,
}

impl Csv {
    /// Takes line number `line` (from 1), without its line ending.
    pub fn line(&mut self, line: usize, raw: &str) -> Result<(), Error> {
        let content = raw.trim();
        let bad = |expected| Error {
            line,
            expected,
            got: Excerpt::of(content),
        };
        if raw.len() > MAX_LINE {
            return Err(bad("a line of at most 1024 bytes"));
        }
        if content.is_empty() || content.starts_with('#') {
            return Ok(());
        }
        // Two fields and no third, split without collecting: a line of millions of commas
        // once became a vector of millions of slices.
        let mut fields = content.splitn(3, ',').map(str::trim);
        let (Some(name), Some(price), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(bad("two columns: instance_type,usd_per_hour"));
        };
        let name = name.trim_matches('"');
        let price = price.trim_matches('"');
        if !std::mem::replace(&mut self.seen_line, true)
            && name.eq_ignore_ascii_case("instance_type")
        {
            return Ok(());
        }
        let Ok(name) = InstanceType::try_from(name) else {
            return Err(bad("an instance type such as m5.large in the first column"));
        };
        let usd = price
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && (0.0..=MAX_USD_PER_HOUR).contains(p))
            .ok_or_else(|| bad("a price in USD per hour (0 to 100000) in the second column"))?;
        if self.prices.len() == MAX_PRICES && !self.prices.contains_key(&name) {
            return Err(bad(
                "at most 10000 prices (EC2 has some 1,400 instance types)",
            ));
        }
        if let Some(earlier) = self.prices.insert(name, usd)
            && earlier.to_bits() != usd.to_bits()
        {
            return Err(bad(
                "each instance type once (this one has another price above)",
            ));
        }
        Ok(())
    }

    /// The prices taken.
    pub fn finish(self) -> Prices {
        self.prices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_prices() {
        let many: String = (0..=MAX_PRICES)
            .map(|n| format!("x{n}.large,0.1\n"))
            .collect();
        let e = parse_csv(&many).unwrap_err();
        assert_eq!(e.line, MAX_PRICES + 1);
        assert_eq!(
            e.expected,
            "at most 10000 prices (EC2 has some 1,400 instance types)"
        );
        assert_eq!(
            parse_csv(&many[..many.rfind("x10000").unwrap()])
                .unwrap()
                .len(),
            MAX_PRICES
        );
    }

    #[test]
    fn reads_prices() {
        let prices = parse_csv(
            "instance_type,usd_per_hour\n# on-demand, us-east-1\nm5.large,0.096\n\n m5.xlarge , 0.192\n\"c5.large\",\"0.085\"\n",
        )
        .unwrap();
        assert_eq!(prices.len(), 3);
        assert_eq!(prices["m5.xlarge"], 0.192);
        assert_eq!(prices["c5.large"], 0.085);
        // The header after comments; a second header is not a price.
        let after_comments = parse_csv("# prices\n\ninstance_type,usd_per_hour\nm5.large,0.096\n");
        assert_eq!(after_comments.unwrap().len(), 1);
        let twice = parse_csv("instance_type,usd_per_hour\ninstance_type,usd_per_hour\n");
        assert_eq!(twice.unwrap_err().line, 2);
    }

    #[test]
    fn names_the_bad_line() {
        let error = |text: &str| parse_csv(text).unwrap_err().to_string();
        assert_eq!(
            error("m5.large,0.096\nm5.xlarge;0.192\n"),
            "line 2: expected two columns: instance_type,usd_per_hour, got \"m5.xlarge;0.192\""
        );
        assert_eq!(
            error("m5.large,cheap\n"),
            "line 1: expected a price in USD per hour (0 to 100000) in the second column, got \"m5.large,cheap\""
        );
        assert_eq!(
            error("M5 Large,0.1\n"),
            "line 1: expected an instance type such as m5.large in the first column, got \"M5 Large,0.1\""
        );
        assert!(error("m5.large,-1\n").starts_with("line 1: expected a price"));
        assert!(error("m5.large,NaN\n").starts_with("line 1: expected a price"));
        assert!(error("m5.large,0.096\nm5.large,0.1\n").starts_with("line 2: expected each"));
        let long = format!("m5.large,{}\n", "9".repeat(1_000));
        assert!(error(&long).len() < 200);
        let longer = format!("m5.large,{}\n", "9".repeat(MAX_LINE));
        assert!(
            error(&longer)
                .starts_with("line 1: expected a line of at most 1024 bytes, got \"m5.large,99")
        );
    }
}
