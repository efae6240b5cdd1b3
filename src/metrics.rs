//! The function's CloudWatch metrics: their names in one place, recorded
//! through the `metrics` facade where each fact is known, and written to the
//! log in CloudWatch's embedded metric format by `metrics_cloudwatch_embedded`
//! after each invocation (`main.rs` flushes). Per distribution metrics are
//! recorded twice: with a `Distribution` dimension, and without (the total the
//! alarms and the dashboard use). Without `init`, every call is a no-op.

use crate::config::DistributionId;
use crate::plan::Stats;
use crate::watch::Fresh;
use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};
use metrics_cloudwatch_embedded::Collector;

pub const CHANGES_SEEN: &str = "ChangesSeen";
pub const PATHS_REQUESTED: &str = "PathsRequested";
/// Changes an invalidation already accepted covers (see `cover`).
pub const CHANGES_COVERED: &str = "ChangesAlreadyCovered";
/// Billed.
pub const PATHS_SUBMITTED: &str = "PathsSubmitted";
pub const WILDCARD_PATHS: &str = "WildcardPaths";
pub const INVALIDATIONS_CREATED: &str = "InvalidationsCreated";
/// With a `Reason` dimension (see `SubmitError::reason`).
pub const REQUESTS_FAILED: &str = "RequestsFailed";
pub const RECORDS_REJECTED: &str = "RecordsRejected";
pub const MESSAGES_REPORTED_FOR_RETRY: &str = "MessagesReportedForRetry";
pub const INVALIDATIONS_COMPLETED: &str = "InvalidationsCompleted";
/// From the earliest S3 event an invalidation covers to its completion.
pub const SECONDS_TO_FRESH: &str = "SecondsToFresh";
/// From an invalidation's creation to its completion.
pub const SECONDS_IN_PROGRESS: &str = "SecondsInProgress";
/// 1 on an execution environment's first invocation.
pub const COLD_START: &str = "ColdStart";
/// Changes of a bucket that a configured distribution does not serve, as
/// its configuration says: not invalidated there (alarm
/// distribution-not-serving-bucket).
pub const NOT_SERVING: &str = "DistributionNotServingBucket";
/// `DISTRIBUTION_IDS=auto`: changes of a bucket no distribution serves
/// (alarm changes-served-by-none).
pub const SERVED_BY_NONE: &str = "ChangesServedByNoDistribution";

const DISTRIBUTION: &str = "Distribution";
const REASON: &str = "Reason";

/// Installs the recorder for `namespace`; the returned collector is flushed
/// after each invocation.
pub fn init(namespace: &str) -> Result<&'static Collector, String> {
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace.to_owned())
        .init()
        .map_err(|e| format!("metrics: {e}"))?;
    for name in [
        CHANGES_SEEN,
        PATHS_REQUESTED,
        PATHS_SUBMITTED,
        WILDCARD_PATHS,
        CHANGES_COVERED,
        INVALIDATIONS_CREATED,
        REQUESTS_FAILED,
        RECORDS_REJECTED,
        MESSAGES_REPORTED_FOR_RETRY,
        INVALIDATIONS_COMPLETED,
        COLD_START,
        NOT_SERVING,
        SERVED_BY_NONE,
    ] {
        describe_counter!(name, Unit::Count, "");
    }
    describe_histogram!(SECONDS_TO_FRESH, Unit::Seconds, "");
    describe_histogram!(SECONDS_IN_PROGRESS, Unit::Seconds, "");
    Ok(collector)
}

/// Writes what was recorded since the last flush to stdout, one JSON
/// document per dimension set, where Lambda sends it to CloudWatch Logs.
pub fn flush(collector: &Collector) {
    if let Err(e) = collector.flush(std::io::stdout().lock()) {
        tracing::warn!("metrics not written: {e}");
    }
}

fn count(name: &'static str, distribution: &DistributionId, n: usize) {
    if n > 0 {
        counter!(name, DISTRIBUTION => distribution.to_string()).increment(n as u64);
        counter!(name).increment(n as u64);
    }
}

/// What the plan does for one distribution.
pub fn planned(stats: &Stats) {
    let d = &stats.distribution;
    count(CHANGES_SEEN, d, stats.changes);
    count(PATHS_REQUESTED, d, stats.paths_requested);
    count(CHANGES_COVERED, d, stats.covered);
    count(PATHS_SUBMITTED, d, stats.paths_submitted);
    count(WILDCARD_PATHS, d, stats.wildcards);
}

pub fn created(distribution: &DistributionId) {
    count(INVALIDATIONS_CREATED, distribution, 1);
}

pub fn failed(distribution: &DistributionId, reason: &'static str) {
    counter!(REQUESTS_FAILED, DISTRIBUTION => distribution.to_string(), REASON => reason).increment(1);
    counter!(REQUESTS_FAILED, REASON => reason).increment(1);
    counter!(REQUESTS_FAILED).increment(1);
}

/// A failure of no distribution in particular (changes too recent yet).
pub fn failed_anywhere(reason: &'static str) {
    counter!(REQUESTS_FAILED, REASON => reason).increment(1);
    counter!(REQUESTS_FAILED).increment(1);
}

pub fn rejected(records: usize) {
    counter!(RECORDS_REJECTED).increment(records as u64);
}

pub fn reported_for_retry(messages: usize) {
    counter!(MESSAGES_REPORTED_FOR_RETRY).increment(messages as u64);
}

pub fn completed(distribution: &DistributionId, fresh: &Fresh) {
    count(INVALIDATIONS_COMPLETED, distribution, 1);
    let d = distribution.to_string();
    if let Some(seconds) = fresh.seconds_to_fresh {
        histogram!(SECONDS_TO_FRESH, DISTRIBUTION => d.clone()).record(seconds);
        histogram!(SECONDS_TO_FRESH).record(seconds);
    }
    histogram!(SECONDS_IN_PROGRESS, DISTRIBUTION => d).record(fresh.seconds_in_progress);
    histogram!(SECONDS_IN_PROGRESS).record(fresh.seconds_in_progress);
}

/// `changes` of a bucket that `distribution` does not serve.
pub fn not_serving(distribution: &DistributionId, changes: usize) {
    count(NOT_SERVING, distribution, changes);
}

/// `changes` of a bucket that no distribution serves.
pub fn served_by_none(changes: usize) {
    counter!(SERVED_BY_NONE).increment(changes as u64);
}

pub fn cold_start() {
    counter!(COLD_START).increment(1);
}
