//! Every sample in events/ parsed and planned, with the exact paths it gives;
//! and malformed input, which must give clear errors and never panic.

use cloudfront_invalidator::config::Distributions;
use cloudfront_invalidator::event::{self, Envelope, Incoming};
use cloudfront_invalidator::{Config, plan};
use serde_json::{Value, json};
use std::path::Path;

mod support;
use support::{CHECKED_ELSEWHERE, EXPECTED, MANIFEST_DIR, event_path};

fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_pairs(vars).unwrap()
}

fn plan_with(units: &[cloudfront_invalidator::event::Unit], config: &Config) -> plan::Plan {
    let Distributions::Listed(targets) = &config.distributions else {
        panic!("listed distributions only")
    };
    let demands = plan::demands(units, config, &plan::Targets::Same(targets), &Default::default());
    plan::plan(units, demands, config, &Default::default())
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(file: &str) -> Incoming {
    event::parse(&load(&event_path(file))).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Paths submitted to distribution E1, and keys ignored.
fn planned(incoming: &Incoming, config: &Config) -> (Vec<String>, Vec<String>) {
    let plan = plan_with(&incoming.units, config);
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
    let ignored = incoming
        .units
        .iter()
        .flat_map(|u| &u.ignored)
        .chain(&plan.ignored)
        .filter_map(|s| s.key.clone())
        .collect();
    (paths, ignored)
}

#[test]
fn every_event_file_plans_its_expected_paths() {
    let mut files: Vec<String> = std::fs::read_dir(Path::new(MANIFEST_DIR).join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut listed: Vec<String> = EXPECTED
        .iter()
        .map(|e| e.file)
        .chain(CHECKED_ELSEWHERE.iter().copied())
        .map(String::from)
        .collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "every file in events/ needs its expectations in tests/support/mod.rs"
    );

    let config = config(&[("DISTRIBUTION_IDS", "E1,E2")]);
    for expect in EXPECTED {
        let incoming = parse(expect.file);
        let (paths, ignored) = planned(&incoming, &config);
        assert_eq!(paths, expect.paths, "{}", expect.file);
        assert_eq!(ignored, expect.ignored, "{}", expect.file);
        let failed: Vec<usize> = (0..incoming.units.len())
            .filter(|&i| !incoming.units[i].rejected.is_empty())
            .collect();
        assert_eq!(failed, expect.failed_units, "{}", expect.file);
    }
}

#[test]
fn envelopes_are_recognised() {
    let cases = [
        ("s3-put.json", Envelope::S3, 1),
        ("sns-s3.json", Envelope::Sns, 1),
        ("eventbridge-object-created.json", Envelope::EventBridge, 1),
        ("sqs-s3-batch.json", Envelope::Sqs, 3),
        ("sqs-sns-s3.json", Envelope::Sqs, 1),
        ("sqs-eventbridge.json", Envelope::Sqs, 2),
        ("sqs-collectstatic.json", Envelope::Sqs, 263),
    ];
    for (file, envelope, units) in cases {
        let incoming = parse(file);
        assert_eq!(incoming.envelope, envelope, "{file}");
        assert_eq!(incoming.units.len(), units, "{file}");
        if envelope == Envelope::Sqs {
            let mut ids: Vec<&str> = incoming
                .units
                .iter()
                .map(|u| u.message_id.as_deref().unwrap())
                .collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), units, "{file}: SQS message IDs are unique");
        }
    }
    assert!(parse("sqs-test-event.json").units[0].test_event);
    assert!(parse("s3-test-event.json").units[0].test_event);
}

