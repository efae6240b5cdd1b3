//! Invalidates CloudFront paths for the S3 objects an event reports changed.
//! Data flows one way: `event` (JSON to changes) -> `path` (key to path,
//! through what each distribution's configuration says: `distribution`) ->
//! `plan` (per-distribution batches, within `budget`, less what `cover`
//! says an accepted invalidation already covers, from what the environment
//! remembers in `memory`) -> `cloudfront` (submit) -> `handler` ->
//! `response`; `watch` follows each invalidation until it is complete
//! through the watch queue (`queues`), and `metrics` records what happened.

pub mod budget;
pub mod config;
pub mod cover;
pub mod discovery;
pub mod distribution;
pub mod event;
pub mod filter;
pub mod memory;
pub mod path;
pub mod plan;
pub mod watch;

// The boundaries and the Lambda function around the pure core above.
#[cfg(feature = "lambda")]
pub mod clock;
#[cfg(feature = "lambda")]
pub mod cloudfront;
#[cfg(feature = "lambda")]
pub mod handler;
#[cfg(feature = "lambda")]
pub mod metrics;
#[cfg(feature = "lambda")]
pub mod queues;
#[cfg(feature = "lambda")]
pub mod readings;
#[cfg(feature = "lambda")]
pub mod response;
#[cfg(feature = "lambda")]
pub mod sdk;
#[cfg(feature = "lambda")]
pub mod start;

#[cfg(feature = "lambda")]
pub use clock::{Clock, Deadline};
pub use config::Config;
#[cfg(feature = "lambda")]
pub use handler::Invalidator;
#[cfg(feature = "lambda")]
pub use response::{HandlerError, Response, Summary};
