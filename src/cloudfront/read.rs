//! Reading CloudFront: what a distribution holds in progress
//! (ListInvalidations, then GetInvalidation for the ones the environment does
//! not know), and how far one invalidation got (GetInvalidation).

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
/// after a third of the time left before the deadline (see [`read_held`]),
/// and its units come back later: it must not hold the invocation up.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// One attempt of a read: CloudFront answers them in well under a second,
/// so a slow answer is retried rather than waited for.
const READ_ATTEMPT: Duration = Duration::from_secs(3);

/// The per-call override of a read given `time` in all.
pub(super) fn read_within(time: Duration) -> aws_sdk_cloudfront::config::Builder {
    aws_sdk_cloudfront::Config::builder().timeout_config(
        aws_sdk_cloudfront::config::timeout::TimeoutConfig::builder()
            .operation_attempt_timeout(READ_ATTEMPT.min(time))
            .operation_timeout(time)
            .build(),
    )
}

/// How far back invalidations are read: CloudFront lists the newest first,
/// and an invalidation takes minutes, rarely 40. One created longer ago and
/// still in progress would be missed (and CloudFront would refuse what it
/// leaves no room for).
const RECENT_MS: i64 = 3_600_000;
/// Pages of ListInvalidations (100 each) read at most: more invalidations
/// than that in the last hour, and the reading fails.
const MAX_PAGES: usize = 10;
/// GetInvalidation calls per distribution per invocation at most; the
/// answers are kept, since an invalidation's paths never change. Past it,
/// an unknown invalidation in progress fails the reading (the next
/// invocation reads on), and an unknown completed one covers nothing.
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
        .config_override(read_within(time))
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

/// What a distribution holds in progress: every invalidation in progress
/// was read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub held: Held,
}

/// What `distribution` holds in progress: ListInvalidations (newest first)
/// back to an hour ago, then GetInvalidation for each invalidation `memory`
/// does not know that is in progress, or completed and created since
/// `since_ms` (it may cover changes made then: see `cover`), at most
/// [`MAX_LOOKUPS`], all within [`READ_TIMEOUT`] or a third of what is left
/// before `deadline`. An invalidation in progress that could not be read
/// fails the reading: an unread one may hold anything. What `memory` has
/// that is not listed in progress any more holds nothing from now on.
pub async fn read_held(
    client: &Client,
    distribution: &DistributionId,
    memory: &mut Memory,
    deadline: Deadline,
    now_ms: i64,
    since_ms: Option<i64>,
) -> Result<Reading, AwsError> {
    let until = Instant::now() + READ_TIMEOUT.min(deadline.left() / 3);
    // Each call gets what is left of the reads' time.
    let time = |operation: &'static str| {
        let left = until.saturating_duration_since(Instant::now());
        (left >= Duration::from_millis(100))
            .then(|| read_within(left))
            .ok_or_else(|| AwsError::no_time(operation, format!("of {distribution}")))
    };
    let listed = list_recent(client, distribution, now_ms, &time).await?;
    let running: BTreeSet<String> = listed
        .iter()
        .filter(|i| i.running)
        .map(|i| i.id.clone())
        .collect();
    memory.read(&running);
    // The unknown ones in progress first: without them nothing is planned.
    let mut unknown: Vec<&Listed> = listed
        .iter()
        .filter(|i| !memory.knows(&i.id))
        .filter(|i| i.running || since_ms.is_some_and(|since| i.created_ms >= since))
        .collect();
    unknown.sort_by_key(|i| !i.running);
    for (lookups, listed) in unknown.into_iter().enumerate() {
        const OPERATION: &str = "GetInvalidation";
        if lookups == MAX_LOOKUPS {
            if listed.running {
                return Err(AwsError {
                    operation: OPERATION,
                    about: format!("of {distribution}"),
                    detail: format!(
                        "more than {MAX_LOOKUPS} invalidations in progress are new to this environment; \
                         the next invocation reads the rest"
                    ),
                });
            }
            break;
        }
        let id = &listed.id;
        let got = client
            .get_invalidation()
            .distribution_id(distribution.as_str())
            .id(id)
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
        memory.remember(id, paths, created_ms, now_ms, listed.running);
    }
    let held = running
        .iter()
        .map(|id| memory.held_by(id).unwrap_or_default())
        .fold(Held::default(), |sum, h| sum + h);
    Ok(Reading { held })
}

/// One invalidation as ListInvalidations shows it.
struct Listed {
    id: String,
    created_ms: i64,
    running: bool,
}

/// The invalidations of `distribution` created in the last hour, reading
/// pages until one reaches further back (or none is left).
async fn list_recent(
    client: &Client,
    distribution: &DistributionId,
    now_ms: i64,
    time: &impl Fn(&'static str) -> Result<aws_sdk_cloudfront::config::Builder, AwsError>,
) -> Result<Vec<Listed>, AwsError> {
    const OPERATION: &str = "ListInvalidations";
    let mut listed = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_PAGES {
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
            return Ok(listed);
        };
        let mut older = false;
        for item in list.items() {
            let created_ms = item.create_time().to_millis().unwrap_or(i64::MAX);
            older |= created_ms < now_ms - RECENT_MS;
            listed.push(Listed {
                id: item.id().to_owned(),
                created_ms,
                // moto answers COMPLETED; CloudFront Completed or InProgress.
                running: !item.status().eq_ignore_ascii_case("completed"),
            });
        }
        match list.next_marker() {
            Some(next) if list.is_truncated() && !next.is_empty() && !older => marker = Some(next.to_owned()),
            _ => return Ok(listed),
        }
    }
    Err(AwsError {
        operation: OPERATION,
        about: format!("of {distribution}"),
        detail: format!(
            "more than {} invalidations in the last hour; not all read",
            MAX_PAGES * 100
        ),
    })
}
