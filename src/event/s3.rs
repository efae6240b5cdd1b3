//! S3 event notifications: each record's bucket, key (form-decoded), event
//! name and time, and what identifies the event for the caller reference.

use super::{Change, Skipped, Unit, quoted, rejection, source_of};
use crate::path::decode_key;
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

/// What the function reads of one S3 notification record, and nothing else:
/// a producer that leaves out other fields (an S3-compatible store, a local
/// stand-in) is still served.
#[derive(Debug, Default, Deserialize)]
pub(super) struct S3Record<'a> {
    #[serde(rename = "eventSource", borrow, default)]
    source: Option<Cow<'a, str>>,
    #[serde(rename = "eventName", borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(rename = "eventTime", borrow, default)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    s3: Option<S3Entity<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct S3Entity<'a> {
    #[serde(borrow, default)]
    bucket: Option<S3Bucket<'a>>,
    #[serde(borrow, default)]
    object: Option<S3Object<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct S3Bucket<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
struct S3Object<'a> {
    #[serde(borrow, default)]
    key: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sequencer: Option<Cow<'a, str>>,
    #[serde(rename = "versionId", borrow, default)]
    version_id: Option<Cow<'a, str>>,
}

/// An S3 notification as its own type: the common case (every message of a
/// queue wiring) read without building a JSON tree. Anything that does not
/// fit it (another shape, a field of another type) goes the general way.
#[derive(Deserialize)]
pub(super) struct S3Notification<'a> {
    #[serde(rename = "Records", borrow)]
    pub(super) records: Vec<S3Record<'a>>,
}

impl S3Record<'_> {
    pub(super) fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
}

/// Reads the records of an S3 notification.
pub(super) fn read_s3_records(records: &[S3Record], unit: &mut Unit) {
    for (index, record) in records.iter().enumerate() {
        match record.source() {
            Some("aws:s3") => read_s3_record(index, record, unit),
            other => unit.rejected.push(rejection(format!(
                "record {index} has eventSource {}, not \"aws:s3\"",
                quoted(other)
            ))),
        }
    }
}

/// One S3 notification record.
fn read_s3_record(index: usize, record: &S3Record, unit: &mut Unit) {
    let entity = record.s3.as_ref();
    let bucket = entity
        .and_then(|e| e.bucket.as_ref())
        .and_then(|b| b.name.as_deref());
    let object = entity.and_then(|e| e.object.as_ref());
    let raw = object.and_then(|o| o.key.as_deref());
    let skipped = |reason: String| Skipped {
        bucket: bucket.map(str::to_owned),
        key: raw.map(str::to_owned),
        reason,
    };
    // Some S3-compatible stores prefix the name with "s3:"; a record without
    // a name is invalidated: when in doubt, invalidate.
    let event_name = record.name.as_deref().unwrap_or_default();
    let name = event_name.strip_prefix("s3:").unwrap_or(event_name);
    if !changes_content(name) {
        unit.ignored.push(skipped(format!(
            "event {event_name:?} does not change the object's content"
        )));
        return;
    }
    let version = object.and_then(|o| o.version_id.as_deref());
    if name == "LifecycleExpiration:Delete" && is_version(version) {
        unit.ignored.push(skipped(NONCURRENT_EXPIRED.into()));
        return;
    }
    let Some(bucket) = bucket else {
        unit.rejected
            .push(skipped(format!("record {index} has no s3.bucket.name")));
        return;
    };
    let Some(raw) = raw else {
        unit.rejected
            .push(skipped(format!("record {index} has no s3.object.key")));
        return;
    };
    let key = match decode_key(raw) {
        Ok(key) => key,
        Err(e) => {
            unit.rejected.push(skipped(format!("record {index}: {e}")));
            return;
        }
    };
    let time = record.time.as_deref().unwrap_or_default();
    let identity = identity(&[
        bucket,
        raw,
        event_name,
        time,
        object.and_then(|o| o.sequencer.as_deref()).unwrap_or_default(),
        object.and_then(|o| o.version_id.as_deref()).unwrap_or_default(),
    ]);
    unit.changes.push(Change {
        bucket: bucket.to_owned(),
        key,
        identity,
        time_ms: latest_ms(time),
    });
}

