//! Ties the pieces together for one invocation: event in; the watches it
//! holds followed; changes out, what each distribution needs, what it holds
//! in progress, plan, submit (unless dry run), a watch for each invalidation;
//! and the answer (`response`): a summary, or the failures, reported so that
//! Lambda retries them and finally parks them in the dead-letter queue.

use crate::budget::Held;
use crate::clock::{Clock, Deadline};
use crate::cloudfront::{self, Status, SubmitError};
use crate::config::{Config, DistributionId, Distributions};
use crate::discovery::Listing;
use crate::event::{self, Incoming, Unit, Units};
use crate::memory::Memory;
use crate::metrics;
use crate::path::InvalidationPath;
use crate::plan::{self, Batch, Busy, Demands, Plan, Targets};
use crate::queues::Queues;
use crate::response::{Failure, HandlerError, Outcome, Pending, Report, Response, log_plan, respond};
use crate::watch::Watch;
use aws_sdk_cloudfront::Client;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tracing::{debug, error, info, warn};

/// Demands of at most this many exact paths are planned without reading
/// what the distribution holds in progress.
const SMALL_DEMAND: usize = 10;

/// How often a watch looks again at an invalidation in progress.
const WATCH_INTERVAL: Duration = Duration::from_secs(60);

/// The function's state for the life of the execution environment.
pub struct Invalidator {
    client: Client,
    config: Config,
    clock: Clock,
    /// SQS and SNS, for watches, retry delays and notices; `None` in tests
    /// that give only a CloudFront client.
    queues: Option<Queues>,
    /// `DISTRIBUTION_IDS=auto`: the account's distributions, as last listed.
    listing: Mutex<Option<Listing>>,
    /// Per distribution, the invalidations this environment created or read.
    memory: Mutex<BTreeMap<DistributionId, Memory>>,
}

impl Invalidator {
    pub fn new(client: Client, config: Config) -> Self {
        Invalidator {
            client,
            config,
            clock: Clock::system(),
            queues: None,
            listing: Mutex::new(None),
            memory: Mutex::new(BTreeMap::new()),
        }
    }

    /// The wall clock, when it is not the system's (a simulation's).
    pub fn with_clock(self, clock: Clock) -> Self {
        Invalidator { clock, ..self }
    }

    pub fn with_queues(self, queues: Queues) -> Self {
        Invalidator {
            queues: Some(queues),
            ..self
        }
    }

    pub async fn handle(&self, event: &Value, deadline: Deadline) -> Result<Response, HandlerError> {
        self.handle_incoming(event::parse(event)?, deadline).await
    }

    /// [`Invalidator::handle`] from the event's text, as Lambda sends it: an
    /// SQS batch is read without building a JSON tree of it.
    pub async fn handle_text(&self, event: &str, deadline: Deadline) -> Result<Response, HandlerError> {
        self.handle_incoming(event::parse_text(event)?, deadline).await
    }

    async fn handle_incoming(
        &self,
        incoming: Incoming,
        deadline: Deadline,
    ) -> Result<Response, HandlerError> {
        let pending = self.follow(&incoming.units, deadline).await;
        let demands = self.demands(&incoming, deadline).await?;
        let busy = self.read_held(&demands, deadline).await;
        let plan = plan::plan(&incoming.units, demands, self.config.max_paths, &busy);
        log_plan(&incoming, &plan);
        let mut failed = deferred(&plan);
        let (created, refused) = self.submit(&plan.batches, deadline).await;
        failed.extend(self.forget_deleted(refused, deadline).await);
        let outcome = Outcome {
            created,
            failed,
            pending,
        };
        self.bring_back_sooner(&incoming, &outcome, deadline).await;
        respond(incoming, plan, outcome, self.config.dry_run)
    }

