//! Any incoming JSON to the object changes it reports, grouped by the unit
//! that is retried on failure: an SQS message, or the whole event otherwise.
//! Understands S3 notifications, S3's test event, SNS envelopes, EventBridge
//! S3 events and SQS batches of any of these. A record that cannot be used is
//! kept with its reason so the caller can report it. Pure: no I/O.

use crate::path::{MAX_KEY_BYTES, decode_key};
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

/// How the event reached the function, which decides how failures are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Envelope {
    /// S3 invoking the function directly.
    S3,
    /// An SNS topic invoking the function.
    Sns,
    /// An EventBridge rule invoking the function.
    EventBridge,
    /// An SQS queue: failures are reported per message.
    Sqs,
}

/// What one retryable unit holds: an SQS message, or the whole event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The SQS message ID, for partial batch failures.
    pub message_id: Option<String>,
    pub changes: Vec<Change>,
    /// Records that are fine but need no invalidation (other event types).
    pub ignored: Vec<Skipped>,
    /// Records that could not be read (missing fields, broken key encoding).
    pub rejected: Vec<Skipped>,
    /// S3's test event, sent when a notification is configured.
    pub test_event: bool,
}

/// What one invocation's event holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub envelope: Envelope,
    pub units: Vec<Unit>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not an event this function understands: expected an S3 event notification (\"Records\" \
     whose eventSource is \"aws:s3\"), the S3 test event, an SNS or SQS event carrying one, or an \
     EventBridge event from aws.s3; received {shape}"
)]
pub struct EventError {
    pub shape: String,
}

pub fn parse(event: &Value) -> Result<Incoming, EventError> {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        if !records.is_empty() && records.iter().all(|r| source_of(r) == Some("aws:sqs")) {
            let units = records
                .iter()
                .enumerate()
                .map(|(i, r)| sqs_message(i, r))
                .collect();
            return Ok(Incoming {
                envelope: Envelope::Sqs,
                units,
            });
        }
        if !records.is_empty() && records.iter().all(|r| source_of(r) == Some("aws:sns")) {
            let mut unit = Unit::default();
            for (index, record) in records.iter().enumerate() {
                match record.pointer("/Sns/Message").and_then(Value::as_str) {
                    Some(message) => read_text(message, "SNS message", &mut unit),
                    None => unit
                        .rejected
                        .push(rejection(format!("SNS record {index} has no Sns.Message"))),
                }
            }
            return Ok(Incoming {
                envelope: Envelope::Sns,
                units: vec![unit],
            });
        }
    }
    let envelope = if is_eventbridge(event) {
        Envelope::EventBridge
    } else {
        Envelope::S3
    };
    let mut unit = Unit::default();
    read_payload(event, &mut unit).map_err(|shape| EventError { shape })?;
    Ok(Incoming {
        envelope,
        units: vec![unit],
    })
}

/// The eventSource of a Lambda event record (SNS spells it `EventSource`).
fn source_of(record: &Value) -> Option<&str> {
    record
        .get("eventSource")
        .or_else(|| record.get("EventSource"))
        .and_then(Value::as_str)
}

fn rejection(reason: String) -> Skipped {
    Skipped {
        bucket: None,
        key: None,
        reason,
    }
}

fn sqs_message(index: usize, record: &Value) -> Unit {
    let mut unit = Unit {
        message_id: record.get("messageId").and_then(Value::as_str).map(str::to_owned),
        ..Unit::default()
    };
    if unit.message_id.is_none() {
        unit.rejected
            .push(rejection(format!("SQS record {index} has no messageId")));
    }
    match record.get("body").and_then(Value::as_str) {
        Some(body) => read_text(body, "SQS message body", &mut unit),
        None => unit
            .rejected
            .push(rejection(format!("SQS record {index} has no body"))),
    }
    unit
}

/// Reads a JSON document carried as a string (an SQS body, an SNS message).
fn read_text(text: &str, what: &str, unit: &mut Unit) {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => {
            if let Err(shape) = read_payload(&value, unit) {
                unit.rejected
                    .push(rejection(format!("{what} is not an S3 change: {shape}")));
            }
        }
        Err(e) => {
            let start: String = text.chars().take(80).collect();
            unit.rejected
                .push(rejection(format!("{what} is not JSON ({e}): {start:?}")));
        }
    }
}