/// A record of a JSON tree as an [`S3Record`], field by field: a field of
/// another type reads as missing.
pub(super) fn s3_record_of(value: &Value) -> S3Record<'_> {
    let str_at = |pointer: &str| value.pointer(pointer).and_then(Value::as_str).map(Cow::Borrowed);
    S3Record {
        source: source_of(value).map(Cow::Borrowed),
        name: str_at("/eventName"),
        time: str_at("/eventTime"),
        s3: Some(S3Entity {
            bucket: Some(S3Bucket {
                name: str_at("/s3/bucket/name"),
            }),
            object: Some(S3Object {
                key: str_at("/s3/object/key"),
                sequencer: str_at("/s3/object/sequencer"),
                version_id: str_at("/s3/object/versionId"),
            }),
        }),
    }
}

/// S3 event names (`ObjectCreated:Put`, ...) that change what a viewer gets:
/// an object created or overwritten, removed, or expired by a lifecycle rule
/// (`LifecycleExpiration:Delete`, `:DeleteMarkerCreated`). Transitions,
/// restores, replication, tags and ACLs leave the content as it was.
fn changes_content(event_name: &str) -> bool {
    const CHANGES: [&str; 3] = ["ObjectCreated:", "ObjectRemoved:", "LifecycleExpiration:"];
    event_name.is_empty() || CHANGES.iter().any(|prefix| event_name.starts_with(prefix))
}

/// Why a lifecycle expiration of one version is no change (S3 User Guide,
/// "Configuring S3 Lifecycle event notifications"): in a versioned bucket a
/// lifecycle rule removes for good only noncurrent versions and expired
/// delete markers; the current version expires into a delete marker
/// (`LifecycleExpiration:DeleteMarkerCreated`), which is a change.
pub(super) const NONCURRENT_EXPIRED: &str = "a lifecycle rule removed a noncurrent version or an \
     expired delete marker for good: what viewers get is unchanged";

/// A version ID of a versioned bucket: present, and not `null` (the version
/// of an object stored while versioning was off or suspended, which may be
/// the current one).
pub(super) fn is_version(id: Option<&str>) -> bool {
    id.is_some_and(|v| !v.is_empty() && v != "null")
}

/// The latest instant an RFC 3339 time (`2026-11-25T10:15:30.123Z`) can
/// stand for, in milliseconds since the Unix epoch; `None` when absent or
/// unreadable. A time is written to its precision, rounded down:
/// EventBridge's `2026-11-25T10:15:30Z` is a change made up to 999 ms
/// later. Covering and the margin count from the latest instant, so that an
/// invalidation created in the same second as a change never counts for it.
pub(super) fn latest_ms(time: &str) -> Option<i64> {
    let stated = chrono::DateTime::parse_from_rfc3339(time)
        .ok()?
        .timestamp_millis();
    // The digits after the seconds' `.`, if any (`HH:MM:SS.fff`).
    let fraction = time
        .split_once('T')
        .and_then(|(_, clock)| clock.get(8..))
        .and_then(|rest| rest.strip_prefix('.'))
        .map_or(0, |digits| digits.bytes().take_while(u8::is_ascii_digit).count());
    let unit_ms = match fraction {
        0 => 1000,
        1 => 100,
        2 => 10,
        _ => 1,
    };
    Some(stated + unit_ms - 1)
}

pub(super) fn identity(parts: &[&str]) -> String {
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::latest_ms;

    #[test]
    fn a_time_stands_for_the_latest_instant_its_precision_allows() {
        let second = 1_764_065_730_000; // 2025-11-25T10:15:30Z
        // EventBridge: whole seconds.
        assert_eq!(latest_ms("2025-11-25T10:15:30Z"), Some(second + 999));
        // S3's notifications: milliseconds.
        assert_eq!(latest_ms("2025-11-25T10:15:30.123Z"), Some(second + 123));
        assert_eq!(latest_ms("2025-11-25T10:15:30.1Z"), Some(second + 199));
        assert_eq!(latest_ms("2025-11-25T10:15:30.123456Z"), Some(second + 123));
        assert_eq!(latest_ms("2025-11-25T11:15:30+01:00"), Some(second + 999));
        assert_eq!(latest_ms(""), None);
        assert_eq!(latest_ms("yesterday"), None);
    }
}
