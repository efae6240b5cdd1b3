//! End to end: the real binary under cargo-lambda's runtime emulator, invoked
//! with the sample events, against moto server as CloudFront (with a fault
//! proxy in front where a test needs CloudFront to misbehave). Asserts what
//! CloudFront recorded, exactly.

mod support;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::fault_proxy::{Fault, FaultProxy, Mix, Rule};
use support::runtime_api::RuntimeApi;
use support::{EXPECTED, Guard, Payload, Stack, event_path, function_command, sqs_batch};

fn output_json(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "invoke failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The message IDs a partial batch response reports.
fn failed_ids(response: &Value) -> Vec<String> {
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
    let first = stack.create_distribution("example-static-site", "").await;
    let second = stack.create_distribution("example-static-site", "").await;
    stack.start_function(&[("DISTRIBUTION_IDS", &format!("{first},{second}"))]);
    let (mut seen_first, mut seen_second) = (Vec::new(), Vec::new());

    for expect in EXPECTED {
        let file = expect.file;
        let response = output_json(&stack.invoke(Payload::File(&event_path(file))));
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
    let log = stack.function_log();
    assert!(
        log.contains(&format!("invalidation created distribution={first}")),
        "{log}"
    );
    assert!(log.contains("S3 test event received"), "{log}");
}

#[tokio::test]
async fn a_thousand_message_sqs_batch_makes_one_invalidation_per_distribution() {
    let mut stack = Stack::start().await;
    let first = stack.create_distribution("example-static-site", "").await;
    let second = stack.create_distribution("example-static-site", "").await;
    stack.start_function(&[
        ("DISTRIBUTION_IDS", &format!("{first},{second}")),
        ("MAX_PATHS", "0"),
    ]);
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
    let mut stack = Stack::start().await;
    let busy = stack.create_distribution("example-static-site", "").await;
    let fine = stack.create_distribution("example-static-site", "").await;
    let proxy = FaultProxy::start(
        stack.moto_port,
        vec![Rule {
            request_line_contains: format!("POST /2020-05-31/distribution/{busy}/invalidation"),
            fault: Fault::Error {
                status: 400,
                code: "TooManyInvalidationsInProgress",
            },
        }],
    );
    stack.start_function_via(proxy.port, &[("DISTRIBUTION_IDS", &format!("{busy},{fine}"))]);
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
    let stack = Stack::start().await;
    let slow = stack.create_distribution("example-static-site", "").await;
    let second = stack.create_distribution("example-static-site", "").await;
    let proxy = FaultProxy::start(
        stack.moto_port,
        vec![Rule {
            request_line_contains: format!("POST /2020-05-31/distribution/{slow}/invalidation"),
            fault: Fault::Delay(Duration::from_secs(30)),
        }],
    );
    let api = RuntimeApi::start();
    let _function = Guard(
        function_command(
            proxy.port,
            Some(api.address()),
            &[("DISTRIBUTION_IDS", &format!("{slow},{second}"))],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap(),
    );
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
async fn a_slow_read_of_what_is_in_progress_does_not_hold_the_invalidation_up() {
    // CloudFront answers ListInvalidations only after 30 s: the function
    // reads for at most a third of its 9 s, then invalidates anyway.
    let stack = Stack::start().await;
    let first = stack.create_distribution("example-static-site", "").await;
    let second = stack.create_distribution("example-static-site", "").await;
    let proxy = FaultProxy::start(
        stack.moto_port,
        vec![Rule {
            request_line_contains: "GET /2020-05-31/distribution/".into(),
            fault: Fault::Delay(Duration::from_secs(30)),
        }],
    );
    let api = RuntimeApi::start();
    let _function = Guard(
        function_command(
            proxy.port,
            Some(api.address()),
            &[("DISTRIBUTION_IDS", &format!("{first},{second}"))],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap(),
    );
    let event: Value =
        serde_json::from_str(&std::fs::read_to_string(event_path("sqs-s3-batch.json")).unwrap()).unwrap();
    let started = Instant::now();
    let response = api
        .invoke(&event, Duration::from_secs(9))
        .expect("a batch response");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "answered after its deadline"
    );
    assert!(failed_ids(&response).is_empty(), "{response}");
    for id in [&first, &second] {
        assert_eq!(
            stack.new_invalidations(id, &mut Vec::new()).await,
            [["/", "/css/site.css", "/index.html"]]
        );
    }
}

#[tokio::test]
async fn origin_path_maps_keys_and_ignores_the_rest() {
    let mut stack = Stack::start().await;
    let id = stack.create_distribution("example-static-site", "/static").await;
    stack.start_function(&[("DISTRIBUTION_IDS", &id), ("ORIGIN_PATH", "/static")]);
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
    let mut stack = Stack::start().await;
    let id = stack.create_distribution("example-static-site", "").await;
    stack.start_function(&[("DISTRIBUTION_IDS", &id), ("DRY_RUN", "true")]);
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
    let mut stack = Stack::start().await;
    let id = stack.create_distribution("example-static-site", "").await;
    stack.start_function(&[("DISTRIBUTION_IDS", &id)]);
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
    let mut stack = Stack::start().await;
    stack.start_function(&[("DISTRIBUTION_IDS", "E0000NOSUCH")]);
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

#[test]
fn a_bad_setting_stops_the_function_at_init_naming_the_variable() {
    let output = function_command(
        1,
        Some("127.0.0.1:1".into()),
        &[("DISTRIBUTION_IDS", "E1,not-an-id")],
    )
    .output()
    .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("DISTRIBUTION_IDS: \"not-an-id\" is not a CloudFront distribution ID"),
        "{text}"
    );
}

#[tokio::test]
async fn auto_discovery_finds_the_distributions_of_the_bucket_with_their_origin_paths() {
    let mut stack = Stack::start().await;
    let whole = stack.create_distribution("example-static-site", "").await;
    let static_only = stack.create_distribution("example-static-site", "/static").await;
    let elsewhere = stack.create_distribution("another-bucket", "").await;
    stack.start_function(&[("DISTRIBUTION_IDS", "auto")]);
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
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(event_path("s3-put.json")).unwrap()).unwrap();
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

#[tokio::test]
async fn an_accepted_request_whose_answer_is_lost_is_not_billed_twice() {
    // CloudFront accepts the first attempt but the connection drops before
    // the answer; the SDK retries with the same caller reference and gets the
    // same invalidation back. Then Lambda delivers the same event again.
    let mut stack = Stack::start().await;
    let id = stack.create_distribution("example-static-site", "").await;
    let proxy = FaultProxy::start(stack.moto_port, vec![]);
    proxy.set_mix(Some(Mix {
        rate: 1.0,
        faults: vec![Fault::ResetAfterForward],
        seed: 7,
    }));
    stack.start_function_via(proxy.port, &[("DISTRIBUTION_IDS", &id)]);
    let event = event_path("s3-multi-record.json");
    let (first, retried) = {
        // Only the first attempt is cut; later ones go through.
        let invoke = std::thread::scope(|scope| {
            let handle = scope.spawn(|| stack.invoke(Payload::File(&event)));
            while !proxy.log().iter().any(|l| l.starts_with("POST")) {
                std::thread::sleep(Duration::from_millis(5));
            }
            proxy.set_mix(None);
            handle.join().unwrap()
        });
        (
            output_json(&invoke),
            output_json(&stack.invoke(Payload::File(&event))),
        )
    };
    assert_eq!(
        stack.new_invalidations(&id, &mut Vec::new()).await,
        [["/js/app.js", "/video/intro.mp4"]]
    );
    let counters = proxy.counters();
    assert_eq!(
        (counters.forwarded, counters.replayed, counters.faults),
        (1, 2, 1),
        "{counters:?}"
    );
    assert_eq!(
        first["invalidations"][0]["invalidation_id"],
        retried["invalidations"][0]["invalidation_id"]
    );
}

#[tokio::test]
async fn the_proxy_refuses_a_reused_reference_with_other_paths() {
    // CloudFront's rule, which moto lacks: the function must surface it clearly.
    let stack = Stack::start().await;
    let id = stack.create_distribution("example-static-site", "").await;
    let proxy = FaultProxy::start(stack.moto_port, vec![]);
    let config = aws_sdk_cloudfront::Config::builder()
        .behavior_version(aws_sdk_cloudfront::config::BehaviorVersion::latest())
        .region(aws_sdk_cloudfront::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_cloudfront::config::Credentials::for_tests())
        .endpoint_url(format!("http://127.0.0.1:{}", proxy.port))
        .build();
    let client = aws_sdk_cloudfront::Client::from_conf(config);
    let send = |path: &'static str| {
        let batch = aws_sdk_cloudfront::types::InvalidationBatch::builder()
            .caller_reference("same-ref")
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
            .distribution_id(&id)
            .invalidation_batch(batch)
            .send()
    };
    let first = send("/a.css").await.unwrap();
    let again = send("/a.css").await.unwrap();
    assert_eq!(
        first.invalidation().unwrap().id(),
        again.invalidation().unwrap().id()
    );
    let err = send("/b.css").await.unwrap_err();
    assert_eq!(
        aws_sdk_cloudfront::error::ProvideErrorMetadata::code(&err),
        Some("InvalidationBatchAlreadyExists")
    );
    assert_eq!(stack.new_invalidations(&id, &mut Vec::new()).await.len(), 1);
}
