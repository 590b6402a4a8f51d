//! An indexed view of a zksim history (docs/history.md) that every property checker reads:
//! operations with their invocation and completion paired up, the ground-truth txns in
//! zxid order, and the links between them (a txn's `session` and `cxid` name the client
//! request that made it, as ZooKeeper's `TxnHeader` does).
//!
//! Positions (`at`) are 0-based event numbers in the file; with no blank lines, event `at`
//! is on line `at + 1`. The file order of client-side events is the order they happened,
//! so "A completed before B was invoked" is `A.end.at < B.invoke_at`.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

use zksim_core::acl::Id;
use zksim_core::error::ErrorCode;
use zksim_core::request::{Reply, Request};
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::txn::Txn;
use zksim_core::watch::EventType;
use zksim_core::zab::PeerState;

use crate::history::{ClientId, Event, Micros, Phase, SET_WATCHES_XID, Segment, SessionEvent};

/// Hash maps and sets keyed by small integers and short strings: hashed the fast way
/// (the checker's inputs are not adversarial to its hash tables).
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<crate::linearizability::FastHasher>>;
pub type FastSet<K> = HashSet<K, BuildHasherDefault<crate::linearizability::FastHasher>>;

/// An operation's number in `History::ops` (invocation order).
pub type OpId = u32;
/// A txn's number in `History::txns` (zxid order).
pub type TxnId = u32;
/// An entry of `History::auths`; `UNKNOWN_AUTH` when the client never said.
pub type AuthId = u32;
pub const UNKNOWN_AUTH: AuthId = 0;

/// How an operation ended.
#[derive(Clone, Copy, Debug)]
pub enum End<'h> {
    Reply {
        t: Micros,
        at: usize,
        reply: &'h Reply,
    },
    Unknown {
        t: Micros,
        at: usize,
    },
    /// The history ends with it still in flight: as unknown.
    Open,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// A request that becomes a txn (create, delete, setData, setACL, multi).
    Write,
    /// `sync`: ordered by the leader, answered by the session's server.
    Sync,
    /// Everything a server answers from its own tree (reads and watch requests).
    Read,
    /// The SetWatches a client sends after a reconnect (xid `SET_WATCHES_XID`): its
    /// watches re-registered on the new connection, which fire at once for what changed
    /// since `relative_zxid` (`DataTree.setWatches`).
    SetWatches,
}

#[derive(Clone, Copy, Debug)]
pub struct Op<'h> {
    pub client: ClientId,
    pub session: Option<SessionId>,
    pub xid: i32,
    pub request: &'h Request,
    pub kind: OpKind,
    pub invoke_t: Micros,
    pub invoke_at: usize,
    pub end: End<'h>,
    /// The client's identities when it invoked this.
    pub auth: AuthId,
}

impl<'h> Op<'h> {
    pub fn reply(&self) -> Option<&'h Reply> {
        match self.end {
            End::Reply { reply, .. } => Some(reply),
            _ => None,
        }
    }

    /// A reply that reports what the server did: OK or an error of the operation itself.
    /// A refusal (connection loss, session expired or moved, ...) says nothing about the
    /// tree: such an operation is as unknown as one with no reply.
    pub fn definite_reply(&self) -> Option<&'h Reply> {
        self.reply().filter(|r| !is_refusal(r.err))
    }

    /// The event position where it ended, if it did.
    pub fn end_at(&self) -> Option<usize> {
        match self.end {
            End::Reply { at, .. } | End::Unknown { at, .. } => Some(at),
            End::Open => None,
        }
    }

    pub fn end_t(&self) -> Option<Micros> {
        match self.end {
            End::Reply { t, .. } | End::Unknown { t, .. } => Some(t),
            End::Open => None,
        }
    }
}

