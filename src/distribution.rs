//! What a distribution's configuration says about a bucket: the origins that
//! reach it (S3's REST and website endpoints for it, the domains
//! `BUCKET_DOMAINS` names, the origin groups holding them) with their origin
//! paths, the cache behaviors that send a viewer's URL there in CloudFront's
//! order, and whether each one's cache key holds query strings; and from
//! that, the paths a changed key needs there. Pure: the configuration comes
//! from `cloudfront` (GetDistributionConfig, ListDistributions' summaries,
//! GetCachePolicy).

use crate::config::{DistributionId, OriginPath, Target};
use crate::path::{self, InvalidationPath};
use std::collections::{BTreeMap, BTreeSet};

/// One distribution, as its configuration describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub id: DistributionId,
    pub origins: Vec<Origin>,
    pub groups: Vec<Group>,
    /// In CloudFront's order: the cache behaviors' path patterns as listed,
    /// then the default (`*`). Empty when the configuration did not say:
    /// every URL then reaches every origin, keyed on no query string.
    pub behaviors: Vec<Behavior>,
}

/// An origin: its ID, domain name and origin path (`/v2`, or empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub id: String,
    pub domain: String,
    pub path: String,
}

/// An origin group: its ID and its members' origin IDs (primary first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub members: Vec<String>,
}

/// A cache behavior: its path pattern (`*` for the default), the origin or
/// origin group it sends viewers to, and its cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behavior {
    pub pattern: String,
    pub target: String,
    pub key: CacheKey,
}

/// What decides a behavior's cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheKey {
    /// A cache policy, by ID: one of AWS's managed ones or the account's.
    Policy(String),
    /// The legacy cache settings: `ForwardedValues.QueryString`.
    Forwarded { query_strings: bool },
}

/// AWS's managed cache policies whose query-string setting the CloudFront
/// Developer Guide states ("Use managed cache policies"): ID, name, and
/// whether query strings are in the cache key. Used when GetCachePolicy
/// cannot be read; its answer comes first.
pub const MANAGED: [(&str, &str, bool); 7] = [
    ("2e54312d-136d-493c-8eb9-b001f22f67d2", "Amplify", true),
    ("4135ea2d-6df8-44a3-9df3-4b5a84be39ad", "CachingDisabled", false),
    ("658327ea-f89d-4fab-a63d-7e88639e58f6", "CachingOptimized", false),
    (
        "b2884449-e4de-46a7-ac36-70bc7f1ddd6d",
        "CachingOptimizedForUncompressedObjects",
        false,
    ),
    (
        "08627262-05a9-4f76-9ded-b50ca2e3a84f",
        "Elemental-MediaPackage",
        true,
    ),
    (
        "83da9c7e-98b4-4e11-a168-04f0df8e2c65",
        "UseOriginCacheControlHeaders",
        false,
    ),
    (
        "4cc15a8a-d715-48a4-82b8-cc0b614638fe",
        "UseOriginCacheControlHeaders-QueryStrings",
        true,
    ),
];

/// Whether each cache policy read keys on query strings, by ID.
pub type Policies = BTreeMap<String, bool>;

/// Whether a cache policy keys on query strings, from GetCachePolicy's
/// `QueryStringsConfig.QueryStringBehavior`: `none` does not; `whitelist`,
/// `allExcept` and `all` do (and a value this code does not know, to be safe).
pub fn policy_keys_query_strings(query_string_behavior: &str) -> bool {
    !query_string_behavior.eq_ignore_ascii_case("none")
}

impl CacheKey {
    /// Whether viewers' query strings are part of the cache key: as the
    /// policy read says, else as AWS's table of managed policies says, else
    /// (a policy that could not be read) yes: a trailing `*` costs a
    /// wildcard, a query variant left out stays stale.
    pub fn has_query_strings(&self, policies: &Policies) -> bool {
        match self {
            CacheKey::Forwarded { query_strings } => *query_strings,
            CacheKey::Policy(id) => policies.get(id).copied().or_else(|| managed(id)).unwrap_or(true),
        }
    }
}

