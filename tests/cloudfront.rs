//! The CloudFront boundary with aws-smithy-mocks: what the function sends, how
//! it retries, and how each error class reaches the user.

use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::operation::create_invalidation::{CreateInvalidationError, CreateInvalidationOutput};
use aws_sdk_cloudfront::operation::get_cache_policy::GetCachePolicyOutput;
use aws_sdk_cloudfront::operation::get_distribution_config::GetDistributionConfigOutput;
use aws_sdk_cloudfront::operation::get_invalidation::GetInvalidationOutput;
use aws_sdk_cloudfront::operation::list_invalidations::ListInvalidationsOutput;
use aws_sdk_cloudfront::primitives::DateTime;
use aws_sdk_cloudfront::types::error::{AccessDenied, NoSuchDistribution};
use aws_sdk_cloudfront::types::{
    CachePolicy, CachePolicyConfig, CachePolicyCookieBehavior, CachePolicyCookiesConfig,
    CachePolicyHeaderBehavior, CachePolicyHeadersConfig, CachePolicyQueryStringBehavior,
    CachePolicyQueryStringsConfig, DefaultCacheBehavior, DistributionConfig, Invalidation, InvalidationBatch,
    InvalidationList, InvalidationSummary, Origin, Origins, ParametersInCacheKeyAndForwardedToOrigin,
    ViewerProtocolPolicy,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use cloudfront_invalidator::cover::MARGIN_MS;
use cloudfront_invalidator::{
    Clock, Config, Deadline, HandlerError, Invalidator, Response, Summary, cloudfront,
};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// As many paths as CloudFront holds: these tests count exact paths.
fn config(ids: &str, dry_run: bool) -> Config {
    Config::from_pairs(&[
        ("DISTRIBUTION_IDS", ids),
        ("DRY_RUN", &dry_run.to_string()),
        ("MAX_PATHS", "0"),
    ])
    .unwrap()
}

fn config_max(ids: &str, max_paths: usize) -> Config {
    Config::from_pairs(&[("DISTRIBUTION_IDS", ids), ("MAX_PATHS", &max_paths.to_string())]).unwrap()
}

/// The production retry policy with the waits shrunk so tests run fast.
/// Before planning, the function reads what each distribution holds in
/// progress: unless a test gives its own rules for that, nothing.
fn client(rules: &[&Rule]) -> Client {
    let idle = nothing_in_progress();
    let mut all = rules.to_vec();
    all.push(&idle);
    client_with(&all)
}

/// With `rules` first, then a GetDistributionConfig refused (as for a role
/// without cloudfront:GetDistributionConfig), so that the function plans as
/// configured, as these tests of the submit path expect; the tests of the
/// configuration give their own answers. GetCachePolicy finds nothing.
fn client_with(rules: &[&Rule]) -> Client {
    let (refused, no_policy) = (configuration_refused(), no_such_policy());
    let mut all = rules.to_vec();
    all.extend([&refused, &no_policy]);
    mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, &all, |c| c.retry_config(
        cloudfront::retry_config()
            .with_initial_backoff(Duration::from_millis(1))
            .with_max_backoff(Duration::from_millis(2))
    ))
}

/// ListInvalidations' whole answer in one page: these invalidations, no more.
fn one_page(items: Vec<InvalidationSummary>) -> InvalidationList {
    InvalidationList::builder()
        .marker("")
        .max_items(100)
        .is_truncated(false)
        .quantity(items.len() as i32)
        .set_items(Some(items))
        .build()
        .unwrap()
}

fn nothing_in_progress() -> Rule {
    in_progress(&[])
}

/// ListInvalidations answering these invalidations (ID, status).
fn in_progress(items: &[(&str, &str)]) -> Rule {
    let items: Vec<InvalidationSummary> = items
        .iter()
        .map(|(id, status)| {
            InvalidationSummary::builder()
                .id(*id)
                .status(*status)
                .create_time(DateTime::from(std::time::SystemTime::now()))
                .build()
                .unwrap()
        })
        .collect();
    let list = one_page(items);
    mock!(Client::list_invalidations)
        .sequence()
        .output(move || {
            ListInvalidationsOutput::builder()
                .invalidation_list(list.clone())
                .build()
        })
        .repeatedly()
        .build()
}

/// GetInvalidation answering an invalidation of `paths` (any ID).
fn invalidation_of(paths: Vec<String>) -> Rule {
    mock!(Client::get_invalidation)
        .sequence()
        .output(move || {
            let batch = InvalidationBatch::builder()
                .caller_reference("other")
                .paths(
                    aws_sdk_cloudfront::types::Paths::builder()
                        .quantity(paths.len() as i32)
                        .set_items(Some(paths.clone()))
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap();
            let invalidation = Invalidation::builder()
                .id("OTHER")
                .status("InProgress")
                .create_time(DateTime::from(std::time::SystemTime::now()))
                .invalidation_batch(batch)
                .build()
                .unwrap();
            GetInvalidationOutput::builder()
                .invalidation(invalidation)
                .build()
        })
        .repeatedly()
        .build()
}

/// Runs the handler with plenty of time, expecting a direct (non-SQS) event.
async fn handle(client: &Client, config: &Config, event: &Value) -> Result<Summary, HandlerError> {
    let deadline = Deadline::after(Duration::from_secs(300));
    match Invalidator::new(client.clone(), config.clone())
        .handle(event, deadline)
        .await?
    {
        Response::Summary(summary) => Ok(summary),
        other => panic!("expected a summary, got {other:?}"),
    }
}

fn event(file: &str) -> Value {
    let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// An S3 event with `n` uploaded objects, built from the sample put event.
fn event_with_keys(n: usize) -> Value {
    let template = event("events/s3-put.json")["Records"][0].clone();
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let mut r = template.clone();
            r["s3"]["object"]["key"] = json!(format!("static/file-{i:05}.css"));
            r["s3"]["object"]["sequencer"] = json!(format!("{i:016X}"));
            r
        })
        .collect();
    json!({ "Records": records })
}