    /// The watches of the event (from the watch queue): for each invalidation
    /// CloudFront has completed, the time it took, as metrics, a log line and
    /// a notice; the others are returned with why, to come back later.
    async fn follow(&self, units: &[Unit], deadline: Deadline) -> Pending {
        let mut pending = Pending::new();
        for (i, watch) in units
            .iter()
            .enumerate()
            .filter_map(|(i, u)| Some((i, u.watch.as_ref()?)))
        {
            let (distribution, id) = (&watch.distribution, &watch.invalidation_id);
            match cloudfront::status(&self.client, distribution, id, deadline).await {
                Ok(Status::Completed) => self.fresh(watch, deadline).await,
                Ok(Status::InProgress) => {
                    pending.insert(
                        i,
                        format!("invalidation {id} of {distribution} is still in progress"),
                    );
                }
                Ok(Status::Gone(code)) => {
                    warn!(distribution, invalidation_id = %id, "not followed any more: CloudFront says {code}");
                }
                Err(e) => {
                    warn!(distribution, invalidation_id = %id, "{e}");
                    pending.insert(i, e.to_string());
                }
            }
        }
        pending
    }

    /// An invalidation is complete: the site is fresh for its paths.
    async fn fresh(&self, watch: &Watch, deadline: Deadline) {
        let fresh = watch.fresh(self.clock.now_ms());
        info!(
            distribution = %watch.distribution,
            invalidation_id = %watch.invalidation_id,
            paths = watch.paths,
            seconds_to_fresh = fresh.seconds_to_fresh,
            seconds_in_progress = fresh.seconds_in_progress,
            "fresh"
        );
        if let Ok(distribution) = DistributionId::parse(&watch.distribution) {
            metrics::completed(&distribution, &fresh);
        }
        if let (Some(queues), Some(topic)) = (&self.queues, &self.config.fresh_topic_arn) {
            let subject = format!("CloudFront {} is fresh", watch.distribution);
            let notice = watch.notice(&fresh);
            if let Err(e) = queues.notify(topic, &subject, notice, deadline).await {
                warn!(distribution = %watch.distribution, "completion notice not sent: {e}");
            }
        }
    }

    /// Messages that wait for CloudFront, back sooner than the queue's
    /// visibility timeout: those with no room (planned, or refused with
    /// TooManyInvalidationsInProgress) from the changes queue after
    /// `plan::retry_delay`, and watches still in progress from the watch
    /// queue after a minute.
    async fn bring_back_sooner(&self, incoming: &Incoming, outcome: &Outcome, deadline: Deadline) {
        let Some(queues) = &self.queues else { return };
        let units = &incoming.units;
        let mut delays: BTreeMap<(&str, Duration), Units> = BTreeMap::new();
        if let Some(queue_url) = &self.config.queue_url {
            let waiting = outcome
                .failed
                .iter()
                .filter(|f| f.error.waits_for_room())
                .flat_map(|f| &f.units);
            for &unit in waiting {
                let delay = plan::retry_delay(units[unit].receive_count);
                delays
                    .entry((queue_url.as_str(), delay))
                    .or_default()
                    .insert(unit);
            }
        }
        if let Some(watch_url) = &self.config.watch_queue_url {
            let later = delays.entry((watch_url.as_str(), WATCH_INTERVAL)).or_default();
            later.extend(outcome.pending.keys());
        }
        for ((queue_url, delay), waiting) in delays {
            let handles: Vec<&str> = waiting
                .iter()
                .filter_map(|&u| units[u].receipt_handle.as_deref())
                .collect();
            if handles.is_empty() {
                continue;
            }
            let unchanged = queues.delay_retry(queue_url, &handles, delay, deadline).await;
            debug!(
                messages = handles.len(),
                unchanged,
                seconds = delay.as_secs(),
                queue_url,
                "back sooner"
            );
        }
    }

