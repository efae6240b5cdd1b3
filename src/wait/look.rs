//! What `wait` reads at each look, the only AWS calls it makes besides the
//! stack: the change queue's counts, the dead-letter queue's messages (read
//! without hiding them), CloudFront's invalidations, and with `auto` the
//! distributions that serve the bucket. Every call is free or costs a
//! fraction of a cent per thousand.

use crate::fresh::{Counts, DeadLetter, Invalidation};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use cloudfront_invalidator::event;
use serde_json::Value;

/// The one line about a failed call.
fn failed(operation: &str, about: &str, error: impl std::error::Error) -> String {
    format!(
        "{operation} {about} failed: {}",
        aws_sdk_cloudfront::error::DisplayErrorContext(error)
    )
}

/// The queue's messages: waiting, in flight (with the function, or back
/// later for a retry), delayed.
pub async fn counts(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<Counts, String> {
    use QueueAttributeName::{
        ApproximateNumberOfMessages, ApproximateNumberOfMessagesDelayed,
        ApproximateNumberOfMessagesNotVisible,
    };
    let got = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(ApproximateNumberOfMessages)
        .attribute_names(ApproximateNumberOfMessagesNotVisible)
        .attribute_names(ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| failed("GetQueueAttributes", queue_url, e))?;
    let count = |name: &QueueAttributeName| {
        got.attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Counts {
        waiting: count(&ApproximateNumberOfMessages),
        in_flight: count(&ApproximateNumberOfMessagesNotVisible),
        delayed: count(&ApproximateNumberOfMessagesDelayed),
    })
}

/// Up to ten messages of the dead-letter queue, received with a visibility
/// timeout of 0: they stay visible for whoever redrives them.
pub async fn dead_letters(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<Vec<DeadLetter>, String> {
    let got = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .wait_time_seconds(0)
        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
        .send()
        .await
        .map_err(|e| failed("ReceiveMessage", queue_url, e))?;
    Ok(got
        .messages()
        .iter()
        .map(|m| {
            let sent_ms = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                .and_then(|v| v.parse().ok())
                .unwrap_or(i64::MAX);
            read_dead_letter(m.body().unwrap_or_default(), sent_ms)
        })
        .collect())
}

/// A dead-letter message as the function reads events: an S3 notification
/// or EventBridge event (moved there by SQS), or Lambda's on-failure record
/// (bucket-to-function) with the error that ended it.
pub fn read_dead_letter(body: &str, sent_ms: i64) -> DeadLetter {
    let value: Option<Value> = serde_json::from_str(body).ok();
    let parsed = value.as_ref().map(event::parse);
    let (changes, unreadable) = match parsed {
        Some(Ok(incoming)) => {
            let changes = incoming
                .units
                .iter()
                .flat_map(|u| u.changes.iter().map(|c| (c.key.clone(), c.time_ms)))
                .collect();
            let rejected = incoming.units.iter().any(|u| !u.rejected.is_empty());
            (changes, rejected)
        }
        _ => (Vec::new(), true),
    };
    let reason = value.as_ref().and_then(|v| {
        let payload = v.get("responsePayload")?;
        let message = payload.get("errorMessage").and_then(Value::as_str);
        let kind = payload.get("errorType").and_then(Value::as_str);
        match (kind, message) {
            (Some(kind), Some(message)) => Some(format!("{kind}: {message}")),
            (kind, message) => kind.or(message).map(str::to_owned),
        }
    });
    DeadLetter {
        sent_ms,
        changes,
        unreadable,
        reason,
    }
}

/// The distribution's invalidations created from `floor_ms` on, as far as
/// CloudFront lists them (newest first: the pages stop at the first older
/// one; a listing in another order, as moto's, is read to its end).
pub async fn invalidations(
    cloudfront: &aws_sdk_cloudfront::Client,
    distribution: &str,
    floor_ms: i64,
) -> Result<Vec<Invalidation>, String> {
    let mut found = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = cloudfront
            .list_invalidations()
            .distribution_id(distribution)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| failed("ListInvalidations", distribution, e))?;
        let Some(list) = page.invalidation_list() else {
            break;
        };
        let items: Vec<Invalidation> = list
            .items()
            .iter()
            .map(|s| Invalidation {
                distribution: distribution.to_owned(),
                id: s.id().to_owned(),
                // A time that does not fit counts as inside the window.
                created_ms: s.create_time().to_millis().unwrap_or(floor_ms),
                completed: s.status().eq_ignore_ascii_case("completed"),
            })
            .collect();
        let newest_first = items.windows(2).all(|w| w[0].created_ms >= w[1].created_ms);
        let reached_older = items.last().is_some_and(|i| i.created_ms < floor_ms);
        found.extend(items.into_iter().filter(|i| i.created_ms >= floor_ms));
        match list.next_marker() {
            Some(next) if list.is_truncated() && !next.is_empty() && !(newest_first && reached_older) => {
                marker = Some(next.to_owned());
            }
            _ => break,
        }
    }
    Ok(found)
}

/// The account's distributions with an S3 origin on `bucket` (for
/// `DistributionIds` `auto`, as the function finds them).
pub async fn distributions_of(
    cloudfront: &aws_sdk_cloudfront::Client,
    bucket: &str,
) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = cloudfront
            .list_distributions()
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| failed("ListDistributions", "of the account", e))?;
        let Some(list) = page.distribution_list() else {
            break;
        };
        for d in list.items() {
            let origins = d.origins().map(|o| o.items()).unwrap_or_default();
            if origins
                .iter()
                .any(|o| cloudfront_invalidator::distribution::serves_bucket(o.domain_name(), bucket))
            {
                found.push(d.id().to_owned());
            }
        }
        match list.next_marker() {
            Some(next) if list.is_truncated() && !next.is_empty() => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_of_every_wiring_are_read_with_their_changes_and_reason() {
        // SQS's redrive: the S3 notification as it arrived.
        let s3 = r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","eventTime":"2026-12-06T10:01:59.000Z",
            "s3":{"bucket":{"name":"site"},"object":{"key":"css%2Fsite.css","size":3}}}]}"#;
        let letter = read_dead_letter(s3, 5);
        assert_eq!(
            letter.changes,
            [("css/site.css".to_owned(), Some(1_796_551_319_000))]
        );
        assert!(!letter.unreadable && letter.reason.is_none());
        // Lambda's on-failure record (bucket-to-function), with the error.
        let record = format!(
            r#"{{"requestContext":{{"condition":"RetriesExhausted","approximateInvokeCount":3}},"requestPayload":{s3},
               "responsePayload":{{"errorType":"Submit","errorMessage":"CreateInvalidation failed: AccessDenied"}}}}"#
        );
        let letter = read_dead_letter(&record, 5);
        assert_eq!(letter.changes.len(), 1);
        assert_eq!(
            letter.reason.as_deref(),
            Some("Submit: CreateInvalidation failed: AccessDenied")
        );
        // EventBridge (existing-bucket).
        let bridge = r#"{"source":"aws.s3","detail-type":"Object Created","time":"2026-12-06T10:01:59Z",
            "detail":{"bucket":{"name":"site"},"object":{"key":"index.html"}}}"#;
        assert_eq!(read_dead_letter(bridge, 5).changes[0].0, "index.html");
        // Anything else may be a change too: it counts as unreadable.
        assert!(read_dead_letter("not json", 5).unreadable);
        assert!(read_dead_letter(r#"{"hello": 1}"#, 5).unreadable);
    }
}
