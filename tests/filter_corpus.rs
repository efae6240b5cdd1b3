//! `SKIP_HASHED_NAMES` against real file names (tests/fixtures/file-names,
//! built by tools/corpus/build.sh from real packages and real build output):
//! no plain name may be taken for a hashed one, since it would never be
//! invalidated; the share of hashed names recognised is reported.

use cloudfront_invalidator::filter::content_hash;
use std::collections::BTreeMap;
use std::path::Path;

/// The entries of a corpus file: its lines, without comments, split at tabs.
fn corpus(file: &str) -> Vec<Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/file-names")
        .join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

#[test]
fn no_plain_name_is_skipped() {
    let plain = corpus("plain.txt");
    assert!(plain.len() >= 300, "{} plain names", plain.len());
    let skipped: Vec<(&str, &str)> = plain
        .iter()
        .filter_map(|entry| Some((entry[0].as_str(), content_hash(&entry[0])?)))
        .collect();
    assert_eq!(skipped, [], "plain names taken for hashed ones (key, hash)");
}

#[test]
fn most_hashed_names_are_recognised_with_their_exact_hash() {
    let hashed = corpus("hashed.txt");
    let mut per_tool: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for entry in &hashed {
        let [key, hash, tool] = entry.as_slice() else {
            panic!("key<TAB>hash<TAB>tool expected: {entry:?}")
        };
        let found = content_hash(key);
        // Never a different part of the name: that would be a lucky guess.
        assert!(
            found.is_none() || found == Some(hash.as_str()),
            "{key}: {found:?}, made {hash}"
        );
        let counts = per_tool.entry(tool).or_default();
        counts.0 += usize::from(found.is_some());
        counts.1 += 1;
    }
    let recognised: usize = per_tool.values().map(|c| c.0).sum();
    println!("hashed names recognised, per tool:");
    for (tool, (found, all)) in &per_tool {
        println!("  {tool}: {found} of {all}");
    }
    let share = 100.0 * recognised as f64 / hashed.len() as f64;
    println!("in all: {recognised} of {} ({share:.1}%)", hashed.len());
    // A floor, so that a change making the rule blind shows up.
    assert!(share >= 80.0, "{share:.1}% recognised");
}
