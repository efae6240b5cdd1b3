//! The only module that talks to AWS: submits one planned batch as a
//! CreateInvalidation and turns CloudFront's errors into ones that say what
//! happened and what to do; lists distributions; reads what a distribution
//! holds in progress.

use crate::budget::InProgress;
use crate::config::DistributionId;
use crate::cover::Made;
use crate::discovery::DistributionOrigins;
use crate::plan::Batch;
use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::config::retry::RetryConfig;
use aws_sdk_cloudfront::config::timeout::TimeoutConfig;
use aws_sdk_cloudfront::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationError;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

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

/// A CloudFront client with the retries and timeouts above, at
/// `AWS_ENDPOINT_URL_CLOUDFRONT` when set (a local stand-in).
pub fn client(shared: &aws_types::SdkConfig) -> Client {
    let mut config = aws_sdk_cloudfront::config::Builder::from(shared)
        .retry_config(retry_config())
        .timeout_config(timeout_config(OPERATION_TIMEOUT));
    config.set_endpoint_url(crate::sdk::endpoint("CLOUDFRONT"));
    let config = config.build();
    Client::from_conf(config)
}

/// What CloudFront answered for an accepted batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub invalidation_id: String,
    pub status: String,
    /// CloudFront's CreateTime, in milliseconds since the Unix epoch.
    pub created_ms: Option<i64>,
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
        "no room at distribution {distribution} for {units} change(s) now: it holds {} paths and {} \
         wildcards in progress (CloudFront holds 3,000 and 15), and this invocation takes half of \
         what is free; left for the retry, without a request", in_progress.files, in_progress.wildcards
    )]
    NoRoom {
        distribution: DistributionId,
        in_progress: InProgress,
        units: usize,
    },
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
            SubmitError::NoRoom { .. } | SubmitError::TooManyInProgress { .. }
        )
    }

    /// The class of failure, as the `RequestsFailed` metric's `Reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            SubmitError::NoSuchDistribution { .. } => "NoSuchDistribution",
            SubmitError::AccessDenied { .. } => "AccessDenied",
            SubmitError::ReferenceConflict { .. } => "ReferenceConflict",
            SubmitError::TooManyInProgress { .. } => "TooManyInProgress",
            SubmitError::NoRoom { .. } => "NoRoom",
            SubmitError::DeadlineNear { .. } => "DeadlineNear",
            SubmitError::Refused { .. } => "Refused",
            SubmitError::Unavailable { detail, .. } if detail.contains("Throttling") => "Throttled",
            SubmitError::Unavailable { .. } => "Unavailable",
        }
    }
}

/// What CloudFront says of an invalidation being followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Completed,
    InProgress,
    /// The distribution or the invalidation is gone: nothing to follow.
    Gone(String),
}

/// Whether invalidation `id` of `distribution` is complete (GetInvalidation).
pub async fn progress(client: &Client, distribution: &str, id: &str) -> Result<Progress, String> {
    let read = aws_sdk_cloudfront::Config::builder().timeout_config(timeout_config(READ_TIMEOUT));
    match client
        .get_invalidation()
        .distribution_id(distribution)
        .id(id)
        .customize()
        .config_override(read)
        .send()
        .await
    {
        Ok(got) => {
            let status = got.invalidation().map(|i| i.status()).unwrap_or_default();
            // moto answers COMPLETED; CloudFront Completed or InProgress.
            Ok(if status.eq_ignore_ascii_case("completed") {
                Progress::Completed
            } else {
                Progress::InProgress
            })
        }
        Err(e) => match e.as_service_error().and_then(ProvideErrorMetadata::code) {
            Some(code @ ("NoSuchInvalidation" | "NoSuchDistribution")) => Ok(Progress::Gone(code.to_owned())),
            _ => Err(format!(
                "GetInvalidation {id} of {distribution} failed: {}",
                aws_sdk_cloudfront::error::DisplayErrorContext(e)
            )),
        },
    }
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
        created_ms: invalidation.and_then(|i| i.create_time().to_millis().ok()),
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

/// Reading what the distributions hold in progress gives up after this, or
/// after a third of the time left before the deadline (see [`read_until`]):
/// it only makes a plan better, so it must not hold the invocation up.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// When the reads of an invocation that has `time_left` must be done.
pub fn read_until(time_left: Duration) -> Instant {
    Instant::now() + READ_TIMEOUT.min(time_left / 3)
}

/// Pages of ListInvalidations read at most, and how far back: CloudFront
/// lists the newest first, and an invalidation takes minutes, rarely 40.
/// (moto lists the oldest first; the tests keep under a page per distribution.)
const MAX_PAGES: usize = 3;
const RECENT: Duration = Duration::from_secs(3600);
/// GetInvalidation calls per distribution per invocation at most; the
/// answers are kept, since an invalidation's paths never change.
pub const MAX_LOOKUPS: usize = 20;

/// What a distribution holds in progress, as far as read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub held: InProgress,
    /// Invalidations in progress whose paths were not read this time
    /// (beyond [`MAX_LOOKUPS`]): counted as holding nothing.
    pub unread: usize,
}

