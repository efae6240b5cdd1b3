//! Any bytes as an event (as a JSON tree, and as text, which must agree), and
//! as the payload inside well-formed SQS and SNS envelopes: `event::parse`
//! never panics, the envelopes always parse, and
//! every change it reports has a non-empty key whose path keeps CloudFront's
//! rules.
#![no_main]

use cloudfront_invalidator::event::{self, Incoming};
use cloudfront_invalidator::path::InvalidationPath;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

#[path = "../invariants.rs"]
#[allow(dead_code)] // form_encode is for the path target
mod invariants;
use invariants::{S3_MAX_KEY_BYTES, check_path};

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<Value>(data)
        && let Ok(incoming) = event::parse(&value)
    {
        check_changes(&incoming, "the event");
    }
    // The function reads Lambda's text: never a panic, and for JSON the same
    // as reading the JSON tree.
    if let Ok(text) = std::str::from_utf8(data) {
        let from_text = event::parse_text(text);
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            assert_eq!(from_text.ok(), event::parse(&value).ok(), "parse_text and parse differ");
        }
    }
    // An SQS body or an SNS message is any string; a malformed one must end up
    // as a rejected record of that message, never as an error for the batch.
    let text = String::from_utf8_lossy(data);
    let sns_envelope = json!({"Type": "Notification", "MessageId": "n1", "Message": text}).to_string();
    let envelopes = [
        (
            "SQS",
            json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": text}]}),
        ),
        (
            "SNS",
            json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": text}}]}),
        ),
        (
            "SNS to SQS",
            json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": sns_envelope}]}),
        ),
    ];
    for (name, envelope) in envelopes {
        match event::parse(&envelope) {
            Ok(incoming) => {
                assert_eq!(incoming.units.len(), 1, "{name} envelope of {text:?}");
                check_changes(&incoming, name);
            }
            Err(e) => panic!("{name} envelope of {text:?} gave an error for the whole event: {e}"),
        }
    }
});

fn check_changes(incoming: &Incoming, what: &str) {
    for change in incoming.units.iter().flat_map(|u| &u.changes) {
        assert!(
            !change.key.is_empty(),
            "{what}: a change with an empty key: {change:?}"
        );
        // The parser rejects keys longer than S3 allows.
        assert!(change.key.len() <= S3_MAX_KEY_BYTES, "{what}: a {}-byte key", change.key.len());
        if let Err(e) = check_path(&change.key, &InvalidationPath::for_key(&change.key)) {
            panic!("{what}: {e}");
        }
    }
}
