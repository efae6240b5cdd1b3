//! What an invocation does around its requests, on virtual time (tokio's
//! paused clock, and a wall clock that follows it), with aws-smithy-mocks
//! standing in for CloudFront, SQS and SNS: the margin it waits, the covering
//! of a change on every later delivery, what it reads before planning, its
//! watches and notices, and the deadline every call shares. Each test is a
//! finding of the simulation (tests/sim) or of reading the code (issue 15).

use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationOutput;
use aws_sdk_cloudfront::operation::get_invalidation::GetInvalidationOutput;
use aws_sdk_cloudfront::operation::list_invalidations::ListInvalidationsOutput;
use aws_sdk_cloudfront::primitives::DateTime;
use aws_sdk_cloudfront::types::{
    Invalidation, InvalidationBatch, InvalidationList, InvalidationSummary, Paths,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use cloudfront_invalidator::queues::Queues;
use cloudfront_invalidator::{Clock, Config, Deadline, Invalidator, Response};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The wall clock's reading at the start of each test: 2026-11-18T20:53:20Z.
const BASE_MS: i64 = 1_795_035_200_000;

/// A wall clock that follows tokio's paused one, from `start`.
fn wall(start: Instant) -> i64 {
    BASE_MS + start.elapsed().as_millis() as i64
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_pairs(vars).unwrap()
}

/// An S3 notification record: `key` uploaded at `at_ms`.
fn record(key: &str, at_ms: i64, event_name: &str) -> Value {
    json!({
        "eventSource": "aws:s3",
        "eventName": event_name,
        "eventTime": iso(at_ms),
        "s3": {
            "bucket": {"name": "site"},
            "object": {"key": key, "sequencer": format!("{at_ms:016X}")}
        }
    })
}

fn direct(records: &[Value]) -> Value {
    json!({ "Records": records })
}

/// An SQS batch: each body one of `bodies`, message IDs `m-<n>`.
fn sqs(bodies: &[Value]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({
                "messageId": format!("m-{i}"),
                "receiptHandle": format!("r-{i}"),
                "body": body.to_string(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "eventSource": "aws:sqs"
            })
        })
        .collect();
    json!({ "Records": records })
}

/// CloudFront, as far as these tests need it: per distribution, its
/// invalidations (ID, caller reference, paths, creation time on the virtual
/// clock), in progress for `hold`.
#[derive(Default)]
struct Fake {
    invalidations: Vec<(String, String, Vec<String>, i64)>,
    distributions: Vec<String>,
    hold: Duration,
    /// The request being answered (mocks see it, then answer).
    asked: Option<(String, String, Vec<String>)>,
    asked_id: Option<String>,
    asked_distribution: Option<String>,
}

impl Fake {
    /// The invalidations of `distribution`, oldest first.
    fn of(&self, distribution: &str) -> Vec<(String, String, Vec<String>, i64)> {
        let at = |i: usize| self.distributions[i] == distribution;
        (0..self.invalidations.len())
            .filter(|&i| at(i))
            .map(|i| self.invalidations[i].clone())
            .collect()
    }

    fn add(&mut self, distribution: &str, invalidation: (String, String, Vec<String>, i64)) {
        self.distributions.push(distribution.to_owned());
        self.invalidations.push(invalidation);
    }

    /// Another client's invalidation at `distribution`, created at
    /// `created_ms`: `wildcards` wildcard paths of its own.
    fn another_client(&mut self, distribution: &str, wildcards: usize, created_ms: i64) {
        let paths = (0..wildcards).map(|i| format!("/other/{i}/*")).collect();
        self.add(distribution, ("OTHER".into(), "other".into(), paths, created_ms));
    }
}

type Shared = Arc<Mutex<Fake>>;

