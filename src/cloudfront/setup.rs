//! Reading distributions' configurations: GetDistributionConfig for a listed
//! distribution, GetCachePolicy for the cache policies its behaviors name,
//! and the same parts of ListDistributions' summaries (see `list`), as the
//! plain data `distribution` derives from.

use super::read::read_within;
use crate::clock::Deadline;
use crate::config::DistributionId;
use crate::distribution::{Behavior, CacheKey, Group, Origin, Setup, policy_keys_query_strings};
use crate::sdk::AwsError;
use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::error::ProvideErrorMetadata;
use aws_sdk_cloudfront::types::{CacheBehaviors, DefaultCacheBehavior, OriginGroups, Origins};
use std::time::Duration;

/// One read may take this long, its retries included: the reads must not
/// hold an invocation up (a distribution not read is planned without it).
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a distribution's configuration was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unread {
    /// CloudFront will not tell: AccessDenied (the role lacks
    /// cloudfront:GetDistributionConfig), or NoSuchDistribution.
    #[error("{0}")]
    Refused(AwsError),
    /// It could not answer now: throttled, unavailable, too little time.
    #[error("{0}")]
    Failed(AwsError),
}

/// The configuration of distribution `id` (GetDistributionConfig).
pub async fn read_setup(client: &Client, id: &DistributionId, deadline: Deadline) -> Result<Setup, Unread> {
    const OPERATION: &str = "GetDistributionConfig";
    let about = || format!("of {id}");
    let time = deadline
        .for_call(SETUP_TIMEOUT)
        .ok_or_else(|| Unread::Failed(AwsError::no_time(OPERATION, about())))?;
    let answer = client
        .get_distribution_config()
        .id(id.as_str())
        .customize()
        .config_override(read_within(time))
        .send()
        .await;
    match answer {
        Ok(got) => {
            let config = got.distribution_config();
            Ok(setup_of(
                id.clone(),
                config.and_then(|c| c.origins()),
                config.and_then(|c| c.origin_groups()),
                config.and_then(|c| c.default_cache_behavior()),
                config.and_then(|c| c.cache_behaviors()),
            ))
        }
        Err(e) => {
            let refused = matches!(
                e.as_service_error().and_then(ProvideErrorMetadata::code),
                Some("AccessDenied" | "NoSuchDistribution")
            );
            let error = AwsError::new(OPERATION, about(), e);
            Err(if refused {
                Unread::Refused(error)
            } else {
                Unread::Failed(error)
            })
        }
    }
}

/// Whether cache policy `id` (managed or the account's) keys on query
/// strings (GetCachePolicy).
pub async fn read_policy(client: &Client, id: &str, deadline: Deadline) -> Result<bool, AwsError> {
    const OPERATION: &str = "GetCachePolicy";
    let about = || format!("of {id}");
    let time = deadline
        .for_call(SETUP_TIMEOUT)
        .ok_or_else(|| AwsError::no_time(OPERATION, about()))?;
    let got = client
        .get_cache_policy()
        .id(id)
        .customize()
        .config_override(read_within(time))
        .send()
        .await
        .map_err(|e| AwsError::new(OPERATION, about(), e))?;
    let behavior = got
        .cache_policy()
        .and_then(|p| p.cache_policy_config())
        .and_then(|c| c.parameters_in_cache_key_and_forwarded_to_origin())
        .and_then(|p| p.query_strings_config())
        .map(|q| q.query_string_behavior().as_str().to_owned());
    match behavior {
        Some(behavior) => Ok(policy_keys_query_strings(&behavior)),
        None => Err(AwsError {
            operation: OPERATION,
            about: about(),
            detail: "the answer has no QueryStringsConfig".into(),
        }),
    }
}

/// A distribution's configuration from its parts, as both
/// GetDistributionConfig and ListDistributions' summaries give them. The
/// SDK marks `ForwardedValues` deprecated; distributions made before cache
/// policies still have it, and it decides their cache key.
#[allow(deprecated)]
pub(super) fn setup_of(
    id: DistributionId,
    origins: Option<&Origins>,
    groups: Option<&OriginGroups>,
    default: Option<&DefaultCacheBehavior>,
    behaviors: Option<&CacheBehaviors>,
) -> Setup {
    let origins = origins
        .map(|o| o.items())
        .unwrap_or_default()
        .iter()
        .map(|o| Origin {
            id: o.id().to_owned(),
            domain: o.domain_name().to_owned(),
            path: o.origin_path().unwrap_or("").to_owned(),
        })
        .collect();
    let groups = groups
        .map(|g| g.items())
        .unwrap_or_default()
        .iter()
        .map(|g| Group {
            id: g.id().to_owned(),
            members: g
                .members()
                .map(|m| m.items())
                .unwrap_or_default()
                .iter()
                .map(|m| m.origin_id().to_owned())
                .collect(),
        })
        .collect();
    let mut all: Vec<Behavior> = behaviors
        .map(|b| b.items())
        .unwrap_or_default()
        .iter()
        .map(|b| Behavior {
            pattern: b.path_pattern().to_owned(),
            target: b.target_origin_id().to_owned(),
            key: cache_key(
                b.cache_policy_id(),
                b.forwarded_values().map(|f| f.query_string()),
            ),
        })
        .collect();
    if let Some(d) = default {
        all.push(Behavior {
            pattern: "*".into(),
            target: d.target_origin_id().to_owned(),
            key: cache_key(
                d.cache_policy_id(),
                d.forwarded_values().map(|f| f.query_string()),
            ),
        });
    }
    Setup {
        id,
        origins,
        groups,
        behaviors: all,
    }
}

/// A behavior's cache key: its cache policy, else its legacy forwarded
/// values; with neither, a policy no one can read, which counts as keying
/// on query strings.
fn cache_key(policy: Option<&str>, forwarded_query_strings: Option<bool>) -> CacheKey {
    match (policy.filter(|p| !p.is_empty()), forwarded_query_strings) {
        (Some(policy), _) => CacheKey::Policy(policy.to_owned()),
        (None, Some(query_strings)) => CacheKey::Forwarded { query_strings },
        (None, None) => CacheKey::Policy(String::new()),
    }
}
