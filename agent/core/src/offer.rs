//! AWS's public EC2 price list for one region (the "offer file" users download from
//! `pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/<region>/index.json`),
//! read as a stream: hundreds of MB in, a few KB of prices out, memory bounded by the
//! largest single product or term, never by the file.
//!
//! Kept: products of family `Compute Instance` in an `AWS Region` (not a Local or Wavelength
//! Zone) with operating system `Linux`, tenancy `Shared`, no pre-installed software and
//! capacity status `Used` (the other statuses describe capacity reservations), and their
//! on-demand price per hour in USD (`terms.OnDemand.<sku>.<term>.priceDimensions.<rate>` with
//! unit `Hrs`). A type with two such products keeps the lower price.
//!
//! The file's shape (`{"products": {sku: product}, "terms": {"OnDemand": {sku: {term: …}}}}`)
//! is walked with serde's visitors over `serde_json`'s reader: nothing but the current entry
//! is held. Products come before terms in AWS's files; terms first still works (their prices
//! wait for the products). A single value may not be longer than [`MAX_TOKEN`] bytes, so a
//! hostile file cannot make one string take the memory a whole file could; and what is kept
//! is bounded too: [`MAX_PRODUCTS`] matching products, [`MAX_EARLY_TERMS`] terms waiting for
//! their products, SKUs of [`MAX_SKU`] bytes.
//!
//! The Pricing API's `GetProducts` answers carry the same products and terms one per entry;
//! [`price_list_entry`] reads one with the same types and the same rule, so a region's prices
//! are the same from either source.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::density::Prices;
use super::names::InstanceType;

/// The longest run of bytes between two JSON structural characters outside a string, or one
/// string: far beyond any real field (a product is a few hundred bytes).
pub const MAX_TOKEN: usize = 1024 * 1024;
/// Matching products kept: a region's file has about one per instance type (some 1,000).
const MAX_PRODUCTS: usize = 20_000;
/// On-demand terms held before their products arrive (AWS writes products first, so a real
/// file holds none).
const MAX_EARLY_TERMS: usize = 100_000;
/// The longest SKU kept: AWS's are 16 characters.
const MAX_SKU: usize = 64;

