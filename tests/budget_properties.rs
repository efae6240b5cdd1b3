//! Properties of the wildcard budget on random deploys: every changed path
//! stays covered, and never more than MAX_PATHS paths or MAX_WILDCARDS
//! wildcards are submitted.

use cloudfront_invalidator::budget::{self, MAX_WILDCARDS, Needs};
use cloudfront_invalidator::path::InvalidationPath;
use proptest::prelude::*;
use std::collections::BTreeSet;

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
        max_paths in 0usize..40,
    ) {
        let needs: Needs = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (InvalidationPath::for_key(k), BTreeSet::from([i])))
            .collect();
        let out = budget::apply(needs.clone(), max_paths);
        if max_paths > 0 {
            prop_assert!(out.len() <= max_paths, "{} paths over a budget of {max_paths}", out.len());
        }
        let wildcards = out.keys().filter(|p| p.is_wildcard()).count();
        prop_assert!(wildcards <= MAX_WILDCARDS, "{wildcards} wildcards");
        for (path, units) in &needs {
            let covering: Vec<_> = out.iter().filter(|(p, _)| budget::covers(p, path)).collect();
            prop_assert!(!covering.is_empty(), "{path} is not covered by {:?}", out.keys().collect::<Vec<_>>());
            // The units that need a path are reported with a request that covers it.
            prop_assert!(units.iter().all(|u| covering.iter().any(|(_, us)| us.contains(u))));
        }
        if needs.len() <= max_paths && needs.keys().filter(|p| p.is_wildcard()).count() <= MAX_WILDCARDS {
            prop_assert_eq!(out, needs, "within budget nothing changes");
        }
    }
}
