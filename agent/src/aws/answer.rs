//! A bound on every answer an AWS SDK client reads, error answers included: an interceptor
//! wraps the response body in `http_body_util::Limited` before the SDK deserializes it, so an
//! answer past the bound fails the read (and the call) instead of growing, and a retry
//! classifier forbids retrying it (the same call would get the same answer). For a JSON
//! protocol the body is also scanned as it streams past for its nesting depth, before the
//! SDK's reader (which recurses once per level: 70,000 `[` overflowed its stack) sees it.
//! The Price List client and the CloudWatch publisher install it; the EC2 Query client bounds
//! its own reads.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use aws_sdk_cloudwatch::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, InterceptorContext,
};
use aws_sdk_cloudwatch::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_cloudwatch::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_cloudwatch::error::BoxError;
use aws_smithy_types::body::SdkBody;

use crate::aws::json_depth::Depth;
pub use crate::aws::json_depth::{JsonBound, PastBound};

/// Bounds every answer's body before the SDK reads it: its bytes, and for JSON its depth and
/// its strings.
#[derive(Debug, Clone, Copy)]
pub struct AnswerLimit {
    pub max_bytes: usize,
    /// JSON protocols only.
    pub json: Option<JsonBound>,
}

/// Whether a failed call comes down to an [`AnswerLimit`]'s byte bound: the one test both the
/// error reports and the retry classifier make.
pub fn too_long(error: &(dyn std::error::Error + 'static)) -> bool {
    crate::error::root_cause(error).is::<http_body_util::LengthLimitError>()
}

/// Whether a failed call comes down to an [`AnswerLimit`]'s JSON bound, and which.
pub fn past_json_bound(error: &(dyn std::error::Error + 'static)) -> Option<PastBound> {
    crate::error::root_cause(error)
        .downcast_ref::<PastBound>()
        .copied()
}

/// A body that fails once its JSON passes `bound`.
#[derive(Debug)]
struct DepthLimited<B> {
    inner: B,
    depth: Depth,
    bound: JsonBound,
}

impl<B> Body for DepthLimited<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.depth.feed(data, this.bound)?;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Intercept for AnswerLimit {
    fn name(&self) -> &'static str {
        "AnswerLimit"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = http_body_util::Limited::new(context.response_mut().take_body(), self.max_bytes);
        *context.response_mut().body_mut() = match self.json {
            Some(bound) => SdkBody::from_body_1_x(DepthLimited {
                inner: body,
                depth: Depth::default(),
                bound,
            }),
            None => SdkBody::from_body_1_x(body),
        };
        Ok(())
    }
}

impl ClassifyRetry for AnswerLimit {
    fn name(&self) -> &'static str {
        "AnswerLimit"
    }

    fn classify_retry(&self, context: &InterceptorContext) -> RetryAction {
        let Some(Err(error)) = context.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        if too_long(error) || past_json_bound(error).is_some() {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }
}
