//! Changes to per-distribution invalidation requests, in two steps.
//! [`demands`]: filter the keys, map them through each distribution's origin
//! path, expand index documents, deduplicate and sort the paths. [`plan`]:
//! fit each distribution's paths into the room it has (see `budget`), one
//! request per distribution, with a caller reference derived from the changes
//! it covers, so that the same changes delivered again get it back.
//! Pure: no I/O.

use crate::budget::{self, ChangeRef, Held, Needs, Room};
use crate::config::{Config, DistributionId, Target};
use crate::cover::{self, Accepted};
use crate::distribution::{Miss, Routes};
use crate::event::{Change, Skipped, Unit, UnitIndex, Units};
use crate::filter;
use crate::path::InvalidationPath;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Paths one CreateInvalidation request may hold (more is BatchTooLarge).
/// A plan never reaches it: a request holds at most `MAX_PATHS` paths, at
/// most 3,000.
pub const MAX_PATHS_PER_REQUEST: usize = 3000;

/// One CreateInvalidation request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Batch {
    pub distribution: DistributionId,
    pub caller_reference: String,
    pub paths: Vec<InvalidationPath>,
    /// Indices of the units (SQS messages) whose changes need these paths:
    /// the ones to report when this request fails.
    #[serde(skip)]
    pub units: Units,
    /// When S3 reported the earliest change this request covers, if the
    /// events said (milliseconds since the Unix epoch).
    #[serde(skip)]
    pub changed_ms: Option<i64>,
}

/// What the plan does for one distribution, for the response and the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub distribution: DistributionId,
    /// Changes this distribution serves.
    pub changes: usize,
    /// Distinct paths those changes need (with index-document forms).
    pub paths_requested: usize,
    /// Paths submitted, each billed: fewer than requested when the budget
    /// replaced groups by wildcards.
    pub paths_submitted: usize,
    pub wildcards: usize,
    /// What the distribution held in progress when planning.
    pub held: Held,
    /// Changes an invalidation CloudFront had already accepted covers (see
    /// `cover`): no path requested for them.
    pub covered: usize,
    /// Those invalidations.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub covered_by: BTreeSet<String>,
    /// Units (SQS messages, or the event) left for a retry because the
    /// distribution had no room for their paths.
    pub deferred: usize,
}

/// What one distribution needs for the changes of an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    pub distribution: DistributionId,
    /// Changes this distribution serves.
    pub changes: usize,
    pub needs: Needs,
}

/// What the changes of an invocation need, before fitting.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Demands {
    pub demands: Vec<Demand>,
    /// Changes left out: filtered, or served by no distribution.
    pub ignored: Vec<Skipped>,
    /// Each change that no distribution serves: its unit, and when S3
    /// reported it (see `discovery`), `None` when the event does not say.
    pub unserved: Vec<(UnitIndex, Option<i64>)>,
    /// Per bucket that no distribution serves at all, its changes.
    pub served_by_none: BTreeMap<String, usize>,
}

/// What a distribution has when planning: what it holds in progress, and the
/// invalidations known to be accepted there, which may cover changes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Busy {
    pub held: Held,
    pub accepted: Vec<Accepted>,
}

/// Units one distribution had no room for: reported for a retry, no request made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    pub distribution: DistributionId,
    pub units: Units,
    pub held: Held,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub batches: Vec<Batch>,
    pub stats: Vec<Stats>,
    /// Changes left out: filtered, or served by no distribution.
    pub ignored: Vec<Skipped>,
    pub deferred: Vec<Deferred>,
}

