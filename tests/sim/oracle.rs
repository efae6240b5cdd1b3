//! The promise, checked after a run from what the stand-ins recorded, with
//! URLs computed independently of the function's code (edges.rs): stale,
//! lost, refused, billed twice, deadline; and the figures around them.

use crate::cloudfront::{Creator, Invalidation};
use crate::edges::{self, Matcher, Site};
use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::world::World;
use cloudfront_invalidator::cover::MARGIN_MS;
use std::collections::{BTreeMap, BTreeSet};
use tokio::time::Instant;

#[derive(Debug, Default, Clone)]
pub struct Figures {
    pub seed: u64,
    pub family: &'static str,
    pub wiring: &'static str,
    /// Changes that change what viewers get, counted once per distribution
    /// serving them.
    pub changes: usize,
    pub environments: usize,
    /// Faulted answers, of all requests to the stand-ins (%).
    pub faulted: f64,
    pub requests: usize,
    pub invalidations: usize,
    pub paths: usize,
    pub fresh_p50: f64,
    pub fresh_p99: f64,
    pub stale: usize,
    pub lost: usize,
    /// Changes in a dead-letter queue (reported, with an alarm).
    pub parked: usize,
    pub refused: usize,
    /// Requests CloudFront refused as malformed.
    pub invalid: usize,
    pub twice: usize,
    /// Paths billed twice by a documented rule: (rule, paths).
    pub explained: BTreeMap<&'static str, usize>,
    /// Paths billed for changes no viewer sees.
    pub unneeded: usize,
    pub deadline: usize,
    pub notices_missing: usize,
    pub notices_twice: usize,
    pub unsettled: bool,
    pub digest: u64,
    /// What went wrong, a few examples.
    pub examples: Vec<String>,
}

impl Figures {
    pub fn holds(&self) -> bool {
        self.stale == 0
            && self.lost == 0
            && self.refused == 0
            && self.invalid == 0
            && self.twice == 0
            && self.deadline == 0
            && self.notices_missing == 0
            && !self.unsettled
    }
}

fn ms(t: Instant, start: Instant) -> i64 {
    t.saturating_duration_since(start).as_millis() as i64
}

/// The distributions serving the bucket, as sites.
pub fn sites(scenario: &Scenario, world: &World) -> Vec<Site> {
    scenario
        .distributions
        .iter()
        .filter(|d| scenario.auto || d.listed)
        .filter_map(|d| {
            let origin = d.origin.as_ref()?;
            Some(Site {
                distribution: world.cloudfront.index(&d.id)?,
                prefix: origin.trim_matches('/').to_owned()
                    + if origin.trim_matches('/').is_empty() {
                        ""
                    } else {
                        "/"
                    },
                index: Some("index.html".into()),
            })
        })
        .collect()
}

pub fn figures(scenario: &Scenario, world: &World, parked_async: &[usize], end: Instant) -> Figures {
    let start = world.start;
    let history = &scenario.history;
    let invalidations = &world.cloudfront.invalidations;
    let mut f = Figures {
        seed: scenario.seed,
        family: scenario.family,
        wiring: scenario.wiring.name(),
        requests: world.cloudfront.counters.create_calls,
        refused: world.cloudfront.counters.refused,
        invalid: world.cloudfront.counters.invalid,
        ..Figures::default()
    };
    let total: usize = world.requests.iter().sum();
    f.faulted = 100.0 * world.injected as f64 / total.max(1) as f64;
    let ours: Vec<&Invalidation> = invalidations
        .iter()
        .filter(|i| matches!(i.creator, Creator::Function(_)))
        .collect();
    f.invalidations = ours.len();
    f.paths = ours.iter().map(|i| i.paths.len()).sum();

    let mut parked: BTreeSet<usize> = parked_async.iter().copied().collect();
    for message in &world.sqs.queues[crate::sqs::DEAD_LETTERS].messages {
        parked.extend(&message.changes);
    }
    let end_ms = ms(end, start);
    let mut fresh_minutes = Vec::new();
    let mut rng = Rng::new(scenario.seed ^ 0xED6E);
    let parked_keys = edges::parked_keys(history, &parked);
    for site in sites(scenario, world) {
        let matcher = Matcher::new(invalidations, site.distribution);
        for (index, change) in history.changes.iter().enumerate() {
            let Some(relative) = site.relative(&change.key) else {
                continue;
            };
            if !change.changes_view {
                continue;
            }
            f.changes += 1;
            let mut latest = Some(0i64);
            for url in edges::url_forms(relative, site.index.as_deref()) {
                let first = matcher
                    .matching(&url)
                    .into_iter()
                    .filter(|i| ms(i.created, start) >= change.at_ms)
                    .map(|i| ms(i.completes, start))
                    .min();
                latest = match (latest, first) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
            match latest {
                Some(done) => fresh_minutes.push((done - change.at_ms) as f64 / 60_000.0),
                None if parked.contains(&index) => f.parked += 1,
                None => {
                    f.lost += 1;
                    if f.examples.len() < 5 {
                        f.examples.push(format!(
                            "lost: {} {:?} at {} ms, distribution {}",
                            change.event_name,
                            change.key,
                            change.at_ms,
                            world.cloudfront.distributions[site.distribution].id
                        ));
                    }
                }
            }
        }
        for (edge, url, key) in edges::stale(
            &site,
            history,
            invalidations,
            scenario.edges,
            start,
            end_ms,
            scenario.race,
            &mut rng,
        ) {
            if parked_keys.contains(&key) {
                continue;
            }
            f.stale += 1;
            if f.examples.len() < 10 {
                f.examples.push(format!(
                    "stale: edge {edge} of {} serves an old {url} (key {key:?})",
                    world.cloudfront.distributions[site.distribution].id
                ));
            }
        }
        billed_twice(&mut f, scenario, world, &site);
    }
    fresh_minutes.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        if fresh_minutes.is_empty() {
            0.0
        } else {
            fresh_minutes[((fresh_minutes.len() - 1) as f64 * q).round() as usize]
        }
    };
    f.fresh_p50 = quantile(0.5);
    f.fresh_p99 = quantile(0.99);
    notices(&mut f, world);
    f.digest = digest(world);
    f
}

