//! One-shot watches fire at most once, with the type of the change that fired them:
//! "watches are one time triggers; if you get a watch event and you want to get notified
//! of future changes, you must set another watch", a watch set several times on one znode
//! by one session fires once, and "the order of watch events corresponds to the order of
//! the updates" (ZooKeeper Programmer's Guide, ZooKeeper Watches; persistent watches,
//! ZOOKEEPER-1416, fire on every change).
//!
//! Every notification a client receives must be explained by one the reference replay
//! fires for that session and path (`WatchManager` semantics: one-shot watches are removed
//! when they fire, set again only by a later read), with the same type and zxid, each
//! explaining at most one notification. A delete is NodeDeleted, never NodeDataChanged. A
//! notification a server fires while re-registering a reconnecting client's watches
//! (`DataTree.setWatches`) is explained by the reference's own evaluation of that
//! SetWatches, which fixes its type and its zxid (the state the SetWatches ran on).
//!
//! A persistent watch's notification may explain more than one: its watch stays, and a
//! client that re-registers it on a server that is behind hears again of changes it heard
//! of before; so may a one-shot watch the session set again on a server that had not yet
//! applied the change. Paths where a session's watch request has an unknown outcome are
//! not judged. A history without SetWatches records (format version 1) cannot tell what a
//! reconnect re-registered: there a notification after a reconnect may stand for any
//! unexplained change at or before its zxid, of any type.

use crate::index::{FastMap, FastSet};

use zksim_core::request::Request;
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::watch::EventType;

use super::describe::zxid as z;
use super::{Findings, Outcome, Property};
use crate::index::{History, Notice};
use crate::reference::Reference;

struct Expected {
    zxid: Zxid,
    event_type: EventType,
    used: bool,
    /// Where the notification it explained arrived.
    used_at: usize,
    /// A persistent watch's notification may come again after a reconnect.
    persistent: bool,
    /// The connection whose watch fired (a server notifies only the connection that
    /// registered the watch); `None` when the history cannot say.
    connection: Option<u32>,
}

pub fn check(h: &History, r: &Reference) -> Outcome {
    let mut expected: FastMap<(SessionId, &str), Vec<Expected>> = FastMap::default();
    for f in &r.fired {
        expected
            .entry((f.session, f.path.as_str()))
            .or_default()
            .push(Expected {
                zxid: f.zxid,
                event_type: f.event_type,
                used: false,
                used_at: 0,
                persistent: f.persistent,
                connection: f.connection,
            });
    }
    // Built only when a notification needs them: most histories never do.
    let unsure = std::cell::OnceCell::new();
    let again = std::cell::OnceCell::new();
    let persistent = std::cell::OnceCell::new();
    let mut findings = Findings::new(Property::OneShotWatches);
    for n in &h.notices {
        let list = expected.get_mut(&(n.session, n.path));
        let set_again = || {
            again
                .get_or_init(|| registrations(h))
                .get(&(n.session, n.path))
                .map_or(&[][..], Vec::as_slice)
        };
        let lenient = h.header.version < 2 && h.reconnects.contains_key(&n.session);
        let connection = h.connection_of(n.client, n.at);
        if list.is_some_and(|l| explain(l, n, connection, set_again, lenient)) {
            continue;
        }
        if unsure
            .get_or_init(|| unsure_paths(h))
            .contains(&(n.session, n.path))
            || (h.header.version < 2
                && restored(h, persistent.get_or_init(|| persistent_watches(h)), n))
        {
            continue;
        }
        let twice = expected.get(&(n.session, n.path)).is_some_and(|l| {
            l.iter()
                .any(|e| e.used && e.zxid == n.zxid && e.event_type == n.event_type)
        });
        let what = if twice {
            "a second time, though the watch that fired was used up"
        } else {
            "with no watch of the session that this change fires"
        };
        findings.add(
            format!(
                "session {:#x} received {} for {} (zxid {}, event {}) {what}",
                n.session,
                n.event_type.name(),
                n.path,
                z(n.zxid),
                n.at + 1
            ),
            Vec::new(),
            Vec::new(),
            vec![n.at],
        );
    }
    findings.outcome(h.notices.len())
}

