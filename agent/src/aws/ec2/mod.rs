//! The EC2 API: the four read-only calls nodecap makes, in the caller's region, with the
//! default credential chain (instance profile, IRSA, EKS Pod Identity, environment;
//! `aws-config`). Honours `AWS_ENDPOINT_URL_EC2` and `AWS_ENDPOINT_URL`, which is how tests
//! point it at an emulator.
//!
//! | call | module | used by |
//! |---|---|---|
//! | `DescribeInstanceTypes` | [`instance_types`] | `init`, `run`: a type the table lacks |
//! | `DescribeSubnets`, `DescribeNetworkInterfaces`, `GetSubnetCidrReservations` | [`subnets`] | `nodecap subnets` |
//!
//! Why not `aws-sdk-ec2`: it generates the whole EC2 API (hundreds of operations) and took 6.5
//! of a cold debug build's 9.5 minutes, and as long again in every other profile, for the few
//! calls nodecap makes. [`Client`] speaks EC2's Query protocol itself
//! (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Query-Requests.html>): a form
//! POST signed with SigV4 by `aws-sigv4` (the SDK's own signer), the XML answer read into
//! plain structs by `quick-xml`'s serde support. It follows `NextToken` pages
//! ([`Client::pages`]), retries throttling, 5xx and network failures with jittered
//! exponential backoff when asked to ([`Retry`]), and counts its calls by action and failure
//! ([`Calls`]) for the caller's metrics.
//!
//! Every answer is bounded, and so is what it becomes: [`MAX_ANSWER`] bytes an answer, a cap
//! on the items of every list in it ([`Items`], refused while it is read, so 16 MiB of empty
//! `<item/>` never become millions of records), a cap on the items of a listing across all
//! its pages, [`MAX_TOKEN`] bytes a page token, [`MAX_PAGES`] pages, and a [`Deadline`] for
//! every page of every listing a command or cycle makes.

pub mod instance_types;
pub mod subnets;
// The signed HTTPS POST: aws-config, aws-sigv4 and rustls. Built without the `aws` feature
// (the fuzz targets' build, which must not compile the AWS crates), a stand-in answers
// every call with `CallError::NotBuilt`.
#[cfg_attr(feature = "aws", path = "transport.rs")]
#[cfg_attr(not(feature = "aws"), path = "transport_unavailable.rs")]
mod transport;

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::core::names::Region;
use hyper::StatusCode;
use serde::Deserialize;
use transport::Transport;
/// The Query API version EC2 documents its actions under.
const API_VERSION: &str = "2016-11-15";
/// The largest page of a listing read: a page of 200 network interfaces with 50 addresses
/// each is a few MiB.
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;
/// Pages followed for one listing at most: a `NextToken` that never ends is an error, not a
/// loop.
const MAX_PAGES: usize = 10_000;
/// The longest page token followed: EC2's are a few hundred bytes; a longer one is refused
/// rather than copied into every later request.
pub const MAX_TOKEN: usize = 64 * 1024;

pub use crate::aws::paging::Deadline;

/// Why one call to the EC2 API failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Transport(#[from] transport::Error),
    #[error("HTTP {status}: {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: crate::core::excerpt::Excerpt,
    },
    #[error("HTTP {status}")]
    Status { status: u16 },
    /// What the XML reader said, cut short: it can quote the answer at length.
    #[error("unreadable answer: {0}")]
    Xml(crate::core::excerpt::Excerpt),
    #[error("more than {MAX_PAGES} pages, or a page token repeated")]
    Paging,
    #[error("a page token of {0} bytes (at most {MAX_TOKEN})")]
    TokenTooLong(usize),
    /// A listing past its cap across pages ([`Client::pages`]).
    #[error("more than {max} {what} in all pages")]
    TooMany { what: &'static str, max: usize },
    #[error("the deadline of {limit:?} passed after {pages} pages ({elapsed:?} in)")]
    Deadline {
        limit: Duration,
        pages: usize,
        elapsed: Duration,
    },
}

