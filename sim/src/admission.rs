//! Memory admission: runs that share a process (a sweep's, hunt's, shrink's or fuzz's
//! jobs) share a bound on memory, without changing any run's outcome.
//!
//! Each run's own budget (`Scenario::memory_mb_max`) bounds it alone; two jobs at that
//! budget at once would need twice its memory. So runs are admitted in order: the earliest
//! run still going may grow to its own budget, and the runs after it may hold
//! [`SHARED_BYTES`] between them. A later run that would hold more waits (in wall time: its
//! simulated time does not move, so its outcome is the same as alone) until the runs
//! before it finish. The earliest never waits, so every run finishes.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};

/// What the runs after the earliest may hold between them, as the run budget estimates it
/// (its history and the bytes its servers wrote).
pub const SHARED_BYTES: u64 = 96 << 20;

/// A run reports what it holds each time it grows by this much.
pub const STEP_BYTES: u64 = 4 << 20;

struct Pool {
    next_ticket: u64,
    /// Each admitted run's ticket and what it holds.
    held: BTreeMap<u64, u64>,
    /// How many times a run waited (for the figures a sweep prints).
    waits: u64,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    next_ticket: 0,
    held: BTreeMap::new(),
    waits: 0,
});
static RELEASED: Condvar = Condvar::new();

thread_local! {
    static TICKET: Cell<Option<u64>> = const { Cell::new(None) };
}

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    // A panic never happens while the lock is held; a poisoned pool is still consistent.
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A run's place in the order; the run on this thread is admitted until it is dropped.
#[must_use = "the run is admitted only while this lives"]
pub struct Admission {
    /// None when the thread's run was already admitted (by a caller that holds the
    /// admission until it has freed the run's memory).
    ticket: Option<u64>,
}

/// Admit the run about to start on this thread (it holds nothing yet), unless it is
/// admitted already.
pub fn admit() -> Admission {
    if TICKET.with(Cell::get).is_some() {
        return Admission { ticket: None };
    }
    let mut p = pool();
    let ticket = p.next_ticket;
    p.next_ticket += 1;
    p.held.insert(ticket, 0);
    TICKET.with(|t| t.set(Some(ticket)));
    Admission {
        ticket: Some(ticket),
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket else {
            return;
        };
        TICKET.with(|t| t.set(None));
        let mut p = pool();
        p.held.remove(&ticket);
        drop(p);
        RELEASED.notify_all();
    }
}

/// The run on this thread now holds `bytes`: return once it may (at once for a run not
/// admitted, such as a lone `zksim run`, or the earliest run).
pub fn hold(bytes: u64) {
    let Some(ticket) = TICKET.with(Cell::get) else {
        return;
    };
    let mut p = pool();
    let mut waited = false;
    loop {
        let earliest = *p.held.keys().next().expect("this run is admitted");
        let later: u64 = p
            .held
            .iter()
            .filter(|(t, _)| **t != earliest && **t != ticket)
            .map(|(_, b)| *b)
            .sum();
        if ticket == earliest || later + bytes <= SHARED_BYTES {
            p.held.insert(ticket, bytes);
            return;
        }
        if !waited {
            waited = true;
            p.waits += 1;
        }
        p = RELEASED.wait(p).unwrap_or_else(|e| e.into_inner());
    }
}

/// How many times a run waited for the runs before it, in this process.
pub fn waits() -> u64 {
    pool().waits
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Barrier};

    // A later run past the shared bound waits until the earliest finishes; the earliest
    // grows past it without waiting. (One test: the pool is the process's.)
    #[test]
    fn a_later_run_waits_for_the_earliest() {
        let first = admit();
        // Admitting again on the same thread is the same admission.
        drop(admit());
        hold(SHARED_BYTES * 4);
        let grown = Arc::new(AtomicU64::new(0));
        let started = Arc::new(Barrier::new(2));
        let later = {
            let (grown, started) = (Arc::clone(&grown), Arc::clone(&started));
            std::thread::spawn(move || {
                let _a = admit();
                hold(SHARED_BYTES / 2);
                started.wait();
                hold(SHARED_BYTES + 1);
                grown.store(1, Ordering::SeqCst);
            })
        };
        started.wait();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(
            grown.load(Ordering::SeqCst),
            0,
            "the later run went past the bound"
        );
        // The earliest is not held back by the later one.
        hold(SHARED_BYTES * 5);
        drop(first);
        later.join().expect("later run");
        assert_eq!(grown.load(Ordering::SeqCst), 1);
        assert!(waits() >= 1);
        // Not admitted: never waits.
        hold(u64::MAX);
    }
}