/// CloudFront's answer to a new invalidation, created now (CloudFront's
/// time: these tests run on the system clock).
fn created(id: &str) -> CreateInvalidationOutput {
    let invalidation = Invalidation::builder()
        .id(id)
        .status("InProgress")
        .create_time(DateTime::from(std::time::SystemTime::now()))
        .invalidation_batch(
            InvalidationBatch::builder()
                .caller_reference("x")
                .paths(
                    aws_sdk_cloudfront::types::Paths::builder()
                        .quantity(0)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    CreateInvalidationOutput::builder()
        .invalidation(invalidation)
        .build()
}

/// A CloudFront error document, as the REST-XML protocol returns it.
fn error_xml(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">\
         <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>r-1</RequestId></ErrorResponse>"
    )
}

/// Records (distribution, caller reference, paths) of every request the rule answers.
type Seen = Arc<Mutex<Vec<(String, String, Vec<String>)>>>;

fn recording(seen: &Seen, id: &'static str) -> Rule {
    let seen = seen.clone();
    mock!(Client::create_invalidation)
        .match_requests(move |req| {
            let batch = req.invalidation_batch().unwrap();
            let paths = batch.paths().unwrap();
            assert_eq!(
                paths.quantity() as usize,
                paths.items().len(),
                "Quantity must equal the items"
            );
            seen.lock().unwrap().push((
                req.distribution_id().unwrap().to_owned(),
                batch.caller_reference().to_owned(),
                paths.items().to_vec(),
            ));
            true
        })
        .sequence()
        .output(move || created(id))
        .repeatedly()
        .build()
}

#[tokio::test]
async fn success_sends_the_encoded_paths_and_reports_the_invalidation() {
    let seen = Seen::default();
    let rule = recording(&seen, "I2J0I21PCUYOIK");
    let summary = handle(
        &client(&[&rule]),
        &config("E1ABC", false),
        &event("events/s3-special-keys.json"),
    )
    .await
    .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "E1ABC");
    assert!(seen[0].1.starts_with("s3inv-"));
    assert!(
        seen[0]
            .2
            .contains(&"/docs/annual%20report%202026.pdf".to_string())
    );
    assert_eq!(
        seen[0].2.len(),
        12,
        "10 keys, and the index document's directory forms"
    );
    let report = &summary.invalidations[0];
    assert_eq!(report.invalidation_id.as_deref(), Some("I2J0I21PCUYOIK"));
    assert_eq!(report.caller_reference, seen[0].1);
    assert_eq!(report.paths.len(), 12);
}

#[tokio::test]
async fn every_distribution_gets_one_request() {
    let seen = Seen::default();
    let rule = recording(&seen, "I1");
    handle(
        &client(&[&rule]),
        &config("E1ABC,E2DEF", false),
        &event("events/s3-multi-record.json"),
    )
    .await
    .unwrap();
    let seen = seen.lock().unwrap();
    let ids: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(ids, ["E1ABC", "E2DEF"]);
    for (_, _, paths) in seen.iter() {
        assert_eq!(paths, &["/js/app.js", "/video/intro.mp4"]);
    }
}

#[tokio::test]
async fn a_big_event_makes_one_request_within_what_cloudfront_holds() {
    let seen = Seen::default();
    let rule = recording(&seen, "I1");
    let summary = handle(&client(&[&rule]), &config("E1ABC", false), &event_with_keys(7500))
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].2, ["/static/*"]);
    assert_eq!(summary.distributions[0].paths_requested, 7500);
}

