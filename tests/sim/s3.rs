//! S3, as a history decided before the run: each change to the bucket with
//! its true time, what viewers get after it, and when its notification
//! arrives (late, out of order, or twice); and the notifications themselves
//! as S3 and EventBridge write them. Versioned buckets keep versions and
//! delete markers, so that removing a noncurrent version changes nothing a
//! viewer gets.

use crate::invariants::form_encode;
use crate::rng::Rng;
use crate::world::{BASE_MS, iso};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One change S3 reports.
#[derive(Debug, Clone)]
pub struct Change {
    /// When S3 made it, in ms from the start of the run.
    pub at_ms: i64,
    pub key: String,
    pub event_name: &'static str,
    /// The version ID the notification carries (versioned buckets).
    pub version: Option<String>,
    pub sequencer: String,
    /// What a viewer gets after it: a version of the object, or nothing.
    pub content: Option<u64>,
    /// Whether what a viewer gets changed.
    pub changes_view: bool,
    /// When its notification is delivered, in ms from the start: once, or
    /// twice.
    pub deliveries: Vec<i64>,
    /// EventBridge's reason (`PutObject`, `DeleteObject`, `Lifecycle Expiration`).
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
enum Entry {
    Version(u64),
    Marker(u64),
}

/// The bucket and everything that happens to it.
pub struct History {
    pub bucket: String,
    pub versioned: bool,
    /// What viewers get at the start (every key of the site exists).
    pub initial: BTreeMap<String, u64>,
    pub changes: Vec<Change>,
    state: BTreeMap<String, Vec<Entry>>,
    /// Per key, (time, content) of each change, in time order: see [`History::seal`].
    timeline: BTreeMap<String, Vec<(i64, Option<u64>)>>,
    next_version: u64,
    sequence: u64,
    /// How often a notification is late, and delivered twice.
    pub late: f64,
    pub twice: f64,
}

impl History {
    pub fn new(bucket: &str, versioned: bool, keys: &[String]) -> History {
        let mut history = History {
            bucket: bucket.into(),
            versioned,
            initial: BTreeMap::new(),
            changes: Vec::new(),
            state: BTreeMap::new(),
            timeline: BTreeMap::new(),
            next_version: 1,
            sequence: 0,
            late: 0.02,
            twice: 0.02,
        };
        for key in keys {
            let v = history.version();
            history.initial.insert(key.clone(), v);
            history.state.insert(key.clone(), vec![Entry::Version(v)]);
        }
        history
    }

    fn version(&mut self) -> u64 {
        self.next_version += 1;
        self.next_version
    }

