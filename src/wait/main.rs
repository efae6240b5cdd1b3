//! `cloudfront-invalidator-wait --stack NAME`: exits 0 once every change S3
//! reported to the stack up to its start is invalidated and CloudFront says
//! Completed, for a deploy pipeline to wait on. How it makes sure: `fresh`.

mod args;
mod fresh;
mod look;
mod stack;

use fresh::{Freshness, Look, Verdict};
use stack::{Distributions, Stack};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long after the start an empty change queue is believed: S3 delivers
/// within seconds, sometimes a minute; SQS's counts catch up within a minute.
const QUEUE_SETTLE: Duration = Duration::from_secs(120);
/// Without a queue: the same minute for S3, and a first attempt of the
/// function (about a minute holding the changes, 180 s at most) ended.
const DIRECT_SETTLE: Duration = Duration::from_secs(300);
/// Looks in a row that may fail (throttled, offline) before giving up.
const FAILED_LOOKS: u32 = 3;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The one line for what stops the command before it can tell (exit 2).
fn cannot_tell(line: &str) -> ExitCode {
    eprintln!("cloudfront-invalidator-wait: {line}");
    ExitCode::from(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let started = Instant::now();
    let started_ms = now_ms();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match args::parse(&argv, started_ms) {
        Ok(args) => args,
        Err(message) => return cannot_tell(&message),
    };
    let shared = cloudfront_invalidator::sdk::full_config().await;
    if shared.region().is_none() {
        return cannot_tell(
            "no AWS region: set AWS_REGION, or a region in the profile (AWS_PROFILE), the stack's",
        );
    }
    let cloudformation = aws_sdk_cloudformation::Client::new(&shared);
    let stack = match stack::describe(&cloudformation, &args.stack).await {
        Ok(stack) => stack,
        Err(line) => return cannot_tell(&line),
    };
    let sqs = aws_sdk_sqs::Client::new(&shared);
    let cloudfront = aws_sdk_cloudfront::Client::new(&shared);
    let distributions = match distributions(&stack, &cloudfront).await {
        Ok(ids) => ids,
        Err(line) => return cannot_tell(&line),
    };
    if let (Distributions::Auto { bucket }, []) = (&stack.distributions, distributions.as_slice()) {
        return cannot_tell(&format!(
            "no CloudFront distribution of the account has an S3 origin on {bucket} (DistributionIds auto): \
             nothing would ever be invalidated"
        ));
    }
    let since_ms = args.since_ms.unwrap_or(started_ms - 3_600_000);
    let settle = args.settle.unwrap_or(match stack.queue_url {
        Some(_) => QUEUE_SETTLE,
        None => DIRECT_SETTLE,
    });
    println!(
        "waiting for stack {} ({}; distributions {}): changes S3 reported since {} up to now, \
         for {} at most",
        stack.name,
        stack.wiring,
        match &stack.distributions {
            Distributions::Auto { bucket } => format!("serving {bucket}: {}", distributions.join(" ")),
            Distributions::Listed(_) => distributions.join(" "),
        },
        fresh::utc(since_ms),
        args::span(args.timeout)
    );
    let clients = Clients { sqs, cloudfront };
    watch(&stack, &clients, &args, since_ms, settle, started).await
}

/// The clients a look uses.
struct Clients {
    sqs: aws_sdk_sqs::Client,
    cloudfront: aws_sdk_cloudfront::Client,
}

/// Looks every `args.every` until the changes are fresh, one is dead, the
/// timeout passes, or the looks keep failing.
async fn watch(
    stack: &Stack,
    clients: &Clients,
    args: &args::Args,
    since_ms: i64,
    settle: Duration,
    started: Instant,
) -> ExitCode {
    let mut freshness = Freshness::new(since_ms, settle);
    let mut failures = 0;
    loop {
        let look = look_once(stack, &clients.sqs, &clients.cloudfront, since_ms, started).await;
        let look = match look {
            Ok(look) => {
                failures = 0;
                look
            }
            Err(line) => {
                failures += 1;
                if failures >= FAILED_LOOKS {
                    return cannot_tell(&line);
                }
                println!("[{:>5}s] {line}", started.elapsed().as_secs());
                tokio::time::sleep(args.every).await;
                continue;
            }
        };
        match freshness.look(&look) {
            Verdict::Dead(line) => {
                eprintln!(
                    "not fresh: {line}; fix the cause, then `make redrive STACK={}` (docs/operating.md)",
                    stack.name
                );
                return ExitCode::FAILURE;
            }
            Verdict::Fresh(progress) => {
                println!("{progress}");
                println!(
                    "fresh: every change up to the start is invalidated and CloudFront says Completed \
                     ({}s)",
                    started.elapsed().as_secs()
                );
                return ExitCode::SUCCESS;
            }
            Verdict::Waiting(progress) => {
                println!("{progress}");
                if started.elapsed() >= args.timeout {
                    eprintln!(
                        "not fresh after {}: {}",
                        args::span(args.timeout),
                        progress.to_string().split_once("] ").map_or("", |(_, rest)| rest)
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
        tokio::time::sleep(args.every).await;
    }
}

/// The stack's distributions: listed, or with `auto` those serving its
/// bucket now (the function looks again every minute too).
async fn distributions(
    stack: &Stack,
    cloudfront: &aws_sdk_cloudfront::Client,
) -> Result<Vec<String>, String> {
    match &stack.distributions {
        Distributions::Listed(ids) => Ok(ids.iter().map(|d| d.as_str().to_owned()).collect()),
        Distributions::Auto { bucket } => look::distributions_of(cloudfront, bucket).await,
    }
}

/// One look, in this order: the dead-letter queue, the change queue, then
/// CloudFront, so that the listing comes after the queue was read empty.
async fn look_once(
    stack: &Stack,
    sqs: &aws_sdk_sqs::Client,
    cloudfront: &aws_sdk_cloudfront::Client,
    since_ms: i64,
    started: Instant,
) -> Result<Look, String> {
    // Taken before the queue is read: an empty queue counts a little later
    // than it was seen, never earlier.
    let elapsed = started.elapsed();
    let dead = look::dead_letters(sqs, &stack.dead_letter_url).await?;
    let queue = match &stack.queue_url {
        Some(url) => Some(look::counts(sqs, url).await?),
        None => None,
    };
    // After it: the window of invalidations ends a little later, never earlier.
    let now_ms = now_ms();
    let mut invalidations = Vec::new();
    for distribution in distributions(stack, cloudfront).await? {
        invalidations
            .extend(look::invalidations(cloudfront, &distribution, since_ms - fresh::SKEW_MS).await?);
    }
    Ok(Look {
        elapsed,
        now_ms,
        queue,
        dead,
        invalidations,
    })
}
