//! The shared state of one run: the clock, the generator, CloudFront, SQS,
//! SNS's notices, the faults to inject; and the in-process HTTP client
//! through which each execution environment's SDK clients reach them, with
//! latency, errors, lost answers and slow answers.

use crate::cloudfront::CloudFront;
use crate::rng::Rng;
use crate::sqs::Sqs;
use aws_sdk_cloudfront::config::BehaviorVersion;
use aws_sdk_cloudfront::config::Credentials;
use aws_sdk_cloudfront::config::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_types::SdkConfig;
use aws_types::region::Region;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::time::{Duration, Instant};

/// An execution environment, by number.
pub type Env = usize;

/// The simulation's epoch: 2026-11-18T20:53:20Z.
pub const BASE_MS: i64 = 1_795_035_200_000;

/// Wall time (ms since the Unix epoch) at `now`.
pub fn at_ms(now: Instant, start: Instant) -> i64 {
    BASE_MS + now.saturating_duration_since(start).as_millis() as i64
}

/// A time as AWS writes it: 2026-11-18T20:53:20.123Z.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("a time in range")
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// An answer of a stand-in.
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub content_type: &'static str,
}

impl Reply {
    pub fn xml(status: u16, body: String) -> Reply {
        Reply {
            status,
            body,
            content_type: "text/xml",
        }
    }

    pub fn json(status: u16, body: String) -> Reply {
        Reply {
            status,
            body,
            content_type: "application/x-amz-json-1.0",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    CloudFront,
    Sqs,
    Sns,
}

/// How often each service's answer is faulted (0 to 0.5).
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    pub cloudfront: f64,
    pub sqs: f64,
    pub sns: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Throttling: CloudFront's "Rate exceeded", SQS's and SNS's own.
    Throttled,
    /// A 5xx answer.
    Unavailable,
    /// The connection breaks before the request arrives.
    Dropped,
    /// The request is carried out and its answer lost.
    Lost,
    /// The request is carried out and answered after the client gave up.
    Slow,
}

/// A notice published to SNS (the "fresh" topic).
#[derive(Debug, Clone)]
pub struct Notice {
    pub message: String,
}

pub struct World {
    pub start: Instant,
    pub rng: Rng,
    pub cloudfront: CloudFront,
    pub sqs: Sqs,
    pub notices: Vec<Notice>,
    pub faults: Faults,
    pub injected: usize,
    /// Requests served, per service.
    pub requests: [usize; 3],
}

pub type Shared = Arc<Mutex<World>>;

pub fn lock(world: &Shared) -> MutexGuard<'_, World> {
    world.lock().expect("the world's lock")
}

impl World {
    fn fault(&mut self, service: Service) -> Option<Fault> {
        let rate = match service {
            Service::CloudFront => self.faults.cloudfront,
            Service::Sqs => self.faults.sqs,
            Service::Sns => self.faults.sns,
        };
        if !self.rng.chance(rate) {
            return None;
        }
        self.injected += 1;
        Some(match self.rng.below(20) {
            0..=7 => Fault::Throttled,
            8..=12 => Fault::Unavailable,
            13..=14 => Fault::Dropped,
            15..=17 => Fault::Lost,
            _ => Fault::Slow,
        })
    }

    /// One way of a request: mostly tens of milliseconds, now and then seconds.
    fn latency(&mut self) -> Duration {
        if self.rng.chance(0.02) {
            Duration::from_millis(self.rng.between(1000, 5000))
        } else {
            Duration::from_millis(self.rng.between(5, 80))
        }
    }

    fn serve(&mut self, env: Env, service: Service, request: &Request) -> Reply {
        let now = Instant::now();
        self.requests[service as usize] += 1;
        let World {
            rng,
            cloudfront,
            sqs,
            start,
            ..
        } = self;
        match service {
            Service::CloudFront => cloudfront.serve(
                env,
                &request.method,
                &request.uri,
                &request.body,
                rng,
                now,
                *start,
            ),
            Service::Sqs => sqs.serve(&request.target, &request.body, rng, now, *start),
            Service::Sns => {
                let message = form_value(&request.body, "Message").unwrap_or_default();
                self.notices.push(Notice { message });
                Reply::xml(
                    200,
                    "<PublishResponse><PublishResult><MessageId>sim</MessageId></PublishResult><ResponseMetadata><RequestId>sim</RequestId></ResponseMetadata></PublishResponse>".into(),
                )
            }
        }
    }
}

