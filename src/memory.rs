//! What an execution environment remembers of one distribution's
//! invalidations, by ID: the ones it created, and the ones it read. An
//! invalidation's paths never change, so they are read once; whether it is
//! still in progress is learnt again at each read. Each is forgotten an hour
//! after it was learnt (an invalidation takes minutes, rarely 40), so what it
//! remembers stays small and recent. Pure: the caller gives the time.

use crate::budget::Held;
use crate::cover::Accepted;
use std::collections::{BTreeMap, BTreeSet};

/// How long an invalidation is remembered after it was learnt.
pub const FORGET_AFTER_MS: i64 = 3_600_000;

#[derive(Debug, Default, Clone)]
pub struct Memory {
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    held: Held,
    in_progress: bool,
    /// Its creation time and paths, when CloudFront said when.
    accepted: Option<Accepted>,
    learnt_ms: i64,
}

impl Memory {
    /// An invalidation with its paths, in progress or not, and, when known,
    /// its creation time (milliseconds since the Unix epoch), learnt at
    /// `now_ms`.
    pub fn remember(
        &mut self,
        id: &str,
        paths: &[String],
        created_ms: Option<i64>,
        now_ms: i64,
        in_progress: bool,
    ) {
        self.entries.retain(|_, e| now_ms - e.learnt_ms < FORGET_AFTER_MS);
        let accepted = created_ms.map(|created_ms| Accepted {
            id: id.to_owned(),
            created_ms,
            paths: paths.to_vec(),
        });
        let entry = Entry {
            held: Held::of(paths.iter().map(String::as_str)),
            in_progress,
            accepted,
            learnt_ms: now_ms,
        };
        self.entries.insert(id.to_owned(), entry);
    }

    /// After a read: the ones `running` lists are in progress, the others
    /// not (complete, or older than what was read).
    pub fn read(&mut self, running: &BTreeSet<String>) {
        for (id, entry) in &mut self.entries {
            entry.in_progress = running.contains(id);
        }
    }

    /// What invalidation `id` holds, when its paths are known.
    pub fn held_by(&self, id: &str) -> Option<Held> {
        self.entries.get(id).map(|e| e.held)
    }

    /// Whether invalidation `id` is known.
    pub fn knows(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    fn recent(&self, now_ms: i64) -> impl Iterator<Item = &Entry> {
        self.entries
            .values()
            .filter(move |e| now_ms - e.learnt_ms < FORGET_AFTER_MS)
    }

    /// What the invalidations it knows in progress hold, all together.
    pub fn held(&self, now_ms: i64) -> Held {
        self.recent(now_ms)
            .filter(|e| e.in_progress)
            .fold(Held::default(), |sum, e| sum + e.held)
    }

    /// The invalidations it knows CloudFront accepted, in progress or not.
    pub fn accepted(&self, now_ms: i64) -> Vec<Accepted> {
        self.recent(now_ms).filter_map(|e| e.accepted.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_it_remembers_adds_up_and_the_completed_still_cover() {
        let strings = |p: &[&str]| p.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let mut memory = Memory::default();
        memory.remember("A", &strings(&["/a", "/b*"]), Some(1000), 0, true);
        memory.remember("B", &strings(&["/c"]), None, 0, true);
        assert_eq!(
            memory.held(0),
            Held {
                files: 2,
                wildcards: 1
            }
        );
        // B has no creation time: it counts, but covers nothing.
        let accepted: Vec<String> = memory.accepted(0).into_iter().map(|a| a.id).collect();
        assert_eq!(accepted, ["A"]);
        memory.read(&BTreeSet::from(["B".to_string()]));
        assert_eq!(
            memory.held(0),
            Held {
                files: 1,
                wildcards: 0
            }
        );
        assert_eq!(
            memory.accepted(0).len(),
            1,
            "A is complete, and still covers its paths"
        );
        // An hour later, both are forgotten.
        assert_eq!(memory.held(FORGET_AFTER_MS), Held::default());
        assert!(memory.accepted(FORGET_AFTER_MS).is_empty());
    }
}
