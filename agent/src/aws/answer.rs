//! A bound on every answer an AWS SDK client reads, error answers included: an interceptor
//! wraps the response body in `http_body_util::Limited` before the SDK deserializes it, so an
//! answer past the bound fails the read (and the call) instead of growing, and a retry
//! classifier forbids retrying it (the same call would get the same answer). The Price List
//! client and the CloudWatch publisher install it; the EC2 Query client bounds its own reads.

use aws_sdk_cloudwatch::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, InterceptorContext,
};
use aws_sdk_cloudwatch::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_cloudwatch::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_cloudwatch::error::BoxError;
use aws_smithy_types::body::SdkBody;

/// Bounds every answer's body to `.0` bytes before the SDK reads it.
#[derive(Debug, Clone, Copy)]
pub struct AnswerLimit(pub usize);

/// Whether a failed call comes down to an [`AnswerLimit`]'s bound: the one test both the
/// error reports and the retry classifier make.
pub fn too_long(error: &(dyn std::error::Error + 'static)) -> bool {
    crate::error::root_cause(error).is::<http_body_util::LengthLimitError>()
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
        let body = context.response_mut().take_body();
        *context.response_mut().body_mut() =
            SdkBody::from_body_1_x(http_body_util::Limited::new(body, self.0));
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
        if too_long(error) {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }
}