/// A SKU key, refused past [`MAX_SKU`] bytes.
fn sku<E: serde::de::Error>(key: String) -> Result<String, E> {
    if key.len() > MAX_SKU {
        return Err(E::custom(format!(
            "a SKU of {} bytes (at most {MAX_SKU})",
            key.len()
        )));
    }
    Ok(key)
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not JSON, or not this shape; `serde_json` says where (line and column).
    #[error(
        "expected an EC2 price list offer file ({{\"products\": …, \"terms\": {{\"OnDemand\": …}}}})"
    )]
    Json(#[source] serde_json::Error),
    #[error("no on-demand Linux price for any instance type in it")]
    Empty,
    /// A `GetProducts` price list entry that is not one product and its terms.
    #[error("expected a price list entry ({{\"product\": …, \"terms\": …}})")]
    Entry(#[source] serde_json::Error),
}

#[derive(Debug, Default)]
struct State {
    /// Matching product SKU → instance type.
    products: HashMap<String, InstanceType>,
    /// SKU → USD per hour, for on-demand terms seen before their products.
    early_prices: HashMap<String, f64>,
    prices: Prices,
}

impl State {
    fn price(&mut self, sku: &str, usd: f64) {
        if let Some(instance_type) = self.products.get(sku) {
            keep_lower(&mut self.prices, instance_type, usd);
        }
    }
}

/// Records `usd` for `instance_type`, or keeps the lower of it and the price already there
/// (two matching products of one type: the same rule for the file and the API).
pub fn keep_lower(prices: &mut Prices, instance_type: &InstanceType, usd: f64) {
    let entry = prices.entry(instance_type.clone()).or_insert(usd);
    *entry = entry.min(usd);
}

/// One entry of the Pricing API's `GetProducts` answer (`PriceList`: a JSON document per
/// product, `{"product": …, "terms": {"OnDemand": {"<sku>.<term code>": term}}}`, the offer
/// file's product and term shapes): the instance type and its on-demand USD per hour when
/// the product is one the offer file would keep, else `None`.
pub fn price_list_entry(text: &str) -> Result<Option<(InstanceType, f64)>, Error> {
    #[derive(Deserialize)]
    struct Entry {
        product: Product,
        #[serde(default)]
        terms: EntryTerms,
    }
    #[derive(Deserialize, Default)]
    struct EntryTerms {
        #[serde(rename = "OnDemand", default)]
        on_demand: HashMap<String, Term>,
    }
    let entry: Entry = serde_json::from_str(text).map_err(Error::Entry)?;
    let Some(instance_type) = entry.product.wanted() else {
        return Ok(None);
    };
    let usd = entry.terms.on_demand.values().find_map(Term::usd_per_hour);
    Ok(usd.map(|usd| (instance_type, usd)))
}

/// The prices in an offer file read from `reader`.
pub fn parse_offer(reader: impl Read) -> Result<Prices, Error> {
    let mut state = State::default();
    let mut de = serde_json::Deserializer::from_reader(Bounded::new(reader));
    Top(&mut state).deserialize(&mut de).map_err(Error::Json)?;
    de.end().map_err(Error::Json)?;
    let early = std::mem::take(&mut state.early_prices);
    for (sku, usd) in early {
        state.price(&sku, usd);
    }
    if state.prices.is_empty() {
        return Err(Error::Empty);
    }
    Ok(state.prices)
}

/// A product, with only the attributes that select it.
#[derive(Deserialize)]
struct Product {
    #[serde(rename = "productFamily", default)]
    family: String,
    #[serde(default)]
    attributes: Attributes,
}

#[derive(Deserialize, Default)]
struct Attributes {
    #[serde(rename = "instanceType", default)]
    instance_type: String,
    #[serde(rename = "operatingSystem", default)]
    operating_system: String,
    #[serde(default)]
    tenancy: String,
    #[serde(rename = "preInstalledSw", default)]
    pre_installed: String,
    #[serde(default)]
    capacitystatus: String,
    #[serde(rename = "locationType", default)]
    location_type: String,
}

impl Product {
    /// The product's instance type, when it is a product the offer file would keep.
    fn wanted(&self) -> Option<InstanceType> {
        let a = &self.attributes;
        let kept = self.family == "Compute Instance"
            && a.operating_system == "Linux"
            && a.tenancy == "Shared"
            && a.pre_installed == "NA"
            && a.capacitystatus == "Used"
            && (a.location_type.is_empty() || a.location_type == "AWS Region");
        kept.then(|| InstanceType::try_from(a.instance_type.as_str()).ok())
            .flatten()
    }
}

/// One on-demand term: its price dimensions.
#[derive(Deserialize)]
struct Term {
    #[serde(rename = "priceDimensions", default)]
    dimensions: HashMap<String, Dimension>,
}

#[derive(Deserialize)]
struct Dimension {
    #[serde(default)]
    unit: String,
    #[serde(rename = "pricePerUnit", default)]
    price: HashMap<String, String>,
}

impl Term {
    /// USD per hour, if the term has such a dimension.
    fn usd_per_hour(&self) -> Option<f64> {
        self.dimensions
            .values()
            .filter(|d| d.unit == "Hrs")
            .filter_map(|d| d.price.get("USD")?.parse::<f64>().ok())
            .find(|p| p.is_finite() && *p >= 0.0)
    }
}

/// A map walked entry by entry, each value handed to `each`.
fn walk_map<'de, A: MapAccess<'de>>(
    mut map: A,
    mut each: impl FnMut(String, &mut A) -> Result<(), A::Error>,
) -> Result<(), A::Error> {
    while let Some(key) = map.next_key::<String>()? {
        each(key, &mut map)?;
    }
    Ok(())
}

struct Top<'s>(&'s mut State);
struct Products<'s>(&'s mut State);
struct Terms<'s>(&'s mut State);
struct OnDemand<'s>(&'s mut State);

