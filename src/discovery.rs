//! `DISTRIBUTION_IDS=auto`: which distributions serve a bucket, read from
//! their configurations as ListDistributions summarises them (origins,
//! origin groups, cache behaviors: see `distribution`), and when a listing is
//! too old to trust. Pure: the list comes from
//! `cloudfront::list_distributions`, the clock from the caller.

use crate::config::DistributionId;
use crate::distribution::{Policies, Routes, Setup, reaches_bucket};
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
    pub distributions: Vec<Setup>,
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

    /// The distributions with an origin on `bucket` (before their cache
    /// behaviors are asked: whose cache policies matter).
    pub fn on_bucket<'l>(&'l self, bucket: &str, domains: &[String]) -> Vec<&'l Setup> {
        self.distributions
            .iter()
            .filter(|d| {
                d.origins
                    .iter()
                    .any(|o| reaches_bucket(&o.domain, bucket, domains))
            })
            .collect()
    }

    /// The routes of the distributions serving each of `buckets`.
    pub fn routes<'b>(
        &self,
        buckets: impl IntoIterator<Item = &'b str>,
        domains: &[String],
        policies: &Policies,
    ) -> BTreeMap<String, Vec<Routes>> {
        let buckets: BTreeSet<&str> = buckets.into_iter().collect();
        buckets
            .into_iter()
            .map(|b| {
                let routes = self
                    .distributions
                    .iter()
                    .filter_map(|d| Routes::read(d, b, domains, policies))
                    .collect();
                (b.to_owned(), routes)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn routes_carry_each_origin_path() {
        use crate::distribution::{Behavior, CacheKey, Origin};
        let id = |s: &str| DistributionId::parse(s).unwrap();
        let distribution = |d: &str, origins: &[(&str, &str)]| Setup {
            id: id(d),
            origins: origins
                .iter()
                .enumerate()
                .map(|(n, (domain, path))| Origin {
                    id: format!("o{n}"),
                    domain: domain.to_string(),
                    path: path.to_string(),
                })
                .collect(),
            groups: vec![],
            behaviors: vec![Behavior {
                pattern: "*".into(),
                target: "o0".into(),
                key: CacheKey::Forwarded { query_strings: false },
            }],
        };
        let listing = Listing {
            distributions: vec![
                distribution(
                    "E1",
                    &[("site.s3.amazonaws.com", "/static"), ("api.example.com", "")],
                ),
                distribution("E2", &[("site.s3-website-us-east-1.amazonaws.com", "")]),
                distribution("E3", &[("other.s3.amazonaws.com", "")]),
            ],
            taken_ms: 0,
        };
        let routes = listing.routes(["site", "nobody"], &[], &Policies::new());
        let got: Vec<(String, Vec<String>)> = routes["site"]
            .iter()
            .map(|r| (r.id.to_string(), r.origin_paths().into_iter().collect()))
            .collect();
        assert_eq!(
            got,
            [
                ("E1".to_string(), vec!["/static".to_string()]),
                ("E2".to_string(), vec![String::new()])
            ]
        );
        assert!(routes["nobody"].is_empty());
        let on: Vec<&str> = listing
            .on_bucket("site", &[])
            .iter()
            .map(|d| d.id.as_str())
            .collect();
        assert_eq!(on, ["E1", "E2"]);
    }
}
