//! CloudFront as the function sees it through its API, on the simulation's
//! clock: CreateInvalidation with CallerReference idempotency and the
//! in-progress limits (3,000 file paths and 15 wildcard paths per
//! distribution: TooManyInvalidationsInProgress beyond, counted as refused),
//! invalidations completing after a random time, ListInvalidations (newest
//! first, paged), GetInvalidation, ListDistributions (paged, each summary
//! with its origins and cache behaviors), GetDistributionConfig and
//! GetCachePolicy (the two managed policies the scenarios use). Requests and
//! answers are CloudFront's REST-XML, so the real SDK client reads them.

use crate::rng::Rng;
use crate::world::{Env, Reply, at_ms, iso};
use std::collections::BTreeMap;
use tokio::time::{Duration, Instant};

pub const HELD_FILES: usize = 3000;
pub const HELD_WILDCARDS: usize = 15;

/// One distribution: its origins and cache behaviors.
pub struct Distribution {
    pub id: String,
    /// (domain name, origin path); origin `n` has the ID `o{n}`.
    pub origins: Vec<(String, String)>,
    /// (path pattern, origin index, cache policy ID) in CloudFront's order,
    /// the default (`*`) last.
    pub behaviors: Vec<(String, usize, String)>,
}

/// Managed cache policies the scenarios use: CachingOptimized keys on no
/// query string, UseOriginCacheControlHeaders-QueryStrings on all.
pub const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
pub const QUERY_STRINGS: &str = "4cc15a8a-d715-48a4-82b8-cc0b614638fe";

impl Distribution {
    /// Its origins and behaviors as the API writes them (inside a
    /// DistributionConfig or a DistributionSummary).
    fn parts_xml(&self) -> String {
        let origins: String = self
            .origins
            .iter()
            .enumerate()
            .map(|(n, (domain, path))| {
                format!(
                    "<Origin><Id>o{n}</Id><DomainName>{}</DomainName><OriginPath>{}</OriginPath></Origin>",
                    escape(domain),
                    escape(path)
                )
            })
            .collect();
        let behavior = |tag: &str, pattern: Option<&str>, origin: usize, policy: &str| {
            let pattern = pattern.map_or(String::new(), |p| {
                format!("<PathPattern>{}</PathPattern>", escape(p))
            });
            format!(
                "<{tag}>{pattern}<TargetOriginId>o{origin}</TargetOriginId><ViewerProtocolPolicy>redirect-to-https</ViewerProtocolPolicy><CachePolicyId>{policy}</CachePolicyId></{tag}>"
            )
        };
        let (default, listed) = self.behaviors.split_last().expect("a default behavior");
        let listed: String = listed
            .iter()
            .map(|(p, o, policy)| behavior("CacheBehavior", Some(p), *o, policy))
            .collect();
        format!(
            "<Origins><Quantity>{}</Quantity><Items>{origins}</Items></Origins>{}<CacheBehaviors><Quantity>{}</Quantity><Items>{listed}</Items></CacheBehaviors>",
            self.origins.len(),
            behavior("DefaultCacheBehavior", None, default.1, &default.2),
            self.behaviors.len() - 1
        )
    }
}

/// Who created an invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creator {
    Function(Env),
    Other,
}

pub struct Invalidation {
    pub id: String,
    pub distribution: usize,
    pub caller_reference: String,
    pub paths: Vec<String>,
    pub created: Instant,
    /// CreateTime as CloudFront's clock says it (ms since the epoch).
    pub created_ms: i64,
    pub completes: Instant,
    /// When each edge of the distribution honours it: between its creation
    /// and its completion.
    pub honoured: Vec<Instant>,
    pub creator: Creator,
    /// When the creating environment last read this distribution's
    /// invalidations before creating it.
    pub read_before: Option<Instant>,
    /// How many invalidations of the distribution that environment looked
    /// up (GetInvalidation, each counted once) since that reading started:
    /// at the function's `MAX_LOOKUPS` it stopped, and what it did not look
    /// up covers nothing.
    pub looked_up: usize,
}

