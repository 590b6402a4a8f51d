//! Durable state: the records a server persists (txn log, snapshots, the acceptedEpoch and
//! currentEpoch files), their encoding with checksums, and reading them back after a crash.
//!
//! A server asks for records to be persisted; its driver writes each to its file and reports
//! when they are durable. After a crash, [`recover`] decodes what the files hold. A torn
//! last record of an append-only file is what an interrupted write leaves and is dropped;
//! a record whose checksum fails anywhere else is corruption and is refused with an error.

mod codec;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use codec::{DecodeError, decode_all, encode, frame_starts, torn_tail_at};

use crate::stat::Zxid;
use crate::tree::Snapshot;
use crate::zab::messages::Proposal;

/// The files a server keeps, as ZooKeeper's data directory does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum File {
    /// `log.<zxid>`: appended txns and truncation marks.
    TxnLog,
    /// `snapshot.<zxid>`: appended snapshots; the last valid one counts.
    Snapshots,
    /// `acceptedEpoch`: replaced whole (ZooKeeper writes it atomically).
    AcceptedEpoch,
    /// `currentEpoch`: replaced whole.
    CurrentEpoch,
}

impl File {
    pub const ALL: [File; 4] = [
        File::TxnLog,
        File::Snapshots,
        File::AcceptedEpoch,
        File::CurrentEpoch,
    ];

    /// Whether a write replaces the file's content instead of appending to it.
    pub fn is_replaced(self) -> bool {
        matches!(self, File::AcceptedEpoch | File::CurrentEpoch)
    }

    pub fn name(self) -> &'static str {
        match self {
            File::TxnLog => "log",
            File::Snapshots => "snapshot",
            File::AcceptedEpoch => "acceptedEpoch",
            File::CurrentEpoch => "currentEpoch",
        }
    }
}

/// One durable record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DurableRecord {
    /// A logged txn (proposal), committed or not.
    Txn(Arc<Proposal>),
    /// Forget every logged txn after `zxid` (a TRUNC from the leader).
    Truncate {
        zxid: Zxid,
    },
    /// The whole tree at a zxid; the log before it is no longer needed.
    Snapshot(Arc<Snapshot>),
    AcceptedEpoch(u32),
    CurrentEpoch(u32),
}

impl DurableRecord {
    pub fn file(&self) -> File {
        match self {
            DurableRecord::Txn(_) | DurableRecord::Truncate { .. } => File::TxnLog,
            DurableRecord::Snapshot(_) => File::Snapshots,
            DurableRecord::AcceptedEpoch(_) => File::AcceptedEpoch,
            DurableRecord::CurrentEpoch(_) => File::CurrentEpoch,
        }
    }
}

/// What survived a crash, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurableState {
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    /// The newest complete snapshot.
    pub snapshot: Option<Arc<Snapshot>>,
    /// Logged txns after the snapshot, in zxid order, truncations applied.
    pub log: Vec<Arc<Proposal>>,
}

impl DurableState {
    pub fn last_logged_zxid(&self) -> Zxid {
        last_on_file(&self.log, self.snapshot.as_ref())
    }
}

/// The zxid of the last txn on file: the log's last, else the snapshot's, else 0.
pub fn last_on_file(log: &[Arc<Proposal>], snapshot: Option<&Arc<Snapshot>>) -> Zxid {
    log.last()
        .map(|p| p.hdr.zxid)
        .or(snapshot.map(|s| s.zxid))
        .unwrap_or(0)
}

/// Why a server's files could not be read back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecoverError {
    #[error("{file} is corrupt at byte {offset}: {reason}")]
    Corrupt {
        file: &'static str,
        offset: usize,
        reason: String,
    },
    #[error("{file} holds a {found} record, which does not belong there")]
    Misplaced {
        file: &'static str,
        found: &'static str,
    },
}

/// Rebuild the durable state from the raw bytes of each file (`None`: the file is absent).
pub fn recover(read: impl Fn(File) -> Option<Vec<u8>>) -> Result<DurableState, RecoverError> {
    let mut state = DurableState::default();
    for file in File::ALL {
        let Some(bytes) = read(file) else { continue };
        let records =
            decode_all(&bytes, !file.is_replaced()).map_err(|e| RecoverError::Corrupt {
                file: file.name(),
                offset: e.offset,
                reason: e.reason,
            })?;
        for record in records {
            if record.file() != file {
                return Err(RecoverError::Misplaced {
                    file: file.name(),
                    found: record.file().name(),
                });
            }
            match record {
                DurableRecord::AcceptedEpoch(e) => state.accepted_epoch = e,
                DurableRecord::CurrentEpoch(e) => state.current_epoch = e,
                DurableRecord::Snapshot(s) => state.snapshot = Some(s),
                DurableRecord::Txn(p) => push_in_order(&mut state.log, p),
                DurableRecord::Truncate { zxid } => state.log.retain(|p| p.hdr.zxid <= zxid),
            }
        }
    }
    // The log holds every txn since the server started; keep those after the snapshot.
    if let Some(snap) = &state.snapshot {
        let zxid = snap.zxid;
        state.log.retain(|p| p.hdr.zxid > zxid);
    }
    for pair in state.log.windows(2) {
        assert!(
            pair[0].hdr.zxid < pair[1].hdr.zxid,
            "recovered log out of zxid order: {:#x} then {:#x}",
            pair[0].hdr.zxid,
            pair[1].hdr.zxid
        );
    }
    Ok(state)
}

/// Replay one logged txn. A txn at or below the last one read is passed over, as
/// ZooKeeper's replay reports it and goes on (FileTxnSnapLog.fastForwardFromEdits: "... >
/// ... (next log)"). Only a log writer that outlived its server's role writes one (the
/// stale-log-writer knob, ZOOKEEPER-4712): the txns it appended late were then logged
/// again after them.
fn push_in_order(log: &mut Vec<Arc<Proposal>>, p: Arc<Proposal>) {
    if let Some(last) = log.last() {
        if p.hdr.zxid <= last.hdr.zxid {
            tracing::warn!(
                zxid = p.hdr.zxid,
                after = last.hdr.zxid,
                "recovery: a logged txn out of zxid order is passed over"
            );
            return;
        }
    }
    log.push(p);
}
