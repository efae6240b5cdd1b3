//! The function's settings, read from the environment once at cold start and
//! validated there, so a bad value stops the function at init with a message
//! naming the variable instead of failing every invocation later.

use crate::budget::HELD_FILES;
use crate::filter::Glob;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem} (received {received:?})")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
    pub received: String,
}

impl ConfigError {
    fn new(variable: &'static str, problem: impl Into<String>, received: &str) -> Self {
        ConfigError {
            variable,
            problem: problem.into(),
            received: received.to_owned(),
        }
    }
}

/// A CloudFront distribution ID such as `E2QWRUHAPOMQZL`: uppercase letters and
/// digits only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct DistributionId(String);

impl DistributionId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok =
            !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(DistributionId(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a CloudFront distribution ID (uppercase letters and digits, like E2QWRUHAPOMQZL)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DistributionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The distribution's origin path (`/static`), held as the key prefix it
/// stands for (`static/`): CloudFront prepends it to the viewer's path when it
/// asks S3, so a key under it is served at the path without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPath {
    key_prefix: String,
}

impl OriginPath {
    /// Accepts `/static`, `/static/` or `/a/b`; an empty value or `/` means none.
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        let trimmed = s.trim_end_matches('/');
        if trimmed.is_empty() {
            return Ok(None);
        }
        let Some(inner) = trimmed.strip_prefix('/') else {
            return Err("an origin path starts with '/', like /static".into());
        };
        if inner.contains('*') || inner.split('/').any(str::is_empty) {
            return Err("an origin path is /segment[/segment...] with no '*' or empty segment".into());
        }
        Ok(Some(OriginPath {
            key_prefix: format!("{inner}/"),
        }))
    }

    /// The part of `key` that the distribution serves, or `None` when the key
    /// lies outside the origin path.
    pub fn strip<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.key_prefix)
    }
}

impl fmt::Display for OriginPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.key_prefix.trim_end_matches('/'))
    }
}

/// A distribution to invalidate, with the origin path through which it
/// serves the bucket. A distribution with several origins on the bucket is
/// several targets with one ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: DistributionId,
    pub origin: Option<OriginPath>,
}

impl Target {
    /// The part of `key` this target serves (see [`OriginPath::strip`]).
    pub fn relative<'k>(&self, key: &'k str) -> Option<&'k str> {
        match &self.origin {
            None => Some(key),
            Some(origin) => origin.strip(key),
        }
    }
}

/// As in `DISTRIBUTION_IDS`: `ID` or `ID=/origin/path`.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            None => write!(f, "{}", self.id),
            Some(origin) => write!(f, "{}={origin}", self.id),
        }
    }
}

/// Which distributions serve the changed objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Distributions {
    /// Listed in `DISTRIBUTION_IDS`; every change goes to each.
    Listed(Vec<Target>),
    /// `DISTRIBUTION_IDS=auto`: found per bucket from the distributions'
    /// S3 origins (see `discovery`).
    Auto,
}

/// Default for `MAX_PATHS`: at most this many paths per distribution per
/// invocation; beyond, directories become wildcards (see `budget`).
pub const DEFAULT_MAX_PATHS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub distributions: Distributions,
    pub dry_run: bool,
    /// `INDEX_DOCUMENT` (default `index.html`): a change to `dir/<it>` also
    /// invalidates `/dir/` and `/dir`, and at the root `/`. `None`: off.
    pub index_document: Option<String>,
    pub include: Vec<Glob>,
    pub exclude: Vec<Glob>,
    pub skip_hashed_names: bool,
    /// `MAX_PATHS`, 1 to 3,000: `0` in the environment means as many as
    /// CloudFront holds in progress, 3,000.
    pub max_paths: usize,
    /// `METRICS_NAMESPACE` (default `CloudFrontInvalidator`).
    pub metrics_namespace: String,
    /// `WATCH_QUEUE_URL`: where to follow each invalidation until it is
    /// complete; `None`: not followed.
    pub watch_queue_url: Option<String>,
    /// `FRESH_TOPIC_ARN`: an SNS topic told when an invalidation completes.
    pub fresh_topic_arn: Option<String>,
    /// `QUEUE_URL`: the queue the changes come from, so that a message left
    /// for a retry for lack of room comes back sooner than its visibility
    /// timeout; `None`: it comes back after that timeout.
    pub queue_url: Option<String>,
    /// `MAX_CONCURRENCY` (default 2): the most invocations that may plan
    /// invalidations at the same moment (the change queue's
    /// MaximumConcurrency, or the function's reserved concurrency); each
    /// takes a share of CloudFront's room small enough for all of them.
    pub max_concurrency: usize,
    /// `MARGIN_SECONDS` (default 60): how long after S3 reported a change an
    /// invalidation must be created to count for it (see `cover`); the
    /// function waits that long before invalidating a change.
    pub margin_ms: i64,
}