    fn current(&self, key: &str) -> Option<u64> {
        match self.state.get(key).and_then(|e| e.last()) {
            Some(Entry::Version(v)) => Some(*v),
            _ => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        rng: &mut Rng,
        at_ms: i64,
        key: &str,
        event_name: &'static str,
        version: Option<String>,
        before: Option<u64>,
        reason: &'static str,
    ) {
        self.sequence += 1;
        let content = self.current(key);
        let first = at_ms + rng.between(100, 3000) as i64;
        let first = if rng.chance(self.late) {
            at_ms + rng.between(30_000, 600_000) as i64
        } else {
            first
        };
        let mut deliveries = vec![first];
        if rng.chance(self.twice) {
            deliveries.push(first + rng.between(1_000, 300_000) as i64);
        }
        self.changes.push(Change {
            at_ms,
            key: key.into(),
            event_name,
            version,
            sequencer: format!("{:016X}", 0x0000_62E0_0000_0000_u64 + self.sequence),
            content,
            // Any new upload changes what viewers get (S3 reports it whatever
            // its bytes); a removal only if there was something to remove.
            changes_view: event_name.starts_with("ObjectCreated") || content != before,
            deliveries,
            reason,
        });
    }

    /// An upload (Put, Copy or the completion of a multipart upload).
    pub fn put(&mut self, rng: &mut Rng, at_ms: i64, key: &str) {
        let before = self.current(key);
        let v = self.version();
        let entries = self.state.entry(key.into()).or_default();
        if !self.versioned {
            entries.clear();
        }
        entries.push(Entry::Version(v));
        let name = *rng.pick(&[
            "ObjectCreated:Put",
            "ObjectCreated:Put",
            "ObjectCreated:Put",
            "ObjectCreated:Copy",
            "ObjectCreated:CompleteMultipartUpload",
        ]);
        let version = self.versioned.then(|| format!("v{v}"));
        let reason = if name.ends_with("Copy") {
            "CopyObject"
        } else if name.ends_with("Upload") {
            "CompleteMultipartUpload"
        } else {
            "PutObject"
        };
        self.record(rng, at_ms, key, name, version, before, reason);
    }

    /// A user's DELETE of the key (no version): a delete marker in a
    /// versioned bucket.
    pub fn delete(&mut self, rng: &mut Rng, at_ms: i64, key: &str) {
        let before = self.current(key);
        if self.versioned {
            let m = self.version();
            self.state.entry(key.into()).or_default().push(Entry::Marker(m));
            self.record(
                rng,
                at_ms,
                key,
                "ObjectRemoved:DeleteMarkerCreated",
                Some(format!("m{m}")),
                before,
                "DeleteObject",
            );
        } else {
            self.state.remove(key);
            self.record(
                rng,
                at_ms,
                key,
                "ObjectRemoved:Delete",
                None,
                before,
                "DeleteObject",
            );
        }
    }

    /// A user's DELETE of one version, the current one or an older one
    /// (versioned buckets).
    pub fn delete_version(&mut self, rng: &mut Rng, at_ms: i64, key: &str) {
        let before = self.current(key);
        let Some(entries) = self.state.get_mut(key).filter(|e| !e.is_empty()) else {
            return;
        };
        let i = rng.below(entries.len() as u64) as usize;
        let id = match entries.remove(i) {
            Entry::Version(v) => format!("v{v}"),
            Entry::Marker(m) => format!("m{m}"),
        };
        self.record(
            rng,
            at_ms,
            key,
            "ObjectRemoved:Delete",
            Some(id),
            before,
            "DeleteObject",
        );
    }

    /// A lifecycle rule: in a versioned bucket, a noncurrent version removed
    /// for good (nothing changes for viewers) or the current version expired
    /// (a delete marker); in an unversioned bucket, the object removed.
    pub fn expire(&mut self, rng: &mut Rng, at_ms: i64, key: &str) {
        let before = self.current(key);
        if !self.versioned {
            if self.state.remove(key).is_some() {
                self.record(
                    rng,
                    at_ms,
                    key,
                    "LifecycleExpiration:Delete",
                    None,
                    before,
                    "Lifecycle Expiration",
                );
            }
            return;
        }
        let entries = self.state.entry(key.into()).or_default();
        if entries.len() > 1 && rng.chance(0.7) {
            let id = match entries.remove(0) {
                Entry::Version(v) => format!("v{v}"),
                Entry::Marker(m) => format!("m{m}"),
            };
            self.record(
                rng,
                at_ms,
                key,
                "LifecycleExpiration:Delete",
                Some(id),
                before,
                "Lifecycle Expiration",
            );
        } else if matches!(entries.last(), Some(Entry::Version(_))) {
            let m = self.version();
            self.state.entry(key.into()).or_default().push(Entry::Marker(m));
            self.record(
                rng,
                at_ms,
                key,
                "LifecycleExpiration:DeleteMarkerCreated",
                Some(format!("m{m}")),
                before,
                "Lifecycle Expiration",
            );
        }
    }

    /// Ends the history (changes are made in time order): indexes it.
    pub fn seal(&mut self) {
        debug_assert!(self.changes.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        for change in &self.changes {
            self.timeline
                .entry(change.key.clone())
                .or_default()
                .push((change.at_ms, change.content));
        }
    }

    /// What viewers get for `key` at `t_ms` (from the start of the run).
    pub fn content_at(&self, key: &str, t_ms: i64) -> Option<u64> {
        let initial = self.initial.get(key).copied();
        match self.timeline.get(key) {
            None => initial,
            Some(timeline) => match timeline.partition_point(|&(at, _)| at <= t_ms) {
                0 => initial,
                n => timeline[n - 1].1,
            },
        }
    }

    /// Every key the run touches.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.initial.keys().cloned().collect();
        keys.extend(self.changes.iter().map(|c| c.key.clone()));
        keys.sort();
        keys.dedup();
        keys
    }
}

/// The S3 notification record of `change`; S3's clock is `skew_ms` off.
pub fn s3_record(history: &History, change: &Change, skew_ms: i64) -> Value {
    let mut object = json!({
        "key": form_encode(&change.key),
        "sequencer": change.sequencer,
    });
    if change.event_name.starts_with("ObjectCreated") {
        object["size"] = json!(1024);
        object["eTag"] = json!(format!("{:032x}", change.content.unwrap_or(0)));
    }
    if let Some(version) = &change.version {
        object["versionId"] = json!(version);
    }
    json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": iso(BASE_MS + change.at_ms + skew_ms),
        "eventName": change.event_name,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "192.0.2.1"},
        "responseElements": {"x-amz-request-id": "SIM", "x-amz-id-2": "SIM"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "invalidator",
            "bucket": {
                "name": history.bucket,
                "ownerIdentity": {"principalId": "AEXAMPLE"},
                "arn": format!("arn:aws:s3:::{}", history.bucket)
            },
            "object": object
        }
    })
}

/// The EventBridge event of `change`, put on the bus at `put_ms` (from the
/// start); the key as EventBridge carries it, raw or form-encoded (AWS does
/// not say which: the simulation tries both).
pub fn eventbridge_event(history: &History, change: &Change, put_ms: i64, encoded: bool) -> Value {
    let created = change.event_name.starts_with("ObjectCreated");
    let key = if encoded {
        form_encode(&change.key)
    } else {
        change.key.clone()
    };
    let mut object = json!({"key": key, "sequencer": change.sequencer});
    if let Some(version) = &change.version {
        object["version-id"] = json!(version);
    }
    if created {
        object["size"] = json!(1024);
        object["etag"] = json!(format!("{:032x}", change.content.unwrap_or(0)));
    }
    let mut detail = json!({
        "version": "0",
        "bucket": {"name": history.bucket},
        "object": object,
        "request-id": "SIM",
        "requester": "123456789012",
        "reason": change.reason,
    });
    if !created {
        detail["deletion-type"] = json!(if change.event_name.ends_with("DeleteMarkerCreated") {
            "Delete Marker Created"
        } else {
            "Permanently Deleted"
        });
    }
    json!({
        "version": "0",
        "id": format!("sim-{}", change.sequencer),
        "detail-type": if created { "Object Created" } else { "Object Deleted" },
        "source": "aws.s3",
        "account": "123456789012",
        // EventBridge writes whole seconds.
        "time": iso((BASE_MS + put_ms) / 1000 * 1000).replace(".000Z", "Z"),
        "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{}", history.bucket)],
        "detail": detail
    })
}
