//! CloudFront's answers to a CreateInvalidation, as errors that say what
//! happened and what to do, each with its class for the `RequestsFailed`
//! metric.

use crate::budget::Held;
use crate::config::DistributionId;
use crate::plan::Batch;
use aws_sdk_cloudfront::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationError;

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
        "no room at distribution {distribution} for {units} change(s) now: it holds {} paths and {} \
         wildcards in progress (CloudFront holds 3,000 and 15), and an invocation takes only its \
         share of what is free; left for the retry, without a request", held.files, held.wildcards
    )]
    NoRoom {
        distribution: DistributionId,
        held: Held,
        units: usize,
    },
    #[error(
        "could not read what distribution {distribution} holds in progress (the role needs \
         cloudfront:ListInvalidations and cloudfront:GetInvalidation on it), so no share of its room \
         is certain; left for the retry, without a request: {detail}"
    )]
    Unread {
        distribution: DistributionId,
        detail: String,
    },
    #[error(
        "could not read the configuration of distribution {distribution} (GetDistributionConfig), \
         and this execution environment has read none before, so which of its URLs hold the changes \
         is not known; left for the retry, without a request: {detail}"
    )]
    ConfigUnread {
        distribution: DistributionId,
        detail: String,
    },
    #[error(
        "{units} change(s) not yet {seconds} s past the margin after S3 reported them, and the \
         invocation's deadline is too near to wait: back in {seconds} s"
    )]
    TooRecent { units: usize, seconds: u64 },
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

impl SubmitError {
    /// True for a failure that only waits for CloudFront to complete some
    /// invalidations: its messages can come back in minutes.
    pub fn waits_for_room(&self) -> bool {
        matches!(
            self,
            SubmitError::NoRoom { .. }
                | SubmitError::TooManyInProgress { .. }
                | SubmitError::Unread { .. }
                | SubmitError::ConfigUnread { .. }
        )
    }

    /// How soon a message that failed so, received `receive_count` times,
    /// is worth bringing back: `None` for the queue's own visibility timeout.
    pub fn retry_after(&self, receive_count: u32) -> Option<std::time::Duration> {
        match self {
            SubmitError::TooRecent { seconds, .. } => Some(std::time::Duration::from_secs(*seconds)),
            e if e.waits_for_room() => Some(crate::plan::retry_delay(receive_count)),
            _ => None,
        }
    }

    /// The class of failure, as the `RequestsFailed` metric's `Reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            SubmitError::NoSuchDistribution { .. } => "NoSuchDistribution",
            SubmitError::AccessDenied { .. } => "AccessDenied",
            SubmitError::ReferenceConflict { .. } => "ReferenceConflict",
            SubmitError::TooManyInProgress { .. } => "TooManyInProgress",
            SubmitError::NoRoom { .. } => "NoRoom",
            SubmitError::Unread { .. } => "Unread",
            SubmitError::ConfigUnread { .. } => "ConfigUnread",
            SubmitError::TooRecent { .. } => "TooRecent",
            SubmitError::DeadlineNear { .. } => "DeadlineNear",
            SubmitError::Refused { .. } => "Refused",
            SubmitError::Unavailable { detail, .. } if detail.contains("Throttling") => "Throttled",
            SubmitError::Unavailable { .. } => "Unavailable",
        }
    }
}

pub(super) fn classify<R: std::fmt::Debug>(
    error: SdkError<CreateInvalidationError, R>,
    batch: &Batch,
) -> SubmitError {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classed_for_the_metrics() {
        let d = DistributionId::parse("E1").unwrap();
        let throttled = SubmitError::Unavailable {
            distribution: d.clone(),
            detail: "Throttling Rate exceeded".into(),
        };
        assert_eq!(throttled.reason(), "Throttled");
        assert!(!throttled.waits_for_room());
        let busy = SubmitError::TooManyInProgress {
            distribution: d.clone(),
        };
        assert_eq!(busy.reason(), "TooManyInProgress");
        assert!(busy.waits_for_room());
        // Issue 15, item 11: the share is no longer "half" of anything.
        let no_room = SubmitError::NoRoom {
            distribution: d,
            held: Held {
                files: 10,
                wildcards: 15,
            },
            units: 3,
        }
        .to_string();
        assert!(
            no_room.contains("its share of what is free") && !no_room.contains("half"),
            "{no_room}"
        );
        assert_eq!(
            SubmitError::TooRecent {
                units: 2,
                seconds: 40
            }
            .retry_after(1),
            Some(std::time::Duration::from_secs(40))
        );
    }
}
