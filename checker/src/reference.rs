//! The reference replay: one pass over the ground truth in zxid order on zksim-core's own
//! `DataTree` (the model of ZooKeeper 3.8's tree that `zksim tree replay` holds to recorded
//! ZooKeeper answers, docs/tree-replay.md), answering what the properties need to know
//! about the state at each zxid:
//!
//! - each write's txn is prepped again from the client's request on the state just before
//!   it (`Prep::prep_write`, ZooKeeper's `PrepRequestProcessor`), so a txn that does not
//!   follow from its request (a version check skipped, a wrong sequential name) shows;
//! - each txn is applied (`DataTree::apply`, ZooKeeper's `DataTree.processTxn`) and the
//!   reply it gives is compared with the reply the client got;
//! - each read is answered on the state at its reply's zxid (`read::serve_read`, as a
//!   server does from its applied tree) and compared with what the client got; watches the
//!   reads set are registered in the reference tree, so the txns that follow fire exactly
//!   the notifications ZooKeeper's `WatchManager` would.
//!
//! Only disagreements are kept, so memory stays proportional to the history's problems,
//! not its length. ACL decisions depend on the client's identities (`auth` events); for a
//! client that never stated them, an answer is accepted when it holds either with no
//! identity or with a `super` one, so it is taken on trust.

use crate::index::FastMap;

use zksim_core::acl::{self, Id};
use zksim_core::error::ErrorCode;
use zksim_core::prep::{Prep, PrepConfig};
use zksim_core::read;
use zksim_core::request::{Reply, Request, Response};
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::tree::{DataTree, TxnResult};
use zksim_core::txn::{Txn, TxnHeader};
use zksim_core::watch::{EventType, WatchEvent};

use crate::index::{AuthId, History, OpId, OpKind, TxnId, UNKNOWN_AUTH, is_client_write_txn};

/// A write's txn differs from what its request gives on the state before it.
#[derive(Clone, Debug)]
pub struct PrepMismatch {
    pub txn: TxnId,
    pub op: OpId,
    pub expected: Txn,
}

/// A write's reply differs from what applying its txn gives.
#[derive(Clone, Debug)]
pub struct ReplyMismatch {
    pub txn: TxnId,
    pub op: OpId,
    pub expected_err: ErrorCode,
    pub expected: Response,
}

/// A read's reply differs from the reference's answer at the reply's zxid.
#[derive(Clone, Debug)]
pub struct ReadMismatch {
    pub op: OpId,
    pub expected: Result<Response, ErrorCode>,
}

/// A closeSession txn whose paths are not the session's ephemerals at that point.
#[derive(Clone, Debug)]
pub struct CloseMismatch {
    pub txn: TxnId,
    /// The session's ephemerals just before the txn, sorted.
    pub expected: Vec<String>,
}

/// A notification the reference tree fires for a watch a session registered.
#[derive(Clone, Debug)]
pub struct Fired {
    pub zxid: Zxid,
    pub session: SessionId,
    pub event_type: EventType,
    pub path: String,
    /// Whether the watcher may read the node (ZOOKEEPER-4799); `None` when its
    /// identities are unknown and the node is not readable by anyone.
    pub deliverable: Option<bool>,
    /// Whether a persistent watch fired it (it stays, so a client that re-registers it
    /// after a reconnect to a server that is behind may hear the change again).
    pub persistent: bool,
    /// Where the reply that last set a watch of this session on this path arrived
    /// (`None` for a recursive watch on an ancestor).
    pub registered_at: Option<usize>,
}

#[derive(Debug, Default)]
pub struct Reference {
    pub prep_mismatches: Vec<PrepMismatch>,
    pub reply_mismatches: Vec<ReplyMismatch>,
    pub read_mismatches: Vec<ReadMismatch>,
    pub close_mismatches: Vec<CloseMismatch>,
    /// Expected notifications, in zxid order.
    pub fired: Vec<Fired>,
    /// Reads whose zxid lies beyond the last committed txn: they saw state that was never
    /// committed (a zxid that starts an epoch, `e << 32`, is fine: no txn has it yet).
    pub reads_beyond: Vec<OpId>,
    pub writes_checked: usize,
    pub reads_checked: usize,
}

/// Keep at most this many disagreements of each kind: a report needs the first few.
const KEEP_MAX: usize = 64;

fn keep<T>(list: &mut Vec<T>, item: T) {
    if list.len() < KEEP_MAX {
        list.push(item);
    }
}

