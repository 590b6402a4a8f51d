//! The run's budget of simulated events and of memory, and what a spent budget reports:
//! what every node was doing when it ran out.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use madsim::time::{Instant, Sleep, sleep_until};
use zksim_core::zab::ServerId;

use super::{Addr, Shared, World};

/// The run's budget. Of simulated events: every delivery a node takes and every wake-up
/// (a server's timer firing, a pass of the clients' loop) counts one. A service that
/// spins (a timer that fires again at the same instant, messages that bounce without
/// end) spends it in seconds of wall time, however little simulated time passes; the run
/// then stops with the reason instead of running for minutes. And of memory: what the
/// run keeps until it is judged (its history, and what the servers wrote to their disks)
/// grows with every event, by more with larger values and longer children lists. Both are
/// counted deterministically, so the same seed stops at the same event.
#[derive(Debug, Default)]
pub struct Budget {
    pub max_events: u64,
    pub events: u64,
    pub max_bytes: u64,
    /// Bytes the servers' disks hold (written, less the old snapshots dropped).
    pub disk_bytes: u64,
    /// What each server's tree holds in memory, estimated from its newest snapshot.
    pub tree_bytes: BTreeMap<ServerId, u64>,
    /// What the run last reported holding to the process's admission (`admission::hold`).
    pub admitted_bytes: u64,
    /// Why the run stopped, set once when the budget is spent.
    pub spent: Option<String>,
    /// The run's supervisor, woken when the budget is spent.
    pub(super) supervisor: Option<Waker>,
}

/// The clients' load as of their last pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientsBusy {
    pub sessions_open: usize,
    pub in_flight: usize,
    pub done: usize,
}

impl Shared {
    /// Sleep until `until`, or until the run's budget is spent, whichever comes first.
    pub fn sleep_within_budget(&self, until: Instant) -> BudgetSleep {
        BudgetSleep {
            world: self.clone(),
            sleep: Box::pin(sleep_until(until)),
        }
    }
}

/// The future behind [`Shared::sleep_within_budget`]. It adds no timer and wakes no task
/// of its own, so a run within its budget is scheduled exactly as with a plain sleep.
pub struct BudgetSleep {
    world: Shared,
    sleep: Pin<Box<Sleep>>,
}

impl Future for BudgetSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut w = self.world.lock();
            if w.budget.spent.is_some() {
                return Poll::Ready(());
            }
            w.budget.supervisor = Some(cx.waker().clone());
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl World {
    /// Whether the run's budget is spent: every node stops at its next step.
    pub fn budget_spent(&self) -> bool {
        self.budget.spent.is_some()
    }

    /// What the run holds in memory until it is judged, in estimated bytes.
    pub fn held_bytes(&self) -> u64 {
        self.history.bytes() + self.budget.disk_bytes + self.budget.tree_bytes.values().sum::<u64>()
    }

    pub(super) fn spend(&mut self, events: u64) {
        self.budget.events += events;
        let held = self.held_bytes();
        if held >= self.budget.admitted_bytes + crate::admission::STEP_BYTES {
            // Runs sharing the process share a bound: a later one may wait here (in wall
            // time only) for the runs before it.
            crate::admission::hold(held);
            self.budget.admitted_bytes = held;
        }
        let within = self.budget.events <= self.budget.max_events && held <= self.budget.max_bytes;
        if within || self.budget.spent.is_some() {
            return;
        }
        let memory = if held > self.budget.max_bytes {
            format!(
                ", holding {} MB, over its {} MB (a history of {} events, {} MB; disks {} MB; trees {} MB)",
                held >> 20,
                self.budget.max_bytes >> 20,
                self.history.len(),
                self.history.bytes() >> 20,
                self.budget.disk_bytes >> 20,
                self.budget.tree_bytes.values().sum::<u64>() >> 20
            )
        } else {
            String::new()
        };
        let reason = format!(
            "run budget exceeded after {} events{memory} at {} ms simulated: still busy: {}",
            self.budget.events,
            self.now_ns() / 1_000_000,
            self.busy()
        );
        self.budget.spent = Some(reason);
        // Every node and the supervisor hear of it now: the nodes stop at their next
        // step, and the supervisor ends the run.
        if let Some(w) = self.budget.supervisor.take() {
            w.wake();
        }
        for inbox in self.inboxes.values_mut() {
            if let Some(w) = inbox.waker.take() {
                w.wake();
            }
        }
    }

    /// What every node was doing when the budget ran out: each server's role, its events
    /// and what waits in its inbox, busiest first; the clients' sessions and requests.
    fn busy(&self) -> String {
        let mut servers: Vec<(u64, String)> = self
            .servers
            .iter()
            .map(|(id, s)| {
                let inbox = &self.inboxes[&Addr::Server(*id)];
                let role = if !s.alive {
                    "down".to_string()
                } else if s.paused {
                    "paused".to_string()
                } else {
                    format!(
                        "{} epoch {}{}",
                        s.state.name(),
                        s.epoch,
                        if s.serving { "" } else { " (not serving)" }
                    )
                };
                let events = inbox.deliveries + inbox.wakeups;
                let text = format!(
                    "S{id} {role}: {} deliveries, {} timer firings, {} queued",
                    inbox.deliveries,
                    inbox.wakeups,
                    inbox.queue.len()
                );
                (events, text)
            })
            .collect();
        servers.sort_by_key(|s| std::cmp::Reverse(s.0));
        let clients = &self.inboxes[&Addr::Clients];
        let c = self.clients_busy;
        let mut parts: Vec<String> = servers.into_iter().map(|(_, t)| t).collect();
        parts.push(format!(
            "clients: {} sessions open, {} requests in flight, {} done; {} deliveries, {} wake-ups, {} queued",
            c.sessions_open,
            c.in_flight,
            c.done,
            clients.deliveries,
            clients.wakeups,
            clients.queue.len()
        ));
        parts.join("; ")
    }
}
