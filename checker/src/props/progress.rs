//! Progress: the service does its job, not only nothing wrong. Judged where the history
//! shows that no fault could excuse a failure: after the run's liveness phase began (every
//! fault healed; the `phase` event), on what the fault-free service did.
//!
//! - **Requests are answered**: a request (or a close) sent on a connection that never
//!   broke has an answer; one still open when the history ends was never answered. "The
//!   client will ... receive a response" (ZooKeeper Programmer's Guide, "ZooKeeper
//!   Sessions"; a server answers every request of a live connection in order).
//! - **Sessions kept alive stay alive**: a session expires only when the leader has not
//!   heard from it for its timeout (Programmer's Guide, "ZooKeeper Sessions";
//!   `SessionTrackerImpl`). Every request and ping a server answers touched the session
//!   there between its sending and its answer, and a follower reports its touches to the
//!   leader at the next ping (`Learner.ping`, `LearnerSessionTracker`). So an expiry the
//!   leader of epoch E decided at time D (its txn's `time`) is a violation when the client
//!   sent a request or ping at s with s + timeout > D (plus the txn time's millisecond
//!   and two ticks) and had the answer at r with r + 2 ticks <= D, from a server following
//!   or leading E at both ends: the leader knew of that touch before it decided. Judged
//!   from the liveness phase on, once the slowest latency fault's messages are through (a
//!   link keeps its order), and only without clock faults (they move the leader's
//!   clock), for an expiry decided by a leader no `slow_leader` fault slowed (its clocks
//!   stay behind by what they lost once they run at true time again).
//!   Hearing from a server is not enough: a notification, or the answer to a request sent
//!   in the fault phase, says nothing of what the leader knew.
//! - **Containers and TTL nodes are reaped in time**: a container whose last child is gone
//!   (cversion > 0, no children), or a TTL node without children not changed for its TTL,
//!   is deleted by the leader's container manager at its next run
//!   (`ContainerManager.checkContainers`, every `znode.container.checkIntervalMs`; ZooKeeper
//!   Programmer's Guide, "Container Nodes" and "TTL Nodes"). Once one is due after the
//!   liveness phase began (or after a later leader took over), it must be gone within the
//!   interval plus two ticks. TTL nodes are judged only in a history without clock faults
//!   (their TTL runs on the leader's wall clock, which a clock fault moves), and are owed
//!   only by leaders no `slow_leader` fault slowed; every check needs the header's
//!   `container_check_ms`.
//!
//! That a notification a session is owed is delivered is watch-before-later-read's part:
//! a session's answered close counts as a later reply there.

use zksim_core::stat::{NodeKind, SessionId, Zxid};
use zksim_core::tree::DataTree;
use zksim_core::txn::{CreateKind, Txn, TxnHeader};
use zksim_core::zab::PeerState;

use super::describe::{op as describe_op, txn as describe_txn, zxid as z};
use super::{Findings, Outcome, Property};
use crate::history::{Micros, SessionEvent};
use crate::index::{End, FastMap, FastSet, FaultRec, History, TxnId};

pub fn check(h: &History) -> Outcome {
    let mut findings = Findings::new(Property::Progress);
    let Some((live_t, _)) = h.liveness else {
        return findings.outcome(0);
    };
    let slowed = slowed_servers(h);
    let mut checked = check_answered(h, &mut findings);
    checked += check_kept_alive(h, live_t, &slowed, &mut findings);
    checked += check_reaped(h, live_t, &slowed, &mut findings);
    findings.outcome(checked)
}

/// A clock fault (`clock_skew`, `clock_jump`, `clock_rate`) moved some server's clocks
/// away from the history's time. A rate set back to 100% moves none: the simulator
/// records so the end of a `slow_leader` fault when the liveness phase begins, and the
/// server that fault slowed is excused on its own (`slowed_servers`); a rate another
/// clock fault changed first is caught by that fault.
fn moves_clocks(h: &History) -> bool {
    h.faults
        .iter()
        .any(|f| f.kind.starts_with("clock") && !restores_true_rate(f))
}

/// A `clock_rate` fault back to the true rate (`{"kind":"clock_rate","server":1,"percent":100}`).
fn restores_true_rate(f: &FaultRec) -> bool {
    f.kind == "clock_rate"
        && serde_json::from_str::<serde_json::Value>(f.detail)
            .ok()
            .and_then(|d| d.get("percent")?.as_u64())
            == Some(100)
}