/// The identities to try for an ACL decision: the known ones, or none and then `super`.
fn auth_tries<'a>(h: &'a History, auth: AuthId, superuser: &'a [Id]) -> [Option<&'a [Id]>; 2] {
    match h.auth(auth) {
        Some(ids) => [Some(ids), None],
        None => [Some(&[]), Some(superuser)],
    }
}

/// Which half of the replay a sweep does. Both apply every txn; they are independent, so
/// `Reference::run` does them on two threads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Half {
    /// Re-prep each write, compare its reply, check each closeSession: the fields
    /// `prep_mismatches`, `reply_mismatches`, `close_mismatches`, `writes_checked`.
    Writes,
    /// Answer each read, fire the watches reads set: `read_mismatches`, `fired`,
    /// `reads_beyond`, `reads_checked`.
    Reads,
}

impl Reference {
    /// The whole replay, its two halves in parallel.
    pub fn run(h: &History) -> Reference {
        let (writes, reads) = std::thread::scope(|scope| {
            let writes = scope.spawn(|| Reference::half(h, Half::Writes));
            let reads = Reference::half(h, Half::Reads);
            (
                writes.join().expect("the write sweep does not panic"),
                reads,
            )
        });
        Reference {
            prep_mismatches: writes.prep_mismatches,
            reply_mismatches: writes.reply_mismatches,
            close_mismatches: writes.close_mismatches,
            writes_checked: writes.writes_checked,
            ..reads
        }
    }

    /// One half of the replay; the other half's fields stay empty.
    pub fn half(h: &History, half: Half) -> Reference {
        let mut sweep = Sweep::new(h, half);
        if half == Half::Writes {
            for t in 0..h.txns.len() {
                sweep.txn(TxnId::try_from(t).expect("fits"));
            }
            return sweep.out;
        }
        let reads = read_queries(h);
        let mut next_read = 0;
        for t in 0..h.txns.len() {
            let zxid = h.txns[t].zxid;
            while next_read < reads.len() && reads[next_read].0 < zxid {
                sweep.read(reads[next_read].1);
                next_read += 1;
            }
            sweep.txn(TxnId::try_from(t).expect("fits"));
        }
        for &(_, op) in &reads[next_read..] {
            sweep.read(op);
        }
        sweep.out
    }
}

/// Reads with a definite reply, by (zxid, completion order).
fn read_queries(h: &History) -> Vec<(Zxid, OpId)> {
    let mut reads: Vec<(Zxid, OpId)> = h
        .completions
        .iter()
        .filter_map(|&id| {
            let op = h.op(id);
            let reply = op.definite_reply()?;
            let checked =
                op.kind == OpKind::Read && !matches!(op.request, Request::SetWatches { .. });
            checked.then_some((reply.zxid, id))
        })
        .collect();
    // Stable: reads at one zxid stay in completion order.
    reads.sort_by_key(|&(z, _)| z);
    reads
}

struct Sweep<'a, 'h> {
    h: &'a History<'h>,
    half: Half,
    tree: DataTree,
    prep: Prep,
    session_auth: FastMap<SessionId, AuthId>,
    /// (session, path hash) -> position of the reply that last set a watch there.
    registered: FastMap<(SessionId, u64), usize>,
    /// Each session's persistent watches (path, recursive), as its addWatch requests set
    /// them and its removeWatches requests take them away.
    persistent: FastMap<SessionId, Vec<(String, bool)>>,
    superuser: Vec<Id>,
    events: Vec<WatchEvent>,
    out: Reference,
}

impl<'a, 'h> Sweep<'a, 'h> {
    fn new(h: &'a History<'h>, half: Half) -> Self {
        // A session's identities for notifications: those of its ops, if they all agree.
        let mut session_auth = FastMap::default();
        for (&session, ops) in &h.session_ops {
            let first = ops.first().map_or(UNKNOWN_AUTH, |&o| h.op(o).auth);
            let same = ops.iter().all(|&o| same_ids(h, h.op(o).auth, first));
            session_auth.insert(session, if same { first } else { UNKNOWN_AUTH });
        }
        Sweep {
            h,
            half,
            tree: DataTree::new(),
            prep: Prep::new(PrepConfig::default()),
            session_auth,
            registered: FastMap::default(),
            persistent: FastMap::default(),
            superuser: vec![Id::new("super", "checker")],
            events: Vec::new(),
            out: Reference::default(),
        }
    }