#[tokio::test]
async fn a_503_is_retried_by_the_sdk() {
    let rule = mock!(Client::create_invalidation)
        .sequence()
        .http_status(503, None)
        .times(2)
        .output(|| created("I1"))
        .build();
    let summary = handle(
        &client(&[&rule]),
        &config("E1ABC", false),
        &event("events/s3-put.json"),
    )
    .await
    .unwrap();
    assert_eq!(rule.num_calls(), 3);
    assert_eq!(summary.invalidations[0].invalidation_id.as_deref(), Some("I1"));
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk() {
    let rule = mock!(Client::create_invalidation)
        .sequence()
        .http_status(400, Some(error_xml("Throttling", "Rate exceeded")))
        .output(|| created("I1"))
        .build();
    handle(
        &client(&[&rule]),
        &config("E1ABC", false),
        &event("events/s3-put.json"),
    )
    .await
    .unwrap();
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn persistent_throttling_fails_the_invocation_after_eight_attempts() {
    let rule = mock!(Client::create_invalidation)
        .sequence()
        .http_status(400, Some(error_xml("Throttling", "Rate exceeded")))
        .repeatedly()
        .build();
    let err = handle(
        &client(&[&rule]),
        &config("E1ABC", false),
        &event("events/s3-put.json"),
    )
    .await
    .unwrap_err();
    assert_eq!(rule.num_calls(), 8);
    let message = err.to_string();
    assert!(
        message.contains("did not accept the invalidation for E1ABC after retries"),
        "{message}"
    );
    assert!(message.contains("Throttling"), "{message}");
    assert_eq!(
        lambda_runtime::Diagnostic::from(err).error_type,
        "InvalidationFailed"
    );
}

#[tokio::test]
async fn invalidation_batch_already_exists_is_explained() {
    let rule = mock!(Client::create_invalidation)
        .sequence()
        .http_status(
            409,
            Some(error_xml(
                "InvalidationBatchAlreadyExists",
                "Batch already exists",
            )),
        )
        .build();
    let err = handle(
        &client(&[&rule]),
        &config("E1ABC", false),
        &event("events/s3-put.json"),
    )
    .await
    .unwrap_err();
    assert_eq!(rule.num_calls(), 1, "a conflict is not retried");
    let message = err.to_string();
    assert!(
        message.contains("already has an invalidation with caller reference s3inv-"),
        "{message}"
    );
    assert!(message.contains("InvalidationBatchAlreadyExists"), "{message}");
}

/// The message of the error the handler returns for the put event when
/// CloudFront answers with `rule`.
async fn error_for(rule: &Rule) -> String {
    handle(
        &client(&[rule]),
        &config("E1ABC", false),
        &event("events/s3-put.json"),
    )
    .await
    .unwrap_err()
    .to_string()
}

#[tokio::test]
async fn no_such_distribution_names_the_id_and_the_setting() {
    let rule = mock!(Client::create_invalidation).then_error(|| {
        CreateInvalidationError::NoSuchDistribution(
            NoSuchDistribution::builder()
                .message("The specified distribution does not exist.")
                .build(),
        )
    });
    let message = error_for(&rule).await;
    assert!(
        message.contains("distribution E1ABC does not exist (NoSuchDistribution)"),
        "{message}"
    );
    assert!(message.contains("DISTRIBUTION_IDS"), "{message}");
}

#[tokio::test]
async fn access_denied_says_which_permission_is_missing() {
    let rule = mock!(Client::create_invalidation).then_error(|| {
        CreateInvalidationError::AccessDenied(
            AccessDenied::builder()
                .message("User is not authorized to perform: cloudfront:CreateInvalidation")
                .build(),
        )
    });
    let message = error_for(&rule).await;
    assert!(
        message.contains(
            "needs cloudfront:CreateInvalidation on arn:aws:cloudfront::<account>:distribution/E1ABC"
        ),
        "{message}"
    );
    assert!(message.contains("User is not authorized"), "{message}");
}

#[tokio::test]
async fn too_many_in_progress_is_not_retried_in_a_loop() {
    let rule = mock!(Client::create_invalidation)
        .sequence()
        .http_status(400, Some(error_xml("TooManyInvalidationsInProgress", "Too many")))
        .repeatedly()
        .build();
    let err = handle(
        &client(&[&rule]),
        &config("E1ABC", false),
        &event("events/s3-put.json"),
    )
    .await
    .unwrap_err();
    assert_eq!(rule.num_calls(), 1);
    assert!(
        err.to_string().contains("too many invalidations in progress"),
        "{err}"
    );
}

#[tokio::test]
async fn one_failed_distribution_fails_the_invocation_but_keeps_the_other() {
    let ok = mock!(Client::create_invalidation)
        .match_requests(|r| r.distribution_id() == Some("E1ABC"))
        .then_output(|| created("I1"));
    let missing = mock!(Client::create_invalidation)
        .match_requests(|r| r.distribution_id() == Some("E2DEF"))
        .then_error(|| CreateInvalidationError::NoSuchDistribution(NoSuchDistribution::builder().build()));
    let err = handle(
        &client(&[&ok, &missing]),
        &config("E1ABC,E2DEF", false),
        &event("events/s3-put.json"),
    )
    .await
    .unwrap_err();
    let HandlerError::Submit { failures, summary } = &err else {
        panic!("{err}")
    };
    assert_eq!(failures.len(), 1);
    assert_eq!(summary.invalidations.len(), 1);
    assert_eq!(summary.invalidations[0].invalidation_id.as_deref(), Some("I1"));
    assert!(err.to_string().contains("E2DEF does not exist"), "{err}");
}

#[tokio::test]
async fn dry_run_sends_nothing_but_reports_the_plan() {
    let rule = mock!(Client::create_invalidation).then_output(|| created("I1"));
    let summary: Summary = handle(
        &client(&[&rule]),
        &config("E1ABC", true),
        &event("events/s3-put.json"),
    )
    .await
    .unwrap();
    assert_eq!(rule.num_calls(), 0);
    assert!(summary.dry_run);
    assert_eq!(summary.invalidations[0].invalidation_id, None);
    assert_eq!(summary.invalidations[0].paths[0].as_str(), "/css/site.css");
}

#[tokio::test]
async fn rejected_records_fail_the_invocation_after_the_good_ones_are_submitted() {
    let seen = Seen::default();
    let rule = recording(&seen, "I1");
    let err = handle(
        &client(&[&rule]),
        &config("E1ABC", false),
        &event("tests/fixtures/bad-records.json"),
    )
    .await
    .unwrap_err();
    assert_eq!(seen.lock().unwrap()[0].2, ["/good/one.css", "/good/two.css"]);
    let message = err.to_string();
    assert!(
        message.starts_with("4 record(s) could not be processed"),
        "{message}"
    );
    assert!(
        message.contains("key \"bad/%G1.css\": record 1: broken percent-escape \"%G1\""),
        "{message}"
    );
    assert_eq!(
        lambda_runtime::Diagnostic::from(err).error_type,
        "RecordsRejected"
    );
}

#[tokio::test]
async fn test_event_succeeds_without_a_request() {
    let rule = mock!(Client::create_invalidation).then_output(|| created("I1"));
    let summary = handle(
        &client(&[&rule]),
        &config("E1ABC", false),
        &event("events/s3-test-event.json"),
    )
    .await
    .unwrap();
    assert!(summary.test_event);
    assert!(summary.invalidations.is_empty());
    assert_eq!(rule.num_calls(), 0);
}

/// Runs the handler on an SQS event; returns the message IDs reported as failed.
async fn handle_sqs(client: &Client, config: &Config, event: &Value, time: Duration) -> Vec<String> {
    let deadline = Deadline::after(time);
    match Invalidator::new(client.clone(), config.clone())
        .handle(event, deadline)
        .await
        .unwrap()
    {
        Response::Batch(batch) => batch
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect(),
        other => panic!("expected a batch response, got {other:?}"),
    }
}

fn message_ids(event: &Value) -> Vec<String> {
    event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["messageId"].as_str().unwrap().to_owned())
        .collect()
}

const PLENTY: Duration = Duration::from_secs(300);

#[tokio::test]
async fn sqs_poison_message_is_the_only_one_reported() {
    let seen = Seen::default();
    let rule = recording(&seen, "I1");
    let event = event("events/sqs-poison-message.json");
    let failed = handle_sqs(&client(&[&rule]), &config("E1ABC", false), &event, PLENTY).await;
    assert_eq!(failed, [message_ids(&event)[1].clone()]);
    assert_eq!(seen.lock().unwrap()[0].2, ["/js/app.js", "/js/vendor.js"]);
}

#[tokio::test]
async fn sqs_batch_merges_all_messages_into_one_request_per_distribution() {
    let seen = Seen::default();
    let rule = recording(&seen, "I1");
    let event = event("events/sqs-collectstatic.json");
    let failed = handle_sqs(&client(&[&rule]), &config("E1ABC,E2DEF", false), &event, PLENTY).await;
    assert!(failed.is_empty());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].2.len(), 263);
}

