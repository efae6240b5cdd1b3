//! Properties of the budget on random deploys and random in-progress states:
//! every changed path stays covered or its unit waits for a retry, and a
//! request never holds more than MAX_PATHS paths or this invocation's share
//! of what CloudFront has free.

use cloudfront_invalidator::budget::{self, Held, Needs, Room};
use cloudfront_invalidator::path::InvalidationPath;
use proptest::prelude::*;

/// Keys in a small random tree (so directories are shared), some with `*`,
/// some index documents' directory forms.
fn key() -> impl Strategy<Value = String> {
    let segment = prop::sample::select(vec![
        "static",
        "admin",
        "css",
        "js",
        "img",
        "docs",
        "a b",
        "caf\u{e9}",
        "x",
    ]);
    let name = prop::sample::select(vec![
        "app.css",
        "index.html",
        "f1.js",
        "f2.js",
        "logo.svg",
        "s*tar.txt",
        "",
    ]);
    (prop::collection::vec(segment, 0..5), name).prop_map(|(dirs, name)| {
        let mut key = dirs.join("/");
        if !key.is_empty() {
            key.push('/');
        }
        key.push_str(name);
        key
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn budget_covers_everything_within_its_limits(
        keys in prop::collection::vec(key(), 1..300),
        max_paths in 1usize..40,
        busy_files in prop::sample::select(vec![0usize, 2900, 2990, 2999, 3000]),
        busy_wildcards in 0usize..=15,
        planners in 1usize..=6,
    ) {
        // Each key is one unit (an SQS message) with one change.
        let needs: Needs = keys
            .iter()
            .enumerate()
            .fold(Needs::new(), |mut needs, (i, k)| {
                needs.entry(InvalidationPath::for_key(k)).or_default().insert((i, 0));
                needs
            });
        let busy = Held { files: busy_files, wildcards: busy_wildcards };
        let room = Room::share(max_paths, busy, planners);
        let fitted = budget::fit(needs.clone(), room);
        let out = &fitted.kept;
        let held = Held::of(out.keys().map(InvalidationPath::as_str));
        prop_assert!(out.len() <= max_paths, "{} paths over a budget of {max_paths}", out.len());
        prop_assert!(held.files <= room.files, "{} files, room {}", held.files, room.files);
        prop_assert!(held.wildcards <= room.wildcards, "{} wildcards, room {}", held.wildcards, room.wildcards);
        // Together with every other planner taking as much, never more
        // than CloudFront holds.
        prop_assert!(busy.files.min(3000) + planners * held.files <= 3000);
        prop_assert!(busy.wildcards.min(15) + planners * held.wildcards <= 15);
        for (path, changes) in &needs {
            for change in changes {
                if fitted.deferred.contains(&change.0) {
                    // A deferred unit is in no request's changes.
                    prop_assert!(out.values().all(|cs| !cs.contains(change)));
                    continue;
                }
                // Covered, and reported with a request that covers it.
                let covering: Vec<_> = out.iter().filter(|(p, _)| budget::covers(p, path)).collect();
                prop_assert!(
                    covering.iter().any(|(_, cs)| cs.contains(change)),
                    "{path} of {change:?} is not covered by {:?}",
                    out.keys().collect::<Vec<_>>()
                );
            }
        }
        // With a wildcard to spend, nothing waits.
        if room.wildcards > 0 {
            prop_assert!(fitted.deferred.is_empty(), "{:?}", fitted.deferred);
        }
        let fits = needs.len() <= max_paths
            && Held::of(needs.keys().map(InvalidationPath::as_str)).wildcards <= room.wildcards
            && Held::of(needs.keys().map(InvalidationPath::as_str)).files <= room.files;
        if fits {
            prop_assert_eq!(out, &needs, "within budget nothing changes");
        }
    }
}

/// One planner's step in a schedule: read the room and claim a share, or
/// create what it claimed, or an invalidation completes.
#[derive(Debug, Clone, Copy)]
enum Step {
    Read(usize),
    Create(usize),
    Complete,
}

fn step(planners: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..planners).prop_map(Step::Read),
        (0..planners).prop_map(Step::Create),
        Just(Step::Complete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the order in which at most `planners` invocations read the
    /// room, create what they claimed and see invalidations complete, what
    /// is in progress never passes CloudFront's limit.
    #[test]
    fn no_schedule_of_planners_passes_the_limit(
        (planners, steps) in (1usize..=6).prop_flat_map(|p| (Just(p), prop::collection::vec(step(p), 1..200))),
        limit in prop::sample::select(vec![15usize, 3000]),
    ) {
        let mut held: Vec<usize> = Vec::new();
        let mut claims: Vec<Option<usize>> = vec![None; planners];
        for step in steps {
            match step {
                Step::Read(p) if claims[p].is_none() => {
                    let in_progress: usize = held.iter().sum();
                    claims[p] = Some(budget::share(limit, limit.saturating_sub(in_progress), planners));
                }
                Step::Create(p) => {
                    if let Some(claim) = claims[p].take().filter(|&c| c > 0) {
                        held.push(claim);
                        let in_progress: usize = held.iter().sum();
                        prop_assert!(in_progress <= limit, "{in_progress} in progress of {limit}, {planners} planners");
                    }
                }
                Step::Complete if !held.is_empty() => {
                    held.remove(0);
                }
                _ => {}
            }
        }
    }
}
