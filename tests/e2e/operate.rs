//! What an operator relies on, through the real binary under cargo-lambda's
//! emulator, with moto as SQS and SNS and the fault proxy as a CloudFront that
//! keeps invalidations in progress: the metrics in the log match what
//! happened, each invalidation is followed to Completed through the watch
//! queue (time to fresh, a notice), messages waiting for room come back in a
//! minute, and a Lambda on-failure record is replayed without a second bill.
//! Two tests wait about a minute each for SQS's own clock (a delayed message,
//! a changed visibility), which no stand-in moves on.

use super::support::fault_proxy::{Fault, Rule};
use super::support::setup::Setup;
use super::support::{self, Payload, Stack, event_path};
use super::{failed_ids, output_json};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Every metric value the function wrote to its log (embedded metric
/// format), summed per metric name and dimension set (`Name{Dim=v,...}`).
fn metrics_in(log: &str) -> BTreeMap<String, f64> {
    let mut found = BTreeMap::new();
    for line in log.lines().filter(|l| l.starts_with("{\"_aws\"")) {
        let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let namespace = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(namespace["Namespace"], "Ops/Test", "{line}");
        let dimensions: Vec<String> = namespace["Dimensions"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                format!(
                    "{}={}",
                    d.as_str().unwrap(),
                    doc[d.as_str().unwrap()].as_str().unwrap()
                )
            })
            .collect();
        for metric in namespace["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            let values: Vec<f64> = match &doc[name] {
                Value::Array(values) => values.iter().map(|v| v.as_f64().unwrap()).collect(),
                value => vec![value.as_f64().unwrap()],
            };
            *found
                .entry(format!("{name}{{{}}}", dimensions.join(",")))
                .or_default() += values.iter().sum::<f64>();
        }
    }
    found
}

async fn queue(stack: &Stack, name: &str, visibility: u32) -> String {
    let out = stack
        .sqs
        .create_queue()
        .queue_name(name)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            visibility.to_string(),
        )
        .send()
        .await
        .unwrap();
    out.queue_url().unwrap().to_owned()
}

