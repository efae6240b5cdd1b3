//! `make demo`: a local CloudFront (moto server) with a demo distribution, the
//! function under cargo-lambda's runtime emulator, every file in events/
//! invoked, and what CloudFront received for each. Stops all it started.

#[path = "../tests/support/mod.rs"]
mod support;
use serde_json::Value;
use support::{CHECKED_ELSEWHERE, EXPECTED, Payload, Stack, event_path};

const SHOWN: usize = 12;

#[tokio::main]
async fn main() {
    let mut stack = Stack::start().await;
    let distribution = stack.create_distribution("example-static-site", "").await;
    stack.start_function(&[("DISTRIBUTION_IDS", &distribution)]);
    println!(
        "Local CloudFront (moto) on 127.0.0.1:{}, distribution {distribution}",
        stack.moto_port
    );
    println!(
        "Function under cargo lambda's emulator on 127.0.0.1:{}\n",
        stack.runtime_port
    );

    let mut files: Vec<&str> = EXPECTED
        .iter()
        .map(|e| e.file)
        .chain(CHECKED_ELSEWHERE.iter().copied())
        .collect();
    files.sort();
    let mut seen = Vec::new();
    for file in files {
        let output = stack.invoke(Payload::File(&event_path(file)));
        let response: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        println!("events/{file}");
        let received = stack.new_invalidations(&distribution, &mut seen).await;
        for paths in &received {
            println!(
                "  CloudFront received an invalidation of {} path(s):",
                paths.len()
            );
            for path in paths.iter().take(SHOWN) {
                println!("    {path}");
            }
            if paths.len() > SHOWN {
                println!("    ... and {} more", paths.len() - SHOWN);
            }
        }
        if response["test_event"] == true {
            println!("  no invalidation: S3's test event, sent when a notification is configured");
        }
        for skipped in response["ignored"].as_array().into_iter().flatten() {
            let reason = skipped["reason"].as_str().unwrap_or("");
            println!("  no invalidation for {}: {reason}", skipped["key"]);
        }
        for failed in response["batchItemFailures"].as_array().into_iter().flatten() {
            let id = &failed["itemIdentifier"];
            println!(
                "  SQS message {id} reported as failed: it goes back to the queue, then to the dead-letter queue"
            );
        }
        if received.is_empty() && response.get("batchItemFailures").is_some() {
            println!(
                "  no invalidation: nothing in this batch changes what CloudFront serves (see the log below)"
            );
        }
        if !output.status.success() {
            println!(
                "  the function failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        println!();
    }
    println!("Function log:\n{}", stack.function_log());
}