/// The servers a `slow_leader` fault slowed (its detail names the leader: `leader S3 at
/// 12%`): their clocks stay behind by what they lost once they run at true time again, so
/// neither the expiries such a server decides as leader nor the TTLs it judges by its wall
/// clock are judged.
fn slowed_servers(h: &History) -> FastSet<u64> {
    h.faults
        .iter()
        .filter(|f| f.kind == "slow_leader")
        .filter_map(|f| {
            f.detail
                .strip_prefix("leader S")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// The server that led `epoch` (Zab gives an epoch one leader).
fn leader_of(h: &History, epoch: u32) -> Option<u64> {
    h.roles
        .iter()
        .find(|r| r.state == PeerState::Leading && r.epoch == epoch)
        .map(|r| r.server)
}

/// Two ticks: session expiry and the container manager run on tick boundaries.
fn slack_us(h: &History) -> Micros {
    2 * h.header.tick_ms.unwrap_or(200) * 1000
}

fn ms(t: Micros) -> String {
    format!("{} ms", t / 1000)
}

fn check_answered(h: &History, findings: &mut Findings) -> usize {
    for (i, op) in h.ops.iter().enumerate() {
        if matches!(op.end, End::Open) {
            findings.add(
                format!(
                    "{} was sent at {} on a connection that never broke, and the history ends without an answer",
                    describe_op(h, i as u32),
                    ms(op.invoke_t)
                ),
                vec![i as u32],
                Vec::new(),
                Vec::new(),
            );
        }
    }
    for close in &h.closes {
        if matches!(close.end, End::Open) {
            findings.add(
                format!(
                    "client {}'s close (event {}) was sent at {} on a connection that never broke, and the history ends without an answer",
                    close.client,
                    close.invoke_at + 1,
                    ms(close.invoke_t)
                ),
                Vec::new(),
                Vec::new(),
                vec![close.invoke_at],
            );
        }
    }
    h.ops.len() + h.closes.len()
}

/// A session touched on a server and known to have been: a request or ping the client
/// sent at `sent` and got the answer to at `received` (position `at`), on a connection to
/// `server` with the session's timeout (ms). The server touched the session in between.
#[derive(Clone, Copy)]
struct Touch {
    sent: Micros,
    received: Micros,
    at: usize,
    server: u64,
    timeout_ms: i32,
}

fn check_kept_alive(
    h: &History,
    live_t: Micros,
    slowed: &FastSet<u64>,
    findings: &mut Findings,
) -> usize {
    // When the leader decided an expiry is its txn's `time`, the leader's clock, which
    // only a clock fault moves away from the history's time.
    if moves_clocks(h) {
        return 0;
    }
    // Messages sent in the fault phase may still be slowed by a latency fault; a link
    // keeps its order, so a touch forwarded after the phase began may wait behind them.
    let settled = live_t + largest_latency_us(h);
    let closed: FastSet<SessionId> = h
        .closes
        .iter()
        .filter_map(|c| c.session.or_else(|| h.next_session(c.client, c.invoke_at)))
        .collect();
    let expiries: Vec<(TxnId, Micros)> = h
        .txns
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t.txn, Txn::CloseSession { .. }) && !closed.contains(&t.session))
        .filter_map(|(i, t)| {
            let decided = Micros::try_from(t.time).ok()?.checked_mul(1000)?;
            (decided >= settled).then_some((i as TxnId, decided))
        })
        .collect();
    if expiries.is_empty() {
        return 0;
    }
    let touches = touches(h, settled);
    let slack = slack_us(h);
    let mut judged = 0;
    for &(id, decided) in &expiries {
        let t = h.txn(id);
        let epoch = u32::try_from(t.zxid >> 32).expect("an epoch fits in u32");
        if leader_of(h, epoch).is_some_and(|s| slowed.contains(&s)) {
            continue;
        }
        judged += 1;
        let Some(list) = touches.get(&t.session) else {
            continue;
        };
        // The leader knew of a touch made after `decided - timeout` (the txn's time is
        // in whole milliseconds): the session had not been silent for its timeout.
        let known = list.iter().rev().find(|x| {
            let timeout = u64::try_from(x.timeout_ms.max(0)).expect("non-negative") * 1000;
            x.received + slack <= decided
                && x.sent + timeout > decided + 999 + slack
                && serves_epoch(h, x.server, x.sent, epoch)
                && serves_epoch(h, x.server, x.received, epoch)
        });
        let Some(x) = known else {
            continue;
        };
        findings.add(
            format!(
                "session {:#x} was expired by the leader of epoch {epoch} at {} (closeSession at zxid {}), though server {} of that epoch was answering it: the client sent a request or ping at {} and had its answer at {} (event {}), less than its {} ms timeout before, in the fault-free phase: a session kept alive must not expire",
                t.session,
                ms(decided),
                z(t.zxid),
                x.server,
                ms(x.sent),
                ms(x.received),
                x.at + 1,
                x.timeout_ms
            ),
            Vec::new(),
            vec![id],
            vec![x.at],
        );
    }
    judged
}

/// The longest fsync the history reports: a slow disk (`disk_slow`, `{"fsync_ms": N}`;
/// `leader_disk_slow`, `S3: fsync takes N ms`) or an fsync slowed by BUGGIFY
/// (`buggify_slow_fsync`, `S3 fsync takes N ms`).
fn largest_fsync_us(h: &History) -> Micros {
    h.faults
        .iter()
        .filter_map(|f| match f.kind {
            "disk_slow" => serde_json::from_str::<serde_json::Value>(f.detail)
                .ok()?
                .get("fsync_ms")?
                .as_u64(),
            "buggify_slow_fsync" | "leader_disk_slow" => fsync_ms_in(f.detail),
            _ => None,
        })
        .filter_map(|ms| ms.checked_mul(1000))
        .max()
        .unwrap_or(0)
}

/// The latest a BUGGIFY late timer held a server's deadlines (`buggify_late_timer`,
/// `S1 timer fires N ms late`): the container manager's check waits for it.
fn largest_late_timer_us(h: &History) -> Micros {
    h.faults
        .iter()
        .filter(|f| f.kind == "buggify_late_timer")
        .filter_map(|f| late_ms_in(f.detail)?.checked_mul(1000))
        .max()
        .unwrap_or(0)
}

/// `N` in `... fsync takes N ms`.
fn fsync_ms_in(detail: &str) -> Option<u64> {
    ms_between(detail, "fsync takes ", " ms")
}

/// `N` in `... timer fires N ms late`.
fn late_ms_in(detail: &str) -> Option<u64> {
    ms_between(detail, "timer fires ", " ms late")
}

/// The number after `before` up to `after`, which ends `detail`.
fn ms_between(detail: &str, before: &str, after: &str) -> Option<u64> {
    detail
        .split(before)
        .nth(1)?
        .strip_suffix(after)?
        .parse()
        .ok()
}

/// The largest extra latency a fault put on the network, in µs.
fn largest_latency_us(h: &History) -> Micros {
    h.faults
        .iter()
        .filter(|f| f.kind == "latency")
        .filter_map(|f| {
            let detail: serde_json::Value = serde_json::from_str(f.detail).ok()?;
            detail.get("extra_ms")?.as_u64()?.checked_mul(1000)
        })
        .max()
        .unwrap_or(0)
}

/// For each session, the requests and pings its client sent at or after `from` and had
/// answered on the same connection, by arrival.
fn touches(h: &History, from: Micros) -> FastMap<SessionId, Vec<Touch>> {
    let mut out: FastMap<SessionId, Vec<Touch>> = FastMap::default();
    let mut note = |session: SessionId, client, sent: Micros, received: Micros, at: usize| {
        if sent < from {
            return;
        }
        if let Some((server, timeout_ms)) = connection_server(h, client, at) {
            out.entry(session).or_default().push(Touch {
                sent,
                received,
                at,
                server,
                timeout_ms,
            });
        }
    };
    for &id in &h.completions {
        let op = h.op(id);
        if let (Some(session), Some(_), End::Reply { t, at, .. }) =
            (op.session, op.definite_reply(), op.end)
        {
            if h.connection_of(op.client, op.invoke_at) == h.connection_of(op.client, at) {
                note(session, op.client, op.invoke_t, t, at);
            }
        }
    }
    for p in &h.pings {
        if let Some(sent) = p.sent_t {
            note(p.session, p.client, sent, p.t, p.at);
        }
    }
    for list in out.values_mut() {
        list.sort_unstable_by_key(|x| (x.received, x.at));
    }
    out
}

/// The server and negotiated timeout of the client's connection holding position `at`.
fn connection_server(h: &History, client: u32, at: usize) -> Option<(u64, i32)> {
    let connects = h.connects.get(&client)?;
    let last = *connects[..connects.partition_point(|&c| c < at)].last()?;
    let i = h.sessions.partition_point(|s| s.at < last);
    match h.sessions.get(i)?.event {
        SessionEvent::Connected { server, timeout_ms } => Some((*server, *timeout_ms)),
        _ => None,
    }
}

/// Whether `server`'s latest role before `when` was following or leading `epoch`.
fn serves_epoch(h: &History, server: u64, when: Micros, epoch: u32) -> bool {
    h.roles
        .iter()
        .rev()
        .filter(|r| r.server == server && r.t <= when)
        .map(|r| matches!(r.state, PeerState::Following | PeerState::Leading) && r.epoch == epoch)
        .next()
        .unwrap_or(false)
}

/// A container or TTL node due for deletion: since when, and its kind.
#[derive(Clone, Copy)]
struct Due {
    since: Micros,
    ttl: bool,
}

fn check_reaped(
    h: &History,
    live_t: Micros,
    slowed: &FastSet<u64>,
    findings: &mut Findings,
) -> usize {
    let Some(interval_ms) = h.header.container_check_ms else {
        return 0;
    };
    let makes_reapable = |t: &Txn| match t {
        Txn::Create { kind, .. } => matches!(kind, CreateKind::Container | CreateKind::Ttl),
        Txn::Multi(txns) => txns.iter().any(|t| {
            matches!(
                t,
                Txn::Create {
                    kind: CreateKind::Container | CreateKind::Ttl,
                    ..
                }
            )
        }),
        _ => false,
    };
    if !h.txns.iter().any(|t| makes_reapable(t.txn)) || h.txns.iter().any(|t| t.applied_t.is_none())
    {
        return 0;
    }
    let judge_ttl = !moves_clocks(h);
    let leaders = leaderships(h);
    let ttl_leaders = leaders
        .iter()
        .filter(|(_, _, server)| !slowed.contains(server))
        .copied()
        .collect();
    let reap = Reaping {
        h,
        live_t,
        bound: interval_ms * 1000
            + slack_us(h)
            + 2 * largest_fsync_us(h)
            + largest_late_timer_us(h),
        leaders,
        ttl_leaders,
        judge_ttl,
    };
    reap.run(findings)
}

struct Reaping<'a, 'h> {
    h: &'a History<'h>,
    live_t: Micros,
    /// How long after it is due a node may live: the check interval, two ticks, and twice
    /// the longest fsync the history reports (the delete's proposal may wait for an fsync
    /// in progress and then its own, on the leader and on the followers it needs).
    bound: Micros,
    /// Each established leadership: (from, until, leader).
    leaders: Vec<(Micros, Micros, u64)>,
    /// Those of leaders whose clocks no `slow_leader` fault slowed: the reigns that owe
    /// the reaping of a TTL node.
    ttl_leaders: Vec<(Micros, Micros, u64)>,
    judge_ttl: bool,
}

impl Reaping<'_, '_> {
    /// The latest time a node due since `since` may still exist: a whole check interval
    /// (and two ticks) of one established leader's reign after it became due; a leader
    /// that takes over starts its container manager afresh, and while none leads nothing
    /// is reaped; a TTL node is owed only by a leader whose clocks were not slowed.
    /// `Micros::MAX` when no reign is long enough.
    fn deadline(&self, d: Due) -> Micros {
        let mut base = d.since.max(self.live_t);
        let reigns = if d.ttl {
            &self.ttl_leaders
        } else {
            &self.leaders
        };
        for &(from, until, _) in reigns {
            if until <= base {
                continue;
            }
            base = base.max(from);
            if base + self.bound <= until {
                return base + self.bound;
            }
        }
        Micros::MAX
    }

    /// Replay the ground truth, following which nodes are due; returns how many were.
    fn run(&self, findings: &mut Findings) -> usize {
        let mut tree = DataTree::new();
        let mut due: FastMap<String, Due> = FastMap::default();
        let mut judged = 0;
        for (i, t) in self.h.txns.iter().enumerate() {
            let applied = t.applied_t.expect("checked: every txn has its time");
            let hdr = TxnHeader {
                session_id: t.session,
                cxid: t.cxid,
                zxid: t.zxid,
                time: t.time,
            };
            let touched = touched_paths(t.txn);
            tree.apply(&hdr, t.txn, &mut Vec::new());
            for path in touched {
                let now = self.due_since(&tree, &path, applied);
                match (due.get(&path).copied(), now) {
                    (Some(d), None) => {
                        due.remove(&path);
                        judged += 1;
                        self.ended(&path, d, i as TxnId, applied, t.zxid, findings);
                    }
                    // A TTL node changed: due again a TTL later.
                    (Some(d), Some(again)) if again.since != d.since => {
                        judged += 1;
                        self.ended(&path, d, i as TxnId, applied, t.zxid, findings);
                        due.insert(path, again);
                    }
                    (None, Some(since)) => {
                        due.insert(path, since);
                    }
                    _ => {}
                }
            }
        }
        let mut left: Vec<(String, Due)> = due.into_iter().collect();
        left.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, d) in left {
            judged += 1;
            let deadline = self.deadline(d);
            if self.h.end_t > deadline {
                findings.add(
                    format!(
                        "{} {path} was due for deletion from {} on, but was still there when the history ended at {} (the leader's container manager runs every {} ms)",
                        kind_name(d),
                        ms(d.since.max(self.live_t)),
                        ms(self.h.end_t),
                        self.h.header.container_check_ms.unwrap_or(0)
                    ),
                    Vec::new(),
                    Vec::new(),
                    Vec::new(),
                );
            }
        }
        judged
    }

    /// Since when the node at `path` is due for deletion on `tree`, if it is.
    fn due_since(&self, tree: &DataTree, path: &str, applied: Micros) -> Option<Due> {
        let node = tree.get(path)?;
        if !node.children.is_empty() {
            return None;
        }
        match node.stat.kind() {
            NodeKind::Container if node.stat.cversion > 0 => Some(Due {
                since: applied,
                ttl: false,
            }),
            NodeKind::Ttl(ttl) if self.judge_ttl && ttl > 0 => {
                // Without clock faults a server's clock is the history's: mtime + ttl.
                let at_ms = node.stat.mtime.checked_add(ttl)?;
                let since = u64::try_from(at_ms).ok()?.checked_mul(1000)?;
                Some(Due {
                    since: since.max(applied),
                    ttl: true,
                })
            }
            _ => None,
        }
    }

    /// A due node stopped being due at txn `id`: by its reaping, or by a change.
    fn ended(
        &self,
        path: &str,
        d: Due,
        id: TxnId,
        applied: Micros,
        zxid: Zxid,
        findings: &mut Findings,
    ) {
        if applied <= self.deadline(d) {
            return;
        }
        let txn = self.h.txn(id).txn;
        findings.add(
            format!(
                "{} {path} was due for deletion from {} on, but {} at zxid {} (applied at {}) came only after the {} ms check interval had passed",
                kind_name(d),
                ms(d.since.max(self.live_t)),
                describe_txn(txn),
                z(zxid),
                ms(applied),
                self.h.header.container_check_ms.unwrap_or(0)
            ),
            Vec::new(),
            vec![id],
            Vec::new(),
        );
    }
}

