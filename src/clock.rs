//! Time as the function sees it: the wall clock, to compare with the times
//! S3 and CloudFront report, and the invocation's deadline, which every call
//! of an invocation shares. Monotonic time is tokio's, which a paused runtime
//! moves on by itself, and the wall clock is given, so that the simulation
//! (tests/sim) runs the function on virtual time.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Milliseconds since the Unix epoch, from the system or from a simulation.
#[derive(Clone)]
pub struct Clock {
    now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::from_fn(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        })
    }

    pub fn from_fn(now_ms: impl Fn() -> i64 + Send + Sync + 'static) -> Clock {
        Clock {
            now_ms: Arc::new(now_ms),
        }
    }

    pub fn now_ms(&self) -> i64 {
        (self.now_ms)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now_ms())
    }
}

/// Kept free before the deadline to answer: the response, and the log lines.
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(2);
/// A call given less time than this is not started.
pub const MIN_CALL_TIME: Duration = Duration::from_secs(1);

/// When the invocation must have answered. Every AWS call of an invocation
/// gets at most what is left of it, less [`DEADLINE_RESERVE`]: a call that
/// outlived the invocation would make Lambda retry the whole event, and send
/// again in other company what CloudFront already accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn at(instant: Instant) -> Deadline {
        Deadline(instant)
    }

    pub fn after(time: Duration) -> Deadline {
        Deadline(Instant::now() + time)
    }

    pub fn instant(&self) -> Instant {
        self.0
    }

    /// Time left until the deadline.
    pub fn left(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// How long a call may take now: what is left less the reserve, at most
    /// `cap`; `None` when that is under [`MIN_CALL_TIME`].
    pub fn for_call(&self, cap: Duration) -> Option<Duration> {
        let time = self.left().saturating_sub(DEADLINE_RESERVE).min(cap);
        (time >= MIN_CALL_TIME).then_some(time)
    }
}
