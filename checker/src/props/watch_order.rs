//! Watch ordering: "a client will see a watch event for a znode it is watching before
//! seeing the new data that corresponds to that znode"; "watches are ordered with respect
//! to other events, other watches, and asynchronous replies"; "the order of watch events
//! corresponds to the order of the updates as seen by the ZooKeeper service" (ZooKeeper
//! Programmer's Guide, ZooKeeper Watches: what ZooKeeper guarantees about watches; Hunt et
//! al., ZooKeeper paper, §2.3: "a client sees a watch event before it sees any later
//! state").
//!
//! Checked:
//! - **before a later read**: the reference replay registers each watch a session set (a
//!   read with `watch`, an `addWatch`, a SetWatches after a reconnect) and fires the
//!   notifications the txns after it cause, or, for a SetWatches, those
//!   `DataTree.setWatches` fires at once. For each (change at zxid Z for session S on
//!   path P), the first reply S receives after the watch was set that reflects state at or
//!   after Z must come after a notification for P with zxid at least Z; a SetWatches'
//!   own notifications come before its reply.
//! - **one connection never goes back**: on one connection, replies and notifications
//!   together never go back in zxid. A notification for zxid z received before a reply
//!   means the reply reflects at least z, and a reply reflecting z is never followed by a
//!   notification of an older change: a server sends a change's notifications when it
//!   applies the change, and answers a read from the state it has applied (ZooKeeper's
//!   CommitProcessor finishes the reads in flight before it applies a commit).
//! - **notifications in update order**: on one connection, a session's notifications
//!   carry non-decreasing zxids; on a new connection, none reports a change older than the
//!   newest reply the session had before it reconnected (the client's lastZxid, which the
//!   server it reconnects to has applied: ZooKeeper's ClientCnxn sends it in the
//!   ConnectRequest and the server refuses a client ahead of it). Across a reconnect the
//!   order may go back: lastZxid follows replies only, never notifications (ClientCnxn
//!   readResponse), so a client can reconnect to a server that has not yet applied a
//!   change it was notified of, and hear older changes first (or the same change again).
//!
//! A notification the watcher may not receive for lack of READ (ZOOKEEPER-4799) is not
//! required; one whose watcher's identities are unknown is not judged. A watch set on a
//! connection that broke before the reply is judged on the next connection through that
//! connection's SetWatches (a history without SetWatches records, format version 1,
//! skips it instead, as the new server fires re-registered watches from its own state). A
//! notification never followed by such a reply is not required here (see liveness).

use crate::index::FastMap;

use zksim_core::stat::{SessionId, Zxid};

use super::describe::{op as describe_op, zxid as z};
use super::{Findings, Outcome, Property};
use crate::history::ClientId;
use crate::index::{History, Notice, OpId};
use crate::reference::{Fired, Reference};

/// A session's replies in arrival order: (largest zxid so far, event position, op, zxid).
type Replies = Vec<(Zxid, usize, OpId, Zxid)>;
/// Notifications for one (session, path): (largest zxid so far, event position).
type Notes = Vec<(Zxid, usize)>;

pub fn check(h: &History, r: &Reference) -> Outcome {
    let mut findings = Findings::new(Property::WatchBeforeLaterRead);
    let checked = check_before_later_read(h, r, &mut findings);
    check_connections(h, &mut findings);
    findings.outcome(checked + h.notices.len())
}

