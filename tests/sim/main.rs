//! The promise under any schedule: a deterministic simulation that runs the
//! function's real code (the same `Invalidator` the binary runs, through the
//! real SDK clients) in several execution environments at once, against
//! stand-ins of S3, SQS, Lambda, CloudFront and its edges that share one
//! virtual clock (tokio's, paused), and checks after each run, from what the
//! stand-ins recorded, that
//! - stale: no edge serves an object older than the last change to it once
//!   every invalidation has completed;
//! - lost: every change ends invalidated, or in a dead-letter queue;
//! - refused: CloudFront refused no CreateInvalidation for its in-progress
//!   limits (faults injected on purpose are not refusals);
//! - billed twice: no path is billed for changes an accepted invalidation
//!   already covered, but by a documented rule;
//! - deadline: no invocation outlived its deadline.
//!
//! Usage (a seed replays exactly):
//!   cargo test --test sim                       the fixed seeds of `make test`
//!   cargo test --release --test sim -- --seeds 1000 [--from 1] [--family F]
//!   cargo test --release --test sim -- --seed 42 [--family F] [--verbose] [--log]

#[path = "../support/figures.rs"]
mod figures;
#[path = "../../fuzz/invariants.rs"]
#[allow(dead_code)]
mod invariants;

mod cloudfront;
mod edges;
mod lambda;
mod oracle;
mod rng;
mod s3;
mod scenario;
mod sqs;
mod world;

use cloudfront::{CloudFront, Distribution};
use lambda::Lambda;
use oracle::Figures;
use rng::Rng;
use scenario::{Scenario, Wiring};
use serde_json::json;
use sqs::Sqs;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::time::{Duration, Instant};
use world::{Faults, World, lock};

/// The seeds `make test` runs: each family, and the heavy one once.
const FIXED: &[(u64, &str)] = &[
    (1, "collectstatic"),
    (2, "collectstatic"),
    (3, "mixed"),
    (4, "mixed"),
    (5, "mixed"),
    (6, "crowded"),
    (7, "auto"),
    (8, "planners"),
    (9, "planners"),
    (10, "big"),
    (11, "query"),
];

/// A run that has not settled after this much virtual time is a failure.
const MOST: Duration = Duration::from_secs(12 * 3600);

struct Options {
    seeds: Vec<(u64, Option<String>)>,
    verbose: bool,
    /// The fixed seeds of `make test`: also check that a seed replays
    /// exactly, and that the checks can fail.
    fixed: bool,
}

/// The function's log, each line with the virtual time: on stderr with
/// `--log`, else nowhere. Installed either way, so that a run with `--log`
/// is the run without it (with a subscriber installed, the SDK's code takes
/// other paths, which draw on the generator of its retry jitter).
fn log(to_stderr: bool) {
    struct Virtual;
    impl tracing_subscriber::fmt::time::FormatTime for Virtual {
        fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
            let start = *START.get_or_init(Instant::now);
            write!(
                w,
                "{:>9.3}s",
                Instant::now().saturating_duration_since(start).as_secs_f64()
            )
        }
    }
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // The function's lines and the simulation's spans only: the SDK's spans,
    // once enabled, draw their IDs from the generator that also draws the
    // SDK's retry jitter, and the run would no longer be the one without
    // --log.
    let ours = tracing_subscriber::filter::filter_fn(|m| {
        *m.level() <= tracing::Level::INFO
            && (m.target().starts_with("cloudfront_invalidator") || m.target() == "sim")
    });
    let layer = tracing_subscriber::fmt::layer()
        .with_timer(Virtual)
        .with_target(false)
        .with_ansi(false)
        .with_writer(move || -> Box<dyn std::io::Write> {
            if to_stderr {
                Box::new(std::io::stderr())
            } else {
                Box::new(std::io::sink())
            }
        });
    tracing_subscriber::registry()
        .with(tracing_subscriber::Layer::with_filter(layer, ours))
        .init();
}

