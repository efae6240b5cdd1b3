//! `make bench`: whole-process figures, measured in one run on this machine
//! against moto server (behind the fault proxy, which keeps invalidations in
//! progress and holds CloudFront's limits) and the release binary, printed
//! as Markdown tables and written to target/figures/bench.md, which
//! tools/check_figures.py compares with docs/evidence.md. The pure planning
//! code has its own criterion bench (benches/plan.rs), which `make bench`
//! runs first: its estimates are read back here and printed with the rest.
//!
//! A deploy bigger than CloudFront holds is the simulation's (tests/sim,
//! family `big`): the function now compares S3's times with its own clock
//! and waits on it, so only a run on one virtual clock (the simulation's)
//! can play the minutes such a deploy takes.
//!
//! `BENCH_ONLY=figures` measures only the times, memory and size (cold start
//! beside a boto3 client's, the big batches, the bootstrap), in a minute.

#[path = "../tests/support/mod.rs"]
mod support;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::fault_proxy::FaultProxy;
use support::runtime_api::RuntimeApi;
use support::{Guard, MANIFEST_DIR, Stack, function_command, sqs_batch, sqs_batch_of};

const BURST: usize = 1000;
/// Lambda's limit on an invocation's payload.
const LAMBDA_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;
/// Invocations of each big batch: a median of the handler's time, and how
/// the process's peak memory grows before it settles.
const BIG_RUNS: usize = 30;
const TIME: Duration = Duration::from_secs(120);
/// The worked example of docs/evidence.md: deploys a month, and the
/// paths CloudFront bills free each month (then USD 0.005 a path).
const DEPLOYS_A_MONTH: usize = 20;
const FREE_PATHS: usize = 1000;
const USD_A_PATH: f64 = 0.005;

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
    // The second batch finds the first's invalidation in progress, as it
    // would at CloudFront.
    let proxy = FaultProxy::start(stack.moto_port, vec![]);
    let api = RuntimeApi::start();
    let mut all_env = vec![("DISTRIBUTION_IDS", distribution.as_str())];
    all_env.extend_from_slice(env);
    let _function = start(&api, proxy.port, &all_env);
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
    /// Every request CloudFront got, the reads of what is in progress too.
    requests: usize,
}

async fn burst(stack: &Stack, mode: &'static str, events: Vec<Value>) -> Burst {
    let distribution = stack.create_distribution("example-static-site", "").await;
    let proxy = FaultProxy::start(stack.moto_port, vec![]);
    let api = RuntimeApi::start();
    // The defaults. (Not the time the burst takes: invocations one after
    // another against moto, mostly moto's time to list what is in progress,
    // say nothing of Lambda's.)
    let _function = start(&api, proxy.port, &[("DISTRIBUTION_IDS", &distribution)]);
    for event in &events {
        let outcome = api.invoke(event, TIME);
        assert!(outcome.is_ok(), "{mode}: {outcome:?}");
    }
    let invalidations = stack.all_invalidations(&distribution).await;
    Burst {
        mode,
        invocations: events.len(),
        calls: invalidations.len(),
        paths: invalidations.iter().map(Vec::len).sum(),
        requests: proxy.counters().requests,
    }
}

