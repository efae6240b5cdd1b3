//! CloudFront's edges, played after the run from what happened in it: each
//! edge cache starts with most of the site cached; viewers ask for URLs at
//! random and around each change; a miss fills from S3, reading the object
//! some time after the request and storing it some time after that (a fill
//! lasts at most 25.3 s, within CloudFront's 30 s origin timeout), so a fill
//! that read the old object can land after the change; an invalidation
//! removes what an edge holds at the moment that edge honours it, somewhere
//! between its creation and its completion.
//!
//! URLs as a browser sends them, matched as edges.py in tests/stack does
//! (the same assumptions, written again): encodeURI's encoding, with `#` and
//! `?` encoded too; an invalidation path matches the same string, or, ending
//! in `*`, every URL starting with what comes before it. A URL whose cache
//! behavior (the first whose path pattern matches it) keys on query strings
//! is cached apart with each query string viewers send (`?v=1`,
//! `?utm_source=x`); one whose behavior sends viewers elsewhere (an API) is
//! not the bucket's.

use crate::cloudfront::Invalidation;
use crate::rng::Rng;
use crate::s3::History;
use std::collections::{BTreeMap, BTreeSet};
use tokio::time::Instant;

/// The characters encodeURI leaves as they are, less `#` and `?`.
const LITERAL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789;,/:@&=+$-_.!~*'()";

/// The URL a browser asks for the object at `relative` (a key under the
/// distribution's origin path, without it).
pub fn viewer_url(relative: &str) -> String {
    let mut url = String::from("/");
    for &b in relative.as_bytes() {
        if LITERAL.contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Every URL a site serves the object at `relative` under: its own, and
/// for an index document its directory with and without the slash (`/` at
/// the root).
pub fn url_forms(relative: &str, index: Option<&str>) -> Vec<String> {
    let mut urls = vec![viewer_url(relative)];
    if let Some(index) = index {
        if relative == index {
            urls.push("/".into());
        } else if let Some(dir) = relative.strip_suffix(&format!("/{index}")) {
            urls.push(viewer_url(&format!("{dir}/")));
            urls.push(viewer_url(dir));
        }
    }
    urls
}

/// A distribution serving the bucket, as the checks see it.
pub struct Site {
    pub distribution: usize,
    /// The origin path as a key prefix (`static/`), or empty.
    pub prefix: String,
    pub index: Option<String>,
    /// (path pattern, sends viewers to the bucket, keys on query strings),
    /// in CloudFront's order, the default (`*`) last.
    pub behaviors: Vec<(String, bool, bool)>,
}

/// The query strings viewers add to a URL whose cache key holds them.
pub const QUERIES: [&str; 2] = ["?v=1", "?utm_source=x"];

/// Whether a path pattern matches a URL path: `*` any run of characters,
/// `?` one, case-sensitive, the leading `/` optional.
fn matches(pattern: &[u8], url: &[u8]) -> bool {
    match (pattern.first(), url.first()) {
        (None, None) => true,
        (Some(b'*'), _) => matches(&pattern[1..], url) || (!url.is_empty() && matches(pattern, &url[1..])),
        (Some(&p), Some(&u)) if p == b'?' || p == u => matches(&pattern[1..], &url[1..]),
        _ => false,
    }
}

impl Site {
    /// The part of `key` this distribution serves.
    pub fn relative<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(self.prefix.as_str())
    }

    /// The behavior a viewer's URL falls under: (to the bucket, query strings).
    fn behavior(&self, url: &str) -> (bool, bool) {
        let url = url.trim_start_matches('/').as_bytes();
        self.behaviors
            .iter()
            .find(|(p, _, _)| matches(p.trim_start_matches('/').as_bytes(), url))
            .map_or((true, false), |&(_, to, query)| (to, query))
    }

    /// Every URL viewers may have the object at `relative` cached under: its
    /// forms that reach the bucket, each with the query strings viewers send
    /// where the cache key holds them.
    pub fn forms(&self, relative: &str) -> Vec<String> {
        let mut urls = Vec::new();
        for url in url_forms(relative, self.index.as_deref()) {
            let (to_bucket, query_strings) = self.behavior(&url);
            if !to_bucket {
                continue;
            }
            if query_strings {
                urls.extend(QUERIES.iter().map(|q| format!("{url}{q}")));
            }
            urls.push(url);
        }
        urls
    }

    /// Each URL the site serves, with the key behind it.
    pub fn urls(&self, keys: &[String]) -> BTreeMap<String, String> {
        let mut urls = BTreeMap::new();
        for key in keys {
            if let Some(relative) = self.relative(key) {
                for url in self.forms(relative) {
                    urls.insert(url, key.clone());
                }
            }
        }
        urls
    }
}

/// The invalidations of one distribution, by what they match.
pub struct Matcher<'a> {
    exact: BTreeMap<&'a str, Vec<&'a Invalidation>>,
    wildcards: Vec<(&'a str, &'a Invalidation)>,
}

