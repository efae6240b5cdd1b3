//! The function's own messages, the other AWS boundary besides CloudFront:
//! a watch per invalidation to the watch queue, a shorter delay for messages
//! left for a retry, and completion notices to an SNS topic. None of them is
//! worth failing an invocation for: the invalidations are made; a failure
//! here is logged and the caller goes on.

use crate::watch::Watch;
use std::time::Duration;

/// The first look at a new invalidation, a minute after its creation: most
/// take longer, and SQS holds the message meanwhile at no cost.
pub const FIRST_LOOK: Duration = Duration::from_secs(60);

/// ChangeMessageVisibilityBatch takes at most 10 entries.
const BATCH: usize = 10;

pub struct Queues {
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
}

impl Queues {
    /// Clients at `AWS_ENDPOINT_URL_SQS` and `_SNS` when set.
    pub fn from_conf(shared: &aws_types::SdkConfig) -> Self {
        let mut sqs = aws_sdk_sqs::config::Builder::from(shared);
        sqs.set_endpoint_url(crate::sdk::endpoint("SQS"));
        let mut sns = aws_sdk_sns::config::Builder::from(shared);
        sns.set_endpoint_url(crate::sdk::endpoint("SNS"));
        Queues {
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            sns: aws_sdk_sns::Client::from_conf(sns.build()),
        }
    }

    /// Asks the watch queue to bring `watch` back after [`FIRST_LOOK`].
    pub async fn send_watch(&self, queue_url: &str, watch: &Watch) -> Result<(), String> {
        self.sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(watch.body())
            .delay_seconds(FIRST_LOOK.as_secs() as i32)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "SendMessage to the watch queue failed: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })
    }

    /// Makes the messages (receipt handles) visible again after `delay`
    /// instead of the queue's visibility timeout. Returns how many it could
    /// not change (they come back after the queue's timeout).
    pub async fn delay_retry(&self, queue_url: &str, receipt_handles: &[&str], delay: Duration) -> usize {
        let mut unchanged = 0;
        for chunk in receipt_handles.chunks(BATCH) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, handle)| {
                    aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*handle)
                        .visibility_timeout(delay.as_secs() as i32)
                        .build()
                        .ok()
                })
                .collect();
            let result = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await;
            unchanged += match result {
                Ok(output) => output.failed().len(),
                Err(e) => {
                    tracing::warn!(
                        "ChangeMessageVisibilityBatch failed: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    );
                    chunk.len()
                }
            };
        }
        unchanged
    }

    /// Publishes `message` to `topic_arn`.
    pub async fn notify(&self, topic_arn: &str, subject: &str, message: String) -> Result<(), String> {
        self.sns
            .publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "Publish to {topic_arn} failed: {}",
                    aws_sdk_sns::error::DisplayErrorContext(e)
                )
            })
    }
}
