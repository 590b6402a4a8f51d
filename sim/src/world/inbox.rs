//! Each node's inbox: deliveries queued by time, and the wake-ups that come with them. A
//! node sleeps until its next timer or until a delivery comes due, whichever is first; what
//! it takes and each wake-up count against the run's budget.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use madsim::time::{Sleep, sleep_until};
use zksim_core::zab::ServerId;

use super::{Addr, Item, Shared, World};

#[derive(Debug, Default)]
pub(super) struct Inbox {
    pub(super) queue: BTreeMap<(u64, u64), Item>,
    pub(super) waker: Option<Waker>,
    /// The time the node sleeps until; a delivery due earlier wakes it.
    pub(super) target: Option<u64>,
    /// Events of this node counted against the run's budget: deliveries it took, and
    /// wake-ups (a server's timer firing, a pass of the clients' loop).
    pub(super) deliveries: u64,
    pub(super) wakeups: u64,
}

impl Shared {
    /// Sleep until `until_ns` (or forever) unless a delivery for `addr` comes due first.
    pub fn wait(&self, addr: Addr, until_ns: Option<u64>) -> Wait {
        let start = self.lock().start;
        let sleep = until_ns.map(|t| Box::pin(sleep_until(start + Duration::from_nanos(t))));
        Wait {
            world: self.clone(),
            addr,
            until_ns,
            sleep,
        }
    }
}

/// The future behind [`Shared::wait`].
pub struct Wait {
    world: Shared,
    addr: Addr,
    until_ns: Option<u64>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Future for Wait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut w = self.world.lock();
            let now = w.now_ns();
            let inbox = w.inboxes.get_mut(&self.addr).expect("known inbox");
            let first = inbox.queue.keys().next().map(|(t, _)| *t);
            if first.is_some_and(|t| t <= now || self.until_ns.is_none_or(|u| t < u)) {
                inbox.waker = None;
                inbox.target = None;
                return Poll::Ready(());
            }
            inbox.waker = Some(cx.waker().clone());
            inbox.target = self.until_ns;
        }
        match self.sleep.as_mut() {
            Some(s) => s.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

impl World {
    /// Queue an item for `to` at `at_ns`, waking it if it sleeps past then.
    pub fn deliver(&mut self, to: Addr, at_ns: u64, item: Item) {
        self.seq += 1;
        let seq = self.seq;
        let inbox = self.inboxes.get_mut(&to).expect("known inbox");
        inbox.queue.insert((at_ns, seq), item);
        if inbox.target.is_none_or(|t| at_ns < t) {
            if let Some(w) = inbox.waker.take() {
                w.wake();
            }
        }
    }

    /// Remove and return the items due by now for `addr`, in order; each counts against
    /// the run's budget.
    pub fn take_due(&mut self, addr: Addr) -> Vec<Item> {
        let now = self.now_ns();
        let inbox = self.inboxes.get_mut(&addr).expect("known inbox");
        let mut due = Vec::new();
        while let Some(entry) = inbox.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        inbox.deliveries += due.len() as u64;
        self.spend(due.len() as u64);
        due
    }

    /// A wake-up of `addr` that takes no delivery (a server's timer firing, a pass of the
    /// clients' loop), counted against the run's budget.
    pub fn wakeup(&mut self, addr: Addr) {
        self.inboxes.get_mut(&addr).expect("known inbox").wakeups += 1;
        self.spend(1);
    }

    pub fn next_due(&self, addr: Addr) -> Option<u64> {
        self.inboxes[&addr].queue.keys().next().map(|(t, _)| *t)
    }

    /// Drop everything queued for a server (it was killed: its memory is gone).
    pub fn clear_inbox(&mut self, id: ServerId) {
        if let Some(inbox) = self.inboxes.get_mut(&Addr::Server(id)) {
            inbox.queue.clear();
            inbox.waker = None;
            inbox.target = None;
        }
    }
}