/// What a stand-in reads of a request.
struct Request {
    method: String,
    uri: String,
    target: String,
    body: String,
}

/// One execution environment's connection to the stand-ins.
#[derive(Debug, Clone)]
struct Connector {
    world: Shared,
    env: Env,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("World")
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let uri = request.uri().to_owned();
        let host = uri
            .split("://")
            .nth(1)
            .unwrap_or("")
            .split('/')
            .next()
            .unwrap_or("");
        let service = if host.starts_with("cloudfront") {
            Service::CloudFront
        } else if host.starts_with("sqs") {
            Service::Sqs
        } else {
            Service::Sns
        };
        let request = Request {
            method: request.method().to_owned(),
            uri,
            target: request
                .headers()
                .get("x-amz-target")
                .unwrap_or_default()
                .to_owned(),
            body: request
                .body()
                .bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
        };
        let (world, env) = (self.world.clone(), self.env);
        HttpConnectorFuture::new(async move {
            let (there, back, fault) = {
                let mut w = lock(&world);
                (w.latency(), w.latency(), w.fault(service))
            };
            tokio::time::sleep(there).await;
            let reply = match fault {
                Some(Fault::Dropped) => {
                    return Err(ConnectorError::io(
                        "connection reset before the request arrived".into(),
                    ));
                }
                Some(Fault::Throttled) => throttled(service),
                Some(Fault::Unavailable) => unavailable(service),
                _ => lock(&world).serve(env, service, &request),
            };
            match fault {
                Some(Fault::Lost) => {
                    tokio::time::sleep(back).await;
                    return Err(ConnectorError::io(
                        "connection reset before the answer arrived".into(),
                    ));
                }
                Some(Fault::Slow) => tokio::time::sleep(Duration::from_secs(40)).await,
                _ => tokio::time::sleep(back).await,
            }
            let mut response = Response::new(
                StatusCode::try_from(reply.status).expect("a status"),
                SdkBody::from(reply.body),
            );
            response.headers_mut().insert("content-type", reply.content_type);
            Ok(response)
        })
    }
}

fn throttled(service: Service) -> Reply {
    match service {
        Service::CloudFront => crate::cloudfront::error(400, "Throttling", "Rate exceeded"),
        Service::Sqs => Reply::json(400, r#"{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Rate exceeded"}"#.into()),
        Service::Sns => Reply::xml(
            400,
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>sim</RequestId></ErrorResponse>".into(),
        ),
    }
}

fn unavailable(service: Service) -> Reply {
    match service {
        Service::CloudFront => crate::cloudfront::error(503, "ServiceUnavailable", "Service Unavailable"),
        Service::Sqs => Reply::json(503, r#"{"__type":"com.amazonaws.sqs#ServiceUnavailable","message":"unavailable"}"#.into()),
        Service::Sns => Reply::xml(
            503,
            "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>unavailable</Message></Error><RequestId>sim</RequestId></ErrorResponse>".into(),
        ),
    }
}

/// A value of a form-encoded body (SNS's query protocol).
fn form_value(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| crate::cloudfront::percent_decode(&v.replace('+', " ")))
    })
}

/// The SDK's clock on the simulation's: its timeouts already sleep on
/// tokio's paused clock, and what it measures with a clock (how fast a body
/// goes, when a credential expires, the signature's date) must too, or a run
/// would depend on how fast the machine runs it.
#[derive(Debug)]
struct VirtualTime(Instant);

impl aws_smithy_async::time::TimeSource for VirtualTime {
    fn now(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms(Instant::now(), self.0) as u64)
    }
}

/// The SDKs' shared configuration for environment `env`: its HTTP client
/// reaches the stand-ins, its clock is the simulation's; everything else is
/// what the function sets itself.
pub fn sdk_config(world: &Shared, env: Env) -> SdkConfig {
    let start = lock(world).start;
    let world = world.clone();
    let http = http_client_fn(move |_, _| {
        SharedHttpConnector::new(Connector {
            world: world.clone(),
            env,
        })
    });
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "SIM", "SIM", None, None, "sim",
        )))
        .http_client(http)
        .time_source(VirtualTime(start))
        .timeout_config(
            aws_sdk_cloudfront::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(10))
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .build()
}