/// Receives what the queue shows within `wait`, as Lambda's SQS event.
async fn receive(stack: &Stack, queue_url: &str, wait: Duration) -> Value {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let got = stack
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send()
            .await
            .unwrap();
        let records: Vec<Value> = got
            .messages()
            .iter()
            .map(|m| {
                let count = m
                    .attributes()
                    .and_then(|a| {
                        a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                    })
                    .cloned()
                    .unwrap_or_else(|| "1".into());
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": {"ApproximateReceiveCount": count},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                    "awsRegion": "us-east-1"
                })
            })
            .collect();
        if !records.is_empty() || std::time::Instant::now() > deadline {
            return json!({ "Records": records });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn metrics_in_the_log_count_what_happened() {
    let stack = Setup::new()
        .distributions(2)
        .faults(|ids| vec![Rule::creates_at(&ids[1], Fault::TOO_MANY_IN_PROGRESS)])
        .env("METRICS_NAMESPACE", "Ops/Test")
        .start()
        .await;
    let [fine, busy] = stack.ids();
    // Three messages, one of them poison: two changes (one key twice), three paths.
    let response = output_json(&stack.invoke(Payload::File(&event_path("sqs-poison-message.json"))));
    assert_eq!(failed_ids(&response).len(), 3);
    output_json(&stack.invoke(Payload::File(&event_path("s3-test-event.json"))));
    let metrics = metrics_in(&stack.function_log());
    let want = |name: &str, value: f64| {
        assert_eq!(metrics.get(name).copied(), Some(value), "{name} in {metrics:#?}");
    };
    want("ColdStart{}", 1.0);
    for d in [&fine, &busy] {
        want(&format!("ChangesSeen{{Distribution={d}}}"), 2.0);
        want(&format!("PathsSubmitted{{Distribution={d}}}"), 2.0);
    }
    want("ChangesSeen{}", 4.0);
    want("PathsRequested{}", 4.0);
    want("PathsSubmitted{}", 4.0);
    want(&format!("InvalidationsCreated{{Distribution={fine}}}"), 1.0);
    want("InvalidationsCreated{}", 1.0);
    want(
        &format!("RequestsFailed{{Distribution={busy},Reason=TooManyInProgress}}"),
        1.0,
    );
    want("RequestsFailed{Reason=TooManyInProgress}", 1.0);
    want("RequestsFailed{}", 1.0);
    want("RecordsRejected{}", 1.0);
    want("MessagesReportedForRetry{}", 3.0);
    assert!(!metrics.contains_key("WildcardPaths{}"), "{metrics:#?}");
}

#[tokio::test]
async fn each_invalidation_is_followed_until_fresh_through_the_watch_queue() {
    let mut stack = Setup::new()
        .distributions(1)
        .hold(Duration::from_secs(300))
        .start_without_function()
        .await;
    let [id] = stack.ids();
    let watch = queue(&stack, "watch", 180).await;
    let notices = queue(&stack, "notices", 30).await;
    let topic = stack.sns.create_topic().name("fresh").send().await.unwrap();
    let topic = topic.topic_arn().unwrap().to_owned();
    let notices_arn = "arn:aws:sqs:us-east-1:123456789012:notices";
    stack
        .sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(notices_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    stack.start_function(&[
        ("METRICS_NAMESPACE", "Ops/Test"),
        ("WATCH_QUEUE_URL", &watch),
        ("FRESH_TOPIC_ARN", &topic),
    ]);
    // An upload S3 reported now; the function invalidates it and sends a
    // watch, which SQS holds for a minute.
    let mut event: Value = support::sample_put();
    let changed = support::utc_now();
    event["Records"][0]["eventTime"] = support::aws_time(changed).into();
    let summary = output_json(&stack.invoke(Payload::Json(&event)));
    let invalidation = summary["invalidations"][0]["invalidation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        receive(&stack, &watch, Duration::ZERO).await["Records"],
        json!([]),
        "held a minute"
    );

    // A minute later: CloudFront still works on it, so it comes back.
    let first = receive(&stack, &watch, Duration::from_secs(75)).await;
    let body: Value = serde_json::from_str(first["Records"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["watch"]["invalidation_id"], invalidation.as_str());
    assert_eq!(body["watch"]["distribution"], id.as_str());
    assert_eq!(
        failed_ids(&output_json(&stack.invoke(Payload::Json(&first)))).len(),
        1
    );

    // Completed meanwhile; the function set the message to come back in a
    // minute, not after the queue's 180 s.
    stack.proxy().advance(Duration::from_secs(300));
    let second = receive(&stack, &watch, Duration::from_secs(75)).await;
    assert_eq!(
        second["Records"].as_array().unwrap().len(),
        1,
        "back within a minute"
    );
    assert_eq!(
        failed_ids(&output_json(&stack.invoke(Payload::Json(&second)))),
        Vec::<String>::new()
    );

    let log = stack.function_log();
    let fresh: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" fresh ") || l.ends_with(" fresh"))
        .collect();
    assert_eq!(fresh.len(), 1, "{log}");
    assert!(
        fresh[0].contains(&format!("invalidation_id={invalidation}")),
        "{}",
        fresh[0]
    );
    let metrics = metrics_in(&log);
    let to_fresh = metrics[&format!("SecondsToFresh{{Distribution={id}}}")];
    let waited = (support::utc_now() - changed).num_milliseconds() as f64 / 1000.0;
    assert!(
        (100.0..=waited + 1.0).contains(&to_fresh),
        "{to_fresh} s, waited {waited} s"
    );
    assert!(metrics[&format!("SecondsInProgress{{Distribution={id}}}")] <= to_fresh);
    assert_eq!(metrics.get("InvalidationsCompleted{}"), Some(&1.0));
    // The notice reached the topic's subscriber.
    let notice = receive(&stack, &notices, Duration::from_secs(10)).await;
    let notice: Value = serde_json::from_str(notice["Records"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(notice["invalidation_id"], invalidation.as_str());
    assert_eq!(notice["fresh"], true);
}

#[tokio::test]
async fn messages_waiting_for_room_come_back_in_a_minute() {
    // The distribution holds 15 wildcards and 2,999 paths in progress (made
    // through the proxy by another client): no room at all.
    let mut stack = Setup::new()
        .distributions(1)
        .hold(Duration::from_secs(3600))
        .start_without_function()
        .await;
    let [id] = stack.ids();
    let paths: Vec<String> = (0..2999)
        .map(|i| format!("/other/{i}"))
        .chain((0..15).map(|i| format!("/w{i}/*")))
        .collect();
    let client = {
        let config = aws_sdk_cloudfront::Config::builder()
            .http_client(support::http_client())
            .behavior_version(aws_sdk_cloudfront::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudfront::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_cloudfront::config::Credentials::for_tests())
            .endpoint_url(format!("http://127.0.0.1:{}", stack.cloudfront_port()))
            .build();
        aws_sdk_cloudfront::Client::from_conf(config)
    };
    let batch = aws_sdk_cloudfront::types::InvalidationBatch::builder()
        .caller_reference("other-client")
        .paths(
            aws_sdk_cloudfront::types::Paths::builder()
                .quantity(paths.len() as i32)
                .set_items(Some(paths))
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
        .await
        .unwrap();

    // The changes queue hides a received message for 23 minutes.
    let changes = queue(&stack, "changes", 1380).await;
    stack.start_function(&[("QUEUE_URL", &changes)]);
    // A wildcard's worth of changes (a few exact paths are sent unread).
    let put = support::sample_put();
    let mut record = put["Records"][0].clone();
    record["s3"]["object"]["key"] = "docs/%7Ealice/notes.html".into();
    let body = json!({"Records": [record]}).to_string();
    stack
        .sqs
        .send_message()
        .queue_url(&changes)
        .message_body(body)
        .send()
        .await
        .unwrap();
    let event = receive(&stack, &changes, Duration::from_secs(5)).await;
    assert_eq!(
        failed_ids(&output_json(&stack.invoke(Payload::Json(&event)))).len(),
        1
    );
    let proxy = stack.proxy();
    assert_eq!(proxy.counters().refused, 0, "no refused call: {:?}", proxy.log());
    let log = stack.function_log();
    assert!(log.contains("no room at distribution"), "{log}");
    // Back after about a minute (its first receive), not 23.
    let again = receive(&stack, &changes, Duration::from_secs(75)).await;
    assert_eq!(again["Records"][0]["messageId"], event["Records"][0]["messageId"]);
    assert_eq!(again["Records"][0]["attributes"]["ApproximateReceiveCount"], "2");
}

#[tokio::test]
async fn a_redriven_on_failure_record_is_invalidated_once_not_twice() {
    // bucket-to-function: Lambda parks a failed event in the dead-letter
    // queue as an on-failure record. Here the event's request was accepted
    // by one distribution and failed for the other (deleted since: now fixed
    // by the user), so the record holds a change half invalidated. Replayed
    // in the same execution environment, the change is covered at the first
    // distribution by the invalidation made since (no request), and only the
    // other distribution gets a new invalidation. Replayed again in a new
    // environment, which remembers nothing, both are covered by what it reads
    // from CloudFront: no request at all.
    let access_denied = Fault::Error {
        status: 403,
        code: "AccessDenied",
    };
    let mut stack = Setup::new()
        .distributions(2)
        .faults(|ids| vec![Rule::creates_at(&ids[1], access_denied)])
        .start()
        .await;
    let [accepted, failing] = stack.ids();
    let event: Value = support::sample_put();
    let first = stack.invoke(Payload::Json(&event));
    assert!(!first.status.success());
    // The record Lambda's on-failure destination would write.
    let record = json!({
        "version": "1.0",
        "timestamp": "2026-11-25T10:16:31.000Z",
        "requestContext": {
            "requestId": "e4f2c9b0-6a45-4d7e-9d1c-1a2b3c4d5e6f",
            "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:invalidator:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "InvalidationFailed", "errorMessage": "..."}
    });
    stack.proxy().set_rules(vec![]);
    let replayed = output_json(&stack.invoke(Payload::Json(&record)));
    assert_eq!(replayed["invalidations"].as_array().unwrap().len(), 1);
    assert_eq!(replayed["invalidations"][0]["distribution"], failing.as_str());
    assert_eq!(replayed["distributions"][0]["covered"], 1, "{replayed}");
    let counters = stack.proxy().counters();
    assert_eq!(counters.replayed, 0, "{counters:?}");
    // A new execution environment.
    stack.start_function(&[]);
    let replayed = output_json(&stack.invoke(Payload::Json(&record)));
    assert_eq!(replayed["invalidations"], json!([]), "{replayed}");
    assert_eq!(replayed["distributions"][0]["covered"], 1, "{replayed}");
    assert_eq!(replayed["distributions"][1]["covered"], 1, "{replayed}");
    assert_eq!(
        stack.new_invalidations(&accepted, &mut Vec::new()).await,
        [["/css/site.css"]]
    );
    assert_eq!(
        stack.new_invalidations(&failing, &mut Vec::new()).await,
        [["/css/site.css"]]
    );
    let counters = stack.proxy().counters();
    assert_eq!(counters.replayed, 0, "{counters:?}");
}

#[tokio::test]
async fn a_bucket_no_distribution_serves_is_a_metric_until_bucket_domains_names_its_cname() {
    let mut stack = Stack::start().await;
    // The distribution reaches the bucket through a CNAME: not one of S3's
    // endpoints, so discovery cannot tell it serves the bucket.
    let cname = stack.create_distribution_at("assets.example.com").await;
    let env = [("DISTRIBUTION_IDS", "auto"), ("METRICS_NAMESPACE", "Ops/Test")];
    stack.start_function(&env);
    let summary = output_json(&stack.invoke(Payload::File(&event_path("s3-put.json"))));
    assert_eq!(
        summary["ignored"][0]["reason"],
        "no distribution has an S3 origin for bucket \"example-static-site\""
    );
    let log = stack.function_log();
    assert!(
        log.contains("no distribution serves bucket example-static-site"),
        "{log}"
    );
    let metrics = metrics_in(&log);
    assert_eq!(
        metrics.get("ChangesServedByNoDistribution{}").copied(),
        Some(1.0),
        "{metrics:#?}"
    );
    assert!(stack.new_invalidations(&cname, &mut Vec::new()).await.is_empty());

    // Named in BUCKET_DOMAINS, the CNAME is the bucket.
    stack.start_function(&[env[0], env[1], ("BUCKET_DOMAINS", "Assets.Example.com")]);
    output_json(&stack.invoke(Payload::File(&event_path("s3-put.json"))));
    assert_eq!(
        stack.new_invalidations(&cname, &mut Vec::new()).await,
        [["/css/site.css"]]
    );
    assert!(!metrics_in(&stack.function_log()).contains_key("ChangesServedByNoDistribution{}"));
}
