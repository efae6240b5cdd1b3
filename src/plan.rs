//! Changes to per-distribution invalidation batches: map keys through the
//! origin path, deduplicate and sort the paths, split them at CloudFront's
//! per-request limit, and derive a caller reference that is the same when the
//! same event is delivered again. Pure: no I/O.

use crate::config::{Config, DistributionId};
use crate::event::{Skipped, Unit};
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
    pub units: BTreeSet<usize>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub batches: Vec<Batch>,
    /// Changes no distribution serves (outside the origin path).
    pub ignored: Vec<Skipped>,
}

/// Plans the invalidations for every change of every unit: per distribution,
/// one request per 3,000 distinct paths, however many units carried them.
pub fn plan(units: &[Unit], config: &Config) -> Plan {
    let mut needed_by: BTreeMap<InvalidationPath, BTreeSet<usize>> = BTreeMap::new();
    let mut ignored = Vec::new();
    for (index, change) in units
        .iter()
        .enumerate()
        .flat_map(|(i, u)| u.changes.iter().map(move |c| (i, c)))
    {
        let relative = match &config.origin_path {
            None => Some(change.key.as_str()),
            Some(origin) => origin.strip(&change.key),
        };
        match relative {
            Some(relative) => {
                needed_by
                    .entry(InvalidationPath::for_key(relative))
                    .or_default()
                    .insert(index);
            }
            None => ignored.push(Skipped {
                bucket: Some(change.bucket.clone()),
                key: Some(change.key.clone()),
                reason: format!(
                    "outside the origin path {}, so no distribution serves it",
                    config
                        .origin_path
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
            }),
        }
    }
    if needed_by.is_empty() {
        return Plan {
            batches: Vec::new(),
            ignored,
        };
    }

    let identities: BTreeSet<&str> = units
        .iter()
        .flat_map(|u| &u.changes)
        .map(|c| c.identity.as_str())
        .collect();
    let paths: Vec<(InvalidationPath, BTreeSet<usize>)> = needed_by.into_iter().collect();
    let batches = config
        .distributions
        .iter()
        .flat_map(|distribution| {
            paths.chunks(MAX_PATHS_PER_REQUEST).map(|chunk| {
                let chunk_paths: Vec<InvalidationPath> = chunk.iter().map(|(p, _)| p.clone()).collect();
                Batch {
                    distribution: distribution.clone(),
                    caller_reference: caller_reference(distribution, &chunk_paths, &identities),
                    paths: chunk_paths,
                    units: chunk.iter().flat_map(|(_, u)| u.iter().copied()).collect(),
                }
            })
        })
        .collect();
    Plan { batches, ignored }
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
            _ => None,
        })
        .unwrap()
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
}
