//! Applying committed txns to the tree (`DataTree.processTxn`): creates, deletes, data
//! and ACL changes, multis and closed sessions, with the watch events they fire.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{DataTree, Znode};
use crate::acl::Acl;
use crate::error::ErrorCode;
use crate::path;
use crate::request::{OpResult, Response};
use crate::stat::{NodeKind, SessionId, Stat, StatPersisted, Zxid};
use crate::txn::{CreateKind, Txn, TxnHeader};
use crate::watch::{EventType, WatchEvent};

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

impl DataTree {
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
}