/// Whether the managed policy `id` keys on query strings; `None` when it is
/// not one the table knows.
pub fn managed(id: &str) -> Option<bool> {
    MANAGED.iter().find(|(m, _, _)| *m == id).map(|&(_, _, q)| q)
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

/// True when an origin at `domain` reaches `bucket`: one of S3's endpoints
/// for it, or one of `domains` (`BUCKET_DOMAINS`: a CNAME of the bucket or
/// of its website endpoint), or one of S3's endpoints for one of them (an
/// access point alias stands where a bucket name would).
pub fn reaches_bucket(domain: &str, bucket: &str, domains: &[String]) -> bool {
    let plain = domain.trim_end_matches('.').to_ascii_lowercase();
    serves_bucket(domain, bucket)
        || domains
            .iter()
            .any(|name| plain == *name || serves_bucket(domain, name))
}

/// How one distribution serves one bucket, for planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    pub id: DistributionId,
    /// Its origins on the bucket, each with its origin path.
    pub origins: Vec<Reach>,
    /// Every cache behavior, in CloudFront's order, the default last.
    pub behaviors: Vec<Route>,
}

/// An origin on the bucket: its ID, and the key prefix its path stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    pub origin: String,
    pub path: Option<OriginPath>,
}

/// A cache behavior, as planning needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub pattern: String,
    /// The origin or origin group it sends viewers to.
    pub target: String,
    /// Which of the bucket's origins (indices of [`Routes::origins`]) that is.
    pub reaches: Vec<usize>,
    pub query_strings: bool,
}

/// Why a key needs no path at a distribution that serves its bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// It lies outside every origin path on the bucket.
    Outside,
    /// Its URL falls under a cache behavior that sends viewers elsewhere.
    Elsewhere { pattern: String, target: String },
}

/// The default behavior's pattern, and the one a configuration that did not
/// say gets: every URL.
const EVERY_URL: &str = "*";

impl Routes {
    /// The distributions as configured, CloudFront not asked: each target's
    /// origin path, every URL, no query string in the key (how the function
    /// planned before it read distributions). Targets of one ID are one
    /// distribution with several origins, in the order listed.
    pub fn assumed(targets: &[Target]) -> Vec<Routes> {
        let mut all: Vec<Routes> = Vec::new();
        for target in targets {
            let at = match all.iter().position(|r| r.id == target.id) {
                Some(at) => at,
                None => {
                    all.push(Routes {
                        id: target.id.clone(),
                        origins: Vec::new(),
                        behaviors: Vec::new(),
                    });
                    all.len() - 1
                }
            };
            let routes = &mut all[at];
            routes.origins.push(Reach {
                origin: format!("configured {}", routes.origins.len() + 1),
                path: target.origin.clone(),
            });
        }
        for routes in &mut all {
            routes.behaviors = vec![Route {
                pattern: EVERY_URL.into(),
                target: String::new(),
                reaches: (0..routes.origins.len()).collect(),
                query_strings: false,
            }];
        }
        all
    }

    /// What `setup` says about `bucket`: `None` when no origin of it is on
    /// the bucket, or no cache behavior sends viewers to one that is.
    pub fn read(setup: &Setup, bucket: &str, domains: &[String], policies: &Policies) -> Option<Routes> {
        let origins: Vec<Reach> = setup
            .origins
            .iter()
            .filter(|o| reaches_bucket(&o.domain, bucket, domains))
            .filter_map(|o| {
                // An origin path CloudFront would not take is left out.
                let path = OriginPath::parse(&o.path).ok()?;
                Some(Reach {
                    origin: o.id.clone(),
                    path,
                })
            })
            .collect();
        if origins.is_empty() {
            return None;
        }
        let reaches = |target: &str| -> Vec<usize> {
            let members: Vec<&str> = match setup.groups.iter().find(|g| g.id == target) {
                Some(group) => group.members.iter().map(String::as_str).collect(),
                None => vec![target],
            };
            (0..origins.len())
                .filter(|&i| members.contains(&origins[i].origin.as_str()))
                .collect()
        };
        let mut behaviors: Vec<Route> = setup
            .behaviors
            .iter()
            .map(|b| Route {
                pattern: b.pattern.clone(),
                target: b.target.clone(),
                reaches: reaches(&b.target),
                query_strings: b.key.has_query_strings(policies),
            })
            .collect();
        if !behaviors.iter().any(|b| b.pattern == EVERY_URL) {
            behaviors.push(Route {
                pattern: EVERY_URL.into(),
                target: String::new(),
                reaches: (0..origins.len()).collect(),
                query_strings: false,
            });
        }
        if behaviors.iter().all(|b| b.reaches.is_empty()) {
            return None;
        }
        Some(Routes {
            id: setup.id.clone(),
            origins,
            behaviors,
        })
    }