/// The start of the run being logged.
static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn options() -> Result<Options, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| -> Result<Option<String>, String> {
        match args.iter().position(|a| a == name) {
            Some(at) => args
                .get(at + 1)
                .cloned()
                .map(Some)
                .ok_or(format!("{name} needs a value")),
            None => Ok(None),
        }
    };
    let number = |name: &str| -> Result<Option<u64>, String> {
        value(name)?
            .map(|v| v.parse().map_err(|_| format!("{name}: {v:?} is not a number")))
            .transpose()
    };
    let family = value("--family")?;
    let seeds = if let Some(seed) = number("--seed")? {
        vec![(seed, family)]
    } else if let Some(count) = number("--seeds")? {
        let from = number("--from")?.unwrap_or(1);
        (from..from + count).map(|s| (s, family.clone())).collect()
    } else {
        FIXED.iter().map(|(s, f)| (*s, Some(f.to_string()))).collect()
    };
    Ok(Options {
        fixed: !args.iter().any(|a| a == "--seed" || a == "--seeds"),
        seeds,
        verbose: args.iter().any(|a| a == "--verbose"),
    })
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("sim: {e}\nusage: --seed S | --seeds N [--from S] [--family F] [--verbose]");
            return ExitCode::from(2);
        }
    };
    // No real endpoint may leak in from the environment.
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_ENDPOINT_URL") {
            // SAFETY: single-threaded here, before any runtime starts.
            unsafe { std::env::remove_var(name) };
        }
    }
    log(std::env::args().any(|a| a == "--log"));
    println!("{}", header());
    let mut failed = Vec::new();
    let mut totals = Figures::default();
    let mut families: std::collections::BTreeMap<&'static str, (usize, Figures)> = Default::default();
    for (seed, family) in &options.seeds {
        let scenario = Scenario::for_seed(*seed, family.as_deref());
        let figures = run(scenario);
        println!("{}", row(&figures));
        if options.verbose || !figures.holds() {
            for example in &figures.examples {
                println!("    {example}");
            }
        }
        add(&mut totals, &figures);
        let totals_of_family = families.entry(figures.family).or_default();
        totals_of_family.0 += 1;
        add(&mut totals_of_family.1, &figures);
        if !figures.holds() {
            // The family as given: a seed without one draws its family
            // from the seed's stream, which naming one would shift.
            failed.push((figures.seed, family.clone()));
        }
    }
    println!("{}", by_family(&families));
    println!("{}", summary(&totals, options.seeds.len()));
    if !options.fixed && options.seeds.len() > 1 {
        // For docs/evidence.md, which tools/check_figures.py compares with it.
        let file = match options.seeds.first() {
            Some((_, Some(family))) => format!("simulate-{family}.md"),
            _ => "simulate.md".to_string(),
        };
        figures::write(
            &file,
            &command(&options.seeds),
            &format!(
                "{}\n\n{}",
                by_family(&families).trim(),
                summary(&totals, options.seeds.len()).trim()
            ),
        );
    }
    if options.fixed && !checks_can_fail() {
        return ExitCode::FAILURE;
    }
    if failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    println!("\n{} seed(s) broke the promise; each replays with:", failed.len());
    for (seed, family) in failed {
        let family = family.map(|f| format!(" FAMILY={f}")).unwrap_or_default();
        println!("  make simulate SEED={seed}{family}");
    }
    ExitCode::FAILURE
}

/// The simulation's own test: a seed run twice gives the same digest, and
/// with the function sending nothing (DRY_RUN) the checks find stale edges
/// and lost changes.
fn checks_can_fail() -> bool {
    let (seed, family) = FIXED[0];
    let again = run(Scenario::for_seed(seed, Some(family)));
    let first = run(Scenario::for_seed(seed, Some(family)));
    let mut idle = Scenario::for_seed(seed, Some(family));
    idle.dry_run = true;
    let idle = run(idle);
    println!(
        "the checks themselves: seed {seed} twice gives digests {:016x} and {:016x}; with the function sending nothing, stale {} and lost {}",
        first.digest, again.digest, idle.stale, idle.lost
    );
    let holds = first.digest == again.digest && idle.stale > 0 && idle.lost > 0;
    if !holds {
        println!(
            "the simulation cannot be trusted: a seed must replay exactly, and a function that sends nothing must fail it"
        );
    }
    holds
}

