//! Watch before later read: "a client will see a watch event for a znode it is watching
//! before seeing the new data that corresponds to that znode", and "watches are ordered
//! with respect to other events, other watches, and asynchronous replies" (ZooKeeper
//! Programmer's Guide, ZooKeeper Watches: what ZooKeeper guarantees about watches; Hunt et
//! al., ZooKeeper paper, §2.3: "a client sees a watch event before it sees any later state").
//!
//! The reference replay registers each watch a session set (a read with `watch`, an
//! `addWatch`) at its reply's zxid, and its `WatchManager` fires the notifications the
//! txns after it cause. For each such notification (change at zxid Z for session S on
//! path P), the first reply S receives that reflects state at or after Z must come after a
//! notification for P with zxid at least Z. (After a reconnect the client re-registers its
//! watches and the server fires missed ones at once, with its current zxid and possibly
//! another type, so any notification for P at or after Z counts.) A notification the
//! watcher may not receive for lack of READ (ZOOKEEPER-4799) is not required; one whose
//! watcher's identities are unknown is not judged, nor one whose session reconnected
//! between setting the watch and that reply: the new server fires re-registered watches
//! from its own state (`DataTree.setWatches`), so a node created and deleted meanwhile
//! goes unheard, as in ZooKeeper.

use crate::index::FastMap;

use zksim_core::stat::{SessionId, Zxid};

use super::describe::{op as describe_op, zxid as z};
use super::{Findings, Outcome, Property};
use crate::index::{History, OpId};
use crate::reference::{Fired, Reference};

/// A session's replies in arrival order: (largest zxid so far, event position, op).
type Replies = Vec<(Zxid, usize, OpId)>;
/// Notifications for one (session, path): (largest zxid so far, event position).
type Notes = Vec<(Zxid, usize)>;

pub fn check(h: &History, r: &Reference) -> Outcome {
    let replies = replies_by_session(h);
    let notes = notes_by_path(h);
    let mut findings = Findings::new(Property::WatchBeforeLaterRead);
    let mut checked = 0;
    for f in &r.fired {
        if f.deliverable != Some(true) {
            continue;
        }
        checked += 1;
        let Some(list) = replies.get(&f.session) else {
            continue;
        };
        let first = list.partition_point(|(max, _, _)| *max < f.zxid);
        let Some(&(_, reply_at, op)) = list.get(first) else {
            continue;
        };
        // A reconnect in between: the client re-registered the watch and the new server
        // fired it or not from its own state (SetWatches), which may skip a change.
        if h.reconnected_between(f.session, f.registered_at.unwrap_or(0), reply_at) {
            continue;
        }
        let heard = notes.get(&(f.session, f.path.as_str())).and_then(|n| {
            let i = n.partition_point(|(max, _)| *max < f.zxid);
            n.get(i).map(|&(_, at)| at)
        });
        if heard.is_some_and(|at| at < reply_at) {
            continue;
        }
        if !findings.wants_more() {
            findings.count();
            continue;
        }
        findings.add(
            sentence(h, f, op, heard),
            vec![op],
            Vec::new(),
            heard.into_iter().collect(),
        );
    }
    findings.outcome(checked)
}

fn sentence(h: &History, f: &Fired, op: OpId, heard: Option<usize>) -> String {
    let reply_zxid = h.op(op).reply().map_or(0, |r| r.zxid);
    let late = match heard {
        Some(at) => format!("; the notification came later (event {})", at + 1),
        None => "; it never came".to_string(),
    };
    format!(
        "session {:#x} was watching {} and should hear {} (zxid {}) before any later state, but the reply to {} reflects zxid {} first{}",
        f.session,
        f.path,
        f.event_type.name(),
        z(f.zxid),
        describe_op(h, op),
        z(reply_zxid),
        late
    )
}

fn replies_by_session(h: &History) -> FastMap<SessionId, Replies> {
    let mut out: FastMap<SessionId, Replies> = FastMap::default();
    for &id in &h.completions {
        let op = h.op(id);
        let (Some(session), Some(reply), Some(at)) = (op.session, op.definite_reply(), op.end_at())
        else {
            continue;
        };
        let list = out.entry(session).or_default();
        let max = list
            .last()
            .map_or(reply.zxid, |(m, _, _)| (*m).max(reply.zxid));
        list.push((max, at, id));
    }
    out
}

fn notes_by_path<'h>(h: &History<'h>) -> FastMap<(SessionId, &'h str), Notes> {
    let mut out: FastMap<(SessionId, &str), Notes> = FastMap::default();
    for n in &h.notices {
        let list = out.entry((n.session, n.path)).or_default();
        let max = list.last().map_or(n.zxid, |(m, _)| (*m).max(n.zxid));
        list.push((max, n.at));
    }
    out
}
