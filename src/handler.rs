//! Ties the pieces together for one invocation: event in, changes out, plan,
//! submit (unless dry run), and a summary back. Fails the invocation when
//! anything was not submitted, so Lambda retries it and finally parks it in
//! the dead-letter queue.

use crate::cloudfront::{self, SubmitError};
use crate::config::{Config, DistributionId};
use crate::event::{self, EventError, Skipped};
use crate::path::InvalidationPath;
use crate::plan;
use aws_sdk_cloudfront::Client;
use serde::Serialize;
use serde_json::Value;
use tracing::{error, info, warn};

/// What one invocation did, returned as the function's JSON result.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub test_event: bool,
    pub dry_run: bool,
    pub invalidations: Vec<Report>,
    pub ignored: Vec<Skipped>,
    pub rejected: Vec<Skipped>,
}

/// One CreateInvalidation request, made or (in a dry run) planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub distribution: DistributionId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalidation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub caller_reference: String,
    pub paths: Vec<InvalidationPath>,
}

#[derive(thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(
        "{} invalidation request(s) failed: {}. Accepted ones are in the summary; a retry reuses \
         their caller references, so CloudFront does not bill them twice. Summary: {}",
        failures.len(), join(failures), to_json(summary)
    )]
    Submit {
        failures: Vec<SubmitError>,
        summary: Summary,
    },
    #[error(
        "{} record(s) could not be processed, so their objects were not invalidated: {}. \
         The other changes were submitted. Summary: {}",
        summary.rejected.len(), join(summary.rejected.iter().map(describe)), to_json(summary)
    )]
    Rejected { summary: Summary },
}

/// The runtime logs a handler's error with `{:?}`: show the readable message.
impl std::fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

fn join<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn to_json(summary: &Summary) -> String {
    serde_json::to_string(summary).unwrap_or_default()
}

fn or_dash(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("-")
}

fn describe(skipped: &Skipped) -> String {
    format!(
        "bucket {:?} key {:?}: {}",
        skipped.bucket.as_deref().unwrap_or("?"),
        skipped.key.as_deref().unwrap_or("?"),
        skipped.reason
    )
}

pub async fn handle(client: &Client, config: &Config, event: &Value) -> Result<Summary, HandlerError> {
    let parsed = event::parse(event).inspect_err(|e| error!("{e}"))?;
    if parsed.test_event {
        info!(
            "S3 test event received (sent when a bucket notification is configured); nothing to invalidate"
        );
    }
    let plan = plan::plan(&parsed.changes, config);
    for skipped in parsed.ignored.iter().chain(&plan.ignored) {
        let (bucket, key) = (or_dash(&skipped.bucket), or_dash(&skipped.key));
        info!(bucket, key, "ignored: {}", skipped.reason);
    }
    for skipped in &parsed.rejected {
        let (bucket, key) = (or_dash(&skipped.bucket), or_dash(&skipped.key));
        error!(bucket, key, "rejected: {}", skipped.reason);
    }
    let mut summary = Summary {
        test_event: parsed.test_event,
        dry_run: config.dry_run,
        invalidations: Vec::with_capacity(plan.batches.len()),
        ignored: parsed.ignored.into_iter().chain(plan.ignored).collect(),
        rejected: parsed.rejected,
    };

    let mut failures = Vec::new();
    for batch in plan.batches {
        let mut report = Report {
            distribution: batch.distribution.clone(),
            invalidation_id: None,
            status: None,
            caller_reference: batch.caller_reference.clone(),
            paths: Vec::new(),
        };
        if config.dry_run {
            info!(
                distribution = %batch.distribution,
                paths = batch.paths.len(),
                caller_reference = %batch.caller_reference,
                "dry run: would invalidate"
            );
        } else {
            match cloudfront::submit(client, &batch).await {
                Ok(done) => {
                    info!(
                        distribution = %batch.distribution,
                        invalidation_id = %done.invalidation_id,
                        paths = batch.paths.len(),
                        caller_reference = %batch.caller_reference,
                        "invalidation created"
                    );
                    report.invalidation_id = Some(done.invalidation_id);
                    report.status = Some(done.status);
                }
                Err(e) => {
                    error!(distribution = %batch.distribution, paths = batch.paths.len(), "{e}");
                    failures.push(e);
                    continue;
                }
            }
        }
        report.paths = batch.paths;
        summary.invalidations.push(report);
    }

    if !failures.is_empty() {
        return Err(HandlerError::Submit { failures, summary });
    }
    if !summary.rejected.is_empty() {
        warn!("failing the invocation so the event reaches the dead-letter queue with its rejected records");
        return Err(HandlerError::Rejected { summary });
    }
    Ok(summary)
}

/// The error type Lambda records (and puts in the dead-letter message) names
/// the class of failure; the message says what happened.
impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = match &e {
            HandlerError::Event(_) => "UnrecognisedEvent",
            HandlerError::Submit { .. } => "InvalidationFailed",
            HandlerError::Rejected { .. } => "RecordsRejected",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}
