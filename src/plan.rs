//! Changes to per-distribution invalidation batches: filter the keys, map
//! them through each distribution's origin path, expand index documents,
//! deduplicate and sort the paths, keep them within the wildcard budget,
//! split them at CloudFront's per-request limit, and derive a caller
//! reference that is the same when the same event is delivered again.
//! Pure: no I/O.

use crate::budget::{self, Needs};
use crate::config::{Config, DistributionId, Target};
use crate::event::{Change, Skipped, Unit};
use crate::filter;
use crate::path::InvalidationPath;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Paths one CreateInvalidation request may hold (more is BatchTooLarge).
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
    pub units: BTreeSet<usize>,
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
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub batches: Vec<Batch>,
    pub stats: Vec<Stats>,
    /// Changes left out: filtered, or served by no distribution.
    pub ignored: Vec<Skipped>,
}

/// Which distributions serve a change's bucket.
pub enum Targets<'a> {
    /// The same for every bucket (`DISTRIBUTION_IDS` lists them).
    Same(&'a [Target]),
    /// Found per bucket (`DISTRIBUTION_IDS=auto`).
    ByBucket(&'a BTreeMap<String, Vec<Target>>),
}

impl Targets<'_> {
    fn for_bucket(&self, bucket: &str) -> &[Target] {
        match self {
            Targets::Same(targets) => targets,
            Targets::ByBucket(map) => map.get(bucket).map(Vec::as_slice).unwrap_or_default(),
        }
    }
}

/// Plans the invalidations for every change of every unit: per distribution,
/// one request per 3,000 distinct paths, however many units carried them.
pub fn plan(units: &[Unit], config: &Config, targets: &Targets) -> Plan {
    // In the order distributions are configured (or found), for requests
    // made in that order.
    let mut per_distribution: Vec<(DistributionId, usize, Needs)> = Vec::new();
    let mut ignored = Vec::new();
    let changes = units
        .iter()
        .enumerate()
        .flat_map(|(i, u)| u.changes.iter().map(move |c| (i, c)));
    for (unit, change) in changes {
        let skip = |reason: String| Skipped {
            bucket: Some(change.bucket.clone()),
            key: Some(change.key.clone()),
            reason,
        };
        if let Some(reason) = filter::skip_reason(
            &change.key,
            &config.include,
            &config.exclude,
            config.skip_hashed_names,
        ) {
            ignored.push(skip(reason));
            continue;
        }
        let serving = targets.for_bucket(&change.bucket);
        let mut served_by: BTreeSet<&DistributionId> = BTreeSet::new();
        for target in serving {
            let Some(relative) = target.relative(&change.key) else {
                continue;
            };
            let at = match per_distribution.iter().position(|(id, ..)| *id == target.id) {
                Some(at) => at,
                None => {
                    per_distribution.push((target.id.clone(), 0, Needs::new()));
                    per_distribution.len() - 1
                }
            };
            let (_, seen, needs) = &mut per_distribution[at];
            if served_by.insert(&target.id) {
                *seen += 1;
            }
            for path in paths_for(relative, config.index_document.as_deref()) {
                needs.entry(path).or_default().insert(unit);
            }
        }
        if served_by.is_empty() {
            ignored.push(skip(unserved_reason(change, serving)));
        }
    }

    let identities: BTreeSet<&str> = units
        .iter()
        .flat_map(|u| &u.changes)
        .map(|c| c.identity.as_str())
        .collect();
    let mut batches = Vec::new();
    let mut stats = Vec::new();
    for (distribution, changes, needs) in per_distribution {
        let paths_requested = needs.len();
        let kept: Vec<(InvalidationPath, BTreeSet<usize>)> =
            budget::apply(needs, config.max_paths).into_iter().collect();
        stats.push(Stats {
            distribution: distribution.clone(),
            changes,
            paths_requested,
            paths_submitted: kept.len(),
            wildcards: kept.iter().filter(|(p, _)| p.is_wildcard()).count(),
        });
        for chunk in kept.chunks(MAX_PATHS_PER_REQUEST) {
            let paths: Vec<InvalidationPath> = chunk.iter().map(|(p, _)| p.clone()).collect();
            batches.push(Batch {
                caller_reference: caller_reference(&distribution, &paths, &identities),
                distribution: distribution.clone(),
                paths,
                units: chunk.iter().flat_map(|(_, u)| u.iter().copied()).collect(),
            });
        }
    }
    Plan {
        batches,
        stats,
        ignored,
    }
}