#[test]
fn collectstatic_batch_merges_into_one_request_per_distribution() {
    let incoming = parse("sqs-collectstatic.json");
    let keys: Vec<String> = incoming
        .units
        .iter()
        .flat_map(|u| &u.changes)
        .map(|c| c.key.clone())
        .collect();
    assert_eq!(keys.len(), 263);
    // Django's static tree has plain ASCII names, so each path is "/" + key.
    let mut want: Vec<String> = keys.iter().map(|k| format!("/{k}")).collect();
    want.sort();
    want.dedup();
    let plan = plan_with(
        &incoming.units,
        &config(&[("DISTRIBUTION_IDS", "E1,E2"), ("MAX_PATHS", "0")]),
    );
    assert_eq!(plan.batches.len(), 2);
    for batch in &plan.batches {
        let paths: Vec<String> = batch.paths.iter().map(|p| p.to_string()).collect();
        assert_eq!(paths, want);
        assert_eq!(batch.units.len(), 263);
    }
    let (paths, ignored) = planned(
        &incoming,
        &config(&[("DISTRIBUTION_IDS", "E1"), ("ORIGIN_PATH", "/static")]),
    );
    assert!(ignored.is_empty());
    assert!(paths.contains(&"/admin/css/base.css".to_string()), "{paths:?}");
    assert!(paths.contains(&"/staticfiles.json".to_string()));
}

#[test]
fn origin_path_event_under_static() {
    let config = config(&[("DISTRIBUTION_IDS", "E1"), ("ORIGIN_PATH", "/static")]);
    let (paths, ignored) = planned(&parse("s3-origin-path.json"), &config);
    assert_eq!(paths, ["/css/app.css"]);
    assert_eq!(ignored, ["media/uploads/avatar.png"]);
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
        (
            json!({"Records": [{"eventSource": "aws:sqs"}, {"x": 1}]}),
            "eventSource [\"aws:sqs\", (none)]",
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
    let incoming = event::parse(&load(
        &Path::new(MANIFEST_DIR).join("tests/fixtures/bad-records.json"),
    ))
    .unwrap();
    let unit = &incoming.units[0];
    let keys: Vec<&str> = unit.changes.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["good/one.css", "good/two.css"]);
    let reasons: Vec<&str> = unit.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "record 1: broken percent-escape \"%G1\" at byte 4 of the key",
            "record 2 has no s3.object.key",
            "record 3: the decoded key is not valid UTF-8 (bytes FF 2E 6A 73)",
            "record 5 has eventSource \"aws:sqs\", not \"aws:s3\"",
        ]
    );
    assert_eq!(unit.rejected[0].key.as_deref(), Some("bad/%G1.css"));
    let (paths, _) = planned(&incoming, &config(&[("DISTRIBUTION_IDS", "E1")]));
    assert_eq!(paths, ["/good/one.css", "/good/two.css"]);
}

#[test]
fn bad_sqs_messages_are_rejected_one_by_one() {
    let good = load(&event_path("s3-put.json")).to_string();
    let event = json!({"Records": [
        {"eventSource": "aws:sqs", "messageId": "m0", "body": good},
        {"eventSource": "aws:sqs", "messageId": "m1", "body": "{\"Records\": 5"},
        {"eventSource": "aws:sqs", "messageId": "m2", "body": "{\"hello\": \"world\"}"},
        {"eventSource": "aws:sqs", "messageId": "m3"},
        {"eventSource": "aws:sqs", "body": good},
        {"eventSource": "aws:sqs", "messageId": "m5", "body": "{\"Type\":\"Notification\",\"Message\":\"nope\"}"},
    ]});
    let incoming = event::parse(&event).unwrap();
    let reasons: Vec<String> = incoming
        .units
        .iter()
        .map(|u| format!("{:?}", u.rejected.first().map(|r| &r.reason)))
        .collect();
    assert_eq!(reasons[0], "None");
    assert!(
        reasons[1].contains("SQS message body is not JSON (EOF while parsing"),
        "{}",
        reasons[1]
    );
    assert!(
        reasons[2].contains("SQS message body is not an S3 change: an object with keys [\\\"hello\\\"]"),
        "{}",
        reasons[2]
    );
    assert!(reasons[3].contains("SQS record 3 has no body"), "{}", reasons[3]);
    assert!(
        reasons[4].contains("SQS record 4 has no messageId"),
        "{}",
        reasons[4]
    );
    assert!(reasons[5].contains("SNS message is not JSON"), "{}", reasons[5]);
    assert_eq!(incoming.units[0].changes.len(), 1);
}

