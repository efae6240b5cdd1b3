//! When the site is fresh: the rules that turn what `wait` sees at each look
//! (the change queue's counts, the dead-letter queue's messages, CloudFront's
//! invalidations) into waiting, fresh or not fresh. Pure: the looks come
//! from `look`, the times from the caller.
//!
//! Never fresh early, whatever the function's timing:
//! 1. The change queue must read empty (nothing waiting, in flight or
//!    delayed) on two looks in a row, the first at least `settle` after the
//!    start. SQS counts lag (AWS: they may not be consistent until a minute
//!    after the producers stop), and S3 takes seconds, sometimes a minute, to
//!    deliver an event: a message for a change made before the start is in
//!    the queue, and counted, by then. A message leaves the queue only once
//!    the function has created the invalidations its changes need (or found
//!    them already covered, or none needed), so an empty queue means every
//!    such invalidation exists. Without a queue (bucket-to-function) nothing
//!    shows what Lambda still holds: invalidations made up to `settle` after
//!    the start count, and a change whose retries ran out is seen in the
//!    dead-letter queue.
//! 2. Then every invalidation CloudFront lists for the stack's distributions,
//!    created from `since` to the moment the queue was empty, must say
//!    Completed, on two looks in a row (a listing may lag too). The function
//!    creates an invalidation after the changes it covers, so one created
//!    before `since` covers none of them. Both ends of that window are
//!    widened by [`SKEW_MS`] for the clocks of this machine and of AWS.
//! 3. A message in the dead-letter queue that reports a change from `since`
//!    on, or that cannot be read, ends the wait at once: that change will
//!    not be invalidated until someone redrives it.

use std::fmt;
use std::time::Duration;

/// How far this machine's clock may be off AWS's.
pub const SKEW_MS: i64 = 5 * 60_000;

/// The change queue's counts (GetQueueAttributes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub waiting: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.waiting + self.in_flight + self.delayed
    }
}

/// One invalidation of one of the stack's distributions (ListInvalidations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalidation {
    pub distribution: String,
    pub id: String,
    pub created_ms: i64,
    pub completed: bool,
}

/// One message of the dead-letter queue, as far as it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// SQS's SentTimestamp: never earlier than the changes it reports (for a
    /// message SQS moved there, when it was first sent; for Lambda's
    /// on-failure record, when Lambda gave up).
    pub sent_ms: i64,
    /// Each change's key and, when the event says, when S3 reported it.
    pub changes: Vec<(String, Option<i64>)>,
    /// Not an event the function understands, or records it could not read.
    pub unreadable: bool,
    /// Why it failed, when the message says (Lambda's on-failure record).
    pub reason: Option<String>,
}

/// What one look saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Look {
    /// Since the start.
    pub elapsed: Duration,
    /// This machine's clock, in ms since the Unix epoch.
    pub now_ms: i64,
    /// `None` without a change queue (bucket-to-function).
    pub queue: Option<Counts>,
    pub dead: Vec<DeadLetter>,
    pub invalidations: Vec<Invalidation>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Waiting(Progress),
    Fresh(Progress),
    /// A change in the dead-letter queue: the line saying which.
    Dead(String),
}

/// Where the wait stands, for the progress line and the timeout's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub elapsed: Duration,
    pub queue: Option<Counts>,
    /// The queue is empty for good (or, without one, the settle time is over).
    pub drained: bool,
    /// How long until an empty queue is believed, while it is not yet.
    pub settling: Option<Duration>,
    /// Invalidations of the window not yet Completed.
    pub in_progress: Vec<Invalidation>,
}

#[derive(Debug, Clone)]
pub struct Freshness {
    since_ms: i64,
    settle: Duration,
    /// The previous look read an empty queue after the settle time.
    empty_before: bool,
    /// When the queue was found empty for good (this machine's clock).
    drained_ms: Option<i64>,
    /// Looks in a row with the queue drained and nothing in progress.
    done_looks: u32,
}

