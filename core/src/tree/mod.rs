//! The DataTree: znodes, their stats, ephemerals by session, containers and TTL nodes,
//! and the two watch tables, applying txns exactly as ZooKeeper 3.8's `DataTree` does.
//! Node storage is here; `apply` applies txns, `reads` serves reads and watches,
//! `snapshot` holds the snapshot form and the digest.

mod apply;
mod java_order;
mod reads;
mod snapshot;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub use apply::TxnResult;
pub use java_order::{JavaHashSet, spread, string_hash_code};
pub use snapshot::{Snapshot, SnapshotNode};

use crate::acl::Acl;
use crate::path;
use crate::stat::{NodeKind, SessionId, Stat, StatPersisted, Zxid};
use crate::watch::WatchManager;

/// `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config`: created with every tree.
pub const PROC_ZOOKEEPER: &str = "/zookeeper";
pub const QUOTA_ZOOKEEPER: &str = "/zookeeper/quota";
pub const CONFIG_ZOOKEEPER: &str = "/zookeeper/config";

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
