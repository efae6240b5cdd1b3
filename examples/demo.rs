//! `make demo-events`: a local CloudFront (moto server) with two distributions
//! on one bucket, the whole bucket and its `static/` folder (origin path
//! `/static`); the function under cargo-lambda's runtime emulator; every file
//! in events/ invoked. For each event: what CloudFront received per
//! distribution (wildcards first), why anything was left out or failed, and
//! the function's own log lines. Stops all it started.

#[path = "../tests/support/mod.rs"]
mod support;
use serde_json::Value;
use support::setup::{SITE, Setup};
use support::{CHECKED_ELSEWHERE, EXPECTED, Payload, event_path};

/// Paths shown per invalidation; wildcards are always shown.
const SHOWN: usize = 8;
/// Log lines are cut to this many characters.
const WIDTH: usize = 110;

#[tokio::main]
async fn main() {
    println!("starting a local CloudFront (moto) and cargo lambda's runtime emulator...");
    let mut stack = Setup::new()
        .distribution(SITE, "")
        .distribution(SITE, "/static")
        .start_without_function()
        .await;
    let [whole, static_only] = stack.ids();
    let ids = format!("{whole},{static_only}=/static");
    println!("distributions: {whole} (the bucket), {static_only} (origin path /static)");
    println!("function: DISTRIBUTION_IDS={ids}, defaults otherwise (MAX_PATHS=100)");
    // The sample events are days old: an environment that invalidated their
    // paths since would rightly find them already covered.
    println!("each event in a new execution environment, as if S3 had just sent it\n");

    let mut files: Vec<&str> = EXPECTED
        .iter()
        .map(|e| e.file)
        .chain(CHECKED_ELSEWHERE.iter().copied())
        .collect();
    files.sort();
    let mut seen = (Vec::new(), Vec::new());
    for file in files {
        stack.start_function(&[("DISTRIBUTION_IDS", &ids)]);
        let output = stack.invoke(Payload::File(&event_path(file)));
        let response: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        println!("events/{file}");
        for (name, id, seen) in [
            ("bucket", &whole, &mut seen.0),
            ("/static", &static_only, &mut seen.1),
        ] {
            for paths in stack.new_invalidations(id, seen).await {
                show_invalidation(name, &paths);
            }
        }
        if response["test_event"] == true {
            println!("  no invalidation: S3's test event, sent when a notification is configured");
        }
        for skipped in response["ignored"].as_array().into_iter().flatten() {
            println!(
                "  left out {}: {}",
                skipped["key"],
                skipped["reason"].as_str().unwrap_or("")
            );
        }
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let error = stderr
                .lines()
                .find_map(|l| l.trim().strip_prefix('×'))
                .unwrap_or("(no message)");
            println!(
                "  the invocation failed (Lambda retries it, then the dead-letter queue): {}",
                short(error)
            );
        }
        let log = stack.function_log();
        let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        // The metrics documents are for CloudWatch: counted, not shown.
        let (metrics, lines): (Vec<&str>, Vec<&str>) =
            lines.into_iter().partition(|l| l.starts_with("{\"_aws\""));
        for line in lines {
            println!("  | {}", short(line));
        }
        if !metrics.is_empty() {
            println!("  | and {} metrics document(s) for CloudWatch", metrics.len());
        }
        println!();
    }
}

/// One invalidation: its wildcards, then the first paths.
fn show_invalidation(distribution: &str, paths: &[String]) {
    let (wildcards, exact): (Vec<&String>, Vec<&String>) = paths.iter().partition(|p| p.ends_with('*'));
    println!(
        "  CloudFront ({distribution}) received {} path(s){}:",
        paths.len(),
        if wildcards.is_empty() {
            String::new()
        } else {
            format!(", {} of them wildcards", wildcards.len())
        }
    );
    for path in wildcards.iter().chain(exact.iter().take(SHOWN)) {
        println!("    {path}");
    }
    if exact.len() > SHOWN {
        println!("    ... and {} more exact paths", exact.len() - SHOWN);
    }
}

/// A log line without its level padding and the runtime's request span,
/// cut to [`WIDTH`] characters.
fn short(line: &str) -> String {
    let line = line.trim();
    let line = match line.split_once("}: ") {
        Some((span, rest)) if span.contains("Lambda runtime invoke") => {
            format!("{} {rest}", span.split_whitespace().next().unwrap_or(""))
        }
        _ => line.to_owned(),
    };
    let mut cut: String = line.chars().take(WIDTH).collect();
    if line.chars().count() > WIDTH {
        cut.push('…');
    }
    cut
}
