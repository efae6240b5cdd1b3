//! The AWS SDKs' shared configuration, from aws-config's providers, as the
//! SDK for Rust documents them, limited to the two places the function runs:
//! Lambda, which puts the region and the role's credentials in the
//! environment, and a developer's machine, whose shared config and
//! credentials files (`AWS_PROFILE`) name them. A profile's credentials
//! (static keys, assume role, web identity, SSO, `credential_process`) need
//! the `profiles` feature, which the Lambda bootstrap leaves out (560 KB that
//! Lambda never uses); its region and endpoints are read either way.
//! Endpoints (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`, a profile's
//! `endpoint_url` and `services` section: local stand-ins), retries
//! (`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`) and timeouts come from the same
//! places. aws-config's default loader would also try EC2's instance
//! metadata, ECS containers and web identity from the environment, which a
//! function never uses (the `wait` command, run on CI runners, does: see
//! [`full_config`]). HTTPS goes through rustls on ring (the SDKs' default
//! brings the bigger aws-lc-rs).

use aws_config::environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider};
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
#[cfg(feature = "profiles")]
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::profile::{ProfileFileRegionProvider, ProfileSet};
use aws_config::provider_config::ProviderConfig;
use aws_sdk_cloudfront::config::timeout::TimeoutConfig;
use aws_sdk_cloudfront::config::{BehaviorVersion, IdentityCache, SharedCredentialsProvider};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_types::SdkConfig;
use aws_types::os_shim_internal::{Env, Fs};
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use std::time::Duration;

/// The HTTPS client every SDK client and credentials provider shares.
pub fn https_client() -> aws_sdk_cloudfront::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// A call may take 30 s in all (10 s an attempt): none may hold an
/// invocation up. CloudFront's client sets its own (see `cloudfront`).
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build()
}

/// The configuration every client of the function starts from: region and
/// credentials from the environment, else from the profile (credentials with
/// the `profiles` feature only); endpoints and retries from either.
pub async fn shared_config() -> SdkConfig {
    let https = https_client();
    let base = ProviderConfig::without_region().with_http_client(https.clone());
    let region = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(ProfileFileRegionProvider::builder().configure(&base).build())
        // CloudFront, a global service, is signed in us-east-1.
        .or_else(Region::from_static("us-east-1"))
        .region()
        .await;
    // The profile's providers (assume role, web identity) call STS in it.
    let conf = base.with_region(region.clone());
    let credentials =
        CredentialsProviderChain::first_try("Environment", EnvironmentVariableCredentialsProvider::new());
    #[cfg(feature = "profiles")]
    let credentials = credentials.or_else(
        "Profile",
        ProfileFileCredentialsProvider::builder().configure(&conf).build(),
    );
    if let Some(hint) = credentials_hint(
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
        cfg!(feature = "profiles"),
    ) {
        tracing::warn!("{hint}");
    }
    let endpoint = aws_config::default_provider::endpoint_url::endpoint_url_provider(&conf).await;
    let retry = aws_config::default_provider::retry_config::default_provider()
        .configure(&conf)
        .retry_config()
        .await;
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https)
        .timeout_config(timeouts())
        .retry_config(retry)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .identity_cache(IdentityCache::lazy().build())
        .service_config(ServiceSettings::load(Env::real(), Fs::real()).await);
    config.set_region(region);
    config.set_endpoint_url(endpoint);
    config.set_sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep());
    config.build()
}

/// What to do when nothing will give the function credentials: none in the
/// environment, and a build that reads no profile's (the Lambda bootstrap's,
/// run on a developer's machine). Never in Lambda, which sets them.
pub fn credentials_hint(environment_keys: bool, profiles_built: bool) -> Option<&'static str> {
    (!environment_keys && !profiles_built).then_some(
        "no AWS credentials in the environment, and this build reads none from a profile \
         (AWS_PROFILE): export them (`aws configure export-credentials --format env`), or build \
         with `--features profiles` (make's builds have it)",
    )
}

/// aws-config's default loader, every source included (environment,
/// profiles, web identity, ECS and EC2 roles), with the same HTTPS client
/// and timeouts: for the `wait` command, which runs wherever a pipeline
/// does.
pub async fn full_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(timeouts())
        .load()
        .await
}

/// What each client reads for its own service: `AWS_ENDPOINT_URL_<SERVICE>`
/// and the profile's `services` section (aws-config's loader keeps the same
/// to itself).
#[derive(Debug)]
struct ServiceSettings {
    env: Env,
    profiles: ProfileSet,
}

impl ServiceSettings {
    async fn load(env: Env, fs: Fs) -> Self {
        let profiles = aws_config::profile::load(&fs, &env, &Default::default(), None)
            .await
            .unwrap_or_default();
        ServiceSettings { env, profiles }
    }
}

impl LoadServiceConfig for ServiceSettings {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        aws_runtime::env_config::EnvConfigValue::new()
            .env(key.env())
            .profile(key.profile())
            .service_id(key.service_id())
            .load(&self.env, Some(&self.profiles))
            .map(|(value, _)| value.into_owned())
    }
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

    fn key(service_id: &str) -> ServiceConfigKey<'_> {
        ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn each_service_reads_its_own_endpoint_from_the_environment_or_the_profile() {
        let env = Env::from_slice(&[
            ("AWS_ENDPOINT_URL_CLOUDFRONT", "http://127.0.0.1:5001"),
            ("AWS_CONFIG_FILE", "config"),
            ("AWS_PROFILE", "local"),
        ]);
        let fs = Fs::from_slice(&[(
            "config",
            "[profile local]\nservices = local-services\n\n[services local-services]\nsqs =\n  endpoint_url = http://127.0.0.1:5002\n",
        )]);
        let settings = ServiceSettings::load(env, fs).await;
        assert_eq!(
            settings.load_config(key("CloudFront")).as_deref(),
            Some("http://127.0.0.1:5001")
        );
        assert_eq!(
            settings.load_config(key("SQS")).as_deref(),
            Some("http://127.0.0.1:5002")
        );
        assert_eq!(settings.load_config(key("SNS")), None);
    }

    #[test]
    fn a_build_without_profiles_says_where_credentials_can_come_from() {
        let hint = credentials_hint(false, false).expect("a hint");
        assert!(
            hint.contains("--features profiles") && hint.contains("export-credentials"),
            "{hint}"
        );
        // Lambda sets the keys; a build with profiles reads them.
        assert_eq!(credentials_hint(true, false), None);
        assert_eq!(credentials_hint(false, true), None);
    }

    #[tokio::test]
    async fn there_is_always_a_region() {
        // Only reads: the variables of the test process are left alone.
        let config = shared_config().await;
        let want = ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()));
        if let Some(want) = want {
            assert_eq!(config.region().map(|r| r.as_ref()), Some(want.as_str()));
        }
        assert!(config.region().is_some());
        assert!(config.http_client().is_some() && config.credentials_provider().is_some());
    }
}
