//! Any incoming JSON to the object changes it reports. Understands the S3
//! event notification and the S3 test event; a record that cannot be used is
//! kept with its reason so the caller can report it. Pure: no I/O.

use crate::path::decode_key;
use aws_lambda_events::s3::S3EventRecord;
use serde::Serialize;
use serde_json::Value;

/// One object that was created, overwritten or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub bucket: String,
    /// The decoded key, as it is stored in S3.
    pub key: String,
    /// What identifies the S3 event itself, so that a redelivery of the same
    /// event can be recognised: bucket, key as sent, event name, time,
    /// sequencer and version.
    pub identity: String,
}

/// A record left out, with the reason, for the response and the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub reason: String,
}

/// What one invocation's event holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub changes: Vec<Change>,
    /// Records that are fine but need no invalidation (other event types).
    pub ignored: Vec<Skipped>,
    /// Records that could not be read (missing fields, broken key encoding).
    pub rejected: Vec<Skipped>,
    /// The event was S3's test event, sent when a notification is configured.
    pub test_event: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not an event this function understands: expected an S3 event notification \
     (\"Records\" whose eventSource is \"aws:s3\") or the S3 test event; received {shape}"
)]
pub struct EventError {
    pub shape: String,
}

pub fn parse(event: &Value) -> Result<Parsed, EventError> {
    if event.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Parsed {
            test_event: true,
            ..Parsed::default()
        });
    }
    let records = match event.get("Records").and_then(Value::as_array) {
        Some(records) if records.iter().any(|r| source_of(r) == Some("aws:s3")) => records,
        _ => {
            return Err(EventError {
                shape: describe(event),
            });
        }
    };
    let mut parsed = Parsed::default();
    for (index, record) in records.iter().enumerate() {
        match source_of(record) {
            Some("aws:s3") => read_s3_record(index, record, &mut parsed),
            other => parsed.rejected.push(Skipped {
                bucket: None,
                key: None,
                reason: format!("record {index} has eventSource {}, not \"aws:s3\"", quoted(other)),
            }),
        }
    }
    Ok(parsed)
}

fn source_of(record: &Value) -> Option<&str> {
    record.get("eventSource").and_then(Value::as_str)
}

fn read_s3_record(index: usize, record: &Value, parsed: &mut Parsed) {
    let raw_bucket = record
        .pointer("/s3/bucket/name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let raw_key = record
        .pointer("/s3/object/key")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let reject = |reason: String| Skipped {
        bucket: raw_bucket.clone(),
        key: raw_key.clone(),
        reason,
    };

    let record: S3EventRecord = match serde_json::from_value(record.clone()) {
        Ok(r) => r,
        Err(e) => {
            parsed.rejected.push(reject(format!(
                "record {index} is not a valid S3 event record: {e}"
            )));
            return;
        }
    };
    let event_name = record.event_name.clone().unwrap_or_default();
    if !(event_name.starts_with("ObjectCreated:") || event_name.starts_with("ObjectRemoved:")) {
        parsed.ignored.push(Skipped {
            bucket: raw_bucket,
            key: raw_key,
            reason: format!("event {event_name:?} does not change the object's content"),
        });
        return;
    }
    let Some(bucket) = record.s3.bucket.name.clone() else {
        parsed
            .rejected
            .push(reject(format!("record {index} has no s3.bucket.name")));
        return;
    };
    let Some(raw) = record.s3.object.key.clone() else {
        parsed
            .rejected
            .push(reject(format!("record {index} has no s3.object.key")));
        return;
    };
    let key = match decode_key(&raw) {
        Ok(key) => key,
        Err(e) => {
            parsed.rejected.push(reject(format!("record {index}: {e}")));
            return;
        }
    };
    let object = &record.s3.object;
    let identity = [
        bucket.as_str(),
        raw.as_str(),
        event_name.as_str(),
        &record.event_time.to_rfc3339(),
        object.sequencer.as_deref().unwrap_or(""),
        object.version_id.as_deref().unwrap_or(""),
    ]
    .join("\n");
    parsed.changes.push(Change {
        bucket,
        key,
        identity,
    });
}

fn quoted(value: Option<&str>) -> String {
    value.map_or_else(|| "(none)".into(), |v| format!("{v:?}"))
}

/// A short description of a JSON value's top-level shape, for error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Object(map) if map.is_empty() => "an empty object".into(),
        Value::Object(map) => {
            let keys: Vec<&str> = map.keys().map(String::as_str).take(10).collect();
            let mut s = format!("an object with keys {keys:?}");
            if let Some(records) = map.get("Records") {
                match records.as_array() {
                    Some(list) if list.is_empty() => s.push_str(", whose Records is empty"),
                    Some(list) => {
                        let sources: Vec<String> =
                            list.iter().map(|r| quoted(source_of(r))).take(5).collect();
                        s.push_str(&format!(
                            ", whose Records have eventSource [{}]",
                            sources.join(", ")
                        ));
                    }
                    None => s.push_str(", whose Records is not an array"),
                }
            }
            s
        }
        Value::Array(items) => format!("an array of {} items", items.len()),
        Value::String(_) => "a string".into(),
        Value::Number(_) => "a number".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Null => "null".into(),
    }
}
