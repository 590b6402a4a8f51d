//! The sequential specification of ZooKeeper's writes, for the linearizability search
//! (`linearizability::Model`) and, in tests, stateright's `SequentialSpec`.
//!
//! A state is a set of znodes (path, data, ACL, versions, owner); a step preps the
//! request on it and applies the txn with zksim-core's own `Prep` and `DataTree` (ZooKeeper
//! 3.8's `PrepRequestProcessor` and `DataTree.processTxn`), so the model and the reference
//! replay share one definition of every write. Nothing here reads a zxid or the ground
//! truth: a reply is compared without its zxid-derived fields (`czxid`, `mzxid`, `pzxid`)
//! and times (`ctime`, `mtime`), which the order alone does not determine.
//!
//! Partitions (P-compositionality, Herlihy and Wing §3.3) follow znode paths: an operation
//! names the nodes it reads or writes, and a create or delete also names its parent when
//! some operation can tell the parent's children apart (it is created, deleted, written,
//! or has sequential children); otherwise the parent is a fixed node and can stay out.

use std::collections::HashSet;

use zksim_core::acl::{Acl, Id};
use zksim_core::error::ErrorCode;
use zksim_core::path;
use zksim_core::prep::{Prep, PrepConfig};
use zksim_core::request::{CreateMode, OpResult, Reply, Request, Response};
use zksim_core::stat::{SessionId, Stat, StatPersisted};
use zksim_core::tree::{DataTree, Snapshot, SnapshotNode, TxnResult};
use zksim_core::txn::TxnHeader;

use crate::index::{End, History};
use crate::linearizability::Model;

/// One znode, without what the order alone does not fix (zxids, times).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeState {
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub owner: i64,
}

/// The znodes of one partition, by path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ZkState {
    pub nodes: Vec<NodeState>,
}

