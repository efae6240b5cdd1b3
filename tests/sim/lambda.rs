//! Lambda, running the real function: execution environments created on
//! demand, reused with what they remember and recycled; the SQS event source
//! mappings (batch size, batching window, MaximumConcurrency, partial batch
//! responses); asynchronous invocations for the direct wiring (two retries a
//! minute and two apart, then the on-failure destination); the invocation's
//! deadline, past which the environment is stopped.

use crate::rng::Rng;
use crate::sqs::{self, Message};
use crate::world::{Env, Shared, lock, sdk_config};
use aws_sdk_cloudfront::config::retry::RetryPartition;
use cloudfront_invalidator::queues::Queues;
use cloudfront_invalidator::{Clock, Config, Deadline, Invalidator, Response, cloudfront};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio::time::{Duration, Instant};

/// The function's timeout in the template.
pub const TIMEOUT: Duration = Duration::from_secs(180);

struct Environment {
    id: Env,
    invalidator: Arc<Invalidator>,
    last_used: Instant,
    /// Idle longer than this, Lambda recycles it.
    idle_limit: Duration,
}

#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub environments: usize,
    pub invocations: usize,
    /// Invocations stopped at their deadline.
    pub deadline: usize,
    /// Invocations that answered with an error.
    pub errors: usize,
    /// Changes whose asynchronous event went to the on-failure destination.
    pub parked: Vec<usize>,
    /// Asynchronous events not finished yet.
    pub pending: usize,
    pub running: usize,
}

pub struct Lambda {
    world: Shared,
    config: Config,
    idle: Mutex<Vec<Environment>>,
    rng: Mutex<Rng>,
    pub counts: Mutex<Counts>,
    /// Reserved concurrency, when the function has one.
    reserved: Option<Arc<Semaphore>>,
    /// This run's number in the process.
    run: std::sync::OnceLock<u64>,
}