/// What kind of failure a call met, for counting and for deciding to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureClass {
    /// `Throttling`, `RequestLimitExceeded` or HTTP 429: retried.
    Throttling,
    /// HTTP 5xx: retried.
    Server,
    /// No answer (connection, timeout): retried.
    Network,
    /// Anything else (credentials, permissions, a bad request, an unreadable answer): not.
    Client,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Throttling => "throttling",
            FailureClass::Server => "server",
            FailureClass::Network => "network",
            FailureClass::Client => "client",
        }
    }

    fn retried(self) -> bool {
        self != FailureClass::Client
    }
}

impl CallError {
    pub fn xml(e: quick_xml::DeError) -> Self {
        CallError::Xml(crate::core::excerpt::Excerpt::of(&e.to_string()))
    }

    pub fn failure(&self) -> FailureClass {
        match self {
            CallError::Api { status, code, .. } => {
                if *status == 429 || matches!(code.as_str(), "Throttling" | "RequestLimitExceeded")
                {
                    FailureClass::Throttling
                } else if *status >= 500 {
                    FailureClass::Server
                } else {
                    FailureClass::Client
                }
            }
            CallError::Status { status } if *status == 429 => FailureClass::Throttling,
            CallError::Status { status } if *status >= 500 => FailureClass::Server,
            CallError::Timeout(_) => FailureClass::Network,
            CallError::Transport(e) if e.is_network() => FailureClass::Network,
            _ => FailureClass::Client,
        }
    }
}

/// How failed calls are retried: up to `attempts` in all, waiting a random time up to
/// `first × 2ⁿ` (capped at `max`) before the n-th retry ("full jitter", so many clients
/// throttled together do not come back together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub attempts: u32,
    pub first: Duration,
    pub max: Duration,
    /// Time one attempt may take.
    pub call_timeout: Duration,
}

impl Retry {
    /// One attempt, no timeout of its own (the caller bounds it, as `init`'s deadline does).
    pub const NONE: Retry = Retry {
        attempts: 1,
        first: Duration::ZERO,
        max: Duration::ZERO,
        call_timeout: Duration::MAX,
    };

    /// A long-running reader's: five attempts within about a minute.
    pub const STANDARD: Retry = Retry {
        attempts: 5,
        first: Duration::from_millis(500),
        max: Duration::from_secs(20),
        call_timeout: Duration::from_secs(30),
    };

    /// The wait before retry `n` (1-based): uniform in `[0, min(max, first × 2ⁿ⁻¹)]`.
    fn backoff(&self, n: u32) -> Duration {
        use std::hash::{BuildHasher, RandomState};
        let ceiling = self
            .first
            .saturating_mul(1 << n.saturating_sub(1).min(16))
            .min(self.max);
        let fraction = (RandomState::new().hash_one(n) % 10_001) as f64 / 10_000.0;
        ceiling.mul_f64(fraction)
    }
}

/// The EC2 actions nodecap calls (the README's IAM policy lists exactly these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Action {
    DescribeInstanceTypes,
    DescribeSubnets,
    DescribeNetworkInterfaces,
    GetSubnetCidrReservations,
}

impl Action {
    /// Every action, each once.
    pub const ALL: [Action; 4] = [
        Action::DescribeInstanceTypes,
        Action::DescribeSubnets,
        Action::DescribeNetworkInterfaces,
        Action::GetSubnetCidrReservations,
    ];

    /// The action's name in the Query API (`Action=DescribeSubnets`), in metrics and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::DescribeInstanceTypes => "DescribeInstanceTypes",
            Action::DescribeSubnets => "DescribeSubnets",
            Action::DescribeNetworkInterfaces => "DescribeNetworkInterfaces",
            Action::GetSubnetCidrReservations => "GetSubnetCidrReservations",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Calls made and failures met, by action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calls {
    /// Every attempt, retries included.
    pub calls: BTreeMap<Action, u64>,
    pub failures: BTreeMap<(Action, FailureClass), u64>,
}

impl Calls {
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }

    /// The calls made since `before` was taken.
    pub fn since(&self, before: &Calls) -> Calls {
        let mut calls = self.clone();
        for (action, n) in &before.calls {
            if let Some(now) = calls.calls.get_mut(action) {
                *now = now.saturating_sub(*n);
            }
        }
        for (key, n) in &before.failures {
            if let Some(now) = calls.failures.get_mut(key) {
                *now = now.saturating_sub(*n);
            }
        }
        calls.calls.retain(|_, n| *n > 0);
        calls.failures.retain(|_, n| *n > 0);
        calls
    }
}