    /// The origin paths through which the distribution reaches the bucket,
    /// as `DISTRIBUTION_IDS` writes them (`/static`, or empty for none).
    pub fn origin_paths(&self) -> BTreeSet<String> {
        self.origins
            .iter()
            .map(|r| r.path.as_ref().map(ToString::to_string).unwrap_or_default())
            .collect()
    }

    /// The first cache behavior whose pattern matches `url`.
    fn route(&self, url: &str) -> Option<&Route> {
        self.behaviors.iter().find(|b| pattern_matches(&b.pattern, url))
    }

    /// The paths viewers may have cached `key` under here: through each
    /// origin on the bucket whose origin path holds the key, each URL form
    /// of it (see `path::forms`) that a cache behavior sends to that origin,
    /// with a trailing `*` where that behavior keys on query strings; a path
    /// that a wildcard among them covers is left out. A URL is matched both
    /// as the key reads and as it is encoded, and routed when either form
    /// is.
    pub fn paths(&self, key: &str, index_document: Option<&str>) -> Result<Vec<InvalidationPath>, Miss> {
        let mut paths = Vec::new();
        let mut miss = Miss::Outside;
        for (at, reach) in self.origins.iter().enumerate() {
            let relative = match &reach.path {
                None => key,
                Some(origin) => match origin.strip(key) {
                    Some(relative) => relative,
                    None => continue,
                },
            };
            for form in path::forms(relative, index_document) {
                let path = InvalidationPath::for_key(&form);
                let decoded = format!("/{form}");
                let (mut here, mut query_strings) = (false, false);
                for route in [self.route(&decoded), self.route(path.as_str())]
                    .into_iter()
                    .flatten()
                {
                    if route.reaches.contains(&at) {
                        here = true;
                        query_strings |= route.query_strings;
                    } else if miss == Miss::Outside {
                        miss = Miss::Elsewhere {
                            pattern: route.pattern.clone(),
                            target: route.target.clone(),
                        };
                    }
                }
                if here {
                    paths.push(if query_strings {
                        path.with_query_strings()
                    } else {
                        path
                    });
                }
            }
        }
        if paths.is_empty() {
            return Err(miss);
        }
        Ok(without_covered(paths))
    }
}

/// The paths, each once, less those a wildcard among them covers.
fn without_covered(mut paths: Vec<InvalidationPath>) -> Vec<InvalidationPath> {
    paths.sort();
    paths.dedup();
    let wildcards: Vec<InvalidationPath> = paths.iter().filter(|p| p.is_wildcard()).cloned().collect();
    paths.retain(|p| {
        !wildcards
            .iter()
            .any(|w| w != p && p.as_str().starts_with(w.as_str().trim_end_matches('*')))
    });
    paths
}

