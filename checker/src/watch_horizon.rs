//! How far in the txn order a connection's watches can still matter to a property.
//!
//! The reference replay (`reference`) registers each connection's watches in its tree, and
//! a server forgets them when it notices the connection closed (ZooKeeper's
//! `DataTree.removeCnxn`); when that happens is not in the history, so the replay keeps
//! them. A persistent watch then fires for every later change, long after its client moved
//! to another connection: notifications no client can hear, which grow with the square of
//! the history's length. Yet a notification matters to exactly two properties, and only
//! up to a zxid known in advance, the connection's horizon:
//!
//! - one-shot-watches pairs it with a notification the session heard on that connection
//!   with the same zxid, so never past the largest zxid heard there;
//! - watch-before-later-read needs a reply of the session that reflects its zxid after the
//!   watch was set and with no reconnect in between. The watch was set at a position no
//!   later than the last one of the connection's operations, so such a reply comes before
//!   the session's first reconnect after that position, and its zxid bounds the
//!   notification's. An answered close counts as such a reply, with its closeSession's
//!   zxid.
//!
//! The horizon is the largest of these zxids and of every zxid the connection's own
//! operations were answered on (so all of them are replayed before it). Past it, the
//! replay drops the connection's watches: every verdict and finding stays the same, only
//! the count of notifications watch-before-later-read weighed shrinks to those that could
//! count. A version 1 history has one watcher per session, which this leaves alone.

use zksim_core::stat::{SessionId, Zxid};

use std::collections::BTreeMap;

use crate::index::{FastMap, History, OpId, OpKind};
use crate::reference::set_watches_zxid;

/// A connection: its session, and its client's count of connects before it
/// (`History::connection_of`).
pub type Connection = (SessionId, u32);

/// Every connection an operation went on, with its horizon, by horizon.
pub fn horizons(h: &History) -> Vec<(Zxid, Connection)> {
    let mut heard: FastMap<Connection, Zxid> = FastMap::default();
    for n in &h.notices {
        let e = heard
            .entry((n.session, h.connection_of(n.client, n.at)))
            .or_insert(n.zxid);
        *e = (*e).max(n.zxid);
    }
    let closes = h.answered_closes();
    let mut out = Vec::new();
    for (&session, ops) in &h.session_ops {
        let replies = replies_seen(h, ops, closes.get(&session).map(|&(zxid, at)| (at, zxid)));
        let reconnects = h.reconnects.get(&session).map_or(&[][..], Vec::as_slice);
        for (connection, (last_at, answered)) in connections(h, ops) {
            // The session's first reconnect after the connection's last operation.
            let next = reconnects.partition_point(|&at| at <= last_at);
            let until = reconnects.get(next).copied().unwrap_or(usize::MAX);
            let seen = match replies.partition_point(|&(at, _)| at < until) {
                0 => Zxid::MIN,
                i => replies[i - 1].1,
            };
            let c = (session, connection);
            let heard = heard.get(&c).copied().unwrap_or(Zxid::MIN);
            out.push((answered.max(seen).max(heard), c));
        }
    }
    out.sort_unstable();
    out
}

/// A session's connections (its ops' `connection_of`), each with the last position one of
/// its ops took (invocation or end) and the largest zxid one was answered on.
fn connections(h: &History, ops: &[OpId]) -> BTreeMap<u32, (usize, Zxid)> {
    let mut out: BTreeMap<u32, (usize, Zxid)> = BTreeMap::new();
    for &id in ops {
        let op = h.op(id);
        let at = op.end_at().unwrap_or(op.invoke_at).max(op.invoke_at);
        let answered = match op.kind {
            OpKind::SetWatches => set_watches_zxid(h, id),
            _ => op.reply().map(|r| r.zxid),
        }
        .unwrap_or(Zxid::MIN);
        let e = out
            .entry(h.connection_of(op.client, op.invoke_at))
            .or_insert((at, answered));
        e.0 = e.0.max(at);
        e.1 = e.1.max(answered);
    }
    out
}

/// A session's replies with a definite outcome by arrival, its answered close's among
/// them, as watch-before-later-read reads them: (position, largest zxid so far).
fn replies_seen(h: &History, ops: &[OpId], close: Option<(usize, Zxid)>) -> Vec<(usize, Zxid)> {
    let mut out: Vec<(usize, Zxid)> = ops
        .iter()
        .filter_map(|&id| {
            let op = h.op(id);
            Some((op.end_at()?, op.definite_reply()?.zxid))
        })
        .chain(close)
        .collect();
    out.sort_unstable_by_key(|&(at, _)| at);
    let mut max = Zxid::MIN;
    for e in &mut out {
        max = max.max(e.1);
        e.1 = max;
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::History;
    use crate::generator::mutate::inject;
    use crate::generator::{GenConfig, generate};
    use crate::props::{self, Options, Property};
    use crate::reference::{Half, Reference};

    // Dropping a connection's watches past its horizon changes no finding of the two
    // properties that read the notifications the replay fires, on valid histories and on
    // each kind of injected violation; it only drops notifications (many, once clients
    // reconnect with persistent watches).
    #[test]
    fn horizons_change_no_finding() {
        let mut histories = Vec::new();
        for seed in 0..4 {
            histories.push(generate(seed, &GenConfig::new(3_000)));
        }
        let base = generate(11, &GenConfig::new(2_000));
        for property in Property::ALL {
            for nth in [0, 4] {
                let mut events = base.clone();
                if inject(&mut events, property, nth).is_ok() {
                    histories.push(events);
                }
            }
        }
        let (mut kept_total, mut dropped_total) = (0, 0);
        for events in &histories {
            let h = History::new(events).expect("indexes");
            let dropped = Reference::half(&h, Half::Reads);
            let kept = Reference::reads_keeping_watches(&h);
            assert!(dropped.fired.len() <= kept.fired.len());
            kept_total += kept.fired.len();
            dropped_total += dropped.fired.len();
            for p in [Property::WatchBeforeLaterRead, Property::OneShotWatches] {
                let a = props::check(p, &h, &dropped, Options::default());
                let b = props::check(p, &h, &kept, Options::default());
                assert_eq!(a.verdict, b.verdict, "{p}");
            }
        }
        assert!(
            dropped_total * 2 < kept_total,
            "{dropped_total} of {kept_total}"
        );
    }
}
