//! Ties the pieces together for one invocation: event in; the watches it
//! holds followed; changes out, what each distribution needs, what it holds
//! in progress, plan, submit (unless dry run), a watch for each invalidation;
//! and the answer (`response`): a summary, or the failures, reported so that
//! Lambda retries them and finally parks them in the dead-letter queue.

use crate::budget::InProgress;
use crate::cloudfront::{self, Known, Progress, SubmitError};
use crate::config::{Config, DistributionId, Distributions};
use crate::discovery::Listing;
use crate::event::{self, Incoming, Unit};
use crate::metrics;
use crate::path::InvalidationPath;
use crate::plan::{self, Batch, Busy, Demands, Plan, Targets};
use crate::queues::Queues;
use crate::response::{HandlerError, Report, Response, log_plan, respond};
use crate::watch::Watch;
use aws_sdk_cloudfront::Client;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::{debug, error, info, warn};

/// Demands of at most this many exact paths are planned without reading
/// what the distribution holds in progress.
const SMALL_DEMAND: usize = 10;

/// How often a watch looks again at an invalidation in progress.
const WATCH_INTERVAL: Duration = Duration::from_secs(60);

/// Converts the invocation deadline Lambda gives (milliseconds since the Unix
/// epoch) to an `Instant`. A value that cannot be an epoch time (more than a
/// day in the past: cargo-lambda's emulator sends the timeout itself, e.g.
/// 600000) is read as a duration from now, at most Lambda's 15 minutes.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Instant {
    const LAMBDA_MAX: Duration = Duration::from_secs(15 * 60);
    static NOTED: AtomicBool = AtomicBool::new(false);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let deadline = Duration::from_millis(deadline_ms);
    if deadline + Duration::from_secs(24 * 3600) < now {
        // Only an emulator does this: say so once, for whoever debugs it.
        if !NOTED.swap(true, Ordering::Relaxed) {
            debug!(
                deadline_ms,
                "the runtime's deadline is no epoch time; reading it as a duration"
            );
        }
        return Instant::now() + deadline.min(LAMBDA_MAX);
    }
    Instant::now() + deadline.saturating_sub(now)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The function's state for the life of the execution environment.
pub struct Invalidator {
    client: Client,
    config: Config,
    /// SQS and SNS, for watches, retry delays and notices; `None` in tests
    /// that give only a CloudFront client.
    queues: Option<Queues>,
    /// `DISTRIBUTION_IDS=auto`: the account's distributions, as last listed.
    listing: Mutex<Option<Listing>>,
    /// Per distribution, the invalidations in progress this environment
    /// created or read, with their paths.
    known: Mutex<HashMap<DistributionId, Known>>,
}

impl Invalidator {
    pub fn new(client: Client, config: Config) -> Self {
        Invalidator {
            client,
            config,
            queues: None,
            listing: Mutex::new(None),
            known: Mutex::new(HashMap::new()),
        }
    }

    pub fn with_queues(self, queues: Queues) -> Self {
        Invalidator {
            queues: Some(queues),
            ..self
        }
    }

    pub async fn handle(&self, event: &Value, deadline: Instant) -> Result<Response, HandlerError> {
        self.handle_incoming(event::parse(event)?, deadline).await
    }

    /// [`Invalidator::handle`] from the event's text, as Lambda sends it: an
    /// SQS batch is read without building a JSON tree of it.
    pub async fn handle_text(&self, event: &str, deadline: Instant) -> Result<Response, HandlerError> {
        self.handle_incoming(event::parse_text(event)?, deadline).await
    }

    async fn handle_incoming(&self, incoming: Incoming, deadline: Instant) -> Result<Response, HandlerError> {
        let pending = self.follow(&incoming.units).await;
        let demands = self.demands(&incoming).await?;
        let busy = self.in_progress(&demands, deadline).await;
        let plan = plan::plan(&incoming.units, demands, self.config.max_paths, &busy);
        log_plan(&incoming, &plan);
        let mut failures = deferred(&plan);
        let (made, failed) = self.submit(&plan.batches, deadline).await;
        failures.extend(self.forget_deleted(failed).await);
        self.bring_back_sooner(&incoming, &failures, &pending).await;
        respond(incoming, plan, made, failures, pending, self.config.dry_run)
    }

