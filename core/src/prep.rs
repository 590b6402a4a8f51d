//! The leader's prep stage (ZooKeeper's `PrepRequestProcessor`): validate a write against
//! the tree as it will be once every outstanding txn is applied, and turn it into a txn.
//!
//! Outstanding changes are ZooKeeper's `ChangeRecord`s: one per path touched by a txn that
//! has been prepared but not yet applied, so pipelined writes see each other's effects.

use std::collections::{BTreeMap, VecDeque};

use crate::acl::{self, Acl, Id};
use crate::error::ErrorCode;
use crate::path;
use crate::request::{CreateMode, Request};
use crate::stat::{NodeKind, SessionId, StatPersisted, TTL_MAX_MS, Zxid};
use crate::tree::{DataTree, JavaHashSet};
use crate::txn::{CreateKind, Txn, TxnHeader};

/// The largest znode data zksim accepts: ZooKeeper's default `jute.maxbuffer` (1 MB).
pub const DATA_MAX_BYTES: usize = 1024 * 1024;

/// Whether TTL nodes are enabled (`zookeeper.extendedTypesEnabled`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrepConfig {
    pub extended_types: bool,
}

impl Default for PrepConfig {
    fn default() -> Self {
        PrepConfig {
            extended_types: true,
        }
    }
}

/// A txn's view of one path (`PrepRequestProcessor.ChangeRecord`). `stat` is `None` when
/// the txn deletes the node.
#[derive(Clone, Debug)]
struct ChangeRecord {
    seq: u64,
    zxid: Zxid,
    path: String,
    stat: Option<StatPersisted>,
    child_count: i32,
    acl: Vec<Acl>,
}

/// A prep failure: the error code for the reply, and for bad arguments a sentence saying
/// what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrepError {
    pub err: ErrorCode,
    pub message: Option<String>,
}

impl From<ErrorCode> for PrepError {
    fn from(err: ErrorCode) -> Self {
        PrepError { err, message: None }
    }
}

fn bad_arguments(message: String) -> PrepError {
    PrepError {
        err: ErrorCode::BadArguments,
        message: Some(message),
    }
}

/// The result of prepping one request: the txn to propose, and the reason a write failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepped {
    pub txn: Txn,
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Prep {
    config: PrepConfig,
    /// Records in the order they were made (`zks.outstandingChanges`).
    records: VecDeque<ChangeRecord>,
    /// The latest record's seq per path (`zks.outstandingChangesForPath`).
    latest: BTreeMap<String, u64>,
    next_seq: u64,
}

/// Undo information for a multi: how many records it added and the map entries it replaced.
struct Savepoint {
    records_len: usize,
    replaced: Vec<(String, Option<u64>)>,
}

impl Prep {
    pub fn new(config: PrepConfig) -> Prep {
        Prep {
            config,
            ..Prep::default()
        }
    }

    pub fn outstanding(&self) -> usize {
        self.records.len()
    }

    /// Forget the records of txns up to `zxid`, now applied to the tree
    /// (FinalRequestProcessor drops `outstandingChanges` with `zxid <= applied`).
    pub fn applied(&mut self, zxid: Zxid) {
        while self.records.front().is_some_and(|r| r.zxid <= zxid) {
            let record = self.records.pop_front().expect("front exists");
            if self.latest.get(&record.path) == Some(&record.seq) {
                self.latest.remove(&record.path);
            }
        }
    }

    /// Drop every outstanding record (a new leader starts from its applied tree).
    pub fn clear(&mut self) {
        self.records.clear();
        self.latest.clear();
    }

    fn record_for(&self, tree: &DataTree, path: &str) -> Result<ChangeRecord, ErrorCode> {
        if let Some(seq) = self.latest.get(path) {
            let at = self
                .records
                .binary_search_by_key(seq, |r| r.seq)
                .expect("latest seq is in records");
            let record = &self.records[at];
            return if record.stat.is_some() {
                Ok(record.clone())
            } else {
                Err(ErrorCode::NoNode)
            };
        }
        let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
        Ok(ChangeRecord {
            seq: 0,
            zxid: -1,
            path: path.to_string(),
            stat: Some(node.stat),
            child_count: i32::try_from(node.children.len()).expect("child count fits"),
            acl: node.acl.as_ref().clone(),
        })
    }

