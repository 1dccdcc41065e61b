//! The one place the CloudWatch SDK is called: a client from the default chain (SDK retries
//! off: the publisher retries itself, so its counts and deadlines hold), one PutMetricData
//! call, and its failure told as an [`ErrorKind`]. Every answer, error answers included, is
//! read up to [`MAX_ANSWER`] bytes (PutMetricData answers a few bytes, an error a few
//! hundred); past that the call fails as [`ErrorKind::TooLong`], and the server's error
//! message is quoted at most [`crate::core::excerpt::MAX_CHARS`] characters in the log.

use std::time::Duration;

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

use super::call::{ErrorKind, PutFailure};
use super::datum::{self, Datum};
use crate::aws::answer::{AnswerLimit, too_long};
use crate::core::names::Region;
use crate::error::Chain;

/// The longest answer read from CloudWatch, bytes.
pub const MAX_ANSWER: usize = 64 * 1024;
/// CloudWatch answers in CBOR: bytes only.
const LIMIT: AnswerLimit = AnswerLimit {
    max_bytes: MAX_ANSWER,
    json: None,
};

#[derive(Debug)]
pub struct Client(aws_sdk_cloudwatch::Client);

impl From<aws_sdk_cloudwatch::Client> for Client {
    /// The client's own configuration, with every answer bounded.
    fn from(client: aws_sdk_cloudwatch::Client) -> Self {
        let config = client
            .config()
            .to_builder()
            .interceptor(LIMIT)
            .retry_classifier(LIMIT)
            .build();
        Client(aws_sdk_cloudwatch::Client::from_conf(config))
    }
}

impl Client {
    /// The default credential chain, in `region` when given (else the chain's own).
    pub async fn from_environment(region: Option<Region>) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::disabled());
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_string()));
        }
        Client::from(aws_sdk_cloudwatch::Client::new(&loader.load().await))
    }

    /// One PutMetricData call of `batch` into `namespace`, within `timeout`; a failure is
    /// logged with its status, code and first metric.
    pub async fn put(
        &self,
        namespace: &str,
        batch: &[Datum],
        timeout: Duration,
    ) -> Result<(), ErrorKind> {
        let data: Vec<MetricDatum> = batch.iter().map(to_sdk).collect();
        let call = self
            .0
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(data))
            .send();
        match tokio::time::timeout(timeout, call).await {
            Err(_) => {
                tracing::warn!("cloudwatch:PutMetricData: no answer within {timeout:?}");
                Err(ErrorKind::Network)
            }
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if too_long(&e) => {
                tracing::warn!(
                    datums = batch.len(),
                    "cloudwatch:PutMetricData failed: the answer is longer than {MAX_ANSWER} bytes"
                );
                Err(ErrorKind::TooLong)
            }
            Ok(Err(e)) => {
                let failure = PutFailure::of(
                    e.raw_response().map(|r| r.status().as_u16()),
                    e.code().unwrap_or_default(),
                    e.message(),
                    &Chain(&e).to_string(),
                );
                let first = batch.first().map(|d| d.name.as_str()).unwrap_or_default();
                tracing::warn!(
                    kind = %failure.kind,
                    status = e.raw_response().map_or(0, |r| r.status().as_u16()),
                    code = failure.code,
                    first_metric = first,
                    datums = batch.len(),
                    "cloudwatch:PutMetricData failed: {}",
                    failure.message
                );
                Err(failure.kind)
            }
        }
    }
}

fn to_sdk(datum: &Datum) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(&datum.name)
        .set_dimensions(Some(
            datum
                .dimensions
                .iter()
                .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                .collect(),
        ))
        .value(datum.value)
        .unit(match datum.unit {
            datum::Unit::Count => StandardUnit::Count,
            datum::Unit::Bytes => StandardUnit::Bytes,
        })
        .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(
            datum.timestamp,
        ))
        .build()
}
