//! What one request to a distribution may hold, and how the paths a change
//! needs are brought within it: CloudFront's in-progress limits shared with
//! every invocation that may plan at the same time, and the `MAX_PATHS`
//! budget. Groups of paths become
//! the deepest directory wildcards that fit, so a big deploy costs a few paths
//! instead of thousands; what cannot fit at all waits for a later retry.
//! Pure: no I/O.

use crate::event::{UnitIndex, Units};
use crate::path::InvalidationPath;
use std::collections::{BTreeMap, BTreeSet};

/// What CloudFront holds in progress per distribution (Developer Guide,
/// "Concurrent invalidation request maximum"): 3,000 file paths and,
/// separately, 15 wildcard paths. A request past either is refused with
/// TooManyInvalidationsInProgress.
pub const HELD_FILES: usize = 3000;
pub const HELD_WILDCARDS: usize = 15;

/// An invocation's share of what a distribution has free, out of `limit`
/// (3,000 file paths, or 15 wildcards), when at most `planners`
/// invocations may plan for it at the same time (`MAX_CONCURRENCY`).
///
/// Each takes at most `cap` = limit / (2 x planners) (at least 1), and only
/// what leaves `cap` free for each of the others: min(cap, free -
/// (planners - 1) x cap). This holds whatever the order of reads and
/// requests: call `claims` what invocations have read the room for and not
/// yet created.
/// At any moment at most `planners - 1` others hold a claim, each at most
/// `cap`; one that reads `free` and claims within `free - (planners - 1) x
/// cap` keeps in progress + claims within the limit; creating moves a claim
/// into what is in progress, and a completion frees room. So no request of
/// the function is refused for the limits, however long one of them waits
/// between its read and its request (retries, another distribution first),
/// and however many others plan and create meanwhile. (A share of what is
/// free, such as half, does not: a slow invocation's share of an early read
/// plus the shares of many quick ones that read after it exceed the room.)
/// Another client's invalidations are outside this count, and CloudFront
/// refuses what they leave no room for.
pub fn share(limit: usize, free: usize, planners: usize) -> usize {
    let planners = planners.max(1);
    let cap = (limit / (2 * planners)).max(1);
    cap.min(free.saturating_sub((planners - 1) * cap))
}

/// A change's place in the event: (unit, change within the unit).
pub type ChangeRef = (UnitIndex, usize);

/// Paths, each with the changes that need it.
pub type Needs = BTreeMap<InvalidationPath, BTreeSet<ChangeRef>>;

/// Paths in progress at a distribution, as CloudFront counts them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Held {
    pub files: usize,
    pub wildcards: usize,
}

impl Held {
    pub fn of<'p>(paths: impl IntoIterator<Item = &'p str>) -> Self {
        let mut held = Held::default();
        for path in paths {
            if path.ends_with('*') {
                held.wildcards += 1;
            } else {
                held.files += 1;
            }
        }
        held
    }
}

impl std::ops::Add for Held {
    type Output = Held;

    fn add(self, other: Held) -> Held {
        Held {
            files: self.files + other.files,
            wildcards: self.wildcards + other.wildcards,
        }
    }
}

/// What one request may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// All paths, billed: `MAX_PATHS`.
    pub paths: usize,
    /// Paths without a wildcard.
    pub files: usize,
    pub wildcards: usize,
}

impl Room {
    /// This invocation's [`share`] of what the distribution has free when
    /// it holds `held`, with at most `planners` invocations planning at
    /// once, within `max_paths`.
    pub fn share(max_paths: usize, held: Held, planners: usize) -> Room {
        Room {
            paths: max_paths,
            files: share(HELD_FILES, HELD_FILES.saturating_sub(held.files), planners),
            wildcards: share(
                HELD_WILDCARDS,
                HELD_WILDCARDS.saturating_sub(held.wildcards),
                planners,
            ),
        }
    }

    fn holds(&self, items: &Needs) -> bool {
        let held = Held::of(items.keys().map(InvalidationPath::as_str));
        items.len() <= self.paths && held.files <= self.files && held.wildcards <= self.wildcards
    }
}

/// The paths to request, and the units (SQS messages) left for a retry.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fitted {
    pub kept: Needs,
    pub deferred: Units,
}

/// Brings `needs` within `room`. When they do not fit as they are, the paths
/// under a directory are replaced by `dir/*`, deepest directories first and,
/// at one depth, the ones holding most paths first, stopping as soon as they
/// fit; every path stays covered (by itself or a wildcard over one of its
/// directories). Without a wildcard to spend, exact paths are kept unit by
/// unit while they fit, and the other units are deferred whole: their
/// changes are not in the request, so they are reported for a retry.
pub fn fit(needs: Needs, room: Room) -> Fitted {
    if room.holds(&needs) {
        return Fitted {
            kept: needs,
            deferred: BTreeSet::new(),
        };
    }
    if room.wildcards > 0 && room.paths > 0 {
        // Always fits: at worst everything is under "/*".
        let kept = collapse(needs, &room);
        debug_assert!(room.holds(&kept));
        return Fitted {
            kept,
            deferred: BTreeSet::new(),
        };
    }
    defer(needs, &room)
}