#[test]
fn eventbridge_keys_without_plus_or_percent_give_one_path() {
    let mut event = load(&event_path("eventbridge-object-created.json"));
    event["detail"]["object"]["key"] = json!("plain/name.css");
    let (paths, _) = planned(
        &event::parse(&event).unwrap(),
        &config(&[("DISTRIBUTION_IDS", "E1")]),
    );
    assert_eq!(paths, ["/plain/name.css"]);
    // A '%' that is no escape can only be literal.
    event["detail"]["object"]["key"] = json!("100%.html");
    let (paths, _) = planned(
        &event::parse(&event).unwrap(),
        &config(&[("DISTRIBUTION_IDS", "E1")]),
    );
    assert_eq!(paths, ["/100%25.html"]);
    // Other EventBridge S3 events need no invalidation.
    event["detail-type"] = json!("Object Tags Added");
    let incoming = event::parse(&event).unwrap();
    assert!(incoming.units[0].changes.is_empty());
    assert!(
        incoming.units[0].ignored[0]
            .reason
            .contains("\"Object Tags Added\"")
    );
}

#[test]
fn keys_longer_than_s3_allows_are_rejected_not_encoded() {
    let mut event = load(&event_path("s3-put.json"));
    event["Records"][0]["s3"]["object"]["key"] = json!("%7F".repeat(1400));
    let sqs = json!({"Records": [{"eventSource": "aws:sqs", "messageId": "m0", "body": event.to_string()}]});
    let incoming = event::parse(&sqs).unwrap();
    assert!(incoming.units[0].changes.is_empty());
    assert_eq!(
        incoming.units[0].rejected[0].reason,
        "record 0: the key is 1400 bytes long; S3 keys are at most 1,024"
    );
    let mut eventbridge = load(&event_path("eventbridge-object-created.json"));
    eventbridge["detail"]["object"]["key"] = json!("x".repeat(1025));
    let incoming = event::parse(&eventbridge).unwrap();
    assert!(incoming.units[0].rejected[0].reason.contains("1025 bytes"));
}

#[test]
fn a_long_key_sent_percent_encoded_by_eventbridge_is_checked_decoded() {
    // 300 CJK characters: 900 bytes, 2,700 characters percent-encoded.
    let key = "\u{65e5}".repeat(300);
    let encoded: String = key.bytes().map(|b| format!("%{b:02X}")).collect();
    assert_eq!((key.len(), encoded.len()), (900, 2700));
    let mut event = load(&event_path("eventbridge-object-created.json"));
    event["detail"]["object"]["key"] = json!(encoded);
    let incoming = event::parse(&event).unwrap();
    assert!(
        incoming.units[0].rejected.is_empty(),
        "{:?}",
        incoming.units[0].rejected
    );
    let keys: Vec<&str> = incoming.units[0].changes.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, [key.as_str()], "only the reading that can be an S3 key");
    // Sent raw, the same key is one reading.
    event["detail"]["object"]["key"] = json!(key);
    let incoming = event::parse(&event).unwrap();
    assert_eq!(incoming.units[0].changes.len(), 1);
}

#[test]
fn a_record_is_read_for_what_the_function_uses_only() {
    // S3-compatible stores and stand-ins leave out fields the function does
    // not need; S3's own lifecycle events name no user. None is a reason to
    // leave an object stale.
    let record = json!({
        "eventSource": "aws:s3",
        "eventName": "s3:ObjectCreated:Put",
        "s3": {"bucket": {"name": "b"}, "object": {"key": "css/site.css"}}
    });
    let incoming = event::parse(&json!({"Records": [record]})).unwrap();
    let unit = &incoming.units[0];
    assert!(unit.rejected.is_empty(), "{:?}", unit.rejected);
    assert_eq!(unit.changes[0].key, "css/site.css");
    assert_eq!(unit.changes[0].time_ms, None);
    // The time S3 reported, when it did.
    let incoming = parse("s3-put.json");
    assert_eq!(incoming.units[0].changes[0].time_ms, Some(1_795_601_730_123));
}