    fn txn(&mut self, t: TxnId) {
        let rec = *self.h.txn(t);
        let hdr = TxnHeader {
            session_id: rec.session,
            cxid: rec.cxid,
            zxid: rec.zxid,
            time: rec.time,
        };
        let writes = self.half == Half::Writes;
        let op = self.h.op_of_txn[t as usize].filter(|_| writes);
        if let Some(op) = op {
            self.check_prep(t, op, &hdr);
        }
        if let Txn::CloseSession { paths } = rec.txn {
            if writes {
                self.check_close(t, &hdr, paths);
            }
            self.persistent.remove(&rec.session);
        }
        self.events.clear();
        let result = self.tree.apply(&hdr, rec.txn, &mut self.events);
        if writes {
            self.prep.applied(rec.zxid);
        } else {
            self.record_fired(rec.zxid);
        }
        if let Some(op) = op {
            self.check_reply(t, op, &result);
        }
    }

    fn check_prep(&mut self, t: TxnId, op: OpId, hdr: &TxnHeader) {
        let logged = self.h.txn(t).txn;
        if !is_client_write_txn(logged) {
            return;
        }
        // A session-level refusal (SESSIONEXPIRED for a session the leader is expiring,
        // SESSIONMOVED for a request from a server that no longer owns the session) is an
        // error txn that depends on the leader's session tracker, not on the tree
        // (ZooKeeper 3.8 PrepRequestProcessor: checkSession before pRequest2Txn): it
        // changes nothing, so any state explains it.
        if let Txn::Error { err } = logged {
            if crate::index::is_refusal(*err) {
                return;
            }
        }
        self.out.writes_checked += 1;
        let request = self.h.op(op).request;
        let mut expected = None;
        for ids in auth_tries(self.h, self.h.op(op).auth, &self.superuser)
            .into_iter()
            .flatten()
        {
            let prepped = self.prep.prep_write(&self.tree, hdr, ids, request);
            // Nothing outstanding: the next apply is this txn's (or a replacement's).
            self.prep.clear();
            if prepped.txn == *logged {
                return;
            }
            expected.get_or_insert(prepped.txn);
        }
        let expected = expected.expect("at least one try");
        keep(
            &mut self.out.prep_mismatches,
            PrepMismatch {
                txn: t,
                op,
                expected,
            },
        );
    }

    fn check_close(&mut self, t: TxnId, hdr: &TxnHeader, paths: &[String]) {
        let Txn::CloseSession { paths: expected } = self.prep.prep_close_session(&self.tree, hdr)
        else {
            unreachable!("prep_close_session makes a closeSession txn");
        };
        self.prep.clear();
        let mut expected = expected;
        let mut logged = paths.to_vec();
        expected.sort();
        logged.sort();
        if expected != logged {
            keep(
                &mut self.out.close_mismatches,
                CloseMismatch { txn: t, expected },
            );
        }
    }

    fn check_reply(&mut self, t: TxnId, op: OpId, result: &TxnResult) {
        let Some(reply) = self.h.op(op).definite_reply() else {
            return;
        };
        let (err, response) = result.to_reply();
        let same =
            reply.err == err && reply.response == response && reply.zxid == self.h.txn(t).zxid;
        if !same {
            keep(
                &mut self.out.reply_mismatches,
                ReplyMismatch {
                    txn: t,
                    op,
                    expected_err: err,
                    expected: response,
                },
            );
        }
    }

    fn record_fired(&mut self, zxid: Zxid) {
        let mut events = std::mem::take(&mut self.events);
        for e in events.drain(..) {
            let auth = self
                .session_auth
                .get(&e.watcher)
                .copied()
                .unwrap_or(UNKNOWN_AUTH);
            let deliverable = if e.readable_by(&[]) {
                Some(true)
            } else {
                self.h.auth(auth).map(|ids| e.readable_by(ids))
            };
            let persistent = self.has_persistent_watch(e.watcher, &e.path);
            let registered_at = self
                .registered
                .get(&(e.watcher, path_hash(&e.path)))
                .copied();
            self.out.fired.push(Fired {
                zxid,
                session: e.watcher,
                event_type: e.event_type,
                path: e.path,
                deliverable,
                persistent,
                registered_at,
            });
        }
        self.events = events;
    }

    /// Whether the session holds a persistent watch on `path`, or a recursive one on an
    /// ancestor (after the txn fired, one-shot watches are gone).
    fn has_persistent_watch(&self, session: SessionId, path: &str) -> bool {
        let (data, child) = self.tree.watches_of(session);
        data.iter().chain(&child).any(|(p, mode)| {
            mode.is_persistent()
                && (p == path
                    || (mode.is_recursive()
                        && (p == "/"
                            || path
                                .strip_prefix(p.as_str())
                                .is_some_and(|rest| rest.starts_with('/')))))
        })
    }

