//! How the process starts, and ends when it cannot do its job: its logging,
//! started outside Lambda, with a bad configuration, or when the runtime
//! gives up. Each says so in one line.

use crate::clock::Deadline;
use crate::config::ConfigError;
use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn};
use serde_json::Value;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Logging as Lambda's advanced logging controls ask: JSON lines when
/// `AWS_LAMBDA_LOG_FORMAT` is `JSON`, at the level `AWS_LAMBDA_LOG_LEVEL` (or
/// `RUST_LOG`) names, `INFO` by default. The same as the runtime's default
/// subscriber, without per-module filters (and their regex engine, a tenth
/// of the bootstrap).
pub fn logging() {
    let variable = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let level = variable("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| variable("RUST_LOG"))
        .and_then(|l| l.trim().parse::<tracing::level_filters::LevelFilter>().ok())
        .unwrap_or(tracing::level_filters::LevelFilter::INFO);
    let json = variable("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let log = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_max_level(level);
    if json {
        log.json().init();
    } else {
        log.init();
    }
}

/// `Err` with what to do when the process was not started by a Lambda
/// runtime (no `AWS_LAMBDA_RUNTIME_API`).
pub fn inside_lambda() -> Result<(), String> {
    match std::env::var_os("AWS_LAMBDA_RUNTIME_API") {
        Some(_) => Ok(()),
        None => Err(format!(
            "{} is an AWS Lambda function (S3 changes in, CloudFront invalidations out), not a \
             command: deploy it with `sam build && sam deploy --guided`, or run it locally under \
             `cargo lambda watch` as docs/local.md shows.",
            env!("CARGO_PKG_NAME")
        )),
    }
}

/// A bad setting: logged once, then every invocation fails with it, so the
/// invoker (`cargo lambda invoke`, Lambda's retries, the dead-letter record)
/// sees the reason instead of a runtime that exited, and no event is lost.
pub async fn refuse_every_invocation(error: ConfigError) -> ExitCode {
    tracing::error!("configuration: {error}; every invocation fails until it is fixed");
    let served = run(service_fn(|_: LambdaEvent<Value>| {
        let error = error.clone();
        async move { Err::<Value, Refused>(Refused(error)) }
    }))
    .await;
    exit(served)
}

/// An invocation refused for a bad setting.
struct Refused(ConfigError);

/// The runtime logs a handler's error with `{:?}`: one readable line.
impl std::fmt::Debug for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "configuration: {}", self.0)
    }
}

impl From<Refused> for Diagnostic {
    fn from(refused: Refused) -> Self {
        Diagnostic {
            error_type: "ConfigError".into(),
            error_message: format!("{refused:?}"),
        }
    }
}

/// The exit code once the runtime stops, with its reason said once.
pub fn exit(served: Result<(), lambda_runtime::Error>) -> ExitCode {
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("the Lambda runtime stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The invocation's deadline from the one Lambda gives (milliseconds since
/// the Unix epoch). A value that cannot be an epoch time (more than a day in
/// the past: cargo-lambda's emulator sends the timeout itself, e.g. 600000)
/// is read as a duration from now, at most Lambda's 15 minutes.
pub fn deadline(deadline_ms: u64) -> Deadline {
    const LAMBDA_MAX: Duration = Duration::from_secs(15 * 60);
    static NOTED: AtomicBool = AtomicBool::new(false);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let deadline = Duration::from_millis(deadline_ms);
    if deadline + Duration::from_secs(24 * 3600) < now {
        // Only an emulator does this: say so once, for whoever debugs it.
        if !NOTED.swap(true, Ordering::Relaxed) {
            tracing::debug!(
                deadline_ms,
                "the runtime's deadline is no epoch time; reading it as a duration"
            );
        }
        return Deadline::after(deadline.min(LAMBDA_MAX));
    }
    Deadline::after(deadline.saturating_sub(now))
}
