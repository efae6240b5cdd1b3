//! What an invocation answers, and the lines it logs about that: the JSON
//! summary of a direct event, the partial batch response of an SQS batch
//! (with one log line per message reported, and why), or the error that
//! fails the invocation so Lambda retries it and finally parks it in the
//! dead-letter queue.

use crate::cloudfront::SubmitError;
use crate::config::DistributionId;
use crate::event::{Envelope, EventError, Incoming, Skipped, UnitIndex, Units};
use crate::metrics;
use crate::path::InvalidationPath;
use crate::plan::{Plan, Stats};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};
use serde::Serialize;
use std::collections::BTreeMap;
use tracing::{debug, error, info, warn};

/// What one invocation did, returned as the function's JSON result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub envelope: Envelope,
    pub test_event: bool,
    pub dry_run: bool,
    /// Per distribution: changes seen, paths requested, paths submitted
    /// (billed), wildcards used, what was in progress, units deferred.
    pub distributions: Vec<Stats>,
    pub invalidations: Vec<Report>,
    pub ignored: Vec<Skipped>,
    pub rejected: Vec<Skipped>,
    /// SQS messages reported as failed, to come back after the visibility
    /// timeout, each with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_messages: Vec<FailedMessage>,
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

/// A request not made or not accepted, and the units whose changes needed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error: SubmitError,
    pub units: Units,
}

/// Watches still in progress: each unit, with why it comes back later.
pub type Pending = BTreeMap<UnitIndex, String>;

/// What one invocation did: the invalidations created (or, in a dry run,
/// planned), the requests that failed, and the watches still in progress.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub created: Vec<Report>,
    pub failed: Vec<Failure>,
    pub pending: Pending,
}

/// An SQS message reported for a retry, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedMessage {
    pub message_id: String,
    pub reason: String,
}

#[derive(thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(
        "DISTRIBUTION_IDS=auto needs the account's distributions, and listing them failed \
         (the role needs cloudfront:ListDistributions): {0}"
    )]
    Discovery(crate::sdk::AwsError),
    #[error(
        "{} invalidation request(s) failed: {}. Accepted ones are in the summary; a retry reuses \
         their caller references, so CloudFront does not bill them twice. Summary: {}",
        failures.len(), join(failures), to_json(summary)
    )]
    Submit {
        failures: Vec<SubmitError>,
        summary: Box<Summary>,
    },
    #[error(
        "{} record(s) could not be processed, so their objects were not invalidated: {}. \
         The other changes were submitted. Summary: {}",
        summary.rejected.len(), join(summary.rejected.iter().map(describe)), to_json(summary)
    )]
    Rejected { summary: Box<Summary> },
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

/// What the function returns: the summary, or for an SQS batch the partial
/// batch response Lambda expects (the summary then goes to the log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Response {
    Summary(Summary),
    Batch(SqsBatchResponse),
}

/// One line per record left out or rejected, and per distribution planned.
pub fn log_plan(incoming: &Incoming, plan: &Plan) {
    let units = &incoming.units;
    if units.iter().any(|u| u.test_event) {
        info!("S3 test event received (sent when a notification is configured); nothing to invalidate");
    }
    let ignored = units.iter().flat_map(|u| &u.ignored).chain(&plan.ignored);
    for skipped in ignored {
        let (bucket, key) = (or_dash(&skipped.bucket), or_dash(&skipped.key));
        info!(bucket, key, "ignored: {}", skipped.reason);
    }
    for skipped in units.iter().flat_map(|u| &u.rejected) {
        let (bucket, key) = (or_dash(&skipped.bucket), or_dash(&skipped.key));
        error!(bucket, key, "rejected: {}", skipped.reason);
    }
    for stats in &plan.stats {
        metrics::planned(stats);
        info!(
            distribution = %stats.distribution,
            changes = stats.changes,
            paths_requested = stats.paths_requested,
            paths_submitted = stats.paths_submitted,
            wildcards = stats.wildcards,
            held_files = stats.held.files,
            held_wildcards = stats.held.wildcards,
            covered = stats.covered,
            covered_by = %stats.covered_by.iter().map(String::as_str).collect::<Vec<_>>().join(" "),
            deferred = stats.deferred,
            "planned"
        );
    }
}

