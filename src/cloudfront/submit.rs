//! CreateInvalidation: one planned batch, retried inside the SDK (see
//! [`super::retry_config`]) within what is left of the invocation.

use super::error::{SubmitError, classify};
use super::{OPERATION_TIMEOUT, within};
use crate::clock::Deadline;
use crate::plan::Batch;
use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};

/// What CloudFront answered for an accepted batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub invalidation_id: String,
    pub status: String,
    /// CloudFront's CreateTime, in milliseconds since the Unix epoch.
    pub created_ms: Option<i64>,
}

/// Submits one batch, unless too little time is left before `deadline`.
pub async fn submit(client: &Client, batch: &Batch, deadline: Deadline) -> Result<Submitted, SubmitError> {
    let distribution = &batch.distribution;
    let Some(time) = deadline.for_call(OPERATION_TIMEOUT) else {
        return Err(SubmitError::DeadlineNear {
            distribution: distribution.clone(),
            left_ms: deadline.left().as_millis(),
        });
    };
    let request = invalidation_batch(batch).map_err(|e| SubmitError::Refused {
        distribution: distribution.clone(),
        code: "InvalidRequest".into(),
        message: e.to_string(),
    })?;
    let output = client
        .create_invalidation()
        .distribution_id(distribution.as_str())
        .invalidation_batch(request)
        .customize()
        .config_override(within(time))
        .send()
        .await
        .map_err(|e| classify(e, batch))?;
    let invalidation = output.invalidation();
    Ok(Submitted {
        invalidation_id: invalidation.map(|i| i.id().to_owned()).unwrap_or_default(),
        status: invalidation.map(|i| i.status().to_owned()).unwrap_or_default(),
        created_ms: invalidation.and_then(|i| i.create_time().to_millis().ok()),
    })
}

fn invalidation_batch(batch: &Batch) -> Result<InvalidationBatch, aws_sdk_cloudfront::error::BuildError> {
    let items: Vec<String> = batch.paths.iter().map(|p| p.as_str().to_owned()).collect();
    let paths = Paths::builder()
        .quantity(items.len() as i32)
        .set_items(Some(items))
        .build()?;
    InvalidationBatch::builder()
        .paths(paths)
        .caller_reference(&batch.caller_reference)
        .build()
}