/// Errors a server gives instead of performing a request (ZooKeeper's connection-level and
/// session-level codes): the request did not run there, but may have run elsewhere.
pub fn is_refusal(err: ErrorCode) -> bool {
    matches!(
        err,
        ErrorCode::ConnectionLoss
            | ErrorCode::SessionExpired
            | ErrorCode::SessionMoved
            | ErrorCode::OperationTimeout
            | ErrorCode::RequestTimeout
            | ErrorCode::NotReadOnly
            | ErrorCode::ThrottledOp
            | ErrorCode::UnknownSession
            | ErrorCode::SystemError
            | ErrorCode::NewConfigNoQuorum
            | ErrorCode::ReconfigInProgress
            | ErrorCode::SessionClosedRequireSaslAuth
    )
}

/// A ground-truth txn.
#[derive(Clone, Copy, Debug)]
pub struct TxnRec<'h> {
    pub zxid: Zxid,
    pub session: SessionId,
    pub cxid: i32,
    pub time: i64,
    pub txn: &'h Txn,
    pub at: usize,
    /// When a replica first applied it (simulated time), if the history says.
    pub applied_t: Option<Micros>,
}

/// Whether a txn is one a client write makes (and so names its request by `cxid`).
pub fn is_client_write_txn(txn: &Txn) -> bool {
    !matches!(
        txn,
        Txn::CreateSession { .. } | Txn::CloseSession { .. } | Txn::DeleteContainer { .. }
    )
}

#[derive(Clone, Copy, Debug)]
pub struct Notice<'h> {
    pub t: Micros,
    pub at: usize,
    pub client: ClientId,
    pub session: SessionId,
    pub event_type: EventType,
    pub path: &'h str,
    pub zxid: Zxid,
}

#[derive(Clone, Copy, Debug)]
pub struct SessionRec<'h> {
    pub t: Micros,
    pub at: usize,
    pub client: ClientId,
    pub session: SessionId,
    pub event: &'h SessionEvent,
}

/// A session close the client sent (ZooKeeper's `close`), and how it ended.
#[derive(Clone, Copy, Debug)]
pub struct CloseRec<'h> {
    pub client: ClientId,
    pub session: Option<SessionId>,
    pub xid: i32,
    pub invoke_t: Micros,
    pub invoke_at: usize,
    pub end: End<'h>,
}

impl<'h> CloseRec<'h> {
    /// The event position where it ended, if it did.
    pub fn end_at(&self) -> Option<usize> {
        match self.end {
            End::Reply { at, .. } | End::Unknown { at, .. } => Some(at),
            End::Open => None,
        }
    }

    /// The reply, when it reports what the server did (the closeSession txn's zxid).
    pub fn definite_reply(&self) -> Option<&'h Reply> {
        match self.end {
            End::Reply { reply, .. } if !is_refusal(reply.err) => Some(reply),
            _ => None,
        }
    }
}

/// A ping the server answered: the session was heard from at `t`.
#[derive(Clone, Copy, Debug)]
pub struct PingRec {
    pub t: Micros,
    /// When the client sent the ping, if the history says.
    pub sent_t: Option<Micros>,
    pub at: usize,
    pub client: ClientId,
    pub session: SessionId,
}

#[derive(Clone, Copy, Debug)]
pub struct RoleRec {
    pub t: Micros,
    pub at: usize,
    pub server: u64,
    pub state: PeerState,
    pub epoch: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct FaultRec<'h> {
    pub t: Micros,
    pub at: usize,
    pub kind: &'h str,
    pub detail: &'h str,
}

#[derive(Clone, Copy, Debug)]
pub struct ReplicaRec<'h> {
    pub server: u64,
    pub segments: &'h [Segment],
    pub at: usize,
}

/// Two `txn` lines for one zxid that disagree, or a `txn` line out of zxid order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnAnomaly {
    Conflict {
        zxid: Zxid,
        first: usize,
        second: usize,
    },
    OutOfOrder {
        zxid: Zxid,
        at: usize,
        previous: usize,
    },
}

