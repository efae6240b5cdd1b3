//! `make soak`: a bounded load run. 20,000 S3 changes go through the real
//! binary under cargo-lambda's runtime emulator as SQS batches, with a fault
//! proxy in front of moto answering a share of CloudFront requests with
//! faults. The driver plays SQS: a message reported as failed (or in a batch
//! whose invocation failed) comes back later in another batch, and after 5
//! receives goes to the dead-letter queue. At the end a ledger checks every
//! change: covered by an invalidation CloudFront accepted, or in the
//! dead-letter queue; never lost, never billed twice.
//!
//! Settings (environment): SOAK_CHANGES (20000), SOAK_BATCH (100),
//! SOAK_FAULT_RATE (0.25), SOAK_SECONDS (900), SOAK_SEED (42).

#[path = "../tests/support/mod.rs"]
mod support;
use cloudfront_invalidator::path::{InvalidationPath, decode_key};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};
use support::fault_proxy::{Fault, FaultProxy, Mix};
use support::{Payload, Stack, sample_put, sqs_record};

const MAX_RECEIVES: usize = 5;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Keys as S3 sends them: a static tree, every 7th with a space (`+`) and
/// every 11th with non-ASCII.
fn key(i: usize) -> String {
    let name = match (i % 7, i % 11) {
        (0, _) => format!("file+{i:05}.css"),
        (_, 0) => format!("caf%C3%A9-{i:05}.css"),
        _ => format!("file-{i:05}.css"),
    };
    format!("soak/d{:02}/{name}", i % 40)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let changes: usize = setting("SOAK_CHANGES", 20_000);
    let batch_size: usize = setting("SOAK_BATCH", 100);
    let rate: f64 = setting("SOAK_FAULT_RATE", 0.25);
    let limit = Duration::from_secs(setting("SOAK_SECONDS", 900));
    let seed: u64 = setting("SOAK_SEED", 42);

    let mut stack = Stack::start().await;
    let distribution = stack.create_distribution("example-static-site", "").await;
    let proxy = FaultProxy::start(stack.moto_port, vec![]);
    proxy.set_mix(Some(Mix {
        rate,
        seed,
        faults: vec![
            Fault::Error {
                status: 400,
                code: "Throttling",
            },
            Fault::Error {
                status: 503,
                code: "ServiceUnavailable",
            },
            Fault::Error {
                status: 400,
                code: "TooManyInvalidationsInProgress",
            },
            Fault::ResetBeforeForward,
            Fault::ResetAfterForward,
            // Slower than the SDK's 10 s per attempt.
            Fault::Delay(Duration::from_secs(11)),
        ],
    }));
    // No path budget: each change is one path, so the ledger counts exactly.
    stack.start_function_via(
        proxy.port,
        &[("DISTRIBUTION_IDS", &distribution), ("MAX_PATHS", "0")],
    );

    let put = sample_put();
    let mut receives = vec![0usize; changes];
    let mut queue: VecDeque<usize> = (0..changes).collect();
    let mut dead_letter = Vec::new();
    let (mut invocations, mut failed_invocations) = (0, 0);
    let started = Instant::now();
    while !queue.is_empty() && started.elapsed() < limit {
        let batch: Vec<usize> = (0..batch_size).map_while(|_| queue.pop_front()).collect();
        let records: Vec<Value> = batch.iter().map(|&i| sqs_record(&put, i, &key(i))).collect();
        let output = stack.invoke(Payload::Json(&json!({ "Records": records })));
        invocations += 1;
        let failed: Vec<usize> = if output.status.success() {
            let response: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
            response["batchItemFailures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["itemIdentifier"].as_str()?.rsplit('-').next()?.parse().ok())
                .collect()
        } else {
            failed_invocations += 1;
            batch.clone()
        };
        for &i in &batch {
            receives[i] += 1;
            if failed.contains(&i) {
                if receives[i] >= MAX_RECEIVES {
                    dead_letter.push(i);
                } else {
                    // Back in the queue: it comes back in another batch.
                    queue.push_back(i);
                }
            }
        }
    }
    let elapsed = started.elapsed();

    // The ledger, from what CloudFront (moto behind the proxy) accepted.
    let invalidations = stack.all_invalidations(&distribution).await;
    let mut accepted: BTreeMap<String, usize> = BTreeMap::new();
    for path in invalidations.iter().flatten() {
        *accepted.entry(path.clone()).or_default() += 1;
    }
    let path_of = |i: usize| InvalidationPath::for_key(&decode_key(&key(i)).unwrap()).to_string();
    let lost: Vec<usize> = (0..changes)
        .filter(|&i| !accepted.contains_key(&path_of(i)) && !dead_letter.contains(&i))
        .collect();
    let duplicated = accepted.values().filter(|&&n| n > 1).count();
    let counters = proxy.counters();
    let billed: usize = invalidations.iter().map(Vec::len).sum();

    println!(
        "\nsoak: {changes} changes in SQS batches of {batch_size}, fault rate {rate} (seed {seed}), {:.0} s\n",
        elapsed.as_secs_f64()
    );
    println!("| figure | value |");
    println!("| --- | ---: |");
    println!("| changes | {changes} |");
    println!("| invocations (failed as a whole) | {invocations} ({failed_invocations}) |");
    println!(
        "| SQS redeliveries (receives beyond the first) | {} |",
        receives.iter().map(|r| r.saturating_sub(1)).sum::<usize>()
    );
    println!(
        "| CloudFront requests seen by the proxy | {} |",
        counters.requests
    );
    println!(
        "| faults injected | {} ({:.1}% of requests) |",
        counters.faults,
        100.0 * counters.faults as f64 / counters.requests.max(1) as f64
    );
    println!(
        "| retries answered with the first invalidation (same caller reference) | {} |",
        counters.replayed
    );
    println!("| invalidations accepted | {} |", invalidations.len());
    println!("| paths billed | {billed} |");
    println!("| in the dead-letter queue | {} |", dead_letter.len());
    println!("| still queued when the time ran out | {} |", queue.len());
    println!("| lost | {} |", lost.len());
    println!("| billed twice | {duplicated} |");
    if !lost.is_empty() || duplicated > 0 || !queue.is_empty() {
        eprintln!(
            "soak FAILED: lost {:?}, billed twice {duplicated}, queued {}",
            &lost[..lost.len().min(10)],
            queue.len()
        );
        std::process::exit(1);
    }
}
