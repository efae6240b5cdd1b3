//! SQS as Lambda's event source mappings and the function see it: messages
//! with their SentTimestamp, receive counts and receipt handles; a
//! visibility timeout from each receive; the redrive to a dead-letter queue
//! once a message is received more than `maxReceiveCount` times; delays
//! (SendMessage's DelaySeconds) and ChangeMessageVisibilityBatch, both
//! through SQS's JSON API as the SDK sends it.

use crate::rng::Rng;
use crate::world::{Reply, at_ms};
use serde_json::{Value, json};
use tokio::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub body: String,
    pub sent_ms: i64,
    pub visible_at: Instant,
    pub receive_count: u32,
    pub receipt: String,
    /// The S3 changes this message reports (indices into the run's
    /// changes), for the checks.
    pub changes: Vec<usize>,
}

pub struct Queue {
    pub name: &'static str,
    pub url: String,
    pub messages: Vec<Message>,
    pub visibility: Duration,
    /// Receives before the dead-letter queue; `None`: no redrive.
    pub max_receives: Option<u32>,
    /// Where messages go after `max_receives`.
    pub dead_letters: Option<usize>,
}

pub struct Sqs {
    pub queues: Vec<Queue>,
    /// Every body the function sent to the watch queue.
    pub sent_watches: Vec<String>,
    next: u64,
}

/// The queues of a stack: changes, their dead letters, watches, theirs.
pub const CHANGES: usize = 0;
pub const DEAD_LETTERS: usize = 1;
pub const WATCHES: usize = 2;
pub const WATCH_DEAD_LETTERS: usize = 3;

/// The batch limits of Lambda's SQS event source: its payload limit.
pub const PAYLOAD_LIMIT: usize = 6 * 1024 * 1024 - 50_000;