impl Invalidation {
    pub fn in_progress(&self, now: Instant) -> bool {
        now < self.completes
    }

    fn held(&self) -> (usize, usize) {
        let wildcards = self.paths.iter().filter(|p| p.ends_with('*')).count();
        (self.paths.len() - wildcards, wildcards)
    }
}

#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub create_calls: usize,
    /// TooManyInvalidationsInProgress answered to the function.
    pub refused: usize,
    /// InvalidArgument and the like answered to the function.
    pub invalid: usize,
    /// Same caller reference, same paths: the first invalidation returned.
    pub repeated: usize,
    /// Same caller reference, other paths.
    pub conflicts: usize,
}

pub struct CloudFront {
    pub distributions: Vec<Distribution>,
    pub invalidations: Vec<Invalidation>,
    pub counters: Counters,
    pub edges: usize,
    /// Invalidations complete after this many seconds, at random.
    pub completion_s: (u64, u64),
    /// ListDistributions' page size when the request gives none.
    pub distribution_page: usize,
    /// When each environment last started reading a distribution's
    /// invalidations (its last request of a first page).
    last_read: BTreeMap<(Env, usize), Instant>,
    /// The invalidations each environment looked up since its last reading
    /// of a distribution started.
    looked_up: BTreeMap<(Env, usize), std::collections::BTreeSet<String>>,
    /// CloudFront's clock against the simulation's, in ms.
    pub skew_ms: i64,
}

impl CloudFront {
    pub fn new(
        distributions: Vec<Distribution>,
        edges: usize,
        completion_s: (u64, u64),
        skew_ms: i64,
    ) -> Self {
        CloudFront {
            distributions,
            invalidations: Vec::new(),
            counters: Counters::default(),
            edges,
            completion_s,
            distribution_page: 2,
            last_read: BTreeMap::new(),
            looked_up: BTreeMap::new(),
            skew_ms,
        }
    }

    pub fn index(&self, id: &str) -> Option<usize> {
        self.distributions.iter().position(|d| d.id == id)
    }

    /// File paths and wildcards in progress at distribution `d`.
    pub fn held(&self, d: usize, now: Instant) -> (usize, usize) {
        self.invalidations
            .iter()
            .filter(|i| i.distribution == d && i.in_progress(now))
            .fold((0, 0), |(f, w), i| {
                let (fi, wi) = i.held();
                (f + fi, w + wi)
            })
    }

    /// Creates an invalidation for another client, as CloudFront would: it
    /// refuses what does not fit. Returns whether it was created.
    pub fn create_for_other(
        &mut self,
        d: usize,
        paths: Vec<String>,
        lasts: Duration,
        rng: &mut Rng,
        now: Instant,
        start: Instant,
    ) -> bool {
        let (files, wildcards) = self.held(d, now);
        let w = paths.iter().filter(|p| p.ends_with('*')).count();
        if files + paths.len() - w > HELD_FILES || wildcards + w > HELD_WILDCARDS {
            return false;
        }
        let reference = format!("other-{}", self.invalidations.len());
        let i = self.insert(d, reference, paths, Creator::Other, None, 0, rng, now, start);
        let invalidation = &mut self.invalidations[i];
        invalidation.completes = now + lasts;
        let span = lasts.as_millis() as u64;
        for h in &mut invalidation.honoured {
            *h = now + Duration::from_millis(rng.below(span + 1));
        }
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        d: usize,
        caller_reference: String,
        paths: Vec<String>,
        creator: Creator,
        read_before: Option<Instant>,
        looked_up: usize,
        rng: &mut Rng,
        now: Instant,
        start: Instant,
    ) -> usize {
        let completes = now + Duration::from_secs(rng.between(self.completion_s.0, self.completion_s.1));
        let span = (completes - now).as_millis() as u64;
        let honoured = (0..self.edges)
            .map(|_| now + Duration::from_millis(rng.below(span + 1)))
            .collect();
        self.invalidations.push(Invalidation {
            id: format!("I{:06}SIM", self.invalidations.len() + 1),
            distribution: d,
            caller_reference,
            paths,
            created: now,
            created_ms: at_ms(now, start) + self.skew_ms,
            completes,
            honoured,
            creator,
            read_before,
            looked_up,
        });
        self.invalidations.len() - 1
    }