#[tokio::test]
async fn too_many_in_progress_reports_only_the_messages_that_distribution_needed() {
    let busy = mock!(Client::create_invalidation)
        .match_requests(|r| r.distribution_id() == Some("E1BUSY"))
        .sequence()
        .http_status(400, Some(error_xml("TooManyInvalidationsInProgress", "Too many")))
        .repeatedly()
        .build();
    let seen = Seen::default();
    let fine = recording(&seen, "I2");
    let event = event("events/sqs-s3-batch.json");
    let failed = handle_sqs(
        &client(&[&busy, &fine]),
        &config("E1BUSY,E2FINE", false),
        &event,
        PLENTY,
    )
    .await;
    assert_eq!(failed, message_ids(&event));
    assert_eq!(
        busy.num_calls(),
        1,
        "TooManyInvalidationsInProgress is not retried in a loop"
    );
    assert_eq!(seen.lock().unwrap()[0].0, "E2FINE");
}

#[tokio::test]
async fn a_full_distribution_is_not_called_and_every_message_is_reported() {
    // Another client's invalidation holds 2,999 paths and 15 wildcards, and
    // this environment knows nothing of it: the function reads it, finds no
    // room, and sends nothing (no refused call).
    let create = mock!(Client::create_invalidation).then_output(|| created("I1"));
    let list = in_progress(&[("OTHER", "InProgress"), ("OLD", "Completed")]);
    let paths = (0..2999).map(|i| format!("/other/{i}"));
    let get = invalidation_of(paths.chain((0..15).map(|i| format!("/w{i}/*"))).collect());
    let client = client_with(&[&create, &list, &get]);
    let keys: Vec<String> = (0..11).map(|i| format!("css/f{i}.css")).collect();
    let event = sqs_event(&keys);
    let invalidator = Invalidator::new(client, config("E1BUSY", false));
    let deadline = Deadline::after(PLENTY);
    let Response::Batch(batch) = invalidator.handle(&event, deadline).await.unwrap() else {
        panic!("a batch response")
    };
    assert_eq!(batch.batch_item_failures.len(), 11);
    assert_eq!(create.num_calls(), 0);
    // OTHER, in progress; and OLD, complete but created after the changes
    // (it could cover them).
    assert_eq!((list.num_calls(), get.num_calls()), (1, 2));
    // The next invocation reads the list again but not the invalidations it knows.
    invalidator.handle(&event, deadline).await.unwrap();
    assert_eq!((list.num_calls(), get.num_calls()), (2, 2));
    assert_eq!(create.num_calls(), 0);
}

#[tokio::test]
async fn even_a_few_exact_paths_are_planned_from_what_is_in_progress() {
    // Unread, an invocation cannot know how much room the others left: a
    // function invoked per object would otherwise fill CloudFront with
    // requests nobody counted, and the next one would be refused.
    let seen = Seen::default();
    let create = recording(&seen, "I1");
    let list = in_progress(&[]);
    let keys: Vec<String> = (0..3).map(|i| format!("css/f{i}.css")).collect();
    let failed = handle_sqs(
        &client_with(&[&create, &list]),
        &config("E1ABC", false),
        &sqs_event(&keys),
        PLENTY,
    )
    .await;
    assert!(failed.is_empty());
    assert_eq!((list.num_calls(), seen.lock().unwrap().len()), (1, 1));
}