#[derive(Clone, Debug, Default)]
pub struct Header {
    /// The format version the history was written in.
    pub version: u32,
    pub seed: Option<u64>,
    pub scenario: Option<String>,
    pub replay: Option<String>,
    pub bugs: Vec<String>,
    pub servers: Vec<u64>,
    pub observers: Vec<u64>,
    /// The recipe the clients ran, if any (its invariants are judged too).
    pub recipe: Option<String>,
    /// How many clients the run had (history client `c` is run client `c % clients`).
    pub clients: Option<u32>,
    /// The servers' tick and container check interval, when the history says.
    pub tick_ms: Option<u64>,
    pub container_check_ms: Option<u64>,
}

/// Why a history cannot be checked at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("event {} (line {}): {message}", .at, .at + 1)]
pub struct IndexError {
    pub at: usize,
    pub message: String,
}

fn bad(at: usize, message: String) -> IndexError {
    IndexError { at, message }
}

#[derive(Debug, Default)]
pub struct History<'h> {
    pub header: Header,
    pub ops: Vec<Op<'h>>,
    /// Ground truth in zxid order, one txn per zxid (see `anomalies` for the rest).
    pub txns: Vec<TxnRec<'h>>,
    pub anomalies: Vec<TxnAnomaly>,
    /// For each op, the txn with its session and cxid, if it is a write that has one.
    pub txn_of_op: Vec<Option<TxnId>>,
    /// For each txn, the write op that made it, if the history has it.
    pub op_of_txn: Vec<Option<OpId>>,
    /// Completed ops in the order they completed.
    pub completions: Vec<OpId>,
    pub notices: Vec<Notice<'h>>,
    pub sessions: Vec<SessionRec<'h>>,
    pub roles: Vec<RoleRec>,
    pub faults: Vec<FaultRec<'h>>,
    pub replicas: Vec<ReplicaRec<'h>>,
    /// Identity sets; entry 0 is "unknown".
    pub auths: Vec<Option<Vec<Id>>>,
    /// Each session's ops in invocation order.
    pub session_ops: FastMap<SessionId, Vec<OpId>>,
    /// The client each session belongs to.
    pub client_of_session: FastMap<SessionId, ClientId>,
    /// Each session's reconnects: the positions of its `connected` events but the first.
    pub reconnects: FastMap<SessionId, Vec<usize>>,
    /// Each client's `connected` events, by position: a client's connection `k` runs from
    /// its `k`-th (1-based) to the next (connection 0 is before any).
    pub connects: FastMap<ClientId, Vec<usize>>,
    /// Session closes the clients sent, in the order they were sent.
    pub closes: Vec<CloseRec<'h>>,
    pub pings: Vec<PingRec>,
    /// Where the fault-free liveness phase began (time, position), if the history says.
    pub liveness: Option<(Micros, usize)>,
    /// Simulated time of the last client-side event.
    pub end_t: Micros,
    pub events: usize,
}

