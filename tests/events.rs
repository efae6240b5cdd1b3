//! Every sample in events/ parsed and planned, with the exact paths it gives;
//! and malformed input, which must give clear errors and never panic.

use cloudfront_invalidator::{Config, event, plan};
use serde_json::{Value, json};
use std::path::Path;

mod support;
use support::EXPECTED;

fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_lookup(|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())).unwrap()
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Paths submitted to each distribution, and keys ignored, for an event file.
fn planned(event: &Value, config: &Config) -> (Vec<String>, Vec<String>) {
    let parsed = event::parse(event).unwrap();
    assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
    let plan = plan::plan(&parsed.changes, config);
    let batches: Vec<_> = plan
        .batches
        .iter()
        .filter(|b| b.distribution.as_str() == "E1")
        .collect();
    assert!(batches.len() <= 1);
    let paths = batches
        .first()
        .map(|b| b.paths.iter().map(|p| p.to_string()).collect())
        .unwrap_or_default();
    let ignored = parsed
        .ignored
        .iter()
        .chain(&plan.ignored)
        .filter_map(|s| s.key.clone())
        .collect();
    (paths, ignored)
}

#[test]
fn every_event_file_plans_its_expected_paths() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|(f, _, _)| f.to_string()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "every file in events/ needs its expected paths here"
    );

    let config = config(&[("DISTRIBUTION_IDS", "E1")]);
    for (file, paths, ignored) in EXPECTED {
        let (got_paths, got_ignored) = planned(&load(&dir.join(file)), &config);
        assert_eq!(got_paths, *paths, "{file}");
        assert_eq!(got_ignored, *ignored, "{file}");
    }
}

#[test]
fn origin_path_event_under_static() {
    let event = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("events/s3-origin-path.json"));
    let config = config(&[("DISTRIBUTION_IDS", "E1"), ("ORIGIN_PATH", "/static")]);
    let (paths, ignored) = planned(&event, &config);
    assert_eq!(paths, ["/css/app.css"]);
    assert_eq!(ignored, ["media/uploads/avatar.png"]);
}

#[test]
fn test_event_is_recognised_and_plans_nothing() {
    let event = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("events/s3-test-event.json"));
    let parsed = event::parse(&event).unwrap();
    assert!(parsed.test_event);
    assert!(parsed.changes.is_empty());
}

#[test]
fn unknown_shapes_are_errors_that_show_what_was_received() {
    let cases = [
        (json!({}), "received an empty object"),
        (json!([1, 2]), "received an array of 2 items"),
        (json!("hello"), "received a string"),
        (json!(null), "received null"),
        (
            json!({"detail-type": "Scheduled Event", "source": "aws.events"}),
            "keys [\"detail-type\", \"source\"]",
        ),
        (json!({"Records": []}), "whose Records is empty"),
        (
            json!({"Records": {"eventSource": "aws:s3"}}),
            "whose Records is not an array",
        ),
        (
            json!({"Records": [{"eventSource": "aws:dynamodb"}]}),
            "whose Records have eventSource [\"aws:dynamodb\"]",
        ),
    ];
    for (event, want) in cases {
        let err = event::parse(&event).unwrap_err().to_string();
        assert!(err.starts_with("not an event this function understands"), "{err}");
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
}

#[test]
fn bad_records_are_rejected_and_the_others_still_planned() {
    let event = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad-records.json"));
    let parsed = event::parse(&event).unwrap();
    let keys: Vec<&str> = parsed.changes.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["good/one.css", "good/two.css"]);
    let reasons: Vec<&str> = parsed.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "record 1: broken percent-escape \"%G1\" at byte 4 of the key",
            "record 2 has no s3.object.key",
            "record 3: the decoded key is not valid UTF-8 (bytes FF 2E 6A 73)",
            "record 5 has eventSource \"aws:sqs\", not \"aws:s3\"",
        ]
    );
    assert_eq!(parsed.rejected[0].key.as_deref(), Some("bad/%G1.css"));
    let plan = plan::plan(&parsed.changes, &config(&[("DISTRIBUTION_IDS", "E1")]));
    let paths: Vec<String> = plan.batches[0].paths.iter().map(|p| p.to_string()).collect();
    assert_eq!(paths, ["/good/one.css", "/good/two.css"]);
}
