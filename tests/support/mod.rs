//! A local stand-in for the AWS side, shared by the end-to-end tests and the
//! demo: moto server as CloudFront, cargo-lambda's runtime emulator as the
//! Lambda service, and the real function binary polling it.
#![allow(dead_code)]

pub mod fault_proxy;
pub mod figures;
pub mod runtime_api;
pub mod setup;

use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::types::{
    CacheBehavior, CacheBehaviors, CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, Origin,
    OriginProtocolPolicy, Origins, S3OriginConfig, ViewerProtocolPolicy,
};
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// Cargo names the binary for integration tests; the demo and the bench
/// (examples) find it in the target directory, or at `INVALIDATOR_BINARY`.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("INVALIDATOR_BINARY") {
        return PathBuf::from(path);
    }
    match option_env!("CARGO_BIN_EXE_cloudfront-invalidator") {
        Some(path) => PathBuf::from(path),
        None => Path::new(MANIFEST_DIR).join("target/debug/cloudfront-invalidator"),
    }
}

/// What a sample in events/ must give with the default settings: the paths
/// invalidated in every distribution (no origin path), the keys ignored, and
/// the units (SQS messages) reported as failed.
pub struct Expect {
    pub file: &'static str,
    pub paths: &'static [&'static str],
    pub ignored: &'static [&'static str],
    pub failed_units: &'static [usize],
}

const fn expect(
    file: &'static str,
    paths: &'static [&'static str],
    ignored: &'static [&'static str],
) -> Expect {
    Expect {
        file,
        paths,
        ignored,
        failed_units: &[],
    }
}

pub const EXPECTED: &[Expect] = &[
    expect("s3-put.json", &["/css/site.css"], &[]),
    expect("s3-delete.json", &["/blog/old-post.html"], &[]),
    expect("s3-multi-record.json", &["/js/app.js", "/video/intro.mp4"], &[]),
    expect(
        "s3-special-keys.json",
        &[
            "/%E6%97%A5%E6%9C%AC%E8%AA%9E",
            "/%E6%97%A5%E6%9C%AC%E8%AA%9E/",
            "/%E6%97%A5%E6%9C%AC%E8%AA%9E/index.html",
            // ~alice/profile.html: a '~' has no path that certainly matches
            // (see path.rs), so a wildcard over its prefix, here everything.
            "/*",
            "/a=b&c;d@e,f.txt",
            "/data/items%5B2%5D.json",
            "/docs/annual%20report%202026.pdf",
            "/faq/why%3F.html",
            "/img/caf%C3%A9-cr%C3%A8me.jpg",
            "/lib/c++-primer.html",
            "/notes/issue%2342.txt",
            "/sale/50%25-off.html",
        ],
        &[],
    ),
    expect(
        "s3-origin-path.json",
        &["/media/uploads/avatar.png", "/static/css/app.css"],
        &[],
    ),
    expect("s3-lifecycle-transition.json", &[], &["archive/2019/report.pdf"]),
    // Objects a lifecycle rule expires are gone from S3 and must go from the edges too.
    expect(
        "s3-lifecycle-expiration.json",
        &["/promo/black-friday.html", "/tmp/preview/landing%20page.html"],
        &[],
    ),
    expect("s3-test-event.json", &[], &[]),
    // A versioned bucket: a noncurrent version expired changes nothing a
    // viewer gets; the current version expired (a delete marker) does, and
    // so may a version deleted by hand (it may be the current one).
    expect(
        "s3-versioned-bucket.json",
        &["/js/app.js", "/promo/summer.html"],
        &["css/site.css"],
    ),
    expect("sns-s3.json", &["/fonts/inter.woff2"], &[]),
    // Both readings of a key with '+': EventBridge does not document its encoding.
    expect(
        "eventbridge-object-created.json",
        &["/reports/q3%20summary.pdf", "/reports/q3+summary.pdf"],
        &[],
    ),
    expect("eventbridge-object-deleted.json", &["/old/page.html"], &[]),
    expect(
        "eventbridge-lifecycle-expiration.json",
        &["/promo/black-friday.html"],
        &[],
    ),
    // The root index document is also cached as "/".
    expect("sqs-s3-batch.json", &["/", "/css/site.css", "/index.html"], &[]),
    expect("sqs-test-event.json", &[], &[]),
    expect("sqs-sns-s3.json", &["/blog/2026/11/launch.html"], &[]),
    expect(
        "sqs-eventbridge.json",
        &["/img/logo.svg", "/img/old-logo.svg"],
        &[],
    ),
    Expect {
        file: "sqs-poison-message.json",
        paths: &["/js/app.js", "/js/vendor.js"],
        ignored: &[],
        failed_units: &[1],
    },
];

