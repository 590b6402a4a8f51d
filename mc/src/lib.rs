//! Model checking of the real zksim-core servers with stateright.
//!
//! The model's actors are zksim-core `Server`s driven through the same harness pieces the
//! simulator uses (the effect interpreter `ServerIo`, the disk model `ServerDisk`, the
//! ground truth `GroundTruth`); stateright explores every interleaving of message
//! deliveries, link breaks, fsyncs, crashes, restarts, timer firings and client writes
//! within the bounds ([`model`]), holding each state to Zab's safety properties
//! ([`props`]). A violation comes back as a list of steps that replays deterministically
//! ([`trace`]). See docs/model-checking.md.

pub mod check;
mod election;
pub mod fingerprint;
mod host;
pub mod model;
pub mod props;
pub mod trace;

pub use check::{Outcome, Search, check};
pub use model::{Bounds, State, Step, ZabModel};

impl stateright::Model for ZabModel {
    type State = State;
    type Action = Step;

    fn init_states(&self) -> Vec<State> {
        vec![self.initial()]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Step>) {
        self.steps(state, actions);
    }

    fn next_state(&self, state: &State, step: Step) -> Option<State> {
        Some(self.after(state, step))
    }

    fn format_action(&self, step: &Step) -> String {
        step.to_string()
    }

    fn properties(&self) -> Vec<stateright::Property<Self>> {
        props::all()
    }

    fn within_boundary(&self, state: &State) -> bool {
        let epochs = state
            .nodes
            .iter()
            .filter_map(|n| n.server.as_ref())
            .all(|s| s.accepted_epoch() <= self.bounds.epochs);
        epochs
            && state
                .links
                .values()
                .all(|q| q.len() <= self.bounds.in_flight)
    }
}