/// A signed connection to EC2 in one region: made once, used for every call.
pub struct Client {
    transport: Transport,
    retry: Retry,
    calls: Mutex<Calls>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("retry", &self.retry)
            .finish()
    }
}

impl Client {
    /// The default credential chain and endpoint for `region`.
    pub async fn new(region: &Region, retry: Retry) -> Result<Self, CallError> {
        let transport = Transport::from_environment(region, &regional_endpoint(region)).await?;
        Ok(Client {
            transport,
            retry,
            calls: Mutex::new(Calls::default()),
        })
    }

    /// The calls made so far.
    pub fn calls(&self) -> Calls {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn count(&self, action: Action, failure: Option<FailureClass>) {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        *calls.calls.entry(action).or_default() += 1;
        if let Some(failure) = failure {
            *calls.failures.entry((action, failure)).or_default() += 1;
        }
    }

    /// One call (`Action=…&Version=…&params`), retried as configured; an answer of at most
    /// `max_answer` bytes read as `T`.
    pub async fn call<T: serde::de::DeserializeOwned>(
        &self,
        action: Action,
        params: &[(String, String)],
        max_answer: usize,
    ) -> Result<T, CallError> {
        let body = form(
            [("Action", action.as_str()), ("Version", API_VERSION)]
                .into_iter()
                .chain(params.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        );
        let mut attempt = 1;
        loop {
            let result = match tokio::time::timeout(
                self.retry.call_timeout,
                self.attempt(body.clone(), max_answer),
            )
            .await
            {
                Ok(result) => result,
                Err(_) => Err(CallError::Timeout(self.retry.call_timeout)),
            };
            let failure = result.as_ref().err().map(CallError::failure);
            self.count(action, failure);
            match (result, failure) {
                (Ok(answer), _) => return Ok(answer),
                (Err(e), Some(failure)) if failure.retried() && attempt < self.retry.attempts => {
                    let wait = self.retry.backoff(attempt);
                    tracing::debug!(
                        action = action.as_str(),
                        attempt,
                        ?wait,
                        "EC2 call failed, retrying: {e}"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                (Err(e), _) => return Err(e),
            }
        }
    }

    /// Every page of a listing: `params` plus `NextToken` from the page before, each page read
    /// as `T` and handed to `each` (so a listing of thousands is never held whole). At most
    /// `max_items` items in all pages ([`Page::items`]), every call done by `deadline`.
    pub async fn pages<T: serde::de::DeserializeOwned + Page>(
        &self,
        action: Action,
        params: &[(String, String)],
        max_items: usize,
        deadline: Deadline,
        mut each: impl FnMut(T),
    ) -> Result<(), CallError> {
        let mut params = params.to_vec();
        let mut seen = crate::aws::paging::PageTokens::default();
        let mut items = 0usize;
        for pages in 0..MAX_PAGES {
            let late = || CallError::Deadline {
                limit: deadline.limit(),
                pages,
                elapsed: deadline.elapsed(),
            };
            let call = self.call(action, &params, MAX_ANSWER);
            let mut page: T = tokio::time::timeout_at(deadline.instant(), call)
                .await
                .map_err(|_| late())??;
            items = items.saturating_add(page.items());
            if items > max_items {
                return Err(CallError::TooMany {
                    what: T::WHAT,
                    max: max_items,
                });
            }
            let next = page.take_next_token();
            each(page);
            match next.filter(|t| !t.is_empty()) {
                None => return Ok(()),
                Some(token) => {
                    if token.len() > MAX_TOKEN {
                        return Err(CallError::TokenTooLong(token.len()));
                    }
                    if !seen.is_new(&token) {
                        return Err(CallError::Paging);
                    }
                    params.retain(|(k, _)| k != "NextToken");
                    params.push(("NextToken".to_owned(), token));
                }
            }
        }
        Err(CallError::Paging)
    }

    /// One signed POST; an error answer read as EC2's `<Response><Errors>`.
    async fn attempt<T: serde::de::DeserializeOwned>(
        &self,
        body: String,
        max_answer: usize,
    ) -> Result<T, CallError> {
        let (status, answer) = self.transport.post(body, max_answer).await?;
        let text = String::from_utf8_lossy(&answer);
        if status != StatusCode::OK {
            return Err(match quick_xml::de::from_str::<ErrorResponse>(&text) {
                Ok(ErrorResponse { errors }) if !errors.error.is_empty() => {
                    let first = &errors.error[0];
                    CallError::Api {
                        status: status.as_u16(),
                        code: crate::core::excerpt::clip(&first.code, 64),
                        message: crate::core::excerpt::Excerpt::of(&first.message),
                    }
                }
                _ => CallError::Status {
                    status: status.as_u16(),
                },
            });
        }
        quick_xml::de::from_str(&text).map_err(CallError::xml)
    }
}

/// A page of a listing.
pub trait Page {
    /// What the listing holds, plural ("subnets"), for the error naming its cap.
    const WHAT: &'static str;
    /// The items on this page, counted against the listing's cap.
    fn items(&self) -> usize;
    /// Where the next page starts, taken out of the page (kept once, never copied).
    fn take_next_token(&mut self) -> Option<String>;
}

/// `https://ec2.REGION.amazonaws.com` (`.com.cn` in the China regions).
fn regional_endpoint(region: &Region) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://ec2.{region}.{suffix}")
}

/// `application/x-www-form-urlencoded` parameters.
fn form<'a>(params: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (key, value) in params {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode(key));
        out.push('=');
        out.push_str(&encode(value));
    }
    out
}

/// RFC 3986 percent-encoding of everything but the unreserved characters, as SigV4 expects.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

pub use crate::core::names::is_resource_id;

/// `Filter.N.Name` / `Filter.N.Value.M` parameters.
pub fn filters(filters: &[(&str, &[String])]) -> Vec<(String, String)> {
    let mut params = Vec::new();
    for (n, (name, values)) in filters.iter().enumerate() {
        params.push((format!("Filter.{}.Name", n + 1), (*name).to_owned()));
        for (m, value) in values.iter().enumerate() {
            params.push((format!("Filter.{}.Value.{}", n + 1, m + 1), value.clone()));
        }
    }
    params
}

// ---- the XML shared by every answer --------------------------------------------------------

/// `<Response><Errors><Error><Code/><Message/></Error></Errors></Response>`.
#[derive(Debug, Deserialize)]
struct ErrorResponse {
    #[serde(rename = "Errors")]
    errors: ErrorList,
}

#[derive(Debug, Deserialize)]
struct ErrorList {
    #[serde(rename = "Error", default)]
    error: Vec<ErrorDetail>,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(rename = "Code", default)]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

/// An EC2 list, `<set><item>…</item>…</set>`, of at most `MAX` items: a longer one is an
/// unreadable answer, refused at item `MAX + 1` as it is read.
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de> + Listed"))]
struct Items<T, const MAX: usize> {
    #[serde(default)]
    item: AtMost<T, MAX>,
}

impl<T, const MAX: usize> Default for Items<T, MAX> {
    fn default() -> Self {
        Items {
            item: AtMost(Vec::new()),
        }
    }
}

impl<T, const MAX: usize> Items<T, MAX> {
    fn len(&self) -> usize {
        self.item.0.len()
    }
}

impl<T, const MAX: usize> IntoIterator for Items<T, MAX> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.item.0.into_iter()
    }
}