macro_rules! map_seed {
    ($name:ident, $expecting:literal, |$state:ident, $key:ident, $map:ident| $body:block) => {
        impl<'de> DeserializeSeed<'de> for $name<'_> {
            type Value = ();
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_map(self)
            }
        }
        impl<'de> Visitor<'de> for $name<'_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($expecting)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
                let $state = self.0;
                walk_map(map, |$key, $map| $body)
            }
        }
    };
}

map_seed!(Top, "an offer file object", |state, key, map| {
    match key.as_str() {
        "products" => map.next_value_seed(Products(state)),
        "terms" => map.next_value_seed(Terms(state)),
        _ => map.next_value::<IgnoredAny>().map(|_| ()),
    }
});

map_seed!(Products, "a map of SKU to product", |state, key, map| {
    let product: Product = map.next_value()?;
    if let Some(instance_type) = product.wanted() {
        if state.products.len() == MAX_PRODUCTS {
            return Err(serde::de::Error::custom(format!(
                "more than {MAX_PRODUCTS} matching products (a region has about 1,000)"
            )));
        }
        state.products.insert(sku(key)?, instance_type);
    }
    Ok(())
});

map_seed!(Terms, "a map of term type to terms", |state, key, map| {
    match key.as_str() {
        "OnDemand" => map.next_value_seed(OnDemand(state)),
        _ => map.next_value::<IgnoredAny>().map(|_| ()),
    }
});

map_seed!(
    OnDemand,
    "a map of SKU to on-demand terms",
    |state, key, map| {
        let terms: HashMap<String, Term> = map.next_value()?;
        if let Some(usd) = terms.values().find_map(Term::usd_per_hour) {
            if state.products.is_empty() {
                if state.early_prices.len() == MAX_EARLY_TERMS {
                    return Err(serde::de::Error::custom(format!(
                        "more than {MAX_EARLY_TERMS} on-demand terms before the products \
                         (AWS's files list the products first)"
                    )));
                }
                state.early_prices.insert(sku(key)?, usd);
            } else {
                state.price(&key, usd);
            }
        }
        Ok(())
    }
);

/// A reader that fails when a JSON token (a string, or what lies between two structural
/// characters) runs past [`MAX_TOKEN`] bytes.
struct Bounded<R> {
    inner: R,
    in_string: bool,
    escaped: bool,
    run: usize,
}

