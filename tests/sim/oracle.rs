//! The promise, checked after a run from what the stand-ins recorded, with
//! URLs computed independently of the function's code (edges.rs): stale,
//! lost, refused, billed twice, deadline; and the figures around them.

use crate::cloudfront::{Creator, Invalidation};
use crate::edges::{self, Matcher, Site};
use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::world::World;
use cloudfront_invalidator::cloudfront::MAX_LOOKUPS;
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
                behaviors: d
                    .behaviors
                    .iter()
                    .map(|b| (b.pattern.clone(), b.to_origin, b.query_strings))
                    .collect(),
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
            let urls = site.forms(relative);
            if !change.changes_view || urls.is_empty() {
                continue;
            }
            f.changes += 1;
            let mut latest = Some(0i64);
            for url in urls {
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

/// How one URL stood when a path of a new invalidation covered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    /// No event at all, or only events that changed nothing and that the
    /// function can tell.
    Unneeded,
    /// Nothing the rules explain: an accepted invalidation already covered
    /// every change.
    Twice,
    /// Covered by one created after the creating environment last read.
    Concurrent,
    /// Covered by one the creating environment did not look up: its reading
    /// stopped at the function's `MAX_LOOKUPS`.
    Unlooked,
    /// An event that changed nothing, which the function cannot tell from
    /// a change (a removal of what was not there, a version deleted).
    Nothing,
    /// A change covered only by an invalidation within the margin of it.
    Margin,
    /// A change no earlier invalidation was created after.
    Needed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// What viewers get changed.
    View,
    /// Nothing changed; S3 reported it, and the function cannot tell.
    Idle,
    /// A noncurrent version expired: the function can tell.
    Noncurrent,
}

/// Paths the function billed although an invalidation accepted earlier
/// already covered every event behind them, classed by the rule that
/// explains them (or none).
fn billed_twice(f: &mut Figures, scenario: &Scenario, world: &World, site: &Site) {
    let start = world.start;
    let history = &scenario.history;
    let urls = site.urls(&history.keys());
    // The margin, plus the second the function waits beyond it; an
    // EventBridge time is whole seconds, and the function counts from the
    // end of its second (the latest instant it can stand for).
    let precision = if scenario.wiring == crate::scenario::Wiring::EventBridge {
        999
    } else {
        0
    };
    let margin = MARGIN_MS + 1000 + precision;
    let matcher = Matcher::new(&world.cloudfront.invalidations, site.distribution);
    // Each URL's events, and the creation times of what covers it.
    let mut events: BTreeMap<&str, Vec<(i64, Event)>> = BTreeMap::new();
    let mut covering: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (url, key) in &urls {
        let of_key = history.changes.iter().filter(|c| &c.key == key).map(|c| {
            let kind = if c.changes_view {
                Event::View
            } else if c.event_name == "LifecycleExpiration:Delete" && c.version.is_some() {
                Event::Noncurrent
            } else {
                Event::Idle
            };
            (c.at_ms, kind)
        });
        events.insert(url.as_str(), of_key.collect());
        let mut times: Vec<i64> = matcher
            .matching(url)
            .iter()
            .map(|i| ms(i.created, start))
            .collect();
        times.sort_unstable();
        covering.insert(url.as_str(), times);
    }
    let need = |url: &str, created: i64, read: Option<i64>, looked_up: usize| -> Need {
        let before: Vec<i64> = covering[url].iter().copied().filter(|&t| t < created).collect();
        let first_from = |t: i64| before.iter().copied().find(|&j| j >= t);
        let mut need = Need::Unneeded;
        let mut latest_cover = None;
        for &(t, kind) in events[url].iter().filter(|(t, _)| *t <= created) {
            let here = match (kind, first_from(t)) {
                (Event::View, None) => Need::Needed,
                (Event::View, Some(j)) if j < t + margin && first_from(t + margin).is_none() => Need::Margin,
                (Event::Idle, _) if first_from(t + margin).is_none() => Need::Nothing,
                (Event::Noncurrent, _) => Need::Unneeded,
                _ => Need::Twice,
            };
            latest_cover = latest_cover.max(first_from(t + margin));
            need = need.max(here);
        }
        if need == Need::Twice && latest_cover.is_some_and(|j| read.is_none_or(|r| j > r)) {
            return Need::Concurrent;
        }
        if need == Need::Twice && looked_up >= MAX_LOOKUPS {
            return Need::Unlooked;
        }
        need
    };
    let wildcard_urls = |prefix: &str| -> Vec<&str> {
        urls.range(prefix.to_owned()..)
            .take_while(|(u, _)| u.starts_with(prefix))
            .map(|(u, _)| u.as_str())
            .collect()
    };
    let ours = world
        .cloudfront
        .invalidations
        .iter()
        .filter(|i| i.distribution == site.distribution && matches!(i.creator, Creator::Function(_)));
    for invalidation in ours {
        let created = ms(invalidation.created, start);
        let read = invalidation.read_before.map(|r| ms(r, start));
        for path in &invalidation.paths {
            let covered: Vec<&str> = match path.strip_suffix('*') {
                Some(prefix) => wildcard_urls(prefix),
                None => urls
                    .get_key_value(path.as_str())
                    .map(|(u, _)| u.as_str())
                    .into_iter()
                    .collect(),
            };
            if covered.is_empty() && scenario.wiring == crate::scenario::Wiring::EventBridge {
                // The other reading of a key with `+` or `%` (see the
                // function's eventbridge.rs).
                *f.explained.entry("EventBridge's other reading").or_default() += 1;
                continue;
            }
            let need = covered
                .iter()
                .map(|u| need(u, created, read, invalidation.looked_up))
                .max()
                .unwrap_or(Need::Unneeded);
            if need == Need::Unneeded && f.examples.len() < 10 {
                f.examples.push(format!(
                    "paid for nothing: {path} in {} at {created} ms",
                    invalidation.id
                ));
            }
            match need {
                Need::Needed => {}
                Need::Margin => *f.explained.entry("within the margin").or_default() += 1,
                Need::Nothing => *f.explained.entry("an event that changed nothing").or_default() += 1,
                Need::Concurrent => *f.explained.entry("created after the read").or_default() += 1,
                Need::Unlooked => *f.explained.entry("past the lookups").or_default() += 1,
                Need::Unneeded => f.unneeded += 1,
                Need::Twice => {
                    f.twice += 1;
                    if f.examples.len() < 10 {
                        let u = covered.first().copied().unwrap_or("-");
                        f.examples.push(format!(
                            "billed twice: {path} in {} at {created} ms: {u} had events at {:?} and invalidations at {:?}",
                            invalidation.id,
                            events.get(u).map(|e| e.iter().map(|(t, _)| *t).collect::<Vec<_>>()),
                            covering.get(u)
                        ));
                    }
                }
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
