//! The properties the checker holds every state to: Zab's safety as the checker's replica
//! agreement and durability properties state it (Zab.tla's PrefixConsistency, Integrity,
//! Agreement and PrimaryUniqueness; the Zab paper's §4 invariants), and two reachability
//! checks that show the search gets somewhere.
//!
//! "Committed" is what the ground truth records: a txn some replica applied. A replica
//! applies a txn only once it is committed, and the server holding the client's
//! connection replies then, so an applied write is an acknowledged one.

use std::sync::Arc;

use stateright::Property;
use zksim_core::server::Server;
use zksim_core::stat::Zxid;
use zksim_core::zab::messages::Proposal;
use zksim_core::zab::{PeerState, epoch_of};

use crate::model::{State, ZabModel, committed};

pub const PREFIXES_AGREE: &str = "committed prefixes agree";
pub const NEVER_LOST: &str = "committed txns are never lost or truncated";
pub const ONE_LEADER: &str = "at most one established leader per epoch";
pub const ACKED_IN_LEADERS: &str = "an acknowledged write is in every later leader's history";
pub const EPOCHS_ORDERED: &str = "acceptedEpoch >= currentEpoch";
pub const ON_QUORUM_DISKS: &str = "a committed txn is durable on a quorum";
pub const EPOCH_WITH_HISTORY: &str = "a durable currentEpoch comes with its leader's history";
pub const NO_ASSERTION: &str = "no server assertion fails";
pub const LEADER_ESTABLISHED: &str = "a leader is established";
pub const WRITE_COMMITS: &str = "a write commits";

pub fn all() -> Vec<Property<ZabModel>> {
    vec![
        Property::always(PREFIXES_AGREE, |m, s| {
            m.judge(PREFIXES_AGREE, s, prefixes_agree(s).is_ok())
        }),
        Property::always(NEVER_LOST, |m, s| {
            m.judge(NEVER_LOST, s, never_lost(s).is_ok())
        }),
        Property::always(ONE_LEADER, |m, s| {
            m.judge(ONE_LEADER, s, one_leader(s).is_ok())
        }),
        Property::always(ACKED_IN_LEADERS, |m, s| {
            m.judge(ACKED_IN_LEADERS, s, acked_in_leaders(s).is_ok())
        }),
        Property::always(EPOCHS_ORDERED, |m, s| {
            m.judge(EPOCHS_ORDERED, s, epochs_ordered(s).is_ok())
        }),
        Property::always(ON_QUORUM_DISKS, |m, s| {
            m.judge(ON_QUORUM_DISKS, s, on_quorum_disks(m, s).is_ok())
        }),
        Property::always(EPOCH_WITH_HISTORY, |m, s| {
            m.judge(EPOCH_WITH_HISTORY, s, epoch_with_history(s).is_ok())
        }),
        Property::always(NO_ASSERTION, |m, s: &State| {
            m.judge(NO_ASSERTION, s, s.failures.is_empty())
        }),
        Property::sometimes(LEADER_ESTABLISHED, |_, s: &State| !s.established.is_empty()),
        Property::sometimes(WRITE_COMMITS, |_, s: &State| !s.truth.txns.is_empty()),
    ]
}

/// A property's check of a state: how it is broken, if it is.
type Check = fn(&State) -> Result<(), String>;

/// Every safety property `state` breaks, each with one sentence saying how.
pub fn violations(model: &ZabModel, state: &State) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    if let Err(why) = on_quorum_disks(model, state) {
        found.push((ON_QUORUM_DISKS, why));
    }
    if let Err(why) = epoch_with_history(state) {
        found.push((EPOCH_WITH_HISTORY, why));
    }
    let checks: [(&'static str, Check); 6] = [
        (PREFIXES_AGREE, prefixes_agree),
        (NEVER_LOST, never_lost),
        (ONE_LEADER, one_leader),
        (ACKED_IN_LEADERS, acked_in_leaders),
        (EPOCHS_ORDERED, epochs_ordered),
        (NO_ASSERTION, |s| match s.failures.first() {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }),
    ];
    found.extend(
        checks
            .into_iter()
            .filter_map(|(name, check)| check(state).err().map(|why| (name, why))),
    );
    found
}

/// Whether `server`'s history holds `p`: in its log, or below its snapshot.
fn holds(server: &Server, p: &Proposal) -> bool {
    let history = server.history();
    let base = history.snapshot().map_or(0, |s| s.zxid);
    if p.hdr.zxid <= base {
        return true;
    }
    history
        .log()
        .binary_search_by_key(&p.hdr.zxid, |q| q.hdr.zxid)
        .is_ok_and(|i| *history.log()[i] == *p)
}

fn up(state: &State) -> impl Iterator<Item = &Server> {
    state.nodes.iter().filter_map(|n| n.server.as_ref())
}

/// The one txn committed at each zxid (a zxid committed two ways is `prefixes_agree`'s).
fn committed_txns(state: &State) -> impl Iterator<Item = (Zxid, &Arc<Proposal>)> {
    committed(state).map(|(z, ps)| (z, &ps[0]))
}

/// Zab's Agreement and PrefixConsistency: no zxid is committed as two different txns, and
/// every replica's committed prefix holds every txn committed anywhere up to its commit
/// point.
pub fn prefixes_agree(state: &State) -> Result<(), String> {
    if let Some((z, ps)) = committed(state).find(|(_, ps)| ps.len() > 1) {
        return Err(format!(
            "zxid {z:#x} was committed as {} different txns",
            ps.len()
        ));
    }
    for s in up(state) {
        let upto = s.last_committed_zxid();
        for (z, p) in committed_txns(state).filter(|(z, _)| *z <= upto) {
            if !holds(s, p) {
                return Err(format!(
                    "S{} committed up to {upto:#x} without the committed txn {z:#x}",
                    s.id()
                ));
            }
        }
    }
    Ok(())
}

