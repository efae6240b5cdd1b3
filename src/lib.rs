//! Invalidates CloudFront paths for the S3 objects an event reports changed.
//! Data flows one way: `event` (JSON to changes) -> `path` (key to path) ->
//! `plan` (per-distribution batches, within `budget`) -> `cloudfront`
//! (submit) -> `handler`; `watch` follows each invalidation until it is
//! complete through the watch queue (`queues`), and `metrics` records what
//! happened.

pub mod budget;
pub mod cloudfront;
pub mod config;
pub mod discovery;
pub mod event;
pub mod filter;
pub mod handler;
pub mod metrics;
pub mod path;
pub mod plan;
pub mod queues;
pub mod start;
pub mod watch;

pub use config::Config;
pub use handler::{HandlerError, Invalidator, Response, Summary, deadline_from_epoch_ms};
