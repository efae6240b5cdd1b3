//! The pure planning code: parsing an SQS batch of S3 notifications and
//! planning its invalidations, and encoding keys into paths.

use cloudfront_invalidator::config::Distributions;
use cloudfront_invalidator::path::{InvalidationPath, decode_key};
use cloudfront_invalidator::{Config, event, plan};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::hint::black_box;

fn sqs_batch(n: usize) -> Value {
    let put: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/s3-put.json"
    )))
    .unwrap();
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let mut record = put["Records"][0].clone();
            record["s3"]["object"]["key"] = json!(format!("static/app-{}/file+{i:05}%C3%A9.css", i % 50));
            record["s3"]["object"]["sequencer"] = json!(format!("{i:016X}"));
            json!({"messageId": format!("m-{i}"), "eventSource": "aws:sqs",
                   "body": json!({"Records": [record]}).to_string()})
        })
        .collect();
    json!({ "Records": records })
}

fn benches(c: &mut Criterion) {
    let config = Config::from_pairs(&[("DISTRIBUTION_IDS", "E1ABC,E2DEF")]).unwrap();
    let Distributions::Listed(targets) = &config.distributions else {
        unreachable!()
    };
    let targets = plan::Targets::Same(targets);
    let mut group = c.benchmark_group("sqs batch: parse + plan (default budget)");
    for n in [10, 1_000, 10_000] {
        let event = sqs_batch(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &event, |b, event| {
            b.iter(|| {
                let units = event::parse(black_box(event)).unwrap().units;
                let demands = plan::demands(&units, &config, &targets, &Default::default());
                plan::plan(&units, demands, &config, &Default::default())
            })
        });
    }
    group.finish();

    let keys = [
        "css/site.css",
        "docs/annual+report+2026.pdf",
        "%E6%97%A5%E6%9C%AC/%E8%AA%9E.html",
        "a%3Db%26c.txt",
    ];
    c.bench_function("key to path (4 keys)", |b| {
        b.iter(|| {
            for key in keys {
                black_box(InvalidationPath::for_key(&decode_key(black_box(key)).unwrap()));
            }
        })
    });
}

criterion_group!(plan_benches, benches);
criterion_main!(plan_benches);
