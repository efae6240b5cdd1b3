//! End to end: the real binary under cargo-lambda's runtime emulator, invoked
//! with the sample events, against moto server as CloudFront (with a fault
//! proxy in front where a test needs CloudFront to misbehave). Asserts what
//! CloudFront recorded, exactly.

mod operate;
mod profile;
#[path = "../support/mod.rs"]
mod support;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::fault_proxy::{Fault, Mix, Rule};
use support::runtime_api::RuntimeApi;
use support::setup::{SITE, Setup};
use support::{EXPECTED, Guard, Payload, Stack, event_path, function_command, sqs_batch};

pub fn output_json(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "invoke failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The function under our own Runtime API, which sends real epoch
/// deadlines (cargo-lambda's emulator does not), with CloudFront at `port`.
fn under_runtime_api(port: u16, env: &[(&str, &str)]) -> (RuntimeApi, Guard) {
    let api = RuntimeApi::start();
    let function = function_command(port, Some(api.address()), env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    (api, Guard(function))
}

/// The message IDs a partial batch response reports.
pub fn failed_ids(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a batch response: {response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_sample_event_invalidates_exactly_its_paths_in_every_distribution() {
    let mut stack = Stack::start().await;
    let mut log = String::new();
    let mut first = String::new();

    for expect in EXPECTED {
        let file = expect.file;
        // New distributions and a new execution environment for each event:
        // an invalidation made since a sample event's time (days ago), by
        // this environment or read from CloudFront, covers its paths, and
        // rightly no request is made.
        first = stack.create_distribution("example-static-site", "").await;
        let second = stack.create_distribution("example-static-site", "").await;
        let (mut seen_first, mut seen_second) = (Vec::new(), Vec::new());
        stack.start_function(&[("DISTRIBUTION_IDS", &format!("{first},{second}"))]);
        let response = output_json(&stack.invoke(Payload::File(&event_path(file))));
        log.push_str(&stack.function_log());
        let want: Vec<Vec<String>> = if expect.paths.is_empty() {
            vec![]
        } else {
            vec![expect.paths.iter().map(|p| p.to_string()).collect()]
        };
        assert_eq!(
            stack.new_invalidations(&first, &mut seen_first).await,
            want,
            "{file}"
        );
        assert_eq!(
            stack.new_invalidations(&second, &mut seen_second).await,
            want,
            "{file}"
        );
        if file.starts_with("sqs-") {
            let event: Value =
                serde_json::from_str(&std::fs::read_to_string(event_path(file)).unwrap()).unwrap();
            let want: Vec<&str> = expect
                .failed_units
                .iter()
                .map(|&i| event["Records"][i]["messageId"].as_str().unwrap())
                .collect();
            assert_eq!(failed_ids(&response), want, "{file}");
        } else {
            let ignored: Vec<&str> = response["ignored"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["key"].as_str().unwrap())
                .collect();
            assert_eq!(ignored, expect.ignored, "{file}");
            assert_eq!(response["test_event"], file == "s3-test-event.json", "{file}");
        }
    }
    assert!(
        log.contains(&format!("invalidation created distribution={first}")),
        "{log}"
    );
    assert!(log.contains("S3 test event received"), "{log}");
}

#[tokio::test]
async fn a_thousand_message_sqs_batch_makes_one_invalidation_per_distribution() {
    // MAX_PATHS=0 and the only planner: a request may hold half of the
    // 3,000 paths CloudFront holds in progress (see budget::share).
    let stack = Setup::new()
        .distributions(2)
        .env("MAX_PATHS", "0")
        .env("MAX_CONCURRENCY", "1")
        .start()
        .await;
    let [first, second] = stack.ids();
    let batch = sqs_batch(1000, "static/css");
    let response = output_json(&stack.invoke(Payload::Json(&batch)));
    assert!(failed_ids(&response).is_empty());
    let want: Vec<String> = (0..1000)
        .map(|i| format!("/static/css/file-{i:05}.css"))
        .collect();
    for id in [&first, &second] {
        assert_eq!(
            stack.new_invalidations(id, &mut Vec::new()).await,
            std::slice::from_ref(&want)
        );
    }
}

#[tokio::test]
async fn too_many_in_progress_on_one_distribution_reports_only_its_messages() {
    let stack = Setup::new()
        .distributions(2)
        .faults(|ids| vec![Rule::creates_at(&ids[0], Fault::TOO_MANY_IN_PROGRESS)])
        .start()
        .await;
    let ([busy, fine], proxy) = (stack.ids(), stack.proxy());
    let event_file = event_path("sqs-poison-message.json");
    let response = output_json(&stack.invoke(Payload::File(&event_file)));
    let event: Value = serde_json::from_str(&std::fs::read_to_string(&event_file).unwrap()).unwrap();
    let all: Vec<&str> = (0..3)
        .map(|i| event["Records"][i]["messageId"].as_str().unwrap())
        .collect();
    // The busy distribution needed every good message, and the poison one failed anyway.
    assert_eq!(failed_ids(&response), all);
    assert_eq!(
        stack.new_invalidations(&fine, &mut Vec::new()).await,
        [["/js/app.js", "/js/vendor.js"]]
    );
    assert!(stack.new_invalidations(&busy, &mut Vec::new()).await.is_empty());
    let calls = proxy
        .log()
        .iter()
        .filter(|l| l.contains("TooManyInvalidationsInProgress"))
        .count();
    assert_eq!(calls, 1, "not retried in a loop: {:?}", proxy.log());

    // Once the distribution has room again, the redelivered messages go through.
    proxy.set_rules(vec![]);
    let response = output_json(&stack.invoke(Payload::File(&event_file)));
    assert_eq!(failed_ids(&response), [all[1]]);
    assert_eq!(
        stack.new_invalidations(&busy, &mut Vec::new()).await,
        [["/js/app.js", "/js/vendor.js"]]
    );
}

#[tokio::test]
async fn near_the_deadline_unsubmitted_changes_are_reported_not_lost() {
    // The invocation has 6 s; CloudFront answers the first distribution only
    // after 30 s. The function gives up on it in time, does not start the
    // second, reports every message and answers before its deadline. (Our own
    // Runtime API: cargo-lambda's emulator sends no real deadline.)
    let stack = Setup::new()
        .distributions(2)
        .faults(|ids| vec![Rule::creates_at(&ids[0], Fault::Delay(Duration::from_secs(30)))])
        .start_without_function()
        .await;
    let ([_, second], proxy) = (stack.ids(), stack.proxy());
    let (api, _function) = under_runtime_api(proxy.port, &[("DISTRIBUTION_IDS", &stack.ids_setting())]);
    let event: Value =
        serde_json::from_str(&std::fs::read_to_string(event_path("sqs-s3-batch.json")).unwrap()).unwrap();
    let started = Instant::now();
    let response = api
        .invoke(&event, Duration::from_secs(6))
        .expect("a batch response");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "answered after its deadline"
    );
    assert_eq!(failed_ids(&response).len(), 3);
    assert!(stack.new_invalidations(&second, &mut Vec::new()).await.is_empty());
    let creates = proxy.log().iter().filter(|l| l.starts_with("POST")).count();
    assert_eq!(
        creates,
        1,
        "the second distribution is not called: {:?}",
        proxy.log()
    );
}

#[tokio::test]
async fn a_slow_read_of_what_is_in_progress_does_not_hold_the_invocation_up() {
    // CloudFront answers ListInvalidations only after 30 s: the function
    // reads for at most a third of its 9 s; without knowing the room it
    // sends nothing, and every message comes back for a retry, before the
    // deadline.
    let stack = Setup::new()
        .distributions(2)
        .faults(|_| {
            vec![Rule::on(
                "GET /2020-05-31/distribution/",
                Fault::Delay(Duration::from_secs(30)),
            )]
        })
        .start_without_function()
        .await;
    let ([first, second], proxy) = (stack.ids(), stack.proxy());
    let (api, _function) = under_runtime_api(proxy.port, &[("DISTRIBUTION_IDS", &stack.ids_setting())]);
    let event = sqs_batch(12, "css");
    let started = Instant::now();
    let response = api
        .invoke(&event, Duration::from_secs(9))
        .expect("a batch response");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "answered after its deadline"
    );
    assert_eq!(failed_ids(&response).len(), 12, "{response}");
    for id in [&first, &second] {
        assert!(stack.new_invalidations(id, &mut Vec::new()).await.is_empty());
    }
    assert!(
        proxy.log().iter().any(|l| l.starts_with("GET")),
        "it did read: {:?}",
        proxy.log()
    );
}

#[tokio::test]
async fn origin_path_maps_keys_and_ignores_the_rest() {
    let stack = Setup::new()
        .distribution(SITE, "/static")
        .env("ORIGIN_PATH", "/static")
        .start()
        .await;
    let [id] = stack.ids();
    let summary = output_json(&stack.invoke(Payload::File(&event_path("s3-origin-path.json"))));
    assert_eq!(
        stack.new_invalidations(&id, &mut Vec::new()).await,
        [["/css/app.css"]]
    );
    assert_eq!(summary["ignored"][0]["key"], "media/uploads/avatar.png");
    assert!(
        summary["ignored"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("outside the origin path /static")
    );
}

#[tokio::test]
async fn dry_run_submits_nothing() {
    let stack = Setup::new().distributions(1).env("DRY_RUN", "true").start().await;
    let [id] = stack.ids();
    for expect in EXPECTED {
        output_json(&stack.invoke(Payload::File(&event_path(expect.file))));
    }
    let summary = output_json(&stack.invoke(Payload::File(&event_path("s3-special-keys.json"))));
    assert_eq!(summary["dry_run"], true);
    assert_eq!(summary["invalidations"][0]["paths"].as_array().unwrap().len(), 12);
    assert!(stack.new_invalidations(&id, &mut Vec::new()).await.is_empty());
    assert!(stack.function_log().contains("dry run: would invalidate"));
}

#[tokio::test]
async fn bad_records_fail_the_invocation_after_the_good_ones_are_invalidated() {
    let stack = Setup::new().distributions(1).start().await;
    let [id] = stack.ids();
    let fixture = std::path::Path::new(support::MANIFEST_DIR).join("tests/fixtures/bad-records.json");
    let output = stack.invoke(Payload::File(&fixture));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).replace(|c: char| c == '│' || c.is_whitespace(), "");
    assert!(stderr.contains("RecordsRejected"), "{stderr}");
    assert!(stderr.contains("brokenpercent-escape\"%G1\""), "{stderr}");
    assert_eq!(
        stack.new_invalidations(&id, &mut Vec::new()).await,
        [["/good/one.css", "/good/two.css"]]
    );
}

#[tokio::test]
async fn unknown_events_and_unknown_distributions_give_clear_errors() {
    let stack = Setup::new().env("DISTRIBUTION_IDS", "E0000NOSUCH").start().await;
    let output = stack.invoke(Payload::Text(r#"{"detail-type":"Scheduled Event"}"#));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("UnrecognisedEvent"), "{stderr}");

    let output = stack.invoke(Payload::File(&event_path("s3-put.json")));
    assert!(!output.status.success());
    let log = stack.function_log();
    assert!(
        log.contains("distribution E0000NOSUCH does not exist (NoSuchDistribution)"),
        "{log}"
    );
}

#[tokio::test]
async fn a_bad_setting_is_said_once_and_every_invocation_fails_with_it() {
    let stack = Setup::new().env("DISTRIBUTION_IDS", "E1,not-an-id").start().await;
    for _ in 0..2 {
        // cargo lambda invoke gets the reason, and does not hang.
        let output = stack.invoke(Payload::File(&event_path("s3-put.json")));
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("ConfigError"), "{stderr}");
        assert!(
            stderr
                .replace(['│', '\n'], "")
                .contains("DISTRIBUTION_IDS: \"not-an-id\" is not a"),
            "{stderr}"
        );
    }
    // The log: one line at start, then one line per invocation, no Debug dump.
    let log = stack.function_log();
    assert_eq!(
        log.matches("every invocation fails until it is fixed").count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.lines().filter(|l| l.contains("not-an-id")).count(),
        3,
        "{log}"
    );
    assert!(!log.contains("ConfigError {"), "{log}");
}

#[test]
fn started_outside_lambda_the_binary_says_what_it_is_in_one_line() {
    let output = std::process::Command::new(support::binary()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("is an AWS Lambda function") && stderr.contains("cargo lambda watch"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn the_emulators_deadline_quirk_is_not_logged_at_info() {
    let stack = Setup::new().distributions(1).start().await;
    for _ in 0..3 {
        output_json(&stack.invoke(Payload::File(&event_path("s3-test-event.json"))));
    }
    let log = stack.function_log();
    assert!(!log.contains("no epoch time"), "{log}");
    assert!(log.lines().all(|l| l.len() < 600), "{log}");
}

#[tokio::test]
async fn auto_discovery_finds_the_distributions_of_the_bucket_with_their_origin_paths() {
    let stack = Setup::new()
        .distribution(SITE, "")
        .distribution(SITE, "/static")
        .distribution("another-bucket", "")
        .env("DISTRIBUTION_IDS", "auto")
        .start()
        .await;
    let [whole, static_only, elsewhere] = stack.ids();
    let summary = output_json(&stack.invoke(Payload::File(&event_path("s3-origin-path.json"))));
    assert_eq!(
        stack.new_invalidations(&whole, &mut Vec::new()).await,
        [["/media/uploads/avatar.png", "/static/css/app.css"]]
    );
    assert_eq!(
        stack.new_invalidations(&static_only, &mut Vec::new()).await,
        [["/css/app.css"]]
    );
    assert!(
        stack
            .new_invalidations(&elsewhere, &mut Vec::new())
            .await
            .is_empty()
    );
    let stats: Vec<(String, u64)> = summary["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["distribution"].as_str().unwrap().to_owned(),
                s["changes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(stats, [(whole.clone(), 2), (static_only.clone(), 1)]);

    // A bucket no distribution serves: ignored with the reason, nothing sent.
    let mut event: Value = support::sample_put();
    event["Records"][0]["s3"]["bucket"]["name"] = "unserved-bucket".into();
    let summary = output_json(&stack.invoke(Payload::Json(&event)));
    assert_eq!(
        summary["ignored"][0]["reason"],
        "no distribution has an S3 origin for bucket \"unserved-bucket\""
    );
    let log = stack.function_log();
    assert_eq!(
        log.matches("listed the account's distributions").count(),
        1,
        "listed once: {log}"
    );
}

/// The sample put event for `bucket` and `key`, reported by S3 now.
fn put_now(bucket: &str, key: &str) -> Value {
    let mut event: Value = support::sample_put();
    let record = &mut event["Records"][0];
    record["s3"]["bucket"]["name"] = bucket.into();
    record["s3"]["object"]["key"] = key.into();
    record["eventTime"] = support::aws_time(support::utc_now()).into();
    event
}

#[tokio::test]
async fn skip_hashed_names_skips_only_real_hashes() {
    // The names the old rule skipped for good, beside real hashed copies.
    let stack = Setup::new()
        .distributions(1)
        .env("SKIP_HASHED_NAMES", "true")
        .env("INDEX_DOCUMENT", "")
        .start()
        .await;
    let [id] = stack.ids();
    let plain = [
        "og-image-1200x630.png",
        "photo-1024x683.jpg",
        "hero-1920x1080.jpg",
        "products/sku-AB123456.html",
        "show-episode42.mp3",
        "post-part2of3.html",
        "lato-v24-latin-700italic.woff2",
        "orders.202611251230.csv",
        "settings.staging2.json",
    ];
    let hashed = ["static/css/base.5af66c1b1797.css", "assets/index-BjgYtC5x.js"];
    let keys: Vec<String> = plain.iter().chain(&hashed).map(|k| k.to_string()).collect();
    let response = output_json(&stack.invoke(Payload::Json(&support::sqs_batch_of(&keys, 0))));
    assert!(failed_ids(&response).is_empty());
    let mut want: Vec<String> = plain.iter().map(|k| format!("/{k}")).collect();
    want.sort();
    assert_eq!(stack.new_invalidations(&id, &mut Vec::new()).await, [want]);
}

#[test]
fn settings_cloudfront_could_not_honour_are_refused_at_start() {
    for (variable, value, says) in [
        ("INCLUDE", "/static/**", "write \"static/**\""),
        ("EXCLUDE", "**/*.map,/drafts/**", "write \"drafts/**\""),
        ("MAX_PATHS", "5000", "from 1 to 3000"),
    ] {
        let output = function_command(
            1,
            Some("127.0.0.1:1".into()),
            &[("DISTRIBUTION_IDS", "E1"), (variable, value)],
        )
        .output()
        .unwrap();
        assert!(!output.status.success());
        let text = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
        assert!(
            text.contains(variable) && text.contains(says),
            "{variable}={value}: {text}"
        );
    }
}

#[tokio::test]
async fn max_paths_zero_is_what_cloudfront_holds_in_one_request() {
    let stack = Setup::new()
        .distributions(1)
        .hold(Duration::from_secs(600))
        .env("MAX_PATHS", "0")
        .start()
        .await;
    let ([id], proxy) = (stack.ids(), stack.proxy());
    let keys: Vec<String> = (0..4000).map(|i| format!("d{}/f{i:04}.css", i % 8)).collect();
    let response = output_json(&stack.invoke(Payload::Json(&support::sqs_batch_of(&keys, 0))));
    assert!(failed_ids(&response).is_empty());
    let made = stack.new_invalidations(&id, &mut Vec::new()).await;
    assert_eq!(made.len(), 1, "one request");
    let (files, wildcards) = proxy.in_progress(&id);
    assert!(
        files <= 1500 && wildcards <= 7,
        "{files} files, {wildcards} wildcards"
    );
    assert_eq!(proxy.counters().refused, 0);
}

#[tokio::test]
async fn a_long_key_from_eventbridge_and_two_origin_paths_of_one_distribution() {
    let mut stack = Stack::start().await;
    // Pages from /site, stylesheets from /assets, as CloudFront says; the
    // function is told so too (it would read it anyway).
    let id = stack
        .create_distribution_with("example-static-site", &["/site", "/assets"], &[("*.css", 1)])
        .await;
    stack.start_function(&[("DISTRIBUTION_IDS", &format!("{id}=/site,{id}=/assets"))]);
    // 300 CJK characters: 900 bytes, sent percent-encoded (2,700 characters).
    let name = "\u{65e5}".repeat(300);
    let encoded: String = name.bytes().map(|b| format!("%{b:02X}")).collect();
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(event_path("eventbridge-object-created.json")).unwrap(),
    )
    .unwrap();
    event["detail"]["object"]["key"] = format!("site/{encoded}").into();
    output_json(&stack.invoke(Payload::Json(&event)));
    event["detail"]["object"]["key"] = "assets/app.css".into();
    output_json(&stack.invoke(Payload::Json(&event)));
    assert_eq!(
        stack.new_invalidations(&id, &mut Vec::new()).await,
        [vec![format!("/{encoded}")], vec!["/app.css".to_string()]]
    );
}

#[tokio::test]
async fn discovery_sees_a_distribution_created_after_it_listed() {
    let stack = Setup::new()
        .distribution("old-site", "")
        .env("DISTRIBUTION_IDS", "auto")
        .start()
        .await;
    let [old] = stack.ids();
    output_json(&stack.invoke(Payload::Json(&put_now("old-site", "a.css"))));
    assert_eq!(stack.new_invalidations(&old, &mut Vec::new()).await, [["/a.css"]]);

    // A distribution for a new bucket: its first change must not be ignored.
    let new = stack.create_distribution("new-site", "").await;
    let summary = output_json(&stack.invoke(Payload::Json(&put_now("new-site", "b.css"))));
    assert_eq!(summary["ignored"], serde_json::json!([]), "{summary}");
    assert_eq!(stack.new_invalidations(&new, &mut Vec::new()).await, [["/b.css"]]);
    assert_eq!(
        stack
            .function_log()
            .matches("listed the account's distributions")
            .count(),
        2
    );
}

#[tokio::test]
async fn discovery_follows_an_origin_path_changed_after_it_listed() {
    let stack = Setup::new()
        .distribution("versioned-site", "/v1")
        .env("DISTRIBUTION_IDS", "auto")
        .start()
        .await;
    let [id] = stack.ids();
    output_json(&stack.invoke(Payload::Json(&put_now("versioned-site", "v1/app.css"))));
    stack.set_origin_path(&id, "/v2").await;
    output_json(&stack.invoke(Payload::Json(&put_now("versioned-site", "v2/app.css"))));
    assert_eq!(
        stack.new_invalidations(&id, &mut Vec::new()).await,
        [["/app.css"], ["/app.css"]]
    );
}

#[tokio::test]
async fn discovery_drops_a_distribution_deleted_after_it_listed() {
    let stack = Setup::new()
        .distribution("shared-site", "")
        .distribution("shared-site", "")
        .env("DISTRIBUTION_IDS", "auto")
        .start()
        .await;
    let [kept, deleted] = stack.ids();
    output_json(&stack.invoke(Payload::Json(&put_now("shared-site", "a.css"))));
    stack.delete_distribution(&deleted).await;
    // Through a queue: the message must not come back for a distribution
    // that no longer exists (it would fail until the dead-letter queue).
    let record = support::sqs_record(&put_now("shared-site", "-"), 0, "b.css");
    let event = serde_json::json!({ "Records": [record] });
    let response = output_json(&stack.invoke(Payload::Json(&event)));
    assert!(failed_ids(&response).is_empty(), "{response}");
    assert_eq!(
        stack.new_invalidations(&kept, &mut Vec::new()).await,
        [["/a.css"], ["/b.css"]]
    );
    let log = stack.function_log();
    assert!(log.contains("deleted since the last listing"), "{log}");
}

#[tokio::test]
async fn an_accepted_request_whose_answer_is_lost_is_not_billed_twice() {
    // CloudFront accepts the first attempt but the connection drops before
    // the answer; the SDK retries with the same caller reference and gets the
    // same invalidation back. Then Lambda delivers the same event again: the
    // invalidation, created after the margin, covers it, and no request is
    // made.
    let stack = Setup::new().distributions(1).proxy().start().await;
    let ([id], proxy) = (stack.ids(), stack.proxy());
    proxy.set_mix(Some(Mix {
        rate: 1.0,
        faults: vec![Fault::ResetAfterForward],
        seed: 7,
    }));
    let event = support::just_now(
        serde_json::from_str(&std::fs::read_to_string(event_path("s3-multi-record.json")).unwrap()).unwrap(),
    );
    let (first, retried) = {
        // Only the first attempt is cut; later ones go through.
        let invoke = std::thread::scope(|scope| {
            let handle = scope.spawn(|| stack.invoke(Payload::Json(&event)));
            while !proxy.log().iter().any(|l| l.starts_with("POST")) {
                std::thread::sleep(Duration::from_millis(5));
            }
            proxy.set_mix(None);
            handle.join().unwrap()
        });
        (
            output_json(&invoke),
            output_json(&stack.invoke(Payload::Json(&event))),
        )
    };
    assert_eq!(
        stack.new_invalidations(&id, &mut Vec::new()).await,
        [["/js/app.js", "/video/intro.mp4"]]
    );
    let counters = proxy.counters();
    assert_eq!(
        (counters.forwarded, counters.replayed, counters.faults),
        (1, 1, 1),
        "{counters:?}"
    );
    assert_eq!(
        first["invalidations"].as_array().map(Vec::len),
        Some(1),
        "{first}"
    );
    assert_eq!(retried["invalidations"], serde_json::json!([]), "{retried}");
    assert_eq!(
        retried["distributions"][0]["covered_by"][0], first["invalidations"][0]["invalidation_id"],
        "{retried}"
    );
}

#[tokio::test]
async fn a_message_redelivered_in_other_company_is_not_billed_twice() {
    // The first batch holds a change and a filtered one; the message with
    // the change comes back (say its batch failed elsewhere) beside a key no
    // distribution serves. The function waited until the change was the
    // margin old before its first request, so that request covers the
    // change on every later delivery too: no second request, in this
    // environment (which made it) or in a new one (which reads it).
    let mut stack = Setup::new()
        .distribution(SITE, "/site")
        .proxy()
        .start_without_function()
        .await;
    let [id] = stack.ids();
    let env = [
        ("DISTRIBUTION_IDS", format!("{id}=/site")),
        ("EXCLUDE", "**/*.map".into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    stack.start_function(&env);
    let put = support::just_now(support::sample_put());
    let first = serde_json::json!({"Records": [
        support::sqs_record(&put, 0, "site/app.css"),
        support::sqs_record(&put, 1, "site/app.css.map"),
    ]});
    let again = serde_json::json!({"Records": [
        support::sqs_record(&put, 2, "media/photo.jpg"),
        support::sqs_record(&put, 0, "site/app.css"),
    ]});
    for event in [&first, &again] {
        assert!(failed_ids(&output_json(&stack.invoke(Payload::Json(event)))).is_empty());
    }
    stack.start_function(&env);
    assert!(failed_ids(&output_json(&stack.invoke(Payload::Json(&again)))).is_empty());
    assert_eq!(
        stack.new_invalidations(&id, &mut Vec::new()).await,
        [["/app.css"]]
    );
    let counters = stack.proxy().counters();
    assert_eq!((counters.forwarded, counters.replayed), (1, 0), "{counters:?}");
    let log = stack.function_log();
    assert!(
        log.contains("covered=1"),
        "the new environment found it covered: {log}"
    );
}

#[tokio::test]
async fn a_deploy_over_many_invocations_plans_within_what_is_in_progress() {
    // CloudFront keeps each invalidation in progress for 20 minutes; batches
    // of a deploy arrive a minute apart, each of 100 files in 5 directories. The function reads what is in
    // progress and plans within it: coarser wildcards as room shrinks, and
    // when none is left the messages wait for a retry, without a refused
    // call. Once the first invalidations complete, the retry goes through.
    let stack = Setup::new()
        .distributions(1)
        .hold(Duration::from_secs(1200))
        .env("MAX_PATHS", "20")
        .start()
        .await;
    let ([id], proxy) = (stack.ids(), stack.proxy());
    let keys: Vec<String> = (0..1500)
        .map(|i| format!("site/b{}/d{}/f{i}.css", i / 100, i % 5))
        .collect();
    let mut waiting: Vec<Value> = Vec::new();
    let mut wildcards_per_request = Vec::new();
    for (minute, chunk) in keys.chunks(100).enumerate() {
        let event = support::sqs_batch_of(chunk, minute * 100);
        let response = output_json(&stack.invoke(Payload::Json(&event)));
        let failed = failed_ids(&response);
        waiting.extend(
            event["Records"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| failed.contains(&r["messageId"].as_str().unwrap().to_owned()))
                .cloned(),
        );
        proxy.advance(Duration::from_secs(60));
        let (_, held) = proxy.in_progress(&id);
        wildcards_per_request.push(held);
    }
    assert_eq!(proxy.counters().refused, 0, "{:?}", proxy.log());
    // Three wildcards (the share with one other planner) are too few for
    // the 5 directories, so each batch gets one wildcard over its own
    // directory, until the 13th finds none to take (the last 3 are left for
    // the other planner's claim): from then on 20 exact paths (MAX_PATHS)
    // go, and the other 80 messages of each batch wait.
    let want: Vec<usize> = (1..=12).chain([12, 12, 12]).collect();
    assert_eq!(wildcards_per_request, want);
    assert_eq!(waiting.len(), 240);
    // The visibility timeout later, the first invalidations are done.
    proxy.advance(Duration::from_secs(1380));
    let retry = serde_json::json!({ "Records": waiting });
    assert!(failed_ids(&output_json(&stack.invoke(Payload::Json(&retry)))).is_empty());
    assert_eq!(proxy.counters().refused, 0);
    // Every change is covered by an invalidation CloudFront accepted.
    let accepted: Vec<String> = stack.all_invalidations(&id).await.into_iter().flatten().collect();
    for key in &keys {
        let path = format!("/{key}");
        assert!(
            accepted
                .iter()
                .any(|p| p == &path || p.strip_suffix('*').is_some_and(|pre| path.starts_with(pre))),
            "{path} not covered by {accepted:?}"
        );
    }
}

#[tokio::test]
async fn a_message_back_in_other_company_whose_change_was_invalidated_since_needs_no_request() {
    // A batch of 100 changes under site/a/ gets one wildcard. Half of its
    // messages come back (SQS redelivers them, as after a timeout) in a batch
    // with 50 new changes under site/b/: without knowing what is covered,
    // the function would bill `/site/a/*` again under a new caller reference.
    // The sample event's time is days before the invalidation was created.
    let stack = Setup::new()
        .distributions(1)
        .hold(Duration::from_secs(900))
        .env("MAX_PATHS", "20")
        .start()
        .await;
    let ([id], proxy) = (stack.ids(), stack.proxy());
    let a: Vec<String> = (0..100).map(|i| format!("site/a/f{i}.css")).collect();
    let b: Vec<String> = (0..50).map(|i| format!("site/b/f{i}.css")).collect();
    let first = support::sqs_batch_of(&a, 0);
    assert!(failed_ids(&output_json(&stack.invoke(Payload::Json(&first)))).is_empty());
    let mut seen = Vec::new();
    assert_eq!(stack.new_invalidations(&id, &mut seen).await, [["/site/a/*"]]);
    let mut again: Vec<Value> = first["Records"].as_array().unwrap()[..50].to_vec();
    again.extend(
        support::sqs_batch_of(&b, 100)["Records"]
            .as_array()
            .unwrap()
            .iter()
            .cloned(),
    );
    let again = serde_json::json!({ "Records": again });
    assert!(failed_ids(&output_json(&stack.invoke(Payload::Json(&again)))).is_empty());
    assert_eq!(stack.new_invalidations(&id, &mut seen).await, [["/site/b/*"]]);
    assert_eq!(proxy.counters().refused, 0);
    let log = stack.function_log();
    assert!(
        log.lines()
            .any(|l| l.contains("planned") && l.contains("covered=50")),
        "the log says what was covered:\n{log}"
    );
    assert!(log.contains("\"ChangesAlreadyCovered\":50"), "{log}");
}

#[tokio::test]
async fn a_caller_reference_cloudfront_already_holds_is_answered_by_cloudfront() {
    // CloudFront's rule for a reference it knows (API reference,
    // CreateInvalidation, CallerReference), met by the function: the same
    // reference with the same paths gets the invalidation CloudFront has, not
    // a second one; with other paths, InvalidationBatchAlreadyExists, which
    // the function reports clearly, without retrying it. The function's own
    // references hash their distribution and paths, so only another client
    // can hold one with other paths: here the test, which learns the
    // references from a dry run and creates those invalidations first, less
    // than the margin after the change (so they do not cover it).
    // The dry run plans as the function will, without waiting for the margin.
    let mut stack = Setup::new()
        .distributions(2)
        .proxy()
        .env("DRY_RUN", "true")
        .env("MARGIN_SECONDS", "0")
        .start()
        .await;
    let [same, other] = stack.ids();
    let event = support::just_now(support::sample_put());
    let planned = output_json(&stack.invoke(Payload::Json(&event)));
    let reference = |distribution: &str| -> String {
        let batch = planned["invalidations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["distribution"] == distribution)
            .unwrap_or_else(|| panic!("no batch for {distribution}: {planned}"));
        assert_eq!(batch["paths"], serde_json::json!(["/css/site.css"]), "{planned}");
        batch["caller_reference"].as_str().unwrap().to_owned()
    };
    let config = aws_sdk_cloudfront::Config::builder()
        .http_client(support::http_client())
        .behavior_version(aws_sdk_cloudfront::config::BehaviorVersion::latest())
        .region(aws_sdk_cloudfront::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_cloudfront::config::Credentials::for_tests())
        .endpoint_url(format!("http://127.0.0.1:{}", stack.cloudfront_port()))
        .build();
    let client = aws_sdk_cloudfront::Client::from_conf(config);
    let create = |distribution: String, reference: String, path: &'static str| {
        let batch = aws_sdk_cloudfront::types::InvalidationBatch::builder()
            .caller_reference(reference)
            .paths(
                aws_sdk_cloudfront::types::Paths::builder()
                    .quantity(1)
                    .items(path)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        client
            .create_invalidation()
            .distribution_id(distribution)
            .invalidation_batch(batch)
            .send()
    };
    let held = create(same.clone(), reference(&same), "/css/site.css")
        .await
        .unwrap();
    create(other.clone(), reference(&other), "/elsewhere.css")
        .await
        .unwrap();

    // The function, waiting 5 s for the change to age: the invalidations
    // above were created within that margin of it, so they cover nothing.
    stack.start_function(&[("MARGIN_SECONDS", "5")]);
    let output = stack.invoke(Payload::Json(&event));
    assert!(!output.status.success(), "{output:?}");
    let log = stack.function_log();
    assert!(
        log.contains(&format!(
            "already has an invalidation with caller reference {}",
            reference(&other)
        )) && log.contains("InvalidationBatchAlreadyExists"),
        "{log}"
    );
    assert!(
        log.contains(&format!("invalidation_id={}", held.invalidation().unwrap().id())),
        "the function took CloudFront's answer for its own: {log}"
    );
    let proxy = stack.proxy();
    let counters = proxy.counters();
    assert_eq!(
        (counters.replayed, counters.conflicts, counters.forwarded),
        (1, 1, 2),
        "{counters:?}"
    );
    assert_eq!(
        proxy
            .log()
            .iter()
            .filter(|l| l.starts_with(&format!("POST /2020-05-31/distribution/{other}/")))
            .count(),
        2,
        "the conflict is not retried: {:?}",
        proxy.log()
    );
    // Nothing billed but the other client's two invalidations.
    assert_eq!(
        stack.new_invalidations(&same, &mut Vec::new()).await,
        [["/css/site.css"]]
    );
    assert_eq!(
        stack.new_invalidations(&other, &mut Vec::new()).await,
        [["/elsewhere.css"]]
    );
}