/// One run of a scenario, on a paused clock: the same seed, the same run.
fn run(scenario: Scenario) -> Figures {
    fastrand::seed(scenario.seed);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(simulate(scenario))
}

async fn simulate(scenario: Scenario) -> Figures {
    let start = Instant::now();
    let _ = START.set(start);
    let mut rng = Rng::new(scenario.seed ^ 0x5157_0000);
    let distributions = scenario.distributions.iter().map(distribution).collect();
    let skew = |rng: &mut Rng| rng.between(0, 600) as i64 - 300;
    let cloudfront = CloudFront::new(
        distributions,
        scenario.edges,
        scenario.completion_s,
        skew(&mut rng),
    );
    let s3_skew = skew(&mut rng);
    let world = Arc::new(Mutex::new(World {
        start,
        rng: rng.fork(),
        cloudfront,
        sqs: Sqs::new(Duration::from_secs(1380), 5, Duration::from_secs(180), 60),
        notices: Vec::new(),
        faults: Faults::default(),
        injected: 0,
        requests: [0; 3],
    }));
    hold_for_another_client(&scenario, &world, &mut rng);
    lock(&world).faults = scenario.faults;
    let (queue_url, watch_url) = {
        let w = lock(&world);
        (w.sqs.url(sqs::CHANGES), w.sqs.url(sqs::WATCHES))
    };
    let settings = scenario.settings(&queue_url, &watch_url);
    let pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let config = cloudfront_invalidator::Config::from_pairs(&pairs).expect("the scenario's settings");
    let reserved = (scenario.wiring == Wiring::Direct).then_some(scenario.concurrency);
    let lambda = Arc::new(Lambda::new(world.clone(), config, rng.fork(), reserved));
    let done = Arc::new(AtomicBool::new(false));
    let mut pollers = Vec::new();
    if scenario.wiring != Wiring::Direct {
        for _ in 0..scenario.concurrency {
            let window = Duration::from_secs(scenario.window_s);
            pollers.push(tokio::spawn(lambda.clone().poll(
                sqs::CHANGES,
                scenario.batch_size,
                window,
                done.clone(),
            )));
        }
    }
    for _ in 0..2 {
        pollers.push(tokio::spawn(lambda.clone().poll(
            sqs::WATCHES,
            10,
            Duration::ZERO,
            done.clone(),
        )));
    }
    deliver(&scenario, &world, &lambda, s3_skew).await;
    let unsettled = settle(&world, &lambda).await;
    done.store(true, Ordering::Relaxed);
    for poller in pollers {
        let _ = poller.await;
    }
    let end = Instant::now();
    let counts = lambda.counts.lock().expect("counts").clone();
    let w = lock(&world);
    let mut figures = oracle::figures(&scenario, &w, &counts.parked, end);
    figures.environments = counts.environments;
    figures.deadline = counts.deadline;
    figures.unsettled = unsettled;
    figures
}

/// A distribution of the scenario as CloudFront holds it: its origin (and
/// an API's, when a behavior sends viewers there) and behaviors.
fn distribution(d: &scenario::DistributionSpec) -> Distribution {
    let mut origins = vec![(d.domain.clone(), d.origin.clone().unwrap_or_default())];
    if d.behaviors.iter().any(|b| !b.to_origin) {
        origins.push(("api.example.com".into(), String::new()));
    }
    let behaviors = d
        .behaviors
        .iter()
        .map(|b| {
            let policy = if b.query_strings {
                cloudfront::QUERY_STRINGS
            } else {
                cloudfront::CACHING_OPTIMIZED
            };
            (b.pattern.clone(), usize::from(!b.to_origin), policy.to_owned())
        })
        .collect();
    Distribution {
        id: d.id.clone(),
        origins,
        behaviors,
    }
}