    /// What each distribution needs: the listed ones, or with
    /// `DISTRIBUTION_IDS=auto` those serving each bucket of the event.
    async fn demands(&self, incoming: &Incoming, deadline: Deadline) -> Result<Demands, HandlerError> {
        let units = &incoming.units;
        if let Distributions::Listed(targets) = &self.config.distributions {
            return Ok(plan::demands(units, &self.config, &Targets::Same(targets)));
        }
        let buckets = || units.iter().flat_map(|u| &u.changes).map(|c| c.bucket.as_str());
        let mut listing = self.listing(false, deadline).await?;
        let mut demands = plan::demands(
            units,
            &self.config,
            &Targets::ByBucket(&listing.targets(buckets())),
        );
        // A change no listed distribution serves is ignored only after a
        // listing taken later than it (see `discovery`).
        if listing.predates(&demands.unserved) {
            info!(
                unserved = demands.unserved.len(),
                "changes that no listed distribution serves are newer than the listing; listing again"
            );
            listing = self.listing(true, deadline).await?;
            demands = plan::demands(
                units,
                &self.config,
                &Targets::ByBucket(&listing.targets(buckets())),
            );
        }
        for (bucket, targets) in listing.targets(buckets()) {
            let found: Vec<String> = targets.iter().map(ToString::to_string).collect();
            info!(bucket, "distributions serving the bucket: [{}]", found.join(", "));
        }
        Ok(demands)
    }

    /// The account's distributions: the kept listing while it is fresh, or a
    /// new one (always when `again`).
    async fn listing(&self, again: bool, deadline: Deadline) -> Result<Listing, HandlerError> {
        let kept = self.listing.lock().expect("listing lock").clone();
        if let Some(listing) = kept.filter(|l| !again && !l.is_stale(self.clock.now_ms())) {
            return Ok(listing);
        }
        let taken_ms = self.clock.now_ms();
        let distributions = cloudfront::list_distributions(&self.client, deadline)
            .await
            .map_err(HandlerError::Discovery)?;
        info!(
            distributions = distributions.len(),
            "listed the account's distributions for discovery"
        );
        let listing = Listing {
            distributions,
            taken_ms,
        };
        *self.listing.lock().expect("listing lock") = Some(listing.clone());
        Ok(listing)
    }

    /// What each distribution that needs paths holds in progress. A failed
    /// read leaves what this environment knows: the read only makes the plan
    /// better, and CloudFront still refuses what it cannot hold.
    async fn read_held(&self, demands: &Demands, deadline: Deadline) -> BTreeMap<DistributionId, Busy> {
        let mut busy = BTreeMap::new();
        for demand in &demands.demands {
            let id = &demand.distribution;
            let mut memory = self.memory_of(id);
            let now_ms = self.clock.now_ms();
            // A few exact paths are sent without reading, as if nothing
            // were in progress: if CloudFront is full, its refusal is
            // retried the same way as no room would be, and a function
            // invoked per object (bucket-to-function) would read the list
            // thousands of times in a deploy.
            let small = demand.needs.len() <= SMALL_DEMAND && demand.needs.keys().all(|p| !p.is_wildcard());
            let held = if small {
                Held::default()
            } else {
                match cloudfront::read_held(&self.client, id, &mut memory, deadline, now_ms).await {
                    Ok(reading) => {
                        if reading.unread > 0 {
                            info!(distribution = %id, unread = reading.unread, "in-progress invalidations not read this time");
                        }
                        reading.held
                    }
                    Err(e) => {
                        warn!(distribution = %id, "planning with what this environment knows: {e}");
                        memory.held(now_ms)
                    }
                }
            };
            busy.insert(
                id.clone(),
                Busy {
                    held,
                    accepted: memory.accepted(now_ms),
                },
            );
            self.memory
                .lock()
                .expect("memory lock")
                .insert(id.clone(), memory);
        }
        busy
    }