/// Samples checked by tests of their own rather than through [`EXPECTED`].
pub const CHECKED_ELSEWHERE: &[&str] = &["sqs-collectstatic.json"];

pub fn event_path(file: &str) -> PathBuf {
    Path::new(MANIFEST_DIR).join("events").join(file)
}

/// A plain HTTP client for the local stand-ins (the SDKs bring none).
pub fn http_client() -> aws_sdk_cloudfront::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_http()
}

/// Where tests, the demo and the benches keep their files (function logs,
/// large events): inside the project's target directory, never /tmp.
pub fn scratch_dir() -> PathBuf {
    let dir = Path::new(MANIFEST_DIR).join("target/scratch");
    std::fs::create_dir_all(&dir).expect("create target/scratch");
    dir
}

/// The path of a tool, or a failure that says how to get it: a missing tool
/// must never turn into a skipped test.
pub fn require(tool: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{tool} not found on PATH. Run the tests through `make test` (it installs moto and \
                 cargo-lambda into .venv), or `make tools` and put .venv/bin on PATH."
            )
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening on {port}: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} did not listen on {port} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills the process when dropped, so a failing test leaves nothing behind.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

static DISTRIBUTIONS: AtomicUsize = AtomicUsize::new(0);

pub struct Stack {
    pub moto_port: u16,
    pub runtime_port: u16,
    pub cloudfront: Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    // Dropped in reverse order of start: function, emulator, moto.
    function: Option<Guard>,
    _emulator: Guard,
    _moto: Guard,
}

impl Stack {
    /// Starts moto server and the runtime emulator, each on a free port.
    pub async fn start() -> Stack {
        Stack::start_with_timeout(None).await
    }

    /// Like [`Stack::start`], with the function timeout the emulator applies
    /// (its invocation deadline), in seconds.
    pub async fn start_with_timeout(timeout_secs: Option<u32>) -> Stack {
        let (moto_bin, lambda_bin) = (require("moto_server"), require("cargo-lambda"));
        let moto_port = free_port();
        let mut moto = Command::new(moto_bin)
            .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        wait_for_port(moto_port, "moto_server", &mut moto);

        let runtime_port = free_port();
        let mut emulator = Command::new(lambda_bin)
            .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P"])
            .arg(runtime_port.to_string())
            .args(timeout_secs.map(|t| format!("--timeout={t}")))
            .current_dir(MANIFEST_DIR)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cargo lambda watch");
        wait_for_port(runtime_port, "cargo lambda watch", &mut emulator);

        let shared = aws_types::SdkConfig::builder()
            .http_client(http_client())
            .behavior_version(aws_sdk_cloudfront::config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_cloudfront::config::SharedCredentialsProvider::new(
                aws_sdk_cloudfront::config::Credentials::for_tests(),
            ))
            .endpoint_url(format!("http://127.0.0.1:{moto_port}"))
            .build();
        Stack {
            moto_port,
            runtime_port,
            cloudfront: Client::new(&shared),
            sqs: aws_sdk_sqs::Client::new(&shared),
            sns: aws_sdk_sns::Client::new(&shared),
            function: None,
            _emulator: Guard(emulator),
            _moto: Guard(moto),
        }
    }

    /// Creates a distribution in moto with an S3 origin and returns its ID.
    pub async fn create_distribution(&self, bucket: &str, origin_path: &str) -> String {
        let reference = format!(
            "{bucket}{origin_path}#{}",
            DISTRIBUTIONS.fetch_add(1, Ordering::Relaxed)
        );
        let domain = format!("{bucket}.s3.us-east-1.amazonaws.com");
        let out = self
            .cloudfront
            .create_distribution()
            .distribution_config(distribution_config(&reference, &domain, origin_path))
            .send()
            .await
            .unwrap();
        out.distribution().unwrap().id().to_owned()
    }

