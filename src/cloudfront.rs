//! The only module that talks to AWS: submits one planned batch as a
//! CreateInvalidation and turns CloudFront's errors into ones that say what
//! happened and what to do.

use crate::config::DistributionId;
use crate::discovery::DistributionOrigins;
use crate::plan::Batch;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationError;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
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
/// when the invocation's deadline is nearer (see [`submit`]).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Kept free before the deadline to report what was not submitted.
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(2);
/// A call given less time than this is not started.
pub const MIN_CALL_TIME: Duration = Duration::from_secs(3);

pub fn timeout_config(operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_attempt_timeout(ATTEMPT_TIMEOUT.min(operation))
        .operation_timeout(operation)
        .build()
}

/// A client from the standard AWS configuration (so `AWS_ENDPOINT_URL_CLOUDFRONT`
/// redirects it), with the settings above. CloudFront is a global service
/// signed in us-east-1, used when no region is configured.
pub async fn client() -> Client {
    let region = aws_config::meta::region::RegionProviderChain::default_provider().or_else("us-east-1");
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(region)
        .retry_config(retry_config())
        .timeout_config(timeout_config(OPERATION_TIMEOUT))
        .load()
        .await;
    Client::new(&shared)
}

/// What CloudFront answered for an accepted batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub invalidation_id: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error(
        "distribution {distribution} does not exist (NoSuchDistribution): check DISTRIBUTION_IDS \
         and that the ID is of this account"
    )]
    NoSuchDistribution { distribution: DistributionId },
    #[error(
        "not allowed to invalidate distribution {distribution} (AccessDenied): the function's role \
         needs cloudfront:CreateInvalidation on arn:aws:cloudfront::<account>:distribution/{distribution}; \
         CloudFront said: {message}"
    )]
    AccessDenied {
        distribution: DistributionId,
        message: String,
    },
    #[error(
        "distribution {distribution} already has an invalidation with caller reference \
         {caller_reference} for other paths (InvalidationBatchAlreadyExists). This function derives \
         the reference from the paths themselves, so another client must have used the same \
         reference; nothing was invalidated for this batch"
    )]
    ReferenceConflict {
        distribution: DistributionId,
        caller_reference: String,
    },
    #[error(
        "distribution {distribution} has too many invalidations in progress \
         (TooManyInvalidationsInProgress: 3,000 paths or 15 wildcards); retry once some complete"
    )]
    TooManyInProgress { distribution: DistributionId },
    #[error(
        "not submitted to {distribution}: {left_ms} ms were left before the invocation's deadline, \
         too little for a CloudFront call; left for the retry"
    )]
    DeadlineNear {
        distribution: DistributionId,
        left_ms: u128,
    },
    #[error("CloudFront refused the invalidation for {distribution}: {code}: {message}")]
    Refused {
        distribution: DistributionId,
        code: String,
        message: String,
    },
    #[error("CloudFront did not accept the invalidation for {distribution} after retries: {detail}")]
    Unavailable {
        distribution: DistributionId,
        detail: String,
    },
}

/// Submits one batch. Retries happen inside the SDK (see [`retry_config`]),
/// within `time_left` (until the invocation's deadline) less a reserve.
pub async fn submit(client: &Client, batch: &Batch, time_left: Duration) -> Result<Submitted, SubmitError> {
    let distribution = &batch.distribution;
    let budget = time_left.saturating_sub(DEADLINE_RESERVE).min(OPERATION_TIMEOUT);
    if budget < MIN_CALL_TIME {
        return Err(SubmitError::DeadlineNear {
            distribution: distribution.clone(),
            left_ms: time_left.as_millis(),
        });
    }
    let request = invalidation_batch(batch).map_err(|e| SubmitError::Refused {
        distribution: distribution.clone(),
        code: "InvalidRequest".into(),
        message: e.to_string(),
    })?;
    let output = client
        .create_invalidation()
        .distribution_id(distribution.as_str())
        .invalidation_batch(request)
        .customize()
        .config_override(aws_sdk_cloudfront::Config::builder().timeout_config(timeout_config(budget)))
        .send()
        .await
        .map_err(|e| classify(e, batch))?;
    let invalidation = output.invalidation();
    Ok(Submitted {
        invalidation_id: invalidation.map(|i| i.id().to_owned()).unwrap_or_default(),
        status: invalidation.map(|i| i.status().to_owned()).unwrap_or_default(),
    })
}

/// Every distribution of the account with its origins, following
/// ListDistributions' pages (for `DISTRIBUTION_IDS=auto`).
pub async fn list_distributions(client: &Client) -> Result<Vec<DistributionOrigins>, String> {
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .list_distributions()
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "ListDistributions failed: {}",
                    aws_sdk_cloudfront::error::DisplayErrorContext(&e)
                )
            })?;
        let Some(list) = page.distribution_list() else {
            break;
        };
        for summary in list.items() {
            let Ok(id) = DistributionId::parse(summary.id()) else {
                continue;
            };
            let origins = summary
                .origins()
                .map(|o| {
                    o.items()
                        .iter()
                        .map(|o| {
                            (
                                o.domain_name().to_owned(),
                                o.origin_path().unwrap_or("").to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            all.push(DistributionOrigins { id, origins });
        }
        match list.next_marker() {
            Some(next) if list.is_truncated() && !next.is_empty() => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(all)
}

fn invalidation_batch(batch: &Batch) -> Result<InvalidationBatch, aws_sdk_cloudfront::error::BuildError> {
    let items: Vec<String> = batch.paths.iter().map(|p| p.as_str().to_owned()).collect();
    let paths = Paths::builder()
        .quantity(items.len() as i32)
        .set_items(Some(items))
        .build()?;
    InvalidationBatch::builder()
        .paths(paths)
        .caller_reference(&batch.caller_reference)
        .build()
}

fn classify<R: std::fmt::Debug>(error: SdkError<CreateInvalidationError, R>, batch: &Batch) -> SubmitError {
    let distribution = batch.distribution.clone();
    let Some(service) = error.as_service_error() else {
        // Timeouts, connection failures, unparseable responses: the SDK already retried.
        let detail = aws_sdk_cloudfront::error::DisplayErrorContext(&error).to_string();
        return SubmitError::Unavailable { distribution, detail };
    };
    let message = service
        .message()
        .map_or_else(|| service.to_string(), str::to_owned);
    // Modeled errors by variant; the rest (InvalidationBatchAlreadyExists is
    // not modeled by the SDK) by their error code.
    match (service, service.code().unwrap_or("")) {
        (CreateInvalidationError::NoSuchDistribution(_), _) | (_, "NoSuchDistribution") => {
            SubmitError::NoSuchDistribution { distribution }
        }
        (CreateInvalidationError::AccessDenied(_), _) | (_, "AccessDenied") => SubmitError::AccessDenied {
            distribution,
            message,
        },
        (CreateInvalidationError::TooManyInvalidationsInProgress(_), _)
        | (_, "TooManyInvalidationsInProgress") => SubmitError::TooManyInProgress { distribution },
        (_, "InvalidationBatchAlreadyExists") => SubmitError::ReferenceConflict {
            distribution,
            caller_reference: batch.caller_reference.clone(),
        },
        (_, code @ ("Throttling" | "ServiceUnavailable" | "InternalError" | "")) => {
            SubmitError::Unavailable {
                distribution,
                detail: format!(
                    "{} {message}",
                    if code.is_empty() { "no error code" } else { code }
                ),
            }
        }
        (_, code) => SubmitError::Refused {
            distribution,
            code: code.to_owned(),
            message,
        },
    }
}