/// What an environment knows of one distribution's invalidations, by ID:
/// the ones it created, and the in-progress ones it read; each forgotten an
/// hour after it was learnt (an invalidation takes minutes, rarely 40), so
/// what it knows stays small and recent between reads. One no longer listed
/// in progress counts as holding nothing, and still covers what it covers.
#[derive(Debug, Default, Clone)]
pub struct Known {
    entries: HashMap<String, Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    held: InProgress,
    in_progress: bool,
    /// Its creation time and paths, when CloudFront said them.
    made: Option<Made>,
    learnt: Instant,
}

impl Known {
    const FORGET_AFTER: Duration = Duration::from_secs(3600);

    /// An invalidation in progress, with what it holds and, when known, when
    /// it was created.
    pub fn insert(&mut self, id: String, paths: &[String], created_ms: Option<i64>) {
        self.entries
            .retain(|_, e| e.learnt.elapsed() < Self::FORGET_AFTER);
        let made = created_ms.map(|created_ms| Made {
            id: id.clone(),
            created_ms,
            paths: paths.to_vec(),
        });
        let entry = Entry {
            held: InProgress::of(paths.iter().map(String::as_str)),
            in_progress: true,
            made,
            learnt: Instant::now(),
        };
        self.entries.insert(id, entry);
    }

    /// After a read: the ones `running` lists are in progress, the others
    /// not (complete, or older than the pages read).
    fn listed_in_progress(&mut self, running: &std::collections::HashSet<&String>) {
        for (id, entry) in &mut self.entries {
            entry.in_progress = running.contains(id);
        }
    }

    fn recent(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .values()
            .filter(|e| e.learnt.elapsed() < Self::FORGET_AFTER)
    }

    fn held(&self, id: &str) -> Option<InProgress> {
        self.entries.get(id).map(|e| e.held)
    }

    /// What the invalidations it knows in progress hold, all together.
    pub fn total(&self) -> InProgress {
        self.recent()
            .filter(|e| e.in_progress)
            .fold(InProgress::default(), |sum, e| sum + e.held)
    }

    /// The invalidations it knows were accepted, in progress or not.
    pub fn made(&self) -> Vec<Made> {
        self.recent().filter_map(|e| e.made.clone()).collect()
    }
}