    fn memory_of(&self, id: &DistributionId) -> Memory {
        self.memory
            .lock()
            .expect("memory lock")
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// Submits the batches in order (in a dry run, only reports them).
    /// Returns the requests made, and the failures with the units they needed.
    async fn submit(&self, batches: &[Batch], deadline: Deadline) -> (Vec<Report>, Vec<Failure>) {
        let mut created = Vec::new();
        let mut failed = Vec::new();
        for batch in batches {
            let mut report = Report {
                distribution: batch.distribution.clone(),
                invalidation_id: None,
                status: None,
                caller_reference: batch.caller_reference.clone(),
                paths: batch.paths.clone(),
            };
            if self.config.dry_run {
                info!(
                    distribution = %batch.distribution,
                    paths = batch.paths.len(),
                    caller_reference = %batch.caller_reference,
                    "dry run: would invalidate"
                );
                created.push(report);
                continue;
            }
            match cloudfront::submit(&self.client, batch, deadline).await {
                Ok(done) => {
                    info!(
                        distribution = %batch.distribution,
                        invalidation_id = %done.invalidation_id,
                        paths = batch.paths.len(),
                        path_list = %path_list(&batch.paths),
                        caller_reference = %batch.caller_reference,
                        "invalidation created"
                    );
                    metrics::created(&batch.distribution);
                    let paths: Vec<String> = batch.paths.iter().map(|p| p.as_str().to_owned()).collect();
                    let now_ms = self.clock.now_ms();
                    self.memory
                        .lock()
                        .expect("memory lock")
                        .entry(batch.distribution.clone())
                        .or_default()
                        .remember(&done.invalidation_id, &paths, done.created_ms, now_ms);
                    self.watch(batch, &done.invalidation_id, deadline).await;
                    report.invalidation_id = Some(done.invalidation_id);
                    report.status = Some(done.status);
                    created.push(report);
                }
                Err(error) => {
                    error!(distribution = %batch.distribution, paths = batch.paths.len(), "{error}");
                    metrics::failed(&batch.distribution, error.reason());
                    failed.push(Failure {
                        error,
                        units: batch.units.clone(),
                    });
                }
            }
        }
        (created, failed)
    }

    /// Follows a new invalidation through the watch queue, when there is one.
    async fn watch(&self, batch: &Batch, invalidation_id: &str, deadline: Deadline) {
        let (Some(queues), Some(queue_url)) = (&self.queues, &self.config.watch_queue_url) else {
            return;
        };
        let watch = Watch {
            distribution: batch.distribution.to_string(),
            invalidation_id: invalidation_id.to_owned(),
            created_ms: self.clock.now_ms(),
            changed_ms: batch.changed_ms,
            paths: batch.paths.len(),
        };
        if let Err(e) = queues.send_watch(queue_url, &watch, deadline).await {
            warn!(distribution = %batch.distribution, invalidation_id, "its completion will not be followed: {e}");
        }
    }

    /// With `DISTRIBUTION_IDS=auto`, a distribution that CloudFront says does
    /// not exist was deleted after the listing: list again, and if it is
    /// gone, nothing of it can be stale, so its failure is dropped.
    async fn forget_deleted(&self, failed: Vec<Failure>, deadline: Deadline) -> Vec<Failure> {
        let missing = |e: &SubmitError| matches!(e, SubmitError::NoSuchDistribution { .. });
        if self.config.distributions != Distributions::Auto || !failed.iter().any(|f| missing(&f.error)) {
            return failed;
        }
        let listing = match self.listing(true, deadline).await {
            Ok(listing) => listing,
            Err(e) => {
                warn!("{e}");
                return failed;
            }
        };
        failed
            .into_iter()
            .filter(|f| match &f.error {
                SubmitError::NoSuchDistribution { distribution } if !listing.lists(distribution) => {
                    info!(distribution = %distribution, "deleted since the last listing: nothing of it to invalidate");
                    false
                }
                _ => true,
            })
            .collect()
    }
}

/// The units a distribution had no room for: each a failure without a request.
fn deferred(plan: &Plan) -> Vec<Failure> {
    let failures = plan.deferred.iter().map(|deferred| {
        let error = SubmitError::NoRoom {
            distribution: deferred.distribution.clone(),
            held: deferred.held,
            units: deferred.units.len(),
        };
        warn!(distribution = %deferred.distribution, "{error}");
        metrics::failed(&deferred.distribution, error.reason());
        Failure {
            error,
            units: deferred.units.clone(),
        }
    });
    failures.collect()
}

/// At most the first 100 paths, for the log line of an invalidation.
fn path_list(paths: &[InvalidationPath]) -> String {
    const SHOWN: usize = 100;
    let mut list = paths
        .iter()
        .take(SHOWN)
        .map(InvalidationPath::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    if paths.len() > SHOWN {
        list.push_str(&format!(" (and {} more)", paths.len() - SHOWN));
    }
    list
}
