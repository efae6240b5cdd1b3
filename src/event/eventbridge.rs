//! EventBridge's S3 events (`source: aws.s3`), the existing-bucket wiring's.

use super::s3::{NONCURRENT_EXPIRED, identity, is_version, latest_ms};
use super::{Change, Skipped, Unit};
use crate::path::{MAX_KEY_BYTES, decode_key};
use serde_json::Value;

pub(super) fn is_eventbridge(value: &Value) -> bool {
    value.get("source").and_then(Value::as_str) == Some("aws.s3") && value.get("detail-type").is_some()
}

/// An EventBridge S3 event. AWS does not document whether `detail.object.key`
/// is URL-encoded. A key holding neither `+` nor `%` reads the same either
/// way; for one that does, both readings are invalidated (the decoded one
/// only when it decodes), so the object is covered whichever is right, at the
/// cost of one extra path for such keys.
pub(super) fn read_eventbridge(value: &Value, unit: &mut Unit) {
    let detail_type = value
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let str_at = |pointer: &str| value.pointer(pointer).and_then(Value::as_str);
    let (bucket, raw) = (str_at("/detail/bucket/name"), str_at("/detail/object/key"));
    let skipped = |reason: String| Skipped {
        bucket: bucket.map(str::to_owned),
        key: raw.map(str::to_owned),
        reason,
    };
    if !matches!(detail_type, "Object Created" | "Object Deleted") {
        unit.ignored.push(skipped(format!(
            "EventBridge {detail_type:?} does not change the object's content"
        )));
        return;
    }
    let permanent = str_at("/detail/deletion-type") == Some("Permanently Deleted");
    let lifecycle = str_at("/detail/reason") == Some("Lifecycle Expiration");
    if permanent && lifecycle && is_version(str_at("/detail/object/version-id")) {
        unit.ignored.push(skipped(NONCURRENT_EXPIRED.into()));
        return;
    }
    let (Some(bucket), Some(raw)) = (bucket, raw) else {
        unit.rejected.push(skipped(
            "EventBridge event has no detail.bucket.name or detail.object.key".into(),
        ));
        return;
    };
    let time = value.get("time").and_then(Value::as_str).unwrap_or_default();
    let identity = identity(&[
        bucket,
        raw,
        detail_type,
        time,
        str_at("/detail/object/sequencer").unwrap_or_default(),
        str_at("/detail/object/version-id").unwrap_or_default(),
    ]);
    // Each reading that can be an S3 key (1 to 1,024 bytes), the decoded one
    // first: a percent-encoded 900-byte key is 2,700 characters as sent.
    let decoded = raw.contains(['+', '%']).then(|| decode_key(raw).ok()).flatten();
    let keys: Vec<String> = decoded
        .into_iter()
        .chain([raw.to_owned()])
        .filter(|k| (1..=MAX_KEY_BYTES).contains(&k.len()))
        .collect();
    if keys.is_empty() {
        let reason = format!(
            "EventBridge detail.object.key is {} bytes as sent and no reading of it is an S3 key \
             (1 to 1,024 bytes)",
            raw.len()
        );
        unit.rejected.push(skipped(reason));
        return;
    }
    for key in keys {
        unit.changes.push(Change {
            bucket: bucket.to_owned(),
            key,
            identity: identity.clone(),
            time_ms: latest_ms(time),
        });
    }
}