/// Reads one payload: an S3 notification, S3's test event, an SNS
/// notification envelope (SNS to SQS without raw delivery), or an EventBridge
/// S3 event. Anything else: `Err` with a description of its shape.
fn read_payload(value: &Value, unit: &mut Unit) -> Result<(), String> {
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        unit.test_event = true;
        return Ok(());
    }
    if let Some(records) = value.get("Records").and_then(Value::as_array)
        && records.iter().any(|r| source_of(r) == Some("aws:s3"))
    {
        for (index, record) in records.iter().enumerate() {
            match source_of(record) {
                Some("aws:s3") => read_s3_record(index, record, unit),
                other => unit.rejected.push(rejection(format!(
                    "record {index} has eventSource {}, not \"aws:s3\"",
                    quoted(other)
                ))),
            }
        }
        return Ok(());
    }
    if value.get("Type").and_then(Value::as_str) == Some("Notification")
        && let Some(message) = value.get("Message").and_then(Value::as_str)
    {
        read_text(message, "SNS message", unit);
        return Ok(());
    }
    if is_eventbridge(value) {
        read_eventbridge(value, unit);
        return Ok(());
    }
    Err(describe(value))
}

fn read_s3_record(index: usize, record: &Value, unit: &mut Unit) {
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
            unit.rejected.push(reject(format!(
                "record {index} is not a valid S3 event record: {e}"
            )));
            return;
        }
    };
    let event_name = record.event_name.clone().unwrap_or_default();
    if !(event_name.starts_with("ObjectCreated:") || event_name.starts_with("ObjectRemoved:")) {
        unit.ignored.push(Skipped {
            bucket: raw_bucket,
            key: raw_key,
            reason: format!("event {event_name:?} does not change the object's content"),
        });
        return;
    }
    let Some(bucket) = record.s3.bucket.name.clone() else {
        unit.rejected
            .push(reject(format!("record {index} has no s3.bucket.name")));
        return;
    };
    let Some(raw) = record.s3.object.key.clone() else {
        unit.rejected
            .push(reject(format!("record {index} has no s3.object.key")));
        return;
    };
    let key = match decode_key(&raw) {
        Ok(key) => key,
        Err(e) => {
            unit.rejected.push(reject(format!("record {index}: {e}")));
            return;
        }
    };
    let object = &record.s3.object;
    let identity = identity(&[
        &bucket,
        &raw,
        &event_name,
        &record.event_time.to_rfc3339(),
        object.sequencer.as_deref().unwrap_or(""),
        object.version_id.as_deref().unwrap_or(""),
    ]);
    unit.changes.push(Change {
        bucket,
        key,
        identity,
    });
}

fn identity(parts: &[&str]) -> String {
    parts.join("\n")
}

fn is_eventbridge(value: &Value) -> bool {
    value.get("source").and_then(Value::as_str) == Some("aws.s3") && value.get("detail-type").is_some()
}

/// An EventBridge S3 event. AWS does not document whether `detail.object.key`
/// is URL-encoded. A key holding neither `+` nor `%` reads the same either
/// way; for one that does, both readings are invalidated (the decoded one
/// only when it decodes), so the object is covered whichever is right, at the
/// cost of one extra path for such keys.
fn read_eventbridge(value: &Value, unit: &mut Unit) {
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
    let (Some(bucket), Some(raw)) = (bucket, raw) else {
        unit.rejected.push(skipped(
            "EventBridge event has no detail.bucket.name or detail.object.key".into(),
        ));
        return;
    };
    if raw.is_empty() || raw.len() > MAX_KEY_BYTES {
        let reason = format!(
            "EventBridge detail.object.key is {} bytes; S3 keys are 1 to 1,024",
            raw.len()
        );
        unit.rejected.push(skipped(reason));
        return;
    }
    let identity = identity(&[
        bucket,
        raw,
        detail_type,
        value.get("time").and_then(Value::as_str).unwrap_or(""),
        str_at("/detail/object/sequencer").unwrap_or(""),
        str_at("/detail/object/version-id").unwrap_or(""),
    ]);
    let mut keys = vec![raw.to_owned()];
    if raw.contains(['+', '%'])
        && let Ok(decoded) = decode_key(raw)
    {
        keys.insert(0, decoded);
    }
    for key in keys {
        unit.changes.push(Change {
            bucket: bucket.to_owned(),
            key,
            identity: identity.clone(),
        });
    }
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
