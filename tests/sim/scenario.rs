//! What a seed runs: a family of situations (a Django deploy repeated, a
//! 20,000-file deploy, random changes to a versioned bucket, a crowded
//! distribution, discovery, many planners at once, a site whose cache keys
//! hold query strings) and, within it, every setting drawn from the seed:
//! wiring, distributions, their origin paths and cache behaviors, MAX_PATHS,
//! concurrency, fault rates, the bucket's history.

use crate::rng::Rng;
use crate::s3::History;
use crate::world::Faults;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wiring {
    /// S3 invokes the function for each object (asynchronous invocations).
    Direct,
    /// S3 notifies the change queue.
    Queue,
    /// The bucket's EventBridge events go to the change queue.
    EventBridge,
}

impl Wiring {
    pub fn name(self) -> &'static str {
        match self {
            Wiring::Direct => "direct",
            Wiring::Queue => "queue",
            Wiring::EventBridge => "eventbridge",
        }
    }
}

/// A distribution of the account: serving the bucket under an origin path,
/// or something else.
#[derive(Debug, Clone)]
pub struct DistributionSpec {
    pub id: String,
    /// The bucket's origin path (`/static`, or empty); `None`: it serves
    /// another bucket.
    pub origin: Option<String>,
    /// The origin's domain (REST or website endpoint).
    pub domain: String,
    /// Listed in DISTRIBUTION_IDS (when not auto).
    pub listed: bool,
    /// Its cache behaviors in CloudFront's order, the default (`*`) last.
    pub behaviors: Vec<BehaviorSpec>,
}

/// A cache behavior: its path pattern, and whether it sends viewers to the
/// distribution's origin (else to an API elsewhere) with query strings in
/// the cache key.
#[derive(Debug, Clone)]
pub struct BehaviorSpec {
    pub pattern: String,
    pub to_origin: bool,
    pub query_strings: bool,
}

impl BehaviorSpec {
    pub fn new(pattern: &str, to_origin: bool, query_strings: bool) -> BehaviorSpec {
        BehaviorSpec {
            pattern: pattern.into(),
            to_origin,
            query_strings,
        }
    }
}

pub struct Scenario {
    pub seed: u64,
    pub family: &'static str,
    pub wiring: Wiring,
    pub distributions: Vec<DistributionSpec>,
    pub auto: bool,
    pub max_paths: usize,
    /// The change mapping's MaximumConcurrency, or the function's reserved
    /// concurrency in the direct wiring.
    pub concurrency: usize,
    pub batch_size: usize,
    pub window_s: u64,
    pub history: History,
    pub faults: Faults,
    /// Another client's invalidations at the start: (files, wildcards) per
    /// distribution serving the bucket.
    pub other_client: Option<(usize, usize)>,
    pub edges: usize,
    pub completion_s: (u64, u64),
    /// EventBridge sends keys form-encoded (else raw).
    pub eventbridge_encoded: bool,
    /// How often a viewer asks for a URL just before it changes.
    pub race: f64,
    /// The function sends nothing (`DRY_RUN`): the checks must then fail.
    pub dry_run: bool,
}

pub const FAMILIES: [&str; 7] = [
    "collectstatic",
    "mixed",
    "crowded",
    "auto",
    "planners",
    "big",
    "query",
];

/// Object keys of every awkward shape a site has.
const SPECIAL: [&str; 16] = [
    "docs/annual report 2026.pdf",
    "lib/c++-primer.html",
    "img/café-crème.jpg",
    "日本語/index.html",
    "notes/issue#42.txt",
    "sale/50%-off.html",
    "faq/why?.html",
    "~alice/profile.html",
    "data/items[2].json",
    "a=b&c;d@e,f.txt",
    "reports/q3 summary.pdf",
    "odd/star*name.txt",
    "blog/2026/11/launch.html",
    "index.html",
    "about/index.html",
    "emoji/🎉 party.html",
];