/// Paths the function billed although an invalidation accepted earlier
/// already covered every change behind them.
fn billed_twice(f: &mut Figures, scenario: &Scenario, world: &World, site: &Site) {
    let start = world.start;
    let history = &scenario.history;
    let urls = site.urls(&history.keys());
    // Each URL's changes, in time order.
    let mut changed: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (url, key) in &urls {
        let times: Vec<i64> = history
            .changes
            .iter()
            .filter(|c| &c.key == key && c.changes_view)
            .map(|c| c.at_ms)
            .collect();
        changed.insert(url.as_str(), times);
    }
    let wildcard_urls = |prefix: &str| -> Vec<&str> {
        urls.range(prefix.to_owned()..)
            .take_while(|(u, _)| u.starts_with(prefix))
            .map(|(u, _)| u.as_str())
            .collect()
    };
    let mut all: Vec<&Invalidation> = world
        .cloudfront
        .invalidations
        .iter()
        .filter(|i| i.distribution == site.distribution)
        .collect();
    all.sort_by_key(|i| i.created);
    // The latest invalidation (time, and its creation-to-change gap known
    // later) covering each URL so far.
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    for invalidation in all {
        let created = ms(invalidation.created, start);
        let ours = matches!(invalidation.creator, Creator::Function(_));
        for path in &invalidation.paths {
            let covered: Vec<&str> = match path.strip_suffix('*') {
                Some(prefix) => wildcard_urls(prefix),
                None => urls
                    .get_key_value(path.as_str())
                    .map(|(u, _)| u.as_str())
                    .into_iter()
                    .collect(),
            };
            if ours {
                let needed = covered.iter().any(|u| {
                    let since = last.get(u).copied().unwrap_or(i64::MIN);
                    changed[u].iter().any(|&t| t > since && t <= created)
                });
                if !needed {
                    let ever = covered.iter().any(|u| changed[u].iter().any(|&t| t <= created));
                    if !ever {
                        f.unneeded += 1;
                    } else {
                        // Why the earlier invalidation did not count.
                        let (u, t) = covered
                            .iter()
                            .filter_map(|u| {
                                changed[u]
                                    .iter()
                                    .filter(|&&t| t <= created)
                                    .max()
                                    .map(|&t| (*u, t))
                            })
                            .max_by_key(|&(_, t)| t)
                            .expect("a change");
                        let covering = last.get(u).copied().unwrap_or(i64::MIN);
                        let read = invalidation.read_before.map(|r| ms(r, start));
                        let rule = if covering - t < MARGIN_MS {
                            "within the margin"
                        } else if read.is_none_or(|r| covering > r) {
                            "created after the read"
                        } else {
                            ""
                        };
                        if rule.is_empty() {
                            f.twice += 1;
                            if f.examples.len() < 10 {
                                f.examples.push(format!(
                                    "billed twice: {path} in {} at {created} ms; {u} changed at {t} ms and was invalidated at {covering} ms",
                                    invalidation.id
                                ));
                            }
                        } else {
                            *f.explained.entry(rule).or_default() += 1;
                        }
                    }
                }
            }
            for u in covered {
                last.insert(u, created);
            }
        }
    }
}

/// Each invalidation the function followed gets one completion notice.
fn notices(f: &mut Figures, world: &World) {
    let watched: BTreeSet<String> = world
        .sqs
        .sent_watches
        .iter()
        .filter_map(|body| serde_json::from_str::<serde_json::Value>(body).ok())
        .filter_map(|v| v["watch"]["invalidation_id"].as_str().map(String::from))
        .collect();
    let given_up: BTreeSet<String> = world.sqs.queues[crate::sqs::WATCH_DEAD_LETTERS]
        .messages
        .iter()
        .filter_map(|m| serde_json::from_str::<serde_json::Value>(&m.body).ok())
        .filter_map(|v| v["watch"]["invalidation_id"].as_str().map(String::from))
        .collect();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for notice in &world.notices {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&notice.message)
            && let Some(id) = v["invalidation_id"].as_str()
        {
            *count.entry(id.to_owned()).or_default() += 1;
        }
    }
    for id in &watched {
        match count.get(id).copied().unwrap_or(0) {
            0 if !given_up.contains(id) => {
                f.notices_missing += 1;
                if f.examples.len() < 10 {
                    f.examples
                        .push(format!("no completion notice for {id}, which was watched"));
                }
            }
            0 | 1 => {}
            n => f.notices_twice += n - 1,
        }
    }
}

/// What a run did, in one number: the same seed must give the same one.
fn digest(world: &World) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x100_0000_01b3);
        }
    };
    for i in &world.cloudfront.invalidations {
        eat(i.id.as_bytes());
        eat(&i.created_ms.to_le_bytes());
        for p in &i.paths {
            eat(p.as_bytes());
        }
    }
    eat(&world
        .requests
        .iter()
        .map(|r| *r as u64)
        .sum::<u64>()
        .to_le_bytes());
    h
}