fn invalidation(id: &str, reference: &str, paths: &[String], created_ms: i64, running: bool) -> Invalidation {
    Invalidation::builder()
        .id(id)
        .status(if running { "InProgress" } else { "Completed" })
        .create_time(DateTime::from_millis(created_ms))
        .invalidation_batch(
            InvalidationBatch::builder()
                .caller_reference(reference)
                .paths(
                    Paths::builder()
                        .quantity(paths.len() as i32)
                        .set_items(Some(paths.to_vec()))
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// One page of ListInvalidations' answer, and the marker of the next if any.
fn page(items: Vec<InvalidationSummary>, next: Option<&str>) -> InvalidationList {
    InvalidationList::builder()
        .marker("")
        .set_next_marker(next.map(Into::into))
        .max_items(100)
        .is_truncated(next.is_some())
        .quantity(items.len() as i32)
        .set_items(Some(items))
        .build()
        .unwrap()
}

/// The rules of a CloudFront that creates, lists (newest first) and gets
/// invalidations from `fake`, on the clock that started at `start`.
fn cloudfront(fake: &Shared, start: Instant) -> Vec<Rule> {
    let running = move |created: i64, hold: Duration| wall(start) < created + hold.as_millis() as i64;
    let (asking, answering) = (fake.clone(), fake.clone());
    let create = mock!(Client::create_invalidation)
        .match_requests(move |r| {
            let batch = r.invalidation_batch().unwrap();
            let paths = batch.paths().unwrap().items().to_vec();
            let distribution = r.distribution_id().unwrap().to_owned();
            asking.lock().unwrap().asked = Some((distribution, batch.caller_reference().to_owned(), paths));
            true
        })
        .sequence()
        .output(move || {
            let mut f = answering.lock().unwrap();
            let (distribution, reference, paths) = f.asked.take().unwrap();
            // The same reference and paths: the invalidation created then.
            let known = f.of(&distribution).into_iter().find(|i| i.1 == reference);
            let (id, reference, paths, created) = known.unwrap_or_else(|| {
                let new = (
                    format!("I{}", f.invalidations.len() + 1),
                    reference,
                    paths,
                    wall(start),
                );
                f.add(&distribution, new.clone());
                new
            });
            let running = running(created, f.hold);
            CreateInvalidationOutput::builder()
                .invalidation(invalidation(&id, &reference, &paths, created, running))
                .build()
        })
        .repeatedly()
        .build();
    let (asking, listing) = (fake.clone(), fake.clone());
    let list = mock!(Client::list_invalidations)
        .match_requests(move |r| {
            asking.lock().unwrap().asked_distribution = r.distribution_id().map(str::to_owned);
            true
        })
        .sequence()
        .output(move || {
            let mut f = listing.lock().unwrap();
            let distribution = f.asked_distribution.take().unwrap();
            let items: Vec<InvalidationSummary> = f
                .of(&distribution)
                .iter()
                .rev()
                .map(|(id, _, _, created)| {
                    InvalidationSummary::builder()
                        .id(id)
                        .create_time(DateTime::from_millis(*created))
                        .status(if running(*created, f.hold) {
                            "InProgress"
                        } else {
                            "Completed"
                        })
                        .build()
                        .unwrap()
                })
                .collect();
            ListInvalidationsOutput::builder()
                .invalidation_list(page(items, None))
                .build()
        })
        .repeatedly()
        .build();
    let (asking, answering) = (fake.clone(), fake.clone());
    let get = mock!(Client::get_invalidation)
        .match_requests(move |r| {
            asking.lock().unwrap().asked_id = r.id().map(str::to_owned);
            true
        })
        .sequence()
        .output(move || {
            let mut f = answering.lock().unwrap();
            let id = f.asked_id.take().unwrap();
            let (id, reference, paths, created) =
                f.invalidations.iter().find(|i| i.0 == id).cloned().unwrap();
            let running = running(created, f.hold);
            GetInvalidationOutput::builder()
                .invalidation(invalidation(&id, &reference, &paths, created, running))
                .build()
        })
        .repeatedly()
        .build();
    vec![create, list, get]
}

/// With `rules` first, then every distribution's configuration: one S3
/// origin on the bucket `site`, from its top, keyed on no query string
/// (CachingOptimized, a managed policy: GetCachePolicy finds nothing here, and
/// the function takes it as AWS documents it).
fn client(rules: &[Rule]) -> Client {
    let (serving, no_policy) = (configuration(), no_such_policy());
    let mut rules: Vec<&Rule> = rules.iter().collect();
    rules.extend([&serving, &no_policy]);
    mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, rules.as_slice(), |c| c
        .retry_config(cloudfront_invalidator::cloudfront::retry_config()))
}

fn configuration() -> Rule {
    use aws_sdk_cloudfront::types::{
        DefaultCacheBehavior, DistributionConfig, Origin, Origins, ViewerProtocolPolicy,
    };
    let origin = Origin::builder()
        .id("s3")
        .domain_name("site.s3.us-east-1.amazonaws.com")
        .build()
        .unwrap();
    let config = DistributionConfig::builder()
        .caller_reference("site")
        .comment("")
        .enabled(true)
        .origins(Origins::builder().quantity(1).items(origin).build().unwrap())
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("s3")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    mock!(Client::get_distribution_config)
        .sequence()
        .output(move || {
            aws_sdk_cloudfront::operation::get_distribution_config::GetDistributionConfigOutput::builder()
                .distribution_config(config.clone())
                .build()
        })
        .repeatedly()
        .build()
}

fn no_such_policy() -> Rule {
    mock!(Client::get_cache_policy)
        .sequence()
        .http_status(
            404,
            Some(
                "<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchCachePolicy</Code>\
                 <Message>no such policy</Message></Error><RequestId>r</RequestId></ErrorResponse>"
                    .into(),
            ),
        )
        .repeatedly()
        .build()
}

/// A new execution environment on the virtual clock.
fn environment(client: &Client, config: &Config, start: Instant) -> Invalidator {
    Invalidator::new(client.clone(), config.clone()).with_clock(Clock::from_fn(move || wall(start)))
}

async fn invoke(invalidator: &Invalidator, event: &Value) -> Result<Response, String> {
    invalidator
        .handle(event, Deadline::after(Duration::from_secs(180)))
        .await
        .map_err(|e| e.to_string())
}

fn requests(fake: &Shared) -> Vec<Vec<String>> {
    fake.lock()
        .unwrap()
        .invalidations
        .iter()
        .map(|i| i.2.clone())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_change_is_invalidated_once_it_is_the_margin_old() {
    let start = Instant::now();
    let fake = Shared::default();
    let client = client(&cloudfront(&fake, start));
    let invalidator = environment(&client, &config(&[("DISTRIBUTION_IDS", "E1")]), start);
    let changed = wall(start);
    invoke(
        &invalidator,
        &direct(&[record("css/app.css", changed, "ObjectCreated:Put")]),
    )
    .await
    .unwrap();
    let created = fake.lock().unwrap().invalidations[0].3;
    assert!(
        created >= changed + 61_000,
        "created {} ms after the change",
        created - changed
    );
    assert!(
        start.elapsed() < Duration::from_secs(62),
        "and no later than needed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_change_redelivered_in_other_company_is_covered_by_its_first_request() {
    // One rule on first delivery and on retry (item 10): the first request
    // was created once the changes were the margin old, so it covers them
    // whenever and with whatever they come back. Only the new change gets a
    // request, in this environment and in a new one.
    let start = Instant::now();
    let fake = Shared::default();
    let client = client(&cloudfront(&fake, start));
    let config = config(&[("DISTRIBUTION_IDS", "E1")]);
    let first = environment(&client, &config, start);
    let t = wall(start);
    let (a, b) = (
        record("a.css", t - 30_000, "ObjectCreated:Put"),
        record("b.css", t, "ObjectCreated:Put"),
    );
    invoke(
        &first,
        &sqs(&[json!({"Records": [a.clone()]}), json!({"Records": [b.clone()]})]),
    )
    .await
    .unwrap();
    // b comes back, beside a change made since.
    let c = record("c.css", wall(start), "ObjectCreated:Put");
    let again = sqs(&[json!({"Records": [c]}), json!({"Records": [b]})]);
    invoke(&first, &again).await.unwrap();
    invoke(&environment(&client, &config, start), &again)
        .await
        .unwrap();
    assert_eq!(
        requests(&fake),
        [vec!["/a.css".to_string(), "/b.css".into()], vec!["/c.css".into()]]
    );
}

#[tokio::test(start_paused = true)]
async fn a_retried_event_whose_wildcard_was_accepted_needs_no_room() {
    // Item 3: a direct event's change with `~` becomes a wildcard; E1
    // accepts it, E2 refuses (a permission, fixed since), and the event
    // fails. Lambda retries it a minute later, when E1's wildcards are all
    // in use: E1's own invalidation covers the change, so E1 needs no room,
    // and only E2 gets a request.
    let start = Instant::now();
    let fake = Shared::default();
    fake.lock().unwrap().hold = Duration::from_secs(900);
    let mut rules = cloudfront(&fake, start);
    let refused = mock!(Client::create_invalidation)
        .match_requests(|r| r.distribution_id() == Some("E2"))
        .sequence()
        .http_status(403, Some(error_xml("AccessDenied", "not allowed")))
        .times(1)
        .build();
    rules.insert(0, refused);
    let client = client(&rules);
    let invalidator = environment(&client, &config(&[("DISTRIBUTION_IDS", "E1,E2")]), start);
    let event = direct(&[record("~alice/profile.html", wall(start), "ObjectCreated:Put")]);
    assert!(invoke(&invalidator, &event).await.is_err());
    // Another client's 14 wildcards at E1, which leaves none to take.
    fake.lock().unwrap().another_client("E1", 14, wall(start));
    tokio::time::sleep(Duration::from_secs(60)).await;
    let summary = invoke(&invalidator, &event).await.unwrap();
    let Response::Summary(summary) = summary else {
        panic!()
    };
    assert_eq!(
        summary.distributions[0].covered,
        1,
        "{summary:?} {:?}",
        requests(&fake)
    );
    assert_eq!(summary.invalidations.len(), 1);
    assert_eq!(summary.invalidations[0].distribution.as_str(), "E2");
}

/// A CloudFront error document, as the REST-XML protocol returns it.
fn error_xml(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">\
         <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>r-1</RequestId></ErrorResponse>"
    )
}

/// SQS and SNS clients answered by these rules (a watch queue, a notice topic).
fn queues(sqs_rules: &[Rule], sns_rules: &[Rule]) -> Queues {
    let sqs_rules: Vec<&Rule> = sqs_rules.iter().collect();
    let sns_rules: Vec<&Rule> = sns_rules.iter().collect();
    Queues {
        sqs: mock_client!(aws_sdk_sqs, RuleMode::MatchAny, sqs_rules.as_slice()),
        sns: mock_client!(aws_sdk_sns, RuleMode::MatchAny, sns_rules.as_slice()),
    }
}

fn sent() -> Rule {
    mock!(aws_sdk_sqs::Client::send_message).then_output(|| {
        aws_sdk_sqs::operation::send_message::SendMessageOutput::builder()
            .message_id("w")
            .build()
    })
}

fn visibility_changed() -> Rule {
    mock!(aws_sdk_sqs::Client::change_message_visibility_batch).then_output(|| {
        aws_sdk_sqs::operation::change_message_visibility_batch::ChangeMessageVisibilityBatchOutput::builder()
            .set_successful(Some(vec![]))
            .set_failed(Some(vec![]))
            .build()
            .unwrap()
    })
}

const WATCHES: &str = "https://sqs.us-east-1.amazonaws.com/1/watches";
const TOPIC: &str = "arn:aws:sns:us-east-1:1:fresh";

/// A watch message of invalidation `id` at E1.
fn watch(id: &str, start: Instant) -> Value {
    json!({"watch": {"distribution": "E1", "invalidation_id": id, "created_ms": wall(start), "paths": 1}})
}

#[tokio::test(start_paused = true)]
async fn a_notice_sns_refused_brings_its_watch_back() {
    // Item 5: the invalidation is complete, but the notice is refused; the
    // watch comes back in a minute, so a pipeline waiting for it hears it.
    let start = Instant::now();
    let fake = Shared::default();
    fake.lock().unwrap().add(
        "E1",
        ("I1".into(), "r".into(), vec!["/a.css".into()], wall(start)),
    );
    let refused = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(500, Some("<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code><Message>down</Message></Error></ErrorResponse>".into()))
        .repeatedly()
        .build();
    let later = visibility_changed();
    let config = config(&[
        ("DISTRIBUTION_IDS", "E1"),
        ("WATCH_QUEUE_URL", WATCHES),
        ("FRESH_TOPIC_ARN", TOPIC),
    ]);
    let invalidator = environment(&client(&cloudfront(&fake, start)), &config, start).with_queues(queues(
        std::slice::from_ref(&later),
        std::slice::from_ref(&refused),
    ));
    let Response::Batch(batch) = invoke(&invalidator, &sqs(&[watch("I1", start)])).await.unwrap() else {
        panic!("a batch response")
    };
    let failed: Vec<&str> = batch
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m-0"]);
    assert!(refused.num_calls() >= 1);
    assert_eq!(later.num_calls(), 1, "back in a minute");
}

#[tokio::test(start_paused = true)]
async fn watches_alone_list_no_distributions() {
    // Item 6: with DISTRIBUTION_IDS=auto, a batch of watches needs no
    // listing (and cannot fail for one).
    let start = Instant::now();
    let fake = Shared::default();
    fake.lock().unwrap().add(
        "E1",
        ("I1".into(), "r".into(), vec!["/a.css".into()], wall(start)),
    );
    let mut rules = cloudfront(&fake, start);
    let listing = mock!(Client::list_distributions)
        .sequence()
        .http_status(500, Some(error_xml("InternalError", "down")))
        .repeatedly()
        .build();
    rules.push(listing.clone());
    let config = config(&[("DISTRIBUTION_IDS", "auto"), ("WATCH_QUEUE_URL", WATCHES)]);
    let invalidator =
        environment(&client(&rules), &config, start).with_queues(queues(&[visibility_changed()], &[]));
    let answer = invoke(&invalidator, &sqs(&[watch("I1", start)])).await.unwrap();
    let Response::Batch(batch) = answer else { panic!() };
    assert!(batch.batch_item_failures.is_empty(), "{batch:?}");
    assert_eq!(listing.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_bucket_no_distribution_serves_is_not_listed_again_at_every_change() {
    // Item 7: changes to a bucket that no distribution serves, one event
    // each (bucket-to-function), a second apart: one listing serves them
    // all, since each is planned only once it is the margin old, and the
    // listing is younger.
    let start = Instant::now();
    let listing = mock!(Client::list_distributions).then_output(|| {
        aws_sdk_cloudfront::operation::list_distributions::ListDistributionsOutput::builder()
            .distribution_list(
                aws_sdk_cloudfront::types::DistributionList::builder()
                    .marker("")
                    .max_items(100)
                    .is_truncated(false)
                    .quantity(0)
                    .set_items(Some(vec![]))
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let mut rules = cloudfront(&Shared::default(), start);
    rules.push(listing.clone());
    let invalidator = environment(&client(&rules), &config(&[("DISTRIBUTION_IDS", "auto")]), start);
    let first = wall(start);
    for i in 0..5 {
        let event = direct(&[record(
            &format!("f{i}.css"),
            first + i * 1000,
            "ObjectCreated:Put",
        )]);
        let Response::Summary(summary) = invoke(&invalidator, &event).await.unwrap() else {
            panic!()
        };
        assert_eq!(summary.ignored.len(), 1, "{summary:?}");
    }
    assert_eq!(listing.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_invalidation_cloudfront_already_had_starts_no_second_watch() {
    // Item 8: CloudFront answers a repeated caller reference with the
    // invalidation it created then (its CreateTime shows it): that one is
    // followed already.
    let start = Instant::now();
    let fake = Shared::default();
    let mut rules = cloudfront(&fake, start);
    let repeated = mock!(Client::create_invalidation).then_output(move || {
        let paths = vec!["/a.css".to_string()];
        CreateInvalidationOutput::builder()
            .invalidation(invalidation("I9", "r", &paths, wall(start) - 600_000, true))
            .build()
    });
    rules.insert(0, repeated);
    let watched = sent();
    let config = config(&[("DISTRIBUTION_IDS", "E1"), ("WATCH_QUEUE_URL", WATCHES)]);
    let invalidator =
        environment(&client(&rules), &config, start).with_queues(queues(std::slice::from_ref(&watched), &[]));
    let event = direct(&[record("a.css", wall(start) - 3_600_000, "ObjectCreated:Put")]);
    let Response::Summary(summary) = invoke(&invalidator, &event).await.unwrap() else {
        panic!()
    };
    assert_eq!(summary.invalidations[0].invalidation_id.as_deref(), Some("I9"));
    assert_eq!(watched.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_new_invalidation_is_watched_once() {
    let start = Instant::now();
    let watched = sent();
    let config = config(&[("DISTRIBUTION_IDS", "E1"), ("WATCH_QUEUE_URL", WATCHES)]);
    let invalidator = environment(&client(&cloudfront(&Shared::default(), start)), &config, start)
        .with_queues(queues(std::slice::from_ref(&watched), &[]));
    let event = direct(&[record("a.css", wall(start) - 3_600_000, "ObjectCreated:Put")]);
    invoke(&invalidator, &event).await.unwrap();
    assert_eq!(watched.num_calls(), 1);
}

/// An SQS client whose every answer takes `delay` (a slow SQS).
fn slow_sqs(delay: Duration) -> aws_sdk_sqs::Client {
    use aws_smithy_runtime_api::client::http::{
        HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    #[derive(Debug)]
    struct Slow(Duration);
    impl HttpConnector for Slow {
        fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
            let delay = self.0;
            HttpConnectorFuture::new(async move {
                tokio::time::sleep(delay).await;
                let body =
                    aws_smithy_types::body::SdkBody::from(r#"{"MessageId":"w","Successful":[],"Failed":[]}"#);
                Ok(aws_smithy_runtime_api::http::Response::new(
                    200.try_into().unwrap(),
                    body,
                ))
            })
        }
    }
    let http = http_client_fn(move |_, _| SharedHttpConnector::new(Slow(delay)));
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .with_test_defaults_v2()
            .http_client(http)
            .build(),
    )
}

#[tokio::test(start_paused = true)]
async fn calls_after_the_request_share_the_invocations_deadline() {
    // Item 4: SQS answers in 30 s; the watch of the new invalidation and the
    // delays of the messages left for later must not hold the invocation
    // past its deadline (Lambda would retry the whole batch, and send again
    // in other company what CloudFront accepted).
    let start = Instant::now();
    let fake = Shared::default();
    // No room at E2 (another client's 15 wildcards): its messages come back sooner.
    fake.lock().unwrap().hold = Duration::from_secs(900);
    fake.lock().unwrap().another_client("E2", 15, wall(start));
    let config = config(&[
        ("DISTRIBUTION_IDS", "E1,E2"),
        ("MAX_PATHS", "1"),
        ("WATCH_QUEUE_URL", WATCHES),
        ("QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/changes"),
    ]);
    let invalidator = environment(&client(&cloudfront(&fake, start)), &config, start).with_queues(Queues {
        sqs: slow_sqs(Duration::from_secs(30)),
        sns: mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[]),
    });
    let old = wall(start) - 3_600_000;
    let bodies: Vec<Value> = (0..25)
        .map(|i| json!({"Records": [record(&format!("d{i}/f.css"), old, "ObjectCreated:Put")]}))
        .collect();
    let answer = invalidator
        .handle(&sqs(&bodies), Deadline::after(Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(
        start.elapsed() <= Duration::from_secs(18),
        "answered after {:?}",
        start.elapsed()
    );
    let Response::Batch(batch) = answer else { panic!() };
    assert_eq!(
        batch.batch_item_failures.len(),
        24,
        "E2 had room for one exact path"
    );
    // OTHER, E1's request, and E2's request of one exact path.
    assert_eq!(requests(&fake).len(), 3);
}

/// ListInvalidations in two pages: the newest 100 complete, then one in
/// progress holding 15 wildcards (invalidations complete in any order).
fn two_pages(start: Instant) -> Vec<Rule> {
    let summary = move |id: String, status: &str, ago_ms: i64| {
        InvalidationSummary::builder()
            .id(id)
            .create_time(DateTime::from_millis(wall(start) - ago_ms))
            .status(status)
            .build()
            .unwrap()
    };
    let first = mock!(Client::list_invalidations)
        .match_requests(|r| r.marker().is_none())
        .then_output(move || {
            let items = (0..100)
                .map(|i| summary(format!("DONE{i}"), "Completed", 100_000))
                .collect();
            ListInvalidationsOutput::builder()
                .invalidation_list(page(items, Some("DONE99")))
                .build()
        });
    let second = mock!(Client::list_invalidations)
        .match_requests(|r| r.marker() == Some("DONE99"))
        .then_output(move || {
            let items = vec![summary("SLOW".into(), "InProgress", 120_000)];
            ListInvalidationsOutput::builder()
                .invalidation_list(page(items, None))
                .build()
        });
    let get = mock!(Client::get_invalidation)
        .match_requests(|r| r.id() == Some("SLOW"))
        .then_output(move || {
            let paths: Vec<String> = (0..15).map(|i| format!("/slow/{i}/*")).collect();
            GetInvalidationOutput::builder()
                .invalidation(invalidation("SLOW", "s", &paths, wall(start) - 120_000, true))
                .build()
        });
    vec![first, second, get]
}

#[tokio::test(start_paused = true)]
async fn the_reading_goes_past_a_page_with_nothing_in_progress() {
    // Item 2: an older invalidation may still be in progress after newer
    // ones completed. Read to the end of the last hour, it holds every
    // wildcard: the request holds exact paths only (or waits).
    let start = Instant::now();
    let fake = Shared::default();
    let mut rules = two_pages(start);
    rules.extend(cloudfront(&fake, start));
    let invalidator = environment(
        &client(&rules),
        &config(&[("DISTRIBUTION_IDS", "E1"), ("MAX_PATHS", "2")]),
        start,
    );
    // Changed after the complete ones were created (they cover nothing).
    let old = wall(start) - 90_000;
    let event = direct(&[
        record("a/1.css", old, "ObjectCreated:Put"),
        record("a/2.css", old, "ObjectCreated:Put"),
        record("a/3.css", old, "ObjectCreated:Put"),
    ]);
    let answer = invoke(&invalidator, &event).await;
    assert!(answer.unwrap_err().contains("no room at distribution E1"));
    assert!(requests(&fake).is_empty(), "no wildcard was asked for");
}

#[tokio::test(start_paused = true)]
async fn invalidations_in_progress_beyond_the_lookups_fail_the_reading() {
    // Item 2: more unknown invalidations in progress than an invocation
    // looks up: an unread one may hold anything, so nothing is requested,
    // and the next invocation reads on.
    let start = Instant::now();
    let fake = Shared::default();
    fake.lock().unwrap().hold = Duration::from_secs(900);
    for i in 0..25 {
        fake.lock().unwrap().add(
            "E1",
            (
                format!("OTHER{i}"),
                format!("o{i}"),
                vec![format!("/o/{i}")],
                wall(start),
            ),
        );
    }
    let invalidator = environment(
        &client(&cloudfront(&fake, start)),
        &config(&[("DISTRIBUTION_IDS", "E1")]),
        start,
    );
    let event = direct(&[record("a.css", wall(start) - 3_600_000, "ObjectCreated:Put")]);
    let e = invoke(&invalidator, &event).await.unwrap_err();
    assert!(
        e.contains("more than 20 invalidations in progress are new"),
        "{e}"
    );
    assert_eq!(requests(&fake).len(), 25);
    // The next invocation knows 20 of them and reads the other 5.
    invoke(&invalidator, &event).await.unwrap();
    assert_eq!(requests(&fake).len(), 26);
}

/// Records (queue URL, receipt handles, seconds) of every
/// ChangeMessageVisibilityBatch the rule answers.
type Delays = Arc<Mutex<Vec<(String, Vec<String>, Vec<i32>)>>>;

fn recording_delays(delays: &Delays) -> Rule {
    let delays = delays.clone();
    mock!(aws_sdk_sqs::Client::change_message_visibility_batch)
        .match_requests(move |r| {
            let entries = r.entries();
            assert!(entries.len() <= 10, "ChangeMessageVisibilityBatch takes 10 entries at most");
            delays.lock().unwrap().push((
                r.queue_url().unwrap_or_default().to_owned(),
                entries.iter().map(|e| e.receipt_handle().to_owned()).collect(),
                entries.iter().map(|e| e.visibility_timeout().unwrap_or(-1)).collect(),
            ));
            true
        })
        .sequence()
        .output(|| {
            aws_sdk_sqs::operation::change_message_visibility_batch::ChangeMessageVisibilityBatchOutput::builder()
                .set_successful(Some(vec![]))
                .set_failed(Some(vec![]))
                .build()
                .unwrap()
        })
        .repeatedly()
        .build()
}

#[tokio::test(start_paused = true)]
async fn messages_waiting_for_room_and_watches_come_back_after_their_own_delays() {
    // 25 changes find no room at E1 (another client's 15 wildcards and
    // MAX_PATHS 1 leave room for one exact path): 24 come back from the
    // changes queue after the retry delay of their receive count, ten
    // handles a call; a watch still in progress comes back from the watch
    // queue after a minute.
    let start = Instant::now();
    let fake = Shared::default();
    fake.lock().unwrap().hold = Duration::from_secs(900);
    fake.lock().unwrap().another_client("E1", 15, wall(start));
    let delays = Delays::default();
    const CHANGES: &str = "https://sqs.us-east-1.amazonaws.com/1/changes";
    let config = config(&[
        ("DISTRIBUTION_IDS", "E1"),
        ("MAX_PATHS", "1"),
        ("WATCH_QUEUE_URL", WATCHES),
        ("QUEUE_URL", CHANGES),
    ]);
    let invalidator = environment(&client(&cloudfront(&fake, start)), &config, start)
        .with_queues(queues(&[recording_delays(&delays), sent()], &[]));
    let old = wall(start) - 3_600_000;
    let mut bodies: Vec<Value> = (0..25)
        .map(|i| json!({"Records": [record(&format!("d{i}/f.css"), old, "ObjectCreated:Put")]}))
        .collect();
    bodies.push(watch("OTHER", start));
    let mut event = sqs(&bodies);
    // The third time these changes come.
    for record in event["Records"].as_array_mut().unwrap() {
        record["attributes"]["ApproximateReceiveCount"] = json!("3");
    }
    let Response::Batch(batch) = invoke(&invalidator, &event).await.unwrap() else {
        panic!()
    };
    assert_eq!(batch.batch_item_failures.len(), 25, "24 changes and the watch");
    let delays = delays.lock().unwrap();
    let changes: Vec<&(String, Vec<String>, Vec<i32>)> = delays.iter().filter(|d| d.0 == CHANGES).collect();
    assert_eq!(changes.iter().map(|d| d.1.len()).collect::<Vec<_>>(), [10, 10, 4]);
    assert!(
        changes.iter().flat_map(|d| &d.2).all(|&s| s == 480),
        "8 minutes at the third receive"
    );
    let watches: Vec<&(String, Vec<String>, Vec<i32>)> = delays.iter().filter(|d| d.0 == WATCHES).collect();
    assert_eq!(watches.len(), 1);
    assert_eq!(
        (watches[0].1.as_slice(), watches[0].2.as_slice()),
        (&["r-25".to_string()][..], &[60][..])
    );
}
