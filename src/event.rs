//! Any incoming JSON to the object changes it reports, grouped by the unit
//! that is retried on failure: an SQS message, or the whole event otherwise.
//! Understands S3 notifications, S3's test event, SNS envelopes, EventBridge
//! S3 events and SQS batches of any of these. A record that cannot be used is
//! kept with its reason so the caller can report it. Pure: no I/O.

use crate::path::{MAX_KEY_BYTES, decode_key};
use crate::watch::Watch;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;

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
    /// When S3 reported the change, in milliseconds since the Unix epoch, if
    /// the event says (see `discovery`).
    pub time_ms: Option<i64>,
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
    /// An invalidation to follow, from the watch queue (see `watch`).
    pub watch: Option<Watch>,
    /// For an SQS message: its receipt handle, and how often it was received.
    pub receipt_handle: Option<String>,
    pub receive_count: u32,
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
    // Lambda's on-failure record of an asynchronous invocation (a dead-letter
    // message handed back to the function): the event inside.
    if let Some(original) = failed_invocation(event) {
        return parse(original);
    }
    if let Some(records) = event.get("Records").and_then(Value::as_array)
        && !records.is_empty()
        && records.iter().all(|r| source_of(r) == Some("aws:sqs"))
    {
        let units = records
            .iter()
            .enumerate()
            .map(|(i, r)| sqs_message(i, &sqs_record_of(r)))
            .collect();
        return Ok(Incoming {
            envelope: Envelope::Sqs,
            units,
        });
    }
    let envelope = if is_eventbridge(event) {
        Envelope::EventBridge
    } else if is_sns_event(event) {
        Envelope::Sns
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

/// An SNS topic's Lambda event: `Records` whose `EventSource` is `aws:sns`.
fn is_sns_event(value: &Value) -> bool {
    value
        .get("Records")
        .and_then(Value::as_array)
        .is_some_and(|records| !records.is_empty() && records.iter().all(|r| source_of(r) == Some("aws:sns")))
}

/// The event inside Lambda's on-failure record of an asynchronous invocation
/// (`requestContext` with the `requestPayload` that failed).
fn failed_invocation(value: &Value) -> Option<&Value> {
    value.get("requestContext")?.get("condition")?;
    value.get("requestPayload")
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

/// What the function reads of an SQS record.
#[derive(Debug, Default, Deserialize)]
struct SqsRecord<'a> {
    #[serde(rename = "eventSource", borrow, default)]
    source: Option<Cow<'a, str>>,
    #[serde(rename = "messageId", borrow, default)]
    message_id: Option<Cow<'a, str>>,
    #[serde(rename = "receiptHandle", borrow, default)]
    receipt_handle: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    body: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    attributes: Option<SqsAttributes<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct SqsAttributes<'a> {
    #[serde(rename = "ApproximateReceiveCount", borrow, default)]
    receive_count: Option<Cow<'a, str>>,
}

/// An SQS event as its own type, read straight from the event's text.
#[derive(Deserialize)]
struct SqsEvent<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<SqsRecord<'a>>,
}

/// Reads an event from its text. An SQS batch, the function's commonest and
/// largest event (up to 6 MB), is read into its own types without building a
/// JSON tree; anything else as in [`parse`].
pub fn parse_text(text: &str) -> Result<Incoming, EventError> {
    if let Ok(event) = serde_json::from_str::<SqsEvent>(text)
        && !event.records.is_empty()
        && event
            .records
            .iter()
            .all(|r| r.source.as_deref() == Some("aws:sqs"))
    {
        let units = event
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| sqs_message(i, r))
            .collect();
        return Ok(Incoming {
            envelope: Envelope::Sqs,
            units,
        });
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) => parse(&value),
        Err(e) => Err(EventError {
            shape: format!("text that is not JSON ({e})"),
        }),
    }
}