impl Sqs {
    /// The queues as the template makes them.
    pub fn new(
        changes_visibility: Duration,
        max_receives: u32,
        watch_visibility: Duration,
        watch_receives: u32,
    ) -> Sqs {
        let queue = |name: &'static str, visibility, max_receives, dead_letters| Queue {
            name,
            url: format!("https://sqs.us-east-1.amazonaws.com/123456789012/{name}"),
            messages: Vec::new(),
            visibility,
            max_receives,
            dead_letters,
        };
        Sqs {
            queues: vec![
                queue(
                    "changes",
                    changes_visibility,
                    Some(max_receives),
                    Some(DEAD_LETTERS),
                ),
                queue("dead-letters", changes_visibility, None, None),
                queue(
                    "watches",
                    watch_visibility,
                    Some(watch_receives),
                    Some(WATCH_DEAD_LETTERS),
                ),
                queue("watch-dead-letters", watch_visibility, None, None),
            ],
            sent_watches: Vec::new(),
            next: 0,
        }
    }

    pub fn url(&self, queue: usize) -> String {
        self.queues[queue].url.clone()
    }

    fn id(&mut self, what: &str) -> String {
        self.next += 1;
        format!("{what}-{:08}", self.next)
    }

    pub fn send(
        &mut self,
        queue: usize,
        body: String,
        delay: Duration,
        changes: Vec<usize>,
        now: Instant,
        start: Instant,
    ) {
        let message = Message {
            id: self.id("m"),
            body,
            sent_ms: at_ms(now, start),
            visible_at: now + delay,
            receive_count: 0,
            receipt: String::new(),
            changes,
        };
        self.queues[queue].messages.push(message);
    }

    /// Messages visible now, in the order SQS happens to return them.
    pub fn visible(&self, queue: usize, now: Instant) -> usize {
        self.queues[queue]
            .messages
            .iter()
            .filter(|m| m.visible_at <= now)
            .count()
    }

    /// Receives up to `max` visible messages (and at most Lambda's payload
    /// limit), each invisible for the queue's visibility timeout. A message
    /// received more than `max_receives` times goes to the dead-letter queue
    /// instead.
    pub fn receive(&mut self, queue: usize, max: usize, rng: &mut Rng, now: Instant) -> Vec<Message> {
        let mut visible: Vec<usize> = (0..self.queues[queue].messages.len())
            .filter(|&i| self.queues[queue].messages[i].visible_at <= now)
            .collect();
        // Standard queues give no order: a few swaps.
        for _ in 0..visible.len() / 4 {
            let (a, b) = (
                rng.below(visible.len() as u64) as usize,
                rng.below(visible.len() as u64) as usize,
            );
            visible.swap(a, b);
        }
        let mut batch = Vec::new();
        let mut size = 0;
        let mut moved = Vec::new();
        for i in visible {
            if batch.len() == max {
                break;
            }
            let receipt = self.id("r");
            let q = &mut self.queues[queue];
            let message = &mut q.messages[i];
            message.receive_count += 1;
            if q.max_receives.is_some_and(|most| message.receive_count > most) {
                moved.push(i);
                continue;
            }
            if size + message.body.len() + 600 > PAYLOAD_LIMIT && !batch.is_empty() {
                message.receive_count -= 1;
                break;
            }
            size += message.body.len() + 600;
            message.visible_at = now + q.visibility;
            message.receipt = receipt;
            batch.push(message.clone());
        }
        moved.sort_unstable();
        for i in moved.into_iter().rev() {
            let message = self.queues[queue].messages.remove(i);
            if let Some(dead) = self.queues[queue].dead_letters {
                self.queues[dead].messages.push(message);
            }
        }
        batch
    }

    /// Deletes the messages of a batch that Lambda counts as done.
    pub fn delete(&mut self, queue: usize, receipts: &[String]) {
        self.queues[queue]
            .messages
            .retain(|m| !receipts.contains(&m.receipt));
    }

    /// The SQS JSON API: SendMessage and ChangeMessageVisibilityBatch.
    pub fn serve(&mut self, target: &str, body: &str, _rng: &mut Rng, now: Instant, start: Instant) -> Reply {
        let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let queue = request["QueueUrl"]
            .as_str()
            .and_then(|url| self.queues.iter().position(|q| q.url == url));
        let Some(queue) = queue else {
            return Reply::json(
                400,
                r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no such queue"}"#.into(),
            );
        };
        match target.rsplit('.').next().unwrap_or("") {
            "SendMessage" => {
                let delay = Duration::from_secs(request["DelaySeconds"].as_u64().unwrap_or(0));
                let text = request["MessageBody"].as_str().unwrap_or("").to_owned();
                if queue == WATCHES {
                    self.sent_watches.push(text.clone());
                }
                self.send(queue, text, delay, Vec::new(), now, start);
                let id = self.queues[queue]
                    .messages
                    .last()
                    .map(|m| m.id.clone())
                    .unwrap_or_default();
                Reply::json(
                    200,
                    json!({"MessageId": id, "MD5OfMessageBody": "00000000000000000000000000000000"})
                        .to_string(),
                )
            }
            "ChangeMessageVisibilityBatch" => {
                let mut successful = Vec::new();
                let mut failed = Vec::new();
                for entry in request["Entries"].as_array().into_iter().flatten() {
                    let id = entry["Id"].as_str().unwrap_or("").to_owned();
                    let receipt = entry["ReceiptHandle"].as_str().unwrap_or("");
                    let timeout = Duration::from_secs(entry["VisibilityTimeout"].as_u64().unwrap_or(0));
                    match self.queues[queue].messages.iter_mut().find(|m| m.receipt == receipt && m.visible_at > now) {
                        Some(message) => {
                            message.visible_at = now + timeout;
                            successful.push(json!({"Id": id}));
                        }
                        None => failed.push(json!({"Id": id, "SenderFault": true, "Code": "ReceiptHandleIsInvalid", "Message": "expired"})),
                    }
                }
                Reply::json(
                    200,
                    json!({"Successful": successful, "Failed": failed}).to_string(),
                )
            }
            other => Reply::json(
                400,
                format!(r#"{{"__type":"com.amazonaws.sqs#InvalidAction","message":"{other}"}}"#),
            ),
        }
    }
}

/// The event Lambda's SQS event source sends the function for `batch`.
pub fn lambda_event(queue: &Queue, batch: &[Message]) -> String {
    let records: Vec<Value> = batch
        .iter()
        .map(|m| {
            json!({
                "messageId": m.id,
                "receiptHandle": m.receipt,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": m.receive_count.to_string(),
                    "SentTimestamp": m.sent_ms.to_string(),
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": m.sent_ms.to_string()
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{}", queue.name),
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records }).to_string()
}
