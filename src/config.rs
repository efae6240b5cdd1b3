//! The function's settings, read from the environment once at cold start and
//! validated there: a bad value is refused at init, logged once with the
//! variable, what was received and what is expected, and every invocation
//! then fails with that one line (see `start::refuse_every_invocation`),
//! until it is fixed.

use crate::budget::HELD_FILES;
use crate::filter::Glob;
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

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

impl FromStr for DistributionId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        DistributionId::parse(s)
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

/// An origin path that is one: `/` and the empty string are none (see
/// [`OriginPath::parse`]).
impl FromStr for OriginPath {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        OriginPath::parse(s)?.ok_or_else(|| "an origin path is /segment[/segment...]".into())
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
    /// `BUCKET_DOMAINS`: more domain names that reach the bucket (a CNAME
    /// of it or of its website endpoint, an access point alias), lower
    /// case: a distribution's origin at one of them serves the bucket.
    pub bucket_domains: Vec<String>,
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

    /// The settings of `pairs` (variable, value), as the environment would
    /// give them: for tests and examples.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    /// Reads the settings through `lookup` (the environment, or a table in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = Reader(lookup);
        Ok(Config {
            distributions: distributions(&read)?,
            dry_run: read.flag("DRY_RUN")?,
            index_document: index_document(&read)?,
            include: read.list("INCLUDE")?,
            exclude: read.list("EXCLUDE")?,
            skip_hashed_names: read.flag("SKIP_HASHED_NAMES")?,
            max_paths: match read.number("MAX_PATHS", DEFAULT_MAX_PATHS, 0..=HELD_FILES, MAX_PATHS_IS)? {
                // As many as CloudFront holds in progress.
                0 => HELD_FILES,
                n => n,
            },
            metrics_namespace: read
                .optional::<Namespace>("METRICS_NAMESPACE")?
                .map_or_else(|| DEFAULT_METRICS_NAMESPACE.to_owned(), |n| n.0),
            watch_queue_url: read.optional::<QueueUrl>("WATCH_QUEUE_URL")?.map(|u| u.0),
            fresh_topic_arn: read.optional::<TopicArn>("FRESH_TOPIC_ARN")?.map(|a| a.0),
            queue_url: read.optional::<QueueUrl>("QUEUE_URL")?.map(|u| u.0),
            max_concurrency: read.number(
                "MAX_CONCURRENCY",
                DEFAULT_MAX_CONCURRENCY,
                1..=1000,
                CONCURRENCY_IS,
            )?,
            margin_ms: read.number("MARGIN_SECONDS", DEFAULT_MARGIN_SECONDS, 0..=600, MARGIN_IS)? as i64
                * 1000,
            bucket_domains: read
                .list::<BucketDomain>("BUCKET_DOMAINS")?
                .into_iter()
                .map(|d| d.0)
                .collect(),
        })
    }
}

const MAX_PATHS_IS: &str = "a whole number of paths from 1 to 3000 (CloudFront holds at most 3,000 paths in \
                            progress per distribution), or 0 for that many";
const CONCURRENCY_IS: &str =
    "a whole number from 1 to 1000: the most invocations of the function that run at once";
const MARGIN_IS: &str =
    "a whole number of seconds from 0 to 600: how old a change must be before it is invalidated";

/// Reads variables and builds the error that names the variable and the
/// value received, once for every kind of setting.
struct Reader<F>(F);

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    /// The value, `""` when unset.
    fn raw(&self, name: &str) -> String {
        (self.0)(name).unwrap_or_default()
    }

    fn error(&self, name: &'static str, problem: impl Into<String>) -> ConfigError {
        ConfigError::new(name, problem, &self.raw(name))
    }

    /// `true`/`false` in any case, `1`/`0`, `yes`/`no`; unset is false.
    fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.raw(name).trim().to_ascii_lowercase().as_str() {
            "" | "false" | "0" | "no" => Ok(false),
            "true" | "1" | "yes" => Ok(true),
            _ => Err(self.error(name, "expected true or false")),
        }
    }

    /// A comma-separated list; blank items are skipped.
    fn list<T: FromStr<Err = String>>(&self, name: &'static str) -> Result<Vec<T>, ConfigError> {
        let raw = self.raw(name);
        raw.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| item.parse().map_err(|e| self.error(name, e)))
            .collect()
    }

    /// A value, or `None` when unset or blank.
    fn optional<T: FromStr<Err = String>>(&self, name: &'static str) -> Result<Option<T>, ConfigError> {
        match self.raw(name).trim() {
            "" => Ok(None),
            value => value.parse().map(Some).map_err(|e| self.error(name, e)),
        }
    }

    /// A whole number within `range`, `default` when unset or blank.
    fn number(
        &self,
        name: &'static str,
        default: usize,
        range: RangeInclusive<usize>,
        expected: &str,
    ) -> Result<usize, ConfigError> {
        match self.raw(name).trim() {
            "" => Ok(default),
            value => value
                .parse()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| self.error(name, expected)),
        }
    }
}