fn static_files(rng: &mut Rng, n: usize) -> Vec<String> {
    let apps = ["admin", "site", "blog", "shop"];
    let kinds = [("css", "css"), ("js", "js"), ("img", "png"), ("fonts", "woff2")];
    let mut keys: Vec<String> = (0..n)
        .map(|i| {
            let app = rng.pick(&apps);
            let (dir, ext) = rng.pick(&kinds);
            if rng.chance(0.3) {
                format!("static/{app}/{dir}/file{i}.{:012x}.{ext}", rng.next_u64() >> 16)
            } else {
                format!("static/{app}/{dir}/file{i}.{ext}")
            }
        })
        .collect();
    keys.push("static/staticfiles.json".into());
    keys.sort();
    keys.dedup();
    keys
}

fn spec(id: &str, origin: Option<&str>, domain: &str, listed: bool) -> DistributionSpec {
    DistributionSpec {
        id: id.into(),
        origin: origin.map(Into::into),
        domain: domain.into(),
        listed,
        behaviors: vec![BehaviorSpec::new("*", true, false)],
    }
}

const BUCKET: &str = "site-bucket";
const REST: &str = "site-bucket.s3.amazonaws.com";
const WEBSITE: &str = "site-bucket.s3-website-us-east-1.amazonaws.com";

impl Scenario {
    pub fn for_seed(seed: u64, family: Option<&str>) -> Scenario {
        let mut rng = Rng::new(seed);
        let family = match family {
            Some(f) => FAMILIES
                .iter()
                .find(|&&n| n == f)
                .copied()
                .unwrap_or("collectstatic"),
            None => *rng.pick(&FAMILIES[..5]),
        };
        let mut s = Scenario {
            seed,
            family,
            wiring: Wiring::Queue,
            distributions: vec![spec("E1SITE", Some(""), REST, true)],
            auto: false,
            max_paths: *rng.pick(&[100, 100, 50, 300, 0]),
            concurrency: 2,
            batch_size: 10_000,
            window_s: 60,
            history: History::new(BUCKET, false, &[]),
            faults: Faults {
                cloudfront: rng.between(0, 50) as f64 / 100.0,
                sqs: rng.between(0, 30) as f64 / 100.0,
                sns: rng.between(0, 30) as f64 / 100.0,
            },
            other_client: None,
            edges: 3,
            completion_s: (60, 900),
            eventbridge_encoded: rng.chance(0.5),
            race: 0.3,
            dry_run: false,
        };
        if rng.chance(0.4) {
            s.distributions
                .push(spec("E2STATIC", Some("/static"), REST, true));
        }
        match family {
            "collectstatic" => s.collectstatic(&mut rng, 3, 6),
            "mixed" => s.mixed(&mut rng),
            "crowded" => {
                s.collectstatic(&mut rng, 2, 4);
                s.other_client = Some((rng.between(1_000, 2_900) as usize, rng.between(11, 14) as usize));
            }
            "auto" => s.discovery(&mut rng),
            "planners" => s.planners(&mut rng),
            "query" => s.query_strings(&mut rng),
            _ => s.big(&mut rng),
        }
        if family != "big" {
            s.some_keyed_on_query_strings(seed);
        }
        s.history.seal();
        s
    }

    /// In a quarter of the seeds, a distribution serving the bucket keys on
    /// query strings. Drawn apart from the rest, so that a seed runs the same
    /// site with and without the option.
    fn some_keyed_on_query_strings(&mut self, seed: u64) {
        let mut rng = Rng::new(seed ^ 0x5155_4552_5953);
        for d in self.distributions.iter_mut().filter(|d| d.origin.is_some()) {
            if rng.chance(0.25) {
                for behavior in d.behaviors.iter_mut().filter(|b| b.to_origin) {
                    behavior.query_strings = true;
                }
            }
        }
    }