/// The established leaderships, in time order: from a server's `role` event as leader
/// to its next role event (or the end of time), and the leader.
fn leaderships(h: &History) -> Vec<(Micros, Micros, u64)> {
    let mut out = Vec::new();
    for (i, r) in h.roles.iter().enumerate() {
        if r.state != PeerState::Leading {
            continue;
        }
        let until = h.roles[i + 1..]
            .iter()
            .find(|n| n.server == r.server)
            .map_or(Micros::MAX, |n| n.t);
        out.push((r.t, until, r.server));
    }
    out
}

fn kind_name(d: Due) -> &'static str {
    if d.ttl { "TTL node" } else { "container" }
}

/// The paths whose reapability a txn may change: what it creates, deletes or changes, and
/// their parents.
fn touched_paths(txn: &Txn) -> Vec<String> {
    let mut out = Vec::new();
    collect_touched(txn, &mut out);
    out.sort();
    out.dedup();
    out
}

fn collect_touched(txn: &Txn, out: &mut Vec<String>) {
    match txn {
        Txn::Create { path, .. }
        | Txn::Delete { path }
        | Txn::DeleteContainer { path }
        | Txn::SetData { path, .. } => with_parent(path, out),
        Txn::CloseSession { paths } => paths.iter().for_each(|p| with_parent(p, out)),
        Txn::Multi(txns) => txns.iter().for_each(|t| collect_touched(t, out)),
        _ => {}
    }
}

fn with_parent(path: &str, out: &mut Vec<String>) {
    out.push(path.to_string());
    if let Some((parent, _)) = path.rsplit_once('/') {
        out.push(if parent.is_empty() {
            "/".to_string()
        } else {
            parent.to_string()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{fsync_ms_in, late_ms_in};

    #[test]
    fn a_buggify_fsync_detail_gives_its_length() {
        assert_eq!(fsync_ms_in("S3 fsync takes 63 ms"), Some(63));
        assert_eq!(fsync_ms_in("S2: fsync takes 487 ms"), Some(487));
        assert_eq!(fsync_ms_in("S3 fsync takes a while"), None);
        assert_eq!(fsync_ms_in("S3 connection reset"), None);
    }

    #[test]
    fn a_buggify_late_timer_detail_gives_its_delay() {
        assert_eq!(late_ms_in("S1 timer fires 440 ms late"), Some(440));
        assert_eq!(late_ms_in("S1 timer fires 440 ms"), None);
        assert_eq!(late_ms_in("S3 fsync takes 63 ms"), None);
    }
}