/// Another client's invalidations, in progress from the start for 5 to 40
/// minutes, at each distribution serving the bucket.
fn hold_for_another_client(scenario: &Scenario, world: &world::Shared, rng: &mut Rng) {
    let Some((files, wildcards)) = scenario.other_client else {
        return;
    };
    let mut w = lock(world);
    let start = w.start;
    let now = Instant::now();
    let served: Vec<usize> = scenario
        .distributions
        .iter()
        .filter(|d| d.origin.is_some())
        .filter_map(|d| w.cloudfront.index(&d.id))
        .collect();
    for d in served {
        let mut paths: Vec<String> = (0..files).map(|i| format!("/elsewhere/{i}.html")).collect();
        paths.extend((0..wildcards).map(|i| format!("/elsewhere/w{i}/*")));
        // In a few invalidations, each lasting its own time.
        for chunk in paths.chunks(paths.len().div_ceil(4).max(1)) {
            let lasts = Duration::from_secs(rng.between(300, 2400));
            let World {
                cloudfront,
                rng: wrng,
                ..
            } = &mut *w;
            cloudfront.create_for_other(d, chunk.to_vec(), lasts, wrng, now, start);
        }
    }
}

/// Delivers every notification at its time: to the change queue, or as an
/// asynchronous invocation. Returns when the last is delivered.
async fn deliver(scenario: &Scenario, world: &world::Shared, lambda: &Arc<Lambda>, s3_skew: i64) {
    let history = &scenario.history;
    let start = lock(world).start;
    let mut deliveries: Vec<(i64, usize)> = history
        .changes
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.deliveries.iter().map(move |&t| (t, i)))
        .collect();
    deliveries.sort();
    if scenario.wiring == Wiring::Queue {
        // S3 tests a new notification first.
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": world::iso(world::BASE_MS), "Bucket": history.bucket, "RequestId": "SIM", "HostId": "SIM"});
        lock(world).sqs.send(
            sqs::CHANGES,
            test.to_string(),
            Duration::ZERO,
            Vec::new(),
            start,
            start,
        );
    }
    for (at, index) in deliveries {
        tokio::time::sleep_until(start + Duration::from_millis(at as u64)).await;
        let change = &history.changes[index];
        match scenario.wiring {
            Wiring::Direct => {
                let event = json!({"Records": [s3::s3_record(history, change, s3_skew)]}).to_string();
                tokio::spawn(lambda.clone().invoke_async(event, vec![index]));
            }
            Wiring::Queue => {
                let body = json!({"Records": [s3::s3_record(history, change, s3_skew)]}).to_string();
                lock(world).sqs.send(
                    sqs::CHANGES,
                    body,
                    Duration::ZERO,
                    vec![index],
                    Instant::now(),
                    start,
                );
            }
            Wiring::EventBridge => {
                // S3 puts the event on the bus at once; what is late is its
                // delivery to the queue (EventBridge retries for a day).
                let put = change.at_ms + 300;
                let body =
                    s3::eventbridge_event(history, change, put, scenario.eventbridge_encoded).to_string();
                lock(world).sqs.send(
                    sqs::CHANGES,
                    body,
                    Duration::ZERO,
                    vec![index],
                    Instant::now(),
                    start,
                );
            }
        }
    }
}

/// Waits until nothing is left to do: the queues empty (or parked),
/// nothing running or waiting for a retry, every invalidation complete.
/// Returns true when that did not happen within [`MOST`].
async fn settle(world: &world::Shared, lambda: &Lambda) -> bool {
    let start = lock(world).start;
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        let now = Instant::now();
        let idle = {
            let counts = lambda.counts.lock().expect("counts");
            counts.running == 0 && counts.pending == 0
        };
        let w = lock(world);
        let queues_empty =
            w.sqs.queues[sqs::CHANGES].messages.is_empty() && w.sqs.queues[sqs::WATCHES].messages.is_empty();
        let complete = w.cloudfront.invalidations.iter().all(|i| !i.in_progress(now));
        if idle && queues_empty && complete {
            return false;
        }
        if now.duration_since(start) > MOST {
            return true;
        }
    }
}