impl<'h> History<'h> {
    /// Index a parsed history. Fails on histories that contradict themselves (a completion
    /// of nothing, a reused xid, time running backwards).
    pub fn new(events: &'h [Event]) -> Result<History<'h>, IndexError> {
        let mut h = History {
            auths: vec![None],
            events: events.len(),
            ..History::default()
        };
        let mut b = Builder::default();
        // Size the big tables once: growing them copies everything each time.
        let (mut invokes, mut txn_count) = (0, 0);
        for e in events {
            match e {
                Event::Invoke { .. } => invokes += 1,
                Event::Txn { .. } => txn_count += 1,
                _ => {}
            }
        }
        h.ops.reserve_exact(invokes);
        h.completions.reserve_exact(invokes);
        b.by_xid.reserve(invokes);
        let mut txns = Vec::with_capacity(txn_count);
        for (at, event) in events.iter().enumerate() {
            if let Some(t) = event.time() {
                if t < h.end_t {
                    return Err(bad(
                        at,
                        format!("time {t} is before the previous event's {}", h.end_t),
                    ));
                }
                h.end_t = t;
            }
            h.add(&mut b, &mut txns, at, event)?;
        }
        if events.len() < 2 {
            return Err(bad(
                0,
                "the history holds only its header: there is nothing to check".to_string(),
            ));
        }
        h.index_txns(txns);
        h.check_replicas()?;
        h.link_writes();
        Ok(h)
    }

    /// Refuse a ground truth the checker cannot trust: a replica the header does not
    /// name, or a txn no replica applied (the ground truth is the union of what the
    /// replicas applied, so such a txn came from nowhere).
    fn check_replicas(&self) -> Result<(), IndexError> {
        let named = |s: &u64| self.header.servers.contains(s) || self.header.observers.contains(s);
        if let Some(r) = self.replicas.iter().find(|r| !named(&r.server)) {
            return Err(bad(
                r.at,
                format!(
                    "a replica line for server {}, which the header does not name (servers {:?}, observers {:?})",
                    r.server, self.header.servers, self.header.observers
                ),
            ));
        }
        let mut applied: Vec<Zxid> = self
            .replicas
            .iter()
            .flat_map(|r| r.segments.iter().flat_map(|s| s.zxids.iter().copied()))
            .collect();
        applied.sort_unstable();
        applied.dedup();
        if let Some(t) = self
            .txns
            .iter()
            .find(|t| applied.binary_search(&t.zxid).is_err())
        {
            return Err(bad(
                t.at,
                format!(
                    "txn {:#x} is in the ground truth, but no replica line lists it as applied: the ground truth cannot be trusted",
                    t.zxid
                ),
            ));
        }
        Ok(())
    }

    fn add(
        &mut self,
        b: &mut Builder,
        txns: &mut Vec<TxnRec<'h>>,
        at: usize,
        event: &'h Event,
    ) -> Result<(), IndexError> {
        match event {
            Event::Header {
                version,
                seed,
                scenario,
                replay,
                bugs,
                servers,
                observers,
                recipe,
                clients,
                tick_ms,
                container_check_ms,
                ..
            } => {
                self.header = Header {
                    version: *version,
                    seed: *seed,
                    scenario: scenario.clone(),
                    replay: replay.clone(),
                    bugs: bugs.clone(),
                    servers: servers.clone(),
                    observers: observers.clone(),
                    recipe: recipe.clone(),
                    clients: *clients,
                    tick_ms: *tick_ms,
                    container_check_ms: *container_check_ms,
                };
            }
            Event::Invoke {
                t,
                client,
                session,
                xid,
                op,
            } => self.add_invoke(b, at, *t, *client, *session, *xid, op)?,
            Event::Complete {
                t,
                client,
                xid,
                outcome,
            } => self.add_complete(b, at, *t, *client, *xid, outcome)?,
            Event::Close {
                t,
                client,
                session,
                xid,
            } => self.add_close(b, at, *t, *client, *session, *xid)?,
            Event::Ping {
                t,
                client,
                session,
                sent_t,
            } => {
                if sent_t.is_some_and(|s| s > *t) {
                    return Err(bad(at, "a ping answered before it was sent".to_string()));
                }
                self.client_of_session.entry(*session).or_insert(*client);
                self.pings.push(PingRec {
                    t: *t,
                    sent_t: *sent_t,
                    at,
                    client: *client,
                    session: *session,
                });
            }
            Event::Phase { t, phase } => match phase {
                Phase::Liveness if self.liveness.is_some() => {
                    return Err(bad(at, "a second liveness phase".to_string()));
                }
                Phase::Liveness => self.liveness = Some((*t, at)),
            },
            Event::Watch {
                t,
                client,
                session,
                event_type,
                path,
                zxid,
            } => {
                self.client_of_session.insert(*session, *client);
                self.notices.push(Notice {
                    t: *t,
                    at,
                    client: *client,
                    session: *session,
                    event_type: *event_type,
                    path,
                    zxid: *zxid,
                });
            }
            Event::Session {
                t,
                client,
                session,
                event,
            } => {
                self.client_of_session.insert(*session, *client);
                if matches!(event, SessionEvent::Connected { .. }) {
                    self.connects.entry(*client).or_default().push(at);
                    if b.connected.contains(session) {
                        self.reconnects.entry(*session).or_default().push(at);
                    }
                    b.connected.insert(*session);
                }
                self.sessions.push(SessionRec {
                    t: *t,
                    at,
                    client: *client,
                    session: *session,
                    event,
                });
            }
            Event::Auth { client, ids, .. } => {
                self.auths.push(Some(ids.clone()));
                let id = AuthId::try_from(self.auths.len() - 1).expect("auth count fits in u32");
                b.auth_of_client.insert(*client, id);
            }
            Event::Role {
                t,
                server,
                state,
                epoch,
                ..
            } => self.roles.push(RoleRec {
                t: *t,
                at,
                server: *server,
                state: *state,
                epoch: *epoch,
            }),
            Event::Fault { t, kind, detail } => self.faults.push(FaultRec {
                t: *t,
                at,
                kind,
                detail,
            }),
            Event::Txn {
                zxid,
                session,
                cxid,
                time,
                txn,
                applied_t,
            } => txns.push(TxnRec {
                zxid: *zxid,
                session: *session,
                cxid: *cxid,
                time: *time,
                txn,
                at,
                applied_t: *applied_t,
            }),
            Event::Replica { server, segments } => self.replicas.push(ReplicaRec {
                server: *server,
                segments,
                at,
            }),
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn add_invoke(
        &mut self,
        b: &mut Builder,
        at: usize,
        t: Micros,
        client: ClientId,
        session: Option<SessionId>,
        xid: i32,
        request: &'h Request,
    ) -> Result<(), IndexError> {
        let id = OpId::try_from(self.ops.len()).expect("op count fits in u32");
        let set_watches = matches!(request, Request::SetWatches { .. });
        if (xid == SET_WATCHES_XID) != set_watches {
            return Err(bad(
                at,
                format!(
                    "client {client} invokes xid {xid} with {}: xid {SET_WATCHES_XID} is the SetWatches a client sends after a reconnect, and only it",
                    crate::props::describe::request(request)
                ),
            ));
        }
        self.take_xid(b, at, client, xid, Pending::Op(id))?;
        let kind = match request {
            r if r.is_write() => OpKind::Write,
            Request::Sync { .. } => OpKind::Sync,
            Request::SetWatches { .. } => OpKind::SetWatches,
            _ => OpKind::Read,
        };
        if let Some(s) = session {
            self.session_ops.entry(s).or_default().push(id);
            if b.last_session.get(&client) != Some(&s) {
                b.last_session.insert(client, s);
                self.client_of_session.insert(s, client);
            }
        }
        self.ops.push(Op {
            client,
            session,
            xid,
            request,
            kind,
            invoke_t: t,
            invoke_at: at,
            end: End::Open,
            auth: b
                .auth_of_client
                .get(&client)
                .copied()
                .unwrap_or(UNKNOWN_AUTH),
        });
        Ok(())
    }

    /// Claim `xid` for a new request of `client`. An xid names one request per client,
    /// except SetWatches' reserved xid, which recurs once per reconnect (after the
    /// previous SetWatches ended).
    fn take_xid(
        &self,
        b: &mut Builder,
        at: usize,
        client: ClientId,
        xid: i32,
        pending: Pending,
    ) -> Result<(), IndexError> {
        let Some(previous) = b.by_xid.insert((client, xid), pending) else {
            return Ok(());
        };
        let (first, open) = match previous {
            Pending::Op(id) => {
                let op = &self.ops[id as usize];
                (op.invoke_at, matches!(op.end, End::Open))
            }
            Pending::Close(i) => {
                let close = &self.closes[i];
                (close.invoke_at, matches!(close.end, End::Open))
            }
        };
        if xid == SET_WATCHES_XID && !open {
            return Ok(());
        }
        Err(bad(
            at,
            format!(
                "client {client} invokes xid {xid} again (first at event {})",
                first + 1
            ),
        ))
    }

    fn add_close(
        &mut self,
        b: &mut Builder,
        at: usize,
        t: Micros,
        client: ClientId,
        session: Option<SessionId>,
        xid: i32,
    ) -> Result<(), IndexError> {
        self.take_xid(b, at, client, xid, Pending::Close(self.closes.len()))?;
        if let Some(s) = session {
            self.client_of_session.entry(s).or_insert(client);
        }
        self.closes.push(CloseRec {
            client,
            session,
            xid,
            invoke_t: t,
            invoke_at: at,
            end: End::Open,
        });
        Ok(())
    }

    fn add_complete(
        &mut self,
        b: &mut Builder,
        at: usize,
        t: Micros,
        client: ClientId,
        xid: i32,
        outcome: &'h crate::history::Outcome,
    ) -> Result<(), IndexError> {
        let Some(&pending) = b.by_xid.get(&(client, xid)) else {
            return Err(bad(
                at,
                format!("client {client} completes xid {xid}, which it never invoked"),
            ));
        };
        let end = match pending {
            Pending::Op(id) => &mut self.ops[id as usize].end,
            Pending::Close(i) => &mut self.closes[i].end,
        };
        if !matches!(end, End::Open) {
            return Err(bad(
                at,
                format!("client {client} completes xid {xid} a second time"),
            ));
        }
        *end = match outcome {
            crate::history::Outcome::Reply(reply) => End::Reply { t, at, reply },
            crate::history::Outcome::Unknown { .. } => End::Unknown { t, at },
        };
        if let Pending::Op(id) = pending {
            self.completions.push(id);
        }
        Ok(())
    }

    /// Sort the ground truth by zxid; keep one txn per zxid and note disagreements.
    fn index_txns(&mut self, mut txns: Vec<TxnRec<'h>>) {
        for pair in txns.windows(2) {
            if pair[1].zxid <= pair[0].zxid {
                self.anomalies.push(TxnAnomaly::OutOfOrder {
                    zxid: pair[1].zxid,
                    at: pair[1].at,
                    previous: pair[0].at,
                });
                break;
            }
        }
        txns.sort_by_key(|t| (t.zxid, t.at));
        let mut kept: Vec<TxnRec<'h>> = Vec::with_capacity(txns.len());
        for t in txns {
            match kept.last() {
                Some(last) if last.zxid == t.zxid => {
                    let same = last.session == t.session
                        && last.cxid == t.cxid
                        && last.time == t.time
                        && last.txn == t.txn;
                    if !same {
                        self.anomalies.push(TxnAnomaly::Conflict {
                            zxid: t.zxid,
                            first: last.at,
                            second: t.at,
                        });
                    }
                }
                _ => kept.push(t),
            }
        }
        self.txns = kept;
    }

    /// Pair each write with the txn that carries its session and xid.
    fn link_writes(&mut self) {
        let mut by_request: FastMap<(SessionId, i32), TxnId> = FastMap::default();
        by_request.reserve(self.txns.len());
        for (i, t) in self.txns.iter().enumerate() {
            if is_client_write_txn(t.txn) {
                let id = TxnId::try_from(i).expect("txn count fits in u32");
                by_request.entry((t.session, t.cxid)).or_insert(id);
            }
        }
        self.txn_of_op = vec![None; self.ops.len()];
        self.op_of_txn = vec![None; self.txns.len()];
        for (i, op) in self.ops.iter().enumerate() {
            if op.kind != OpKind::Write {
                continue;
            }
            let Some(session) = op
                .session
                .or_else(|| self.next_session(op.client, op.invoke_at))
            else {
                continue;
            };
            if let Some(&t) = by_request.get(&(session, op.xid)) {
                self.txn_of_op[i] = Some(t);
                self.op_of_txn[t as usize] = Some(OpId::try_from(i).expect("fits"));
            }
        }
    }

    /// Which of its connections a client's event at position `at` happened on: how many of
    /// its `connected` events came before it.
    pub fn connection_of(&self, client: ClientId, at: usize) -> u32 {
        let before = self
            .connects
            .get(&client)
            .map_or(0, |list| list.partition_point(|&c| c < at));
        u32::try_from(before).expect("connection count fits in u32")
    }

    /// Each session's first answered close: the closeSession's zxid (the reply's) and
    /// the position where the reply arrived.
    pub fn answered_closes(&self) -> FastMap<SessionId, (Zxid, usize)> {
        let mut out = FastMap::default();
        for c in &self.closes {
            let (Some(reply), Some(at)) = (c.definite_reply(), c.end_at()) else {
                continue;
            };
            if let Some(session) = c
                .session
                .or_else(|| self.next_session(c.client, c.invoke_at))
            {
                out.entry(session).or_insert((reply.zxid, at));
            }
        }
        out
    }

    /// The session a client established next after position `at`: the session of a
    /// request it sent before it had one (the client queues it until connected).
    pub fn next_session(&self, client: ClientId, at: usize) -> Option<SessionId> {
        let connects = self.connects.get(&client)?;
        let next = connects[connects.partition_point(|&c| c < at)..].first()?;
        let i = self.sessions.partition_point(|s| s.at < *next);
        self.sessions.get(i).map(|s| s.session)
    }

    pub fn op(&self, id: OpId) -> &Op<'h> {
        &self.ops[id as usize]
    }

    pub fn txn(&self, id: TxnId) -> &TxnRec<'h> {
        &self.txns[id as usize]
    }

    /// The txn with this zxid.
    pub fn txn_at(&self, zxid: Zxid) -> Option<TxnId> {
        self.txns
            .binary_search_by_key(&zxid, |t| t.zxid)
            .ok()
            .map(|i| TxnId::try_from(i).expect("fits"))
    }

    /// The last committed zxid (0 when there are no txns).
    pub fn last_zxid(&self) -> Zxid {
        self.txns.last().map_or(0, |t| t.zxid)
    }

    /// The zxid at which a write took effect: its txn's, settled by the ground truth.
    /// The zxid at which the operation took effect, settled by the ground truth. A
    /// session-level refusal logged as an error txn (SESSIONMOVED for a request that reached
    /// the leader from a server the session had left, SESSIONEXPIRED) is not an effect: the
    /// request did not run, and its client never hears of that txn.
    pub fn effect_zxid(&self, id: OpId) -> Option<Zxid> {
        let txn = self.txn(self.txn_of_op[id as usize]?);
        match txn.txn {
            Txn::Error { err } if is_refusal(*err) => None,
            _ => Some(txn.zxid),
        }
    }

    /// Whether the session reconnected at a position strictly between `from` and `to`.
    pub fn reconnected_between(&self, session: SessionId, from: usize, to: usize) -> bool {
        self.reconnects.get(&session).is_some_and(|r| {
            let i = r.partition_point(|&at| at <= from);
            r.get(i).is_some_and(|&at| at < to)
        })
    }

    pub fn auth(&self, id: AuthId) -> Option<&[Id]> {
        self.auths[id as usize].as_deref()
    }
}

/// What an xid of a client names while it is pending or done.
#[derive(Clone, Copy)]
enum Pending {
    Op(OpId),
    Close(usize),
}

#[derive(Default)]
struct Builder {
    by_xid: FastMap<(ClientId, i32), Pending>,
    auth_of_client: FastMap<ClientId, AuthId>,
    last_session: FastMap<ClientId, SessionId>,
    connected: FastSet<SessionId>,
}
