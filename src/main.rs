use cloudfront_invalidator::queues::Queues;
use cloudfront_invalidator::{Config, Invalidator, cloudfront, metrics, sdk, start};
use lambda_runtime::{LambdaEvent, run, service_fn};
use serde_json::value::RawValue;
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    start::logging();
    if let Err(message) = start::inside_lambda() {
        eprintln!("{message}");
        return ExitCode::from(2);
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        // Said once here; every invocation then fails with it (see `start`).
        Err(e) => return start::refuse_every_invocation(e).await,
    };
    let collector = metrics::init(&config.metrics_namespace)
        .inspect_err(|e| tracing::warn!("{e}"))
        .ok();
    let shared = sdk::shared_config().await;
    let invalidator =
        Invalidator::new(cloudfront::client(&shared), config).with_queues(Queues::from_conf(&shared));
    let (invalidator, cold) = (&invalidator, &std::sync::atomic::AtomicBool::new(true));
    // The event's text, read by the handler (see `Invalidator::handle_text`).
    let served = run(service_fn(move |event: LambdaEvent<Box<RawValue>>| async move {
        if cold.swap(false, std::sync::atomic::Ordering::Relaxed) {
            metrics::cold_start();
        }
        let deadline = start::deadline(event.context.deadline);
        let result = invalidator.handle_text(event.payload.get(), deadline).await;
        collector.inspect(|c| metrics::flush(c));
        result
    }));
    start::exit(served.await)
}
