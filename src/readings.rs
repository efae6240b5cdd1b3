//! What the execution environment knows of the distributions'
//! configurations, kept for a minute as the listing is (see
//! `discovery::MAX_AGE_MS`): each listed distribution's
//! (GetDistributionConfig) and the cache policies the behaviors name
//! (GetCachePolicy), read on the first invocation that needs them and again
//! once a minute old. A read that fails keeps what was read before; with
//! nothing before, a distribution whose configuration CloudFront refuses to
//! show (AccessDenied) is planned as configured, one it cannot show now is
//! unknown (its changes wait: see `handler`), and a cache policy counts as
//! AWS's table says for a managed one, else as keying on query strings.
//! From them, how each distribution serves the buckets of an invocation
//! (see `distribution`), and what to tell the operator about it.

use crate::clock::{DEADLINE_RESERVE, Deadline};
use crate::cloudfront::{self, Unread};
use crate::config::{DistributionId, Target};
use crate::discovery::{Listing, MAX_AGE_MS};
use crate::distribution::{self, Known, Notice, Policies, Routes, Setup};
use crate::metrics;
use aws_sdk_cloudfront::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

/// A value, and when it was read (milliseconds since the Unix epoch).
#[derive(Debug, Clone)]
struct Kept<T> {
    value: T,
    taken_ms: i64,
}

impl<T> Kept<T> {
    fn fresh(&self, now_ms: i64) -> bool {
        now_ms >= self.taken_ms && now_ms - self.taken_ms < MAX_AGE_MS
    }
}

/// A listed distribution's configuration, as far as the environment knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Knowledge {
    Read(Setup),
    /// CloudFront refuses to show it (AccessDenied, NoSuchDistribution).
    Refused,
    /// Never read: CloudFront could not answer (why).
    Unknown(String),
}

impl Knowledge {
    pub fn as_known(&self) -> Known<'_> {
        match self {
            Knowledge::Read(setup) => Known::Read(setup),
            Knowledge::Refused => Known::Denied,
            Knowledge::Unknown(_) => Known::Unknown,
        }
    }
}

#[derive(Default)]
pub struct Readings {
    /// Per listed distribution: its configuration, or CloudFront's refusal.
    setups: Mutex<BTreeMap<DistributionId, Kept<Result<Setup, String>>>>,
    /// Per cache policy: whether it keys on query strings.
    policies: Mutex<BTreeMap<String, Kept<bool>>>,
    /// Warnings the environment gives once.
    said: Mutex<BTreeSet<String>>,
}

/// Each bucket's routes: how each distribution serving it serves it.
pub type ByBucket = BTreeMap<String, Vec<Routes>>;

impl Readings {
    /// How the listed distributions serve each bucket of `changes` (bucket
    /// and its number of changes), as their configurations say; and those
    /// whose configuration is not known, with why. Says what it found (see
    /// [`Readings::tell`]).
    pub async fn listed_routes(
        &self,
        client: &Client,
        targets: &[Target],
        changes: &BTreeMap<&str, usize>,
        domains: &[String],
        now_ms: i64,
        deadline: Deadline,
    ) -> (ByBucket, Vec<(DistributionId, String)>) {
        let mut ids: Vec<DistributionId> = Vec::new();
        for target in targets {
            if !ids.contains(&target.id) {
                ids.push(target.id.clone());
            }
        }
        let deadline = for_reads(deadline);
        let known = self.listed(client, &ids, now_ms, deadline).await;
        let setups = known.values().filter_map(|k| match k {
            Knowledge::Read(setup) => Some(setup),
            _ => None,
        });
        let policies = self.policies(client, policy_ids(setups), now_ms, deadline).await;
        let know = |id: &DistributionId| known.get(id).map_or(Known::Unknown, Knowledge::as_known);
        let mut routes = ByBucket::new();
        for (&bucket, &changes) in changes {
            let (found, notices) = distribution::listed(targets, know, bucket, domains, &policies);
            self.tell(&notices, changes);
            routes.insert(bucket.to_owned(), found);
        }
        let unknown = known
            .into_iter()
            .filter_map(|(id, k)| match k {
                Knowledge::Unknown(why) => Some((id, why)),
                _ => None,
            })
            .collect();
        (routes, unknown)
    }

