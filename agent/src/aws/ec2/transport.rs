//! The EC2 Query API's transport: a form POST to the regional endpoint (or
//! `AWS_ENDPOINT_URL_EC2` / `AWS_ENDPOINT_URL`), signed with SigV4 by `aws-sigv4` with
//! credentials from `aws-config`'s default chain, over HTTPS by `hyper-rustls`.

use std::time::SystemTime;

use crate::core::names::Region;
use aws_credential_types::provider::ProvideCredentials;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Why the signed request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no credentials")]
    NoCredentials,
    #[error("credentials")]
    Credentials(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("TLS setup")]
    Tls(#[source] std::io::Error),
    #[error("invalid endpoint {0:?}")]
    Endpoint(String),
    #[error("signing the request")]
    Signing(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("sending the request")]
    Send(#[source] hyper_util::client::legacy::Error),
    #[error("reading the answer")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Not a network failure: the same call would get the same answer, so it is not retried.
    #[error("the answer is longer than {0} bytes")]
    TooLarge(usize),
}

impl Error {
    /// No answer came back: worth trying again.
    pub fn is_network(&self) -> bool {
        matches!(self, Error::Send(_) | Error::Body(_))
    }
}

/// A signed connection to EC2 in one region.
pub struct Transport {
    http: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    endpoint: String,
    region: Region,
    credentials: aws_credential_types::provider::SharedCredentialsProvider,
}

impl Transport {
    /// The default credential chain for `region`, and its endpoint: `AWS_ENDPOINT_URL_EC2`,
    /// else `AWS_ENDPOINT_URL`, else `regional`.
    pub async fn from_environment(region: &Region, regional: &str) -> Result<Self, Error> {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .load()
            .await;
        let credentials = config.credentials_provider().ok_or(Error::NoCredentials)?;
        let endpoint = std::env::var("AWS_ENDPOINT_URL_EC2")
            .ok()
            .or_else(|| config.endpoint_url().map(str::to_owned))
            .unwrap_or_else(|| regional.to_owned());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(Error::Tls)?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Transport {
            http: Client::builder(TokioExecutor::new()).build(https),
            endpoint,
            region: region.clone(),
            credentials,
        })
    }

    /// POSTs the form `body`, signed: the answer's status and at most `max_answer` bytes of
    /// its body.
    pub async fn post(
        &self,
        body: String,
        max_answer: usize,
    ) -> Result<(StatusCode, Bytes), Error> {
        let uri: hyper::Uri = self
            .endpoint
            .parse()
            .map_err(|_| Error::Endpoint(self.endpoint.clone()))?;
        let host = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .ok_or_else(|| Error::Endpoint(self.endpoint.clone()))?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&uri)
            .header("host", &host)
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(Full::new(Bytes::from(body.clone())))
            .map_err(|e| Error::Signing(Box::new(e)))?;
        self.sign(&mut request, body.as_bytes()).await?;

        let response = self.http.request(request).await.map_err(Error::Send)?;
        let status = response.status();
        // Read into one buffer sized from Content-Length: collecting the frames and then
        // joining them held a large answer twice.
        let mut body = Limited::new(response.into_body(), max_answer);
        let length = usize::try_from(hyper::body::Body::size_hint(&body).lower()).unwrap_or(0);
        let mut answer = Vec::with_capacity(length.min(max_answer));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    Error::TooLarge(max_answer)
                } else {
                    Error::Body(e)
                }
            })?;
            if let Ok(data) = frame.into_data() {
                answer.extend_from_slice(&data);
            }
        }
        Ok((status, Bytes::from(answer)))
    }

    /// Adds the SigV4 headers for service `ec2` in this region.
    async fn sign(&self, request: &mut Request<Full<Bytes>>, body: &[u8]) -> Result<(), Error> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| Error::Credentials(Box::new(e)))?;
        let identity = credentials.into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Error::Signing(Box::new(e)))?
            .into();
        let uri = request.uri().to_string();
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
            .collect();
        let signable = SignableRequest::new(
            request.method().as_str(),
            uri.as_str(),
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| Error::Signing(Box::new(e)))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| Error::Signing(Box::new(e)))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}