    fn add_record(&mut self, mut record: ChangeRecord, savepoint: Option<&mut Savepoint>) {
        self.next_seq += 1;
        record.seq = self.next_seq;
        let replaced = self.latest.insert(record.path.clone(), record.seq);
        if let Some(sp) = savepoint {
            sp.replaced.push((record.path.clone(), replaced));
        }
        self.records.push_back(record);
    }

    fn rollback(&mut self, savepoint: Savepoint) {
        self.records.truncate(savepoint.records_len);
        for (path, previous) in savepoint.replaced.into_iter().rev() {
            match previous {
                Some(seq) => self.latest.insert(path, seq),
                None => self.latest.remove(&path),
            };
        }
    }

    /// Prep a client write (create, delete, setData, setACL, multi) into a txn. A failure
    /// becomes an error txn that still takes the zxid.
    pub fn prep_write(
        &mut self,
        tree: &DataTree,
        hdr: &TxnHeader,
        auth: &[Id],
        request: &Request,
    ) -> Prepped {
        assert!(request.is_write(), "prep_write of a read: {request:?}");
        if let Request::Multi(ops) = request {
            return Prepped {
                txn: self.prep_multi(tree, hdr, auth, ops),
                message: None,
            };
        }
        match self.prep_op(tree, hdr, auth, request, None) {
            Ok(txn) => Prepped { txn, message: None },
            Err(e) => Prepped {
                txn: Txn::Error { err: e.err },
                message: e.message,
            },
        }
    }

    /// A multi: every op prepped in order against the changes of the ops before it; at the
    /// first failure the multi's changes are rolled back and the rest are
    /// RUNTIMEINCONSISTENCY (PrepRequestProcessor, OpCode.multi).
    fn prep_multi(
        &mut self,
        tree: &DataTree,
        hdr: &TxnHeader,
        auth: &[Id],
        ops: &[Request],
    ) -> Txn {
        // A TTL mode without a ttl cannot be decoded into an Op: the whole request fails
        // to unmarshal, and still takes its zxid.
        if ops
            .iter()
            .any(|op| matches!(op, Request::Create { mode, ttl: None, .. } if mode.is_ttl()))
        {
            return Txn::Error {
                err: ErrorCode::MarshallingError,
            };
        }
        let mut savepoint = Savepoint {
            records_len: self.records.len(),
            replaced: Vec::new(),
        };
        let mut failed = false;
        let mut txns = Vec::with_capacity(ops.len());
        for op in ops {
            if failed {
                txns.push(Txn::Error {
                    err: ErrorCode::RuntimeInconsistency,
                });
                continue;
            }
            match self.prep_op(tree, hdr, auth, op, Some(&mut savepoint)) {
                Ok(txn) => txns.push(txn),
                Err(e) => {
                    failed = true;
                    txns.push(Txn::Error { err: e.err });
                }
            }
        }
        if failed {
            self.rollback(savepoint);
        }
        Txn::Multi(txns)
    }