/// The paths viewers may have cached a key under: the key's own, and for an
/// index document its directory with and without the slash (`/` at the root).
pub fn paths_for(relative: &str, index_document: Option<&str>) -> Vec<InvalidationPath> {
    let mut paths = vec![InvalidationPath::for_key(relative)];
    if let Some(index) = index_document {
        let (dir, name) = relative.rsplit_once('/').map_or(("", relative), |(d, n)| (d, n));
        if name == index && !relative.contains('*') {
            if dir.is_empty() {
                paths.push(InvalidationPath::for_key(""));
            } else {
                paths.push(InvalidationPath::for_key(&format!("{dir}/")));
                paths.push(InvalidationPath::for_key(dir));
            }
        }
    }
    paths
}

fn unserved_reason(change: &Change, serving: &[Target]) -> String {
    if serving.is_empty() {
        return format!("no distribution has an S3 origin for bucket {:?}", change.bucket);
    }
    let origins: BTreeSet<String> = serving
        .iter()
        .filter_map(|t| t.origin.as_ref())
        .map(ToString::to_string)
        .collect();
    let origins: Vec<String> = origins.into_iter().collect();
    format!(
        "outside the origin path {}, so no distribution serves it",
        origins.join(" and ")
    )
}

/// A digest of everything that makes this request what it is. CloudFront
/// answers a repeated reference with the invalidation it already has, so an
/// event that Lambda delivers again is not billed again; a new upload of the
/// same key has a new sequencer and time, so it gets a new reference.
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
        Config::from_lookup(|n| match n {
            "DISTRIBUTION_IDS" => Some(ids.into()),
            "ORIGIN_PATH" => Some(origin.into()),
            "MAX_PATHS" => Some("0".into()),
            _ => None,
        })
        .unwrap()
    }

    /// Plans with the listed distributions of `config`.
    fn plan(units: &[Unit], config: &Config) -> Plan {
        let crate::config::Distributions::Listed(targets) = &config.distributions else {
            panic!()
        };
        super::plan(units, config, &Targets::Same(targets))
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
    fn splits_at_three_thousand_paths() {
        let changes: Vec<_> = (0..7001).map(|i| change(&format!("f{i:05}"), "s")).collect();
        let plan = plan(&one(&changes), &config("E1", ""));
        let sizes: Vec<_> = plan.batches.iter().map(|b| b.paths.len()).collect();
        assert_eq!(sizes, [3000, 3000, 1001]);
        assert_eq!(plan.batches[0].paths[0].as_str(), "/f00000");
        assert_eq!(plan.batches[2].paths[1000].as_str(), "/f07000");
        let refs: BTreeSet<_> = plan.batches.iter().map(|b| &b.caller_reference).collect();
        assert_eq!(refs.len(), 3);
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

        // Across a split, a unit belongs only to the requests holding its paths.
        let mut units: Vec<Unit> = (0..3001)
            .map(|i| Unit {
                changes: vec![change(&format!("f{i:05}"), "s")],
                ..Unit::default()
            })
            .collect();
        units.push(Unit {
            changes: vec![change("f00000", "t")],
            ..Unit::default()
        });
        let split = plan(&units, &config("E1", ""));
        assert_eq!(split.batches[1].units, BTreeSet::from([3000]));
        assert_eq!(split.batches[0].units.len(), 3001);
        assert!(split.batches[0].units.contains(&3001));
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
        Config::from_lookup(|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())).unwrap()
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
    fn discovered_targets_apply_per_bucket() {
        let c = config_with(&[("DISTRIBUTION_IDS", "auto")]);
        let id = |s: &str| DistributionId::parse(s).unwrap();
        let origin = |s: &str| crate::config::OriginPath::parse(s).unwrap();
        let by_bucket = BTreeMap::from([
            (
                "b".to_string(),
                vec![
                    Target {
                        id: id("E1"),
                        origin: None,
                    },
                    Target {
                        id: id("E2"),
                        origin: origin("/x"),
                    },
                ],
            ),
            ("other".to_string(), vec![]),
        ]);
        let mut units = one(&[change("x/page.html", "1")]);
        units[0].changes.push(Change {
            bucket: "other".into(),
            key: "y.css".into(),
            identity: "o".into(),
        });
        let plan = super::plan(&units, &c, &Targets::ByBucket(&by_bucket));
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
            .map(|i| change(&format!("static/app{}/css/f{i}.css", i % 4), &i.to_string()))
            .chain([change("index.html", "x")])
            .collect();
        let plan = plan(&one(&changes), &c);
        let stats = &plan.stats[0];
        assert_eq!((stats.changes, stats.paths_requested), (501, 502));
        assert!(
            stats.paths_submitted <= 10 && stats.wildcards <= crate::budget::MAX_WILDCARDS,
            "{stats:?}"
        );
        assert_eq!(
            paths(&plan.batches[0]),
            [
                "/",
                "/index.html",
                "/static/app0/css/*",
                "/static/app1/css/*",
                "/static/app2/css/*",
                "/static/app3/css/*"
            ]
        );
    }
}