    /// Answers one request of environment `env` (method, path and query, body).
    #[allow(clippy::too_many_arguments)]
    pub fn serve(
        &mut self,
        env: Env,
        method: &str,
        uri: &str,
        body: &str,
        rng: &mut Rng,
        now: Instant,
        start: Instant,
    ) -> Reply {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let path = path.split_once("/2020-05-31/").map_or(path, |(_, p)| p);
        let parts: Vec<&str> = path.split('/').collect();
        let query: BTreeMap<&str, String> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k, percent_decode(v)))
            .collect();
        match (method, parts.as_slice()) {
            ("GET", ["distribution"]) => self.list_distributions(&query),
            ("GET", ["distribution", id, "config"]) => match self.index(id) {
                Some(d) => Reply::xml(
                    200,
                    format!(
                        "<DistributionConfig><CallerReference>{id}</CallerReference>{}<Comment></Comment><Enabled>true</Enabled></DistributionConfig>",
                        self.distributions[d].parts_xml()
                    ),
                ),
                None => no_such_distribution(),
            },
            ("GET", ["cache-policy", id]) => cache_policy(id),
            ("POST", ["distribution", id, "invalidation"]) => match self.index(id) {
                Some(d) => self.create(env, d, body, rng, now, start),
                None => no_such_distribution(),
            },
            ("GET", ["distribution", id, "invalidation"]) => match self.index(id) {
                Some(d) => {
                    // A reading starts at the first page, which holds the
                    // newest invalidations: what was created after it, the
                    // reader could not know.
                    if query.get("Marker").is_none_or(|m| m.is_empty()) {
                        self.last_read.insert((env, d), now);
                        self.looked_up.remove(&(env, d));
                    }
                    self.list(d, &query, now)
                }
                None => no_such_distribution(),
            },
            ("GET", ["distribution", id, "invalidation", inv]) => match self.index(id) {
                Some(d) => match self
                    .invalidations
                    .iter()
                    .position(|i| i.distribution == d && i.id == *inv)
                {
                    Some(i) => {
                        let id = self.invalidations[i].id.clone();
                        self.looked_up.entry((env, d)).or_default().insert(id);
                        Reply::xml(200, invalidation_xml(&self.invalidations[i], now, start))
                    }
                    None => error(
                        404,
                        "NoSuchInvalidation",
                        "The specified invalidation does not exist.",
                    ),
                },
                None => no_such_distribution(),
            },
            _ => error(
                400,
                "InvalidRequest",
                &format!("the simulation does not answer {method} {uri}"),
            ),
        }
    }

    fn create(
        &mut self,
        env: Env,
        d: usize,
        body: &str,
        rng: &mut Rng,
        now: Instant,
        start: Instant,
    ) -> Reply {
        self.counters.create_calls += 1;
        let paths: Vec<String> = elements(body, "Path");
        let reference = elements(body, "CallerReference").pop().unwrap_or_default();
        let quantity: usize = elements(body, "Quantity")
            .first()
            .and_then(|q| q.parse().ok())
            .unwrap_or(0);
        if quantity != paths.len() {
            self.counters.invalid += 1;
            return error(400, "InconsistentQuantities", "Quantity does not match the paths");
        }
        if let Some(bad) = paths.iter().find(|p| !valid_path(p)) {
            self.counters.invalid += 1;
            return error(400, "InvalidArgument", &format!("bad path {bad}"));
        }
        if paths.is_empty() || paths.len() > HELD_FILES {
            self.counters.invalid += 1;
            return error(400, "BatchTooLarge", "too many paths");
        }
        // CallerReference first (API reference, CreateInvalidation: the same
        // reference and paths return the invalidation already created, and
        // CloudFront creates nothing), then the limits on creating one.
        if let Some(i) = self
            .invalidations
            .iter()
            .find(|i| i.distribution == d && i.caller_reference == reference)
        {
            if i.paths == paths {
                self.counters.repeated += 1;
                return Reply::xml(201, invalidation_xml(i, now, start));
            }
            self.counters.conflicts += 1;
            return error(
                409,
                "InvalidationBatchAlreadyExists",
                "reference used with other paths",
            );
        }
        let (files, wildcards) = self.held(d, now);
        let w = paths.iter().filter(|p| p.ends_with('*')).count();
        if files + paths.len() - w > HELD_FILES || wildcards + w > HELD_WILDCARDS {
            self.counters.refused += 1;
            return error(
                400,
                "TooManyInvalidationsInProgress",
                "Processing your request will cause you to exceed the maximum number of in-progress invalidations",
            );
        }
        let read_before = self.last_read.get(&(env, d)).copied();
        let looked_up = self.looked_up.get(&(env, d)).map_or(0, |ids| ids.len());
        let i = self.insert(
            d,
            reference,
            paths,
            Creator::Function(env),
            read_before,
            looked_up,
            rng,
            now,
            start,
        );
        Reply::xml(201, invalidation_xml(&self.invalidations[i], now, start))
    }

    fn list(&self, d: usize, query: &BTreeMap<&str, String>, now: Instant) -> Reply {
        let max: usize = query
            .get("MaxItems")
            .and_then(|m| m.parse().ok())
            .unwrap_or(100)
            .clamp(1, 100);
        let newest_first: Vec<&Invalidation> = self
            .invalidations
            .iter()
            .rev()
            .filter(|i| i.distribution == d)
            .collect();
        let from = match query.get("Marker").filter(|m| !m.is_empty()) {
            Some(marker) => newest_first
                .iter()
                .position(|i| &i.id == marker)
                .map_or(newest_first.len(), |p| p + 1),
            None => 0,
        };
        let page: Vec<&&Invalidation> = newest_first.iter().skip(from).take(max).collect();
        let truncated = from + page.len() < newest_first.len();
        let items: String = page
            .iter()
            .map(|i| {
                format!(
                    "<InvalidationSummary><Id>{}</Id><CreateTime>{}</CreateTime><Status>{}</Status></InvalidationSummary>",
                    i.id,
                    iso(i.created_ms),
                    status(i, now)
                )
            })
            .collect();
        let next = if truncated {
            format!(
                "<NextMarker>{}</NextMarker>",
                page.last().map_or("", |i| i.id.as_str())
            )
        } else {
            String::new()
        };
        Reply::xml(
            200,
            format!(
                "<InvalidationList><Marker>{}</Marker>{next}<MaxItems>{max}</MaxItems><IsTruncated>{truncated}</IsTruncated><Quantity>{}</Quantity><Items>{items}</Items></InvalidationList>",
                escape(query.get("Marker").map_or("", String::as_str)),
                page.len()
            ),
        )
    }

    fn list_distributions(&self, query: &BTreeMap<&str, String>) -> Reply {
        let max: usize = query
            .get("MaxItems")
            .and_then(|m| m.parse().ok())
            .unwrap_or(self.distribution_page);
        let from = match query.get("Marker").filter(|m| !m.is_empty()) {
            Some(marker) => self
                .distributions
                .iter()
                .position(|d| &d.id == marker)
                .map_or(self.distributions.len(), |p| p + 1),
            None => 0,
        };
        let page: Vec<&Distribution> = self.distributions.iter().skip(from).take(max).collect();
        let truncated = from + page.len() < self.distributions.len();
        let items: String = page
            .iter()
            .map(|d| {
                format!(
                    "<DistributionSummary><Id>{}</Id><ARN>arn:aws:cloudfront::123456789012:distribution/{}</ARN><Status>Deployed</Status><DomainName>{}.cloudfront.net</DomainName><Enabled>true</Enabled>{}</DistributionSummary>",
                    d.id,
                    d.id,
                    d.id.to_ascii_lowercase(),
                    d.parts_xml()
                )
            })
            .collect();
        let next = if truncated {
            format!(
                "<NextMarker>{}</NextMarker>",
                page.last().map_or("", |d| d.id.as_str())
            )
        } else {
            String::new()
        };
        Reply::xml(
            200,
            format!(
                "<DistributionList><Marker></Marker>{next}<MaxItems>{max}</MaxItems><IsTruncated>{truncated}</IsTruncated><Quantity>{}</Quantity><Items>{items}</Items></DistributionList>",
                page.len()
            ),
        )
    }
}

