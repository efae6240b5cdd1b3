//! SQS batches, the queue wirings' events: one unit per message, its body
//! read as any other payload.

use super::{Unit, read_text, rejection, source_of};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

/// What the function reads of an SQS record.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SqsRecord<'a> {
    #[serde(rename = "eventSource", borrow, default)]
    pub(super) source: Option<Cow<'a, str>>,
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
pub(super) struct SqsEvent<'a> {
    #[serde(rename = "Records", borrow)]
    pub(super) records: Vec<SqsRecord<'a>>,
}

/// A record of a JSON tree as an [`SqsRecord`], field by field.
pub(super) fn sqs_record_of(value: &Value) -> SqsRecord<'_> {
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

pub(super) fn sqs_message(index: usize, record: &SqsRecord) -> Unit {
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