    fn prep_op(
        &mut self,
        tree: &DataTree,
        hdr: &TxnHeader,
        auth: &[Id],
        op: &Request,
        sp: Option<&mut Savepoint>,
    ) -> Result<Txn, PrepError> {
        match op {
            Request::Create {
                path,
                data,
                acl,
                mode,
                ttl,
            } => self.prep_create(tree, hdr, auth, path, data, acl, *mode, *ttl, sp),
            Request::Delete { path, version } => {
                self.prep_delete(tree, hdr, auth, path, *version, sp)
            }
            Request::SetData {
                path,
                data,
                version,
            } => self.prep_set_data(tree, hdr, auth, path, data, *version, sp),
            Request::SetAcl { path, acl, version } => {
                self.prep_set_acl(tree, hdr, auth, path, acl, *version, sp)
            }
            Request::Check { path, version } => self.prep_check(tree, auth, path, *version),
            other => Err(bad_arguments(format!("{other:?} is not allowed here"))),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn prep_create(
        &mut self,
        tree: &DataTree,
        hdr: &TxnHeader,
        auth: &[Id],
        path: &str,
        data: &Option<Vec<u8>>,
        acl: &[Acl],
        mode: CreateMode,
        ttl: Option<i64>,
        mut sp: Option<&mut Savepoint>,
    ) -> Result<Txn, PrepError> {
        check_data_size(path, data)?;
        let (kind, ttl) = if sp.is_some() {
            // Inside a multi, ZooKeeper's Op.create picks the opcode from the mode: a ttl
            // with another mode is dropped, and a plain create answers without a stat.
            match mode {
                m if m.is_ttl() => (CreateKind::Ttl, ttl),
                CreateMode::Container => (CreateKind::Container, None),
                _ => (CreateKind::Create, None),
            }
        } else {
            let kind = match (ttl, mode) {
                (Some(_), _) => CreateKind::Ttl,
                (None, CreateMode::Container) => CreateKind::Container,
                (None, _) => CreateKind::Create2,
            };
            (kind, ttl)
        };
        let ttl = ttl.unwrap_or(-1);
        // validateCreateRequest: TTL modes need extended types; the TTL must suit the mode.
        if mode.is_ttl() && !self.config.extended_types {
            return Err(ErrorCode::Unimplemented.into());
        }
        if mode.is_ttl() && !(1..=TTL_MAX_MS).contains(&ttl) {
            return Err(bad_arguments(format!(
                "ttl {ttl} for {path}: must be in 1..={TTL_MAX_MS}"
            )));
        }
        if !mode.is_ttl() && ttl >= 0 {
            return Err(bad_arguments(format!(
                "ttl {ttl} for {path}: not valid for mode {}",
                mode.name()
            )));
        }
        // A createTTL request whose mode is not a TTL mode, with a negative TTL, passes
        // ZooKeeper's checks and then fails when applied; zksim refuses it here.
        if kind == CreateKind::Ttl && !mode.is_ttl() {
            return Err(bad_arguments(format!(
                "createTTL for {path} with mode {}",
                mode.name()
            )));
        }
        // validatePathForCreate: a slash somewhere and no NUL.
        let Some((parent_path, _)) = path::split_last(path).filter(|_| !path.contains('\0')) else {
            return Err(bad_arguments(path_message(path)));
        };
        let list_acl = acl::fixup_acl(acl, auth)?;
        let parent = self.record_for(tree, parent_path)?;
        acl::check_acl(&parent.acl, acl::PERM_CREATE, auth)?;
        let parent_stat = parent.stat.expect("record_for returns live nodes");
        let full_path = if mode.is_sequential() {
            format!("{path}{:010}", parent_stat.cversion)
        } else {
            path.to_string()
        };
        path::validate_path(&full_path).map_err(|e| bad_arguments(e.to_string()))?;
        if self.record_for(tree, &full_path).is_ok() {
            return Err(ErrorCode::NodeExists.into());
        }
        if matches!(parent_stat.kind(), NodeKind::Ephemeral(_)) {
            return Err(ErrorCode::NoChildrenForEphemerals.into());
        }
        let new_cversion = parent_stat.cversion + 1;
        let ephemeral_owner = match kind {
            CreateKind::Container => NodeKind::Container.owner(),
            CreateKind::Ttl => NodeKind::Ttl(ttl).owner(),
            CreateKind::Create | CreateKind::Create2 if mode.is_ephemeral() => {
                NodeKind::Ephemeral(hdr.session_id).owner()
            }
            CreateKind::Create | CreateKind::Create2 => 0,
        };
        let mut parent_record = parent;
        parent_record.zxid = hdr.zxid;
        parent_record.child_count += 1;
        let ps = parent_record.stat.as_mut().expect("live parent");
        ps.cversion = new_cversion;
        ps.pzxid = hdr.zxid;
        self.add_record(parent_record, sp.as_deref_mut());
        let node_record = ChangeRecord {
            seq: 0,
            zxid: hdr.zxid,
            path: full_path.clone(),
            stat: Some(StatPersisted::new_node(hdr.zxid, hdr.time, ephemeral_owner)),
            child_count: 0,
            acl: list_acl.clone(),
        };
        self.add_record(node_record, sp);
        Ok(Txn::Create {
            path: full_path,
            data: data.clone(),
            acl: list_acl,
            ephemeral_owner,
            parent_cversion: new_cversion,
            kind,
        })
    }

    fn prep_delete(
        &mut self,
        tree: &DataTree,
        hdr: &TxnHeader,
        auth: &[Id],
        path: &str,
        version: i32,
        sp: Option<&mut Savepoint>,
    ) -> Result<Txn, PrepError> {
        let parent_path = parent_and_validate(path)?;
        let parent = self.record_for(tree, parent_path)?;
        acl::check_acl(&parent.acl, acl::PERM_DELETE, auth)?;
        let node = self.record_for(tree, path)?;
        let node_stat = node.stat.expect("live node");
        check_version(node_stat.version, version)?;
        if node.child_count > 0 {
            return Err(ErrorCode::NotEmpty.into());
        }
        self.record_delete(parent, path, hdr.zxid, sp);
        Ok(Txn::Delete {
            path: path.to_string(),
        })
    }

    /// The records a deletion leaves: the parent loses a child and moves its pzxid; the
    /// node is gone.
    fn record_delete(
        &mut self,
        mut parent: ChangeRecord,
        path: &str,
        zxid: Zxid,
        mut sp: Option<&mut Savepoint>,
    ) {
        parent.zxid = zxid;
        parent.child_count -= 1;
        parent.stat.as_mut().expect("live parent").pzxid = zxid;
        self.add_record(parent, sp.as_deref_mut());
        let gone = ChangeRecord {
            seq: 0,
            zxid,
            path: path.to_string(),
            stat: None,
            child_count: 0,
            acl: Vec::new(),
        };
        self.add_record(gone, sp);
    }

    #[allow(clippy::too_many_arguments)]
    fn prep_set_data(
        &mut self,
        tree: &DataTree,
        hdr: &TxnHeader,
        auth: &[Id],
        path: &str,
        data: &Option<Vec<u8>>,
        version: i32,
        sp: Option<&mut Savepoint>,
    ) -> Result<Txn, PrepError> {
        check_data_size(path, data)?;
        path::validate_path(path).map_err(|e| bad_arguments(e.to_string()))?;
        let mut node = self.record_for(tree, path)?;
        acl::check_acl(&node.acl, acl::PERM_WRITE, auth)?;
        let stat = node.stat.as_mut().expect("live node");
        let new_version = check_version(stat.version, version)?;
        stat.version = new_version;
        stat.mtime = hdr.time;
        stat.mzxid = hdr.zxid;
        node.zxid = hdr.zxid;
        self.add_record(node, sp);
        Ok(Txn::SetData {
            path: path.to_string(),
            data: data.clone(),
            version: new_version,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn prep_set_acl(
        &mut self,
        tree: &DataTree,
        hdr: &TxnHeader,
        auth: &[Id],
        path: &str,
        acl: &[Acl],
        version: i32,
        sp: Option<&mut Savepoint>,
    ) -> Result<Txn, PrepError> {
        path::validate_path(path).map_err(|e| bad_arguments(e.to_string()))?;
        let list_acl = acl::fixup_acl(acl, auth)?;
        let mut node = self.record_for(tree, path)?;
        acl::check_acl(&node.acl, acl::PERM_ADMIN, auth)?;
        let stat = node.stat.as_mut().expect("live node");
        let new_version = check_version(stat.aversion, version)?;
        stat.aversion = new_version;
        node.zxid = hdr.zxid;
        node.acl = list_acl.clone();
        self.add_record(node, sp);
        Ok(Txn::SetAcl {
            path: path.to_string(),
            acl: list_acl,
            version: new_version,
        })
    }

    fn prep_check(
        &mut self,
        tree: &DataTree,
        auth: &[Id],
        path: &str,
        version: i32,
    ) -> Result<Txn, PrepError> {
        path::validate_path(path).map_err(|e| bad_arguments(e.to_string()))?;
        let node = self.record_for(tree, path)?;
        acl::check_acl(&node.acl, acl::PERM_READ, auth)?;
        let new_version = check_version(node.stat.expect("live node").version, version)?;
        Ok(Txn::Check {
            path: path.to_string(),
            version: new_version,
        })
    }

    /// The container manager's delete (`OpCode.deleteContainer`): no ACL check, and it
    /// refuses a node that has children or is a session's ephemeral.
    pub fn prep_delete_container(&mut self, tree: &DataTree, hdr: &TxnHeader, path: &str) -> Txn {
        let result = (|| -> Result<Txn, PrepError> {
            let parent_path = parent_and_validate(path)?;
            let node = self.record_for(tree, path)?;
            if node.child_count > 0 {
                return Err(ErrorCode::NotEmpty.into());
            }
            if matches!(node.stat.expect("live node").kind(), NodeKind::Ephemeral(_)) {
                return Err(ErrorCode::BadVersion.into());
            }
            let parent = self.record_for(tree, parent_path)?;
            self.record_delete(parent, path, hdr.zxid, None);
            Ok(Txn::DeleteContainer {
                path: path.to_string(),
            })
        })();
        result.unwrap_or_else(|e| Txn::Error { err: e.err })
    }

    pub fn prep_create_session(&mut self, timeout_ms: i32) -> Txn {
        Txn::CreateSession { timeout_ms }
    }

    /// closeSession: the session's ephemerals as they will be once the outstanding txns
    /// apply, in ZooKeeper's HashSet order; each will be deleted at this txn's zxid.
    pub fn prep_close_session(&mut self, tree: &DataTree, hdr: &TxnHeader) -> Txn {
        let session: SessionId = hdr.session_id;
        let mut es = tree
            .ephemerals_of(session)
            .map(JavaHashSet::java_clone)
            .unwrap_or_default();
        for record in &self.records {
            match record.stat {
                None => {
                    es.remove(&record.path);
                }
                Some(stat) if stat.ephemeral_owner == session => {
                    es.insert(&record.path);
                }
                Some(_) => {}
            }
        }
        let paths: Vec<String> = es.iter().map(str::to_string).collect();
        for path in &paths {
            let parent = path::split_last(path)
                .map(|(p, _)| p)
                .and_then(|p| self.record_for(tree, p).ok());
            // An ephemeral's parent always exists; the parent loses the child at this zxid.
            if let Some(parent) = parent {
                self.record_delete(parent, path, hdr.zxid, None);
            }
        }
        Txn::CloseSession { paths }
    }
}

/// `getParentPathAndValidate`: a slash somewhere, no NUL, and not a special node.
fn parent_and_validate(path: &str) -> Result<&str, PrepError> {
    if path.contains('\0') || DataTree::is_special_path(path) {
        return Err(bad_arguments(if path.contains('\0') {
            path_message(path)
        } else {
            format!("{path} is a system node and cannot be deleted")
        }));
    }
    path::split_last(path)
        .map(|(p, _)| p)
        .ok_or_else(|| bad_arguments(path_message(path)))
}

fn path_message(path: &str) -> String {
    match path::validate_path(path) {
        Err(e) => e.to_string(),
        Ok(()) => format!("invalid path {path:?}"),
    }
}

/// `checkAndIncVersion`: -1 matches any version.
fn check_version(current: i32, expected: i32) -> Result<i32, PrepError> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion.into());
    }
    Ok(current.wrapping_add(1))
}

fn check_data_size(path: &str, data: &Option<Vec<u8>>) -> Result<(), PrepError> {
    let len = data.as_ref().map_or(0, Vec::len);
    if len > DATA_MAX_BYTES {
        return Err(bad_arguments(format!(
            "data for {path} is {len} bytes; the limit is {DATA_MAX_BYTES} bytes (1 MB)"
        )));
    }
    Ok(())
}
