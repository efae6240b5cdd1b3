//! `SKIP_HASHED_NAMES` against real file names (tests/fixtures/file-names,
//! built by tools/corpus/build.sh from real packages and real build output):
//! no plain name may be taken for a hashed one, since it would never be
//! invalidated; the hashed names recognised are the figure docs/evidence.md
//! states, exactly, so that a regression fails (and an improvement is
//! written down). Both figures go to target/figures/, where
//! tools/check_figures.py compares them with the documentation.

use cloudfront_invalidator::filter::content_hash;
use std::collections::BTreeMap;
use std::path::Path;

/// The corpus as docs/evidence.md describes it: plain names (none skipped),
/// hashed names, and how many of those are recognised.
const PLAIN: usize = 1920;
const HASHED: usize = 594;
const RECOGNISED: usize = 502;

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
    assert_eq!(
        plain.len(),
        PLAIN,
        "plain names in the corpus (docs/evidence.md says {PLAIN})"
    );
    let skipped: Vec<(&str, &str)> = plain
        .iter()
        .filter_map(|entry| Some((entry[0].as_str(), content_hash(&entry[0])?)))
        .collect();
    assert_eq!(skipped, [], "plain names taken for hashed ones (key, hash)");
    figure(
        "plain",
        &format!(
            "{} of {} plain names skipped",
            skipped.len(),
            thousands(plain.len())
        ),
    );
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
    figure(
        "hashed",
        &format!(
            "{recognised} of {} hashed names recognised ({share:.1}%)",
            thousands(hashed.len())
        ),
    );
    // Exactly what the documentation states: fewer is a regression; more is
    // an improvement to write down there (docs/evidence.md, the README's
    // shapes table) before this figure moves.
    assert_eq!(
        (recognised, hashed.len()),
        (RECOGNISED, HASHED),
        "hashed names recognised, of all hashed names ({share:.1}%)"
    );
}

/// `n` as the documentation writes it: 1,920.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Writes a figure to target/figures/filter-corpus.<name>.txt (a file per
/// test: they run in parallel).
fn figure(name: &str, line: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/figures");
    std::fs::create_dir_all(&dir).expect("create target/figures");
    std::fs::write(dir.join(format!("filter-corpus.{name}.txt")), format!("{line}\n"))
        .expect("write a figure");
}
