//! The wildcard budget: when a distribution has more distinct paths than
//! `MAX_PATHS`, groups of paths are replaced by the deepest directory
//! wildcards that bring the count within budget, so a big deploy costs a few
//! paths instead of thousands. Pure: no I/O.

use crate::path::InvalidationPath;
use std::collections::{BTreeMap, BTreeSet};

/// Wildcards one invocation may submit per distribution. CloudFront allows 15
/// wildcard paths in progress per distribution; the queue wirings run at most
/// 2 invocations at once, so 7 each stays under it.
pub const MAX_WILDCARDS: usize = 7;

/// Paths, each with the units (SQS messages) that need it.
pub type Needs = BTreeMap<InvalidationPath, BTreeSet<usize>>;

/// Brings `paths` within `max_paths` paths and [`MAX_WILDCARDS`] wildcards by
/// replacing the paths under a directory with `dir/*`, deepest directories
/// first and, at one depth, the ones holding most paths first; it stops as
/// soon as both limits hold. Every input path stays covered by an output path
/// (itself or a wildcard over one of its directories). `max_paths` 0 means no
/// budget: only the wildcard limit applies.
pub fn apply(paths: Needs, max_paths: usize) -> Needs {
    let fits = |items: &Needs| {
        (max_paths == 0 || items.len() <= max_paths)
            && items.keys().filter(|p| p.is_wildcard()).count() <= MAX_WILDCARDS
    };
    let mut items = paths;
    if fits(&items) {
        return items;
    }
    let deepest = items
        .keys()
        .map(|p| directory_depth(p.as_str()))
        .max()
        .unwrap_or(0);
    for depth in (0..=deepest).rev() {
        // The items under each directory at this depth.
        let mut groups: BTreeMap<String, Vec<InvalidationPath>> = BTreeMap::new();
        for path in items.keys() {
            if let Some(dir) = ancestor(path.as_str(), depth) {
                groups.entry(dir.to_owned()).or_default().push(path.clone());
            }
        }
        let mut groups: Vec<(String, Vec<InvalidationPath>)> = groups
            .into_iter()
            .filter(|(_, members)| members.len() >= 2)
            .collect();
        groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
        for (dir, members) in groups {
            if fits(&items) {
                return items;
            }
            let mut units = BTreeSet::new();
            for member in &members {
                units.extend(items.remove(member).unwrap_or_default());
            }
            items
                .entry(InvalidationPath::wildcard_for_directory(&dir))
                .or_default()
                .extend(units);
        }
    }
    items
}

/// Depth of the directory an item stands for: `/a/b/c.css` is in `/a/b/`
/// (depth 2); the wildcard `/a/b/*` covers `/a/b/` (depth 2); `/a/b*` (a key
/// with `*`) is in `/a/` (depth 1).
fn directory_depth(path: &str) -> usize {
    path.trim_end_matches('*').matches('/').count() - 1
}

/// The directory at `depth` above an item (`/` is depth 0), with its
/// trailing slash; `None` when the item is not below that depth. An item
/// is a member of its own directory's group only when it is not that
/// directory's wildcard already.
fn ancestor(path: &str, depth: usize) -> Option<&str> {
    let own = path.trim_end_matches('*');
    if directory_depth(path) < depth {
        return None;
    }
    let end = own.match_indices('/').nth(depth).map(|(i, _)| i + 1)?;
    Some(&own[..end])
}

/// True when `path` covers `target`: equal, or a wildcard that is a prefix of it.
pub fn covers(path: &InvalidationPath, target: &InvalidationPath) -> bool {
    match path.as_str().strip_suffix('*') {
        Some(prefix) => target.as_str().starts_with(prefix),
        None => path == target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(paths: &[&str]) -> Needs {
        paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    InvalidationPath::for_key(p.trim_start_matches('/')),
                    BTreeSet::from([i]),
                )
            })
            .collect()
    }

    fn keys(needs: &Needs) -> Vec<&str> {
        needs.keys().map(InvalidationPath::as_str).collect()
    }

    #[test]
    fn within_budget_nothing_changes() {
        let input = needs(&["/a/x.css", "/b/y.css"]);
        assert_eq!(apply(input.clone(), 2), input);
        assert_eq!(apply(input.clone(), 0), input);
    }

    #[test]
    fn deepest_busiest_directory_goes_first() {
        let input = needs(&[
            "/static/admin/css/a.css",
            "/static/admin/css/b.css",
            "/static/admin/css/c.css",
            "/static/admin/js/a.js",
            "/static/admin/js/b.js",
            "/index.html",
        ]);
        // 6 paths, budget 4: collapsing css/ (3 -> 1) is enough.
        assert_eq!(
            keys(&apply(input.clone(), 4)),
            [
                "/index.html",
                "/static/admin/css/*",
                "/static/admin/js/a.js",
                "/static/admin/js/b.js"
            ]
        );
        // Budget 3: both leaf directories.
        assert_eq!(
            keys(&apply(input.clone(), 3)),
            ["/index.html", "/static/admin/css/*", "/static/admin/js/*"]
        );
        // Budget 2: their parent.
        assert_eq!(keys(&apply(input.clone(), 2)), ["/index.html", "/static/admin/*"]);
        // Budget 1: everything.
        assert_eq!(keys(&apply(input, 1)), ["/*"]);
    }

    #[test]
    fn units_follow_their_paths_into_the_wildcard() {
        let input = needs(&["/a/x.css", "/a/y.css", "/b.css"]);
        let out = apply(input, 2);
        let wildcard = InvalidationPath::wildcard_for_directory("/a/");
        assert_eq!(out[&wildcard], BTreeSet::from([0, 1]));
    }

    #[test]
    fn too_many_wildcards_merge_upwards() {
        let dirs: Vec<String> = (0..10).map(|i| format!("/site/d{i}/f*.txt")).collect();
        let refs: Vec<&str> = dirs.iter().map(String::as_str).collect();
        let out = apply(needs(&refs), 0);
        assert!(
            out.keys().filter(|p| p.is_wildcard()).count() <= MAX_WILDCARDS,
            "{:?}",
            keys(&out)
        );
        assert!(out.len() < 10);
    }

    #[test]
    fn coverage() {
        let w = InvalidationPath::wildcard_for_directory("/a/");
        assert!(covers(&w, &InvalidationPath::for_key("a/b/c")));
        assert!(!covers(&w, &InvalidationPath::for_key("ab/c")));
        assert!(covers(
            &InvalidationPath::for_key("x"),
            &InvalidationPath::for_key("x")
        ));
    }
}