    fn read(&mut self, id: OpId) {
        let op = *self.h.op(id);
        let reply = op.definite_reply().expect("queries have replies");
        let Some(session) = op.session else {
            return;
        };
        self.out.reads_checked += 1;
        if reply.zxid > self.h.last_zxid() && reply.zxid & 0xffff_ffff != 0 {
            keep(&mut self.out.reads_beyond, id);
            return;
        }
        if let Some(path) = watched_path(op.request) {
            let at = op.end_at().expect("replied");
            self.registered.insert((session, path_hash(path)), at);
        }
        match op.request {
            Request::AddWatch { path, mode } if mode.is_persistent() => {
                let list = self.persistent.entry(session).or_default();
                list.retain(|(p, _)| p != path);
                list.push((path.clone(), mode.is_recursive()));
            }
            Request::RemoveWatches { path, .. } => {
                if let Some(list) = self.persistent.get_mut(&session) {
                    list.retain(|(p, _)| p != path);
                }
            }
            _ => {}
        }
        if let Some(ids) = self.h.auth(op.auth) {
            if let Some(same) = quick_read(&self.tree, ids, op.request, reply) {
                debug_assert_eq!(
                    same,
                    same_answer(
                        reply,
                        &read::serve_read(
                            &mut self.tree.clone(),
                            session,
                            ids,
                            op.request,
                            &mut Vec::new()
                        )
                    ),
                    "quick_read agrees with serve_read on {:?}",
                    op.request
                );
                if same {
                    return;
                }
            }
        }
        // The server's answer to removeWatches depends on watches the reference cannot
        // follow across reconnects: apply it, but do not judge it.
        let judged = !matches!(op.request, Request::RemoveWatches { .. });
        let mut expected = None;
        for ids in auth_tries(self.h, op.auth, &self.superuser)
            .into_iter()
            .flatten()
        {
            let mut unused = Vec::new();
            let answer = read::serve_read(&mut self.tree, session, ids, op.request, &mut unused);
            if !judged || same_answer(reply, &answer) {
                return;
            }
            expected.get_or_insert(answer);
        }
        let expected = expected.expect("at least one try");
        keep(
            &mut self.out.read_mismatches,
            ReadMismatch { op: id, expected },
        );
    }
}

fn path_hash(path: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<crate::linearizability::FastHasher>::default().hash_one(path)
}

/// The path a request sets a watch on.
fn watched_path(r: &Request) -> Option<&str> {
    match r {
        Request::Exists { path, watch: true }
        | Request::GetData { path, watch: true }
        | Request::GetChildren { path, watch: true }
        | Request::AddWatch { path, .. } => Some(path),
        _ => None,
    }
}

/// Whether a plain read's reply equals what `read::serve_read` answers on `tree`, decided
/// without building the answer (most reads are these three, without a watch); `None` for
/// any other request. It follows `serve_read` exactly: exists needs no permission,
/// getData and getChildren need READ (`readable`).
fn quick_read(tree: &DataTree, ids: &[Id], request: &Request, reply: &Reply) -> Option<bool> {
    let (path, needs_read) = match request {
        Request::Exists { path, watch: false } if !path.contains('\0') => (path, false),
        Request::GetData { path, watch: false } | Request::GetChildren { path, watch: false } => {
            (path, true)
        }
        _ => return None,
    };
    let Some(node) = tree.get(path) else {
        return Some(reply.err == ErrorCode::NoNode);
    };
    if needs_read && acl::check_acl(&node.acl, acl::PERM_READ, ids).is_err() {
        return Some(reply.err == ErrorCode::NoAuth);
    }
    if reply.err != ErrorCode::Ok {
        return Some(false);
    }
    let same = match (request, &reply.response) {
        (Request::Exists { .. }, Response::Stat(stat)) => *stat == node.client_stat(),
        (Request::GetData { .. }, Response::GetData { data, stat }) => {
            *data == node.data && *stat == node.client_stat()
        }
        (
            Request::GetChildren { .. },
            Response::GetChildren {
                children,
                stat: Some(stat),
            },
        ) => {
            *stat == node.client_stat()
                && children.len() == node.children.len()
                && children.iter().eq(node.children.iter())
        }
        _ => false,
    };
    Some(same)
}

fn same_answer(reply: &Reply, answer: &Result<Response, ErrorCode>) -> bool {
    match answer {
        Ok(response) => reply.err == ErrorCode::Ok && reply.response == *response,
        Err(err) => reply.err == *err,
    }
}

fn same_ids(h: &History, a: AuthId, b: AuthId) -> bool {
    a == b || (h.auth(a).is_some() && h.auth(a) == h.auth(b))
}