/// Mark the expected notification this one stands for; false if none is left.
/// `set_again` lists the session's watch requests on the path: (reply position, zxid).
fn explain<'x>(
    list: &mut [Expected],
    n: &Notice,
    connection: u32,
    set_again: impl Fn() -> &'x [(usize, Zxid)],
    lenient: bool,
) -> bool {
    let start = list.partition_point(|e| e.zxid < n.zxid);
    // A used one explains this too if its watch is persistent, or if the session set the
    // watch again after hearing of the change, on a server that had not applied it yet
    // (one registration per server, each firing once).
    let exact = list[start..]
        .iter_mut()
        .take_while(|e| e.zxid == n.zxid)
        .find(|e| {
            let again = || {
                set_again()
                    .iter()
                    .any(|&(at, z)| at > e.used_at && at < n.at && z < e.zxid)
            };
            e.event_type == n.event_type
                && e.connection.is_none_or(|c| c == connection)
                && (!e.used || e.persistent || again())
        });
    if let Some(e) = exact {
        e.used = true;
        e.used_at = n.at;
        return true;
    }
    if !lenient {
        return false;
    }
    // A version 1 history's re-registration after a reconnect: a change the session has
    // not heard of yet.
    if let Some(e) = list
        .iter_mut()
        .take_while(|e| e.zxid <= n.zxid)
        .find(|e| !e.used)
    {
        e.used = true;
        e.used_at = n.at;
        return true;
    }
    false
}

/// Each session's watch requests per path, with the position and zxid of their replies.
fn registrations<'h>(h: &History<'h>) -> FastMap<(SessionId, &'h str), Vec<(usize, Zxid)>> {
    let mut out: FastMap<(SessionId, &str), Vec<(usize, Zxid)>> = FastMap::default();
    for op in &h.ops {
        let (Some(session), Some(reply), Some(at)) = (op.session, op.definite_reply(), op.end_at())
        else {
            continue;
        };
        let path = match op.request {
            Request::Exists { path, watch: true }
            | Request::GetData { path, watch: true }
            | Request::GetChildren { path, watch: true }
            | Request::AddWatch { path, .. } => path.as_str(),
            _ => continue,
        };
        out.entry((session, path))
            .or_default()
            .push((at, reply.zxid));
    }
    out
}

/// Each session's persistent watch requests: (path, recursive, invocation position).
fn persistent_watches<'h>(h: &History<'h>) -> FastMap<SessionId, Vec<(&'h str, bool, usize)>> {
    let mut out: FastMap<SessionId, Vec<(&str, bool, usize)>> = FastMap::default();
    for op in &h.ops {
        if let (Some(session), Request::AddWatch { path, mode }) = (op.session, op.request) {
            out.entry(session)
                .or_default()
                .push((path, mode.is_recursive(), op.invoke_at));
        }
    }
    out
}

/// Whether a reconnect since the session asked for a persistent watch covering the path
/// may have restored it: the client re-registers its persistent watches in both of the
/// server's tables, even where a one-shot watch had replaced one of them.
fn restored(
    h: &History,
    persistent: &FastMap<SessionId, Vec<(&str, bool, usize)>>,
    n: &Notice,
) -> bool {
    persistent.get(&n.session).is_some_and(|list| {
        list.iter().any(|&(path, recursive, at)| {
            let covers = path == n.path
                || (recursive
                    && (path == "/"
                        || n.path
                            .strip_prefix(path)
                            .is_some_and(|r| r.starts_with('/'))));
            covers && at < n.at && h.reconnected_between(n.session, at, n.at)
        })
    })
}

/// (session, path) pairs whose watches the reference cannot follow: a watch request with
/// an unknown outcome, or one the client re-registered itself.
fn unsure_paths<'h>(h: &History<'h>) -> FastSet<(SessionId, &'h str)> {
    let mut out = FastSet::default();
    for op in &h.ops {
        let Some(session) = op.session else { continue };
        let modelled = match op.request {
            // A version 2 SetWatches is replayed by the reference when its state is known;
            // when not, it fired nothing the client heard, and its connection took the
            // watches it set.
            Request::SetWatches { .. } => h.header.version >= 2,
            _ => op.definite_reply().is_some(),
        };
        if modelled {
            continue;
        }
        match op.request {
            Request::Exists { path, watch: true }
            | Request::GetData { path, watch: true }
            | Request::GetChildren { path, watch: true }
            | Request::AddWatch { path, .. }
            | Request::RemoveWatches { path, .. } => {
                out.insert((session, path.as_str()));
            }
            Request::SetWatches {
                data,
                exist,
                child,
                persistent,
                persistent_recursive,
                ..
            } => {
                for path in data
                    .iter()
                    .chain(exist)
                    .chain(child)
                    .chain(persistent)
                    .chain(persistent_recursive)
                {
                    out.insert((session, path.as_str()));
                }
            }
            _ => {}
        }
    }
    out
}
