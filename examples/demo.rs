//! `make demo`: a local CloudFront (moto server) with a demo distribution, the
//! function under cargo-lambda's runtime emulator, every file in events/
//! invoked, and what CloudFront received for each. Stops all it started.

#[path = "../tests/support/mod.rs"]
mod support;
use support::{EXPECTED, Payload, Stack, event_path};

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

    let mut seen = Vec::new();
    let mut files: Vec<&str> = EXPECTED.iter().map(|(f, ..)| *f).collect();
    files.sort();
    for file in files {
        let output = stack.invoke(Payload::File(&event_path(file)));
        println!("events/{file}");
        let received = stack.new_invalidations(&distribution, &mut seen).await;
        for paths in &received {
            println!(
                "  CloudFront received an invalidation of {} path(s):",
                paths.len()
            );
            for path in paths {
                println!("    {path}");
            }
        }
        let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        if summary["test_event"] == true {
            println!("  no invalidation: S3's test event, sent when a notification is configured");
        }
        for skipped in summary["ignored"].as_array().into_iter().flatten() {
            println!(
                "  no invalidation for {}: {}",
                skipped["key"],
                skipped["reason"].as_str().unwrap_or("")
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