#[tokio::test]
async fn with_little_room_left_the_request_uses_fewer_wildcards() {
    // Nothing in progress: 3 wildcards (of 15, with one other planner).
    // 10 wildcards in progress: 5 free, 3 left for the other planner, 2 for
    // this one.
    let seen = Seen::default();
    let create = recording(&seen, "I1");
    let list = in_progress(&[("OTHER", "InProgress")]);
    let get = invalidation_of((0..10).map(|i| format!("/other/{i}/*")).collect());
    let keys: Vec<String> = (0..400).map(|i| format!("assets/d{}/f{i}.js", i % 3)).collect();
    let event = sqs_event(&keys);
    let roomy = handle_sqs(&client(&[&create]), &config_max("E1ABC", 10), &event, PLENTY).await;
    let tight = handle_sqs(
        &client_with(&[&create, &list, &get]),
        &config_max("E1ABC", 10),
        &event,
        PLENTY,
    )
    .await;
    assert!(roomy.is_empty() && tight.is_empty());
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].2, ["/assets/d0/*", "/assets/d1/*", "/assets/d2/*"]);
    assert_eq!(seen[1].2, ["/assets/*"]);
}

#[tokio::test]
async fn a_failed_read_of_what_is_in_progress_leaves_the_changes_for_the_retry() {
    // Without knowing what the distribution holds, no share of its room is
    // certain: nothing is sent, and the event fails so that Lambda retries it.
    let seen = Seen::default();
    let create = recording(&seen, "I1");
    let list = mock!(Client::list_invalidations)
        .sequence()
        .http_status(403, Some(error_xml("AccessDenied", "not allowed")))
        .repeatedly()
        .build();
    let e = handle(
        &client_with(&[&create, &list]),
        &config("E1ABC", false),
        &event("events/s3-put.json"),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(seen.lock().unwrap().is_empty());
    assert!(
        e.contains("could not read what distribution E1ABC holds in progress"),
        "{e}"
    );
    assert!(e.contains("cloudfront:ListInvalidations"), "{e}");
}

#[tokio::test]
async fn only_the_messages_of_a_failed_request_are_reported() {
    // E1 serves static/, E2 media/; E2's request fails for good.
    let ok = mock!(Client::create_invalidation)
        .match_requests(|r| r.distribution_id() == Some("E1ABC"))
        .then_output(|| created("I1"));
    let refused = mock!(Client::create_invalidation)
        .match_requests(|r| r.distribution_id() == Some("E2DEF"))
        .sequence()
        .http_status(400, Some(error_xml("InvalidArgument", "bad path")))
        .repeatedly()
        .build();
    let keys = ["static/a.css", "media/b.png", "static/c.css", "media/d.png"].map(String::from);
    let failed = handle_sqs(
        &client(&[&ok, &refused]),
        &config("E1ABC=/static,E2DEF=/media", false),
        &sqs_event(&keys),
        PLENTY,
    )
    .await;
    assert_eq!(failed, ["m-00001", "m-00003"]);
}

#[tokio::test]
async fn near_the_deadline_nothing_is_sent_and_every_message_is_reported() {
    let rule = mock!(Client::create_invalidation).then_output(|| created("I1"));
    let event = event("events/sqs-s3-batch.json");
    let failed = handle_sqs(
        &client(&[&rule]),
        &config("E1ABC", false),
        &event,
        Duration::from_millis(2500),
    )
    .await;
    assert_eq!(rule.num_calls(), 0);
    assert_eq!(failed, message_ids(&event));
}

/// An SQS batch with one S3 upload notification per key (plain ASCII keys,
/// sent as they are), message IDs `m-00000`...
fn sqs_event(keys: &[String]) -> Value {
    let put = event("events/s3-put.json");
    let records: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let mut record = put["Records"][0].clone();
            record["s3"]["object"]["key"] = json!(key);
            record["s3"]["object"]["sequencer"] = json!(format!("{i:016X}"));
            json!({
                "messageId": format!("m-{i:05}"),
                "body": json!({"Records": [record]}).to_string(),
                "eventSource": "aws:sqs"
            })
        })
        .collect();
    json!({ "Records": records })
}

// -- What the distribution's configuration says ---------------------------------

fn configuration_refused() -> Rule {
    mock!(Client::get_distribution_config)
        .sequence()
        .http_status(403, Some(error_xml("AccessDenied", "not authorized")))
        .repeatedly()
        .build()
}

fn no_such_policy() -> Rule {
    mock!(Client::get_cache_policy)
        .sequence()
        .http_status(404, Some(error_xml("NoSuchCachePolicy", "no such policy")))
        .repeatedly()
        .build()
}

const BUCKET_REST: &str = "example-static-site.s3.eu-west-1.amazonaws.com";
const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";

