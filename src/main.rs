use cloudfront_invalidator::{Config, Invalidator, cloudfront, deadline_from_epoch_ms};
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    // A bad setting stops the function at init, naming the variable.
    let config = Config::from_env().inspect_err(|e| tracing::error!("configuration: {e}"))?;
    let invalidator = Invalidator::new(cloudfront::client().await, config);
    let invalidator = &invalidator;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = deadline_from_epoch_ms(event.context.deadline);
        invalidator.handle(&event.payload, deadline).await
    }))
    .await
}