/// Default for `MAX_CONCURRENCY`: the queue wirings' MaximumConcurrency.
pub const DEFAULT_MAX_CONCURRENCY: usize = 2;

/// Default for `MARGIN_SECONDS` (see `cover::MARGIN_MS`).
pub const DEFAULT_MARGIN_SECONDS: usize = (crate::cover::MARGIN_MS / 1000) as usize;

/// Default for `METRICS_NAMESPACE`.
pub const DEFAULT_METRICS_NAMESPACE: &str = "CloudFrontInvalidator";

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a table in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).unwrap_or_default();

        const ORIGIN: &str = "ORIGIN_PATH";
        let raw_origin = get(ORIGIN);
        let default_origin =
            OriginPath::parse(raw_origin.trim()).map_err(|e| ConfigError::new(ORIGIN, e, &raw_origin))?;

        const IDS: &str = "DISTRIBUTION_IDS";
        let raw_ids = get(IDS);
        let distributions = if raw_ids.trim().eq_ignore_ascii_case("auto") {
            Distributions::Auto
        } else {
            let mut targets: Vec<Target> = Vec::new();
            for entry in raw_ids.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (id, origin) = match entry.split_once('=') {
                    Some((id, origin)) => (
                        id.trim(),
                        OriginPath::parse(origin.trim())
                            .map_err(|e| ConfigError::new(IDS, format!("in {entry:?}: {e}"), &raw_ids))?,
                    ),
                    None => (entry, default_origin.clone()),
                };
                let id = DistributionId::parse(id).map_err(|e| ConfigError::new(IDS, e, &raw_ids))?;
                // One distribution may serve the bucket through several
                // origins (E1=/site,E1=/assets); the same pair twice is a slip.
                let target = Target { id, origin };
                if targets.contains(&target) {
                    return Err(ConfigError::new(
                        IDS,
                        format!("{target} is listed twice"),
                        &raw_ids,
                    ));
                }
                targets.push(target);
            }
            if targets.is_empty() {
                return Err(ConfigError::new(
                    IDS,
                    "required: CloudFront distribution IDs, comma-separated, each optionally \
                     with its origin path (E1ABC,E2DEF=/static), or auto",
                    &raw_ids,
                ));
            }
            Distributions::Listed(targets)
        };

        let flag = |name: &'static str| -> Result<bool, ConfigError> {
            let raw = get(name);
            match raw.trim().to_ascii_lowercase().as_str() {
                "" | "false" | "0" | "no" => Ok(false),
                "true" | "1" | "yes" => Ok(true),
                _ => Err(ConfigError::new(name, "expected true or false", &raw)),
            }
        };
        let globs = |name: &'static str| -> Result<Vec<Glob>, ConfigError> {
            let raw = get(name);
            raw.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| Glob::parse(p).map_err(|e| ConfigError::new(name, e, &raw)))
                .collect()
        };

        const INDEX: &str = "INDEX_DOCUMENT";
        let index_document = match lookup(INDEX) {
            None => Some("index.html".to_owned()),
            Some(raw) if raw.trim().is_empty() => None,
            Some(raw) if raw.contains('/') || raw.contains('*') => {
                return Err(ConfigError::new(
                    INDEX,
                    "a file name such as index.html, or empty to turn it off",
                    &raw,
                ));
            }
            Some(raw) => Some(raw.trim().to_owned()),
        };

        const MAX: &str = "MAX_PATHS";
        let raw_max = get(MAX);
        let max_paths = match raw_max.trim() {
            "" => DEFAULT_MAX_PATHS,
            n => match n.parse::<usize>() {
                Ok(0) => HELD_FILES,
                Ok(n) if n <= HELD_FILES => n,
                _ => {
                    return Err(ConfigError::new(
                        MAX,
                        "a whole number of paths from 1 to 3000 (CloudFront holds at most 3,000 paths in \
                         progress per distribution), or 0 for that many",
                        &raw_max,
                    ));
                }
            },
        };

        const NAMESPACE: &str = "METRICS_NAMESPACE";
        let raw_namespace = get(NAMESPACE);
        let metrics_namespace = match raw_namespace.trim() {
            "" => DEFAULT_METRICS_NAMESPACE.to_owned(),
            ns if ns.len() <= 255
                && !ns.starts_with("AWS/")
                && ns
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_/#:".contains(c)) =>
            {
                ns.to_owned()
            }
            _ => {
                return Err(ConfigError::new(
                    NAMESPACE,
                    "a CloudWatch namespace: up to 255 letters, digits and . - _ / # :, not starting \
                     with AWS/",
                    &raw_namespace,
                ));
            }
        };
        let optional = |name: &str| Some(get(name).trim().to_owned()).filter(|v| !v.is_empty());
        const TOPIC: &str = "FRESH_TOPIC_ARN";
        let fresh_topic_arn = optional(TOPIC);
        if let Some(arn) = &fresh_topic_arn
            && !(arn.starts_with("arn:") && arn.split(':').nth(2) == Some("sns"))
        {
            return Err(ConfigError::new(
                TOPIC,
                "an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), or empty",
                arn,
            ));
        }
        for name in ["WATCH_QUEUE_URL", "QUEUE_URL"] {
            if let Some(url) = optional(name)
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                return Err(ConfigError::new(
                    name,
                    "an SQS queue URL (https://...), or empty",
                    &url,
                ));
            }
        }

        let number =
            |name: &'static str, default: usize, range: std::ops::RangeInclusive<usize>, what: &str| {
                let raw = get(name);
                match raw.trim() {
                    "" => Ok(default),
                    n => n
                        .parse::<usize>()
                        .ok()
                        .filter(|n| range.contains(n))
                        .ok_or_else(|| ConfigError::new(name, what.to_owned(), &raw)),
                }
            };
        let max_concurrency = number(
            "MAX_CONCURRENCY",
            DEFAULT_MAX_CONCURRENCY,
            1..=1000,
            "a whole number from 1 to 1000: the most invocations of the function that run at once",
        )?;
        let margin_s = number(
            "MARGIN_SECONDS",
            DEFAULT_MARGIN_SECONDS,
            0..=600,
            "a whole number of seconds from 0 to 600: how old a change must be before it is invalidated",
        )?;

        Ok(Config {
            distributions,
            dry_run: flag("DRY_RUN")?,
            index_document,
            include: globs("INCLUDE")?,
            exclude: globs("EXCLUDE")?,
            skip_hashed_names: flag("SKIP_HASHED_NAMES")?,
            max_paths,
            metrics_namespace,
            watch_queue_url: optional("WATCH_QUEUE_URL"),
            fresh_topic_arn,
            queue_url: optional("QUEUE_URL"),
            max_concurrency,
            margin_ms: margin_s as i64 * 1000,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    fn targets(c: &Config) -> Vec<(String, String)> {
        let Distributions::Listed(targets) = &c.distributions else {
            panic!("not listed")
        };
        targets
            .iter()
            .map(|t| {
                (
                    t.id.to_string(),
                    t.origin.as_ref().map(ToString::to_string).unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn reads_every_setting() {
        let c = config(&[
            ("DISTRIBUTION_IDS", " E1ABC , E2DEF=/static/,E3GHI=/"),
            ("ORIGIN_PATH", "/site"),
            ("DRY_RUN", "TRUE"),
            ("INDEX_DOCUMENT", "default.htm"),
            ("INCLUDE", "static/**, media/**"),
            ("EXCLUDE", "**/*.map"),
            ("SKIP_HASHED_NAMES", "yes"),
            ("MAX_PATHS", "250"),
        ])
        .unwrap();
        let want = [("E1ABC", "/site"), ("E2DEF", "/static"), ("E3GHI", "")];
        let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(targets(&c), want);
        assert!(c.dry_run && c.skip_hashed_names);
        assert_eq!(c.index_document.as_deref(), Some("default.htm"));
        assert_eq!(c.include.len(), 2);
        assert_eq!(c.exclude[0].to_string(), "**/*.map");
        assert_eq!(c.max_paths, 250);
        let c = config(&[
            ("DISTRIBUTION_IDS", "E1"),
            ("METRICS_NAMESPACE", "Team/Site"),
            ("WATCH_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/1/watch"),
            ("FRESH_TOPIC_ARN", "arn:aws:sns:eu-west-1:1:fresh"),
            ("QUEUE_URL", " https://sqs.eu-west-1.amazonaws.com/1/changes "),
        ])
        .unwrap();
        assert_eq!(c.metrics_namespace, "Team/Site");
        assert_eq!(
            c.watch_queue_url.as_deref(),
            Some("https://sqs.eu-west-1.amazonaws.com/1/watch")
        );
        assert_eq!(
            c.fresh_topic_arn.as_deref(),
            Some("arn:aws:sns:eu-west-1:1:fresh")
        );
        assert_eq!(
            c.queue_url.as_deref(),
            Some("https://sqs.eu-west-1.amazonaws.com/1/changes")
        );
    }

    #[test]
    fn defaults() {
        let c = config(&[("DISTRIBUTION_IDS", "E1ABC")]).unwrap();
        assert_eq!(targets(&c), [("E1ABC".to_string(), String::new())]);
        assert!(!c.dry_run && !c.skip_hashed_names);
        assert_eq!(c.index_document.as_deref(), Some("index.html"));
        assert!(c.include.is_empty() && c.exclude.is_empty());
        assert_eq!(c.max_paths, DEFAULT_MAX_PATHS);
        assert_eq!(c.metrics_namespace, "CloudFrontInvalidator");
        assert_eq!(
            (c.watch_queue_url, c.fresh_topic_arn, c.queue_url),
            (None, None, None)
        );
        let c = config(&[
            ("DISTRIBUTION_IDS", "E1ABC"),
            ("INDEX_DOCUMENT", ""),
            ("MAX_PATHS", "0"),
        ])
        .unwrap();
        assert_eq!(c.index_document, None);
        // 0: as many as CloudFront holds in progress, never more.
        assert_eq!(c.max_paths, 3000);
        let c = config(&[("DISTRIBUTION_IDS", "auto")]).unwrap();
        assert_eq!(c.distributions, Distributions::Auto);
    }

    #[test]
    fn bad_values_name_the_variable_and_what_was_received() {
        let e = config(&[]).unwrap_err();
        assert_eq!(e.variable, "DISTRIBUTION_IDS");
        assert!(e.to_string().contains("required"), "{e}");

        let e = config(&[("DISTRIBUTION_IDS", "E1ABC,arn:aws:cloudfront::1:distribution/E2")]).unwrap_err();
        assert_eq!(e.variable, "DISTRIBUTION_IDS");
        assert!(
            e.to_string()
                .contains("\"arn:aws:cloudfront::1:distribution/E2\" is not"),
            "{e}"
        );

        let e = config(&[("DISTRIBUTION_IDS", "E1ABC,E2,E1ABC")]).unwrap_err();
        assert!(e.to_string().contains("E1ABC is listed twice"), "{e}");
        let e = config(&[("DISTRIBUTION_IDS", "E1ABC=/x,E1ABC=/x/")]).unwrap_err();
        assert!(e.to_string().contains("E1ABC=/x is listed twice"), "{e}");
        let e = config(&[("DISTRIBUTION_IDS", "E1ABC=static")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("in \"E1ABC=static\": an origin path starts with '/'"),
            "{e}"
        );

        for bad in ["static", "/a//b", "/a/*"] {
            let e = config(&[("DISTRIBUTION_IDS", "E1"), ("ORIGIN_PATH", bad)]).unwrap_err();
            assert_eq!(e.variable, "ORIGIN_PATH", "{bad}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }

        let e = config(&[("DISTRIBUTION_IDS", "E1"), ("DRY_RUN", "maybe")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "DRY_RUN: expected true or false (received \"maybe\")"
        );
        for bad in ["lots", "-1", "3001", "100000"] {
            let e = config(&[("DISTRIBUTION_IDS", "E1"), ("MAX_PATHS", bad)]).unwrap_err();
            assert_eq!(e.variable, "MAX_PATHS");
            assert!(e.to_string().contains("from 1 to 3000"), "{e}");
        }
        for glob_variable in ["INCLUDE", "EXCLUDE"] {
            let e = config(&[
                ("DISTRIBUTION_IDS", "E1"),
                (glob_variable, "static/**, /media/**"),
            ])
            .unwrap_err();
            assert_eq!(e.variable, glob_variable);
            assert_eq!(
                e.to_string(),
                format!(
                    "{glob_variable}: \"/media/**\" starts with '/', but patterns match object keys, which \
                     never do: write \"media/**\" (received \"static/**, /media/**\")"
                )
            );
        }
        let e = config(&[("DISTRIBUTION_IDS", "E1"), ("EXCLUDE", "a/***/b")]).unwrap_err();
        assert_eq!(e.variable, "EXCLUDE");
        let e = config(&[("DISTRIBUTION_IDS", "E1"), ("INDEX_DOCUMENT", "docs/index.html")]).unwrap_err();
        assert_eq!(e.variable, "INDEX_DOCUMENT");
        let e = config(&[("DISTRIBUTION_IDS", "E1"), ("SKIP_HASHED_NAMES", "sometimes")]).unwrap_err();
        assert_eq!(e.variable, "SKIP_HASHED_NAMES");
        for (variable, bad) in [
            ("METRICS_NAMESPACE", "AWS/Lambda"),
            ("METRICS_NAMESPACE", "my namespace"),
            ("FRESH_TOPIC_ARN", "arn:aws:sqs:eu-west-1:1:q"),
            ("FRESH_TOPIC_ARN", "fresh"),
            ("WATCH_QUEUE_URL", "watch"),
            ("QUEUE_URL", "arn:aws:sqs:eu-west-1:1:q"),
        ] {
            let e = config(&[("DISTRIBUTION_IDS", "E1"), (variable, bad)]).unwrap_err();
            assert_eq!(e.variable, variable, "{bad}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn one_distribution_may_serve_the_bucket_through_several_origin_paths() {
        let c = config(&[("DISTRIBUTION_IDS", "E1=/site,E1=/assets,E2")]).unwrap();
        let want = [("E1", "/site"), ("E1", "/assets"), ("E2", "")];
        let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(targets(&c), want);
        let c = config(&[("DISTRIBUTION_IDS", "E1,E1=/assets"), ("MAX_PATHS", "3000")]).unwrap();
        assert_eq!(targets(&c).len(), 2);
        assert_eq!(c.max_paths, 3000);
    }

    #[test]
    fn origin_path_strips_only_whole_segments() {
        let o = OriginPath::parse("/static").unwrap().unwrap();
        assert_eq!(o.strip("static/css/app.css"), Some("css/app.css"));
        assert_eq!(o.strip("staticfiles/x.css"), None);
        assert_eq!(o.strip("static"), None);
        assert_eq!(o.strip("other/static/x"), None);
    }
}
