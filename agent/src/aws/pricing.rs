//! AWS's Price List Query API (`aws-sdk-pricing`): the on-demand Linux prices of one region's
//! instance types, for `nodecap density --pricing-api`.
//!
//! `GetProducts` for service `AmazonEC2`, filtered on the server by `regionCode` (the region
//! asked for), `operatingSystem` Linux, `tenancy` Shared, `preInstalledSw` NA and
//! `capacitystatus` Used, 100 products a page, following `NextToken`. Each `PriceList` entry
//! is one product and its terms in the offer file's shape, read by
//! [`crate::core::offer::price_list_entry`], which applies the offer file's rule again (a
//! compute instance in the region itself, an hourly USD on-demand price): the API and the file
//! give the same prices. A type with two matching products keeps the lower price.
//!
//! The API answers in a few regions only; nodecap asks `us-east-1` (`AWS_ENDPOINT_URL_PRICING`
//! or `AWS_ENDPOINT_URL` point it elsewhere) with the default credential chain
//! (`pricing:GetProducts`). The SDK retries throttling and server errors (standard mode); each
//! answer may be at most [`MAX_ANSWER`] bytes, each attempt [`ATTEMPT_TIMEOUT`] long and the
//! whole listing [`LISTING_TIMEOUT`].

use std::time::Duration;

use aws_sdk_pricing::error::ProvideErrorMetadata;
use aws_sdk_pricing::types::{Filter, FilterType};

use super::answer::{AnswerLimit, JsonBound, PastBound, past_json_bound, too_long};
use crate::core::density::Prices;
use crate::core::excerpt::Excerpt;
use crate::core::names::Region;
use crate::core::offer;

/// The region whose Price List endpoint is asked.
const API_REGION: &str = "us-east-1";
/// The longest answer read (a page of 100 products with all their terms is ~1 MB).
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;
/// Strings in one answer, keys included: a page is 100 entries and a few keys; 16 MiB of
/// tiny entries once became millions of `String`s in the SDK's reader.
const MAX_STRINGS: u32 = 1_000;
/// The time one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The time every page together may take (a region's ~20 pages take a few seconds).
const LISTING_TIMEOUT: Duration = Duration::from_secs(300);
/// Pages followed at most: a region's matching products fill ~20.
pub const MAX_PAGES: usize = 1_000;
const PAGE_SIZE: i32 = 100;
/// Arrays and objects nested at most this deep in an answer: a page is 3 deep (its entries
/// are strings of JSON, read by serde_json with its own limit of 128), an error 2.
pub const MAX_DEPTH: u32 = 32;
const LIMIT: AnswerLimit = AnswerLimit {
    max_bytes: MAX_ANSWER,
    json: Some(JsonBound {
        max_depth: MAX_DEPTH,
        max_strings: MAX_STRINGS,
    }),
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API's own error: its code (cut short) and message (quoted: the server's words).
    #[error("pricing:GetProducts: {code}: {message}")]
    Api { code: String, message: Excerpt },
    #[error("pricing:GetProducts: the answer is longer than {MAX_ANSWER} bytes")]
    TooLarge,
    #[error("pricing:GetProducts: the answer nests arrays or objects deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error(
        "pricing:GetProducts: the answer holds more than {MAX_STRINGS} strings (a page is 100 entries)"
    )]
    TooManyStrings,
    /// No answer: the SDK's kind of failure (dispatch failure, timeout, response error) and
    /// what it came down to.
    #[error("pricing:GetProducts: {kind}: {cause}")]
    Call { kind: String, cause: String },
    #[error("pricing:GetProducts page {page}")]
    Entry {
        page: usize,
        #[source]
        source: offer::Error,
    },
    #[error("pricing:GetProducts: more than {MAX_PAGES} pages, or a page token repeated")]
    Paging,
    #[error("pricing:GetProducts: no on-demand Linux price for any instance type in {0}")]
    Empty(Region),
    #[error("pricing:GetProducts: the pages took longer than {LISTING_TIMEOUT:?}")]
    Timeout,
}

/// Every matching instance type's on-demand USD per hour in `region`, within
/// [`LISTING_TIMEOUT`].
pub async fn on_demand_linux(region: &Region) -> Result<Prices, Error> {
    tokio::time::timeout(LISTING_TIMEOUT, listing(region))
        .await
        .unwrap_or(Err(Error::Timeout))
}

async fn listing(region: &Region) -> Result<Prices, Error> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(API_REGION))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .load()
        .await;
    let pricing = aws_sdk_pricing::config::Builder::from(&config)
        .interceptor(LIMIT)
        .retry_classifier(LIMIT)
        .build();
    let client = aws_sdk_pricing::Client::from_conf(pricing);
    let filters: Vec<Filter> = [
        ("regionCode", region.as_str()),
        ("operatingSystem", "Linux"),
        ("tenancy", "Shared"),
        ("preInstalledSw", "NA"),
        ("capacitystatus", "Used"),
    ]
    .into_iter()
    .map(|(field, value)| {
        Filter::builder()
            .r#type(FilterType::TermMatch)
            .field(field)
            .value(value)
            .build()
            .map_err(|e| Error::Call {
                kind: "building the request".into(),
                cause: e.to_string(),
            })
    })
    .collect::<Result<_, _>>()?;

    let mut prices = Prices::new();
    let mut token: Option<String> = None;
    let mut seen = crate::aws::paging::PageTokens::default();
    for page in 1..=MAX_PAGES {
        let answer = client
            .get_products()
            .service_code("AmazonEC2")
            .set_filters(Some(filters.clone()))
            .format_version("aws_v1")
            .max_results(PAGE_SIZE)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(call_error)?;
        for entry in answer.price_list() {
            let found =
                offer::price_list_entry(entry).map_err(|source| Error::Entry { page, source })?;
            if let Some((instance_type, usd)) = found {
                offer::keep_lower(&mut prices, &instance_type, usd);
            }
        }
        match answer.next_token().filter(|t| !t.is_empty()) {
            None => {
                return if prices.is_empty() {
                    Err(Error::Empty(region.clone()))
                } else {
                    Ok(prices)
                };
            }
            Some(next) if !seen.is_new(next) => return Err(Error::Paging),
            Some(next) => token = Some(next.to_owned()),
        }
    }
    Err(Error::Paging)
}

/// A failed call told in one line: the API's code and message, the bound, or the SDK's kind
/// of failure and its innermost cause.
fn call_error<E, R>(e: aws_sdk_pricing::error::SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let Some(code) = e.code() {
        return Error::Api {
            code: crate::core::excerpt::clip(code, crate::core::excerpt::MAX_CHARS),
            message: Excerpt::of(e.message().unwrap_or_default()),
        };
    }
    if too_long(&e) {
        return Error::TooLarge;
    }
    match past_json_bound(&e) {
        Some(PastBound::Depth(_)) => return Error::TooDeep,
        Some(PastBound::Strings(_)) => return Error::TooManyStrings,
        None => {}
    }
    Error::Call {
        kind: e.to_string(),
        cause: crate::core::excerpt::clip(&crate::error::root_cause(&e).to_string(), 200),
    }
}