impl Lambda {
    pub fn new(world: Shared, config: Config, rng: Rng, reserved: Option<usize>) -> Lambda {
        Lambda {
            world,
            config,
            idle: Mutex::new(Vec::new()),
            rng: Mutex::new(rng),
            counts: Mutex::new(Counts::default()),
            reserved: reserved.map(|n| Arc::new(Semaphore::new(n))),
            run: std::sync::OnceLock::new(),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().expect("counts")
    }

    /// A warm environment, or a new one (a cold start).
    fn environment(&self) -> Environment {
        let now = Instant::now();
        let mut idle = self.idle.lock().expect("idle");
        idle.retain(|e| now.duration_since(e.last_used) < e.idle_limit);
        if let Some(environment) = idle.pop() {
            return environment;
        }
        drop(idle);
        let id = {
            let mut counts = self.counts();
            counts.environments += 1;
            counts.environments
        };
        let shared = sdk_config(&self.world, id);
        let (start, skew) = {
            let mut w = lock(&self.world);
            (w.start, w.rng.between(0, 600) as i64 - 300)
        };
        let clock = Clock::from_fn(move || crate::world::at_ms(Instant::now(), start) + skew);
        // Each Lambda process has its own retry quotas; in one process the
        // SDK would share them between every client of a service, and keep
        // them from one run to the next (a static map, by name): a name of
        // this run's and this environment's own.
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let run = self
            .run
            .get_or_init(|| RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let partition = |service: &str| RetryPartition::custom(format!("{service}-{run}-{id}")).build();
        let client = aws_sdk_cloudfront::Client::from_conf(
            cloudfront::config(&shared)
                .retry_partition(partition("cloudfront"))
                .build(),
        );
        let queues = Queues {
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&shared)
                    .retry_partition(partition("sqs"))
                    .build(),
            ),
            sns: aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(&shared)
                    .retry_partition(partition("sns"))
                    .build(),
            ),
        };
        let invalidator = Invalidator::new(client, self.config.clone())
            .with_queues(queues)
            .with_clock(clock);
        let idle_limit = Duration::from_secs(self.rng.lock().expect("rng").between(300, 1800));
        Environment {
            id,
            invalidator: Arc::new(invalidator),
            last_used: now,
            idle_limit,
        }
    }

    /// One invocation with `event`: `None` when the function failed (an
    /// error, or its deadline passed).
    pub async fn invoke(&self, event: &str) -> Option<Response> {
        let environment = self.environment();
        {
            let mut counts = self.counts();
            counts.invocations += 1;
            counts.running += 1;
        }
        let deadline = Deadline::after(TIMEOUT);
        let handled = environment.invalidator.handle_text(event, deadline);
        let span = tracing::info_span!(target: "sim", "environment", id = environment.id);
        let answer = tokio::time::timeout(TIMEOUT, tracing::Instrument::instrument(handled, span)).await;
        let mut counts = self.counts();
        counts.running -= 1;
        let (response, keep) = match answer {
            Ok(Ok(response)) => (Some(response), true),
            Ok(Err(_)) => {
                counts.errors += 1;
                (None, true)
            }
            Err(_) => {
                counts.deadline += 1;
                (None, false)
            }
        };
        drop(counts);
        // Now and then Lambda recycles an environment anyway.
        let recycled = self.rng.lock().expect("rng").chance(0.03);
        if keep && !recycled {
            let mut environment = environment;
            environment.last_used = Instant::now();
            self.idle.lock().expect("idle").push(environment);
        }
        response
    }

    /// An asynchronous invocation (S3 invoking the function directly):
    /// throttled events wait for a free slot without counting as attempts;
    /// a failure is retried after a minute, then after two; then the event
    /// goes to the on-failure destination.
    pub async fn invoke_async(self: Arc<Self>, event: String, changes: Vec<usize>) {
        self.counts().pending += 1;
        for attempt in 0..3u64 {
            let permit = match &self.reserved {
                Some(slots) => Some(slots.clone().acquire_owned().await.expect("semaphore")),
                None => None,
            };
            let answer = self.invoke(&event).await;
            drop(permit);
            if answer.is_some() {
                self.counts().pending -= 1;
                return;
            }
            if attempt < 2 {
                tokio::time::sleep(Duration::from_secs(60 * (attempt + 1))).await;
            }
        }
        let mut counts = self.counts();
        counts.parked.extend(changes);
        counts.pending -= 1;
    }

    /// An SQS event source mapping on `queue`: gathers up to `batch_size`
    /// messages for up to `window` (or Lambda's payload limit), invokes, and
    /// deletes what the function does not report as failed. Runs until
    /// `done` is set.
    pub async fn poll(
        self: Arc<Self>,
        queue: usize,
        batch_size: usize,
        window: Duration,
        done: Arc<std::sync::atomic::AtomicBool>,
    ) {
        use std::sync::atomic::Ordering;
        while !done.load(Ordering::Relaxed) {
            let first = lock(&self.world).sqs.visible(queue, Instant::now());
            if first == 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            let opened = Instant::now();
            loop {
                let (visible, bytes) = {
                    let w = lock(&self.world);
                    let now = Instant::now();
                    let q = &w.sqs.queues[queue];
                    let visible: Vec<&Message> = q.messages.iter().filter(|m| m.visible_at <= now).collect();
                    (
                        visible.len(),
                        visible.iter().map(|m| m.body.len() + 600).sum::<usize>(),
                    )
                };
                if visible >= batch_size || bytes >= sqs::PAYLOAD_LIMIT || opened.elapsed() >= window {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let (batch, event) = {
                let mut w = lock(&self.world);
                let w = &mut *w;
                let batch = w.sqs.receive(queue, batch_size, &mut w.rng, Instant::now());
                let event = sqs::lambda_event(&w.sqs.queues[queue], &batch);
                (batch, event)
            };
            if batch.is_empty() {
                continue;
            }
            let done_receipts: Vec<String> = match self.invoke(&event).await {
                Some(Response::Batch(answer)) => {
                    let failed: Vec<&String> = answer
                        .batch_item_failures
                        .iter()
                        .map(|f| &f.item_identifier)
                        .collect();
                    batch
                        .iter()
                        .filter(|m| !failed.contains(&&m.id))
                        .map(|m| m.receipt.clone())
                        .collect()
                }
                Some(Response::Summary(_)) => batch.iter().map(|m| m.receipt.clone()).collect(),
                None => Vec::new(),
            };
            lock(&self.world).sqs.delete(queue, &done_receipts);
        }
    }
}