impl Freshness {
    pub fn new(since_ms: i64, settle: Duration) -> Self {
        Freshness {
            since_ms,
            settle,
            empty_before: false,
            drained_ms: None,
            done_looks: 0,
        }
    }

    fn floor_ms(&self) -> i64 {
        self.since_ms - SKEW_MS
    }

    /// A dead letter this wait is about: sent from `since` on, reporting a
    /// change from `since` on, one without a time, or nothing readable.
    pub fn concerns(&self, dead: &DeadLetter) -> bool {
        let floor = self.floor_ms();
        dead.sent_ms >= floor
            && (dead.unreadable || dead.changes.iter().any(|(_, t)| t.is_none_or(|t| t >= floor)))
    }

    pub fn look(&mut self, look: &Look) -> Verdict {
        if let Some(dead) = look.dead.iter().find(|d| self.concerns(d)) {
            return Verdict::Dead(describe(dead));
        }
        let settled = look.elapsed >= self.settle;
        if self.drained_ms.is_none() {
            match look.queue {
                None if settled => self.drained_ms = Some(look.now_ms),
                Some(counts) if settled && counts.total() == 0 => {
                    if self.empty_before {
                        self.drained_ms = Some(look.now_ms);
                    }
                    self.empty_before = true;
                }
                _ => self.empty_before = false,
            }
        }
        let floor = self.floor_ms();
        let cut = self.drained_ms.map_or(i64::MAX, |at| at + SKEW_MS);
        let in_progress: Vec<Invalidation> = look
            .invalidations
            .iter()
            .filter(|i| !i.completed && (floor..=cut).contains(&i.created_ms))
            .cloned()
            .collect();
        let drained = self.drained_ms.is_some();
        self.done_looks = if drained && in_progress.is_empty() {
            self.done_looks + 1
        } else {
            0
        };
        let progress = Progress {
            elapsed: look.elapsed,
            queue: look.queue,
            drained,
            settling: (!settled).then(|| self.settle - look.elapsed),
            in_progress,
        };
        if self.done_looks >= 2 {
            Verdict::Fresh(progress)
        } else {
            Verdict::Waiting(progress)
        }
    }
}

/// The one line about a change in the dead-letter queue.
fn describe(dead: &DeadLetter) -> String {
    let what = match dead.changes.as_slice() {
        [] => "a message the function could not read".to_owned(),
        [(key, time)] => format!("{key}{}", reported(*time)),
        [(key, time), rest @ ..] => format!("{key}{} and {} more", reported(*time), rest.len()),
    };
    let why = dead
        .reason
        .as_deref()
        .map(|r| format!(" (the function's error: {r})"))
        .unwrap_or_default();
    format!("a change reached the dead-letter queue: {what}{why}")
}

fn reported(time_ms: Option<i64>) -> String {
    time_ms
        .map(|t| format!(", reported by S3 at {}", utc(t)))
        .unwrap_or_default()
}

/// `ms` since the Unix epoch as `2026-12-06T10:01:59Z`.
pub fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{ms} ms"))
}