/// The wildcard budget proper: see [`fit`].
fn collapse(needs: Needs, room: &Room) -> Needs {
    let mut items = needs;
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
        // A wildcard over one path saves nothing, but at the top it is the
        // last resort: with no room for exact paths, `/*` still fits.
        let mut groups: Vec<(String, Vec<InvalidationPath>)> = groups
            .into_iter()
            .filter(|(_, members)| members.len() >= 2 || depth == 0)
            .collect();
        groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
        for (dir, members) in groups {
            if room.holds(&items) {
                return items;
            }
            let mut changes = BTreeSet::new();
            for member in &members {
                changes.extend(items.remove(member).unwrap_or_default());
            }
            items
                .entry(InvalidationPath::wildcard_for_directory(&dir))
                .or_default()
                .extend(changes);
        }
    }
    items
}

/// Exact paths, unit by unit in order, while they fit; the rest deferred.
fn defer(needs: Needs, room: &Room) -> Fitted {
    let mut by_unit: BTreeMap<UnitIndex, Vec<&InvalidationPath>> = BTreeMap::new();
    for (path, changes) in &needs {
        for &(unit, _) in changes {
            by_unit.entry(unit).or_default().push(path);
        }
    }
    let mut kept = Needs::new();
    let mut deferred = Units::new();
    for (unit, paths) in by_unit {
        let mut with_unit = kept.clone();
        for path in paths {
            with_unit.entry(path.clone()).or_default();
        }
        if room.holds(&with_unit) {
            kept = with_unit;
        } else {
            deferred.insert(unit);
        }
    }
    // Each kept path with the changes of the units that are kept.
    for (path, changes) in kept.iter_mut() {
        changes.extend(needs[path].iter().filter(|(unit, _)| !deferred.contains(unit)));
    }
    Fitted { kept, deferred }
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

    /// One unit per path, each with one change.
    fn needs(paths: &[&str]) -> Needs {
        paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    InvalidationPath::for_key(p.trim_start_matches('/')),
                    BTreeSet::from([(i, 0)]),
                )
            })
            .collect()
    }

    fn keys(needs: &Needs) -> Vec<&str> {
        needs.keys().map(InvalidationPath::as_str).collect()
    }

    /// Room for `paths` paths with nothing in progress, two planners.
    fn budget(paths: usize) -> Room {
        Room::share(paths, Held::default(), 2)
    }

    fn kept(needs: Needs, room: Room) -> Needs {
        let fitted = fit(needs, room);
        assert!(fitted.deferred.is_empty(), "{:?}", fitted.deferred);
        fitted.kept
    }

    #[test]
    fn within_budget_nothing_changes() {
        let input = needs(&["/a/x.css", "/b/y.css"]);
        assert_eq!(kept(input.clone(), budget(2)), input);
        assert_eq!(kept(input.clone(), budget(HELD_FILES)), input);
    }

    #[test]
    fn the_share_leaves_room_for_every_other_planner() {
        // Two planners: at most 750 files and 3 wildcards each, and only what
        // leaves as much for the other.
        assert_eq!(
            budget(100),
            Room {
                paths: 100,
                files: 750,
                wildcards: 3
            }
        );
        let wildcards: Vec<usize> = (0..=15).map(|free| share(HELD_WILDCARDS, free, 2)).collect();
        assert_eq!(wildcards, [0, 0, 0, 0, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]);
        // Five planners: one wildcard each, while five are free.
        let five: Vec<usize> = (0..=15).map(|free| share(HELD_WILDCARDS, free, 5)).collect();
        assert_eq!(five, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        // Fifteen or more: none ever (CloudFront holds 15).
        assert_eq!(share(HELD_WILDCARDS, 15, 16), 0);
        assert_eq!(share(HELD_FILES, 3000, 1), 1500);
        let busy = Held {
            files: 2990,
            wildcards: 14,
        };
        assert_eq!(
            Room::share(3000, busy, 2),
            Room {
                paths: 3000,
                files: 0,
                wildcards: 0
            }
        );
        let over = Held {
            files: 4000,
            wildcards: 20,
        };
        assert_eq!(Room::share(3000, over, 2).files, 0);
        assert_eq!(
            Held::of(["/a", "/b*", "/c/*", "/d"]),
            Held {
                files: 2,
                wildcards: 2
            }
        );
    }

    #[test]
    fn a_slow_planner_and_many_quick_ones_stay_within_the_limit() {
        // The schedule: B reads 15 free wildcards, takes its share,
        // and stalls; A1, A2... each read (not seeing B's claim) and create
        // theirs; then B creates its own.
        for planners in 2..=6 {
            let b = share(HELD_WILDCARDS, HELD_WILDCARDS, planners);
            let mut held = 0;
            loop {
                let a = share(HELD_WILDCARDS, HELD_WILDCARDS - held, planners);
                if a == 0 {
                    break;
                }
                held += a;
            }
            assert!(held + b <= HELD_WILDCARDS, "{planners} planners: {held} + {b}");
        }
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
            keys(&kept(input.clone(), budget(4))),
            [
                "/index.html",
                "/static/admin/css/*",
                "/static/admin/js/a.js",
                "/static/admin/js/b.js"
            ]
        );
        // Budget 3: both leaf directories.
        assert_eq!(
            keys(&kept(input.clone(), budget(3))),
            ["/index.html", "/static/admin/css/*", "/static/admin/js/*"]
        );
        // Budget 2: their parent.
        assert_eq!(
            keys(&kept(input.clone(), budget(2))),
            ["/index.html", "/static/admin/*"]
        );
        // Budget 1: everything.
        assert_eq!(keys(&kept(input, budget(1))), ["/*"]);
    }

    #[test]
    fn changes_follow_their_paths_into_the_wildcard() {
        let input = needs(&["/a/x.css", "/a/y.css", "/b.css"]);
        let out = kept(input, budget(2));
        let wildcard = InvalidationPath::wildcard_for_directory("/a/");
        assert_eq!(out[&wildcard], BTreeSet::from([(0, 0), (1, 0)]));
    }

    #[test]
    fn too_many_wildcards_merge_upwards() {
        let dirs: Vec<String> = (0..10).map(|i| format!("/site/d{i}/f*.txt")).collect();
        let refs: Vec<&str> = dirs.iter().map(String::as_str).collect();
        let out = kept(needs(&refs), budget(HELD_FILES));
        assert!(
            out.keys().filter(|p| p.is_wildcard()).count() <= 4,
            "{:?}",
            keys(&out)
        );
        assert!(out.len() < 10);
    }

    #[test]
    fn fewer_free_wildcards_mean_coarser_wildcards() {
        let paths: Vec<String> = (0..40).map(|i| format!("/site/d{}/f{i}.css", i % 3)).collect();
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let roomy = kept(needs(&refs), budget(10));
        assert_eq!(keys(&roomy), ["/site/d0/*", "/site/d1/*", "/site/d2/*"]);
        let busy = Held {
            files: 0,
            wildcards: 11,
        };
        let tight = kept(needs(&refs), Room::share(10, busy, 2));
        assert_eq!(keys(&tight), ["/site/*"]);
    }

    #[test]
    fn without_room_for_an_exact_path_a_wildcard_covers_it() {
        let busy = Held {
            files: 2999,
            wildcards: 0,
        };
        assert_eq!(
            keys(&kept(needs(&["/dir/app.css"]), Room::share(1, busy, 2))),
            ["/*"]
        );
    }

    #[test]
    fn without_a_free_wildcard_exact_paths_fit_and_the_rest_waits() {
        let input = needs(&["/a/1.css", "/a/2.css", "/a/3.css", "/b/4.css"]);
        let busy = Held {
            files: 0,
            wildcards: 15,
        };
        let fitted = fit(input, Room::share(2, busy, 2));
        assert_eq!(keys(&fitted.kept), ["/a/1.css", "/a/2.css"]);
        assert_eq!(fitted.deferred, BTreeSet::from([2, 3]));
        // Nothing free at all: everything waits, nothing is requested.
        let full = Held {
            files: 3000,
            wildcards: 15,
        };
        let fitted = fit(needs(&["/x.css"]), Room::share(100, full, 2));
        assert!(fitted.kept.is_empty());
        assert_eq!(fitted.deferred, BTreeSet::from([0]));
    }

    #[test]
    fn a_unit_is_kept_or_deferred_whole() {
        // Unit 0 needs two paths, unit 1 one shared with unit 0 and one more.
        let p = |k: &str| InvalidationPath::for_key(k);
        let input: Needs = [
            (p("a.css"), BTreeSet::from([(0, 0), (1, 0)])),
            (p("b.css"), BTreeSet::from([(0, 1)])),
            (p("c.css"), BTreeSet::from([(1, 1)])),
        ]
        .into();
        let room = Room {
            paths: 2,
            files: 2,
            wildcards: 0,
        };
        let fitted = fit(input, room);
        assert_eq!(keys(&fitted.kept), ["/a.css", "/b.css"]);
        assert_eq!(fitted.deferred, BTreeSet::from([1]));
        // The deferred unit's change is not counted as covered.
        assert_eq!(fitted.kept[&p("a.css")], BTreeSet::from([(0, 0)]));
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
