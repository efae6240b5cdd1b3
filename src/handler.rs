//! Ties the pieces together for one invocation: event in; the watches it
//! holds followed; the wait until its changes are a margin old; changes
//! out, what each distribution needs, what it holds in progress, plan,
//! submit (unless dry run), a watch for each new invalidation; and the
//! answer (`response`): a summary, or the failures, reported so that Lambda
//! retries them and finally parks them in the dead-letter queue.

use crate::clock::{Clock, Deadline};
use crate::cloudfront::{self, Status, SubmitError};
use crate::config::{Config, DistributionId, Distributions};
use crate::discovery::Listing;
use crate::distribution::Routes;
use crate::event::{self, Incoming, Unit, Units};
use crate::memory::Memory;
use crate::metrics;
use crate::path::InvalidationPath;
use crate::plan::{self, Batch, Busy, Demands, Plan, Targets};
use crate::queues::Queues;
use crate::readings::{ByBucket, Readings};
use crate::response::{Failure, HandlerError, Outcome, Pending, Report, Response, log_plan, respond};
use crate::watch::Watch;
use aws_sdk_cloudfront::Client;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;
use tracing::{debug, error, info, warn};

/// Waiting for the margin leaves at least this much of an invocation for its
/// reads, requests and answer; what cannot wait that long comes back later.
const WORK_TIME: Duration = Duration::from_secs(90);

/// Added to the margin when waiting: the function's, S3's and CloudFront's
/// clocks may differ by milliseconds, and the invalidation must count as
/// covering on every later delivery (see `cover`).
const SLACK_MS: i64 = 1000;

