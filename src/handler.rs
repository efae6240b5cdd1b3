//! Ties the pieces together for one invocation: event in, changes out, plan,
//! submit (unless dry run), and a summary back. Fails the invocation when
//! anything was not submitted, so Lambda retries it and finally parks it in
//! the dead-letter queue.

use crate::cloudfront::{self, SubmitError};
use crate::config::{Config, DistributionId, Distributions, Target};
use crate::discovery::{self, DistributionOrigins};
use crate::event::{self, Envelope, EventError, Incoming, Skipped};
use crate::path::InvalidationPath;
use crate::plan;
use crate::plan::{Plan, Stats, Targets};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};
use aws_sdk_cloudfront::Client;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;
use tracing::{error, info, warn};

/// What one invocation did, returned as the function's JSON result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub envelope: Envelope,
    pub test_event: bool,
    pub dry_run: bool,
    /// Per distribution: changes seen, paths requested, paths submitted
    /// (billed), wildcards used.
    pub distributions: Vec<Stats>,
    pub invalidations: Vec<Report>,
    pub ignored: Vec<Skipped>,
    pub rejected: Vec<Skipped>,
    /// SQS messages reported as failed, to come back after the visibility timeout.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_messages: Vec<String>,
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
        "DISTRIBUTION_IDS=auto needs the account's distributions, and listing them failed \
         (the role needs cloudfront:ListDistributions): {0}"
    )]
    Discovery(String),
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

/// What the function returns: the summary, or for an SQS batch the partial
/// batch response Lambda expects (the summary then goes to the log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Response {
    Summary(Summary),
    Batch(SqsBatchResponse),
}

/// Converts the invocation deadline Lambda gives (milliseconds since the Unix
/// epoch) to an `Instant`. A value that cannot be an epoch time (more than a
/// day in the past: cargo-lambda's emulator sends the timeout itself, e.g.
/// 600000) is read as a duration from now, at most Lambda's 15 minutes.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Instant {
    const LAMBDA_MAX: Duration = Duration::from_secs(15 * 60);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let deadline = Duration::from_millis(deadline_ms);
    if deadline + Duration::from_secs(24 * 3600) < now {
        warn!(
            deadline_ms,
            "the runtime's deadline is no epoch time; reading it as a duration"
        );
        return Instant::now() + deadline.min(LAMBDA_MAX);
    }
    Instant::now() + deadline.saturating_sub(now)
}

/// The function's state for the life of the execution environment.
pub struct Invalidator {
    client: Client,
    config: Config,
    /// `DISTRIBUTION_IDS=auto`: the account's distributions, listed once.
    discovered: OnceCell<Vec<DistributionOrigins>>,
}

impl Invalidator {
    pub fn new(client: Client, config: Config) -> Self {
        Invalidator {
            client,
            config,
            discovered: OnceCell::new(),
        }
    }

    pub async fn handle(&self, event: &Value, deadline: Instant) -> Result<Response, HandlerError> {
        let incoming = event::parse(event).inspect_err(|e| error!("{e}"))?;
        let plan = match &self.config.distributions {
            Distributions::Listed(targets) => {
                plan::plan(&incoming.units, &self.config, &Targets::Same(targets))
            }
            Distributions::Auto => {
                let by_bucket = self.discover(&incoming).await?;
                plan::plan(&incoming.units, &self.config, &Targets::ByBucket(&by_bucket))
            }
        };
        handle_planned(&self.client, &self.config, incoming, plan, deadline).await
    }

    /// `DISTRIBUTION_IDS=auto`: the targets serving each bucket of the event,
    /// from the account's distributions (listed on first use, then kept).
    async fn discover(&self, incoming: &Incoming) -> Result<BTreeMap<String, Vec<Target>>, HandlerError> {
        let listed = self
            .discovered
            .get_or_try_init(|| async {
                let listed = cloudfront::list_distributions(&self.client).await?;
                info!(
                    distributions = listed.len(),
                    "listed the account's distributions for discovery"
                );
                Ok::<_, String>(listed)
            })
            .await
            .map_err(|e| HandlerError::Discovery(e.clone()))
            .inspect_err(|e| error!("{e}"))?;
        let buckets: BTreeSet<&str> = incoming
            .units
            .iter()
            .flat_map(|u| &u.changes)
            .map(|c| c.bucket.as_str())
            .collect();
        let by_bucket: BTreeMap<String, Vec<Target>> = buckets
            .into_iter()
            .map(|b| (b.to_owned(), discovery::targets_for(b, listed)))
            .collect();
        for (bucket, targets) in &by_bucket {
            let found: Vec<String> = targets.iter().map(ToString::to_string).collect();
            info!(bucket, "distributions serving the bucket: [{}]", found.join(", "));
        }
        Ok(by_bucket)
    }
}