/// Zab's Integrity and the durability of commits: a server in service (an established
/// leader or a synced follower) holds every committed txn up to the last one it has; none
/// was truncated away or lost in a crash.
pub fn never_lost(state: &State) -> Result<(), String> {
    for s in up(state).filter(|s| s.is_serving()) {
        let last = s.last_logged_zxid();
        for (z, p) in committed_txns(state).filter(|(z, _)| *z <= last) {
            if !holds(s, p) {
                return Err(format!(
                    "S{} ({}, last zxid {last:#x}) lacks the committed txn {z:#x}",
                    s.id(),
                    s.state().name()
                ));
            }
        }
    }
    Ok(())
}

/// PrimaryUniqueness: no two servers were established as leader of one epoch.
pub fn one_leader(state: &State) -> Result<(), String> {
    match state.established.iter().find(|(_, who)| who.len() > 1) {
        Some((epoch, who)) => Err(format!("epoch {epoch} had established leaders {who:?}")),
        None => Ok(()),
    }
}

/// Zab's Primary Integrity (the paper's §4): a leader established in epoch e holds every
/// txn committed in an earlier epoch.
pub fn acked_in_leaders(state: &State) -> Result<(), String> {
    let leaders = up(state).filter(|s| s.state() == PeerState::Leading && s.is_serving());
    for l in leaders {
        let epoch = l.current_epoch();
        for (z, p) in committed_txns(state).filter(|(z, _)| epoch_of(*z) < epoch) {
            if !holds(l, p) {
                return Err(format!(
                    "S{}, leader of epoch {epoch}, lacks the acknowledged txn {z:#x}",
                    l.id()
                ));
            }
        }
    }
    Ok(())
}

/// The Zab paper's Algorithms 1 and 2: a server never has a current epoch it has not
/// accepted (checked in memory here, and on disk at every restart by the model).
pub fn epochs_ordered(state: &State) -> Result<(), String> {
    if let Some(f) = state
        .failures
        .iter()
        .find(|f| f.contains("recovered currentEpoch"))
    {
        return Err(f.clone());
    }
    for s in up(state) {
        if s.accepted_epoch() < s.current_epoch() {
            return Err(format!(
                "S{} has acceptedEpoch {} below currentEpoch {}",
                s.id(),
                s.accepted_epoch(),
                s.current_epoch()
            ));
        }
    }
    Ok(())
}

/// Zab's durability (the Zab paper, DSN 2011, §III: a txn is committed only once a quorum
/// has it on disk; ZOOKEEPER-3911 and 4646 are commits that broke it): every committed txn
/// is in the durable files (log or snapshot) of a quorum of servers, up or down. What a
/// crash can take (the unsynced cache) does not count.
pub fn on_quorum_disks(model: &ZabModel, state: &State) -> Result<(), String> {
    if state.truth.txns.is_empty() {
        return Ok(());
    }
    let quorum = model.configs.len() / 2 + 1;
    let durable: Vec<_> = state.nodes.iter().map(|n| n.disk.recover().ok()).collect();
    for (z, p) in committed_txns(state) {
        let holding = durable
            .iter()
            .flatten()
            .filter(|d| durably_holds(d, p))
            .count();
        if holding < quorum {
            return Err(format!(
                "the committed txn {z:#x} is durable on {holding} of {} servers",
                model.configs.len()
            ));
        }
    }
    Ok(())
}

/// Whether a durable state holds `p`: in its log, or below its snapshot.
fn durably_holds(d: &zksim_core::log::DurableState, p: &Proposal) -> bool {
    d.snapshot.as_ref().is_some_and(|s| s.zxid >= p.hdr.zxid)
        || d.log.iter().any(|q| q.hdr.zxid == p.hdr.zxid && **q == *p)
}

/// The Zab paper's Phase 2 (a follower accepts the new leader's history, and only then
/// takes its epoch as current; ZOOKEEPER-4643 wrote the epoch first): a server whose disk
/// says currentEpoch e holds on disk the history the leader of e synced to it, that is
/// every txn of an earlier epoch in the log of the server leading epoch e (while that
/// leader is up: a leader never truncates its own history). The leader itself writes
/// currentEpoch before its epoch is established (Leader.lead), so it is not held to this.
pub fn epoch_with_history(state: &State) -> Result<(), String> {
    let leaders: Vec<&Server> = up(state)
        .filter(|s| s.state() == PeerState::Leading)
        .collect();
    if leaders.is_empty() {
        return Ok(());
    }
    for node in &state.nodes {
        // Only a server some other leader is up beside needs its disk read.
        if !leaders.iter().any(|l| l.id() != node.io.id) {
            continue;
        }
        let Ok(durable) = node.disk.recover() else {
            continue;
        };
        let epoch = durable.current_epoch;
        let Some(leader) = leaders
            .iter()
            .find(|l| l.id() != node.io.id && l.current_epoch() == epoch)
        else {
            continue;
        };
        let history = leader.history().log();
        for p in history.iter().filter(|p| epoch_of(p.hdr.zxid) < epoch) {
            if !durably_holds(&durable, p) {
                return Err(format!(
                    "S{}'s disk has currentEpoch {epoch} without {:#x} of its leader S{}'s history",
                    node.io.id,
                    p.hdr.zxid,
                    leader.id()
                ));
            }
        }
    }
    Ok(())
}