/// The summary, and how the failures reach the platform: per message for an
/// SQS batch, else as the invocation's error.
pub fn respond(
    incoming: Incoming,
    plan: Plan,
    outcome: Outcome,
    dry_run: bool,
) -> Result<Response, HandlerError> {
    let Outcome {
        created,
        failed,
        pending,
    } = outcome;
    let units = &incoming.units;
    metrics::rejected(units.iter().map(|u| u.rejected.len()).sum());
    let failed_messages = failed_messages(&incoming, &failed);
    let mut summary = Summary {
        envelope: incoming.envelope,
        test_event: units.iter().any(|u| u.test_event),
        dry_run,
        distributions: plan.stats,
        invalidations: created,
        ignored: units
            .iter()
            .flat_map(|u| u.ignored.clone())
            .chain(plan.ignored)
            .collect(),
        rejected: units.iter().flat_map(|u| u.rejected.clone()).collect(),
        failed_messages: Vec::new(),
    };
    let failures: Vec<SubmitError> = failed.into_iter().map(|f| f.error).collect();
    match (incoming.envelope, failed_messages) {
        // Per-message reporting needs every failed message's ID; without one
        // the whole batch fails below and is retried.
        (Envelope::Sqs, Some(failed)) => {
            metrics::reported_for_retry(failed.len());
            summary.failed_messages = failed;
            Ok(Response::Batch(batch_response(&summary, &incoming, &pending)))
        }
        _ if !failures.is_empty() => Err(HandlerError::Submit {
            failures,
            summary: Box::new(summary),
        }),
        _ if !summary.rejected.is_empty() => Err(HandlerError::Rejected {
            summary: Box::new(summary),
        }),
        _ => Ok(Response::Summary(summary)),
    }
}

/// Each unit that failed, with why (unreadable records first), in unit
/// order; `None` when one of them has no message ID to report it by.
fn failed_messages(incoming: &Incoming, failed: &[Failure]) -> Option<Vec<FailedMessage>> {
    let units = &incoming.units;
    let mut reasons: BTreeMap<UnitIndex, Vec<String>> = BTreeMap::new();
    for (i, unit) in units.iter().enumerate() {
        for rejected in &unit.rejected {
            reasons.entry(i).or_default().push(rejected.reason.clone());
        }
    }
    for failure in failed {
        for &i in &failure.units {
            reasons.entry(i).or_default().push(failure.error.to_string());
        }
    }
    reasons
        .into_iter()
        .map(|(i, why)| {
            units[i].message_id.clone().map(|message_id| FailedMessage {
                message_id,
                reason: why.join("; "),
            })
        })
        .collect()
}

/// The partial batch response: the failed messages, and the watches still
/// in progress (which come back too, as planned, not as failures).
fn batch_response(summary: &Summary, incoming: &Incoming, pending: &Pending) -> SqsBatchResponse {
    let units = &incoming.units;
    let waiting: Vec<String> = pending
        .iter()
        .filter_map(|(&i, why)| {
            debug!("{why}; looking again later");
            units[i].message_id.clone()
        })
        .collect();
    log_batch(summary, units.len(), waiting.len());
    let mut response = SqsBatchResponse::default();
    let ids = summary
        .failed_messages
        .iter()
        .map(|f| &f.message_id)
        .chain(&waiting);
    for id in ids {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id.clone();
        response.batch_item_failures.push(failure);
    }
    response
}

/// One line for an SQS batch, and one per failed message with its reason,
/// kept well under CloudWatch's 256 KB per event.
fn log_batch(summary: &Summary, messages: usize, watches_in_progress: usize) {
    const SHOWN: usize = 50;
    let failed = &summary.failed_messages;
    info!(
        messages,
        watches_in_progress,
        invalidations = summary.invalidations.len(),
        paths = summary.invalidations.iter().map(|r| r.paths.len()).sum::<usize>(),
        ignored = summary.ignored.len(),
        rejected = summary.rejected.len(),
        failed_messages = failed.len(),
        "SQS batch done"
    );
    for message in failed.iter().take(SHOWN) {
        warn!(message_id = %message.message_id, "reported for retry: {}", message.reason);
    }
    if failed.len() > SHOWN {
        warn!("and {} more messages reported for retry", failed.len() - SHOWN);
    }
}

/// The error type Lambda records (and puts in the dead-letter message) names
/// the class of failure; the message says what happened.
impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = match &e {
            HandlerError::Event(_) => "UnrecognisedEvent",
            HandlerError::Discovery(_) => "DiscoveryFailed",
            HandlerError::Submit { .. } => "InvalidationFailed",
            HandlerError::Rejected { .. } => "RecordsRejected",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}
