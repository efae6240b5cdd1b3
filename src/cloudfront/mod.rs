//! CloudFront, the boundary the function exists for: the client (retries,
//! timeouts, endpoint), CreateInvalidation ([`submit`]), what a distribution
//! holds in progress and how far an invalidation got ([`read`]), the
//! account's distributions ([`list`]), and a distribution's configuration
//! and cache policies ([`setup`]). Every call takes the invocation's
//! deadline; the errors say what happened and what to do ([`error`]).

mod error;
mod list;
mod read;
mod setup;
mod submit;

pub use error::SubmitError;
pub use list::list_distributions;
pub use read::{MAX_LOOKUPS, READ_TIMEOUT, Reading, Status, read_held, status};
pub use setup::{SETUP_TIMEOUT, Unread, read_policy, read_setup};
pub use submit::{Submitted, submit};

use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::config::retry::RetryConfig;
use aws_sdk_cloudfront::config::timeout::TimeoutConfig;
use std::time::Duration;

/// The SDK's standard retry mode retries Throttling ("Rate exceeded"), 5xx
/// and connection errors with exponential backoff and jitter: at most 8
/// attempts, 1 s initial backoff, capped at 20 s, all within the 60 s a call
/// may take. Generous on purpose: when an attempt that CloudFront accepted
/// loses its answer, only a later attempt with the same caller reference
/// learns that (at no cost); giving up would report the change for a retry
/// that, in a differently composed SQS batch, bills its paths again.
/// TooManyInvalidationsInProgress is not retried (it clears in minutes).
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(Duration::from_secs(1))
        .with_max_backoff(Duration::from_secs(20))
}

/// One attempt may take 10 s, and a whole call with its retries 60 s, or less
/// when the invocation's deadline is nearer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// Timeouts for a call that may take `operation` in all.
pub fn timeout_config(operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_attempt_timeout(ATTEMPT_TIMEOUT.min(operation))
        .operation_timeout(operation)
        .build()
}

/// A CloudFront client with the retries and timeouts above, at
/// `AWS_ENDPOINT_URL_CLOUDFRONT` when set (a local stand-in).
pub fn client(shared: &aws_types::SdkConfig) -> Client {
    Client::from_conf(config(shared).build())
}

/// The client's configuration, for [`client`] (and for the simulation,
/// which gives each execution environment the retry quota of its own that
/// each Lambda process has). The endpoint is the shared configuration's
/// (aws-config reads `AWS_ENDPOINT_URL_CLOUDFRONT` and the profile's).
pub fn config(shared: &aws_types::SdkConfig) -> aws_sdk_cloudfront::config::Builder {
    aws_sdk_cloudfront::config::Builder::from(shared)
        .retry_config(retry_config())
        .timeout_config(timeout_config(OPERATION_TIMEOUT))
}

/// The per-call override that bounds a call to `time`.
fn within(time: Duration) -> aws_sdk_cloudfront::config::Builder {
    aws_sdk_cloudfront::Config::builder().timeout_config(timeout_config(time))
}
