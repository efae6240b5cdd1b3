//! `make bench`: whole-process figures, measured in one run on this machine
//! against moto server and the release binary, printed as a Markdown table.
//! The pure planning code has its own criterion bench (benches/plan.rs).
//! `BENCH_ONLY=figures` measures only the last table (cold start beside a
//! boto3 client's, the big batches, the bootstrap's size), in a minute.

#[path = "../tests/support/mod.rs"]
mod support;
use cloudfront_invalidator::plan::retry_delay;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::fault_proxy::FaultProxy;
use support::runtime_api::RuntimeApi;
use support::{Guard, MANIFEST_DIR, Stack, function_command, sqs_batch, sqs_batch_of};

const BURST: usize = 1000;
/// Lambda's limit on an invocation's payload.
const LAMBDA_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;
/// Invocations of each big batch, for a median.
const BIG_RUNS: usize = 7;
const TIME: Duration = Duration::from_secs(120);

fn start(api: &RuntimeApi, cloudfront_port: u16, env: &[(&str, &str)]) -> Guard {
    let child = function_command(cloudfront_port, Some(api.address()), env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the release binary (run `cargo build --release` first)");
    Guard(child)
}

fn peak_memory_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn single_upload(put: &Value, i: usize) -> Value {
    let mut record = put["Records"][0].clone();
    record["s3"]["object"]["key"] = json!(format!("static/css/file-{i:05}.css"));
    record["s3"]["object"]["sequencer"] = json!(format!("{i:016X}"));
    json!({ "Records": [record] })
}

/// What Django's `collectstatic` with `ManifestStaticFilesStorage` uploads
/// for a static tree of `files` files: each file, its hashed copy
/// (`name.<12 hex>.ext`) and `staticfiles.json`.
fn collectstatic_keys(files: usize) -> Vec<String> {
    let apps = ["admin", "rest_framework", "debug_toolbar", "site", "blog", "shop"];
    let kinds = [("css", "css"), ("js", "js"), ("img", "svg"), ("fonts", "woff2")];
    let mut keys = Vec::new();
    for i in 0..files {
        let (app, (dir, ext)) = (apps[i % apps.len()], kinds[(i / apps.len()) % kinds.len()]);
        let sub = if i % 3 == 0 { "vendor/" } else { "" };
        let name = format!("static/{app}/{dir}/{sub}file{i:04}");
        let hash = format!("{:012x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16);
        keys.push(format!("{name}.{ext}"));
        keys.push(format!("{name}.{}.{ext}", &hash[..12]));
    }
    keys.push("static/staticfiles.json".into());
    keys
}

struct Deploy {
    setting: &'static str,
    uploads: usize,
    invocations: usize,
    calls: usize,
    billed: usize,
}

/// A collectstatic delivered through the queue in batches of 1,000, with
/// `env` on top of the defaults.
async fn deploy(stack: &Stack, setting: &'static str, env: &[(&str, &str)], keys: &[String]) -> Deploy {
    let distribution = stack.create_distribution("example-static-site", "").await;
    let api = RuntimeApi::start();
    let mut all_env = vec![("DISTRIBUTION_IDS", distribution.as_str())];
    all_env.extend_from_slice(env);
    let _function = start(&api, stack.moto_port, &all_env);
    let batches: Vec<Value> = keys
        .chunks(1000)
        .enumerate()
        .map(|(i, c)| sqs_batch_of(c, i * 1000))
        .collect();
    for batch in &batches {
        // Reported by S3 just before the batch is sent (a deploy takes a
        // minute or two): an earlier batch's wildcard covers none of it.
        let batch = reported_now(batch);
        let outcome = api.invoke(&batch, TIME);
        assert!(outcome.is_ok(), "{setting}: {outcome:?}");
    }
    let invalidations = stack.all_invalidations(&distribution).await;
    Deploy {
        setting,
        uploads: keys.len(),
        invocations: batches.len(),
        calls: invalidations.len(),
        billed: invalidations.iter().map(Vec::len).sum(),
    }
}

/// An SQS batch of S3 notifications, each reported by S3 just now.
fn reported_now(batch: &Value) -> Value {
    let mut batch = batch.clone();
    for record in batch["Records"].as_array_mut().unwrap() {
        let body: Value = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
        record["body"] = support::just_now(body).to_string().into();
    }
    batch
}

struct Burst {
    mode: &'static str,
    invocations: usize,
    calls: usize,
    paths: usize,
    wall: Duration,
}

async fn burst(stack: &Stack, mode: &'static str, events: Vec<Value>) -> Burst {
    let distribution = stack.create_distribution("example-static-site", "").await;
    let api = RuntimeApi::start();
    // No path budget here: these rows show what batching alone does.
    let _function = start(
        &api,
        stack.moto_port,
        &[("DISTRIBUTION_IDS", &distribution), ("MAX_PATHS", "0")],
    );
    let started = Instant::now();
    for event in &events {
        let outcome = api.invoke(event, TIME);
        assert!(outcome.is_ok(), "{mode}: {outcome:?}");
    }
    let wall = started.elapsed();
    let invalidations = stack.all_invalidations(&distribution).await;
    Burst {
        mode,
        invocations: events.len(),
        calls: invalidations.len(),
        paths: invalidations.iter().map(Vec::len).sum(),
        wall,
    }
}

/// A deploy of 20,000 files whose notifications reach the queue `per_minute`
/// a minute, against a CloudFront that keeps each invalidation in progress
/// for `hold` and refuses what it cannot hold (the fault proxy). The driver
/// plays SQS on the proxy's clock: each minute the function gets what is
/// visible, in batches of at most `batch` messages; a message reported for
/// retry for lack of room comes back after the delay the function sets on it
/// in the template's wirings (`plan::retry_delay`: 1, 3, 8, then 15 minutes),
/// and goes to the dead-letter queue after 6 receives (the template's
/// `maxReceiveCount`).
struct Spread {
    hold: Duration,
    files: usize,
    batch: usize,
    invocations: usize,
    refused: usize,
    requests: usize,
    billed: usize,
    retried: usize,
    dead: usize,
    minutes: u64,
}

async fn spread_deploy(stack: &Stack, hold: Duration, per_minute: usize, batch: usize) -> Spread {
    const FILES: usize = 20_000;
    const MAX_RECEIVES: u32 = 6;
    let distribution = stack.create_distribution("example-static-site", "").await;
    let proxy = FaultProxy::start(stack.moto_port, vec![]);
    proxy.hold(hold);
    let api = RuntimeApi::start();
    let _function = start(&api, proxy.port, &[("DISTRIBUTION_IDS", &distribution)]);
    // A site of 100 directories of 200 files (25 apps, each with css, js,
    // img and fonts), uploaded in key order as `aws s3 sync` does.
    let kinds = [("css", "css"), ("js", "js"), ("img", "png"), ("fonts", "woff2")];
    let keys: Vec<String> = (0..FILES)
        .map(|i| {
            let (dir, ext) = kinds[(i / 200) % 4];
            format!("static/app{:02}/{dir}/file{i:05}.{ext}", i / 800)
        })
        .collect();
    // (minute it becomes visible, receives so far, record)
    let mut queue: VecDeque<(u64, u32, Value)> = VecDeque::new();
    let arrivals: Vec<&[String]> = keys.chunks(per_minute).collect();
    let (mut invocations, mut retried, mut dead, mut minute) = (0, 0, 0, 0u64);
    loop {
        if let Some(arriving) = arrivals.get(minute as usize) {
            // Reported by S3 as they arrive, on the proxy's clock, which
            // also dates the invalidations (what covers a change depends on
            // both).
            let mut put = support::sample_put();
            put["Records"][0]["eventTime"] = support::aws_time(proxy.wall_clock().into()).into();
            let first = minute as usize * per_minute;
            let records = arriving
                .iter()
                .enumerate()
                .map(|(i, key)| support::sqs_record(&put, first + i, key));
            queue.extend(records.map(|r| (minute, 0, r)));
        }
        let (visible, later): (Vec<_>, Vec<_>) = queue.drain(..).partition(|(at, ..)| *at <= minute);
        queue.extend(later);
        for chunk in visible.chunks(batch) {
            let records = chunk.iter().map(|(_, receives, r)| {
                let mut r = r.clone();
                r["attributes"]["ApproximateReceiveCount"] = (receives + 1).to_string().into();
                r
            });
            let event = json!({ "Records": records.collect::<Vec<_>>() });
            let response = api.invoke(&event, TIME).expect("a batch response");
            invocations += 1;
            let failed: Vec<&str> = response["batchItemFailures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["itemIdentifier"].as_str())
                .collect();
            for (_, receives, record) in chunk {
                if failed.contains(&record["messageId"].as_str().unwrap_or_default()) {
                    retried += 1;
                    let receives = receives + 1;
                    if receives >= MAX_RECEIVES {
                        dead += 1;
                        continue;
                    }
                    let back = retry_delay(receives).as_secs().div_ceil(60);
                    queue.push_back((minute + back, receives, record.clone()));
                }
            }
        }
        if queue.is_empty() && minute as usize >= arrivals.len() - 1 {
            break;
        }
        assert!(minute < 24 * 60, "not covered within a day");
        minute += 1;
        proxy.advance(Duration::from_secs(60));
    }
    let invalidations = stack.all_invalidations(&distribution).await;
    let accepted: Vec<&String> = invalidations.iter().flatten().collect();
    let uncovered = keys
        .iter()
        .filter(|k| {
            let path = format!("/{k}");
            !accepted
                .iter()
                .any(|p| *p == &path || p.strip_suffix('*').is_some_and(|pre| path.starts_with(pre)))
        })
        .count();
    assert!(
        uncovered <= dead,
        "{uncovered} changes neither covered nor in the dead-letter queue"
    );
    let counters = proxy.counters();
    Spread {
        hold,
        files: FILES,
        batch,
        invocations,
        refused: counters.refused,
        requests: invalidations.len(),
        billed: invalidations.iter().map(Vec::len).sum(),
        retried,
        dead,
        minutes: minute,
    }
}

/// How long a new Python process takes to import boto3 and make a
/// CloudFront client, what a Python function does at its cold start: the
/// yardstick for ours. The Python of `.venv/aws` (make tools), or
/// `BOTO3_PYTHON`.
fn boto3_start() -> Duration {
    let python = std::env::var_os("BOTO3_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(MANIFEST_DIR).join(".venv/aws/bin/python"));
    let started = Instant::now();
    let done = std::process::Command::new(&python)
        .args([
            "-c",
            "import boto3; boto3.client('cloudfront', region_name='us-east-1')",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run `make tools`, or set BOTO3_PYTHON)",
                python.display()
            )
        });
    assert!(
        done.success(),
        "{} could not make a boto3 client",
        python.display()
    );
    started.elapsed()
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let binary = support::binary();
    let stack = Stack::start().await;
    let put: Value = support::sample_put();
    let everything = std::env::var("BENCH_ONLY").map_or(true, |only| only != "figures");
    let (mut bursts, mut deploys, mut spreads) = (Vec::new(), Vec::new(), Vec::new());

    if everything {
        // A burst of 1,000 uploads, delivered the way Lambda delivers them.
        let direct: Vec<Value> = (0..BURST).map(|i| single_upload(&put, i)).collect();
        let batches = |size: usize| -> Vec<Value> {
            let all = sqs_batch(BURST, "static/css");
            let records = all["Records"].as_array().unwrap();
            records.chunks(size).map(|c| json!({ "Records": c })).collect()
        };
        bursts = vec![
            burst(&stack, "direct (S3 invokes the function per object)", direct).await,
            burst(&stack, "SQS, batch size 10 (Lambda's default)", batches(10)).await,
            burst(
                &stack,
                "SQS, batch size 1,000 (template default; plus the 60 s batching window)",
                batches(1000),
            )
            .await,
        ];

        // A collectstatic of 1,000+ files: billed paths.
        let keys = collectstatic_keys(520);
        deploys = vec![
            deploy(
                &stack,
                "MAX_PATHS=0 (no budget: one path per uploaded file)",
                &[("MAX_PATHS", "0")],
                &keys,
            )
            .await,
            deploy(&stack, "defaults (MAX_PATHS=100)", &[], &keys).await,
            deploy(
                &stack,
                "defaults + SKIP_HASHED_NAMES=true",
                &[("SKIP_HASHED_NAMES", "true")],
                &keys,
            )
            .await,
        ];
    }

    // The largest batch whose payload fits Lambda's 6 MB.
    let message_bytes = sqs_batch(100, "static/css").to_string().len().div_ceil(100);
    let mut largest = LAMBDA_PAYLOAD_LIMIT / message_bytes;
    while sqs_batch(largest, "static/css").to_string().len() > LAMBDA_PAYLOAD_LIMIT {
        largest -= 10;
    }

    // A deploy bigger than a batch, against CloudFront's in-progress limits:
    // 6 MB a minute, in 6 MB batches and in the template's batches of 1,000.
    for batch in [largest, 1000].into_iter().filter(|_| everything) {
        for minutes in [5, 15] {
            let hold = Duration::from_secs(minutes * 60);
            spreads.push(spread_deploy(&stack, hold, largest, batch).await);
        }
    }

    // Cold start: process start to the first poll of the Runtime API; and
    // in turn with it, so that both see the same machine, a boto3 client's.
    let (mut cold, mut boto3) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let api = RuntimeApi::start();
        let spawned = Instant::now();
        let _function = start(&api, stack.moto_port, &[("DISTRIBUTION_IDS", "E1ABC")]);
        while api.first_poll().is_none() {
            std::thread::sleep(Duration::from_micros(200));
        }
        cold.push(api.first_poll().unwrap() - spawned);
        boto3.push(boto3_start());
    }

    // Big batches: time for the handler without CloudFront (dry run), and
    // the process's peak memory.
    let mut big = Vec::new();
    for n in [largest, 10_000] {
        let event = sqs_batch(n, "static/css");
        let api = RuntimeApi::start();
        // Distributions moto does not know: the reads of what is in
        // progress are answered NoSuchDistribution at once (not retried).
        let function = start(
            &api,
            stack.moto_port,
            &[("DISTRIBUTION_IDS", "E1ABC,E2DEF"), ("DRY_RUN", "true")],
        );
        api.invoke(&json!({"Event": "s3:TestEvent"}), TIME).unwrap();
        let idle = peak_memory_kib(function.0.id());
        // One invocation is at the mercy of the machine; the median of
        // several, each one the whole handler on a fresh batch, is not.
        let mut times = Vec::new();
        let mut first_peak = None;
        for _ in 0..BIG_RUNS {
            let body = event.to_string();
            let started = Instant::now();
            let outcome = api.invoke_text(body, TIME);
            times.push(started.elapsed());
            if first_peak.is_none() {
                first_peak = Some(peak_memory_kib(function.0.id()));
            }
            assert!(outcome.is_ok(), "{outcome:?}");
        }
        big.push((
            n,
            event.to_string().len(),
            times,
            idle,
            first_peak.unwrap(),
            peak_memory_kib(function.0.id()),
        ));
    }

    let bootstrap = std::path::Path::new(MANIFEST_DIR).join(".aws-sam/build/InvalidatorFunction/bootstrap");
    let bootstrap_size = std::fs::metadata(&bootstrap).map(|m| m.len());

    println!(
        "\nMeasured {} on {} ({} cores), binary {}\n",
        today(),
        cpu(),
        cores(),
        binary.display()
    );
    if everything {
        println!(
            "| burst of {BURST} uploads (MAX_PATHS=0), delivered as | invocations | CreateInvalidation calls | paths submitted | wall time to last invalidation |"
        );
        println!("| --- | ---: | ---: | ---: | ---: |");
        for b in &bursts {
            println!(
                "| {} | {} | {} | {} | {:.2} s |",
                b.mode,
                b.invocations,
                b.calls,
                b.paths,
                b.wall.as_secs_f64()
            );
        }
        println!(
            "\n| collectstatic of 520 files with ManifestStaticFilesStorage, through the queue | uploads | invocations | CreateInvalidation calls | paths billed |"
        );
        println!("| --- | ---: | ---: | ---: | ---: |");
        for d in &deploys {
            println!(
                "| {} | {} | {} | {} | {} |",
                d.setting, d.uploads, d.invocations, d.calls, d.billed
            );
        }
        println!(
            "\n| {} files, notifications arriving {largest} (6 MB) a minute, defaults: batch size, and how long CloudFront keeps each invalidation in progress | invocations until every change is covered | messages retried (no room yet) | in the dead-letter queue | refused calls | invalidations | paths billed | minutes until covered |",
            spreads[0].files
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for s in &spreads {
            println!(
                "| {} messages, {} min | {} | {} | {} | {} | {} | {} | {} |",
                s.batch,
                s.hold.as_secs() / 60,
                s.invocations,
                s.retried,
                s.dead,
                s.refused,
                s.requests,
                s.billed,
                s.minutes
            );
        }
    }
    println!("\n| figure | value |");
    println!("| --- | ---: |");
    println!(
        "| cold start: process start to first Runtime API poll (median of {}, min {:.1} ms, max {:.1} ms) | {:.1} ms |",
        cold.len(),
        cold.iter().min().unwrap().as_secs_f64() * 1e3,
        cold.iter().max().unwrap().as_secs_f64() * 1e3,
        median(cold.clone()).as_secs_f64() * 1e3
    );
    println!(
        "| a boto3 CloudFront client's start in the same run: new Python process, import, client (median of {}, min {:.0} ms, max {:.0} ms) | {:.0} ms (ours: {:.1} %) |",
        boto3.len(),
        boto3.iter().min().unwrap().as_secs_f64() * 1e3,
        boto3.iter().max().unwrap().as_secs_f64() * 1e3,
        median(boto3.clone()).as_secs_f64() * 1e3,
        100.0 * median(cold.clone()).as_secs_f64() / median(boto3.clone()).as_secs_f64()
    );
    for (n, bytes, times, idle, first_peak, peak) in &big {
        let fits = if *bytes <= LAMBDA_PAYLOAD_LIMIT {
            "fits Lambda's 6 MB"
        } else {
            "over Lambda's 6 MB payload limit"
        };
        println!(
            "| {n}-message SQS batch ({:.1} MB, {fits}): handler time without CloudFront (dry run, 2 distributions; median of {}, min {:.1} ms, max {:.1} ms) | {:.1} ms |",
            *bytes as f64 / 1048576.0,
            times.len(),
            times.iter().min().unwrap().as_secs_f64() * 1e3,
            times.iter().max().unwrap().as_secs_f64() * 1e3,
            median(times.clone()).as_secs_f64() * 1e3
        );
        println!(
            "| {n}-message SQS batch: peak memory of the process after one invocation (idle: {:.1} MiB; after {} invocations: {:.1} MiB) | {:.1} MiB |",
            *idle as f64 / 1024.0,
            times.len(),
            *peak as f64 / 1024.0,
            *first_peak as f64 / 1024.0
        );
    }
    match bootstrap_size {
        Ok(size) => println!(
            "| arm64 release `bootstrap` (sam build) | {:.2} MiB ({size} bytes) |",
            size as f64 / 1048576.0
        ),
        Err(_) => println!("| arm64 release `bootstrap` | not built: run `make build` |"),
    }
}

fn today() -> String {
    std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