async fn handle_planned(
    client: &Client,
    config: &Config,
    incoming: Incoming,
    plan: Plan,
    deadline: Instant,
) -> Result<Response, HandlerError> {
    let units = &incoming.units;
    let test_event = units.iter().any(|u| u.test_event);
    if test_event {
        info!("S3 test event received (sent when a notification is configured); nothing to invalidate");
    }
    let ignored: Vec<Skipped> = units
        .iter()
        .flat_map(|u| u.ignored.clone())
        .chain(plan.ignored)
        .collect();
    for skipped in &ignored {
        let (bucket, key) = (or_dash(&skipped.bucket), or_dash(&skipped.key));
        info!(bucket, key, "ignored: {}", skipped.reason);
    }
    let rejected: Vec<Skipped> = units.iter().flat_map(|u| u.rejected.clone()).collect();
    for skipped in &rejected {
        let (bucket, key) = (or_dash(&skipped.bucket), or_dash(&skipped.key));
        error!(bucket, key, "rejected: {}", skipped.reason);
    }

    for stats in &plan.stats {
        info!(
            distribution = %stats.distribution,
            changes = stats.changes,
            paths_requested = stats.paths_requested,
            paths_submitted = stats.paths_submitted,
            wildcards = stats.wildcards,
            "planned"
        );
    }

    // Units whose changes were not all submitted: reported, never dropped.
    let mut failed_units: BTreeSet<usize> = units
        .iter()
        .enumerate()
        .filter(|(_, u)| !u.rejected.is_empty())
        .map(|(i, _)| i)
        .collect();
    let mut invalidations = Vec::with_capacity(plan.batches.len());
    let mut failures = Vec::new();
    // A distribution at its in-progress limit stays there for minutes: its
    // other batches of this invocation go back to the queue without a call.
    let mut saturated: BTreeSet<DistributionId> = BTreeSet::new();
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
            let result = if saturated.contains(&batch.distribution) {
                Err(SubmitError::TooManyInProgress {
                    distribution: batch.distribution.clone(),
                })
            } else {
                cloudfront::submit(client, &batch, deadline.saturating_duration_since(Instant::now())).await
            };
            match result {
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
                    if let SubmitError::TooManyInProgress { distribution } = &e {
                        saturated.insert(distribution.clone());
                    }
                    failed_units.extend(&batch.units);
                    failures.push(e);
                    continue;
                }
            }
        }
        report.paths = batch.paths;
        invalidations.push(report);
    }

    let failed_messages: Option<Vec<String>> = failed_units
        .iter()
        .map(|&i| units[i].message_id.clone())
        .collect();
    let mut summary = Summary {
        envelope: incoming.envelope,
        test_event,
        dry_run: config.dry_run,
        distributions: plan.stats,
        invalidations,
        ignored,
        rejected,
        failed_messages: Vec::new(),
    };
    match (incoming.envelope, failed_messages) {
        // Per-message reporting needs every failed message's ID; without one
        // the whole batch fails below and is retried.
        (Envelope::Sqs, Some(ids)) => {
            summary.failed_messages = ids;
            log_batch(&summary, units.len());
            let mut response = SqsBatchResponse::default();
            for id in &summary.failed_messages {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id.clone();
                response.batch_item_failures.push(failure);
            }
            Ok(Response::Batch(response))
        }
        _ if !failures.is_empty() => Err(HandlerError::Submit { failures, summary }),
        _ if !summary.rejected.is_empty() => {
            warn!(
                "failing the invocation so the event reaches the dead-letter queue with its rejected records"
            );
            Err(HandlerError::Rejected { summary })
        }
        _ => Ok(Response::Summary(summary)),
    }
}

/// One line for an SQS batch, kept well under CloudWatch's 256 KB per event.
fn log_batch(summary: &Summary, messages: usize) {
    const SHOWN: usize = 50;
    let failed = &summary.failed_messages;
    let mut shown = failed.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(",");
    if failed.len() > SHOWN {
        shown.push_str(&format!(",+{} more", failed.len() - SHOWN));
    }
    info!(
        messages,
        invalidations = summary.invalidations.len(),
        paths = summary.invalidations.iter().map(|r| r.paths.len()).sum::<usize>(),
        ignored = summary.ignored.len(),
        rejected = summary.rejected.len(),
        failed_messages = failed.len(),
        "SQS batch done; messages reported for retry: [{shown}]"
    );
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
