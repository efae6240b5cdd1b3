//! Invalidates CloudFront paths for the S3 objects an event reports changed.
//! Data flows one way: `event` (JSON to changes) -> `path` (key to path) ->
//! `plan` (per-distribution batches, within `budget`, less what `cover`
//! says an accepted invalidation already covers) -> `cloudfront`
//! (submit) -> `handler`; `watch` follows each invalidation until it is
//! complete through the watch queue (`queues`), and `metrics` records what
//! happened.

pub mod budget;
pub mod config;
pub mod cover;
pub mod discovery;
pub mod event;
pub mod filter;
pub mod path;
pub mod plan;
pub mod watch;

// The boundaries and the Lambda function around the pure core above.
#[cfg(feature = "lambda")]
pub mod cloudfront;
#[cfg(feature = "lambda")]
pub mod handler;
#[cfg(feature = "lambda")]
pub mod metrics;
#[cfg(feature = "lambda")]
pub mod queues;
#[cfg(feature = "lambda")]
pub mod response;
#[cfg(feature = "lambda")]
pub mod sdk;
#[cfg(feature = "lambda")]
pub mod start;

pub use config::Config;
#[cfg(feature = "lambda")]
pub use handler::{Invalidator, deadline_from_epoch_ms};
#[cfg(feature = "lambda")]
pub use response::{HandlerError, Response, Summary};