    /// Creates a distribution in moto whose one origin is the custom domain
    /// `domain` (a CNAME of a bucket, say); returns its ID.
    pub async fn create_distribution_at(&self, domain: &str) -> String {
        let reference = format!("{domain}#{}", DISTRIBUTIONS.fetch_add(1, Ordering::Relaxed));
        let origin = Origin::builder()
            .id("custom")
            .domain_name(domain)
            .origin_path("")
            .custom_origin_config(
                CustomOriginConfig::builder()
                    .http_port(80)
                    .https_port(443)
                    .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let config = DistributionConfig::builder()
            .caller_reference(reference)
            .comment("local stand-in")
            .enabled(true)
            .origins(Origins::builder().quantity(1).items(origin).build().unwrap())
            .default_cache_behavior(
                DefaultCacheBehavior::builder()
                    .target_origin_id("custom")
                    .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let out = self
            .cloudfront
            .create_distribution()
            .distribution_config(config)
            .send()
            .await
            .unwrap();
        out.distribution().unwrap().id().to_owned()
    }

    /// Creates a distribution in moto with one S3 origin on `bucket` per
    /// origin path (`s3-0`, `s3-1`...), the default behavior to the first and
    /// each (path pattern, origin) of `behaviors` before it; returns its ID.
    pub async fn create_distribution_with(
        &self,
        bucket: &str,
        origin_paths: &[&str],
        behaviors: &[(&str, usize)],
    ) -> String {
        let reference = format!("{bucket}#{}", DISTRIBUTIONS.fetch_add(1, Ordering::Relaxed));
        let domain = format!("{bucket}.s3.us-east-1.amazonaws.com");
        let origins: Vec<Origin> = origin_paths
            .iter()
            .enumerate()
            .map(|(n, path)| {
                Origin::builder()
                    .id(format!("s3-{n}"))
                    .domain_name(&domain)
                    .origin_path(*path)
                    .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
                    .build()
                    .unwrap()
            })
            .collect();
        let listed: Vec<CacheBehavior> = behaviors
            .iter()
            .map(|(pattern, origin)| {
                CacheBehavior::builder()
                    .path_pattern(*pattern)
                    .target_origin_id(format!("s3-{origin}"))
                    .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                    .build()
                    .unwrap()
            })
            .collect();
        let default = DefaultCacheBehavior::builder()
            .target_origin_id("s3-0")
            .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
            .build()
            .unwrap();
        let config = DistributionConfig::builder()
            .caller_reference(reference)
            .comment("local stand-in")
            .enabled(true)
            .origins(
                Origins::builder()
                    .quantity(origins.len() as i32)
                    .set_items(Some(origins))
                    .build()
                    .unwrap(),
            )
            .default_cache_behavior(default)
            .cache_behaviors(
                CacheBehaviors::builder()
                    .quantity(listed.len() as i32)
                    .set_items(Some(listed))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let out = self
            .cloudfront
            .create_distribution()
            .distribution_config(config)
            .send()
            .await
            .unwrap();
        out.distribution().unwrap().id().to_owned()
    }

    /// Changes the origin path of a distribution's first origin, as a user
    /// editing it in the console would.
    pub async fn set_origin_path(&self, id: &str, origin_path: &str) {
        let got = self
            .cloudfront
            .get_distribution_config()
            .id(id)
            .send()
            .await
            .unwrap();
        let config = got.distribution_config().unwrap();
        let domain = config.origins().unwrap().items()[0].domain_name();
        let config = distribution_config(config.caller_reference(), domain, origin_path);
        self.cloudfront
            .update_distribution()
            .id(id)
            .if_match(got.e_tag().unwrap_or_default())
            .distribution_config(config)
            .send()
            .await
            .unwrap();
    }

    /// Deletes a distribution.
    pub async fn delete_distribution(&self, id: &str) {
        let got = self
            .cloudfront
            .get_distribution_config()
            .id(id)
            .send()
            .await
            .unwrap();
        self.cloudfront
            .delete_distribution()
            .id(id)
            .if_match(got.e_tag().unwrap_or_default())
            .send()
            .await
            .unwrap();
    }

    /// Starts the function binary against the emulator and moto, with `env`.
    pub fn start_function(&mut self, env: &[(&str, &str)]) {
        self.start_function_via(self.moto_port, env);
    }

    /// Starts the function with its CloudFront endpoint on `cloudfront_port`
    /// (a fault proxy in front of moto).
    pub fn start_function_via(&mut self, cloudfront_port: u16, env: &[(&str, &str)]) {
        let log = std::fs::File::create(self.function_log_path()).unwrap();
        let runtime_api = format!("http://127.0.0.1:{}/.rt", self.runtime_port);
        let child = function_command(cloudfront_port, Some(runtime_api), env)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the function binary");
        self.function = Some(Guard(child));
    }

    /// Starts the function with only what the Lambda runtime sets (its API,
    /// the function's name, version and memory) and `env`: no credentials,
    /// region or endpoint unless `env` gives them (a profile, say).
    pub fn start_function_with_only(&mut self, env: &[(&str, &str)]) {
        let log = std::fs::File::create(self.function_log_path()).unwrap();
        let child = Command::new(binary())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{}/.rt", self.runtime_port),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .envs(env.iter().copied())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the function binary");
        self.function = Some(Guard(child));
    }

    fn function_log_path(&self) -> PathBuf {
        scratch_dir().join(format!("function-{}.log", self.runtime_port))
    }

    /// What the function has logged so far.
    pub fn function_log(&self) -> String {
        std::fs::read_to_string(self.function_log_path()).unwrap_or_default()
    }

    /// Invokes the running function through the emulator, as `cargo lambda
    /// invoke`; a function that never answers fails the test after 3 minutes
    /// instead of hanging it.
    pub fn invoke(&self, data: Payload) -> Output {
        let mut cmd = Command::new(require("cargo-lambda"));
        cmd.args([
            "lambda",
            "invoke",
            "_",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
        ])
        .arg(self.runtime_port.to_string())
        .args(["--output-format", "json", "--color", "never"])
        .current_dir(MANIFEST_DIR);
        let mut written = None;
        match data {
            Payload::File(path) => cmd.arg("--data-file").arg(path),
            Payload::Text(text) => cmd.arg("--data-ascii").arg(text),
            // Large events do not fit in one command-line argument (128 KiB).
            Payload::Json(value) => {
                let n = PAYLOADS.fetch_add(1, Ordering::Relaxed);
                let path = scratch_dir().join(format!("event-{}-{n}.json", std::process::id()));
                std::fs::write(&path, value.to_string()).unwrap();
                written = Some(path.clone());
                cmd.arg("--data-file").arg(path)
            }
        };
        let output = output_within(&mut cmd, Duration::from_secs(180), || self.function_log());
        if let Some(path) = written {
            let _ = std::fs::remove_file(path);
        }
        output
    }

    /// The IDs of every invalidation moto holds for a distribution,
    /// following ListInvalidations' pages.
    async fn invalidation_ids(&self, distribution: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .cloudfront
                .list_invalidations()
                .distribution_id(distribution)
                .max_items(1000)
                .set_marker(marker.clone())
                .send()
                .await
                .unwrap();
            let Some(list) = page.invalidation_list() else {
                break;
            };
            ids.extend(list.items().iter().map(|s| s.id().to_owned()));
            match list.next_marker() {
                Some(next) if list.is_truncated() && !next.is_empty() => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        ids
    }

    /// The paths of one invalidation, sorted.
    async fn invalidation_paths(&self, distribution: &str, id: &str) -> Vec<String> {
        let got = self
            .cloudfront
            .get_invalidation()
            .distribution_id(distribution)
            .id(id)
            .send()
            .await
            .unwrap();
        let mut paths = got
            .invalidation()
            .unwrap()
            .invalidation_batch()
            .unwrap()
            .paths()
            .unwrap()
            .items()
            .to_vec();
        paths.sort();
        paths
    }

    /// Every invalidation moto holds for a distribution, with its paths.
    pub async fn all_invalidations(&self, distribution: &str) -> Vec<Vec<String>> {
        self.new_invalidations(distribution, &mut Vec::new()).await
    }

    /// The paths of every invalidation moto holds for a distribution whose
    /// ID is not in `seen`, which then records them.
    pub async fn new_invalidations(&self, distribution: &str, seen: &mut Vec<String>) -> Vec<Vec<String>> {
        let mut found = Vec::new();
        for id in self.invalidation_ids(distribution).await {
            if !seen.contains(&id) {
                found.push(self.invalidation_paths(distribution, &id).await);
                seen.push(id);
            }
        }
        found
    }
}

/// A distribution with one S3 origin, `domain`, through `origin_path`.
fn distribution_config(reference: &str, domain: &str, origin_path: &str) -> DistributionConfig {
    let origin = Origin::builder()
        .id("s3-origin")
        .domain_name(domain)
        .origin_path(origin_path)
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .unwrap();
    DistributionConfig::builder()
        .caller_reference(reference)
        .origins(Origins::builder().quantity(1).items(origin).build().unwrap())
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("s3-origin")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .unwrap(),
        )
        .comment("local stand-in")
        .enabled(true)
        .build()
        .unwrap()
}

/// Runs `cmd` to its end, or panics after `limit` with `context()`. The
/// output is read as it comes, so a large answer never blocks the pipe.
fn output_within(cmd: &mut Command, limit: Duration, context: impl Fn() -> String) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cargo lambda invoke");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for cargo lambda invoke") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("no answer within {limit:?}; the function's log:\n{}", context());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

pub enum Payload<'a> {
    File(&'a Path),
    Text(&'a str),
    Json(&'a serde_json::Value),
}

static PAYLOADS: AtomicUsize = AtomicUsize::new(0);

/// An SQS batch of `n` S3 upload notifications (keys `prefix/file-00000.css`...),
/// built from the sample put event, each message with its own ID and sequencer.
pub fn sqs_batch(n: usize, prefix: &str) -> serde_json::Value {
    let keys: Vec<String> = (0..n).map(|i| format!("{prefix}/file-{i:05}.css")).collect();
    sqs_batch_of(&keys, 0)
}

/// An SQS batch with one S3 upload notification per key (keys as S3 sends
/// them, URL-encoded); message IDs and sequencers count from `first`.
pub fn sqs_batch_of(keys: &[String], first: usize) -> serde_json::Value {
    let put = sample_put();
    let records: Vec<serde_json::Value> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| sqs_record(&put, first + i, key))
        .collect();
    serde_json::json!({ "Records": records })
}

/// Now, in UTC. (chrono's `Utc::now` needs its `clock` feature, which the
/// function does not use: enabling it for the tests alone would build the
/// dependencies that use chrono twice, once for the tests, once for the
/// binary.)
pub fn utc_now() -> chrono::DateTime<chrono::Utc> {
    std::time::SystemTime::now().into()
}

/// `at` as S3 writes an `eventTime` and CloudFront a `CreateTime`.
pub fn aws_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `event` (a direct S3 event) as if S3 reported its changes just now: an
/// invalidation made after its own time covers nothing yet (see `cover`), so
/// only the caller reference stands between a redelivery and a second bill.
pub fn just_now(mut event: serde_json::Value) -> serde_json::Value {
    let now = aws_time(utc_now());
    for record in event["Records"].as_array_mut().expect("an S3 event") {
        record["eventTime"] = now.clone().into();
    }
    event
}

/// The sample put event, the template of generated S3 notifications.
pub fn sample_put() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(event_path("s3-put.json")).unwrap()).unwrap()
}