    /// `DISTRIBUTION_IDS=auto`: how the distributions of `listing` serve
    /// each of `buckets`, with the cache policies their behaviors name.
    pub async fn found_routes(
        &self,
        client: &Client,
        listing: &Listing,
        buckets: &BTreeSet<&str>,
        domains: &[String],
        now_ms: i64,
        deadline: Deadline,
    ) -> ByBucket {
        let on = buckets.iter().flat_map(|b| listing.on_bucket(b, domains));
        let policies = (self.policies(client, policy_ids(on), now_ms, for_reads(deadline))).await;
        listing.routes(buckets.iter().copied(), domains, &policies)
    }

    /// What planning with the configurations found says: a listed
    /// distribution not serving the bucket of `changes` changes at every
    /// invocation (an ERROR line and a metric, which an alarm watches), other
    /// origin paths than configured once per execution environment.
    fn tell(&self, notices: &[Notice], changes: usize) {
        for notice in notices {
            match notice {
                Notice::OriginPaths { id, configured, read } => {
                    let line = format!(
                        "distribution {id} serves the bucket through origin path {} as CloudFront's \
                         configuration says, not {} as DISTRIBUTION_IDS or ORIGIN_PATH say: CloudFront's \
                         is used",
                        origin_paths(read),
                        origin_paths(configured)
                    );
                    if self.said.lock().expect("said lock").insert(line.clone()) {
                        warn!(distribution = %id, "{line}");
                    }
                }
                Notice::NotServing { id, bucket } => {
                    error!(
                        distribution = %id,
                        bucket,
                        changes,
                        "distribution {id} does not serve bucket {bucket}: changes are not invalidated \
                         there. None of its origins is one of S3's endpoints for the bucket or a domain \
                         BUCKET_DOMAINS names, or no cache behavior sends viewers to one: correct \
                         DISTRIBUTION_IDS, the distribution's origins or BUCKET_DOMAINS"
                    );
                    metrics::not_serving(id, changes);
                }
            }
        }
    }

    /// What is known of each of `ids`, read again where a minute old.
    pub async fn listed(
        &self,
        client: &Client,
        ids: &[DistributionId],
        now_ms: i64,
        deadline: Deadline,
    ) -> BTreeMap<DistributionId, Knowledge> {
        let mut known = BTreeMap::new();
        for id in ids {
            let kept = self.setups.lock().expect("setups lock").get(id).cloned();
            let knowledge = match kept {
                Some(kept) if kept.fresh(now_ms) => knowledge(kept.value),
                kept => self.read_setup(client, id, kept, now_ms, deadline).await,
            };
            known.insert(id.clone(), knowledge);
        }
        known
    }

    async fn read_setup(
        &self,
        client: &Client,
        id: &DistributionId,
        kept: Option<Kept<Result<Setup, String>>>,
        now_ms: i64,
        deadline: Deadline,
    ) -> Knowledge {
        let value = match cloudfront::read_setup(client, id, deadline).await {
            Ok(setup) => {
                debug!(distribution = %id, "read the distribution's configuration");
                Ok(setup)
            }
            Err(Unread::Refused(e)) => {
                warn!(
                    distribution = %id,
                    "could not read the distribution's configuration (the role needs \
                     cloudfront:GetDistributionConfig on it): planned as DISTRIBUTION_IDS and \
                     ORIGIN_PATH say, every key under its origin path, no query string in the \
                     cache key: {e}"
                );
                Err(e.to_string())
            }
            Err(Unread::Failed(e)) => {
                return match kept {
                    Some(kept) => {
                        let seconds = (now_ms - kept.taken_ms) / 1000;
                        warn!(distribution = %id, "could not read the distribution's configuration again; using what was read {seconds} s ago: {e}");
                        knowledge(kept.value)
                    }
                    None => Knowledge::Unknown(e.to_string()),
                };
            }
        };
        self.setups.lock().expect("setups lock").insert(
            id.clone(),
            Kept {
                value: value.clone(),
                taken_ms: now_ms,
            },
        );
        knowledge(value)
    }

