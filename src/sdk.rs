//! The AWS SDKs' shared configuration, from what Lambda puts in the
//! environment: the region (`AWS_REGION`), the function's credentials
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and,
//! for local stand-ins, the standard endpoint variables (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_<SERVICE>`). aws-config would also look at profiles,
//! SSO, web identity and the instance metadata service, none of which a
//! function uses, at the cost of an STS client in every bootstrap. HTTPS goes
//! through rustls on ring (the SDKs' default brings the bigger aws-lc-rs).

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_cloudfront::config::BehaviorVersion;
use aws_sdk_cloudfront::config::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;
use std::time::Duration;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The configuration every client starts from. A call may take 30 s in all
/// (10 s an attempt): none may hold an invocation up. CloudFront's client
/// sets its own (see `cloudfront`).
pub fn shared_config() -> SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        // CloudFront, a global service, is signed in us-east-1.
        .unwrap_or_else(|| "us-east-1".to_owned());
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build();
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .http_client(https)
        .timeout_config(timeouts);
    if let (Some(key), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        let credentials = Credentials::new(key, secret, env("AWS_SESSION_TOKEN"), None, "environment");
        config = config.credentials_provider(SharedCredentialsProvider::new(credentials));
    }
    config.build()
}

/// The endpoint for `service` (as in `AWS_ENDPOINT_URL_CLOUDFRONT`), when set.
pub fn endpoint(service: &str) -> Option<String> {
    env(&format!("AWS_ENDPOINT_URL_{service}")).or_else(|| env("AWS_ENDPOINT_URL"))
}

/// A failed AWS call: the operation, what it was about, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} {about} failed: {detail}")]
pub struct AwsError {
    pub operation: &'static str,
    pub about: String,
    pub detail: String,
}

impl AwsError {
    /// From the SDK's error, with its whole chain of causes.
    pub fn new(
        operation: &'static str,
        about: impl std::fmt::Display,
        error: impl std::error::Error,
    ) -> Self {
        AwsError {
            operation,
            about: about.to_string(),
            detail: aws_sdk_cloudfront::error::DisplayErrorContext(error).to_string(),
        }
    }

    /// A call not made: too little time was left before the deadline.
    pub fn no_time(operation: &'static str, about: impl std::fmt::Display) -> Self {
        AwsError {
            operation,
            about: about.to_string(),
            detail: "too little time was left before the invocation's deadline".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_region_is_cloudfronts() {
        // Only reads: the variables of the test process are left alone.
        let config = shared_config();
        let want = env("AWS_REGION")
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or("us-east-1".into());
        assert_eq!(config.region().map(|r| r.as_ref()), Some(want.as_str()));
        assert!(config.http_client().is_some());
    }
}