impl fmt::Display for Progress {
    /// `[  40s] queue: 12 waiting, 3 in flight, 0 delayed; 2 invalidations in progress: E2AB/I1 E2AB/I2`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:>5}s] ", self.elapsed.as_secs())?;
        match (self.queue, self.drained) {
            (Some(_), true) => write!(f, "changes: the queue is empty, every one taken by the function")?,
            (Some(c), false) => {
                write!(
                    f,
                    "changes: {} waiting, {} in flight, {} delayed",
                    c.waiting, c.in_flight, c.delayed
                )?;
                if let Some(left) = self.settling {
                    write!(f, " (an empty queue counts in {}s)", left.as_secs().max(1))?;
                }
            }
            (None, true) => write!(
                f,
                "changes: no queue (bucket-to-function), the function's are all listed"
            )?,
            (None, false) => write!(
                f,
                "changes: no queue (bucket-to-function), listing what the function makes for {}s more",
                self.settling.unwrap_or_default().as_secs().max(1)
            )?,
        }
        match self.in_progress.as_slice() {
            [] => write!(f, "; no invalidation in progress"),
            some => {
                let ids: Vec<String> = some
                    .iter()
                    .take(5)
                    .map(|i| format!("{}/{}", i.distribution, i.id))
                    .collect();
                let more = some.len().saturating_sub(ids.len());
                write!(
                    f,
                    "; {} invalidation(s) in progress: {}{}",
                    some.len(),
                    ids.join(" "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SINCE: i64 = 1_800_000_000_000;
    const SETTLE: Duration = Duration::from_secs(120);

    fn at(seconds: u64, queue: Option<u64>, invalidations: &[(&str, i64, bool)]) -> Look {
        Look {
            elapsed: Duration::from_secs(seconds),
            now_ms: SINCE + 60_000 + seconds as i64 * 1000,
            queue: queue.map(|n| Counts {
                waiting: n,
                ..Counts::default()
            }),
            dead: vec![],
            invalidations: invalidations
                .iter()
                .map(|&(id, created_ms, completed)| Invalidation {
                    distribution: "E2AB".into(),
                    id: id.into(),
                    created_ms,
                    completed,
                })
                .collect(),
        }
    }

    fn fresh(verdict: &Verdict) -> bool {
        matches!(verdict, Verdict::Fresh(_))
    }

    #[test]
    fn an_empty_queue_counts_only_after_the_settle_time_twice_in_a_row() {
        let mut rules = Freshness::new(SINCE, SETTLE);
        // The worst case: counts that have not caught up read 0 from the start.
        for s in (0..120).step_by(10) {
            assert!(!fresh(&rules.look(&at(s, Some(0), &[]))), "{s}s");
        }
        // The change's message shows at last: still waiting.
        assert!(!fresh(&rules.look(&at(120, Some(1), &[]))));
        assert!(
            !fresh(&rules.look(&at(130, Some(0), &[]))),
            "one empty look is not enough"
        );
        // Taken: the invalidation it made is in progress.
        let made = SINCE + 100_000;
        assert!(!fresh(&rules.look(&at(140, Some(0), &[("I1", made, false)]))));
        assert!(!fresh(&rules.look(&at(150, Some(0), &[("I1", made, true)]))));
        assert!(fresh(&rules.look(&at(160, Some(0), &[("I1", made, true)]))));
    }

    #[test]
    fn a_listing_that_lags_is_caught_by_the_second_look() {
        let mut rules = Freshness::new(SINCE, Duration::ZERO);
        assert!(!fresh(&rules.look(&at(0, Some(0), &[]))));
        assert!(!fresh(&rules.look(&at(10, Some(0), &[]))));
        // The invalidation made just before the queue emptied shows now.
        assert!(!fresh(&rules.look(&at(
            20,
            Some(0),
            &[("I1", SINCE + 70_000, false)]
        ))));
        assert!(!fresh(&rules.look(&at(
            30,
            Some(0),
            &[("I1", SINCE + 70_000, true)]
        ))));
        assert!(fresh(&rules.look(&at(
            40,
            Some(0),
            &[("I1", SINCE + 70_000, true)]
        ))));
    }

    #[test]
    fn the_window_is_since_to_the_queue_emptied_widened_for_the_clocks() {
        let mut rules = Freshness::new(SINCE, Duration::ZERO);
        let old = SINCE - SKEW_MS - 1;
        let skewed = SINCE - SKEW_MS + 1;
        // Before since (beyond the clocks' allowance): covers no change of this wait.
        let looks = [
            &[("OLD", old, false)][..],
            &[("OLD", old, false), ("SKEW", skewed, false)],
        ];
        rules.look(&at(0, Some(0), looks[0]));
        assert!(!fresh(&rules.look(&at(10, Some(0), looks[0]))));
        assert!(fresh(&rules.look(&at(20, Some(0), looks[0]))));
        // Within the allowance it is waited for.
        let mut rules = Freshness::new(SINCE, Duration::ZERO);
        for s in [0, 10, 20, 30] {
            assert!(!fresh(&rules.look(&at(s, Some(0), looks[1]))));
        }
        // After the queue emptied (plus the allowance): newer changes, not waited for.
        let mut rules = Freshness::new(SINCE, Duration::ZERO);
        rules.look(&at(0, Some(0), &[]));
        rules.look(&at(10, Some(0), &[]));
        let drained = SINCE + 60_000 + 10_000;
        let later = [("NEW", drained + SKEW_MS + 1, false)];
        assert!(fresh(&rules.look(&at(20, Some(0), &later))));
    }

    #[test]
    fn without_a_queue_what_was_made_until_the_settle_time_is_followed() {
        let mut rules = Freshness::new(SINCE, SETTLE);
        let made = SINCE + 90_000;
        assert!(!fresh(&rules.look(&at(0, None, &[]))));
        assert!(!fresh(&rules.look(&at(60, None, &[("I1", made, true)]))));
        // Completed long before the settle time is over: still looking.
        assert!(!fresh(&rules.look(&at(110, None, &[("I1", made, true)]))));
        assert!(!fresh(&rules.look(&at(
            120,
            None,
            &[("I1", made, true), ("I2", made + 60_000, false)]
        ))));
        assert!(!fresh(&rules.look(&at(
            130,
            None,
            &[("I1", made, true), ("I2", made + 60_000, true)]
        ))));
        assert!(fresh(&rules.look(&at(
            140,
            None,
            &[("I1", made, true), ("I2", made + 60_000, true)]
        ))));
    }

    #[test]
    fn a_change_in_the_dead_letter_queue_ends_the_wait_unless_it_is_older() {
        let rules = Freshness::new(SINCE, SETTLE);
        let letter = |sent_ms, time: Option<i64>| DeadLetter {
            sent_ms,
            changes: vec![("css/site.css".into(), time)],
            unreadable: false,
            reason: Some("AccessDenied".into()),
        };
        assert!(rules.concerns(&letter(SINCE + 1000, Some(SINCE + 500))));
        assert!(
            rules.concerns(&letter(SINCE + 1000, None)),
            "no time: it may be ours"
        );
        assert!(
            !rules.concerns(&letter(SINCE - SKEW_MS - 1, None)),
            "sent before since"
        );
        assert!(
            !rules.concerns(&letter(SINCE + 1000, Some(SINCE - SKEW_MS - 1))),
            "an older change, failing now"
        );
        let unreadable = DeadLetter {
            sent_ms: SINCE,
            changes: vec![],
            unreadable: true,
            reason: None,
        };
        assert!(rules.concerns(&unreadable));
        let mut rules = Freshness::new(SINCE, SETTLE);
        let mut look = at(10, Some(0), &[]);
        look.dead = vec![letter(SINCE + 1000, Some(1_800_000_000_500))];
        assert_eq!(
            rules.look(&look),
            Verdict::Dead(
                "a change reached the dead-letter queue: css/site.css, reported by S3 at \
                 2027-01-15T08:00:00Z (the function's error: AccessDenied)"
                    .into()
            )
        );
    }

    #[test]
    fn the_progress_line_says_what_is_pending() {
        let mut rules = Freshness::new(SINCE, SETTLE);
        let mut look = at(40, Some(12), &[("I1", SINCE + 70_000, false)]);
        look.queue = Some(Counts {
            waiting: 12,
            in_flight: 3,
            delayed: 0,
        });
        let Verdict::Waiting(progress) = rules.look(&look) else {
            panic!()
        };
        assert_eq!(
            progress.to_string(),
            "[   40s] changes: 12 waiting, 3 in flight, 0 delayed (an empty queue counts in 80s); \
             1 invalidation(s) in progress: E2AB/I1"
        );
    }
}
