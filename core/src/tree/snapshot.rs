//! The tree's snapshot form (what ZooKeeper's snapshot files hold) and its digest.

use std::sync::Arc;

use super::{DataTree, Znode};
use crate::acl::Acl;
use crate::path;
use crate::stat::{NodeKind, SessionId, StatPersisted, Zxid};

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

impl DataTree {
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
}