/// A record of a JSON tree as an [`SqsRecord`], field by field.
fn sqs_record_of(value: &Value) -> SqsRecord<'_> {
    let str_at = |pointer: &str| value.pointer(pointer).and_then(Value::as_str).map(Cow::Borrowed);
    SqsRecord {
        source: source_of(value).map(Cow::Borrowed),
        message_id: str_at("/messageId"),
        receipt_handle: str_at("/receiptHandle"),
        body: str_at("/body"),
        attributes: Some(SqsAttributes {
            receive_count: str_at("/attributes/ApproximateReceiveCount"),
        }),
    }
}

fn sqs_message(index: usize, record: &SqsRecord) -> Unit {
    let mut unit = Unit {
        message_id: record.message_id.as_deref().map(str::to_owned),
        receipt_handle: record.receipt_handle.as_deref().map(str::to_owned),
        receive_count: record
            .attributes
            .as_ref()
            .and_then(|a| a.receive_count.as_deref())
            .and_then(|n| n.parse().ok())
            .unwrap_or(1),
        ..Unit::default()
    };
    if unit.message_id.is_none() {
        unit.rejected
            .push(rejection(format!("SQS record {index} has no messageId")));
    }
    match record.body.as_deref() {
        Some(body) => read_text(body, "SQS message body", &mut unit),
        None => unit
            .rejected
            .push(rejection(format!("SQS record {index} has no body"))),
    }
    unit
}

/// Reads a JSON document carried as a string (an SQS body, an SNS message).
fn read_text(text: &str, what: &str, unit: &mut Unit) {
    if let Ok(notification) = serde_json::from_str::<S3Notification>(text)
        && notification.records.iter().any(|r| r.source() == Some("aws:s3"))
    {
        read_s3_records(&notification.records, unit);
        return;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) if value.get("watch").is_some() => match Watch::from_body(&value) {
            Some(Ok(watch)) => unit.watch = Some(watch),
            Some(Err(e)) => unit.rejected.push(rejection(e)),
            None => {}
        },
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
    if let Some(original) = failed_invocation(value) {
        return read_payload(original, unit);
    }
    if is_sns_event(value) {
        let records = value["Records"].as_array().into_iter().flatten();
        for (index, record) in records.enumerate() {
            match record.pointer("/Sns/Message").and_then(Value::as_str) {
                Some(message) => read_text(message, "SNS message", unit),
                None => unit
                    .rejected
                    .push(rejection(format!("SNS record {index} has no Sns.Message"))),
            }
        }
        return Ok(());
    }
    if let Some(records) = value.get("Records").and_then(Value::as_array)
        && records.iter().any(|r| source_of(r) == Some("aws:s3"))
    {
        let records: Vec<S3Record> = records.iter().map(s3_record_of).collect();
        read_s3_records(&records, unit);
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

/// What the function reads of one S3 notification record, and nothing else:
/// a producer that leaves out other fields (an S3-compatible store, a local
/// stand-in) is still served.
#[derive(Debug, Default, Deserialize)]
struct S3Record<'a> {
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
struct S3Notification<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<S3Record<'a>>,
}

impl S3Record<'_> {
    fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
}

/// Reads the records of an S3 notification.
fn read_s3_records(records: &[S3Record], unit: &mut Unit) {
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
    if !changes_content(event_name.strip_prefix("s3:").unwrap_or(event_name)) {
        unit.ignored.push(skipped(format!(
            "event {event_name:?} does not change the object's content"
        )));
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
        time_ms: epoch_ms(time),
    });
}

/// A record of a JSON tree as an [`S3Record`], field by field: a field of
/// another type reads as missing.
fn s3_record_of(value: &Value) -> S3Record<'_> {
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

/// An RFC 3339 time (`2026-11-25T10:15:30.123Z`) in milliseconds since the
/// Unix epoch; `None` when absent or unreadable.
fn epoch_ms(time: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.timestamp_millis())
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
            time_ms: epoch_ms(time),
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