/// What `distribution` holds in progress: ListInvalidations (newest first,
/// the last hour), then GetInvalidation for each in-progress invalidation not
/// in `known` (at most [`MAX_LOOKUPS`]), all done by `until`. What `known`
/// has that is not listed in progress any more holds nothing from now on.
pub async fn in_progress(
    client: &Client,
    distribution: &DistributionId,
    known: &mut Known,
    until: Instant,
) -> Result<Held, String> {
    // Each call gets what is left of the reads' time.
    let read = || {
        let left = until.saturating_duration_since(Instant::now());
        (left >= Duration::from_millis(100))
            .then(|| aws_sdk_cloudfront::Config::builder().timeout_config(timeout_config(left)))
            .ok_or_else(|| format!("no time left to read what {distribution} holds in progress"))
    };
    let failed = |what: &str, e: &dyn std::fmt::Display| format!("{what} of {distribution} failed: {e}");
    let mut ids = Vec::new();
    let mut marker: Option<String> = None;
    let recent = aws_sdk_cloudfront::primitives::DateTime::from(SystemTime::now() - RECENT);
    for _ in 0..MAX_PAGES {
        let page = client
            .list_invalidations()
            .distribution_id(distribution.as_str())
            .max_items(100)
            .set_marker(marker.take())
            .customize()
            .config_override(read()?)
            .send()
            .await
            .map_err(|e| {
                failed(
                    "ListInvalidations",
                    &aws_sdk_cloudfront::error::DisplayErrorContext(e),
                )
            })?;
        let Some(list) = page.invalidation_list() else {
            break;
        };
        // moto answers COMPLETED; CloudFront Completed or InProgress.
        let running: Vec<String> = list
            .items()
            .iter()
            .filter(|i| !i.status().eq_ignore_ascii_case("completed"))
            .map(|i| i.id().to_owned())
            .collect();
        // Invalidations complete roughly in the order they were made: past a
        // page with none in progress, or past an hour ago, none are.
        let older = list
            .items()
            .last()
            .is_some_and(|i| i.create_time().secs() < recent.secs());
        let more = !running.is_empty() && !older;
        ids.extend(running);
        match list.next_marker() {
            Some(next) if list.is_truncated() && !next.is_empty() && more => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    let running: std::collections::HashSet<&String> = ids.iter().collect();
    known.listed_in_progress(&running);
    let mut held = Held::default();
    let mut lookups = 0;
    for id in ids {
        if known.held(&id).is_none() {
            if lookups == MAX_LOOKUPS {
                held.unread += 1;
                continue;
            }
            lookups += 1;
            let got = client
                .get_invalidation()
                .distribution_id(distribution.as_str())
                .id(&id)
                .customize()
                .config_override(read()?)
                .send()
                .await
                .map_err(|e| {
                    failed(
                        "GetInvalidation",
                        &aws_sdk_cloudfront::error::DisplayErrorContext(e),
                    )
                })?;
            let invalidation = got.invalidation();
            let paths = invalidation
                .and_then(|i| i.invalidation_batch())
                .and_then(|b| b.paths())
                .map(|p| p.items())
                .unwrap_or_default();
            let created_ms = invalidation.and_then(|i| i.create_time().to_millis().ok());
            known.insert(id.clone(), paths, created_ms);
        }
        held.held = held.held + known.held(&id).unwrap_or_default();
    }
    Ok(held)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_invalidations_add_up_and_the_completed_still_cover() {
        let strings = |p: &[&str]| p.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let mut known = Known::default();
        known.insert("A".into(), &strings(&["/a", "/b*"]), Some(1000));
        known.insert("B".into(), &strings(&["/c"]), None);
        assert_eq!(
            known.total(),
            InProgress {
                files: 2,
                wildcards: 1
            }
        );
        // B has no creation time: it counts, but covers nothing.
        let made: Vec<String> = known.made().into_iter().map(|m| m.id).collect();
        assert_eq!(made, ["A"]);
        let b = "B".to_string();
        known.listed_in_progress(&[&b].into());
        assert_eq!(
            known.total(),
            InProgress {
                files: 1,
                wildcards: 0
            }
        );
        assert_eq!(known.made().len(), 1, "A is complete, and still covers its paths");
    }

    #[test]
    fn failures_are_classed_for_the_metrics() {
        let d = DistributionId::parse("E1").unwrap();
        let throttled = SubmitError::Unavailable {
            distribution: d.clone(),
            detail: "Throttling Rate exceeded".into(),
        };
        assert_eq!(throttled.reason(), "Throttled");
        assert!(!throttled.waits_for_room());
        let busy = SubmitError::TooManyInProgress { distribution: d };
        assert_eq!(busy.reason(), "TooManyInProgress");
        assert!(busy.waits_for_room());
    }
}
