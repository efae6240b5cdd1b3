//! Following an invalidation until CloudFront completes it, without waiting
//! (Lambda bills the wait): the message the function sends itself through the
//! watch queue after creating an invalidation, and what it tells once
//! CloudFront says Completed. Pure: no I/O.

use crate::config::DistributionId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One invalidation to follow, as the watch queue carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    pub distribution: String,
    pub invalidation_id: String,
    /// When the function created it, in milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// When S3 reported the earliest change it covers, if the events said:
    /// the moment the site started to be stale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_ms: Option<i64>,
    pub paths: usize,
}

impl Watch {
    /// The message body: `{"watch": {...}}`.
    pub fn body(&self) -> String {
        serde_json::json!({ "watch": self }).to_string()
    }

    /// The watch a message body holds: `None` when it is no watch message,
    /// `Some(Err)` with what is wrong when it is a broken one.
    pub fn from_body(value: &Value) -> Option<Result<Watch, String>> {
        let inner = value.get("watch")?;
        let watch = serde_json::from_value::<Watch>(inner.clone())
            .map_err(|e| format!("watch message is not one this function sends ({e})"))
            .and_then(|w| match DistributionId::parse(&w.distribution) {
                Ok(_) => Ok(w),
                Err(e) => Err(format!("watch message: {e}")),
            });
        Some(watch)
    }

    /// What the site's freshness took, seen complete at `now_ms`.
    pub fn fresh(&self, now_ms: i64) -> Fresh {
        let seconds = |from: i64| (now_ms - from).max(0) as f64 / 1000.0;
        Fresh {
            seconds_to_fresh: self.changed_ms.map(seconds),
            seconds_in_progress: seconds(self.created_ms),
        }
    }

    /// The completion notice for the fresh topic (JSON).
    pub fn notice(&self, fresh: &Fresh) -> String {
        serde_json::json!({
            "fresh": true,
            "distribution": self.distribution,
            "invalidation_id": self.invalidation_id,
            "paths": self.paths,
            "seconds_to_fresh": fresh.seconds_to_fresh,
            "seconds_in_progress": fresh.seconds_in_progress,
        })
        .to_string()
    }
}

/// Times measured once CloudFront says Completed. The function looks once a
/// minute, so they are late by up to a minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fresh {
    /// From the earliest S3 event to completion, if the events said when.
    pub seconds_to_fresh: Option<f64>,
    /// From creation to completion.
    pub seconds_in_progress: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch() -> Watch {
        Watch {
            distribution: "E1ABC".into(),
            invalidation_id: "I2J0I21PCUYOIK".into(),
            created_ms: 10_000,
            changed_ms: Some(4_000),
            paths: 3,
        }
    }

    #[test]
    fn a_watch_goes_through_its_message_and_back() {
        let body: Value = serde_json::from_str(&watch().body()).unwrap();
        assert_eq!(Watch::from_body(&body), Some(Ok(watch())));
        assert_eq!(Watch::from_body(&serde_json::json!({"Records": []})), None);
        let broken = Watch::from_body(&serde_json::json!({"watch": {"distribution": "E1"}}));
        assert!(
            broken
                .unwrap()
                .unwrap_err()
                .contains("not one this function sends")
        );
        let mut bad_id = serde_json::to_value(watch()).unwrap();
        bad_id["distribution"] = "not-an-id".into();
        let bad = Watch::from_body(&serde_json::json!({ "watch": bad_id }));
        assert!(
            bad.unwrap()
                .unwrap_err()
                .contains("not a CloudFront distribution ID")
        );
    }

    #[test]
    fn freshness_counts_from_the_change_and_from_the_creation() {
        let fresh = watch().fresh(70_000);
        assert_eq!(fresh.seconds_to_fresh, Some(66.0));
        assert_eq!(fresh.seconds_in_progress, 60.0);
        let unknown = Watch {
            changed_ms: None,
            ..watch()
        };
        assert_eq!(unknown.fresh(70_000).seconds_to_fresh, None);
        let notice: Value = serde_json::from_str(&watch().notice(&fresh)).unwrap();
        assert_eq!(notice["invalidation_id"], "I2J0I21PCUYOIK");
        assert_eq!(notice["seconds_to_fresh"], 66.0);
    }
}
