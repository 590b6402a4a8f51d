//! Atomic elections (`ElectionMode::Atomic`): a chosen set of servers runs the real fast
//! leader election among themselves to its decision in one step.

use zksim_core::server::Server;
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::{PeerState, ServerId};

use crate::model::{State, Step, ZabModel, bit, node};

impl ZabModel {
    /// The elections possible: every set of up servers that holds a quorum and a server
    /// that is looking.
    pub(crate) fn elections(&self, state: &State, steps: &mut Vec<Step>) {
        let n = self.configs.len();
        let quorum = n / 2 + 1;
        for set in 1u32..(1 << n) {
            let members: Vec<ServerId> = self.ids().filter(|id| set & bit(*id) != 0).collect();
            if members.len() < quorum {
                continue;
            }
            let servers: Vec<&Server> = members
                .iter()
                .filter_map(|id| node(state, *id).server.as_ref())
                .collect();
            if servers.len() == members.len()
                && servers.iter().any(|s| s.state() == PeerState::Looking)
            {
                steps.push(Step::Elect { servers: set });
            }
        }
    }

    /// `Step::Elect`: deliver the notifications between the members, in link order, and
    /// fire the earliest timer of a looking member when none is in flight, until no member
    /// is looking (or the election does not end within a bound of steps).
    pub(crate) fn elect(&self, state: &mut State, set: u32) {
        const STEPS_MAX: usize = 500;
        let member = |id: ServerId| set & bit(id) != 0;
        for _ in 0..STEPS_MAX {
            let looking: Vec<ServerId> = self
                .ids()
                .filter(|id| member(*id))
                .filter(|id| {
                    node(state, *id)
                        .server
                        .as_ref()
                        .is_some_and(|s| s.state() == PeerState::Looking)
                })
                .collect();
            if looking.is_empty() {
                return;
            }
            let next = state.links.iter().find(|((from, to), q)| {
                member(*from)
                    && member(*to)
                    && matches!(q.front(), Some(PeerMessage::Notification(_)))
            });
            if let Some(((from, to), _)) = next {
                let (from, to) = (*from, *to);
                self.apply(state, Step::Deliver { from, to });
                continue;
            }
            let timer = looking
                .iter()
                .filter_map(|id| Some((node(state, *id).server.as_ref()?.next_deadline()?, *id)))
                .min();
            let Some((_, id)) = timer else { return };
            self.fire_timer(state, id);
        }
    }
}