impl<'a> Matcher<'a> {
    pub fn new(invalidations: &'a [Invalidation], distribution: usize) -> Matcher<'a> {
        let mut exact: BTreeMap<&str, Vec<&Invalidation>> = BTreeMap::new();
        let mut wildcards = Vec::new();
        for i in invalidations.iter().filter(|i| i.distribution == distribution) {
            for path in &i.paths {
                match path.strip_suffix('*') {
                    Some(prefix) => wildcards.push((prefix, i)),
                    None => exact.entry(path.as_str()).or_default().push(i),
                }
            }
        }
        Matcher { exact, wildcards }
    }

    /// The invalidations that match `url`, each once, in creation order.
    pub fn matching(&self, url: &str) -> Vec<&'a Invalidation> {
        let mut found: Vec<&Invalidation> = self.exact.get(url).cloned().unwrap_or_default();
        found.extend(
            self.wildcards
                .iter()
                .filter(|(p, _)| url.starts_with(p))
                .map(|(_, i)| *i),
        );
        found.sort_by_key(|i| (i.created, i.id.clone()));
        found.dedup_by(|a, b| a.id == b.id);
        found
    }
}

/// One viewer's request to one edge: when, and how its fill would go.
struct Request {
    at: i64,
    edge: usize,
    read_after: i64,
    store_after: i64,
}

/// Edges still serving an object older than the last change to it at the
/// end of the run: (edge, URL, key) for each.
#[allow(clippy::too_many_arguments)]
pub fn stale(
    site: &Site,
    history: &History,
    invalidations: &[Invalidation],
    edges: usize,
    start: Instant,
    end_ms: i64,
    race: f64,
    rng: &mut Rng,
) -> Vec<(usize, String, String)> {
    let keys = history.keys();
    let urls = site.urls(&keys);
    let matcher = Matcher::new(invalidations, site.distribution);
    let ms = |t: Instant| t.saturating_duration_since(start).as_millis() as i64;
    let mut by_key: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for c in &history.changes {
        by_key.entry(c.key.as_str()).or_default().push(c.at_ms);
    }
    let mut stale = Vec::new();
    for (url, key) in &urls {
        let mut requests: Vec<Request> = Vec::new();
        // Around each change: a viewer just before it, whose fill reads the
        // old object and, half the time slowly, lands after the change.
        for &at in by_key.get(key.as_str()).into_iter().flatten() {
            if rng.chance(race) {
                let store_after = if rng.chance(0.5) {
                    rng.between(1_000, 25_000)
                } else {
                    rng.between(0, 500)
                } as i64;
                requests.push(Request {
                    at: at - rng.between(0, 2_000) as i64,
                    edge: rng.below(edges as u64) as usize,
                    read_after: rng.between(10, 300) as i64,
                    store_after,
                });
            }
        }
        // And at random through the run.
        for _ in 0..3 {
            requests.push(Request {
                at: rng.between(0, end_ms.max(1) as u64) as i64,
                edge: rng.below(edges as u64) as usize,
                read_after: rng.between(10, 300) as i64,
                store_after: rng.between(0, 500) as i64,
            });
        }
        requests.sort_by_key(|r| (r.at, r.edge));
        let matching = matcher.matching(url);
        for edge in 0..edges {
            let honoured: Vec<i64> = matching.iter().map(|i| ms(i.honoured[edge])).collect();
            let valid = |stored: i64, now: i64| !honoured.iter().any(|&h| h > stored && h <= now);
            // (content, stored at): most of the site is cached at the start
            // (what is not was never asked for there, or expired).
            let cached = rng.chance(0.7);
            let mut entry: Option<(u64, i64)> = history.initial.get(key).filter(|_| cached).map(|&c| (c, -1));
            let mut fill: Option<(i64, Option<u64>)> = None;
            let land = |entry: &mut Option<(u64, i64)>, fill: &mut Option<(i64, Option<u64>)>, now: i64| {
                if let Some((at, content)) = *fill
                    && at <= now
                {
                    *entry = content.map(|c| (c, at));
                    *fill = None;
                }
            };
            for request in requests.iter().filter(|r| r.edge == edge) {
                land(&mut entry, &mut fill, request.at);
                if entry.is_some_and(|(_, stored)| valid(stored, request.at)) {
                    continue;
                }
                entry = None;
                if fill.is_none() {
                    let read = request.at + request.read_after;
                    fill = Some((read + request.store_after, history.content_at(key, read)));
                }
            }
            land(&mut entry, &mut fill, end_ms);
            let served = entry.filter(|&(_, stored)| valid(stored, end_ms)).map(|(c, _)| c);
            if served.is_some() && served != history.content_at(key, end_ms) {
                stale.push((edge, url.clone(), key.clone()));
            }
        }
    }
    stale
}

/// The keys some of whose changes the run parked in a dead-letter queue:
/// their staleness is reported, not silent.
pub fn parked_keys(history: &History, parked: &BTreeSet<usize>) -> BTreeSet<String> {
    parked.iter().map(|&c| history.changes[c].key.clone()).collect()
}