/// Which distributions serve a change's bucket, and how.
pub enum Targets<'a> {
    /// The same for every bucket, as `DISTRIBUTION_IDS` lists them, none of
    /// their configurations read (see `distribution::Routes::assumed`).
    Same(&'a [Target]),
    /// Per bucket, as each distribution's configuration says.
    ByBucket(&'a BTreeMap<String, Vec<Routes>>),
}

/// The paths every distribution needs for every change of every unit but
/// those left for `later`.
pub fn demands(units: &[Unit], config: &Config, targets: &Targets, later: &Units) -> Demands {
    // In the order distributions are configured (or found), for requests
    // made in that order.
    let mut demands: Vec<Demand> = Vec::new();
    let mut ignored = Vec::new();
    let mut unserved = Vec::new();
    let mut served_by_none: BTreeMap<String, usize> = BTreeMap::new();
    // Per distribution, the S3 events it serves: a key that EventBridge
    // reads two ways is two changes of one event.
    let mut events: Vec<BTreeSet<&str>> = Vec::new();
    let changes = units
        .iter()
        .enumerate()
        .filter(|(u, _)| !later.contains(u))
        .flat_map(|(u, unit)| {
            unit.changes
                .iter()
                .enumerate()
                .map(move |(c, change)| ((u, c), change))
        });
    let same = match targets {
        Targets::Same(targets) => Routes::assumed(targets),
        Targets::ByBucket(_) => Vec::new(),
    };
    for (place, change) in changes {
        let skip = |reason: String| Skipped {
            bucket: Some(change.bucket.clone()),
            key: Some(change.key.clone()),
            reason,
        };
        let (include, exclude) = (&config.include, &config.exclude);
        if let Some(reason) = filter::skip_reason(&change.key, include, exclude, config.skip_hashed_names) {
            ignored.push(skip(reason));
            continue;
        }
        let serving: &[Routes] = match targets {
            Targets::Same(_) => &same,
            Targets::ByBucket(map) => map.get(&change.bucket).map(Vec::as_slice).unwrap_or_default(),
        };
        let mut misses = Vec::new();
        for routes in serving {
            let paths = match routes.paths(&change.key, config.index_document.as_deref()) {
                Ok(paths) => paths,
                Err(miss) => {
                    misses.push((&routes.id, miss));
                    continue;
                }
            };
            let at = match demands.iter().position(|d| d.distribution == routes.id) {
                Some(i) => i,
                None => {
                    demands.push(Demand {
                        distribution: routes.id.clone(),
                        changes: 0,
                        needs: Needs::new(),
                    });
                    events.push(BTreeSet::new());
                    demands.len() - 1
                }
            };
            demands[at].changes += usize::from(events[at].insert(change.identity.as_str()));
            for path in paths {
                demands[at].needs.entry(path).or_default().insert(place);
            }
        }
        if misses.len() == serving.len() {
            ignored.push(skip(unserved_reason(change, serving, &misses)));
            unserved.push((place.0, change.time_ms));
        }
        if serving.is_empty() {
            *served_by_none.entry(change.bucket.clone()).or_default() += 1;
        }
    }
    Demands {
        demands,
        ignored,
        unserved,
        served_by_none,
    }
}

/// One request per distribution that has room, holding at most `MAX_PATHS`
/// paths and its share of what CloudFront has free there (`busy`: what it
/// holds in progress; a distribution missing from it holds nothing), for the
/// changes no invalidation it already accepted covers.
pub fn plan(
    units: &[Unit],
    demands: Demands,
    config: &Config,
    busy: &BTreeMap<DistributionId, Busy>,
) -> Plan {
    let mut plan = Plan {
        ignored: demands.ignored,
        ..Plan::default()
    };
    for Demand {
        distribution,
        changes,
        needs,
    } in demands.demands
    {
        let (held, accepted) = busy
            .get(&distribution)
            .map_or((Held::default(), &[][..]), |b| (b.held, &b.accepted[..]));
        let mut needs = needs;
        let paths_requested = needs.len();
        let changed = |(u, c): ChangeRef| units[u].changes[c].time_ms;
        let covered = cover::remove_covered(&mut needs, changed, accepted, config.margin_ms);
        let room = Room::share(config.max_paths, held, config.max_concurrency);
        let fitted = budget::fit(needs, room);
        let paths: Vec<InvalidationPath> = fitted.kept.keys().cloned().collect();
        debug_assert!(paths.len() <= MAX_PATHS_PER_REQUEST);
        plan.stats.push(Stats {
            distribution: distribution.clone(),
            changes,
            paths_requested,
            paths_submitted: paths.len(),
            wildcards: paths.iter().filter(|p| p.is_wildcard()).count(),
            held,
            covered: covered.changes,
            covered_by: covered.by,
            deferred: fitted.deferred.len(),
        });
        if !fitted.deferred.is_empty() {
            plan.deferred.push(Deferred {
                distribution: distribution.clone(),
                units: fitted.deferred,
                held,
            });
        }
        if paths.is_empty() {
            continue;
        }
        let covered: Vec<&Change> = fitted
            .kept
            .values()
            .flatten()
            .collect::<BTreeSet<&ChangeRef>>()
            .into_iter()
            .map(|&(u, c)| &units[u].changes[c])
            .collect();
        let identities: BTreeSet<&str> = covered.iter().map(|c| c.identity.as_str()).collect();
        plan.batches.push(Batch {
            caller_reference: caller_reference(&distribution, &paths, &identities),
            distribution,
            paths,
            units: fitted.kept.values().flatten().map(|&(u, _)| u).collect(),
            changed_ms: covered.iter().filter_map(|c| c.time_ms).min(),
        });
    }
    plan
}

/// How long a message left for a retry for lack of room stays away, by how
/// often it was received: 1, 3, 8, then 15 minutes. An invalidation stays in
/// progress for minutes (1 to 15, sometimes more), and the queue's own
/// visibility timeout (23 minutes) would keep the object stale longer than
/// needed. With the template's six receives (`maxReceiveCount`) a change is
/// tried for 42 minutes and reaches the dead-letter queue, and its alarm,
/// 57 minutes after its first try: past what CloudFront takes to complete
/// what fills a distribution (rarely 40 minutes).
pub fn retry_delay(receive_count: u32) -> std::time::Duration {
    let minutes = match receive_count {
        0 | 1 => 1,
        2 => 3,
        3 => 8,
        _ => 15,
    };
    std::time::Duration::from_secs(60 * minutes)
}

/// The paths viewers may have cached a key under: the key's own, and for an
/// index document its directory with and without the slash (`/` at the root).
pub fn paths_for(relative: &str, index_document: Option<&str>) -> Vec<InvalidationPath> {
    crate::path::forms(relative, index_document)
        .iter()
        .map(|form| InvalidationPath::for_key(form))
        .collect()
}

/// Why no distribution serving the change's bucket needs a path for it.
fn unserved_reason(change: &Change, serving: &[Routes], misses: &[(&DistributionId, Miss)]) -> String {
    if serving.is_empty() {
        return format!("no distribution has an S3 origin for bucket {:?}", change.bucket);
    }
    let elsewhere: Vec<String> = misses
        .iter()
        .filter_map(|(id, miss)| match miss {
            Miss::Elsewhere { pattern, target } => Some(format!(
                "at {id} its URL falls under the cache behavior {pattern}, which sends viewers to \
                 origin {target:?}, not to the bucket"
            )),
            Miss::Outside => None,
        })
        .collect();
    let origins: BTreeSet<String> = serving
        .iter()
        .flat_map(|r| r.origins.iter().filter_map(|o| o.path.as_ref()))
        .map(ToString::to_string)
        .collect();
    let origins: Vec<String> = origins.into_iter().collect();
    if elsewhere.is_empty() {
        return format!(
            "outside the origin path {}, so no distribution serves it",
            origins.join(" and ")
        );
    }
    format!("no distribution serves it: {}", elsewhere.join("; "))
}

/// A digest of everything that makes this request what it is: the
/// distribution, the paths, and the S3 events of the changes it covers (and
/// of no other change). CloudFront answers a repeated reference with the
/// invalidation it already has, so the same changes delivered again, alone or
/// in the same company, are not billed again; a new upload of the same key
/// has a new sequencer and time, so it gets a new reference.
fn caller_reference(
    distribution: &DistributionId,
    paths: &[InvalidationPath],
    identities: &BTreeSet<&str>,
) -> String {
    let mut hash = Sha256::new();
    hash.update(b"s3-cloudfront-invalidator v1\0");
    hash.update(distribution.as_str());
    for path in paths {
        hash.update(b"\0");
        hash.update(path.as_str());
    }
    hash.update(b"\0\0");
    for identity in identities {
        hash.update(identity);
        hash.update(b"\0");
    }
    let digest = hash.finalize();
    let hex: String = digest[..20].iter().map(|b| format!("{b:02x}")).collect();
    format!("s3inv-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Change;

    fn change(key: &str, seq: &str) -> Change {
        Change {
            bucket: "b".into(),
            key: key.into(),
            identity: format!("b\n{key}\n{seq}"),
            time_ms: None,
        }
    }

    /// One unit holding all the changes, as a direct S3 event gives.
    fn one(changes: &[Change]) -> Vec<Unit> {
        vec![Unit {
            changes: changes.to_vec(),
            ..Unit::default()
        }]
    }

    fn config(ids: &str, origin: &str) -> Config {
        Config::from_pairs(&[
            ("DISTRIBUTION_IDS", ids),
            ("ORIGIN_PATH", origin),
            ("MAX_PATHS", "0"),
        ])
        .unwrap()
    }

    /// Plans with the listed distributions of `config`, nothing in progress.
    fn plan(units: &[Unit], config: &Config) -> Plan {
        plan_busy(units, config, &BTreeMap::new())
    }

    fn plan_busy(units: &[Unit], config: &Config, busy: &BTreeMap<DistributionId, Held>) -> Plan {
        let busy = busy
            .iter()
            .map(|(id, held)| {
                let busy = Busy {
                    held: *held,
                    accepted: vec![],
                };
                (id.clone(), busy)
            })
            .collect();
        plan_made(units, config, &busy)
    }

    fn plan_made(units: &[Unit], config: &Config, busy: &BTreeMap<DistributionId, Busy>) -> Plan {
        let crate::config::Distributions::Listed(targets) = &config.distributions else {
            panic!()
        };
        let demands = demands(units, config, &Targets::Same(targets), &Units::new());
        super::plan(units, demands, config, busy)
    }

    /// Each request as (distribution, paths).
    fn requests(plan: &Plan) -> Vec<(String, Vec<&str>)> {
        plan.batches
            .iter()
            .map(|b| (b.distribution.to_string(), paths(b)))
            .collect()
    }

    fn paths(batch: &Batch) -> Vec<&str> {
        batch.paths.iter().map(InvalidationPath::as_str).collect()
    }

    #[test]
    fn retries_for_lack_of_room_back_off() {
        let minutes: Vec<u64> = (0..8).map(|n| retry_delay(n).as_secs() / 60).collect();
        assert_eq!(minutes, [1, 1, 3, 8, 15, 15, 15, 15]);
    }

    #[test]
    fn dedupes_sorts_and_covers_every_distribution() {
        let changes = [change("b.css", "1"), change("a.css", "2"), change("b.css", "3")];
        let plan = plan(&one(&changes), &config("E1,E2", ""));
        assert_eq!(plan.batches.len(), 2);
        assert_eq!(plan.batches[0].distribution.as_str(), "E1");
        assert_eq!(plan.batches[1].distribution.as_str(), "E2");
        for batch in &plan.batches {
            assert_eq!(paths(batch), ["/a.css", "/b.css"]);
        }
        assert_ne!(plan.batches[0].caller_reference, plan.batches[1].caller_reference);
    }

    #[test]
    fn never_more_than_cloudfront_holds() {
        // MAX_PATHS=0 means as many as CloudFront holds: one request of at
        // most 3,000 paths, within this invocation's share of the room.
        let changes: Vec<_> = (0..7001)
            .map(|i| change(&format!("d{}/f{i:05}", i % 10), "s"))
            .collect();
        let plan = plan(&one(&changes), &config("E1", ""));
        assert_eq!(plan.batches.len(), 1);
        let held = Held::of(plan.batches[0].paths.iter().map(InvalidationPath::as_str));
        assert!(held.files <= 1500 && held.wildcards <= 7, "{held:?}");
        for c in &changes {
            let path = InvalidationPath::for_key(&c.key);
            assert!(
                plan.batches[0].paths.iter().any(|p| budget::covers(p, &path)),
                "{path}"
            );
        }
        assert!(plan.deferred.is_empty());
    }

    #[test]
    fn a_change_an_accepted_invalidation_covers_needs_no_request_and_no_retry() {
        let c = config("E1,E2", "");
        let at = |key: &str, time_ms: i64| Change {
            time_ms: Some(time_ms),
            ..change(key, &time_ms.to_string())
        };
        const T: i64 = 1_795_000_000_000;
        // Message 0 came back for a retry: `/css/*` was created at E1 since.
        // Message 1 was changed after that invalidation.
        let units = vec![
            Unit {
                changes: vec![at("css/a.css", T), at("js/a.js", T)],
                ..Unit::default()
            },
            Unit {
                changes: vec![at("css/b.css", T + 10 * crate::cover::MARGIN_MS)],
                ..Unit::default()
            },
        ];
        let accepted = Accepted {
            id: "I1".into(),
            created_ms: T + 5 * crate::cover::MARGIN_MS,
            paths: vec!["/css/*".into()],
        };
        let e1 = DistributionId::parse("E1").unwrap();
        let busy = BTreeMap::from([(
            e1.clone(),
            Busy {
                held: Held::of(["/css/*"]),
                accepted: vec![accepted],
            },
        )]);
        let plan = plan_made(&units, &c, &busy);
        assert_eq!(
            requests(&plan),
            [
                ("E1".to_string(), vec!["/css/b.css", "/js/a.js"]),
                ("E2".to_string(), vec!["/css/a.css", "/css/b.css", "/js/a.js"]),
            ]
        );
        assert!(plan.deferred.is_empty());
        assert_eq!(
            plan.stats[0].covered, 1,
            "css/a.css; message 0 still needs /js/a.js"
        );
        assert_eq!(plan.stats[0].covered_by, BTreeSet::from(["I1".to_string()]));
        // Once /js/a.js is covered too, message 0 needs nothing at E1.
        let only_first = vec![units[0].clone()];
        let mut busy = busy;
        busy.get_mut(&e1).unwrap().accepted[0]
            .paths
            .push("/js/a.js".into());
        let plan = plan_made(&only_first, &c, &busy);
        assert_eq!(plan.stats[0].covered, 2);
        assert_eq!(plan.stats[0].paths_requested, 2);
        assert_eq!(plan.stats[0].paths_submitted, 0);
        assert_eq!(requests(&plan).len(), 1, "only E2 gets a request");
    }

    #[test]
    fn what_is_in_progress_shrinks_the_room_and_a_full_distribution_gets_no_request() {
        let c = config("E1,E2", "");
        let units: Vec<Unit> = (0..3)
            .map(|i| Unit {
                changes: vec![change(&format!("css/f{i}.css"), "1")],
                ..Unit::default()
            })
            .collect();
        let id = |s: &str| DistributionId::parse(s).unwrap();
        let full = Held {
            files: 3000,
            wildcards: 15,
        };
        let busy = BTreeMap::from([(id("E1"), full)]);
        let plan = plan_busy(&units, &c, &busy);
        assert_eq!(
            requests(&plan),
            [(
                "E2".to_string(),
                vec!["/css/f0.css", "/css/f1.css", "/css/f2.css"]
            )]
        );
        assert_eq!(plan.deferred.len(), 1);
        assert_eq!(plan.deferred[0].distribution, id("E1"));
        assert_eq!(plan.deferred[0].units, BTreeSet::from([0, 1, 2]));
        assert_eq!(plan.stats[0].held, full);
        assert_eq!(plan.stats[0].deferred, 3);
        assert_eq!(plan.stats[0].paths_submitted, 0);
        // Room for two exact paths (no wildcard free; 752 free files, less
        // 750 left for the other planner): two units go, one waits.
        let nearly = Held {
            files: 2248,
            wildcards: 15,
        };
        let plan = plan_busy(&units, &c, &BTreeMap::from([(id("E1"), nearly)]));
        assert_eq!(paths(&plan.batches[0]), ["/css/f0.css", "/css/f1.css"]);
        assert_eq!(plan.batches[0].units, BTreeSet::from([0, 1]));
        assert_eq!(plan.deferred[0].units, BTreeSet::from([2]));
    }

    #[test]
    fn origin_path_maps_and_ignores() {
        let changes = [change("static/css/app.css", "1"), change("media/x.png", "2")];
        let plan = plan(&one(&changes), &config("E1", "/static"));
        assert_eq!(paths(&plan.batches[0]), ["/css/app.css"]);
        assert_eq!(plan.ignored.len(), 1);
        assert_eq!(plan.ignored[0].key.as_deref(), Some("media/x.png"));
        assert!(plan.ignored[0].reason.contains("/static"));
    }

    #[test]
    fn nothing_to_invalidate_means_no_batch() {
        let plan = plan(&one(&[change("media/x.png", "1")]), &config("E1", "/static"));
        assert!(plan.batches.is_empty());
    }

    #[test]
    fn caller_reference_is_stable_for_a_redelivery_and_new_for_a_new_upload() {
        let c = config("E1", "");
        let first = plan(&one(&[change("a.css", "1"), change("b.css", "2")]), &c);
        let redelivered = plan(&one(&[change("b.css", "2"), change("a.css", "1")]), &c);
        let reuploaded = plan(&one(&[change("a.css", "9"), change("b.css", "2")]), &c);
        assert_eq!(
            first.batches[0].caller_reference,
            redelivered.batches[0].caller_reference
        );
        assert_ne!(
            first.batches[0].caller_reference,
            reuploaded.batches[0].caller_reference
        );
        assert!(first.batches[0].caller_reference.starts_with("s3inv-"));
        assert_eq!(first.batches[0].caller_reference.len(), 46);
    }

    #[test]
    fn caller_reference_hashes_only_the_changes_the_request_covers() {
        // A redelivered message must get its reference back even when the
        // batch around it holds changes that this request does not cover:
        // filtered keys, keys outside the origin path, other buckets' keys.
        let c = config_with(&[("DISTRIBUTION_IDS", "E1=/site"), ("EXCLUDE", "**/*.map")]);
        let alone = plan(&one(&[change("site/a.css", "1")]), &c);
        let mut crowd = one(&[
            change("site/a.css", "1"),
            change("site/a.css.map", "2"),
            change("media/x.png", "3"),
        ]);
        crowd[0].changes.push(Change {
            bucket: "other".into(),
            ..change("z.css", "4")
        });
        let crowded = plan(&crowd, &c);
        assert_eq!(requests(&crowded), [("E1".to_string(), vec!["/a.css"])]);
        assert_eq!(
            alone.batches[0].caller_reference,
            crowded.batches[0].caller_reference
        );
        // A unit deferred for lack of room is not part of the reference either.
        let units = |n: usize| -> Vec<Unit> {
            (0..n)
                .map(|i| Unit {
                    changes: vec![change(&format!("site/f{i}.css"), "1")],
                    ..Unit::default()
                })
                .collect()
        };
        let busy = BTreeMap::from([(
            DistributionId::parse("E1").unwrap(),
            Held {
                files: 2248,
                wildcards: 15,
            },
        )]);
        let two = plan_busy(&units(2), &c, &busy);
        let three = plan_busy(&units(3), &c, &busy);
        assert_eq!(three.deferred[0].units, BTreeSet::from([2]));
        assert_eq!(two.batches[0].caller_reference, three.batches[0].caller_reference);
    }

    #[test]
    fn each_batch_knows_which_units_need_it() {
        let units = vec![
            Unit {
                changes: vec![change("a.css", "1")],
                ..Unit::default()
            },
            Unit {
                changes: vec![change("a.css", "2"), change("b.css", "3")],
                ..Unit::default()
            },
            Unit::default(),
        ];
        let merged = plan(&units, &config("E1", ""));
        assert_eq!(merged.batches.len(), 1);
        assert_eq!(paths(&merged.batches[0]), ["/a.css", "/b.css"]);
        assert_eq!(merged.batches[0].units, BTreeSet::from([0, 1]));
    }

    #[test]
    fn index_documents_add_their_directory_forms() {
        let cases: &[(&str, Option<&str>, &[&str])] = &[
            ("index.html", Some("index.html"), &["/index.html", "/"]),
            (
                "docs/index.html",
                Some("index.html"),
                &["/docs/index.html", "/docs/", "/docs"],
            ),
            (
                "a/b/index.html",
                Some("index.html"),
                &["/a/b/index.html", "/a/b/", "/a/b"],
            ),
            (
                "my docs/index.html",
                Some("index.html"),
                &["/my%20docs/index.html", "/my%20docs/", "/my%20docs"],
            ),
            ("docs/index.htm", Some("index.html"), &["/docs/index.htm"]),
            ("docs/myindex.html", Some("index.html"), &["/docs/myindex.html"]),
            ("docs/index.html", None, &["/docs/index.html"]),
            (
                "docs/default.htm",
                Some("default.htm"),
                &["/docs/default.htm", "/docs/", "/docs"],
            ),
            ("d*r/index.html", Some("index.html"), &["/d*"]),
        ];
        for (key, index, want) in cases {
            let got: Vec<String> = paths_for(key, *index).iter().map(ToString::to_string).collect();
            assert_eq!(got, *want, "{key} with {index:?}");
        }
    }

    fn config_with(vars: &[(&str, &str)]) -> Config {
        Config::from_pairs(vars).unwrap()
    }

    #[test]
    fn each_distribution_maps_through_its_own_origin_path() {
        let c = config_with(&[
            ("DISTRIBUTION_IDS", "E1,E2=/static,E3=/media"),
            ("MAX_PATHS", "0"),
        ]);
        let units = one(&[
            change("static/css/app.css", "1"),
            change("media/a.png", "2"),
            change("robots.txt", "3"),
        ]);
        let mapped = plan(&units, &c);
        let got = requests(&mapped);
        assert_eq!(
            got,
            [
                (
                    "E1".to_string(),
                    vec!["/media/a.png", "/robots.txt", "/static/css/app.css"]
                ),
                ("E2".to_string(), vec!["/css/app.css"]),
                ("E3".to_string(), vec!["/a.png"]),
            ]
        );
        assert!(
            mapped.ignored.is_empty(),
            "E1 serves everything: {:?}",
            mapped.ignored
        );
        let stats: Vec<(usize, usize)> = mapped
            .stats
            .iter()
            .map(|s| (s.changes, s.paths_submitted))
            .collect();
        assert_eq!(stats, [(3, 3), (1, 1), (1, 1)]);

        // Keys no distribution serves are ignored once, naming the origin paths.
        let c = config_with(&[("DISTRIBUTION_IDS", "E2=/static,E3=/media")]);
        let unserved = plan(&one(&[change("robots.txt", "3")]), &c);
        assert!(unserved.batches.is_empty());
        assert_eq!(unserved.ignored.len(), 1);
        assert!(
            unserved.ignored[0].reason.contains("/media and /static"),
            "{}",
            unserved.ignored[0].reason
        );
    }

    #[test]
    fn one_distribution_with_two_origin_paths_gets_both_mappings_in_one_request() {
        let c = config_with(&[("DISTRIBUTION_IDS", "E1=/site,E1=/assets"), ("MAX_PATHS", "0")]);
        let units = one(&[
            change("site/index.html", "1"),
            change("assets/app.css", "2"),
            change("other/x.css", "3"),
        ]);
        let mapped = plan(&units, &c);
        assert_eq!(
            requests(&mapped),
            [("E1".to_string(), vec!["/", "/app.css", "/index.html"])]
        );
        assert_eq!(mapped.stats[0].changes, 2);
        assert_eq!(mapped.ignored.len(), 1);
        assert!(
            mapped.ignored[0].reason.contains("/assets and /site"),
            "{:?}",
            mapped.ignored
        );
    }

    #[test]
    fn discovered_targets_apply_per_bucket() {
        let c = config_with(&[("DISTRIBUTION_IDS", "auto")]);
        let id = |s: &str| DistributionId::parse(s).unwrap();
        let origin = |s: &str| crate::config::OriginPath::parse(s).unwrap();
        let by_bucket = BTreeMap::from([
            (
                "b".to_string(),
                Routes::assumed(&[
                    Target {
                        id: id("E1"),
                        origin: None,
                    },
                    Target {
                        id: id("E2"),
                        origin: origin("/x"),
                    },
                ]),
            ),
            ("other".to_string(), vec![]),
        ]);
        let mut units = one(&[change("x/page.html", "1")]);
        units[0].changes.push(Change {
            bucket: "other".into(),
            time_ms: Some(7),
            ..change("y.css", "o")
        });
        let demands = demands(&units, &c, &Targets::ByBucket(&by_bucket), &Units::new());
        assert_eq!(demands.unserved, [(0, Some(7))]);
        assert_eq!(demands.served_by_none, BTreeMap::from([("other".to_string(), 1)]));
        let plan = super::plan(&units, demands, &c, &BTreeMap::new());
        let got = requests(&plan);
        assert_eq!(
            got,
            [
                ("E1".to_string(), vec!["/x/page.html"]),
                ("E2".to_string(), vec!["/page.html"])
            ]
        );
        assert_eq!(
            plan.ignored[0].reason,
            "no distribution has an S3 origin for bucket \"other\""
        );
    }

    #[test]
    fn filters_and_hashed_names_are_ignored_with_their_reason() {
        let c = config_with(&[
            ("DISTRIBUTION_IDS", "E1"),
            ("EXCLUDE", "**/*.map"),
            ("SKIP_HASHED_NAMES", "true"),
        ]);
        let units = one(&[
            change("static/app.js.map", "1"),
            change("static/app.5af66c1b1797.js", "2"),
            change("static/app.js", "3"),
            change("static/staticfiles.json", "4"),
        ]);
        let plan = plan(&units, &c);
        assert_eq!(
            paths(&plan.batches[0]),
            ["/static/app.js", "/static/staticfiles.json"]
        );
        let reasons: Vec<&str> = plan.ignored.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons[0], "matches EXCLUDE pattern **/*.map");
        assert!(
            reasons[1].starts_with("content-hashed name (hash 5af66c1b1797)"),
            "{}",
            reasons[1]
        );
        assert_eq!(plan.stats[0].changes, 2);
    }

    #[test]
    fn the_budget_keeps_a_big_deploy_within_max_paths() {
        let c = config_with(&[("DISTRIBUTION_IDS", "E1"), ("MAX_PATHS", "10")]);
        let changes: Vec<Change> = (0..500)
            .map(|i| change(&format!("static/app{}/css/f{i}.css", i % 3), &i.to_string()))
            .chain([change("index.html", "x")])
            .collect();
        let plan = plan(&one(&changes), &c);
        let stats = &plan.stats[0];
        assert_eq!((stats.changes, stats.paths_requested), (501, 502));
        // Two planners: at most 3 wildcards each.
        assert!(stats.paths_submitted <= 10 && stats.wildcards <= 3, "{stats:?}");
        assert_eq!(
            paths(&plan.batches[0]),
            [
                "/",
                "/index.html",
                "/static/app0/css/*",
                "/static/app1/css/*",
                "/static/app2/css/*"
            ]
        );
    }
}