/// The message ID [`sqs_record`] gives message `index`.
pub fn message_id(index: usize) -> String {
    format!("00000000-0000-4000-8000-{index:012}")
}

/// One SQS message carrying an S3 upload notification of `key` (as S3 sends
/// it), with an ID and sequencer derived from `index`.
pub fn sqs_record(put: &serde_json::Value, index: usize, key: &str) -> serde_json::Value {
    let mut record = put["Records"][0].clone();
    record["s3"]["object"]["key"] = key.into();
    record["s3"]["object"]["sequencer"] = format!("{index:016X}").into();
    serde_json::json!({
        "messageId": message_id(index),
        "receiptHandle": format!("handle-{index}"),
        "body": serde_json::json!({"Records": [record]}).to_string(),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:changes",
        "awsRegion": "us-east-1"
    })
}

/// The function binary with the environment Lambda would give it, pointed at
/// `cloudfront_port` for CloudFront and (when given) at a Runtime API.
pub fn function_command(cloudfront_port: u16, runtime_api: Option<String>, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env(
            "AWS_ENDPOINT_URL_CLOUDFRONT",
            format!("http://127.0.0.1:{cloudfront_port}"),
        )
        // SQS and SNS too (the fault proxy passes them on to moto).
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{cloudfront_port}"))
        // A change waits 2 s to age before it is invalidated, not the
        // default minute: these tests run on real time. The minute itself is
        // tested on virtual time (tests/cloudfront.rs, tests/sim).
        .env("MARGIN_SECONDS", "2");
    if let Some(address) = runtime_api {
        cmd.env("AWS_LAMBDA_RUNTIME_API", address);
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// Reads one HTTP/1.1 request: head and Content-Length body.
pub fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf)
}
