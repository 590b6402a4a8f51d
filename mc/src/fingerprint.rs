//! The state's fingerprint: what two states must share to count as one.
//!
//! Everything a server holds is hashed through its `Debug` form (roles, election votes
//! and rounds, discovery and sync progress, quorums of ACKs, logs, trees, sessions), with
//! one abstraction: **clock readings are left out** (every field whose name ends in
//! `_ms`: the elapsed clock, deadlines, last-heard times, the notification timeout). Two
//! states that differ only in their clocks are merged.
//!
//! Why that is close to sound: the model never waits for time. A `Timer` step is enabled
//! whenever a server is up (within the timer budget), whatever its clocks read, and
//! deliveries, fsyncs, crashes and breaks are enabled regardless of time. What the clocks
//! still decide is *which* of a server's timeouts a tick fires first (its earliest
//! deadline) and, for a leader, which learners are overdue. So merging can hide an order of
//! one server's own timeouts that only a different clock reading allows: the abstraction
//! is a heuristic, and a bound checked "with no violation" means no violation among the
//! states this fingerprint tells apart. It never invents a counterexample: every path the
//! checker reports is re-executed concretely (`zksim mc --replay`).
//!
//! Txn timestamps (`time`) are kept: they are data the replicas must agree on.
//! Disks are hashed by their durable bytes and their unsynced tokens (what the cache holds
//! follows from the server's history and those tokens). In-flight messages are hashed in
//! full, per link and in order.

use std::hash::{Hash, Hasher};

use crate::model::State;

/// The fingerprint of `state` (stateright hashes `State` through this).
pub fn of(state: &State) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    state.hash(&mut h);
    h.finish()
}

impl Hash for State {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let mut text = String::new();
        for node in &self.nodes {
            match &node.server {
                None => 0u8.hash(h),
                Some(server) => {
                    1u8.hash(h);
                    text.clear();
                    use std::fmt::Write;
                    let _ = write!(text, "{server:?}");
                    hash_without_clocks(&text, h);
                }
            }
            text.clear();
            use std::fmt::Write;
            let _ = write!(text, "{:?}", node.io);
            text.hash(h);
            node.disk.files.hash(h);
            node.unsynced.hash(h);
        }
        for ((from, to), queue) in &self.links {
            (from, to, queue.len()).hash(h);
            for msg in queue {
                text.clear();
                use std::fmt::Write;
                let _ = write!(text, "{msg:?}");
                text.hash(h);
            }
        }
        self.spent.hash(h);
        for (zxid, proposals) in &self.truth.txns {
            zxid.hash(h);
            proposals.len().hash(h);
        }
        self.established.hash(h);
        self.breaches.len().hash(h);
        self.failures.hash(h);
    }
}

/// Hash `text` with every number after a `_ms: ` (or `_ms: Some(`) left out.
fn hash_without_clocks<H: Hasher>(text: &str, h: &mut H) {
    const MARK: &str = "_ms: ";
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        let (kept, after) = rest.split_at(at + MARK.len());
        h.write(kept.as_bytes());
        let after = after.strip_prefix("Some(").unwrap_or(after);
        let digits = after
            .find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(after.len());
        rest = &after[digits..];
    }
    h.write(rest.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashed(text: &str) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        hash_without_clocks(text, &mut h);
        h.finish()
    }

    #[test]
    fn clock_readings_are_left_out_and_nothing_else() {
        assert_eq!(
            hashed("now_ms: 200, zxid: 4, at_ms: Some(5)"),
            hashed("now_ms: 900, zxid: 4, at_ms: Some(77)")
        );
        assert_ne!(
            hashed("now_ms: 200, zxid: 4"),
            hashed("now_ms: 200, zxid: 5")
        );
        assert_ne!(hashed("time: 200"), hashed("time: 300"));
    }
}