    /// Whether each of the cache policies `ids` keys on query strings, read
    /// again where a minute old. A policy not known is left out (see
    /// `distribution::CacheKey::has_query_strings`).
    pub async fn policies(
        &self,
        client: &Client,
        ids: BTreeSet<&str>,
        now_ms: i64,
        deadline: Deadline,
    ) -> Policies {
        let mut policies = Policies::new();
        for id in ids.into_iter().filter(|id| !id.is_empty()) {
            let kept = self.policies.lock().expect("policies lock").get(id).cloned();
            if let Some(kept) = kept.as_ref().filter(|k| k.fresh(now_ms)) {
                policies.insert(id.to_owned(), kept.value);
                continue;
            }
            match cloudfront::read_policy(client, id, deadline).await {
                Ok(query_strings) => {
                    policies.insert(id.to_owned(), query_strings);
                    let kept = Kept {
                        value: query_strings,
                        taken_ms: now_ms,
                    };
                    self.policies
                        .lock()
                        .expect("policies lock")
                        .insert(id.to_owned(), kept);
                }
                Err(e) => match (kept, distribution::managed(id)) {
                    (Some(kept), _) => {
                        policies.insert(id.to_owned(), kept.value);
                    }
                    (None, Some(_)) => {
                        info!(
                            "cache policy {id} is one of AWS's managed ones, taken as AWS documents it: {e}"
                        );
                    }
                    (None, None) => warn!(
                        "could not read cache policy {id} (the role needs cloudfront:GetCachePolicy): \
                         its cache behaviors count as keying on query strings, each path with a \
                         trailing *: {e}"
                    ),
                },
            }
        }
        policies
    }
}

/// The reads of an invocation, all together, take at most
/// `cloudfront::SETUP_TIMEOUT` and a third of what is left before
/// `deadline`: they must not hold the invocation up. A read with no time
/// left fails as CloudFront's silence would.
fn for_reads(deadline: Deadline) -> Deadline {
    let time = cloudfront::SETUP_TIMEOUT.min(deadline.left() / 3) + DEADLINE_RESERVE;
    Deadline::at(deadline.instant().min(Instant::now() + time))
}

/// A set of origin paths as a reader would say it.
fn origin_paths(paths: &BTreeSet<String>) -> String {
    let said: Vec<&str> = paths
        .iter()
        .map(|p| {
            if p.is_empty() {
                "none (the bucket's top)"
            } else {
                p.as_str()
            }
        })
        .collect();
    said.join(" and ")
}

fn knowledge(value: Result<Setup, String>) -> Knowledge {
    match value {
        Ok(setup) => Knowledge::Read(setup),
        Err(_) => Knowledge::Refused,
    }
}

/// The cache policies the behaviors of `setups` name.
pub fn policy_ids<'s>(setups: impl IntoIterator<Item = &'s Setup>) -> BTreeSet<&'s str> {
    setups
        .into_iter()
        .flat_map(|s| &s.behaviors)
        .filter_map(|b| match &b.key {
            distribution::CacheKey::Policy(id) => Some(id.as_str()),
            distribution::CacheKey::Forwarded { .. } => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_reads_take_at_most_ten_seconds_and_a_third_of_what_is_left() {
        // What a call may take: what is left less the answer's reserve.
        let call = |left: Duration| for_reads(Deadline::after(left)).for_call(Duration::from_secs(60));
        let near = |got: Option<Duration>, want: u64| {
            got.is_some_and(|g| {
                g <= Duration::from_secs(want) && g + Duration::from_millis(50) >= Duration::from_secs(want)
            })
        };
        assert!(
            near(call(Duration::from_secs(180)), 10),
            "{:?}",
            call(Duration::from_secs(180))
        );
        assert!(
            near(call(Duration::from_secs(12)), 4),
            "{:?}",
            call(Duration::from_secs(12))
        );
        assert_eq!(
            call(Duration::from_secs(2)),
            None,
            "no time: the read fails as a silence"
        );
    }
}