/// A distribution with one S3 origin at `domain` through `origin_path`,
/// whose default behavior uses cache policy `policy`.
fn distribution(domain: &str, origin_path: &str, policy: &str) -> DistributionConfig {
    let origin = Origin::builder()
        .id("s3")
        .domain_name(domain)
        .origin_path(origin_path)
        .build()
        .unwrap();
    DistributionConfig::builder()
        .caller_reference("site")
        .comment("")
        .enabled(true)
        .origins(Origins::builder().quantity(1).items(origin).build().unwrap())
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("s3")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .cache_policy_id(policy)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// GetDistributionConfig answering distribution `id` with `config`.
fn configuration(id: &'static str, config: DistributionConfig) -> Rule {
    mock!(Client::get_distribution_config)
        .match_requests(move |r| r.id() == Some(id))
        .sequence()
        .output(move || {
            GetDistributionConfigOutput::builder()
                .distribution_config(config.clone())
                .e_tag("ETAG")
                .build()
        })
        .repeatedly()
        .build()
}

/// GetCachePolicy answering policy `id` with its query strings' behavior.
fn cache_policy(id: &'static str, query_strings: CachePolicyQueryStringBehavior) -> Rule {
    let parameters = ParametersInCacheKeyAndForwardedToOrigin::builder()
        .enable_accept_encoding_gzip(true)
        .headers_config(
            CachePolicyHeadersConfig::builder()
                .header_behavior(CachePolicyHeaderBehavior::None)
                .build()
                .unwrap(),
        )
        .cookies_config(
            CachePolicyCookiesConfig::builder()
                .cookie_behavior(CachePolicyCookieBehavior::None)
                .build()
                .unwrap(),
        )
        .query_strings_config(
            CachePolicyQueryStringsConfig::builder()
                .query_string_behavior(query_strings)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let policy = CachePolicy::builder()
        .id(id)
        .last_modified_time(aws_sdk_cloudfront::primitives::DateTime::from_secs(0))
        .cache_policy_config(
            CachePolicyConfig::builder()
                .name("site")
                .min_ttl(1)
                .parameters_in_cache_key_and_forwarded_to_origin(parameters)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    mock!(Client::get_cache_policy)
        .match_requests(move |r| r.id() == Some(id))
        .sequence()
        .output(move || {
            GetCachePolicyOutput::builder()
                .cache_policy(policy.clone())
                .build()
        })
        .repeatedly()
        .build()
}

#[tokio::test]
async fn a_cache_key_with_query_strings_gives_each_path_a_trailing_wildcard() {
    let seen = Seen::default();
    let rule = recording(&seen, "I1");
    let config_rule = configuration("E1ABC", distribution(BUCKET_REST, "", "site-policy"));
    let policy = cache_policy("site-policy", CachePolicyQueryStringBehavior::All);
    let client = client(&[&rule, &config_rule, &policy]);
    let invalidator = Invalidator::new(client, config("E1ABC", false));
    let deadline = Deadline::after(PLENTY);
    for _ in 0..2 {
        invalidator
            .handle(&event("events/s3-multi-record.json"), deadline)
            .await
            .unwrap();
    }
    let seen = seen.lock().unwrap();
    // `/js/app.js*` covers /js/app.js?v=2, which CloudFront caches apart.
    assert_eq!(seen[0].2, ["/js/app.js*", "/video/intro.mp4*"]);
    // Read on the first invocation, kept for a minute.
    assert_eq!((config_rule.num_calls(), policy.num_calls()), (1, 1));
}

#[tokio::test]
async fn cloudfronts_origin_path_wins_over_the_configured_one() {
    let seen = Seen::default();
    let rule = recording(&seen, "I1");
    // Configured /static; CloudFront serves the bucket from its top, and
    // CachingOptimized (managed: GetCachePolicy finds nothing here) keys on
    // no query string.
    let whole = configuration("E1ABC", distribution(BUCKET_REST, "", CACHING_OPTIMIZED));
    let summary = handle(
        &client(&[&rule, &whole]),
        &config("E1ABC=/static", false),
        &event("events/s3-multi-record.json"),
    )
    .await
    .unwrap();
    assert_eq!(seen.lock().unwrap()[0].2, ["/js/app.js", "/video/intro.mp4"]);
    assert!(summary.ignored.is_empty(), "{:?}", summary.ignored);
}

#[tokio::test]
async fn a_listed_distribution_of_another_bucket_gets_no_request() {
    let seen = Seen::default();
    let rule = recording(&seen, "I1");
    let ours = configuration("E1ABC", distribution(BUCKET_REST, "", CACHING_OPTIMIZED));
    let other = configuration(
        "E2DEF",
        distribution("other-bucket.s3.amazonaws.com", "", CACHING_OPTIMIZED),
    );
    handle(
        &client(&[&rule, &ours, &other]),
        &config("E1ABC,E2DEF", false),
        &event("events/s3-multi-record.json"),
    )
    .await
    .unwrap();
    let ids: Vec<String> = seen.lock().unwrap().iter().map(|s| s.0.clone()).collect();
    assert_eq!(ids, ["E1ABC"]);
}

#[tokio::test]
async fn an_unreadable_configuration_leaves_the_changes_for_the_retry() {
    // Throttled through every retry of the SDK, then readable.
    let flaky = mock!(Client::get_distribution_config)
        .sequence()
        .http_status(400, Some(error_xml("Throttling", "Rate exceeded")))
        .times(8)
        .output(|| {
            GetDistributionConfigOutput::builder()
                .distribution_config(distribution(BUCKET_REST, "", CACHING_OPTIMIZED))
                .build()
        })
        .repeatedly()
        .build();
    let seen = Seen::default();
    let rule = recording(&seen, "I1");
    let invalidator = Invalidator::new(client(&[&rule, &flaky]), config("E1ABC", false));
    let keys: Vec<String> = (0..3).map(|i| format!("css/f{i}.css")).collect();
    let event = sqs_event(&keys);
    let deadline = Deadline::after(PLENTY);
    let Response::Batch(batch) = invalidator.handle(&event, deadline).await.unwrap() else {
        panic!("a batch response")
    };
    assert_eq!(batch.batch_item_failures.len(), 3, "every message waits");
    assert!(
        seen.lock().unwrap().is_empty(),
        "no request without the configuration"
    );
    // The retry reads it.
    let Response::Batch(batch) = invalidator.handle(&event, deadline).await.unwrap() else {
        panic!("a batch response")
    };
    assert!(batch.batch_item_failures.is_empty());
    assert_eq!(
        seen.lock().unwrap()[0].2,
        ["/css/f0.css", "/css/f1.css", "/css/f2.css"]
    );
}

#[tokio::test]
async fn a_configuration_read_before_is_kept_when_reading_it_again_fails() {
    let once = mock!(Client::get_distribution_config)
        .sequence()
        .output(|| {
            GetDistributionConfigOutput::builder()
                .distribution_config(distribution(BUCKET_REST, "/site", CACHING_OPTIMIZED))
                .build()
        })
        .http_status(500, Some(error_xml("InternalError", "try again")))
        .repeatedly()
        .build();
    let seen = Seen::default();
    let rule = recording(&seen, "I1");
    let now = Arc::new(std::sync::atomic::AtomicI64::new(1_900_000_000_000));
    let clock = {
        let now = now.clone();
        Clock::from_fn(move || now.load(std::sync::atomic::Ordering::Relaxed))
    };
    let invalidator = Invalidator::new(client(&[&rule, &once]), config("E1ABC", false)).with_clock(clock);
    let deadline = Deadline::after(PLENTY);
    let put = |key: &str| sqs_event(&[key.to_string()]);
    invalidator.handle(&put("site/a.css"), deadline).await.unwrap();
    // Two minutes on, the reading is stale and cannot be read again: the
    // one read before still says /site.
    now.fetch_add(120_000, std::sync::atomic::Ordering::Relaxed);
    let Response::Batch(batch) = invalidator.handle(&put("site/b.css"), deadline).await.unwrap() else {
        panic!("a batch response")
    };
    assert!(batch.batch_item_failures.is_empty());
    assert!(once.num_calls() > 1, "read again");
    let paths: Vec<Vec<String>> = seen.lock().unwrap().iter().map(|s| s.2.clone()).collect();
    assert_eq!(paths, [vec!["/a.css".to_string()], vec!["/b.css".to_string()]]);
}

/// One invalidation the fake CloudFront holds.
#[derive(Debug, Clone)]
struct Kept {
    id: String,
    distribution: String,
    reference: String,
    paths: Vec<String>,
    created_ms: i64,
}

/// CloudFront for the tests of covering, on the test's clock: it keeps what
/// it creates, dated on its own clock (the function's, moved by a skew),
/// answers a caller reference it knows at that distribution with the same
/// paths with the invalidation it has (API reference, CreateInvalidation),
/// and lists and reads back what it keeps, newest first, in progress.
struct FakeCloudFront {
    kept: Arc<Mutex<Vec<Kept>>>,
    /// The caller reference of each CreateInvalidation, in order.
    requests: Arc<Mutex<Vec<String>>>,
    create: Rule,
    list: Rule,
    get: Rule,
}

impl FakeCloudFront {
    fn new(clock: Clock, skew_ms: i64) -> FakeCloudFront {
        let kept: Arc<Mutex<Vec<Kept>>> = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (store, seen) = (kept.clone(), requests.clone());
        let create = mock!(Client::create_invalidation).then_compute_output(move |req| {
            let batch = req.invalidation_batch().unwrap();
            let paths = batch.paths().unwrap().items().to_vec();
            let distribution = req.distribution_id().unwrap().to_owned();
            let reference = batch.caller_reference().to_owned();
            seen.lock().unwrap().push(reference.clone());
            let mut kept = store.lock().unwrap();
            let known = kept
                .iter()
                .find(|k| k.distribution == distribution && k.reference == reference)
                .cloned();
            let invalidation = match known {
                Some(k) => {
                    assert_eq!(k.paths, paths, "the function reused a reference with other paths");
                    k
                }
                None => {
                    let k = Kept {
                        id: format!("I{}", kept.len() + 1),
                        distribution,
                        reference,
                        paths,
                        created_ms: clock.now_ms() + skew_ms,
                    };
                    kept.push(k.clone());
                    k
                }
            };
            CreateInvalidationOutput::builder()
                .invalidation(invalidation_from(&invalidation))
                .build()
        });
        let store = kept.clone();
        let list = mock!(Client::list_invalidations).then_compute_output(move |req| {
            let items: Vec<InvalidationSummary> = store
                .lock()
                .unwrap()
                .iter()
                .rev()
                .filter(|k| Some(k.distribution.as_str()) == req.distribution_id())
                .map(|k| {
                    InvalidationSummary::builder()
                        .id(&k.id)
                        .status("InProgress")
                        .create_time(DateTime::from_millis(k.created_ms))
                        .build()
                        .unwrap()
                })
                .collect();
            ListInvalidationsOutput::builder()
                .invalidation_list(one_page(items))
                .build()
        });
        let store = kept.clone();
        let get = mock!(Client::get_invalidation).then_compute_output(move |req| {
            let kept = store.lock().unwrap();
            let k = kept
                .iter()
                .find(|k| Some(k.id.as_str()) == req.id())
                .expect("an invalidation the fake made");
            GetInvalidationOutput::builder()
                .invalidation(invalidation_from(k))
                .build()
        });
        FakeCloudFront {
            kept,
            requests,
            create,
            list,
            get,
        }
    }

    fn client(&self) -> Client {
        client_with(&[&self.create, &self.list, &self.get])
    }
}

fn invalidation_from(k: &Kept) -> Invalidation {
    Invalidation::builder()
        .id(&k.id)
        .status("InProgress")
        .create_time(DateTime::from_millis(k.created_ms))
        .invalidation_batch(
            InvalidationBatch::builder()
                .caller_reference(&k.reference)
                .paths(
                    aws_sdk_cloudfront::types::Paths::builder()
                        .quantity(k.paths.len() as i32)
                        .set_items(Some(k.paths.clone()))
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// When S3 reported the changes of the redelivery tests: the start of the
/// test's clock.
const CHANGED_MS: i64 = 1_795_000_000_000;

/// `event` (direct, or an SQS batch of S3 events) with every change reported
/// at `ms`.
fn reported_at(event: &Value, ms: i64) -> Value {
    // As S3 writes it: milliseconds, always three digits.
    let time = chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut event = event.clone();
    for record in event["Records"].as_array_mut().unwrap() {
        if let Some(body) = record["body"].as_str() {
            let mut body: Value = serde_json::from_str(body).unwrap();
            for inner in body["Records"].as_array_mut().unwrap() {
                inner["eventTime"] = json!(time);
            }
            record["body"] = json!(body.to_string());
        } else {
            record["eventTime"] = json!(time);
        }
    }
    event
}

/// What happened to an event delivered three times (the first time, again
/// in the same execution environment, and in a new one), with CloudFront's
/// clock `skew_ms` from the function's.
struct Deliveries {
    /// The caller reference of each request.
    requests: Vec<String>,
    /// The invalidations CloudFront kept (billed).
    kept: Vec<Kept>,
    /// Per delivery with a summary (direct events): the changes found
    /// covered, and by which invalidations.
    covered: Vec<(u64, Value)>,
}

/// On a paused clock: the function's wall clock starts when S3 reported the
/// changes, and it waits the margin (and its second of slack) before its
/// first request, on virtual time; nothing else moves the clock, so the
/// first invalidation is created at exactly CHANGED_MS + 61 s + `skew_ms`.
async fn deliver_three_times(file: &str, skew_ms: i64) -> Deliveries {
    let start = tokio::time::Instant::now();
    let clock = Clock::from_fn(move || CHANGED_MS + start.elapsed().as_millis() as i64);
    let cloudfront = FakeCloudFront::new(clock.clone(), skew_ms);
    let event = reported_at(&event(file), CHANGED_MS);
    // Exact paths: a redelivery planned with the first request in progress
    // is the same request (with wildcards, less room could choose others).
    let config = config("E1ABC", false);
    let environment = || Invalidator::new(cloudfront.client(), config.clone()).with_clock(clock.clone());
    let first = environment();
    let mut covered = Vec::new();
    for invalidator in [&first, &first, &environment()] {
        match invalidator.handle(&event, Deadline::after(PLENTY)).await.unwrap() {
            Response::Summary(summary) => {
                let stats = serde_json::to_value(&summary.distributions[0]).unwrap();
                covered.push((stats["covered"].as_u64().unwrap(), stats["covered_by"].clone()));
            }
            Response::Batch(batch) => assert!(batch.batch_item_failures.is_empty(), "{batch:?}"),
        }
    }
    let requests = cloudfront.requests.lock().unwrap().clone();
    let kept = cloudfront.kept.lock().unwrap().clone();
    Deliveries {
        requests,
        kept,
        covered,
    }
}

/// The margin's two sides, as CloudFront's CreateTime falls: the function
/// waits 61 s after the change (the margin and a second of slack), so a
/// CloudFront clock 1 s behind dates the invalidation exactly the margin
/// after the change, and one 1 ms further behind, just short of it.
const AT_THE_MARGIN: i64 = -1000;
const SHORT_OF_THE_MARGIN: i64 = -1001;

#[tokio::test(start_paused = true)]
async fn a_redelivery_is_covered_by_an_invalidation_created_the_margin_after_its_changes() {
    for file in ["events/s3-multi-record.json", "events/sqs-collectstatic.json"] {
        let d = deliver_three_times(file, AT_THE_MARGIN).await;
        assert_eq!(d.kept.len(), 1, "{file}");
        assert_eq!(d.kept[0].created_ms, CHANGED_MS + MARGIN_MS, "{file}");
        assert_eq!(
            d.requests.len(),
            1,
            "{file}: the same changes again need no request, in the environment that made it or in one that reads it"
        );
    }
    // The direct event's summaries say what covered its three changes.
    let d = deliver_three_times("events/s3-multi-record.json", AT_THE_MARGIN).await;
    assert_eq!(
        d.covered,
        [(0, Value::Null), (3, json!(["I1"])), (3, json!(["I1"]))]
    );
}

#[tokio::test(start_paused = true)]
async fn a_redelivery_short_of_the_margin_is_sent_again_with_its_caller_reference() {
    // Created 1 ms short of the margin after the changes, the invalidation
    // does not count as covering them (an edge may still fill from the old
    // object after it): each delivery asks again, with the same caller
    // reference, and CloudFront answers with the invalidation it has.
    for file in ["events/s3-multi-record.json", "events/sqs-collectstatic.json"] {
        let d = deliver_three_times(file, SHORT_OF_THE_MARGIN).await;
        assert_eq!(d.kept.len(), 1, "{file}: billed once");
        assert_eq!(d.kept[0].created_ms, CHANGED_MS + MARGIN_MS - 1, "{file}");
        assert_eq!(d.requests.len(), 3, "{file}");
        assert!(
            d.requests.iter().all(|r| r == &d.kept[0].reference),
            "{file}: {:?}",
            d.requests
        );
    }
    let d = deliver_three_times("events/s3-multi-record.json", SHORT_OF_THE_MARGIN).await;
    assert_eq!(d.covered, [(0, Value::Null), (0, Value::Null), (0, Value::Null)]);
}