#[test]
fn reading_the_text_gives_what_reading_the_json_gives() {
    // The function reads Lambda's text (an SQS batch without a JSON tree);
    // the result must be the same as from the JSON, for every sample and for
    // the malformed ones.
    let mut texts: Vec<String> = std::fs::read_dir(Path::new(MANIFEST_DIR).join("events"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    texts.push(
        std::fs::read_to_string(Path::new(MANIFEST_DIR).join("tests/fixtures/bad-records.json")).unwrap(),
    );
    let good = load(&event_path("s3-put.json")).to_string();
    texts.push(
        json!({"Records": [
            {"eventSource": "aws:sqs", "messageId": "m0", "body": good, "receiptHandle": "h", "attributes": {"ApproximateReceiveCount": "3"}},
            {"eventSource": "aws:sqs", "messageId": "m1", "body": "{\"Records\": 5"},
            {"eventSource": "aws:sqs", "messageId": 7, "body": good},
            {"eventSource": "aws:sqs", "body": {"not": "a string"}},
        ]})
        .to_string(),
    );
    for text in &texts {
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(event::parse_text(text), event::parse(&value), "{text}");
    }
    let err = event::parse_text("{\"Records\": [").unwrap_err().to_string();
    assert!(err.contains("received text that is not JSON"), "{err}");
}

#[test]
fn a_lifecycle_expiration_of_a_version_changes_nothing_a_viewer_gets() {
    // Issue 15, item 9: in a versioned bucket a lifecycle rule removes for
    // good only noncurrent versions and expired delete markers. Without a
    // version ID, or with `null` (versioning off or suspended), it may be
    // the object itself.
    let s3 = |version: Option<&str>| {
        let mut object = json!({"key": "css/site.css"});
        if let Some(v) = version {
            object["versionId"] = json!(v);
        }
        json!({"Records": [{"eventSource": "aws:s3", "eventName": "LifecycleExpiration:Delete",
            "eventTime": "2026-11-26T00:12:41.000Z", "s3": {"bucket": {"name": "b"}, "object": object}}]})
    };
    let changes = |event: &Value| event::parse(event).unwrap().units[0].changes.len();
    assert_eq!(changes(&s3(Some("3HL4kqtJlcpXroDTDmJ"))), 0);
    assert_eq!(changes(&s3(Some("null"))), 1);
    assert_eq!(changes(&s3(None)), 1);
    let eventbridge = |deletion: &str, version: Option<&str>| {
        let mut object = json!({"key": "css/site.css"});
        if let Some(v) = version {
            object["version-id"] = json!(v);
        }
        json!({"source": "aws.s3", "detail-type": "Object Deleted", "time": "2026-11-26T00:12:41Z",
            "detail": {"bucket": {"name": "b"}, "object": object, "reason": "Lifecycle Expiration",
                "deletion-type": deletion}})
    };
    assert_eq!(changes(&eventbridge("Permanently Deleted", Some("3HL4kqtJ"))), 0);
    assert_eq!(changes(&eventbridge("Permanently Deleted", None)), 1);
    assert_eq!(
        changes(&eventbridge("Delete Marker Created", Some("3HL4kqtJ"))),
        1
    );
    let ignored = &event::parse(&s3(Some("3HL4kqtJ"))).unwrap().units[0].ignored;
    assert!(ignored[0].reason.contains("noncurrent version"), "{ignored:?}");
}

#[test]
fn a_key_eventbridge_reads_two_ways_is_one_change() {
    // Issue 15, item 11: both readings are invalidated, and counted once.
    let event = json!({"source": "aws.s3", "detail-type": "Object Created", "time": "2026-11-26T00:12:41Z",
        "detail": {"bucket": {"name": "b"}, "object": {"key": "reports/q3+summary.pdf"}, "reason": "PutObject"}});
    let incoming = event::parse(&event).unwrap();
    let plan = plan_with(&incoming.units, &config(&[("DISTRIBUTION_IDS", "E1")]));
    assert_eq!(plan.stats[0].changes, 1);
    assert_eq!(plan.stats[0].paths_requested, 2);
}