/// Whether a cache behavior's path pattern matches a viewer's URL path, as
/// CloudFront compares them: case-sensitive, `*` for any run of characters
/// (`/` too), `?` for exactly one, the leading `/` optional on the pattern.
pub fn pattern_matches(pattern: &str, url: &str) -> bool {
    let pattern: Vec<char> = pattern.trim_start_matches('/').chars().collect();
    let url: Vec<char> = url.trim_start_matches('/').chars().collect();
    let (mut p, mut u) = (0, 0);
    // Where the last `*` was, and how much of the URL it has taken so far.
    let mut star: Option<(usize, usize)> = None;
    while u < url.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == url[u]) {
            p += 1;
            u += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, u));
            p += 1;
        } else if let Some((at, taken)) = star {
            p = at + 1;
            u = taken + 1;
            star = Some((at, taken + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// What the function knows of a listed distribution's configuration.
#[derive(Debug, Clone, Copy)]
pub enum Known<'a> {
    /// Read from CloudFront (now, or as kept from an earlier read).
    Read(&'a Setup),
    /// CloudFront refused to tell (AccessDenied): planned as configured.
    Denied,
    /// Not read (throttled, unavailable, too little time): its changes wait.
    Unknown,
}

/// What planning with the read configurations has to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// CloudFront serves the bucket through other origin paths than
    /// `DISTRIBUTION_IDS` or `ORIGIN_PATH` say: CloudFront's are used.
    OriginPaths {
        id: DistributionId,
        configured: BTreeSet<String>,
        read: BTreeSet<String>,
    },
    /// The distribution serves no origin of the bucket: nothing of the
    /// bucket is invalidated there.
    NotServing { id: DistributionId, bucket: String },
}

/// The listed distributions' routes to `bucket`: as CloudFront's
/// configuration says where it was read, as configured where CloudFront
/// refused to tell, and over the whole bucket where it is unknown (the
/// caller holds those changes back). With what to tell the operator.
pub fn listed<'k>(
    targets: &[Target],
    known: impl Fn(&DistributionId) -> Known<'k>,
    bucket: &str,
    domains: &[String],
    policies: &Policies,
) -> (Vec<Routes>, Vec<Notice>) {
    let mut routes = Vec::new();
    let mut notices = Vec::new();
    for configured in Routes::assumed(targets) {
        match known(&configured.id) {
            Known::Read(setup) => match Routes::read(setup, bucket, domains, policies) {
                Some(read) => {
                    if read.origin_paths() != configured.origin_paths() {
                        notices.push(Notice::OriginPaths {
                            id: configured.id.clone(),
                            configured: configured.origin_paths(),
                            read: read.origin_paths(),
                        });
                    }
                    routes.push(read);
                }
                None => notices.push(Notice::NotServing {
                    id: configured.id.clone(),
                    bucket: bucket.to_owned(),
                }),
            },
            Known::Denied => routes.push(configured),
            Known::Unknown => {
                let whole = Target {
                    id: configured.id.clone(),
                    origin: None,
                };
                routes.extend(Routes::assumed(&[whole]));
            }
        }
    }
    (routes, notices)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> DistributionId {
        DistributionId::parse(s).unwrap()
    }

    fn origin(id: &str, domain: &str, path: &str) -> Origin {
        Origin {
            id: id.into(),
            domain: domain.into(),
            path: path.into(),
        }
    }

    fn behavior(pattern: &str, target: &str, key: CacheKey) -> Behavior {
        Behavior {
            pattern: pattern.into(),
            target: target.into(),
            key,
        }
    }

    fn policy(id: &str) -> CacheKey {
        CacheKey::Policy(id.into())
    }

    const OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
    const QUERY_STRINGS: &str = "4cc15a8a-d715-48a4-82b8-cc0b614638fe";
    const BUCKET: &str = "site";
    const REST: &str = "site.s3.eu-west-1.amazonaws.com";

    fn setup(origins: Vec<Origin>, groups: Vec<Group>, behaviors: Vec<Behavior>) -> Setup {
        Setup {
            id: id("E1"),
            origins,
            groups,
            behaviors,
        }
    }

    /// The paths of each key at `setup` for the bucket, or why none.
    fn paths(setup: &Setup, policies: &Policies, keys: &[&str]) -> Vec<Result<Vec<String>, Miss>> {
        let routes = Routes::read(setup, BUCKET, &[], policies).expect("serves the bucket");
        keys.iter()
            .map(|k| {
                routes
                    .paths(k, Some("index.html"))
                    .map(|ps| ps.iter().map(ToString::to_string).collect())
            })
            .collect()
    }

    fn ok(paths: &[&str]) -> Result<Vec<String>, Miss> {
        Ok(paths.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn cache_keys_by_managed_policy_custom_policy_and_legacy_settings() {
        let read: Policies = [
            ("custom-all".to_string(), true),
            ("custom-none".to_string(), false),
        ]
        .into();
        let cases: &[(CacheKey, bool)] = &[
            // Managed, by ID, when GetCachePolicy gave nothing.
            (policy(OPTIMIZED), false),
            (policy("b2884449-e4de-46a7-ac36-70bc7f1ddd6d"), false),
            (policy("4135ea2d-6df8-44a3-9df3-4b5a84be39ad"), false),
            (policy("83da9c7e-98b4-4e11-a168-04f0df8e2c65"), false),
            (policy(QUERY_STRINGS), true),
            (policy("2e54312d-136d-493c-8eb9-b001f22f67d2"), true),
            (policy("08627262-05a9-4f76-9ded-b50ca2e3a84f"), true),
            // The account's own, as read.
            (policy("custom-all"), true),
            (policy("custom-none"), false),
            // One that could not be read: assumed to key on query strings.
            (policy("custom-unread"), true),
            // Legacy ForwardedValues.
            (CacheKey::Forwarded { query_strings: true }, true),
            (CacheKey::Forwarded { query_strings: false }, false),
        ];
        for (key, want) in cases {
            assert_eq!(key.has_query_strings(&read), *want, "{key:?}");
        }
        // What GetCachePolicy says comes before the table.
        let changed: Policies = [(OPTIMIZED.to_string(), true)].into();
        assert!(policy(OPTIMIZED).has_query_strings(&changed));
        for (behavior, want) in [
            ("none", false),
            ("None", false),
            ("all", true),
            ("allExcept", true),
            ("whitelist", true),
        ] {
            assert_eq!(policy_keys_query_strings(behavior), want, "{behavior}");
        }
    }

    #[test]
    fn path_patterns_as_cloudfront_compares_them() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "/anything/at/all.js", true),
            ("*", "/", true),
            ("/static/*", "/static/app.js", true),
            ("static/*", "/static/app.js", true),
            ("/static/*", "/static/", true),
            ("/static/*", "/static", false),
            ("/static/*", "/Static/app.js", false),
            ("*.js", "/a/b/app.js", true),
            ("*.js", "/a/b/app.json", false),
            ("/images/*.jpg", "/images/a/b.jpg", true),
            ("/v?/*", "/v2/x", true),
            ("/v?/*", "/v10/x", false),
            ("/api", "/api", true),
            ("/api", "/api/x", false),
            ("/a*b*c", "/axxbyyc", true),
            ("/a*b*c", "/axxbyy", false),
        ];
        for (pattern, url, want) in cases {
            assert_eq!(pattern_matches(pattern, url), *want, "{pattern} on {url}");
        }
    }

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
    fn cname_and_access_point_alias_domains() {
        let domains = vec![
            "assets.example.com".to_string(),
            "site-ap-abc123xyz-s3alias".to_string(),
        ];
        let yes = [
            "assets.example.com",
            "ASSETS.example.com.",
            "site-ap-abc123xyz-s3alias.s3.eu-west-1.amazonaws.com",
            "site.s3-website-eu-west-1.amazonaws.com",
        ];
        for domain in yes {
            assert!(reaches_bucket(domain, BUCKET, &domains), "{domain}");
        }
        for domain in [
            "www.example.com",
            "assets.example.com.evil.net",
            "other.s3.amazonaws.com",
        ] {
            assert!(!reaches_bucket(domain, BUCKET, &domains), "{domain}");
        }
        // Without BUCKET_DOMAINS the CNAME is some other origin.
        assert!(!reaches_bucket("assets.example.com", BUCKET, &[]));
    }

    #[test]
    fn query_string_behaviors_get_a_trailing_wildcard() {
        let s = setup(
            vec![origin("s3", REST, "")],
            vec![],
            vec![
                behavior("/static/*", "s3", policy(OPTIMIZED)),
                behavior("*", "s3", policy(QUERY_STRINGS)),
            ],
        );
        let keys = [
            "static/app.js",
            "css/site.css",
            "docs/index.html",
            "index.html",
            "static/index.html",
            "static/a*b.js",
        ];
        assert_eq!(
            paths(&s, &Policies::new(), &keys),
            [
                ok(&["/static/app.js"]),
                ok(&["/css/site.css*"]),
                // /docs/index.html* and /docs/* are under /docs*.
                ok(&["/docs*"]),
                // The root: / with any query string is /*.
                ok(&["/*"]),
                // /static/ and /static/index.html fall under /static/*, which
                // keys on no query string, and under /static*, which /static
                // (the default behavior) needs.
                ok(&["/static*"]),
                ok(&["/static/a*"]),
            ]
        );
    }

    #[test]
    fn only_behaviors_that_route_to_the_bucket_invalidate() {
        let s = setup(
            vec![origin("api", "api.example.com", ""), origin("s3", REST, "/site")],
            vec![],
            vec![
                behavior("/api/*", "api", policy(QUERY_STRINGS)),
                behavior("*.php", "api", policy(OPTIMIZED)),
                behavior("*", "s3", CacheKey::Forwarded { query_strings: false }),
            ],
        );
        let got = paths(
            &s,
            &Policies::new(),
            &[
                "site/css/a.css",
                "site/api/doc.html",
                "site/x.php",
                "elsewhere/a.css",
            ],
        );
        assert_eq!(
            got,
            [
                ok(&["/css/a.css"]),
                Err(Miss::Elsewhere {
                    pattern: "/api/*".into(),
                    target: "api".into()
                }),
                Err(Miss::Elsewhere {
                    pattern: "*.php".into(),
                    target: "api".into()
                }),
                Err(Miss::Outside),
            ]
        );
        // Each URL form of an index document on its own: /docs/ goes to
        // the API's behavior, /docs and /docs/index.html do not.
        let s = setup(
            vec![origin("api", "api.example.com", ""), origin("s3", REST, "")],
            vec![],
            vec![
                behavior("/docs/", "api", policy(OPTIMIZED)),
                behavior("*", "s3", policy(OPTIMIZED)),
            ],
        );
        assert_eq!(
            paths(&s, &Policies::new(), &["docs/index.html"]),
            [ok(&["/docs", "/docs/index.html"])]
        );
    }

    #[test]
    fn a_pattern_is_matched_on_the_key_and_on_its_encoded_path() {
        // `/my docs/*` is no pattern CloudFront takes, but a URL that
        // matches as decoded or as encoded counts either way.
        let s = setup(
            vec![origin("api", "api.example.com", ""), origin("s3", REST, "")],
            vec![],
            vec![
                behavior("/my%20docs/*", "s3", policy(QUERY_STRINGS)),
                behavior("*", "api", policy(OPTIMIZED)),
            ],
        );
        assert_eq!(
            paths(&s, &Policies::new(), &["my docs/a.pdf"]),
            [ok(&["/my%20docs/a.pdf*"])]
        );
    }

    #[test]
    fn origin_groups_and_website_endpoints_reach_the_bucket() {
        let s = setup(
            vec![
                origin("primary", "other-bucket.s3.amazonaws.com", ""),
                origin("secondary", "site.s3-website-eu-west-1.amazonaws.com", "/v2"),
            ],
            vec![Group {
                id: "failover".into(),
                members: vec!["primary".into(), "secondary".into()],
            }],
            vec![behavior("*", "failover", policy(OPTIMIZED))],
        );
        let routes = Routes::read(&s, BUCKET, &[], &Policies::new()).unwrap();
        assert_eq!(routes.origin_paths(), BTreeSet::from(["/v2".to_string()]));
        assert_eq!(paths(&s, &Policies::new(), &["v2/a.css"]), [ok(&["/a.css"])]);
        // The bucket's origin, in no group and no behavior: not served.
        let unused = setup(
            vec![
                origin("main", "other.s3.amazonaws.com", ""),
                origin("s3", REST, ""),
            ],
            vec![],
            vec![behavior("*", "main", policy(OPTIMIZED))],
        );
        assert_eq!(Routes::read(&unused, BUCKET, &[], &Policies::new()), None);
        let elsewhere = setup(vec![origin("o", "other.s3.amazonaws.com", "")], vec![], vec![]);
        assert_eq!(Routes::read(&elsewhere, BUCKET, &[], &Policies::new()), None);
    }

    #[test]
    fn a_cname_origin_named_in_bucket_domains_is_the_bucket() {
        let s = setup(
            vec![origin("www", "www.example.com", "/public")],
            vec![],
            vec![behavior("*", "www", policy(OPTIMIZED))],
        );
        assert_eq!(Routes::read(&s, BUCKET, &[], &Policies::new()), None);
        let domains = ["www.example.com".to_string()];
        let routes = Routes::read(&s, BUCKET, &domains, &Policies::new()).unwrap();
        assert_eq!(
            routes.paths("public/index.html", Some("index.html")).unwrap(),
            [
                InvalidationPath::for_key(""),
                InvalidationPath::for_key("index.html")
            ]
        );
    }

    #[test]
    fn without_behaviors_every_url_reaches_every_origin_on_the_bucket() {
        let s = setup(
            vec![origin("a", REST, ""), origin("b", REST, "/static")],
            vec![],
            vec![],
        );
        assert_eq!(
            paths(&s, &Policies::new(), &["static/app.css"]),
            [ok(&["/app.css", "/static/app.css"])]
        );
    }

    #[test]
    fn listed_distributions_take_cloudfronts_origin_paths_and_say_so() {
        let targets = vec![
            Target {
                id: id("E1"),
                origin: OriginPath::parse("/static").unwrap(),
            },
            Target {
                id: id("E2"),
                origin: None,
            },
            Target {
                id: id("E3"),
                origin: None,
            },
            Target {
                id: id("E4"),
                origin: OriginPath::parse("/x").unwrap(),
            },
        ];
        let whole = Setup {
            id: id("E1"),
            origins: vec![origin("s3", REST, "")],
            groups: vec![],
            behaviors: vec![behavior("*", "s3", policy(OPTIMIZED))],
        };
        let other = Setup {
            id: id("E2"),
            origins: vec![origin("s3", "other.s3.amazonaws.com", "")],
            groups: vec![],
            behaviors: vec![behavior("*", "s3", policy(OPTIMIZED))],
        };
        let known = |d: &DistributionId| match d.as_str() {
            "E1" => Known::Read(&whole),
            "E2" => Known::Read(&other),
            "E3" => Known::Denied,
            _ => Known::Unknown,
        };
        let (routes, notices) = listed(&targets, known, BUCKET, &[], &Policies::new());
        assert_eq!(
            notices,
            [
                Notice::OriginPaths {
                    id: id("E1"),
                    configured: BTreeSet::from(["/static".to_string()]),
                    read: BTreeSet::from([String::new()]),
                },
                Notice::NotServing {
                    id: id("E2"),
                    bucket: BUCKET.into()
                },
            ]
        );
        let got: Vec<(String, Vec<String>)> = routes
            .iter()
            .map(|r| {
                let paths = r.paths("static/a.css", None).unwrap();
                (r.id.to_string(), paths.iter().map(ToString::to_string).collect())
            })
            .collect();
        assert_eq!(
            got,
            [
                // CloudFront's: no origin path.
                ("E1".to_string(), vec!["/static/a.css".to_string()]),
                // As configured.
                ("E3".to_string(), vec!["/static/a.css".to_string()]),
                // Unknown: over the whole bucket, for the caller to hold back.
                ("E4".to_string(), vec!["/static/a.css".to_string()]),
            ]
        );
    }

    #[test]
    fn assumed_routes_are_todays_planning() {
        let targets = vec![
            Target {
                id: id("E1"),
                origin: OriginPath::parse("/site").unwrap(),
            },
            Target {
                id: id("E1"),
                origin: OriginPath::parse("/assets").unwrap(),
            },
        ];
        let routes = Routes::assumed(&targets);
        assert_eq!(routes.len(), 1);
        assert_eq!(
            routes[0].paths("site/index.html", Some("index.html")).unwrap(),
            [
                InvalidationPath::for_key(""),
                InvalidationPath::for_key("index.html")
            ]
        );
        assert_eq!(
            routes[0].paths("assets/a.css", None).unwrap(),
            [InvalidationPath::for_key("a.css")]
        );
        assert_eq!(routes[0].paths("other/a.css", None), Err(Miss::Outside));
    }
}
