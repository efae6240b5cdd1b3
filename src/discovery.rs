//! `DISTRIBUTION_IDS=auto`: which distributions serve a bucket, read from
//! their origins, and when a listing is too old to trust. An origin serves
//! the bucket when its domain is one of S3's endpoint forms for it, REST or
//! website, in any region. Pure: the list comes from
//! `cloudfront::list_distributions`, the clock from the caller.

use crate::config::{DistributionId, OriginPath, Target};
use std::collections::{BTreeMap, BTreeSet};

/// How long a listing is used before the function lists again: one minute.
/// A distribution created or edited (an origin path changed to /v2) is seen
/// within that, which is shorter than CloudFront takes to deploy the change
/// to its edges; and ListDistributions costs nothing but a call a minute.
pub const MAX_AGE_MS: i64 = 60_000;

/// The account's distributions, as listed at `taken_ms` (milliseconds since
/// the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub distributions: Vec<DistributionOrigins>,
    pub taken_ms: i64,
}

impl Listing {
    /// Too old to plan with at `now_ms` (or taken in the future: a clock that
    /// jumped back).
    pub fn is_stale(&self, now_ms: i64) -> bool {
        now_ms - self.taken_ms >= MAX_AGE_MS || now_ms < self.taken_ms
    }

    /// True when a change that no listed distribution serves may be served
    /// by a distribution this listing does not know: S3 reported it at or
    /// after the listing was taken, or the event does not say when. Such a
    /// change is ignored only after a listing taken later than it.
    pub fn predates(&self, unserved: &[Option<i64>]) -> bool {
        unserved
            .iter()
            .any(|time| time.is_none_or(|t| t >= self.taken_ms))
    }

    /// Whether `id` is among the listed distributions.
    pub fn lists(&self, id: &DistributionId) -> bool {
        self.distributions.iter().any(|d| d.id == *id)
    }

    /// The targets serving each of `buckets`.
    pub fn targets<'b>(&self, buckets: impl IntoIterator<Item = &'b str>) -> BTreeMap<String, Vec<Target>> {
        let buckets: BTreeSet<&str> = buckets.into_iter().collect();
        buckets
            .into_iter()
            .map(|b| (b.to_owned(), targets_for(b, &self.distributions)))
            .collect()
    }
}

/// One distribution's origins as (domain name, origin path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributionOrigins {
    pub id: DistributionId,
    pub origins: Vec<(String, String)>,
}

/// True when `domain` is an S3 endpoint of `bucket`:
/// `bucket.s3.amazonaws.com`, `bucket.s3.REGION.amazonaws.com`,
/// `bucket.s3-REGION.amazonaws.com`, `bucket.s3.dualstack.REGION.amazonaws.com`,
/// `bucket.s3-website-REGION.amazonaws.com`, `bucket.s3-website.REGION.amazonaws.com`
/// (and the same under `amazonaws.com.cn`).
pub fn serves_bucket(domain: &str, bucket: &str) -> bool {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let Some(rest) = domain.strip_prefix(bucket).and_then(|r| r.strip_prefix('.')) else {
        return false;
    };
    let Some(endpoint) = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))
    else {
        return false;
    };
    let region = |r: &str| {
        !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    endpoint == "s3"
        || endpoint.strip_prefix("s3.dualstack.").is_some_and(region)
        || endpoint.strip_prefix("s3-website-").is_some_and(region)
        || endpoint.strip_prefix("s3-website.").is_some_and(region)
        || endpoint.strip_prefix("s3.").is_some_and(region)
        || endpoint.strip_prefix("s3-").is_some_and(region)
}

/// The targets serving `bucket`: one per matching origin, with its origin
/// path. An origin path CloudFront would not accept is skipped.
pub fn targets_for(bucket: &str, distributions: &[DistributionOrigins]) -> Vec<Target> {
    let mut targets = Vec::new();
    for distribution in distributions {
        for (domain, origin_path) in &distribution.origins {
            if !serves_bucket(domain, bucket) {
                continue;
            }
            if let Ok(origin) = OriginPath::parse(origin_path) {
                let target = Target {
                    id: distribution.id.clone(),
                    origin,
                };
                if !targets.contains(&target) {
                    targets.push(target);
                }
            }
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_forms() {
        let yes = [
            "my.site.s3.amazonaws.com",
            "my.site.s3.eu-west-1.amazonaws.com",
            "my.site.s3-eu-west-1.amazonaws.com",
            "my.site.s3.dualstack.us-east-2.amazonaws.com",
            "my.site.s3-website-us-east-1.amazonaws.com",
            "my.site.s3-website.eu-central-1.amazonaws.com",
            "my.site.s3.cn-north-1.amazonaws.com.cn",
            "MY.SITE.S3.AMAZONAWS.COM",
        ];
        for domain in yes {
            assert!(serves_bucket(domain, "my.site"), "{domain}");
        }
        let no = [
            "site.s3.amazonaws.com",
            "other-my.site.s3.amazonaws.com",
            "my.site.example.com",
            "my.site.s3.amazonaws.com.evil.com",
            "my.site.cloudfront.net",
            "my.site.s3-accesspoint.eu-west-1.amazonaws.com.x",
            "my.sites3.amazonaws.com",
        ];
        for domain in no {
            assert!(!serves_bucket(domain, "my.site"), "{domain}");
        }
    }

    #[test]
    fn a_listing_is_trusted_for_a_minute_and_never_for_later_changes() {
        let listing = Listing {
            distributions: vec![],
            taken_ms: 1_000_000,
        };
        assert!(!listing.is_stale(1_000_000));
        assert!(!listing.is_stale(1_059_999));
        assert!(listing.is_stale(1_060_000));
        assert!(listing.is_stale(999_000), "a clock that jumped back");
        // Unserved changes reported before the listing: it already knew
        // every distribution that could have cached them.
        assert!(!listing.predates(&[]));
        assert!(!listing.predates(&[Some(999_999), Some(1)]));
        // One reported at or after it, or at an unknown time: list again.
        assert!(listing.predates(&[Some(1), Some(1_000_000)]));
        assert!(listing.predates(&[None]));
    }

    #[test]
    fn targets_carry_each_origin_path() {
        let id = |s: &str| DistributionId::parse(s).unwrap();
        let list = [
            DistributionOrigins {
                id: id("E1"),
                origins: vec![
                    ("site.s3.amazonaws.com".into(), "/static".into()),
                    ("api.example.com".into(), "".into()),
                ],
            },
            DistributionOrigins {
                id: id("E2"),
                origins: vec![("site.s3-website-us-east-1.amazonaws.com".into(), "".into())],
            },
            DistributionOrigins {
                id: id("E3"),
                origins: vec![("other.s3.amazonaws.com".into(), "".into())],
            },
        ];
        let targets = targets_for("site", &list);
        let got: Vec<(String, Option<String>)> = targets
            .iter()
            .map(|t| (t.id.to_string(), t.origin.as_ref().map(ToString::to_string)))
            .collect();
        assert_eq!(got, [("E1".into(), Some("/static".into())), ("E2".into(), None)]);
        assert!(targets_for("nobody", &list).is_empty());
    }
}
