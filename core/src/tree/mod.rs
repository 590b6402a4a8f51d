//! The DataTree: znodes, their stats, ephemerals by session, containers and TTL nodes,
//! and the two watch tables, applying txns exactly as ZooKeeper 3.8's `DataTree` does.

mod java_order;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub use java_order::{JavaHashSet, spread, string_hash_code};

use crate::acl::Acl;
use crate::error::ErrorCode;
use crate::path;
use crate::request::{OpResult, Response};
use crate::stat::{NodeKind, SessionId, Stat, StatPersisted, Zxid};
use crate::txn::{CreateKind, Txn, TxnHeader};
use crate::watch::{EventType, WatchEvent, WatchList, WatchManager, WatcherId, WatcherMode};

/// `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config`: created with every tree.
pub const PROC_ZOOKEEPER: &str = "/zookeeper";
pub const QUOTA_ZOOKEEPER: &str = "/zookeeper/quota";
pub const CONFIG_ZOOKEEPER: &str = "/zookeeper/config";

/// A DataTree's durable content at `zxid`: every znode and every live session (what
/// ZooKeeper's snapshot files hold). Watches are not part of it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub zxid: Zxid,
    pub nodes: Vec<SnapshotNode>,
    pub sessions: Vec<(SessionId, i32)>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotNode {
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub stat: StatPersisted,
}

/// One znode. The ACL is shared (ZooKeeper keeps ACLs in a reference-counted cache).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Znode {
    pub data: Option<Vec<u8>>,
    pub acl: Arc<Vec<Acl>>,
    pub stat: StatPersisted,
    pub children: BTreeSet<String>,
}

impl Znode {
    fn new(data: Option<Vec<u8>>, acl: Arc<Vec<Acl>>, stat: StatPersisted) -> Znode {
        Znode {
            data,
            acl,
            stat,
            children: BTreeSet::new(),
        }
    }

    pub fn data_len(&self) -> usize {
        self.data.as_ref().map_or(0, Vec::len)
    }

    /// The `Stat` a client sees (`DataNode.copyStat`).
    pub fn client_stat(&self) -> Stat {
        self.stat.to_stat(self.data_len(), self.children.len())
    }
}

/// The outcome of applying one txn (`DataTree.ProcessTxnResult`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnResult {
    Session,
    Created {
        path: String,
        stat: Stat,
        with_stat: bool,
    },
    Deleted,
    /// setData and setACL return the node's new stat.
    Stat(Stat),
    Checked,
    Error(ErrorCode),
    /// A multi's sub-results, in order; `err` is the first non-OK one.
    Multi {
        results: Vec<OpResult>,
        err: ErrorCode,
    },
}

impl TxnResult {
    /// The reply header's error and body for the write that produced this txn. A failed
    /// multi still answers OK in its header, with the errors in its results.
    pub fn to_reply(&self) -> (ErrorCode, Response) {
        match self {
            TxnResult::Session | TxnResult::Deleted | TxnResult::Checked => {
                (ErrorCode::Ok, Response::Empty)
            }
            TxnResult::Created { path, stat, .. } => (
                ErrorCode::Ok,
                Response::Create {
                    path: path.clone(),
                    stat: *stat,
                },
            ),
            TxnResult::Stat(stat) => (ErrorCode::Ok, Response::Stat(*stat)),
            TxnResult::Error(err) => (*err, Response::Empty),
            TxnResult::Multi { results, .. } => (ErrorCode::Ok, Response::Multi(results.clone())),
        }
    }

    fn to_op_result(&self) -> OpResult {
        match self {
            TxnResult::Created {
                path,
                stat,
                with_stat,
            } => OpResult::Create {
                path: path.clone(),
                stat: with_stat.then_some(*stat),
            },
            TxnResult::Deleted => OpResult::Delete,
            TxnResult::Stat(stat) => OpResult::SetData { stat: *stat },
            TxnResult::Checked => OpResult::Check,
            TxnResult::Error(err) => OpResult::Error(*err),
            TxnResult::Session | TxnResult::Multi { .. } => unreachable!("not a multi sub-txn"),
        }
    }
}