/// An answer to CreateInvalidation whose CreateTime is this much older than
/// the request is the invalidation CloudFront already had for the caller
/// reference: it is followed already.
const REPEATED_MS: i64 = 5000;

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
    /// The listed distributions' configurations and the cache policies.
    readings: Readings,
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
            readings: Readings::default(),
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
        let later = self.wait_for_margin(&incoming.units, deadline).await;
        let (mut demands, unknown) = self.demands(&incoming, &later, deadline).await?;
        let mut failed = self.not_yet(&incoming.units, &later);
        failed.extend(hold_back(&mut demands, unknown));
        let (busy, unread) = self.read_held(&incoming.units, &mut demands, deadline).await;
        let plan = plan::plan(&incoming.units, demands, &self.config, &busy);
        log_plan(&incoming, &plan);
        failed.extend(unread);
        failed.extend(deferred(&plan));
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
    /// a notice; the others, and those whose notice could not be sent, are
    /// returned with why, to come back later.
    async fn follow(&self, units: &[Unit], deadline: Deadline) -> Pending {
        let mut pending = Pending::new();
        for (i, watch) in units
            .iter()
            .enumerate()
            .filter_map(|(i, u)| Some((i, u.watch.as_ref()?)))
        {
            let (distribution, id) = (&watch.distribution, &watch.invalidation_id);
            match cloudfront::status(&self.client, distribution, id, deadline).await {
                Ok(Status::Completed) => {
                    if let Err(e) = self.fresh(watch, deadline).await {
                        warn!(distribution, invalidation_id = %id, "completion notice not sent, sent again later: {e}");
                        pending.insert(i, e.to_string());
                    }
                }
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

    /// An invalidation is complete: the site is fresh for its paths. The
    /// notice goes first: when it cannot be sent, the watch comes back, and
    /// its log line and metrics are recorded then, once.
    async fn fresh(&self, watch: &Watch, deadline: Deadline) -> Result<(), crate::sdk::AwsError> {
        let fresh = watch.fresh(self.clock.now_ms());
        if let (Some(queues), Some(topic)) = (&self.queues, &self.config.fresh_topic_arn) {
            let subject = format!("CloudFront {} is fresh", watch.distribution);
            queues
                .notify(topic, &subject, watch.notice(&fresh), deadline)
                .await?;
        }
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
        Ok(())
    }

    /// Waits until every change of the event is the margin old (see
    /// `cover`), so that the invalidations created next leave no edge fill
    /// of an old object behind, and count as covering these changes when
    /// they come back. When the deadline leaves too little time for the
    /// whole wait, waits what it can and returns the units still too recent,
    /// to come back later. A change whose time is unknown does not wait.
    async fn wait_for_margin(&self, units: &[Unit], deadline: Deadline) -> Units {
        let ready = |unit: &Unit, now: i64| {
            unit.changes
                .iter()
                .filter_map(|c| c.time_ms)
                .all(|t| t + self.config.margin_ms + SLACK_MS <= now)
        };
        let newest = units
            .iter()
            .flat_map(|u| &u.changes)
            .filter_map(|c| c.time_ms)
            .max();
        let Some(newest) = newest else {
            return Units::new();
        };
        let wait_ms = newest + self.config.margin_ms + SLACK_MS - self.clock.now_ms();
        if wait_ms <= 0 {
            return Units::new();
        }
        let wait = Duration::from_millis(wait_ms as u64);
        let possible = deadline.left().saturating_sub(WORK_TIME);
        info!(
            seconds = wait.min(possible).as_secs_f64(),
            "waiting until the newest change is {} s old",
            self.config.margin_ms / 1000
        );
        tokio::time::sleep(wait.min(possible)).await;
        if wait <= possible {
            return Units::new();
        }
        let now = self.clock.now_ms();
        (0..units.len()).filter(|&u| !ready(&units[u], now)).collect()
    }

    /// The units left for later, each a failure that comes back when its
    /// changes are old enough.
    fn not_yet(&self, units: &[Unit], later: &Units) -> Vec<Failure> {
        if later.is_empty() {
            return Vec::new();
        }
        let now = self.clock.now_ms();
        let newest = later
            .iter()
            .flat_map(|&u| &units[u].changes)
            .filter_map(|c| c.time_ms)
            .max()
            .unwrap_or(now);
        let seconds = ((newest + self.config.margin_ms + SLACK_MS - now).max(1000) + 999) / 1000;
        let error = SubmitError::TooRecent {
            units: later.len(),
            seconds: seconds as u64,
        };
        warn!("{error}");
        metrics::failed_anywhere(error.reason());
        vec![Failure {
            error,
            units: later.clone(),
        }]
    }

    /// Messages that wait for CloudFront or for time, back sooner than the
    /// queue's visibility timeout: from the changes queue, those with no room
    /// (planned, or refused with TooManyInvalidationsInProgress) or whose
    /// distribution could not be read, after `plan::retry_delay`, and those
    /// too recent once they are the margin old (see `SubmitError::retry_after`);
    /// watches still in progress from the watch queue after a minute. A
    /// message with several reasons comes back after the soonest.
    async fn bring_back_sooner(&self, incoming: &Incoming, outcome: &Outcome, deadline: Deadline) {
        let Some(queues) = &self.queues else { return };
        let units = &incoming.units;
        let mut delays: BTreeMap<(&str, Duration), Units> = BTreeMap::new();
        if let Some(queue_url) = &self.config.queue_url {
            // Each message once, with the sooner of its delays.
            let mut soonest: BTreeMap<usize, Duration> = BTreeMap::new();
            for failure in &outcome.failed {
                for &unit in &failure.units {
                    if let Some(delay) = failure.error.retry_after(units[unit].receive_count) {
                        let kept = soonest.entry(unit).or_insert(delay);
                        *kept = (*kept).min(delay);
                    }
                }
            }
            for (unit, delay) in soonest {
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

    /// What each distribution needs, but for the units in `later`: the
    /// listed ones, or with `DISTRIBUTION_IDS=auto` those serving each
    /// bucket of the event, each as its configuration says; and the listed
    /// distributions whose configuration is not known, with why.
    async fn demands(
        &self,
        incoming: &Incoming,
        later: &Units,
        deadline: Deadline,
    ) -> Result<(Demands, Vec<(DistributionId, String)>), HandlerError> {
        let units = &incoming.units;
        // Watches alone need no distribution.
        if units.iter().all(|u| u.changes.is_empty()) {
            return Ok(Default::default());
        }
        let demands =
            |routes: &ByBucket| plan::demands(units, &self.config, &Targets::ByBucket(routes), later);
        let (client, domains) = (&self.client, &self.config.bucket_domains);
        if let Distributions::Listed(targets) = &self.config.distributions {
            let mut changes: BTreeMap<&str, usize> = BTreeMap::new();
            let now = units.iter().enumerate().filter(|(u, _)| !later.contains(u));
            for change in now.flat_map(|(_, unit)| &unit.changes) {
                *changes.entry(change.bucket.as_str()).or_default() += 1;
            }
            let now_ms = self.clock.now_ms();
            let (routes, unknown) = (self.readings)
                .listed_routes(client, targets, &changes, domains, now_ms, deadline)
                .await;
            return Ok((demands(&routes), unknown));
        }
        let buckets: BTreeSet<&str> = units
            .iter()
            .flat_map(|u| &u.changes)
            .map(|c| c.bucket.as_str())
            .collect();
        let mut listing = self.listing(false, deadline).await?;
        let mut routes = self.found_routes(&listing, &buckets, deadline).await;
        let mut found = demands(&routes);
        // A change no listed distribution serves is ignored only after a
        // listing taken later than it (see `discovery`). Its unit waited
        // until the change was the margin old, and a listing is kept for
        // less than that (a minute), so this lists again only for a change
        // older than the margin: at most once a minute for a bucket that no
        // distribution serves.
        let times: Vec<Option<i64>> = found.unserved.iter().map(|(_, t)| *t).collect();
        if listing.predates(&times) {
            info!(
                unserved = times.len(),
                "changes that no listed distribution serves are newer than the listing; listing again"
            );
            listing = self.listing(true, deadline).await?;
            routes = self.found_routes(&listing, &buckets, deadline).await;
            found = demands(&routes);
        }
        for (bucket, routes) in &routes {
            info!(bucket, "distributions serving the bucket: [{}]", serving(routes));
        }
        for (bucket, &changes) in &found.served_by_none {
            warn!(
                bucket,
                changes,
                "no distribution serves bucket {bucket}: its changes are not invalidated anywhere. A \
                 distribution that reaches it through a custom domain (a CNAME of the bucket or of its \
                 website endpoint) or an access point alias is seen once BUCKET_DOMAINS names that domain"
            );
            metrics::served_by_none(changes);
        }
        Ok((found, Vec::new()))
    }

    /// `DISTRIBUTION_IDS=auto`: how `listing`'s distributions serve `buckets`.
    async fn found_routes(
        &self,
        listing: &Listing,
        buckets: &BTreeSet<&str>,
        deadline: Deadline,
    ) -> ByBucket {
        let (domains, now_ms) = (&self.config.bucket_domains, self.clock.now_ms());
        (self.readings)
            .found_routes(&self.client, listing, buckets, domains, now_ms, deadline)
            .await
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

    /// What each distribution that needs paths holds in progress, and the
    /// invalidations known to cover some of its changes. A distribution
    /// whose reading failed is not planned (and is taken out of `demands`):
    /// without it, no share of its room is certain, so its units come back
    /// later, each a failure.
    async fn read_held(
        &self,
        units: &[Unit],
        demands: &mut Demands,
        deadline: Deadline,
    ) -> (BTreeMap<DistributionId, Busy>, Vec<Failure>) {
        let mut busy = BTreeMap::new();
        let mut unread = Vec::new();
        let mut readable = Vec::new();
        for demand in std::mem::take(&mut demands.demands) {
            let id = demand.distribution.clone();
            let mut memory = self.memory_of(&id);
            let now_ms = self.clock.now_ms();
            // Invalidations created since the oldest of these changes may
            // cover some: the completed ones are read too.
            let oldest = demand
                .needs
                .values()
                .flatten()
                .filter_map(|&(u, c)| units[u].changes[c].time_ms)
                .min();
            let read = cloudfront::read_held(&self.client, &id, &mut memory, deadline, now_ms, oldest).await;
            self.memory
                .lock()
                .expect("memory lock")
                .insert(id.clone(), memory.clone());
            match read {
                Ok(reading) => {
                    let accepted = memory.accepted(now_ms);
                    busy.insert(
                        id,
                        Busy {
                            held: reading.held,
                            accepted,
                        },
                    );
                    readable.push(demand);
                }
                Err(e) => {
                    let error = SubmitError::Unread {
                        distribution: id.clone(),
                        detail: e.to_string(),
                    };
                    warn!(distribution = %id, "{error}");
                    metrics::failed(&id, error.reason());
                    let units = demand.needs.values().flatten().map(|&(u, _)| u).collect();
                    unread.push(Failure { error, units });
                }
            }
        }
        demands.demands = readable;
        (busy, unread)
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
            let requested_ms = self.clock.now_ms();
            match cloudfront::submit(&self.client, batch, deadline).await {
                Ok(done) => {
                    // CloudFront answers a repeated caller reference with
                    // the invalidation it created then: followed already.
                    let repeated = done.created_ms.is_some_and(|c| c + REPEATED_MS < requested_ms);
                    info!(
                        distribution = %batch.distribution,
                        invalidation_id = %done.invalidation_id,
                        paths = batch.paths.len(),
                        path_list = %path_list(&batch.paths),
                        caller_reference = %batch.caller_reference,
                        "{}",
                        if repeated { "invalidation created before (same caller reference)" } else { "invalidation created" }
                    );
                    let paths: Vec<String> = batch.paths.iter().map(|p| p.as_str().to_owned()).collect();
                    let now_ms = self.clock.now_ms();
                    self.memory
                        .lock()
                        .expect("memory lock")
                        .entry(batch.distribution.clone())
                        .or_default()
                        .remember(&done.invalidation_id, &paths, done.created_ms, now_ms, true);
                    if !repeated {
                        metrics::created(&batch.distribution);
                        self.watch(batch, &done.invalidation_id, deadline).await;
                    }
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

/// The changes of distributions whose configuration is not known wait for a
/// retry: each such distribution's units, a failure without a request.
fn hold_back(demands: &mut Demands, unknown: Vec<(DistributionId, String)>) -> Vec<Failure> {
    let mut failures = Vec::new();
    for (distribution, detail) in unknown {
        let Some(at) = demands
            .demands
            .iter()
            .position(|d| d.distribution == distribution)
        else {
            continue;
        };
        let demand = demands.demands.remove(at);
        let error = SubmitError::ConfigUnread {
            distribution: distribution.clone(),
            detail,
        };
        warn!(distribution = %distribution, "{error}");
        metrics::failed(&distribution, error.reason());
        let units = demand.needs.values().flatten().map(|&(u, _)| u).collect();
        failures.push(Failure { error, units });
    }
    failures
}

/// The distributions of `routes` as `DISTRIBUTION_IDS` would list them.
fn serving(routes: &[Routes]) -> String {
    let listed: Vec<String> = routes
        .iter()
        .flat_map(|r| {
            r.origin_paths().into_iter().map(move |p| {
                if p.is_empty() {
                    r.id.to_string()
                } else {
                    format!("{}={p}", r.id)
                }
            })
        })
        .collect();
    listed.join(", ")
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
