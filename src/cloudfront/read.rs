//! Reading CloudFront: what a distribution holds in progress
//! (ListInvalidations, then GetInvalidation for the ones the environment does
//! not know), and how far one invalidation got (GetInvalidation).

use super::within;
use crate::budget::Held;
use crate::clock::Deadline;
use crate::config::DistributionId;
use crate::memory::Memory;
use crate::sdk::AwsError;
use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::error::ProvideErrorMetadata;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::Instant;

/// Reading what the distributions hold in progress gives up after this, or
/// after a third of the time left before the deadline (see [`read_held`]):
/// it only makes a plan better, so it must not hold the invocation up.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Pages of ListInvalidations read at most, and how far back: CloudFront
/// lists the newest first, and an invalidation takes minutes, rarely 40.
/// (moto lists the oldest first; the tests keep under a page per distribution.)
const MAX_PAGES: usize = 3;
const RECENT_MS: i64 = 3_600_000;
/// GetInvalidation calls per distribution per invocation at most; the
/// answers are kept, since an invalidation's paths never change.
pub const MAX_LOOKUPS: usize = 20;

/// How far one invalidation got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Completed,
    InProgress,
    /// The distribution or the invalidation is gone: nothing to follow.
    Gone(String),
}

/// The status of invalidation `id` of `distribution` (GetInvalidation).
pub async fn status(
    client: &Client,
    distribution: &str,
    id: &str,
    deadline: Deadline,
) -> Result<Status, AwsError> {
    const OPERATION: &str = "GetInvalidation";
    let about = || format!("{id} of {distribution}");
    let time = deadline
        .for_call(READ_TIMEOUT)
        .ok_or_else(|| AwsError::no_time(OPERATION, about()))?;
    let answer = client
        .get_invalidation()
        .distribution_id(distribution)
        .id(id)
        .customize()
        .config_override(within(time))
        .send()
        .await;
    match answer {
        Ok(got) => {
            let status = got.invalidation().map(|i| i.status()).unwrap_or_default();
            // moto answers COMPLETED; CloudFront Completed or InProgress.
            Ok(if status.eq_ignore_ascii_case("completed") {
                Status::Completed
            } else {
                Status::InProgress
            })
        }
        Err(e) => match e.as_service_error().and_then(ProvideErrorMetadata::code) {
            Some(code @ ("NoSuchInvalidation" | "NoSuchDistribution")) => Ok(Status::Gone(code.to_owned())),
            _ => Err(AwsError::new(OPERATION, about(), e)),
        },
    }
}

/// What a distribution holds in progress, as far as read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub held: Held,
    /// Invalidations in progress whose paths were not read this time
    /// (beyond [`MAX_LOOKUPS`]): counted as holding nothing.
    pub unread: usize,
}

/// What `distribution` holds in progress: ListInvalidations (newest first,
/// the last hour), then GetInvalidation for each in-progress invalidation
/// `memory` does not know (at most [`MAX_LOOKUPS`]), all within
/// [`READ_TIMEOUT`] or a third of what is left before `deadline`. What
/// `memory` has that is not listed in progress any more holds nothing from
/// now on.
pub async fn read_held(
    client: &Client,
    distribution: &DistributionId,
    memory: &mut Memory,
    deadline: Deadline,
    now_ms: i64,
) -> Result<Reading, AwsError> {
    let until = Instant::now() + READ_TIMEOUT.min(deadline.left() / 3);
    // Each call gets what is left of the reads' time.
    let time = |operation: &'static str| {
        let left = until.saturating_duration_since(Instant::now());
        (left >= Duration::from_millis(100))
            .then(|| within(left))
            .ok_or_else(|| AwsError::no_time(operation, format!("of {distribution}")))
    };
    let mut ids = Vec::new();
    let mut marker: Option<String> = None;
    let recent_secs = (now_ms - RECENT_MS) / 1000;
    for _ in 0..MAX_PAGES {
        const OPERATION: &str = "ListInvalidations";
        let page = client
            .list_invalidations()
            .distribution_id(distribution.as_str())
            .max_items(100)
            .set_marker(marker.take())
            .customize()
            .config_override(time(OPERATION)?)
            .send()
            .await
            .map_err(|e| AwsError::new(OPERATION, format!("of {distribution}"), e))?;
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
            .is_some_and(|i| i.create_time().secs() < recent_secs);
        let more = !running.is_empty() && !older;
        ids.extend(running);
        match list.next_marker() {
            Some(next) if list.is_truncated() && !next.is_empty() && more => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    memory.read(&ids.iter().cloned().collect::<BTreeSet<String>>());
    let mut reading = Reading::default();
    let mut lookups = 0;
    for id in ids {
        const OPERATION: &str = "GetInvalidation";
        if memory.held_by(&id).is_none() {
            if lookups == MAX_LOOKUPS {
                reading.unread += 1;
                continue;
            }
            lookups += 1;
            let got = client
                .get_invalidation()
                .distribution_id(distribution.as_str())
                .id(&id)
                .customize()
                .config_override(time(OPERATION)?)
                .send()
                .await
                .map_err(|e| AwsError::new(OPERATION, format!("{id} of {distribution}"), e))?;
            let invalidation = got.invalidation();
            let paths = invalidation
                .and_then(|i| i.invalidation_batch())
                .and_then(|b| b.paths())
                .map(|p| p.items())
                .unwrap_or_default();
            let created_ms = invalidation.and_then(|i| i.create_time().to_millis().ok());
            memory.remember(&id, paths, created_ms, now_ms);
        }
        reading.held = reading.held + memory.held_by(&id).unwrap_or_default();
    }
    Ok(reading)
}