fn check_before_later_read(h: &History, r: &Reference, findings: &mut Findings) -> usize {
    let replies = replies_by_session(h);
    let closes = h.answered_closes();
    let notes = notes_by_path(h);
    let mut checked = 0;
    for f in &r.fired {
        if f.deliverable != Some(true) {
            continue;
        }
        checked += 1;
        let list = replies.get(&f.session).map_or(&[][..], Vec::as_slice);
        let set_at = f.registered_at.unwrap_or(0);
        let reply = first_reply_reflecting(list, set_at, f.zxid).map(|&(_, at, op, _)| (at, op));
        // An answered close reflects its closeSession txn: a notification owed before it
        // must come before the close's reply, so that a fired watch is delivered.
        let close = closes
            .get(&f.session)
            .filter(|&&(zc, at)| zc > f.zxid && at > set_at)
            .map(|&(_, at)| at);
        let (reply_at, op) = match (reply, close) {
            (Some((at, _)), Some(c)) if c < at => (c, None),
            (Some((at, op)), _) => (at, Some(op)),
            (None, Some(c)) => (c, None),
            (None, None) => continue,
        };
        // A reconnect in between: the watch went with its connection, and the client's
        // SetWatches on the new one is judged on its own.
        if h.reconnected_between(f.session, set_at, reply_at) {
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
        let mut events: Vec<usize> = heard.into_iter().collect();
        if op.is_none() {
            events.push(reply_at);
        }
        findings.add(
            sentence(h, f, op, reply_at, heard),
            op.into_iter().collect(),
            Vec::new(),
            events,
        );
    }
    checked
}

/// The first reply after position `after` that reflects state at or after `zxid`.
fn first_reply_reflecting(
    list: &[(Zxid, usize, OpId, Zxid)],
    after: usize,
    zxid: Zxid,
) -> Option<&(Zxid, usize, OpId, Zxid)> {
    let start = list
        .partition_point(|&(_, at, _, _)| at <= after)
        .max(list.partition_point(|&(max, _, _, _)| max < zxid));
    list[start..].iter().find(|&&(_, _, _, own)| own >= zxid)
}

fn sentence(
    h: &History,
    f: &Fired,
    op: Option<OpId>,
    reply_at: usize,
    heard: Option<usize>,
) -> String {
    let late = match heard {
        Some(at) => format!("; the notification came later (event {})", at + 1),
        None => "; it never came".to_string(),
    };
    let why = match f.set_watches {
        Some(sw) => format!(
            "its SetWatches ({}) found the node changed while the client was away, so it",
            describe_op(h, sw)
        ),
        None => format!("session {:#x} was watching {} and", f.session, f.path),
    };
    let first = match op {
        Some(op) => format!(
            "the reply to {} reflects zxid {} first",
            describe_op(h, op),
            z(h.op(op).reply().map_or(0, |r| r.zxid))
        ),
        None => format!(
            "the reply to its close (event {}) came first, on the connection the watch was set on",
            reply_at + 1
        ),
    };
    format!(
        "{why} should hear {} for {} (zxid {}) before any later state, but {first}{late}",
        f.event_type.name(),
        f.path,
        z(f.zxid),
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
            .map_or(reply.zxid, |(m, _, _, _)| (*m).max(reply.zxid));
        list.push((max, at, id, reply.zxid));
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

/// What one client has received so far: on its current connection, and in all.
#[derive(Default)]
struct Seen {
    /// How many of the client's `connected` events lie behind.
    connection: usize,
    /// On this connection: the notification and the reply with the largest zxids.
    note: Option<(Zxid, usize)>,
    reply: Option<(Zxid, OpId)>,
    /// The reply with the largest zxid over every connection, with its session: the
    /// client's lastZxid, which a server it reconnects to has reached.
    last_reply: Option<(SessionId, Zxid, OpId)>,
    /// That reply when this connection was made: every notification on this connection
    /// reports a change at or after it.
    floor: Option<(SessionId, Zxid, OpId)>,
}

/// One connection never goes back; a session's notifications follow the update order.
fn check_connections(h: &History, findings: &mut Findings) {
    let mut seen: FastMap<ClientId, Seen> = FastMap::default();
    let (mut c, mut n) = (0, 0);
    loop {
        let reply_at = h.completions.get(c).and_then(|&id| h.op(id).end_at());
        let note_at = h.notices.get(n).map(|x| x.at);
        match (reply_at, note_at) {
            (Some(r), Some(w)) if r < w => {
                on_reply(h, h.completions[c], &mut seen, findings);
                c += 1;
            }
            (Some(_), None) => {
                on_reply(h, h.completions[c], &mut seen, findings);
                c += 1;
            }
            (_, Some(_)) => {
                on_note(h, &h.notices[n], &mut seen, findings);
                n += 1;
            }
            (None, None) => break,
        }
    }
}

/// The client's state, moved to the connection that holds position `at`.
fn seen_at<'s>(
    h: &History,
    seen: &'s mut FastMap<ClientId, Seen>,
    client: ClientId,
    at: usize,
) -> &'s mut Seen {
    let s = seen.entry(client).or_default();
    let connection = h
        .connects
        .get(&client)
        .map_or(0, |list| list.partition_point(|&c| c < at));
    if connection != s.connection {
        s.connection = connection;
        s.note = None;
        s.reply = None;
        s.floor = s.last_reply;
    }
    s
}

fn on_reply(h: &History, id: OpId, seen: &mut FastMap<ClientId, Seen>, findings: &mut Findings) {
    let op = h.op(id);
    let (Some(reply), Some(at)) = (op.definite_reply(), op.end_at()) else {
        return;
    };
    let s = seen_at(h, seen, op.client, at);
    if let Some((note_zxid, note_at)) = s.note {
        if reply.zxid < note_zxid {
            let note = notice_at(h, note_at);
            findings.add(
                format!(
                    "{} came on {}'s connection before the reply to {}, which reflects the older zxid {}: one connection's replies and notifications never go back in zxid",
                    describe_notice(note),
                    who(op.client, op.session),
                    describe_op(h, id),
                    z(reply.zxid)
                ),
                vec![id],
                Vec::new(),
                vec![note_at],
            );
        }
    }
    if s.reply.is_none_or(|(r, _)| reply.zxid > r) {
        s.reply = Some((reply.zxid, id));
    }
    if let Some(session) = op.session {
        if s.last_reply
            .is_none_or(|(o, r, _)| o != session || reply.zxid > r)
        {
            s.last_reply = Some((session, reply.zxid, id));
        }
    }
}

fn on_note(
    h: &History,
    note: &Notice,
    seen: &mut FastMap<ClientId, Seen>,
    findings: &mut Findings,
) {
    let s = seen_at(h, seen, note.client, note.at);
    if let Some((reply_zxid, op)) = s.reply {
        if note.zxid < reply_zxid {
            findings.add(
                format!(
                    "the reply to {} reflects zxid {}, yet {} came after it on the same connection: one connection's replies and notifications never go back in zxid",
                    describe_op(h, op),
                    z(reply_zxid),
                    describe_notice(note)
                ),
                vec![op],
                Vec::new(),
                vec![note.at],
            );
        }
    }
    if let Some((before, before_at)) = s.note {
        if note.zxid < before {
            findings.add(
                format!(
                    "session {:#x} heard {}, then {} on the same connection: a session's notifications come in the order of the changes they report",
                    note.session,
                    describe_notice(notice_at(h, before_at)),
                    describe_notice(note)
                ),
                Vec::new(),
                Vec::new(),
                vec![before_at, note.at],
            );
        }
    }
    if let Some((session, floor, op)) = s.floor {
        if session == note.session && note.zxid < floor {
            findings.add(
                format!(
                    "session {:#x} had the reply to {} at zxid {} before it reconnected, yet {} came on the new connection: a server it reconnects to has applied everything the session saw, and notifies only later changes",
                    note.session,
                    describe_op(h, op),
                    z(floor),
                    describe_notice(note)
                ),
                vec![op],
                Vec::new(),
                vec![note.at],
            );
        }
    }
    if s.note.is_none_or(|(z, _)| note.zxid > z) {
        s.note = Some((note.zxid, note.at));
    }
}

fn notice_at<'a, 'h>(h: &'a History<'h>, at: usize) -> &'a Notice<'h> {
    let i = h.notices.partition_point(|n| n.at < at);
    &h.notices[i]
}

/// "a notification of NodeDataChanged /a for zxid 1:7 (event 12)".
fn describe_notice(n: &Notice) -> String {
    format!(
        "a notification of {} {} for zxid {} (event {})",
        n.event_type.name(),
        n.path,
        z(n.zxid),
        n.at + 1
    )
}

fn who(client: ClientId, session: Option<SessionId>) -> String {
    match session {
        Some(s) => format!("session {s:#x} (client {client})"),
        None => format!("client {client}"),
    }
}
