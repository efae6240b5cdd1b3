//! `DISTRIBUTION_IDS=auto`: which distributions serve a bucket, read from
//! their origins. An origin serves the bucket when its domain is one of S3's
//! endpoint forms for it, REST or website, in any region. Pure: the list
//! comes from `cloudfront::list_distributions`.

use crate::config::{DistributionId, OriginPath, Target};

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
