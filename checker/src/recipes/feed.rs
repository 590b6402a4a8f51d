//! What each client of a recipe run was told, in the order it was told it: the requests it
//! sent, their completions, its watch notifications and session events, read off the
//! history in file order (docs/history.md: client-side events appear in the order they
//! happened, which is the order the simulator told the clients' agents).
//!
//! A run's client opens a new history client with each new session (history client `c`
//! is the run's client `c % clients`), so per-session knowledge (what a session has seen,
//! the watches it holds) is kept by history client, and what a client remembers across its
//! sessions by run client. Internal requests (negative xids, such as SetWatches after a
//! reconnect) are nobody's proposal and are left out.

use zksim_core::error::ErrorCode;
use zksim_core::request::Request;

use super::Closes;
use crate::history::ClientId;
use crate::index::{FastMap, History, Notice, Op, OpId, SessionRec};

/// One thing a client was told.
#[derive(Clone, Copy, Debug)]
pub enum Told<'a, 'h> {
    /// It sent this request.
    Sent(OpId),
    /// This request ended: a reply (whose code may be an error) or an unknown outcome.
    Ended(OpId),
    Notified(&'a Notice<'h>),
    Session(&'a SessionRec<'h>),
}

#[derive(Clone, Copy, Debug)]
pub struct Tell<'a, 'h> {
    /// The event's position in the history.
    pub at: usize,
    pub client: ClientId,
    /// The run's client (`client % clients`).
    pub run_client: u32,
    pub told: Told<'a, 'h>,
}

pub struct Feed<'a, 'h> {
    pub h: &'a History<'h>,
    /// How many clients the run had.
    pub clients: u32,
    pub closes: Closes,
    /// Everything told, in history order.
    pub tells: Vec<Tell<'a, 'h>>,
    /// For each op, the request its history client sent just before it.
    previous: Vec<Option<OpId>>,
}

impl<'a, 'h> Feed<'a, 'h> {
    pub fn new(h: &'a History<'h>, clients: u32) -> Feed<'a, 'h> {
        assert!(clients > 0, "a run has clients");
        let run_client = |c: ClientId| c % clients;
        let mut tells = Vec::with_capacity(2 * h.ops.len() + h.notices.len() + h.sessions.len());
        let mut previous = vec![None; h.ops.len()];
        let mut last: FastMap<ClientId, OpId> = FastMap::default();
        for (i, op) in h.ops.iter().enumerate() {
            if op.xid < 0 {
                continue;
            }
            let id = OpId::try_from(i).expect("op count fits in u32");
            previous[i] = last.insert(op.client, id);
            let tell = |at, told| Tell {
                at,
                client: op.client,
                run_client: run_client(op.client),
                told,
            };
            tells.push(tell(op.invoke_at, Told::Sent(id)));
            if let Some(at) = op.end_at() {
                assert!(at > op.invoke_at, "op {id} ends before it is invoked");
                tells.push(tell(at, Told::Ended(id)));
            }
        }
        for n in &h.notices {
            tells.push(Tell {
                at: n.at,
                client: n.client,
                run_client: run_client(n.client),
                told: Told::Notified(n),
            });
        }
        for s in &h.sessions {
            tells.push(Tell {
                at: s.at,
                client: s.client,
                run_client: run_client(s.client),
                told: Told::Session(s),
            });
        }
        tells.sort_by_key(|t| t.at);
        Feed {
            h,
            clients,
            closes: Closes::new(h),
            tells,
            previous,
        }
    }

    pub fn op(&self, id: OpId) -> &'a Op<'h> {
        &self.h.ops[id as usize]
    }

    pub fn run_client(&self, client: ClientId) -> u32 {
        client % self.clients
    }

    /// The request the op's history client sent just before it, if any.
    pub fn previous(&self, id: OpId) -> Option<(OpId, &'a Op<'h>)> {
        let p = self.previous[id as usize]?;
        Some((p, self.op(p)))
    }

    /// The sync the op's history client sent just before it and that was answered OK: a
    /// read sent after it reflects every write that completed before the sync was invoked
    /// (the ZooKeeper Programmer's Guide, sync; the ZooKeeper paper, §2.2).
    pub fn synced_by(&self, id: OpId) -> Option<OpId> {
        let (sync, op) = self.previous(id)?;
        let answered = op.reply().is_some_and(|r| r.err == ErrorCode::Ok);
        (matches!(op.request, Request::Sync { .. }) && answered).then_some(sync)
    }
}
