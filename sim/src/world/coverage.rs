//! What a run reached of the protocol: each (role, stage, message kind) a server received a
//! message in, and each (role, stage, fault kind) a live server was in when a fault hit.
//! A stage is what the role was doing: electing, recovering (Zab's discovery and
//! synchronization: a leader not yet established, a learner not yet synced) or
//! broadcasting. The sweep reports how many of these a run and a whole sweep reached, so
//! exploration can be compared by what it exercised and not only by what it found.

use std::collections::BTreeSet;

use zksim_core::zab::PeerState;

/// What a server's role was doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Looking: fast leader election.
    Election,
    /// Leading or following, not yet established or synced (Zab phases 1 and 2).
    Recovery,
    /// Established: the leader broadcasts, the learner is synced (Zab phase 3).
    Broadcast,
}

impl Stage {
    pub fn of(state: PeerState, serving: bool) -> Stage {
        match (state, serving) {
            (PeerState::Looking, _) => Stage::Election,
            (_, false) => Stage::Recovery,
            (_, true) => Stage::Broadcast,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Stage::Election => "election",
            Stage::Recovery => "recovery",
            Stage::Broadcast => "broadcast",
        }
    }
}

/// The protocol transitions and fault timings a run reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// A server received a message of this kind while in this role and stage.
    pub messages: BTreeSet<(PeerState, Stage, &'static str)>,
    /// A fault of this kind hit while a live server was in this role and stage.
    pub faults: BTreeSet<(PeerState, Stage, String)>,
}

impl Coverage {
    pub fn message(&mut self, state: PeerState, serving: bool, kind: &'static str) {
        self.messages
            .insert((state, Stage::of(state, serving), kind));
    }

    pub fn fault(&mut self, state: PeerState, serving: bool, kind: &str) {
        self.faults
            .insert((state, Stage::of(state, serving), kind.to_string()));
    }

    /// Every point reached, named: `LEADING/recovery/ACK`, `fault FOLLOWING/broadcast/kill`.
    pub fn points(&self) -> impl Iterator<Item = String> + '_ {
        let messages = self
            .messages
            .iter()
            .map(|(s, stage, kind)| format!("{}/{}/{kind}", s.name(), stage.name()));
        let faults = self
            .faults
            .iter()
            .map(|(s, stage, kind)| format!("fault {}/{}/{kind}", s.name(), stage.name()));
        messages.chain(faults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_named_by_role_stage_and_kind_once_each() {
        let mut c = Coverage::default();
        c.message(PeerState::Leading, false, "ACKEPOCH");
        c.message(PeerState::Leading, false, "ACKEPOCH");
        c.message(PeerState::Following, true, "PROPOSAL");
        c.message(PeerState::Looking, true, "NOTIFICATION");
        c.fault(PeerState::Following, false, "kill");
        let points: Vec<String> = c.points().collect();
        assert_eq!(
            points,
            vec![
                "LOOKING/election/NOTIFICATION",
                "FOLLOWING/broadcast/PROPOSAL",
                "LEADING/recovery/ACKEPOCH",
                "fault FOLLOWING/recovery/kill",
            ]
        );
    }
}