/// How long a new Python process takes to import boto3 and make a
/// CloudFront client, what a Python function does at its cold start: the
/// yardstick for ours. The Python of `.venv/aws` (make tools), or
/// `BOTO3_PYTHON`.
fn boto3_start() -> Duration {
    let python = std::env::var_os("BOTO3_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join(".venv/aws/bin/python"));
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
    let (mut bursts, mut deploys) = (Vec::new(), Vec::new());
    let keys = collectstatic_keys(520);
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
                "SQS, batch size 1,000 (the whole burst in one batch)",
                batches(1000),
            )
            .await,
        ];

        // A collectstatic of 1,000+ files: billed paths.
        deploys = vec![
            deploy(
                &stack,
                "MAX_PATHS=0 (no path budget; still within this invocation's share of CloudFront's room)",
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
        let mut peaks = Vec::new();
        for _ in 0..BIG_RUNS {
            let body = event.to_string();
            let started = Instant::now();
            let outcome = api.invoke_text(body, TIME);
            times.push(started.elapsed());
            peaks.push(peak_memory_kib(function.0.id()));
            assert!(outcome.is_ok(), "{outcome:?}");
        }
        big.push(Big {
            messages: n,
            bytes: event.to_string().len(),
            times,
            idle,
            peaks,
        });
    }

    let bootstrap = Path::new(MANIFEST_DIR).join(".aws-sam/build/InvalidatorFunction/bootstrap");
    let bootstrap_size = std::fs::metadata(&bootstrap).map(|m| m.len());

    let mut out = String::new();
    if everything {
        let _ = writeln!(
            out,
            "| burst of {BURST} uploads in one directory, defaults, delivered as | invocations | CreateInvalidation calls | paths billed | CloudFront requests, reads of what is in progress included |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: |");
        for b in &bursts {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                b.mode, b.invocations, b.calls, b.paths, b.requests
            );
        }
        let _ = writeln!(
            out,
            "\n| collectstatic of 520 files with ManifestStaticFilesStorage, through the queue in batches of 1,000 | uploads | invocations | CreateInvalidation calls | paths billed |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: |");
        for d in &deploys {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                d.setting, d.uploads, d.invocations, d.calls, d.billed
            );
        }
        // The worked example: this deploy, 20 times a month, one distribution.
        let _ = writeln!(
            out,
            "\n| {DEPLOYS_A_MONTH} such deploys a month, one distribution | paths a deploy | paths a month | USD a month (past the free {FREE_PATHS}) |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
        let each_upload = Deploy {
            setting: "a path for each upload (a request per file, as without a queue)",
            uploads: keys.len(),
            invocations: keys.len(),
            calls: keys.len(),
            billed: keys.len(),
        };
        for d in std::iter::once(&each_upload).chain(&deploys) {
            let month = d.billed * DEPLOYS_A_MONTH;
            let _ = writeln!(
                out,
                "| {} | {} | {month} | {:.2} |",
                d.setting,
                d.billed,
                month.saturating_sub(FREE_PATHS) as f64 * USD_A_PATH
            );
        }
    }
    // Median, min and max, as the time table's last three cells.
    let spread = |times: &[Duration]| {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
        format!(
            "{} | {} | {}",
            ms(median(times.to_vec())),
            ms(*times.iter().min().unwrap()),
            ms(*times.iter().max().unwrap())
        )
    };
    let _ = writeln!(out, "\n| time | median | min | max |");
    let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
    let _ = writeln!(
        out,
        "| cold start: process start to first Runtime API poll ({} starts) | {} |",
        cold.len(),
        spread(&cold)
    );
    let _ = writeln!(
        out,
        "| a boto3 CloudFront client's start, in turn with the cold starts: new Python process, import, client ({} starts; ours is {:.1} % of it) | {} |",
        boto3.len(),
        100.0 * median(cold.clone()).as_secs_f64() / median(boto3.clone()).as_secs_f64(),
        spread(&boto3)
    );
    for b in &big {
        let _ = writeln!(
            out,
            "| {}: handler time without CloudFront (dry run, 2 distributions; {} invocations) | {} |",
            b.label(),
            b.times.len(),
            spread(&b.times)
        );
    }
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    let _ = writeln!(
        out,
        "\n| peak memory of the process (VmHWM), in {BIG_RUNS} invocations of | idle | after the first | after the last | last grew at invocation |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: |");
    for b in &big {
        let last = *b.peaks.last().unwrap();
        let grew = b.peaks.iter().position(|&p| p == last).unwrap() + 1;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {grew} |",
            b.label(),
            mib(b.idle),
            mib(b.peaks[0]),
            mib(last)
        );
    }
    let _ = writeln!(out, "\n| size | bytes |");
    let _ = writeln!(out, "| --- | ---: |");
    match bootstrap_size {
        Ok(size) => {
            let _ = writeln!(
                out,
                "| arm64 release `bootstrap` (sam build) | {:.2} MiB ({size} bytes) |",
                size as f64 / 1048576.0
            );
        }
        Err(_) => {
            let _ = writeln!(out, "| arm64 release `bootstrap` | not built: run `make build` |");
        }
    }
    match criterion() {
        Some(table) => out.push_str(&format!("\n{table}")),
        None => out
            .push_str("\nno criterion estimates in target/criterion: run `cargo bench --bench plan` first\n"),
    }
    // A run of the times alone keeps its figures apart from a whole run's.
    let (file, command) = if everything {
        ("bench.md", "make bench")
    } else {
        ("bench-times.md", "BENCH_ONLY=figures make bench")
    };
    let path = support::figures::write(file, command, &out);
    println!(
        "\nMeasured on {} ({} cores), binary {} (also in {})\n\n{out}",
        support::figures::cpu(),
        support::figures::cores(),
        binary.display(),
        path.display()
    );
}

/// One big batch's runs.
struct Big {
    messages: usize,
    bytes: usize,
    times: Vec<Duration>,
    /// Peak memory (KiB) before the first invocation, and after each.
    idle: u64,
    peaks: Vec<u64>,
}

impl Big {
    fn label(&self) -> String {
        let fits = if self.bytes <= LAMBDA_PAYLOAD_LIMIT {
            "fits Lambda's 6 MB"
        } else {
            "over Lambda's 6 MB payload limit"
        };
        format!(
            "{}-message SQS batch ({:.1} MB, {fits})",
            self.messages,
            self.bytes as f64 / 1048576.0
        )
    }
}

/// Criterion's estimates of benches/plan.rs (its median, with the 95%
/// confidence interval), as a table, from target/criterion.
fn criterion() -> Option<String> {
    let mut found = Vec::new();
    collect_benchmarks(&Path::new(MANIFEST_DIR).join("target/criterion"), &mut found);
    if found.is_empty() {
        return None;
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out =
        String::from("| criterion (benches/plan.rs) | median | 95% interval |\n| --- | ---: | ---: |\n");
    for (title, median, low, high) in found {
        let _ = writeln!(
            out,
            "| {title} | {} | {} to {} |",
            time(median),
            time(low),
            time(high)
        );
    }
    Some(out)
}

/// Each benchmark under `dir`: (title, median, lower, upper bound) in ns.
fn collect_benchmarks(dir: &Path, found: &mut Vec<(String, f64, f64, f64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path: PathBuf = entry.path();
        if path.ends_with("new") {
            let read = |file: &str| -> Option<Value> {
                serde_json::from_str(&std::fs::read_to_string(path.join(file)).ok()?).ok()
            };
            if let (Some(benchmark), Some(estimates)) = (read("benchmark.json"), read("estimates.json")) {
                let median = &estimates["median"];
                let ci = &median["confidence_interval"];
                found.push((
                    benchmark["title"].as_str().unwrap_or("?").to_owned(),
                    median["point_estimate"].as_f64().unwrap_or(0.0),
                    ci["lower_bound"].as_f64().unwrap_or(0.0),
                    ci["upper_bound"].as_f64().unwrap_or(0.0),
                ));
            }
        } else if path.is_dir() && !path.ends_with("report") && !path.ends_with("base") {
            collect_benchmarks(&path, found);
        }
    }
}

/// A time in ns, in the unit that suits it.
fn time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}
