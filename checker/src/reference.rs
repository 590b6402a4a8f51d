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

use crate::index::{FastMap, FastSet};
use crate::watch_horizon::{self, Connection};

use zksim_core::acl::{self, Id};
use zksim_core::error::ErrorCode;
use zksim_core::prep::{Prep, PrepConfig};
use zksim_core::read;
use zksim_core::request::{OpResult, Reply, Request, Response};
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::tree::{DataTree, TxnResult};
use zksim_core::txn::{Txn, TxnHeader};
use zksim_core::watch::{EventType, WatchEvent, WatcherId, WatcherMode};

use crate::history::ClientId;
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
    /// The SetWatches that fired it at once (`DataTree.setWatches`: the node changed
    /// while the client was away); its zxid is the state the SetWatches ran on.
    pub set_watches: Option<OpId>,
    /// The watcher's connection (its client's `connected` events before it): a server
    /// sends a notification only on the connection that registered the watch. `None` in a
    /// version 1 history, which does not say what a reconnect registered.
    pub connection: Option<u32>,
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
    pub set_watches_checked: usize,
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
        Reference::reads(h, sweep)
    }

    /// The reads half with every connection's watches kept to the end, as the replay was
    /// before horizons (`watch_horizon`): tests hold the two to the same findings.
    #[cfg(test)]
    pub(crate) fn reads_keeping_watches(h: &History) -> Reference {
        let mut sweep = Sweep::new(h, Half::Reads);
        sweep.horizons.clear();
        Reference::reads(h, sweep)
    }

    fn reads(h: &History, mut sweep: Sweep) -> Reference {
        let reads = read_queries(h);
        let mut next_read = 0;
        for t in 0..h.txns.len() {
            let zxid = h.txns[t].zxid;
            while next_read < reads.len() && reads[next_read].0 < zxid {
                let (at, op) = reads[next_read];
                sweep.query(op, at);
                next_read += 1;
            }
            sweep.retire_before(zxid);
            sweep.txn(TxnId::try_from(t).expect("fits"));
        }
        for &(at, op) in &reads[next_read..] {
            sweep.query(op, at);
        }
        sweep.out
    }
}

/// Reads with a definite reply and SetWatches whose state is known, by (zxid, completion
/// order): the zxid of the state each was answered on.
fn read_queries(h: &History) -> Vec<(Zxid, OpId)> {
    let mut reads: Vec<(Zxid, OpId)> = h
        .completions
        .iter()
        .filter_map(|&id| {
            let op = h.op(id);
            match op.kind {
                OpKind::Read => op.definite_reply().map(|r| (r.zxid, id)),
                OpKind::SetWatches => set_watches_zxid(h, id).map(|z| (z, id)),
                OpKind::Write | OpKind::Sync => None,
            }
        })
        .collect();
    // Stable: reads at one zxid stay in completion order.
    reads.sort_by_key(|&(z, _)| z);
    reads
}

/// The state a SetWatches ran on: its reply's zxid; for one whose connection broke before
/// the reply, the zxid of a notification it fired (the server tags those with its current
/// zxid, as it does the reply), else unknown (it fired nothing the client heard of, and
/// the watches it set went with the connection).
pub fn set_watches_zxid(h: &History, id: OpId) -> Option<Zxid> {
    let op = h.op(id);
    if let Some(reply) = op.definite_reply() {
        return Some(reply.zxid);
    }
    let end = op.end_at()?;
    let from = h.notices.partition_point(|n| n.at < op.invoke_at);
    h.notices[from..]
        .iter()
        .take_while(|n| n.at < end)
        .find(|n| n.client == op.client)
        .map(|n| n.zxid)
}

