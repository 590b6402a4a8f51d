//! One-shot watches fire at most once: "watches are one time triggers; if you get a watch
//! event and you want to get notified of future changes, you must set another watch", and
//! a watch set several times on one znode by one session fires once (ZooKeeper Programmer's
//! Guide, ZooKeeper Watches; persistent watches, ZOOKEEPER-1416, fire on every change).
//!
//! Every notification a client receives must be explained by one the reference replay
//! fires for that session and path (`WatchManager` semantics: one-shot watches are removed
//! when they fire, set again only by a later read), each explaining at most one
//! notification: the same type and zxid, or, for one the server fires while re-registering
//! watches after a reconnect (with its current zxid, possibly another type), an
//! unexplained change at or before its zxid. A persistent watch's notification may
//! explain more than one: its watch stays, and a client that re-registers it on a server
//! that is behind hears again of changes it heard of before. Paths where a session's watch request has an
//! unknown outcome (or which it re-registered itself) are not judged, nor a path with a
//! persistent watch after the session reconnected (see `restored`).

use std::collections::{HashMap, HashSet};

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
    /// A persistent watch's notification may come again after a reconnect.
    persistent: bool,
}

pub fn check(h: &History, r: &Reference) -> Outcome {
    let mut expected: HashMap<(SessionId, &str), Vec<Expected>> = HashMap::new();
    for f in &r.fired {
        expected
            .entry((f.session, f.path.as_str()))
            .or_default()
            .push(Expected {
                zxid: f.zxid,
                event_type: f.event_type,
                used: false,
                persistent: f.persistent,
            });
    }
    let unsure = unsure_paths(h);
    let persistent = persistent_watches(h);
    let mut findings = Findings::new(Property::OneShotWatches);
    for n in &h.notices {
        let list = expected.get_mut(&(n.session, n.path));
        if list.is_some_and(|l| explain(l, n.zxid, n.event_type)) {
            continue;
        }
        if unsure.contains(&(n.session, n.path)) || restored(h, &persistent, n) {
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
fn explain(list: &mut [Expected], zxid: Zxid, event_type: EventType) -> bool {
    let start = list.partition_point(|e| e.zxid < zxid);
    let exact = list[start..]
        .iter_mut()
        .take_while(|e| e.zxid == zxid)
        .find(|e| (!e.used || e.persistent) && e.event_type == event_type);
    if let Some(e) = exact {
        e.used = true;
        return true;
    }
    // Re-registration after a reconnect: a change the session has not heard of yet.
    if let Some(e) = list
        .iter_mut()
        .take_while(|e| e.zxid <= zxid)
        .find(|e| !e.used)
    {
        e.used = true;
        return true;
    }
    false
}

/// Each session's persistent watch requests: (path, recursive, invocation position).
fn persistent_watches<'h>(h: &History<'h>) -> HashMap<SessionId, Vec<(&'h str, bool, usize)>> {
    let mut out: HashMap<SessionId, Vec<(&str, bool, usize)>> = HashMap::new();
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
    persistent: &HashMap<SessionId, Vec<(&str, bool, usize)>>,
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
fn unsure_paths<'h>(h: &History<'h>) -> HashSet<(SessionId, &'h str)> {
    let mut out = HashSet::new();
    for op in &h.ops {
        let Some(session) = op.session else { continue };
        if op.definite_reply().is_some() && !matches!(op.request, Request::SetWatches { .. }) {
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
