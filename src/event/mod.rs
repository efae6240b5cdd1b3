//! Any incoming JSON to the object changes it reports, grouped by the unit
//! that is retried on failure: an SQS message, or the whole event otherwise.
//! Understands S3 notifications ([`s3`]), S3's test event, SNS envelopes,
//! EventBridge S3 events ([`eventbridge`]), SQS batches of any of these
//! ([`sqs`]) and Lambda's on-failure records. A record that cannot be used is
//! kept with its reason so the caller can report it. Pure: no I/O.

mod eventbridge;
mod s3;
mod sqs;

use crate::watch::Watch;
use eventbridge::{is_eventbridge, read_eventbridge};
use s3::{S3Notification, S3Record, read_s3_records, s3_record_of};
use serde::Serialize;
use serde_json::Value;
use sqs::{SqsEvent, sqs_message, sqs_record_of};

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
    /// the event says: the latest instant its time can stand for (an
    /// EventBridge time in whole seconds is up to 999 ms after what it says).
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

/// A unit's place in the event's list of units.
pub type UnitIndex = usize;

/// Units, by their place in the event.
pub type Units = std::collections::BTreeSet<UnitIndex>;

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
pub(super) fn source_of(record: &Value) -> Option<&str> {
    record
        .get("eventSource")
        .or_else(|| record.get("EventSource"))
        .and_then(Value::as_str)
}

pub(super) fn rejection(reason: String) -> Skipped {
    Skipped {
        bucket: None,
        key: None,
        reason,
    }
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

/// Reads a JSON document carried as a string (an SQS body, an SNS message).
pub(super) fn read_text(text: &str, what: &str, unit: &mut Unit) {
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
pub(super) fn read_payload(value: &Value, unit: &mut Unit) -> Result<(), String> {
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

pub(super) fn quoted(value: Option<&str>) -> String {
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