/// FNV-1a, a stable hash for digests (std's hashers may change between releases).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        // Separate fields so that ("ab", "c") and ("a", "bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
    }

    fn write_i64(&mut self, v: i64) {
        self.write(&v.to_le_bytes());
    }
}

#[derive(Clone, Debug)]
pub struct DataTree {
    /// Every znode by full path; the root is `"/"` (lookups also accept its alias `""`).
    nodes: BTreeMap<String, Znode>,
    /// Each session's ephemeral paths, in Java HashSet order (see `java_order`).
    ephemerals: BTreeMap<SessionId, JavaHashSet>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    /// Live sessions and their timeouts (ZKDatabase's `sessionsWithTimeouts`).
    sessions: BTreeMap<SessionId, i32>,
    data_watches: WatchManager,
    child_watches: WatchManager,
    last_processed_zxid: Zxid,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota`, and `/zookeeper/config`
    /// readable by anyone (`DataTree()` and `addConfigNode`). Every stat starts at zero.
    pub fn new() -> DataTree {
        let mut tree = DataTree {
            nodes: BTreeMap::new(),
            ephemerals: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            sessions: BTreeMap::new(),
            data_watches: WatchManager::default(),
            child_watches: WatchManager::default(),
            last_processed_zxid: 0,
        };
        let empty = || Some(Vec::new());
        for (path, acl) in [
            ("/", Acl::open_unsafe()),
            (PROC_ZOOKEEPER, Acl::open_unsafe()),
            (QUOTA_ZOOKEEPER, Acl::open_unsafe()),
            (CONFIG_ZOOKEEPER, Acl::read_unsafe()),
        ] {
            tree.nodes.insert(
                path.to_string(),
                Znode::new(empty(), Arc::new(acl), StatPersisted::default()),
            );
        }
        tree.node_mut("/").children.insert("zookeeper".to_string());
        let zk = tree.node_mut(PROC_ZOOKEEPER);
        zk.children.insert("quota".to_string());
        zk.children.insert("config".to_string());
        // addConfigNode sets the config node's ACL with setACL(..., -1): aversion -1.
        tree.node_mut(CONFIG_ZOOKEEPER).stat.aversion = -1;
        tree
    }

    /// `isSpecialPath`: the nodes a client may never delete.
    pub fn is_special_path(path: &str) -> bool {
        matches!(
            path,
            "/" | PROC_ZOOKEEPER | QUOTA_ZOOKEEPER | CONFIG_ZOOKEEPER
        )
    }

    fn key(path: &str) -> &str {
        if path.is_empty() { "/" } else { path }
    }

    /// The node at `path`; `""` is the root's alias, as in ZooKeeper's node map.
    pub fn get(&self, path: &str) -> Option<&Znode> {
        self.nodes.get(DataTree::key(path))
    }

    fn node_mut(&mut self, path: &str) -> &mut Znode {
        let key = DataTree::key(path);
        self.nodes
            .get_mut(key)
            .unwrap_or_else(|| panic!("node {key} must exist"))
    }

    pub fn last_processed_zxid(&self) -> Zxid {
        self.last_processed_zxid
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn nodes(&self) -> impl Iterator<Item = (&String, &Znode)> {
        self.nodes.iter()
    }

    pub fn sessions(&self) -> &BTreeMap<SessionId, i32> {
        &self.sessions
    }

    /// A session's ephemeral paths in ZooKeeper's iteration order.
    pub fn ephemerals_of(&self, session: SessionId) -> Option<&JavaHashSet> {
        self.ephemerals.get(&session)
    }

    /// The tree's content as a snapshot labelled with the last applied zxid.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            zxid: self.last_processed_zxid,
            nodes: self
                .nodes
                .iter()
                .map(|(path, n)| SnapshotNode {
                    path: path.clone(),
                    data: n.data.clone(),
                    acl: n.acl.as_ref().clone(),
                    stat: n.stat,
                })
                .collect(),
            sessions: self.sessions.iter().map(|(s, t)| (*s, *t)).collect(),
        }
    }

    /// Rebuild a tree from a snapshot (`DataTree.deserialize`). Ephemerals are indexed in
    /// path order, so their close order after a restore can differ from ZooKeeper's.
    pub fn from_snapshot(snapshot: &Snapshot) -> DataTree {
        let mut tree = DataTree::new();
        tree.nodes.clear();
        for n in &snapshot.nodes {
            tree.nodes.insert(
                n.path.clone(),
                Znode::new(n.data.clone(), Arc::new(n.acl.clone()), n.stat),
            );
        }
        let paths: Vec<String> = tree
            .nodes
            .keys()
            .filter(|p| p.as_str() != "/")
            .cloned()
            .collect();
        for path in paths {
            let (parent, name) = path::split_last(&path).expect("snapshot paths are absolute");
            let kind = tree.nodes[&path].stat.kind();
            tree.nodes
                .get_mut(DataTree::key(parent))
                .unwrap_or_else(|| panic!("snapshot lacks the parent of {path}"))
                .children
                .insert(name.to_string());
            match kind {
                NodeKind::Container => {
                    tree.containers.insert(path.clone());
                }
                NodeKind::Ttl(_) => {
                    tree.ttls.insert(path.clone());
                }
                NodeKind::Ephemeral(session) => {
                    tree.ephemerals.entry(session).or_default().insert(&path);
                }
                NodeKind::Persistent => {}
            }
        }
        tree.sessions = snapshot.sessions.iter().copied().collect();
        tree.last_processed_zxid = snapshot.zxid;
        tree
    }

    /// A digest of the durable content (nodes, stats, ACLs, data, sessions) and the last
    /// applied zxid: two replicas that applied the same txns have the same digest.
    pub fn digest(&self) -> u64 {
        let mut h = Fnv::default();
        h.write_i64(self.last_processed_zxid);
        for (path, n) in &self.nodes {
            h.write(path.as_bytes());
            h.write_i64(n.data.as_ref().map_or(-1, |d| d.len() as i64));
            h.write(n.data.as_deref().unwrap_or_default());
            for a in n.acl.iter() {
                h.write_i64(i64::from(a.perms));
                h.write(a.scheme.as_bytes());
                h.write(a.id.as_bytes());
            }
            let s = &n.stat;
            for v in [
                s.czxid,
                s.mzxid,
                s.ctime,
                s.mtime,
                i64::from(s.version),
                i64::from(s.cversion),
                i64::from(s.aversion),
                s.ephemeral_owner,
                s.pzxid,
            ] {
                h.write_i64(v);
            }
        }
        for (session, timeout) in &self.sessions {
            h.write_i64(*session);
            h.write_i64(i64::from(*timeout));
        }
        h.0
    }

    // ----- applying txns -----

    /// `DataTree.processTxn`: apply a committed txn, pushing the watch events it fires.
    pub fn apply(&mut self, hdr: &TxnHeader, txn: &Txn, events: &mut Vec<WatchEvent>) -> TxnResult {
        let result = self.apply_one(hdr, txn, events);
        // Zab: txns are applied in zxid order; a replay may repeat the last one.
        if hdr.zxid > self.last_processed_zxid {
            self.last_processed_zxid = hdr.zxid;
        }
        result
    }

    fn apply_one(&mut self, hdr: &TxnHeader, txn: &Txn, events: &mut Vec<WatchEvent>) -> TxnResult {
        let zxid = hdr.zxid;
        let outcome = match txn {
            Txn::CreateSession { timeout_ms } => {
                self.sessions.insert(hdr.session_id, *timeout_ms);
                Ok(TxnResult::Session)
            }
            Txn::CloseSession { paths } => {
                self.kill_session(hdr.session_id, zxid, paths, events);
                Ok(TxnResult::Session)
            }
            Txn::Create {
                path,
                data,
                acl,
                ephemeral_owner,
                parent_cversion,
                kind,
            } => {
                let created = self.create_node(
                    path,
                    data.clone(),
                    acl.clone(),
                    *ephemeral_owner,
                    *parent_cversion,
                    zxid,
                    hdr.time,
                    events,
                );
                if created == Err(ErrorCode::NodeExists) {
                    // Replaying a log over a fuzzy snapshot can meet a node that the
                    // snapshot already holds; the parent's cversion and pzxid still move
                    // (DataTree.processTxn, ZOOKEEPER-3104).
                    self.set_cversion_pzxid(path, *parent_cversion, zxid);
                }
                let with_stat = *kind != CreateKind::Create;
                created.map(|stat| TxnResult::Created {
                    path: path.clone(),
                    stat,
                    with_stat,
                })
            }
            Txn::Delete { path } | Txn::DeleteContainer { path } => self
                .delete_node(path, zxid, events)
                .map(|()| TxnResult::Deleted),
            Txn::SetData {
                path,
                data,
                version,
            } => self
                .set_data(path, data.clone(), *version, zxid, hdr.time, events)
                .map(TxnResult::Stat),
            Txn::SetAcl { path, acl, version } => self
                .set_acl(path, acl.clone(), *version)
                .map(TxnResult::Stat),
            Txn::Check { .. } => Ok(TxnResult::Checked),
            Txn::Error { err } => Ok(TxnResult::Error(*err)),
            Txn::Multi(txns) => Ok(self.apply_multi(hdr, txns, events)),
        };
        outcome.unwrap_or_else(TxnResult::Error)
    }

    /// A multi is all or nothing: when prep failed one op, every sub-txn is an error, those
    /// before it `OK` and those after it `RUNTIMEINCONSISTENCY` (DataTree.processTxn).
    fn apply_multi(
        &mut self,
        hdr: &TxnHeader,
        txns: &[Txn],
        events: &mut Vec<WatchEvent>,
    ) -> TxnResult {
        let failed = txns.iter().any(Txn::is_error);
        let mut post_failed = false;
        let mut results = Vec::with_capacity(txns.len());
        let mut err = ErrorCode::Ok;
        for sub in txns {
            let result = if let Txn::Error { err } = sub {
                post_failed = true;
                TxnResult::Error(*err)
            } else if failed {
                TxnResult::Error(if post_failed {
                    ErrorCode::RuntimeInconsistency
                } else {
                    ErrorCode::Ok
                })
            } else {
                assert!(
                    !matches!(
                        sub,
                        Txn::Multi(_) | Txn::CreateSession { .. } | Txn::CloseSession { .. }
                    ),
                    "invalid multi sub-txn at zxid {:#x}",
                    hdr.zxid
                );
                self.apply_one(hdr, sub, events)
            };
            if let TxnResult::Error(e) = result {
                if err.is_ok() {
                    err = e;
                }
            }
            results.push(result.to_op_result());
        }
        TxnResult::Multi { results, err }
    }

    #[allow(clippy::too_many_arguments)]
    fn create_node(
        &mut self,
        path: &str,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        ephemeral_owner: i64,
        parent_cversion: i32,
        zxid: Zxid,
        time: i64,
        events: &mut Vec<WatchEvent>,
    ) -> Result<Stat, ErrorCode> {
        let (parent_name, child_name) = path::split_last(path).ok_or(ErrorCode::BadArguments)?;
        let parent = self
            .nodes
            .get_mut(DataTree::key(parent_name))
            .ok_or(ErrorCode::NoNode)?;
        if parent.children.contains(child_name) {
            return Err(ErrorCode::NodeExists);
        }
        let parent_cversion = if parent_cversion == -1 {
            parent.stat.cversion + 1
        } else {
            parent_cversion
        };
        if parent_cversion > parent.stat.cversion {
            parent.stat.cversion = parent_cversion;
            parent.stat.pzxid = zxid;
        }
        parent.children.insert(child_name.to_string());
        let parent_acl = Arc::clone(&parent.acl);
        let acl = Arc::new(acl);
        let node = Znode::new(
            data,
            Arc::clone(&acl),
            StatPersisted::new_node(zxid, time, ephemeral_owner),
        );
        let stat = node.client_stat();
        let previous = self.nodes.insert(path.to_string(), node);
        assert!(
            previous.is_none(),
            "create {path} at zxid {zxid:#x}: node map and parent's children disagree"
        );
        match NodeKind::from_owner(ephemeral_owner) {
            NodeKind::Container => {
                self.containers.insert(path.to_string());
            }
            NodeKind::Ttl(_) => {
                self.ttls.insert(path.to_string());
            }
            NodeKind::Ephemeral(session) => {
                self.ephemerals.entry(session).or_default().insert(path);
            }
            NodeKind::Persistent => {}
        }
        self.data_watches
            .trigger(path, EventType::NodeCreated, Some(&acl), None, events);
        let parent_path = path::watch_parent(parent_name);
        self.child_watches.trigger(
            parent_path,
            EventType::NodeChildrenChanged,
            Some(&parent_acl),
            None,
            events,
        );
        Ok(stat)
    }

    fn delete_node(
        &mut self,
        path: &str,
        zxid: Zxid,
        events: &mut Vec<WatchEvent>,
    ) -> Result<(), ErrorCode> {
        let (parent_name, child_name) = path::split_last(path).ok_or(ErrorCode::BadArguments)?;
        let parent = self
            .nodes
            .get_mut(DataTree::key(parent_name))
            .ok_or(ErrorCode::NoNode)?;
        parent.children.remove(child_name);
        let parent_acl = Arc::clone(&parent.acl);
        // Only move pzxid forward: a create may already have set a higher one.
        if zxid > parent.stat.pzxid {
            parent.stat.pzxid = zxid;
        }
        let node = self.nodes.remove(path).ok_or(ErrorCode::NoNode)?;
        self.unindex(path, &node);
        // Prep refuses to delete a node with children (NotEmpty), so a committed delete
        // meets one only when the log is replayed over a fuzzy snapshot that already holds
        // a later incarnation of the node, with children created after this txn.
        // ZooKeeper's DataTree.deleteNode does not look at the children: it unlinks the
        // node and leaves them unreachable until the replayed creates write them again.
        // Dropping them with the node reaches the same tree once the replay is done.
        self.forget_descendants(path, &node.children);
        // A watcher that hears NodeDeleted through its data watch does not hear it again
        // through a child watch on the same node.
        let acl = Some(&node.acl);
        let notified = self
            .data_watches
            .trigger(path, EventType::NodeDeleted, acl, None, events);
        self.child_watches
            .trigger(path, EventType::NodeDeleted, acl, Some(&notified), events);
        let parent_path = path::watch_parent(parent_name);
        self.child_watches.trigger(
            parent_path,
            EventType::NodeChildrenChanged,
            Some(&parent_acl),
            None,
            events,
        );
        Ok(())
    }

    /// Remove a node that left the node map from the container, TTL and ephemeral indexes.
    fn unindex(&mut self, path: &str, node: &Znode) {
        match node.stat.kind() {
            NodeKind::Container => {
                self.containers.remove(path);
            }
            NodeKind::Ttl(_) => {
                self.ttls.remove(path);
            }
            NodeKind::Ephemeral(session) => {
                if let Some(set) = self.ephemerals.get_mut(&session) {
                    set.remove(path);
                }
            }
            NodeKind::Persistent => {}
        }
    }

    /// Drop every descendant of the deleted node at `path`, without events: they were never
    /// in the tree the txn was prepared on (see `delete_node`).
    fn forget_descendants(&mut self, path: &str, children: &BTreeSet<String>) {
        let mut stack: Vec<String> = children.iter().map(|c| format!("{path}/{c}")).collect();
        while let Some(p) = stack.pop() {
            let node = self
                .nodes
                .remove(&p)
                .unwrap_or_else(|| panic!("child {p} of a deleted node is not in the node map"));
            self.unindex(&p, &node);
            stack.extend(node.children.iter().map(|c| format!("{p}/{c}")));
        }
    }

    fn set_data(
        &mut self,
        path: &str,
        data: Option<Vec<u8>>,
        version: i32,
        zxid: Zxid,
        time: i64,
        events: &mut Vec<WatchEvent>,
    ) -> Result<Stat, ErrorCode> {
        let node = self
            .nodes
            .get_mut(DataTree::key(path))
            .ok_or(ErrorCode::NoNode)?;
        node.data = data;
        node.stat.mtime = time;
        node.stat.mzxid = zxid;
        node.stat.version = version;
        let stat = node.client_stat();
        let acl = Arc::clone(&node.acl);
        self.data_watches
            .trigger(path, EventType::NodeDataChanged, Some(&acl), None, events);
        Ok(stat)
    }

    fn set_acl(&mut self, path: &str, acl: Vec<Acl>, version: i32) -> Result<Stat, ErrorCode> {
        let node = self
            .nodes
            .get_mut(DataTree::key(path))
            .ok_or(ErrorCode::NoNode)?;
        node.stat.aversion = version;
        node.acl = Arc::new(acl);
        Ok(node.client_stat())
    }

    /// `DataTree.setCversionPzxid`: raise a parent's cversion and pzxid when a replayed
    /// create meets an existing node.
    fn set_cversion_pzxid(&mut self, child_path: &str, cversion: i32, zxid: Zxid) {
        let Some((parent, _)) = path::split_last(child_path) else {
            return;
        };
        if let Some(node) = self.nodes.get_mut(DataTree::key(parent)) {
            if cversion > node.stat.cversion {
                node.stat.cversion = cversion;
                node.stat.pzxid = zxid;
            }
        }
    }

    /// `DataTree.killSession`: delete the txn's paths in its order, then any ephemerals of
    /// the session the txn did not name, and forget the session.
    fn kill_session(
        &mut self,
        session: SessionId,
        zxid: Zxid,
        paths: &[String],
        events: &mut Vec<WatchEvent>,
    ) {
        let local = self.ephemerals.remove(&session);
        for path in paths {
            // A node already gone is skipped, as ZooKeeper logs and ignores NoNode here.
            let _ = self.delete_node(path, zxid, events);
        }
        if let Some(local) = local {
            let rest: Vec<String> = local
                .iter()
                .filter(|p| !paths.iter().any(|q| q == p))
                .map(str::to_string)
                .collect();
            for path in rest {
                let _ = self.delete_node(&path, zxid, events);
            }
        }
        self.sessions.remove(&session);
        self.data_watches.remove_watcher(session);
        self.child_watches.remove_watcher(session);
    }

    // ----- reads -----

    /// `getData`: data and stat; a watch is set only when the node exists.
    pub fn get_data(
        &mut self,
        path: &str,
        watcher: Option<WatcherId>,
    ) -> Result<(Option<Vec<u8>>, Stat), ErrorCode> {
        let node = self.get(path).ok_or(ErrorCode::NoNode)?;
        let result = (node.data.clone(), node.client_stat());
        if let Some(w) = watcher {
            self.data_watches.add(path, w, WatcherMode::Standard);
        }
        Ok(result)
    }

    /// `exists` (`statNode`): the watch is set whether or not the node exists.
    pub fn stat_node(&mut self, path: &str, watcher: Option<WatcherId>) -> Result<Stat, ErrorCode> {
        if let Some(w) = watcher {
            self.data_watches.add(path, w, WatcherMode::Standard);
        }
        self.get(path)
            .map(Znode::client_stat)
            .ok_or(ErrorCode::NoNode)
    }

    /// `getChildren`: the names (in path order) and the parent's stat.
    pub fn get_children(
        &mut self,
        path: &str,
        watcher: Option<WatcherId>,
    ) -> Result<(Vec<String>, Stat), ErrorCode> {
        let node = self.get(path).ok_or(ErrorCode::NoNode)?;
        let result = (node.children.iter().cloned().collect(), node.client_stat());
        if let Some(w) = watcher {
            self.child_watches.add(path, w, WatcherMode::Standard);
        }
        Ok(result)
    }

    /// `getAllChildrenNumber`: every descendant; for `/` every node but the root and its
    /// alias (which ZooKeeper counts as two map entries, so `/zookeeper` and its children
    /// are included).
    pub fn all_children_number(&self, path: &str) -> usize {
        if path == "/" {
            return self.nodes.len() - 1;
        }
        let prefix = format!("{path}/");
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .count()
    }

    /// `addWatch`: a persistent or persistent recursive watch, in both tables.
    pub fn add_watch(&mut self, path: &str, watcher: WatcherId, mode: WatcherMode) {
        self.data_watches.add(path, watcher, mode);
        self.child_watches.add(path, watcher, mode);
    }

    /// `removeWatches`: true when a watch of that kind was removed.
    pub fn remove_watch(
        &mut self,
        path: &str,
        watcher: WatcherId,
        data: bool,
        child: bool,
    ) -> bool {
        let removed_child = child && self.child_watches.remove(path, watcher);
        let removed_data = data && self.data_watches.remove(path, watcher);
        removed_child || removed_data
    }

    /// Forget every watch of a watcher (its connection is gone).
    pub fn remove_watcher(&mut self, watcher: WatcherId) {
        self.data_watches.remove_watcher(watcher);
        self.child_watches.remove_watcher(watcher);
    }

    /// `DataTree.setWatches`: re-register a reconnecting client's watches, or fire at once
    /// the events it missed since `relative_zxid`.
    #[allow(clippy::too_many_arguments)]
    pub fn set_watches(
        &mut self,
        relative_zxid: Zxid,
        data: &[String],
        exist: &[String],
        child: &[String],
        persistent: &[String],
        persistent_recursive: &[String],
        watcher: WatcherId,
        events: &mut Vec<WatchEvent>,
    ) {
        let mut fire = |event_type, path: &str| {
            events.push(WatchEvent {
                watcher,
                event_type,
                path: path.to_string(),
                acl: None,
            })
        };
        for path in data {
            match self.get(path) {
                None => fire(EventType::NodeDeleted, path),
                Some(n) if n.stat.mzxid > relative_zxid => fire(EventType::NodeDataChanged, path),
                Some(_) => self.data_watches.add(path, watcher, WatcherMode::Standard),
            }
        }
        for path in exist {
            match self.get(path) {
                Some(_) => fire(EventType::NodeCreated, path),
                None => self.data_watches.add(path, watcher, WatcherMode::Standard),
            }
        }
        for path in child {
            match self.get(path) {
                None => fire(EventType::NodeDeleted, path),
                Some(n) if n.stat.pzxid > relative_zxid => {
                    fire(EventType::NodeChildrenChanged, path)
                }
                Some(_) => self.child_watches.add(path, watcher, WatcherMode::Standard),
            }
        }
        for path in persistent {
            self.add_watch(path, watcher, WatcherMode::Persistent);
        }
        for path in persistent_recursive {
            self.add_watch(path, watcher, WatcherMode::PersistentRecursive);
        }
    }

    /// The watches a watcher holds, for tests and for reporting.
    pub fn watches_of(&self, watcher: WatcherId) -> (WatchList, WatchList) {
        (
            self.data_watches.watches_of(watcher),
            self.child_watches.watches_of(watcher),
        )
    }

    /// `ContainerManager.getCandidates`: empty containers that once had a child, and TTL
    /// nodes without children whose last change is more than their TTL before `now_ms`.
    /// Returned in path order (ZooKeeper uses hash-set order).
    pub fn reap_candidates(&self, now_ms: i64) -> Vec<String> {
        let mut candidates = BTreeSet::new();
        for path in &self.containers {
            let node = &self.nodes[path];
            if node.children.is_empty() && node.stat.cversion > 0 {
                candidates.insert(path.clone());
            }
        }
        for path in &self.ttls {
            let node = &self.nodes[path];
            if let NodeKind::Ttl(ttl) = node.stat.kind() {
                if node.children.is_empty() && ttl != 0 && now_ms - node.stat.mtime > ttl {
                    candidates.insert(path.clone());
                }
            }
        }
        candidates.into_iter().collect()
    }

    /// Check the tree's structural invariants (O(n); for tests and debug builds).
    pub fn check_invariants(&self) {
        for (path, node) in &self.nodes {
            for child in &node.children {
                let child_path = if path == "/" {
                    format!("/{child}")
                } else {
                    format!("{path}/{child}")
                };
                assert!(
                    self.nodes.contains_key(&child_path),
                    "child {child_path} of {path} missing"
                );
            }
            if path != "/" {
                let (parent, name) = path::split_last(path).expect("stored paths have a slash");
                assert!(
                    self.get(parent).is_some_and(|p| p.children.contains(name)),
                    "{path} not listed by its parent"
                );
            }
            if let NodeKind::Ephemeral(s) = node.stat.kind() {
                assert!(
                    self.ephemerals.get(&s).is_some_and(|e| e.contains(path)),
                    "ephemeral {path} not tracked for {s:#x}"
                );
                assert!(node.children.is_empty(), "ephemeral {path} has children");
            }
        }
    }
}