struct Sweep<'a, 'h> {
    h: &'a History<'h>,
    half: Half,
    tree: DataTree,
    prep: Prep,
    session_auth: FastMap<SessionId, AuthId>,
    /// (watcher, path hash) -> position of the reply that last set a watch there.
    registered: FastMap<(WatcherId, u64), usize>,
    /// Watches belong to a connection (ZooKeeper's `ServerCnxn` is the watcher, and a
    /// server forgets a connection's watches when it closes): each (session, connection)
    /// is its own watcher in the reference tree, `connection_watcher`.
    watchers: FastMap<(SessionId, u32), WatcherId>,
    /// The (session, connection) of each connection watcher, by `-1 - id`.
    watcher_of: Vec<(SessionId, u32)>,
    /// Each session's persistent watches (path, recursive), as its addWatch requests set
    /// them and its removeWatches requests take them away.
    persistent: FastMap<SessionId, Vec<(String, bool)>>,
    /// Connections by horizon (`watch_horizon`): past its horizon, a connection's watches
    /// fire nothing any property can use, and are dropped.
    horizons: Vec<(Zxid, Connection)>,
    next_horizon: usize,
    retired: FastSet<Connection>,
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
            watchers: FastMap::default(),
            watcher_of: Vec::new(),
            persistent: FastMap::default(),
            horizons: if half == Half::Reads && h.header.version >= 2 {
                watch_horizon::horizons(h)
            } else {
                Vec::new()
            },
            next_horizon: 0,
            retired: FastSet::default(),
            superuser: vec![Id::new("super", "checker")],
            events: Vec::new(),
            out: Reference::default(),
        }
    }

    /// The watcher of the connection a request of `client` at position `at` went on: a
    /// negative id of its own (sessions are positive). A version 1 history does not say
    /// what a reconnect registered again, so there a session is one watcher, as before.
    fn connection_watcher(&mut self, session: SessionId, client: ClientId, at: usize) -> WatcherId {
        if self.h.header.version < 2 {
            return session;
        }
        let connection = self.h.connection_of(client, at);
        assert!(
            !self.retired.contains(&(session, connection)),
            "session {session:#x} connection {connection} is used after its horizon"
        );
        let next = -1 - WatcherId::try_from(self.watcher_of.len()).expect("fits");
        let id = *self.watchers.entry((session, connection)).or_insert(next);
        if id == next {
            self.watcher_of.push((session, connection));
        }
        id
    }

    /// The session and connection a watcher stands for.
    fn watcher_session(&self, watcher: WatcherId) -> (SessionId, Option<u32>) {
        if watcher >= 0 {
            return (watcher, None);
        }
        let index = usize::try_from(-1 - watcher).expect("a connection watcher");
        let (session, connection) = self.watcher_of[index];
        (session, Some(connection))
    }

    /// Drop the watches of every connection whose horizon lies before `zxid`.
    fn retire_before(&mut self, zxid: Zxid) {
        while let Some(&(horizon, connection)) = self.horizons.get(self.next_horizon) {
            if horizon >= zxid {
                return;
            }
            self.next_horizon += 1;
            self.retired.insert(connection);
            if let Some(&watcher) = self.watchers.get(&connection) {
                self.tree.remove_watcher(watcher);
            }
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
            let (session, connection) = self.watcher_session(e.watcher);
            let auth = self
                .session_auth
                .get(&session)
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
                session,
                event_type: e.event_type,
                path: e.path,
                deliverable,
                persistent,
                registered_at,
                set_watches: None,
                connection,
            });
        }
        self.events = events;
    }

    /// Whether the watcher holds a persistent watch on `path`, or a recursive one on an
    /// ancestor (after the txn fired, one-shot watches are gone).
    fn has_persistent_watch(&self, watcher: WatcherId, path: &str) -> bool {
        let (data, child) = self.tree.watches_of(watcher);
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

    fn query(&mut self, id: OpId, zxid: Zxid) {
        if self.h.op(id).kind == OpKind::SetWatches {
            self.set_watches(id, zxid);
        } else {
            self.read(id);
        }
    }

    /// A reconnecting client's SetWatches, on the state at `zxid`, for its new connection
    /// (the old connection's watches stay with the old connection, which the server
    /// forgets when it notices the close): each listed watch either fires at once or is
    /// registered again, as `DataTree.setWatches` decides (ZooKeeper 3.8): a data watch
    /// fires NodeDeleted if the node is gone, NodeDataChanged if its mzxid is past
    /// `relative_zxid`; an exist watch fires NodeCreated if the node exists; a child watch
    /// fires NodeDeleted if the node is gone, NodeChildrenChanged if its pzxid is past
    /// `relative_zxid`; persistent watches are registered again. The decision is made here
    /// from the node's Stat, not by the server's own code.
    fn set_watches(&mut self, id: OpId, zxid: Zxid) {
        let op = *self.h.op(id);
        let (
            Some(session),
            Request::SetWatches {
                relative_zxid,
                data,
                exist,
                child,
                persistent,
                persistent_recursive,
            },
        ) = (op.session, op.request)
        else {
            return;
        };
        self.out.set_watches_checked += 1;
        let watcher = self.connection_watcher(session, op.client, op.invoke_at);
        let at = op.end_at().unwrap_or(op.invoke_at);
        let mut fire = Vec::new();
        let mut register = |tree: &mut DataTree, path: &String, table: WatchTable| {
            match table {
                WatchTable::Data => drop(tree.stat_node(path, Some(watcher))),
                WatchTable::Child => drop(tree.get_children(path, Some(watcher))),
                WatchTable::Both(mode) => tree.add_watch(path, watcher, mode),
            }
            self.registered.insert((watcher, path_hash(path)), at);
        };
        for path in data {
            match self.tree.get(path).map(|n| n.stat.mzxid) {
                None => fire.push((EventType::NodeDeleted, path)),
                Some(mzxid) if mzxid > *relative_zxid => {
                    fire.push((EventType::NodeDataChanged, path))
                }
                Some(_) => register(&mut self.tree, path, WatchTable::Data),
            }
        }
        for path in exist {
            if self.tree.get(path).is_some() {
                fire.push((EventType::NodeCreated, path));
            } else {
                register(&mut self.tree, path, WatchTable::Data);
            }
        }
        for path in child {
            match self.tree.get(path).map(|n| n.stat.pzxid) {
                None => fire.push((EventType::NodeDeleted, path)),
                Some(pzxid) if pzxid > *relative_zxid => {
                    fire.push((EventType::NodeChildrenChanged, path))
                }
                Some(_) => register(&mut self.tree, path, WatchTable::Child),
            }
        }
        for path in persistent {
            register(
                &mut self.tree,
                path,
                WatchTable::Both(WatcherMode::Persistent),
            );
        }
        for path in persistent_recursive {
            let mode = WatcherMode::PersistentRecursive;
            register(&mut self.tree, path, WatchTable::Both(mode));
        }
        let connection = self.watcher_session(watcher).1;
        // Fired at once: due before the SetWatches' own reply.
        for (event_type, path) in fire {
            self.out.fired.push(Fired {
                zxid,
                session,
                event_type,
                path: path.clone(),
                deliverable: Some(true),
                persistent: false,
                registered_at: Some(op.invoke_at),
                set_watches: Some(id),
                connection,
            });
        }
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
        let watcher = match op.request {
            // getEphemerals names the session's ephemerals: it is the session's question.
            Request::GetEphemerals { .. } => session,
            _ => self.connection_watcher(session, op.client, op.invoke_at),
        };
        if let Some(path) = watched_path(op.request) {
            let at = op.end_at().expect("replied");
            self.registered.insert((watcher, path_hash(path)), at);
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
                            watcher,
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
            let answer = read::serve_read(&mut self.tree, watcher, ids, op.request, &mut unused);
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

/// Which of the tree's watch tables a re-registered watch goes to.
#[derive(Clone, Copy)]
enum WatchTable {
    Data,
    Child,
    Both(WatcherMode),
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
                && same_set(children, node.children.iter())
        }
        _ => false,
    };
    Some(same)
}

fn same_answer(reply: &Reply, answer: &Result<Response, ErrorCode>) -> bool {
    match answer {
        Ok(response) => reply.err == ErrorCode::Ok && same_response(&reply.response, response),
        Err(err) => reply.err == *err,
    }
}

/// Whether two answers say the same. Children and ephemeral paths are sets: ZooKeeper
/// lists them in its hash sets' order (`DataNode.getChildren`,
/// `DataTree.getEphemerals`), which is not the reference tree's.
pub fn same_response(told: &Response, expected: &Response) -> bool {
    match (told, expected) {
        (
            Response::GetChildren {
                children: a,
                stat: s,
            },
            Response::GetChildren {
                children: b,
                stat: t,
            },
        ) => s == t && same_set(a, b.iter()),
        (Response::Paths(a), Response::Paths(b)) => same_set(a, b.iter()),
        (Response::Multi(a), Response::Multi(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_result(x, y))
        }
        (a, b) => a == b,
    }
}

fn same_result(told: &OpResult, expected: &OpResult) -> bool {
    match (told, expected) {
        (OpResult::GetChildren { children: a }, OpResult::GetChildren { children: b }) => {
            same_set(a, b.iter())
        }
        (a, b) => a == b,
    }
}

/// Whether `told` lists exactly the names of `expected`, in any order (a znode's children
/// are distinct, so a list of the same length holding each of them is the same set).
fn same_set<'a>(told: &[String], expected: impl ExactSizeIterator<Item = &'a String>) -> bool {
    if told.len() != expected.len() {
        return false;
    }
    let expected: Vec<&String> = expected.collect();
    if told.iter().zip(&expected).all(|(a, b)| a == *b) {
        return true;
    }
    let mut a: Vec<&String> = told.iter().collect();
    let mut b = expected;
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

fn same_ids(h: &History, a: AuthId, b: AuthId) -> bool {
    a == b || (h.auth(a).is_some() && h.auth(a) == h.auth(b))
}
