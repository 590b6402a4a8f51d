//! `stale_read_sync`: reads that must not be stale. ZooKeeper's reads are served by the
//! server a client is connected to and may lag other clients' writes; the ZooKeeper paper
//! (Hunt et al., ATC 2010, §2.3, and §4.4 on `sync`) gives two ways to fresh reads: a
//! session never reads older state than it has seen (its server must have seen its last
//! zxid), and a read after `sync` reflects every write that completed before the sync.
//!
//! Every client writes /v, reads /v after a sync, or reads it plainly. An acknowledged
//! write counts as announced to everyone from the moment its completion is recorded (as
//! one client telling another out of band). Clients switch servers now and then, so
//! sessions move and reads land on lagging followers.
//!
//! Invariants:
//! - `sync-read-sees-announced-writes`: a getData sent right after a sync answered OK sees
//!   /v with mzxid at least the zxid of every write announced before the sync was invoked
//!   (its completion precedes the sync's invocation in the history). Sound: those writes
//!   were committed before the sync reached the leader, which orders the sync after them;
//!   the read follows the sync in the same session. (A sync without an OK reply may never
//!   have reached the leader, so the read after it is not judged.)
//! - `session-reads-never-go-back`: within one session, a read of /v never shows an mzxid
//!   older than one the session saw before (in a read, or as its own write's zxid). Sound:
//!   a session's server has applied everything the session has seen (a server refuses a
//!   session whose last zxid is ahead of its own), and a session's requests are answered in
//!   order.

use std::collections::BTreeMap;

use zksim_core::request::Request;
use zksim_core::stat::Zxid;

use super::reply::{Got, data_of, got, z};
use super::{Feed, InvariantFindings, Judged, Tell, Told};
use crate::history::ClientId;
use crate::index::OpId;

pub const RECIPE: &str = "stale_read_sync";
pub const SYNC: &str = "sync-read-sees-announced-writes";
pub const MONOTONIC: &str = "session-reads-never-go-back";

const VALUE: &str = "/v";

/// A write announced: its zxid, its client and the write.
#[derive(Clone, Copy, Debug)]
struct Announced {
    zxid: Zxid,
    client: u32,
    op: OpId,
}

/// The newest /v a session has seen: its mzxid, how, and the op that showed it.
#[derive(Clone, Debug)]
struct Seen {
    mzxid: Zxid,
    how: String,
    op: OpId,
}

struct Reads {
    /// The latest write announced so far.
    announced: Option<Announced>,
    /// The latest write announced when each sync was invoked.
    before_sync: BTreeMap<OpId, Option<Announced>>,
    /// Per session (history client).
    seen: BTreeMap<ClientId, Seen>,
    writes: u64,
    sync_reads: u64,
    plain_reads: u64,
    sync: InvariantFindings,
    monotonic: InvariantFindings,
}

pub fn judge(feed: &Feed) -> Judged {
    let mut r = Reads {
        announced: None,
        before_sync: BTreeMap::new(),
        seen: BTreeMap::new(),
        writes: 0,
        sync_reads: 0,
        plain_reads: 0,
        sync: InvariantFindings::new(RECIPE, SYNC),
        monotonic: InvariantFindings::new(RECIPE, MONOTONIC),
    };
    for tell in &feed.tells {
        match tell.told {
            Told::Sent(id) if matches!(feed.op(id).request, Request::Sync { .. }) => {
                r.before_sync.insert(id, r.announced);
            }
            Told::Ended(id) => r.on_complete(feed, tell, id),
            _ => {}
        }
    }
    Judged {
        counts: vec![
            ("stale_read_sync writes announced", r.writes),
            ("stale_read_sync sync reads checked", r.sync_reads),
            ("stale_read_sync reads checked", r.plain_reads),
        ],
        outcomes: vec![r.sync.outcome(), r.monotonic.outcome()],
    }
}

impl Reads {
    fn on_complete(&mut self, feed: &Feed, tell: &Tell, id: OpId) {
        let op = feed.op(id);
        let Got::Ok(reply) = got(op) else {
            return;
        };
        match op.request {
            Request::SetData { path, .. } if path == VALUE => {
                self.writes += 1;
                let zxid = reply.zxid;
                if self.announced.is_none_or(|a| zxid > a.zxid) {
                    let client = tell.run_client;
                    self.announced = Some(Announced {
                        zxid,
                        client,
                        op: id,
                    });
                }
                let how = format!("its own write at zxid {}", z(zxid));
                self.saw(tell.client, zxid, how, id);
            }
            Request::GetData { path, .. } if path == VALUE => {
                let Some((_, stat)) = data_of(reply) else {
                    return;
                };
                if let Some(sync) = feed.synced_by(id) {
                    let before = self.before_sync.get(&sync).copied().flatten();
                    self.sync_read(tell.run_client, before, stat.mzxid, reply.zxid, id);
                }
                self.session_read(tell, stat.mzxid, reply.zxid, id);
                let how = format!("a read at zxid {}", z(reply.zxid));
                self.saw(tell.client, stat.mzxid, how, id);
            }
            _ => {}
        }
    }

    fn saw(&mut self, session: ClientId, mzxid: Zxid, how: String, op: OpId) {
        let newer = self.seen.get(&session).is_none_or(|s| mzxid > s.mzxid);
        if newer {
            self.seen.insert(session, Seen { mzxid, how, op });
        }
        assert!(self.seen.get(&session).is_some_and(|s| s.mzxid >= mzxid));
    }

    /// A read after a sync invoked when `before` was the latest announced write.
    fn sync_read(
        &mut self,
        client: u32,
        before: Option<Announced>,
        mzxid: Zxid,
        at: Zxid,
        op: OpId,
    ) {
        self.sync_reads += 1;
        let Some(a) = before.filter(|a| mzxid < a.zxid) else {
            return;
        };
        self.sync.add(
            format!(
                "client {client} read /v after a sync and saw mzxid {} (reply zxid {}), but \
                 client {} had announced its write at zxid {} before the sync was invoked",
                z(mzxid),
                z(at),
                a.client,
                z(a.zxid)
            ),
            vec![a.op, op],
            Vec::new(),
        );
    }

    /// A read by a session, against what the session had seen.
    fn session_read(&mut self, tell: &Tell, mzxid: Zxid, at: Zxid, op: OpId) {
        self.plain_reads += 1;
        let Some(seen) = self.seen.get(&tell.client).filter(|s| mzxid < s.mzxid) else {
            return;
        };
        self.monotonic.add(
            format!(
                "client {} read /v with mzxid {} (reply zxid {}) in a session that had already \
                 seen mzxid {} ({})",
                tell.run_client,
                z(mzxid),
                z(at),
                z(seen.mzxid),
                seen.how
            ),
            vec![seen.op, op],
            Vec::new(),
        );
    }
}
