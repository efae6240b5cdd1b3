//! End to end: the real binary under cargo-lambda's runtime emulator, invoked
//! with the sample events, against moto server as CloudFront. Asserts what
//! CloudFront recorded, exactly.

mod support;
use serde_json::Value;
use support::{EXPECTED, Payload, Stack, event_path, function_command};

fn summary(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "invoke failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn every_sample_event_invalidates_exactly_its_paths_in_every_distribution() {
    let mut stack = Stack::start().await;
    let first = stack.create_distribution("example-static-site", "").await;
    let second = stack.create_distribution("example-static-site", "").await;
    stack.start_function(&[("DISTRIBUTION_IDS", &format!("{first},{second}"))]);
    let (mut seen_first, mut seen_second) = (Vec::new(), Vec::new());

    for (file, paths, ignored) in EXPECTED {
        let output = stack.invoke(Payload::File(&event_path(file)));
        let summary = summary(&output);
        let want: Vec<Vec<String>> = if paths.is_empty() {
            vec![]
        } else {
            vec![paths.iter().map(|p| p.to_string()).collect()]
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
        let ignored_keys: Vec<&str> = summary["ignored"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["key"].as_str().unwrap())
            .collect();
        assert_eq!(ignored_keys, *ignored, "{file}");
        assert_eq!(summary["test_event"], *file == "s3-test-event.json", "{file}");
    }
    let log = stack.function_log();
    assert!(
        log.contains(&format!("invalidation created distribution={first}")),
        "{log}"
    );
    assert!(log.contains("S3 test event received"), "{log}");
}

#[tokio::test]
async fn origin_path_maps_keys_and_ignores_the_rest() {
    let mut stack = Stack::start().await;
    let id = stack.create_distribution("example-static-site", "/static").await;
    stack.start_function(&[("DISTRIBUTION_IDS", &id), ("ORIGIN_PATH", "/static")]);
    let summary = summary(&stack.invoke(Payload::File(&event_path("s3-origin-path.json"))));
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
    for (file, ..) in EXPECTED {
        summary(&stack.invoke(Payload::File(&event_path(file))));
    }
    let summary = summary(&stack.invoke(Payload::File(&event_path("s3-special-keys.json"))));
    assert_eq!(summary["dry_run"], true);
    assert_eq!(summary["invalidations"][0]["paths"].as_array().unwrap().len(), 10);
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
    let output = function_command(1, Some(1), &[("DISTRIBUTION_IDS", "E1,not-an-id")])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("DISTRIBUTION_IDS: \"not-an-id\" is not a CloudFront distribution ID"),
        "{text}"
    );
}