/// What an [`Items`] list holds, plural, for the error naming its cap.
trait Listed {
    const WHAT: &'static str;
}

impl Listed for String {
    const WHAT: &'static str = "values";
}

/// A sequence read up to `MAX` items; the next one is an error.
#[derive(Debug)]
struct AtMost<T, const MAX: usize>(Vec<T>);

impl<T, const MAX: usize> Default for AtMost<T, MAX> {
    fn default() -> Self {
        AtMost(Vec::new())
    }
}

impl<'de, T: Deserialize<'de> + Listed, const MAX: usize> Deserialize<'de> for AtMost<T, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T, const MAX: usize>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Listed, const MAX: usize> serde::de::Visitor<'de>
            for Visitor<T, MAX>
        {
            type Value = AtMost<T, MAX>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "at most {MAX} {}", T::WHAT)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    if items.len() == MAX {
                        return Err(serde::de::Error::custom(format!(
                            "more than {MAX} {} in one list",
                            T::WHAT
                        )));
                    }
                    items.push(item);
                }
                Ok(AtMost(items))
            }
        }
        deserializer.deserialize_seq(Visitor::<T, MAX>(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_api_errors() {
        let error = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidInstanceType</Code><Message>The following supplied instance types do not exist: [x9z.large]</Message></Error></Errors><RequestID>1</RequestID></Response>"#;
        let parsed: ErrorResponse = quick_xml::de::from_str(error).unwrap();
        assert_eq!(parsed.errors.error[0].code, "InvalidInstanceType");
    }

    #[test]
    fn a_list_past_its_cap_is_refused_as_it_is_read() {
        #[derive(Debug, Deserialize)]
        struct Answer {
            set: Items<String, 3>,
        }
        let three: Answer =
            quick_xml::de::from_str("<A><set><item>a</item><item>b</item><item>c</item></set></A>")
                .unwrap();
        assert_eq!(three.set.into_iter().collect::<Vec<_>>(), ["a", "b", "c"]);
        let empty: Answer = quick_xml::de::from_str("<A><set/></A>").unwrap();
        assert_eq!(empty.set.len(), 0);
        let many = format!("<A><set>{}</set></A>", "<item/>".repeat(100_000));
        let error = quick_xml::de::from_str::<Answer>(&many).unwrap_err();
        assert_eq!(
            CallError::xml(error).to_string(),
            r#"unreadable answer: "more than 3 values in one list""#
        );
    }

    #[test]
    fn failures_and_what_is_retried() {
        let api = |status, code: &str| CallError::Api {
            status,
            code: code.to_owned(),
            message: crate::core::excerpt::Excerpt::of(""),
        };
        assert_eq!(
            api(503, "RequestLimitExceeded").failure(),
            FailureClass::Throttling
        );
        assert_eq!(api(400, "Throttling").failure(), FailureClass::Throttling);
        assert_eq!(api(500, "InternalError").failure(), FailureClass::Server);
        assert_eq!(
            api(403, "UnauthorizedOperation").failure(),
            FailureClass::Client
        );
        assert_eq!(
            CallError::Status { status: 429 }.failure(),
            FailureClass::Throttling
        );
        assert_eq!(
            CallError::Timeout(Duration::from_secs(1)).failure(),
            FailureClass::Network
        );
        assert!(!FailureClass::Client.retried());
        assert!(FailureClass::Server.retried());
    }

    #[test]
    fn backoff_is_jittered_under_an_exponential_ceiling() {
        let retry = Retry::STANDARD;
        for n in 1..10 {
            let ceiling = (retry.first * (1 << (n - 1))).min(retry.max);
            let waits: Vec<Duration> = (0..50).map(|_| retry.backoff(n)).collect();
            assert!(waits.iter().all(|w| *w <= ceiling), "{n}: {waits:?}");
            assert!(waits.iter().any(|w| *w != waits[0]), "{n}: no jitter");
        }
    }

    #[test]
    fn form_encoding_filters_and_endpoints() {
        assert_eq!(
            form(
                [
                    ("Action", "DescribeInstanceTypes"),
                    ("InstanceType.1", "m5.large")
                ]
                .into_iter()
            ),
            "Action=DescribeInstanceTypes&InstanceType.1=m5.large"
        );
        assert_eq!(encode("a b/c=d"), "a%20b%2Fc%3Dd");
        let ids = ["subnet-a".to_owned(), "subnet-b".to_owned()];
        let pairs = filters(&[("subnet-id", &ids), ("tag-key", &["x".to_owned()])]);
        let rendered: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            rendered,
            [
                "Filter.1.Name=subnet-id",
                "Filter.1.Value.1=subnet-a",
                "Filter.1.Value.2=subnet-b",
                "Filter.2.Name=tag-key",
                "Filter.2.Value.1=x"
            ]
        );
        assert_eq!(
            regional_endpoint(&"us-east-1".parse().unwrap()),
            "https://ec2.us-east-1.amazonaws.com"
        );
        assert_eq!(
            regional_endpoint(&"cn-north-1".parse().unwrap()),
            "https://ec2.cn-north-1.amazonaws.com.cn"
        );
    }
}
