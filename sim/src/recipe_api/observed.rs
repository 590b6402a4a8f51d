//! [`Observed`]: a user's recipe run as the client node's agents, with its each-step
//! invariants judged after every call, and its team kept where the sweep can judge the
//! end-of-run invariants once the run is over.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use zksim_core::client::Outcome;
use zksim_core::request::Request;

use super::invariant::{Invariant, When};
use crate::recipes::{Clients, Cx, Proposal, Recipe, SessionNews, Team, WatchNews};

/// The first each-step invariant broken in a run.
#[derive(Clone, Debug)]
pub(super) struct StepBreak {
    pub invariant: String,
    pub message: String,
    pub now_ms: i64,
    pub client: u32,
}

/// A run's agents and what their steps broke.
pub(super) struct State<R: Recipe> {
    pub team: Team<R>,
    pub broken: Option<StepBreak>,
}

/// The agents of one run, shared with the sweep that judges them.
pub(super) type Shared<R> = Arc<Mutex<State<R>>>;

/// Lock a run's state (a panic while it was held leaves it as the panic left it; the run
/// is reported as panicked).
pub(super) fn lock<R: Recipe>(state: &Shared<R>) -> MutexGuard<'_, State<R>> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The [`Clients`] of a run of a user's recipe.
pub(super) struct Observed<R: Recipe> {
    pub state: Shared<R>,
    pub invariants: Vec<Arc<Invariant<R::Shared>>>,
}

impl<R: Recipe> Observed<R> {
    /// Call the agents, then judge the each-step invariants until one breaks.
    fn step<T>(&self, cx: &Cx, call: impl FnOnce(&mut Team<R>) -> T) -> T {
        let mut state = lock(&self.state);
        let result = call(&mut state.team);
        if state.broken.is_none() {
            let each = self
                .invariants
                .iter()
                .filter(|i| i.when() == When::EachStep);
            for invariant in each {
                if let Err(message) = invariant.check(&state.team.shared) {
                    state.broken = Some(StepBreak {
                        invariant: invariant.name().to_string(),
                        message,
                        now_ms: cx.now_ms,
                        client: cx.client,
                    });
                    break;
                }
            }
        }
        result
    }
}

impl<R: Recipe> Clients for Observed<R> {
    fn propose(&mut self, cx: &Cx) -> Proposal {
        self.step(cx, |team| team.propose(cx))
    }

    fn on_complete(&mut self, cx: &Cx, request: &Request, outcome: &Outcome) {
        self.step(cx, |team| team.on_complete(cx, request, outcome));
    }

    fn on_watch(&mut self, cx: &Cx, event: &WatchNews) {
        self.step(cx, |team| team.on_watch(cx, event));
    }

    fn on_session(&mut self, cx: &Cx, news: &SessionNews) {
        self.step(cx, |team| team.on_session(cx, news));
    }

    fn wake_at_ms(&self, client: u32) -> Option<i64> {
        lock(&self.state).team.wake_at_ms(client)
    }

    fn done(&self, cx: &Cx) -> bool {
        lock(&self.state).team.done(cx)
    }
}