    /// A Django site deployed again and again behind a distribution whose
    /// default behavior keys on query strings (`?v=` cache busting, links
    /// with `?utm_source=`), `/static/*` keyed or not, and `/api/*` sent to
    /// an API: keys under `api/` in the bucket are never served from it.
    fn query_strings(&mut self, rng: &mut Rng) {
        self.distributions[0].behaviors = vec![
            BehaviorSpec::new("/api/*", false, true),
            BehaviorSpec::new("/static/*", true, rng.chance(0.5)),
            BehaviorSpec::new("*", true, true),
        ];
        self.collectstatic(rng, 3, 5);
        let mut keys: Vec<String> = self.history.initial.keys().cloned().collect();
        let api: Vec<String> = (0..5).map(|i| format!("api/v{i}.json")).collect();
        keys.extend(api.iter().cloned());
        let mut all: Vec<(i64, String)> = self
            .history
            .changes
            .iter()
            .map(|c| (c.at_ms, c.key.clone()))
            .collect();
        all.extend(api.into_iter().map(|k| (rng.between(10_000, 300_000) as i64, k)));
        all.sort();
        self.history = History::new(BUCKET, self.history.versioned, &keys);
        for (t, key) in all {
            self.history.put(rng, t, &key);
        }
    }

    /// A Django site deployed again and again (collectstatic uploads each
    /// changed file and staticfiles.json), a deploy every few minutes, often
    /// while the last one's invalidations are in progress.
    fn collectstatic(&mut self, rng: &mut Rng, least: u64, most: u64) {
        self.wiring = if rng.chance(0.3) {
            Wiring::EventBridge
        } else {
            Wiring::Queue
        };
        let n = rng.between(150, 450) as usize;
        let mut keys = static_files(rng, n);
        keys.extend(["index.html", "about/index.html"].map(String::from));
        self.history = History::new(BUCKET, rng.chance(0.3), &keys);
        let mut at = 30_000i64;
        for _ in 0..rng.between(least, most) {
            let spread = rng.between(10_000, 40_000) as i64;
            let mut times: Vec<(i64, &String)> = Vec::new();
            for key in &keys {
                if key.ends_with("staticfiles.json") || rng.chance(0.6) {
                    times.push((at + rng.below(spread as u64) as i64, key));
                }
            }
            times.sort();
            for (t, key) in times {
                self.history.put(rng, t, key);
            }
            at += spread + rng.between(60_000, 480_000) as i64;
        }
    }

    /// Random puts, deletes, version deletes and lifecycle expirations of a
    /// small site with every awkward key, in any wiring; notifications late
    /// and twice more often.
    fn mixed(&mut self, rng: &mut Rng) {
        self.wiring = *rng.pick(&[Wiring::Direct, Wiring::Queue, Wiring::EventBridge]);
        if self.wiring == Wiring::Direct {
            self.concurrency = rng.between(2, 10) as usize;
        }
        let mut keys: Vec<String> = SPECIAL.iter().map(|k| k.to_string()).collect();
        let n = rng.between(20, 80) as usize;
        keys.extend(static_files(rng, n));
        let versioned = rng.chance(0.5);
        self.history = History::new(BUCKET, versioned, &keys);
        self.history.late = 0.05;
        self.history.twice = 0.05;
        let span = rng.between(600_000, 2_400_000);
        let mut times: Vec<i64> = (0..rng.between(80, 300))
            .map(|_| rng.below(span) as i64)
            .collect();
        times.sort();
        for t in times {
            let key = rng.pick(&keys).clone();
            match rng.below(100) {
                0..=54 => self.history.put(rng, t, &key),
                55..=69 => self.history.delete(rng, t, &key),
                70..=79 if versioned => self.history.delete_version(rng, t, &key),
                _ => self.history.expire(rng, t, &key),
            }
        }
    }