fn add(totals: &mut Figures, f: &Figures) {
    totals.changes += f.changes;
    totals.environments += f.environments;
    totals.requests += f.requests;
    totals.invalidations += f.invalidations;
    totals.paths += f.paths;
    totals.stale += f.stale;
    totals.lost += f.lost;
    totals.parked += f.parked;
    totals.refused += f.refused;
    totals.invalid += f.invalid;
    totals.twice += f.twice;
    totals.unneeded += f.unneeded;
    totals.deadline += f.deadline;
    totals.notices_missing += f.notices_missing;
    totals.notices_twice += f.notices_twice;
    for (rule, n) in &f.explained {
        *totals.explained.entry(rule).or_default() += n;
    }
    totals.fresh_p99 = totals.fresh_p99.max(f.fresh_p99);
}

fn header() -> String {
    format!(
        "{:>6} {:<13} {:<11} {:>7} {:>4} {:>6} {:>6} {:>6} {:>9} {:>5} {:>5} {:>6} {:>4} {:>5} {:>5} {:>5} {:>5} {:>8}  digest",
        "seed",
        "family",
        "wiring",
        "changes",
        "envs",
        "fault%",
        "reqs",
        "paths",
        "p50/p99m",
        "stale",
        "lost",
        "parked",
        "ref",
        "twice",
        "expl",
        "idle",
        "late",
        "notices"
    )
}

fn row(f: &Figures) -> String {
    let explained: usize = f.explained.values().sum();
    format!(
        "{:>6} {:<13} {:<11} {:>7} {:>4} {:>6.1} {:>6} {:>6} {:>4.1}/{:<4.1} {:>5} {:>5} {:>6} {:>4} {:>5} {:>5} {:>5} {:>5} {:>8}  {:016x}{}",
        f.seed,
        f.family,
        f.wiring,
        f.changes,
        f.environments,
        f.faulted,
        f.requests,
        f.paths,
        f.fresh_p50,
        f.fresh_p99,
        f.stale,
        f.lost,
        f.parked,
        f.refused + f.invalid,
        f.twice,
        explained,
        f.unneeded,
        f.deadline,
        format!("{}/{}", f.notices_missing, f.notices_twice),
        f.digest,
        if f.unsettled { "  UNSETTLED" } else { "" }
    )
}

/// The make command that runs these seeds.
fn command(seeds: &[(u64, Option<String>)]) -> String {
    let from = seeds.first().map_or(1, |(s, _)| *s);
    let mut command = format!("make simulate SEEDS={}", seeds.len());
    if from != 1 {
        command.push_str(&format!(" FROM={from}"));
    }
    if let Some((_, Some(family))) = seeds.first() {
        command.push_str(&format!(" FAMILY={family}"));
    }
    command
}

/// The totals of each family, as a Markdown table.
fn by_family(families: &std::collections::BTreeMap<&'static str, (usize, Figures)>) -> String {
    let mut table = String::from(
        "\n| family | seeds | changes | environments | requests | paths billed | fresh p99, worst (min) | stale | lost | parked | refused | twice | explained | late |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (family, (seeds, f)) in families {
        table.push_str(&format!(
            "\n| {family} | {seeds} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} |",
            f.changes,
            f.environments,
            f.requests,
            f.paths,
            f.fresh_p99,
            f.stale,
            f.lost,
            f.parked,
            f.refused + f.invalid,
            f.twice,
            f.explained.values().sum::<usize>(),
            f.deadline
        ));
    }
    table
}

fn summary(t: &Figures, seeds: usize) -> String {
    let explained: Vec<String> = t
        .explained
        .iter()
        .map(|(rule, n)| format!("{n} {rule}"))
        .collect();
    format!(
        "\n{seeds} seeds: {} changes, {} environments, {} CreateInvalidation calls, {} paths billed; \
         stale {}, lost {} (parked with an alarm {}), refused {} (malformed {}), billed twice {} \
         (explained: {}), paths for no viewer change {}, past the deadline {}, notices missing {} \
         (twice {}); fresh p99 at most {:.1} min",
        t.changes,
        t.environments,
        t.requests,
        t.paths,
        t.stale,
        t.lost,
        t.parked,
        t.refused,
        t.invalid,
        t.twice,
        if explained.is_empty() {
            "none".into()
        } else {
            explained.join(", ")
        },
        t.unneeded,
        t.deadline,
        t.notices_missing,
        t.notices_twice,
        t.fresh_p99
    )
}
