//! Which changes an invalidation CloudFront already accepted covers: one
//! created at least a margin after S3 reported the change, with the change's
//! path or a wildcard over it. Such a change needs no new request (a message
//! that comes back for a retry, or a change that a later request's wildcard
//! caught). The function itself never creates an invalidation sooner than
//! that margin after a change it is for (see `handler`), so the rule is the
//! same on the first delivery and on every retry: what a first delivery
//! created covers its changes when they come back. Pure: no I/O.

use crate::budget::{ChangeRef, Needs};
use std::collections::BTreeSet;

/// How much later than S3's report of a change an invalidation must have
/// been created to cover it, by default (`MARGIN_SECONDS`). What it protects
/// against: an edge fill that read the old object before the change and
/// lands after the invalidation. An edge may honour an invalidation as soon
/// as it is created, and a fill lands within CloudFront's origin response
/// timeout (30 s by default) of its request; so an invalidation created a
/// minute after the change leaves no such fill behind. S3's and
/// CloudFront's clocks are AWS's and agree to far less than that. A change
/// reported with no time is never covered.
pub const MARGIN_MS: i64 = 60_000;

/// An invalidation CloudFront accepted for a distribution: in progress or
/// complete, this environment's or another client's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub id: String,
    /// CloudFront's CreateTime, in milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Its paths, as CloudFront holds them.
    pub paths: Vec<String>,
}

impl Accepted {
    /// Whether this invalidation reaches `path` (as this function encodes
    /// it) for a change S3 reported at `changed_ms`, created at least
    /// `margin_ms` after it. Paths compare as strings: a path another client
    /// encoded differently covers nothing, which only costs a request.
    pub fn covers(&self, path: &str, changed_ms: Option<i64>, margin_ms: i64) -> bool {
        let Some(changed) = changed_ms else {
            return false;
        };
        self.created_ms >= changed.saturating_add(margin_ms)
            && self.paths.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => p == path,
            })
    }
}

/// What covering took out of a distribution's needs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Covered {
    /// Changes none of whose paths are needed any more.
    pub changes: usize,
    /// The invalidations that covered them.
    pub by: BTreeSet<String>,
}

/// Takes out of `needs` each change's path that an invalidation in `accepted`
/// covers with `margin_ms` (the path stays for the changes it does not
/// cover), and drops the paths no change needs any more.
pub fn remove_covered(
    needs: &mut Needs,
    changes: impl Fn(ChangeRef) -> Option<i64>,
    accepted: &[Accepted],
    margin_ms: i64,
) -> Covered {
    let mut covered = Covered::default();
    if accepted.is_empty() {
        return covered;
    }
    let before: BTreeSet<ChangeRef> = needs.values().flatten().copied().collect();
    for (path, refs) in needs.iter_mut() {
        refs.retain(|&at| {
            match accepted
                .iter()
                .find(|m| m.covers(path.as_str(), changes(at), margin_ms))
            {
                Some(m) => {
                    covered.by.insert(m.id.clone());
                    false
                }
                None => true,
            }
        });
    }
    needs.retain(|_, refs| !refs.is_empty());
    let after: BTreeSet<ChangeRef> = needs.values().flatten().copied().collect();
    covered.changes = before.difference(&after).count();
    covered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::InvalidationPath;

    const T: i64 = 1_795_000_000_000;

    fn accepted(id: &str, created_ms: i64, paths: &[&str]) -> Accepted {
        Accepted {
            id: id.into(),
            created_ms,
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn an_exact_path_or_a_wildcard_over_it_created_later_covers() {
        let later = T + MARGIN_MS;
        assert!(accepted("I", later, &["/css/app.css"]).covers("/css/app.css", Some(T), MARGIN_MS));
        assert!(accepted("I", later, &["/css/*"]).covers("/css/app.css", Some(T), MARGIN_MS));
        assert!(accepted("I", later, &["/*"]).covers("/css/app.css", Some(T), MARGIN_MS));
        assert!(accepted("I", later, &["/css/app*"]).covers("/css/app.css", Some(T), MARGIN_MS));
        // A wildcard path of ours (a key with `~` or `*`) under a wider one.
        assert!(accepted("I", later, &["/docs/*"]).covers("/docs/*", Some(T), MARGIN_MS));
        assert!(!accepted("I", later, &["/docs/a*"]).covers("/docs/*", Some(T), MARGIN_MS));
    }

    #[test]
    fn other_paths_earlier_invalidations_and_unknown_times_cover_nothing() {
        let later = T + MARGIN_MS;
        assert!(!accepted("I", later, &["/css/app.css"]).covers("/css/app.cs", Some(T), MARGIN_MS));
        assert!(!accepted("I", later, &["/css/app.cs"]).covers("/css/app.css", Some(T), MARGIN_MS));
        assert!(!accepted("I", later, &["/js/*"]).covers("/css/app.css", Some(T), MARGIN_MS));
        // Another encoding of the same key is not recognised.
        assert!(!accepted("I", later, &["/a%20b.txt"]).covers("/a b.txt", Some(T), MARGIN_MS));
        // Created before the change, or within the margin after it.
        assert!(!accepted("I", T - 1, &["/*"]).covers("/css/app.css", Some(T), MARGIN_MS));
        assert!(!accepted("I", T + MARGIN_MS - 1, &["/*"]).covers("/css/app.css", Some(T), MARGIN_MS));
        assert!(!accepted("I", later, &["/*"]).covers("/css/app.css", None, MARGIN_MS));
    }

    #[test]
    fn only_the_covered_changes_leave_a_path() {
        let path = |p: &str| InvalidationPath::for_key(p);
        let mut needs = Needs::new();
        // Change (0, 0) was reported long ago, (1, 0) after the invalidation.
        needs.insert(path("css/app.css"), [(0, 0), (1, 0)].into());
        needs.insert(path("css/site.css"), [(0, 1)].into());
        needs.insert(path("js/app.js"), [(0, 2)].into());
        let times = |at: ChangeRef| Some(if at.0 == 1 { T + 2 * MARGIN_MS } else { T });
        let covered = remove_covered(
            &mut needs,
            times,
            &[accepted("I1", T + MARGIN_MS, &["/css/*"])],
            MARGIN_MS,
        );
        assert_eq!(covered.changes, 2, "(0, 0) and (0, 1); (1, 0) is newer");
        assert_eq!(covered.by, ["I1".to_string()].into());
        let left: Vec<(&str, Vec<ChangeRef>)> = needs
            .iter()
            .map(|(p, refs)| (p.as_str(), refs.iter().copied().collect()))
            .collect();
        assert_eq!(
            left,
            vec![("/css/app.css", vec![(1, 0)]), ("/js/app.js", vec![(0, 2)])]
        );
    }

    #[test]
    fn a_change_with_one_path_left_is_not_counted_covered() {
        let path = |p: &str| InvalidationPath::for_key(p);
        let mut needs = Needs::new();
        // docs/index.html needs three paths; only one is covered.
        for p in ["docs/index.html", "docs/", "docs"] {
            needs.insert(path(p), [(0, 0)].into());
        }
        let covered = remove_covered(
            &mut needs,
            |_| Some(T),
            &[accepted("I", T + MARGIN_MS, &["/docs/index.html"])],
            MARGIN_MS,
        );
        assert_eq!(covered.changes, 0);
        assert_eq!(needs.len(), 2);
    }
}