fn status(i: &Invalidation, now: Instant) -> &'static str {
    if i.in_progress(now) {
        "InProgress"
    } else {
        "Completed"
    }
}

fn invalidation_xml(i: &Invalidation, now: Instant, _start: Instant) -> String {
    let paths: String = i
        .paths
        .iter()
        .map(|p| format!("<Path>{}</Path>", escape(p)))
        .collect();
    format!(
        "<Invalidation><Id>{}</Id><Status>{}</Status><CreateTime>{}</CreateTime><InvalidationBatch><Paths><Quantity>{}</Quantity><Items>{paths}</Items></Paths><CallerReference>{}</CallerReference></InvalidationBatch></Invalidation>",
        i.id,
        status(i, now),
        iso(i.created_ms),
        i.paths.len(),
        escape(&i.caller_reference)
    )
}

/// GetCachePolicy of a managed policy the scenarios use.
fn cache_policy(id: &str) -> Reply {
    let (name, query_strings) = match id {
        CACHING_OPTIMIZED => ("Managed-CachingOptimized", "none"),
        QUERY_STRINGS => ("UseOriginCacheControlHeaders-QueryStrings", "all"),
        _ => {
            return error(404, "NoSuchCachePolicy", "The cache policy does not exist.");
        }
    };
    Reply::xml(
        200,
        format!(
            "<CachePolicy><Id>{id}</Id><LastModifiedTime>2020-01-01T00:00:00Z</LastModifiedTime><CachePolicyConfig><Name>{name}</Name><MinTTL>1</MinTTL><ParametersInCacheKeyAndForwardedToOrigin><EnableAcceptEncodingGzip>true</EnableAcceptEncodingGzip><HeadersConfig><HeaderBehavior>none</HeaderBehavior></HeadersConfig><CookiesConfig><CookieBehavior>none</CookieBehavior></CookiesConfig><QueryStringsConfig><QueryStringBehavior>{query_strings}</QueryStringBehavior></QueryStringsConfig></ParametersInCacheKeyAndForwardedToOrigin></CachePolicyConfig></CachePolicy>"
        ),
    )
}

fn no_such_distribution() -> Reply {
    error(
        404,
        "NoSuchDistribution",
        "The specified distribution does not exist.",
    )
}

pub fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::xml(
        status,
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>sim</RequestId></ErrorResponse>",
            escape(message)
        ),
    )
}

/// What CloudFront takes as a path: from '/', printable ASCII without the
/// characters it wants encoded, `*` only last, at most 4,000 characters.
fn valid_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 4000
        && path
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && !b" \"#<>[\\]^`{|}~?".contains(&b))
        && path.find('*').is_none_or(|at| at == path.len() - 1)
}

/// The texts of every `<tag>` element of an XML document (flat enough here).
pub fn elements(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        rest = &rest[at + open.len()..];
        let Some(end) = rest.find(&close) else { break };
        out.push(unescape(&rest[..end]));
        rest = &rest[end + close.len()..];
    }
    out
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#xD;", "\r")
        .replace("&#xA;", "\n")
        .replace("&amp;", "&")
}

/// `%XX` escapes of a query string value, decoded.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