impl ZkState {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota`, `/zookeeper/config`.
    pub fn initial() -> ZkState {
        ZkState::from_tree(&DataTree::new())
    }

    pub fn from_tree(tree: &DataTree) -> ZkState {
        let nodes = tree
            .nodes()
            .map(|(path, n)| NodeState {
                path: path.clone(),
                data: n.data.clone(),
                acl: n.acl.as_ref().clone(),
                version: n.stat.version,
                cversion: n.stat.cversion,
                aversion: n.stat.aversion,
                owner: n.stat.ephemeral_owner,
            })
            .collect();
        ZkState { nodes }
    }

    pub fn to_tree(&self) -> DataTree {
        let nodes = self
            .nodes
            .iter()
            .map(|n| SnapshotNode {
                path: n.path.clone(),
                data: n.data.clone(),
                acl: n.acl.clone(),
                stat: StatPersisted {
                    version: n.version,
                    cversion: n.cversion,
                    aversion: n.aversion,
                    ephemeral_owner: n.owner,
                    ..StatPersisted::default()
                },
            })
            .collect();
        DataTree::from_snapshot(&Snapshot {
            zxid: 0,
            nodes,
            sessions: Vec::new(),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// A client write; `auth` is `None` when the client's identities are unknown.
    Write {
        session: SessionId,
        xid: i32,
        request: Request,
        auth: Option<Vec<Id>>,
        /// The name a sequential create was given, when the reply says it.
        created: Vec<String>,
    },
    /// The session ends (closed or expired): its ephemerals go.
    CloseSession {
        session: SessionId,
        ephemerals: Vec<String>,
    },
    /// The container manager deletes a container or an expired TTL node.
    Reap { path: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkInput {
    pub kind: InputKind,
    keys: Vec<String>,
}

impl ZkInput {
    pub fn write(
        session: SessionId,
        xid: i32,
        request: Request,
        auth: Option<&[Id]>,
        output: Option<&ZkOutput>,
    ) -> ZkInput {
        let created = output.map(ZkOutput::created_paths).unwrap_or_default();
        ZkInput {
            kind: InputKind::Write {
                session,
                xid,
                request,
                auth: auth.map(<[Id]>::to_vec),
                created,
            },
            keys: Vec::new(),
        }
    }

    pub fn close(session: SessionId, ephemerals: Vec<String>) -> ZkInput {
        ZkInput {
            kind: InputKind::CloseSession {
                session,
                ephemerals,
            },
            keys: Vec::new(),
        }
    }

    pub fn reap(path: String) -> ZkInput {
        ZkInput {
            kind: InputKind::Reap { path },
            keys: Vec::new(),
        }
    }

    pub fn keys(&self) -> &[String] {
        &self.keys
    }
}

/// The znodes whose children some operation can tell apart: the parents that creates and
/// deletes under them must name as keys.
fn observed_parents(inputs: &[ZkInput]) -> HashSet<String> {
    let mut observed = HashSet::new();
    let note = |r: &Request, observed: &mut HashSet<String>| match r {
        Request::Create { path, mode, .. } => {
            if mode.is_sequential() {
                observed.insert(parent_of(path).to_string());
            } else {
                observed.insert(path.clone());
            }
        }
        Request::Delete { path, .. }
        | Request::SetData { path, .. }
        | Request::SetAcl { path, .. }
        | Request::Check { path, .. } => {
            observed.insert(path.clone());
        }
        _ => {}
    };
    for input in inputs {
        if let InputKind::Write {
            request, created, ..
        } = &input.kind
        {
            for r in sub_requests(request) {
                note(r, &mut observed);
            }
            observed.extend(created.iter().cloned());
        }
    }
    observed
}

/// Give every input its keys (see the module comment).
pub fn assign_keys(inputs: &mut [ZkInput]) {
    let observed = observed_parents(inputs);
    let with_parent = |path: &str, keys: &mut Vec<String>| {
        keys.push(path.to_string());
        let parent = parent_of(path);
        if observed.contains(parent) {
            keys.push(parent.to_string());
        }
    };
    for input in inputs.iter_mut() {
        let mut keys = Vec::new();
        match &input.kind {
            InputKind::Write {
                request, created, ..
            } => {
                for r in sub_requests(request) {
                    match r {
                        Request::Create { path, mode, .. } if mode.is_sequential() => {
                            keys.push(parent_of(path).to_string());
                        }
                        Request::Create { path, .. } | Request::Delete { path, .. } => {
                            with_parent(path, &mut keys)
                        }
                        other => keys.extend(other.path().map(str::to_string)),
                    }
                }
                keys.extend(created.iter().cloned());
            }
            InputKind::CloseSession { ephemerals, .. } => {
                for path in ephemerals {
                    with_parent(path, &mut keys);
                }
            }
            InputKind::Reap { path } => with_parent(path, &mut keys),
        }
        keys.sort();
        keys.dedup();
        input.keys = keys;
    }
}

fn sub_requests(r: &Request) -> Vec<&Request> {
    match r {
        Request::Multi(ops) => ops.iter().collect(),
        other => vec![other],
    }
}

fn parent_of(p: &str) -> &str {
    match path::split_last(p) {
        Some(("", _)) | None => "/",
        Some((parent, _)) => parent,
    }
}

/// What a client was told, without zxids and times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkOutput {
    /// No reply (or a refusal): the write may or may not have taken effect.
    Unknown,
    Reply {
        err: ErrorCode,
        response: Response,
    },
}

impl ZkOutput {
    /// The output a reply stands for; `None` for a refusal, which is as good as unknown.
    pub fn from_reply(reply: &Reply) -> Option<ZkOutput> {
        if crate::index::is_refusal(reply.err) {
            return None;
        }
        Some(ZkOutput::Reply {
            err: reply.err,
            response: normalize(&reply.response),
        })
    }

    fn created_paths(&self) -> Vec<String> {
        match self {
            ZkOutput::Reply {
                response: Response::Create { path, .. },
                ..
            } => vec![path.clone()],
            ZkOutput::Reply {
                response: Response::Multi(results),
                ..
            } => results
                .iter()
                .filter_map(|r| match r {
                    OpResult::Create { path, .. } => Some(path.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether a write with this answer changed nothing.
    fn is_failure(&self) -> bool {
        match self {
            ZkOutput::Unknown => false,
            ZkOutput::Reply {
                response: Response::Multi(results),
                ..
            } => results.iter().any(|r| !r.err().is_ok()),
            ZkOutput::Reply { err, .. } => !err.is_ok(),
        }
    }
}

fn normalize_stat(stat: &Stat) -> Stat {
    Stat {
        czxid: 0,
        mzxid: 0,
        pzxid: 0,
        ctime: 0,
        mtime: 0,
        ..*stat
    }
}

fn normalize(response: &Response) -> Response {
    match response {
        Response::Create { path, stat } => Response::Create {
            path: path.clone(),
            stat: normalize_stat(stat),
        },
        Response::Stat(stat) => Response::Stat(normalize_stat(stat)),
        Response::Multi(results) => Response::Multi(
            results
                .iter()
                .map(|r| match r {
                    OpResult::Create { path, stat } => OpResult::Create {
                        path: path.clone(),
                        stat: stat.as_ref().map(normalize_stat),
                    },
                    OpResult::SetData { stat } => OpResult::SetData {
                        stat: normalize_stat(stat),
                    },
                    other => other.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The model: ZooKeeper's writes on a znode tree.
#[derive(Clone, Copy, Debug, Default)]
pub struct ZkModel;

impl ZkModel {
    /// Apply one input with the given identities: the next state and what the client is
    /// told. Deterministic.
    pub fn run(&self, state: &ZkState, input: &ZkInput, ids: &[Id]) -> (ZkState, ZkOutput) {
        let mut tree = state.to_tree();
        let result = apply(&mut tree, input, ids);
        let (err, response) = result.to_reply();
        let output = ZkOutput::Reply {
            err,
            response: normalize(&response),
        };
        (ZkState::from_tree(&tree), output)
    }
}

fn apply(tree: &mut DataTree, input: &ZkInput, ids: &[Id]) -> TxnResult {
    let mut prep = Prep::new(PrepConfig::default());
    let mut events = Vec::new();
    let hdr = |session_id, cxid| TxnHeader {
        session_id,
        cxid,
        zxid: 1,
        time: 0,
    };
    match &input.kind {
        InputKind::Write {
            session,
            xid,
            request,
            ..
        } => {
            let hdr = hdr(*session, *xid);
            let prepped = prep.prep_write(tree, &hdr, ids, request);
            tree.apply(&hdr, &prepped.txn, &mut events)
        }
        InputKind::CloseSession { session, .. } => {
            let hdr = hdr(*session, 0);
            let txn = prep.prep_close_session(tree, &hdr);
            tree.apply(&hdr, &txn, &mut events)
        }
        InputKind::Reap { path } => {
            let hdr = hdr(0, 0);
            let txn = prep.prep_delete_container(tree, &hdr, path);
            tree.apply(&hdr, &txn, &mut events)
        }
    }
}

/// The identities to try: the known ones, or none and then `super` (ACL decisions of a
/// client whose identities are unknown are taken on trust).
fn tries(input: &ZkInput) -> Vec<Vec<Id>> {
    match &input.kind {
        InputKind::Write {
            auth: Some(ids), ..
        } => vec![ids.clone()],
        InputKind::Write { auth: None, .. } => vec![Vec::new(), vec![Id::new("super", "checker")]],
        _ => vec![Vec::new()],
    }
}

impl Model for ZkModel {
    type State = ZkState;
    type Input = ZkInput;
    type Output = ZkOutput;
    type Key = String;

    fn init(&self) -> ZkState {
        ZkState::initial()
    }

    fn step(&self, state: &ZkState, input: &ZkInput, output: &ZkOutput, next: &mut Vec<ZkState>) {
        for ids in tries(input) {
            let (after, told) = self.run(state, input, &ids);
            let accepted = match output {
                ZkOutput::Unknown => true,
                reply => *reply == told,
            };
            if accepted && !next.contains(&after) {
                next.push(after);
            }
        }
    }

    fn keys(&self, input: &ZkInput, keys: &mut Vec<String>) {
        keys.extend(input.keys.iter().cloned());
    }

    fn is_read_only(&self, _input: &ZkInput, output: &ZkOutput) -> bool {
        output.is_failure()
    }

    fn accepts_every_state(&self, _input: &ZkInput, output: &ZkOutput) -> bool {
        *output == ZkOutput::Unknown
    }

    fn describe_state(&self, state: &ZkState) -> String {
        let paths: Vec<&str> = state
            .nodes
            .iter()
            .map(|n| n.path.as_str())
            .filter(|p| !p.starts_with("/zookeeper"))
            .collect();
        format!("{{{}}}", paths.join(", "))
    }

    fn describe_operation(&self, input: &ZkInput, output: &ZkOutput) -> String {
        let what = match &input.kind {
            InputKind::Write { request, .. } => crate::props::describe::request(request),
            InputKind::CloseSession { session, .. } => format!("closeSession {session:#x}"),
            InputKind::Reap { path } => format!("reap {path}"),
        };
        match output {
            ZkOutput::Unknown => format!("{what} -> ?"),
            ZkOutput::Reply { err, .. } => format!("{what} -> {err}"),
        }
    }
}

/// Operations the system performs on its own, as open operations with their call
/// positions: each session that creates ephemerals may end (closed or expired) any time
/// after the invocation of its last answered request, and each container or TTL node may
/// be reaped any time after its create. They are read from the clients' requests, never
/// from the ground truth, so the search is free to place them or not.
pub fn closes_and_reaps(h: &History) -> Vec<(ZkInput, u64)> {
    let mut out = Vec::new();
    for (&session, ops) in &h.session_ops {
        let mut ephemerals = Vec::new();
        let mut last_answered = 0;
        for &id in ops {
            let op = h.op(id);
            if matches!(op.end, End::Reply { .. }) {
                last_answered = op.invoke_at as u64;
            }
            for r in sub_requests(op.request) {
                if let Request::Create { path, mode, .. } = r {
                    match mode {
                        m if m.is_ephemeral() && m.is_sequential() => {
                            ephemerals.push(parent_of(path).to_string())
                        }
                        m if m.is_ephemeral() => ephemerals.push(path.clone()),
                        CreateMode::Container | CreateMode::PersistentWithTtl => {
                            out.push((ZkInput::reap(path.clone()), op.invoke_at as u64))
                        }
                        _ => {}
                    }
                }
            }
        }
        if !ephemerals.is_empty() {
            ephemerals.sort();
            ephemerals.dedup();
            out.push((ZkInput::close(session, ephemerals), last_answered));
        }
    }
    out.sort_by_key(|(_, call)| *call);
    out
}
