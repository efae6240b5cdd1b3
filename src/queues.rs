//! The function's own messages, the other AWS boundary besides CloudFront:
//! a watch per invalidation to the watch queue, a shorter delay for messages
//! left for a retry, and completion notices to an SNS topic. Every call takes
//! the invocation's deadline.

use crate::clock::Deadline;
use crate::sdk::AwsError;
use crate::watch::Watch;
use aws_sdk_sqs::config::timeout::TimeoutConfig;
use std::time::Duration;

/// The first look at a new invalidation, a minute after its creation: most
/// take longer, and SQS holds the message meanwhile at no cost.
pub const FIRST_LOOK: Duration = Duration::from_secs(60);

/// One SQS or SNS call may take this long at most.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// ChangeMessageVisibilityBatch takes at most 10 entries.
const BATCH: usize = 10;

pub struct Queues {
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
}

/// Timeouts for a call given `time`.
fn within(time: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_attempt_timeout(time)
        .operation_timeout(time)
        .build()
}

impl Queues {
    /// Clients at `AWS_ENDPOINT_URL_SQS` and `_SNS` when set.
    pub fn from_conf(shared: &aws_types::SdkConfig) -> Self {
        Queues {
            sqs: aws_sdk_sqs::Client::new(shared),
            sns: aws_sdk_sns::Client::new(shared),
        }
    }

    /// Asks the watch queue to bring `watch` back after [`FIRST_LOOK`].
    pub async fn send_watch(
        &self,
        queue_url: &str,
        watch: &Watch,
        deadline: Deadline,
    ) -> Result<(), AwsError> {
        const OPERATION: &str = "SendMessage";
        const ABOUT: &str = "to the watch queue";
        let time = deadline
            .for_call(CALL_TIMEOUT)
            .ok_or_else(|| AwsError::no_time(OPERATION, ABOUT))?;
        self.sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(watch.body())
            .delay_seconds(FIRST_LOOK.as_secs() as i32)
            .customize()
            .config_override(aws_sdk_sqs::Config::builder().timeout_config(within(time)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::new(OPERATION, ABOUT, e))
    }

    /// Makes the messages (receipt handles) visible again after `delay`
    /// instead of the queue's visibility timeout. Returns how many it could
    /// not change (they come back after the queue's timeout).
    pub async fn delay_retry(
        &self,
        queue_url: &str,
        receipt_handles: &[&str],
        delay: Duration,
        deadline: Deadline,
    ) -> usize {
        const OPERATION: &str = "ChangeMessageVisibilityBatch";
        let mut unchanged = 0;
        for chunk in receipt_handles.chunks(BATCH) {
            let Some(time) = deadline.for_call(CALL_TIMEOUT) else {
                unchanged += chunk.len();
                continue;
            };
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
                .customize()
                .config_override(aws_sdk_sqs::Config::builder().timeout_config(within(time)))
                .send()
                .await;
            unchanged += match result {
                Ok(output) => output.failed().len(),
                Err(e) => {
                    tracing::warn!("{}", AwsError::new(OPERATION, format!("of {queue_url}"), e));
                    chunk.len()
                }
            };
        }
        unchanged
    }

    /// Publishes `message` to `topic_arn`.
    pub async fn notify(
        &self,
        topic_arn: &str,
        subject: &str,
        message: String,
        deadline: Deadline,
    ) -> Result<(), AwsError> {
        const OPERATION: &str = "Publish";
        let about = || format!("to {topic_arn}");
        let time = deadline
            .for_call(CALL_TIMEOUT)
            .ok_or_else(|| AwsError::no_time(OPERATION, about()))?;
        self.sns
            .publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message(message)
            .customize()
            .config_override(aws_sdk_sns::Config::builder().timeout_config(within(time)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::new(OPERATION, about(), e))
    }
}