impl<R: Read> Bounded<R> {
    fn new(inner: R) -> Self {
        Bounded {
            inner,
            in_string: false,
            escaped: false,
            run: 0,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    self.run = 0;
                    continue;
                }
            } else if b == b'"' {
                self.in_string = true;
                self.run = 0;
                continue;
            } else if b"{}[],:".contains(&b) {
                self.run = 0;
                continue;
            }
            self.run += 1;
            if self.run > MAX_TOKEN {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("a value longer than {MAX_TOKEN} bytes"),
                ));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Products and terms as AWS's files have them (trimmed to a few attributes).
    fn offer(products_first: bool) -> String {
        let product = |sku: &str, t: &str, os: &str, tenancy: &str, sw: &str, cap: &str| {
            format!(
                r#""{sku}": {{"sku": "{sku}", "productFamily": "Compute Instance", "attributes": {{"servicecode": "AmazonEC2", "location": "US East (N. Virginia)", "locationType": "AWS Region", "instanceType": "{t}", "vcpu": "2", "operatingSystem": "{os}", "tenancy": "{tenancy}", "preInstalledSw": "{sw}", "capacitystatus": "{cap}", "licenseModel": "No License required"}}}}"#
            )
        };
        let term = |sku: &str, usd: &str| {
            format!(
                r#""{sku}": {{"{sku}.JRTCKXETXF": {{"offerTermCode": "JRTCKXETXF", "sku": "{sku}", "effectiveDate": "2026-11-01T00:00:00Z", "priceDimensions": {{"{sku}.JRTCKXETXF.6YS6EN2CT7": {{"unit": "Hrs", "pricePerUnit": {{"USD": "{usd}"}}, "description": "$x per On Demand Linux m5.large Instance Hour"}}}}, "termAttributes": {{}}}}}}"#
            )
        };
        let products = [
            product("A1", "m5.large", "Linux", "Shared", "NA", "Used"),
            product("A2", "m5.large", "Windows", "Shared", "NA", "Used"),
            product("A3", "m5.large", "Linux", "Dedicated", "NA", "Used"),
            product("A4", "m5.large", "Linux", "Shared", "SQL Std", "Used"),
            product(
                "A5",
                "m5.large",
                "Linux",
                "Shared",
                "NA",
                "UnusedCapacityReservation",
            ),
            product("B1", "c5.large", "Linux", "Shared", "NA", "Used"),
        ]
        .join(", ");
        let terms = [
            term("A1", "0.0960000000"),
            term("A2", "0.1880000000"),
            term("A3", "0.1060000000"),
            term("A4", "0.4000000000"),
            term("A5", "0.0000000000"),
            term("B1", "0.0850000000"),
        ]
        .join(", ");
        let products = format!(r#""products": {{{products}}}"#);
        let terms = format!(r#""terms": {{"Reserved": {{"A1": {{}}}}, "OnDemand": {{{terms}}}}}"#);
        let (first, second) = if products_first {
            (products, terms)
        } else {
            (terms, products)
        };
        format!(
            r#"{{"formatVersion": "v1.0", "disclaimer": "…", "offerCode": "AmazonEC2", "version": "20261101000000", {first}, {second}, "attributesList": {{}}}}"#
        )
    }

    #[test]
    fn keeps_on_demand_linux_shared_prices() {
        for products_first in [true, false] {
            let prices = parse_offer(offer(products_first).as_bytes()).unwrap();
            assert_eq!(prices.len(), 2, "{prices:?}");
            assert_eq!(prices["m5.large"], 0.096);
            assert_eq!(prices["c5.large"], 0.085);
        }
    }

    /// The error and its causes, as nodecap's `error::Chain` prints them.
    fn chain(error: &dyn std::error::Error) -> String {
        let mut line = error.to_string();
        let mut cause = error.source();
        while let Some(c) = cause {
            line = format!("{line}: {c}");
            cause = c.source();
        }
        line
    }

    #[test]
    fn errors_name_where() {
        let broken = offer(true).replacen("\"Hrs\"", "\"Hrs", 1);
        let error = parse_offer(broken.as_bytes()).unwrap_err();
        let message = chain(&error);
        assert_eq!(message.matches("line 1 column").count(), 1, "{message}");
        assert!(matches!(
            parse_offer(&b"{\"products\": {}}"[..]),
            Err(Error::Empty)
        ));
        // One string past the token bound fails before it is held.
        let long = format!("{{\"x\": \"{}\"}}", "a".repeat(MAX_TOKEN + 10));
        let error = parse_offer(long.as_bytes()).unwrap_err();
        let message = chain(&error);
        assert!(message.contains("longer than"), "{message}");
    }

    #[test]
    fn reads_get_products_entries() {
        let entry = |os: &str, location_type: &str| {
            format!(
                r#"{{"product": {{"productFamily": "Compute Instance", "sku": "A",
                "attributes": {{"instanceType": "m5.large", "operatingSystem": "{os}",
                "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used",
                "locationType": "{location_type}"}}}},
                "terms": {{"OnDemand": {{"A.JRTCKXETXF": {{"priceDimensions": {{"A.J.6YS":
                {{"unit": "Hrs", "pricePerUnit": {{"USD": "0.0960000000"}}}}}}}}}},
                "Reserved": {{"A.4NA7Y494T4": {{"priceDimensions": {{}}}}}}}}}}"#
            )
        };
        assert_eq!(
            price_list_entry(&entry("Linux", "AWS Region")).unwrap(),
            Some(("m5.large".parse().unwrap(), 0.096))
        );
        assert_eq!(
            price_list_entry(&entry("Windows", "AWS Region")).unwrap(),
            None
        );
        assert_eq!(
            price_list_entry(&entry("Linux", "AWS Local Zone")).unwrap(),
            None
        );
        assert!(matches!(price_list_entry("[]"), Err(Error::Entry(_))));
    }
}