/// `DISTRIBUTION_IDS`: `auto`, or entries `ID` or `ID=/origin/path`, an
/// entry without a path taking `ORIGIN_PATH`.
fn distributions<F: Fn(&str) -> Option<String>>(read: &Reader<F>) -> Result<Distributions, ConfigError> {
    const IDS: &str = "DISTRIBUTION_IDS";
    let default_origin = match read.raw("ORIGIN_PATH").trim() {
        "" => None,
        origin => OriginPath::parse(origin).map_err(|e| read.error("ORIGIN_PATH", e))?,
    };
    let raw = read.raw(IDS);
    if raw.trim().eq_ignore_ascii_case("auto") {
        return Ok(Distributions::Auto);
    }
    let mut targets: Vec<Target> = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let target = match entry.split_once('=') {
            Some((id, origin)) => Target {
                id: id.trim().parse().map_err(|e| read.error(IDS, e))?,
                origin: OriginPath::parse(origin.trim())
                    .map_err(|e| read.error(IDS, format!("in {entry:?}: {e}")))?,
            },
            None => Target {
                id: entry.parse().map_err(|e| read.error(IDS, e))?,
                origin: default_origin.clone(),
            },
        };
        // One distribution may serve the bucket through several origins
        // (E1=/site,E1=/assets); the same pair twice is a slip.
        if targets.contains(&target) {
            return Err(read.error(IDS, format!("{target} is listed twice")));
        }
        targets.push(target);
    }
    if targets.is_empty() {
        return Err(read.error(
            IDS,
            "required: CloudFront distribution IDs, comma-separated, each optionally with its origin path \
             (E1ABC,E2DEF=/static), or auto",
        ));
    }
    Ok(Distributions::Listed(targets))
}

/// `INDEX_DOCUMENT`: `index.html` when unset, none when empty.
fn index_document<F: Fn(&str) -> Option<String>>(read: &Reader<F>) -> Result<Option<String>, ConfigError> {
    const INDEX: &str = "INDEX_DOCUMENT";
    match (read.0)(INDEX) {
        None => Ok(Some("index.html".to_owned())),
        Some(raw) if raw.trim().is_empty() => Ok(None),
        Some(raw) if raw.contains(['/', '*']) => {
            Err(read.error(INDEX, "a file name such as index.html, or empty to turn it off"))
        }
        Some(raw) => Ok(Some(raw.trim().to_owned())),
    }
}

/// A CloudWatch namespace: up to 255 letters, digits and `. - _ / # :`, not
/// starting with `AWS/`.
struct Namespace(String);

impl FromStr for Namespace {
    type Err = String;

    fn from_str(ns: &str) -> Result<Self, String> {
        let ok = ns.len() <= 255
            && !ns.starts_with("AWS/")
            && ns
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_/#:".contains(c));
        ok.then(|| Namespace(ns.to_owned())).ok_or_else(|| {
            "a CloudWatch namespace: up to 255 letters, digits and . - _ / # :, not starting with AWS/".into()
        })
    }
}

/// A host name that reaches the bucket, as a distribution's origin names it:
/// letters, digits, `-` and `.`, lower-cased, without a final dot.
struct BucketDomain(String);

impl FromStr for BucketDomain {
    type Err = String;

    fn from_str(domain: &str) -> Result<Self, String> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let ok = domain.len() <= 253
            && domain
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !domain.split('.').any(str::is_empty);
        ok.then_some(BucketDomain(domain)).ok_or_else(|| {
            "comma-separated domain names that reach the bucket, as a distribution's origin names them \
             (assets.example.com), or access point aliases"
                .into()
        })
    }
}

/// An SQS queue URL.
struct QueueUrl(String);

impl FromStr for QueueUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        (url.starts_with("https://") || url.starts_with("http://"))
            .then(|| QueueUrl(url.to_owned()))
            .ok_or_else(|| "an SQS queue URL (https://...), or empty".into())
    }
}

/// An SNS topic ARN.
struct TopicArn(String);

impl FromStr for TopicArn {
    type Err = String;

    fn from_str(arn: &str) -> Result<Self, String> {
        (arn.starts_with("arn:") && arn.split(':').nth(2) == Some("sns"))
            .then(|| TopicArn(arn.to_owned()))
            .ok_or_else(|| "an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), or empty".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_pairs(vars)
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
        let c = config(&[
            ("DISTRIBUTION_IDS", "auto"),
            ("BUCKET_DOMAINS", " Assets.Example.com. ,site-ap-abc123-s3alias,"),
        ])
        .unwrap();
        assert_eq!(c.bucket_domains, ["assets.example.com", "site-ap-abc123-s3alias"]);
    }

    #[test]
    fn defaults() {
        let c = config(&[("DISTRIBUTION_IDS", "E1ABC")]).unwrap();
        assert_eq!(targets(&c), [("E1ABC".to_string(), String::new())]);
        assert!(!c.dry_run && !c.skip_hashed_names);
        assert_eq!(c.index_document.as_deref(), Some("index.html"));
        assert!(c.include.is_empty() && c.exclude.is_empty() && c.bucket_domains.is_empty());
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
            ("BUCKET_DOMAINS", "https://assets.example.com"),
            ("BUCKET_DOMAINS", "assets..example.com"),
            ("BUCKET_DOMAINS", "my bucket"),
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