    /// The watches of the event (from the watch queue): for each invalidation
    /// CloudFront has completed, the time it took, as metrics, a log line and
    /// a notice; the others are returned with why, to come back later.
    async fn follow(&self, units: &[Unit]) -> BTreeMap<usize, String> {
        let mut pending = BTreeMap::new();
        for (i, watch) in units
            .iter()
            .enumerate()
            .filter_map(|(i, u)| Some((i, u.watch.as_ref()?)))
        {
            let (distribution, id) = (&watch.distribution, &watch.invalidation_id);
            match cloudfront::progress(&self.client, distribution, id).await {
                Ok(Progress::Completed) => self.fresh(watch).await,
                Ok(Progress::InProgress) => {
                    pending.insert(
                        i,
                        format!("invalidation {id} of {distribution} is still in progress"),
                    );
                }
                Ok(Progress::Gone(code)) => {
                    warn!(distribution, invalidation_id = %id, "not followed any more: CloudFront says {code}");
                }
                Err(e) => {
                    warn!(distribution, invalidation_id = %id, "{e}");
                    pending.insert(i, e);
                }
            }
        }
        pending
    }

    /// An invalidation is complete: the site is fresh for its paths.
    async fn fresh(&self, watch: &Watch) {
        let fresh = watch.fresh(now_ms());
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
            if let Err(e) = queues.notify(topic, &subject, watch.notice(&fresh)).await {
                warn!(distribution = %watch.distribution, "completion notice not sent: {e}");
            }
        }
    }

    /// Messages that wait for CloudFront, back sooner than the queue's
    /// visibility timeout: those with no room (planned, or refused with
    /// TooManyInvalidationsInProgress) from the changes queue after
    /// `plan::retry_delay`, and watches still in progress from the watch
    /// queue after a minute.
    async fn bring_back_sooner(
        &self,
        incoming: &Incoming,
        failures: &[(SubmitError, BTreeSet<usize>)],
        pending: &BTreeMap<usize, String>,
    ) {
        let Some(queues) = &self.queues else { return };
        let units = &incoming.units;
        let mut delays: BTreeMap<(&str, Duration), BTreeSet<usize>> = BTreeMap::new();
        if let Some(queue_url) = &self.config.queue_url {
            let waiting = failures
                .iter()
                .filter(|(e, _)| e.waits_for_room())
                .flat_map(|(_, u)| u);
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
            later.extend(pending.keys());
        }
        for ((queue_url, delay), waiting) in delays {
            let handles: Vec<&str> = waiting
                .iter()
                .filter_map(|&u| units[u].receipt_handle.as_deref())
                .collect();
            if handles.is_empty() {
                continue;
            }
            let unchanged = queues.delay_retry(queue_url, &handles, delay).await;
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
    async fn demands(&self, incoming: &Incoming) -> Result<Demands, HandlerError> {
        let units = &incoming.units;
        if let Distributions::Listed(targets) = &self.config.distributions {
            return Ok(plan::demands(units, &self.config, &Targets::Same(targets)));
        }
        let buckets = || units.iter().flat_map(|u| &u.changes).map(|c| c.bucket.as_str());
        let mut listing = self.listing(false).await?;
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
            listing = self.listing(true).await?;
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
    async fn listing(&self, again: bool) -> Result<Listing, HandlerError> {
        let kept = self.listing.lock().expect("listing lock").clone();
        if let Some(listing) = kept.filter(|l| !again && !l.is_stale(now_ms())) {
            return Ok(listing);
        }
        let taken_ms = now_ms();
        let distributions = cloudfront::list_distributions(&self.client)
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
    async fn in_progress(&self, demands: &Demands, deadline: Instant) -> BTreeMap<DistributionId, Busy> {
        let mut busy = BTreeMap::new();
        let until = cloudfront::read_until(deadline.saturating_duration_since(Instant::now()));
        for demand in &demands.demands {
            let id = &demand.distribution;
            let mut known = self.known_of(id);
            // A few exact paths are sent without reading, as if nothing
            // were in progress: if CloudFront is full, its refusal is
            // retried the same way as no room would be, and a function
            // invoked per object (bucket-to-function) would read the list
            // thousands of times in a deploy.
            let small = demand.needs.len() <= SMALL_DEMAND && demand.needs.keys().all(|p| !p.is_wildcard());
            let held = if small {
                InProgress::default()
            } else {
                match cloudfront::in_progress(&self.client, id, &mut known, until).await {
                    Ok(held) => {
                        if held.unread > 0 {
                            info!(distribution = %id, unread = held.unread, "in-progress invalidations not read this time");
                        }
                        held.held
                    }
                    Err(e) => {
                        warn!(distribution = %id, "planning with what this environment knows: {e}");
                        known.total()
                    }
                }
            };
            busy.insert(
                id.clone(),
                Busy {
                    held,
                    made: known.made(),
                },
            );
            self.known.lock().expect("known lock").insert(id.clone(), known);
        }
        busy
    }

    fn known_of(&self, id: &DistributionId) -> Known {
        self.known
            .lock()
            .expect("known lock")
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// Submits the batches in order (in a dry run, only reports them).
    /// Returns the requests made, and the failures with the units they needed.
    async fn submit(
        &self,
        batches: &[Batch],
        deadline: Instant,
    ) -> (Vec<Report>, Vec<(SubmitError, BTreeSet<usize>)>) {
        let mut made = Vec::new();
        let mut failures = Vec::new();
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
                made.push(report);
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match cloudfront::submit(&self.client, batch, left).await {
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
                    self.known
                        .lock()
                        .expect("known lock")
                        .entry(batch.distribution.clone())
                        .or_default()
                        .insert(done.invalidation_id.clone(), &paths, done.created_ms);
                    self.watch(batch, &done.invalidation_id).await;
                    report.invalidation_id = Some(done.invalidation_id);
                    report.status = Some(done.status);
                    made.push(report);
                }
                Err(e) => {
                    error!(distribution = %batch.distribution, paths = batch.paths.len(), "{e}");
                    metrics::failed(&batch.distribution, e.reason());
                    failures.push((e, batch.units.clone()));
                }
            }
        }
        (made, failures)
    }

    /// Follows a new invalidation through the watch queue, when there is one.
    async fn watch(&self, batch: &Batch, invalidation_id: &str) {
        let (Some(queues), Some(queue_url)) = (&self.queues, &self.config.watch_queue_url) else {
            return;
        };
        let watch = Watch {
            distribution: batch.distribution.to_string(),
            invalidation_id: invalidation_id.to_owned(),
            created_ms: now_ms(),
            changed_ms: batch.changed_ms,
            paths: batch.paths.len(),
        };
        if let Err(e) = queues.send_watch(queue_url, &watch).await {
            warn!(distribution = %batch.distribution, invalidation_id, "its completion will not be followed: {e}");
        }
    }

    /// With `DISTRIBUTION_IDS=auto`, a distribution that CloudFront says does
    /// not exist was deleted after the listing: list again, and if it is
    /// gone, nothing of it can be stale, so its failure is dropped.
    async fn forget_deleted(
        &self,
        failures: Vec<(SubmitError, BTreeSet<usize>)>,
    ) -> Vec<(SubmitError, BTreeSet<usize>)> {
        let missing = |e: &SubmitError| matches!(e, SubmitError::NoSuchDistribution { .. });
        if self.config.distributions != Distributions::Auto || !failures.iter().any(|(e, _)| missing(e)) {
            return failures;
        }
        let listing = match self.listing(true).await {
            Ok(listing) => listing,
            Err(e) => {
                warn!("{e}");
                return failures;
            }
        };
        failures
            .into_iter()
            .filter(|(e, _)| match e {
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
fn deferred(plan: &Plan) -> Vec<(SubmitError, BTreeSet<usize>)> {
    let failures = plan.deferred.iter().map(|deferred| {
        let e = SubmitError::NoRoom {
            distribution: deferred.distribution.clone(),
            in_progress: deferred.in_progress,
            units: deferred.units.len(),
        };
        warn!(distribution = %deferred.distribution, "{e}");
        metrics::failed(&deferred.distribution, e.reason());
        (e, deferred.units.clone())
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