    /// DISTRIBUTION_IDS=auto: distributions found by their origins, some
    /// serving the bucket under /static only, some other buckets; keys
    /// outside every origin path served by none.
    fn discovery(&mut self, rng: &mut Rng) {
        self.auto = true;
        let domain = if rng.chance(0.5) { REST } else { WEBSITE };
        self.distributions = vec![
            spec(
                "E1SITE",
                Some(if rng.chance(0.5) { "" } else { "/static" }),
                domain,
                false,
            ),
            spec("E3OTHER", None, "other-bucket.s3.amazonaws.com", false),
            spec("E4API", None, "api.example.com", false),
        ];
        if rng.chance(0.6) {
            self.distributions
                .push(spec("E2STATIC", Some("/static"), REST, false));
        }
        for i in 0..rng.between(0, 3) {
            self.distributions.push(spec(
                &format!("E9X{i}"),
                None,
                "elsewhere.s3.amazonaws.com",
                false,
            ));
        }
        self.collectstatic(rng, 2, 4);
        // Some changes outside /static.
        let pages: Vec<String> = (0..20).map(|i| format!("pages/p{i}.html")).collect();
        let times: Vec<i64> = {
            let mut t: Vec<i64> = (0..20).map(|_| rng.between(10_000, 600_000) as i64).collect();
            t.sort();
            t
        };
        let mut all: Vec<(i64, String)> = self
            .history
            .changes
            .iter()
            .map(|c| (c.at_ms, c.key.clone()))
            .collect();
        all.extend(times.into_iter().zip(pages.iter().cloned()));
        all.sort();
        let mut keys: Vec<String> = self.history.initial.keys().cloned().collect();
        keys.extend(pages);
        self.history = History::new(BUCKET, false, &keys);
        for (t, key) in all {
            self.history.put(rng, t, &key);
        }
    }

    /// Many environments planning for one distribution at once: overlapping
    /// deploys, tight wildcard room, CloudFront slow to answer.
    fn planners(&mut self, rng: &mut Rng) {
        self.concurrency = rng.between(3, 5) as usize;
        self.batch_size = *rng.pick(&[100, 500, 10_000]);
        self.window_s = rng.between(0, 20);
        self.max_paths = rng.between(5, 40) as usize;
        self.faults.cloudfront = rng.between(30, 50) as f64 / 100.0;
        self.collectstatic(rng, 4, 8);
        self.other_client = Some((rng.between(0, 2_000) as usize, rng.between(4, 10) as usize));
    }

    /// 20,000 new files in three and a half minutes, four environments, two
    /// distributions, half of CloudFront's answers faulted.
    fn big(&mut self, rng: &mut Rng) {
        self.concurrency = 4;
        self.faults.cloudfront = 0.5;
        self.max_paths = 100;
        self.distributions = vec![
            spec("E1SITE", Some(""), REST, true),
            spec("E2STATIC", Some("/static"), REST, true),
        ];
        let keys: Vec<String> = (0..20_000)
            .map(|i| format!("static/d{}/f{i}.css", i % 100))
            .collect();
        self.history = History::new(BUCKET, false, &[]);
        self.race = 0.02;
        for (i, key) in keys.iter().enumerate() {
            self.history.put(rng, 5_000 + (i as i64) * 210_000 / 20_000, key);
        }
    }

    /// The function's settings in this scenario.
    pub fn settings(&self, queue_url: &str, watch_url: &str) -> Vec<(&'static str, String)> {
        let ids = if self.auto {
            "auto".to_string()
        } else {
            self.distributions
                .iter()
                .filter(|d| d.listed)
                .map(|d| match d.origin.as_deref() {
                    Some(o) if !o.is_empty() => format!("{}={o}", d.id),
                    _ => d.id.clone(),
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut settings = vec![
            ("DISTRIBUTION_IDS", ids),
            ("MAX_PATHS", self.max_paths.to_string()),
            ("MAX_CONCURRENCY", self.concurrency.to_string()),
            ("WATCH_QUEUE_URL", watch_url.into()),
            (
                "FRESH_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:fresh".into(),
            ),
        ];
        if self.wiring != Wiring::Direct {
            settings.push(("QUEUE_URL", queue_url.into()));
        }
        if self.dry_run {
            settings.push(("DRY_RUN", "true".into()));
        }
        settings
    }
}
