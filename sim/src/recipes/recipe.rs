//! What every recipe's agent has in common, so that a recipe's file holds only its own
//! steps: a [`Pace`] (the client's random stream and when it next acts) and the
//! [`Recipe`] trait. A recipe is run as an [`Agent`] that asks it for requests only when
//! none of the client's is in flight, the run is not winding down and the recipe's time
//! has come, and tells it how each request ended as a [`Got`].

use rand::Rng;
use zksim_core::client::Outcome;
use zksim_core::request::Request;
use zksim_scenarios::{Scenario, Stream, stream};

use super::ops::{Got, got};
use super::{Agent, Clients, Cx, Proposal, SessionNews, Team, WatchNews};

/// A recipe client's random stream, the scenario's think time, and when the client next
/// acts.
pub struct Pace {
    /// The client's own stream: `<Recipe::STREAM>-<client>` of the run's seed.
    pub rng: Stream,
    /// The longest pause between a completion and the next request (the scenario's).
    pub think_ms_max: u64,
    next_at_ms: i64,
}

impl Pace {
    /// When the client next acts, in simulated ms.
    pub fn next_at_ms(&self) -> i64 {
        self.next_at_ms
    }

    /// A pause of `min_ms..=max_ms` from the client's stream (no draw when the range is
    /// one value).
    pub fn draw_ms(&mut self, min_ms: u64, max_ms: u64) -> i64 {
        let ms = if max_ms > min_ms {
            self.rng.gen_range(min_ms..=max_ms)
        } else {
            min_ms
        };
        i64::try_from(ms).expect("think times are small")
    }

    /// Act again after a pause of `min_ms..=max_ms`.
    pub fn after(&mut self, cx: &Cx, min_ms: u64, max_ms: u64) {
        self.next_at_ms = cx.now_ms + self.draw_ms(min_ms, max_ms);
    }

    /// Act again after a think time (up to the scenario's).
    pub fn think(&mut self, cx: &Cx) {
        self.after(cx, 0, self.think_ms_max);
    }

    /// Act now (a watch fired).
    pub fn now(&mut self, cx: &Cx) {
        self.next_at_ms = cx.now_ms;
    }

    /// Act now if the client was to act later.
    pub fn by_now(&mut self, cx: &Cx) {
        self.next_at_ms = self.next_at_ms.min(cx.now_ms);
    }

    /// True with a chance of `percent` in 100, from the client's stream.
    pub fn percent(&mut self, percent: u32) -> bool {
        self.rng.gen_range(0..100) < percent
    }

    /// A number in `min..=max` from the client's stream (`min` when the range is empty).
    pub fn draw(&mut self, min: u64, max: u64) -> u64 {
        if max > min {
            self.rng.gen_range(min..=max)
        } else {
            min
        }
    }
}

/// One client's part in a recipe.
pub trait Recipe: Send {
    /// What the run's clients share (a counter's final reader, a queue's backlog).
    type Shared: Send + Default;

    /// The prefix of the clients' random streams (`<STREAM>-<client>`).
    const STREAM: &'static str;

    /// The agent of client `client`, starting with `pace` (due at once).
    fn new(scenario: &Scenario, client: u32, pace: Pace) -> Self;

    /// The client's pace (its stream and when it next acts).
    fn pace(&self) -> &Pace;

    /// The next requests (none: wait): asked when none of the client's requests is in
    /// flight, the run is not winding down, and `wake_at_ms` has come.
    fn next(&mut self, shared: &mut Self::Shared, cx: &Cx) -> Proposal;

    /// While the run winds down, with none of the client's requests in flight: what is
    /// left to do before the session may close (nothing, unless the recipe says so).
    fn wind_down(&mut self, _shared: &mut Self::Shared, _cx: &Cx) -> Proposal {
        Proposal::wait()
    }

    /// A request this client proposed has ended.
    fn on_reply(&mut self, shared: &mut Self::Shared, cx: &Cx, request: &Request, got: &Got);

    /// A watch this client set has fired (once per watch, as in ZooKeeper).
    fn on_watch(&mut self, _shared: &mut Self::Shared, _cx: &Cx, _event: &WatchNews) {}

    /// The client's session changed: started, connected (a reconnect when the session is
    /// the one already known), disconnected, expired, closed.
    fn on_session(&mut self, _shared: &mut Self::Shared, _cx: &Cx, _news: &SessionNews) {}

    /// When the client next acts: its pace's time, unless the recipe has an earlier one.
    fn wake_at_ms(&self) -> i64 {
        self.pace().next_at_ms()
    }

    /// While the run winds down: whether the client has nothing left to do.
    fn done(&self, _shared: &Self::Shared, _cx: &Cx) -> bool {
        true
    }
}

impl<R: Recipe> Agent for R {
    type Shared = R::Shared;

    fn propose(&mut self, shared: &mut R::Shared, cx: &Cx) -> Proposal {
        if cx.in_flight > 0 {
            return Proposal::wait();
        }
        if cx.winding_down {
            return self.wind_down(shared, cx);
        }
        if cx.now_ms < Recipe::wake_at_ms(self) {
            return Proposal::wait();
        }
        self.next(shared, cx)
    }

    fn on_complete(
        &mut self,
        shared: &mut R::Shared,
        cx: &Cx,
        request: &Request,
        outcome: &Outcome,
    ) {
        self.on_reply(shared, cx, request, &got(outcome));
    }

    fn on_watch(&mut self, shared: &mut R::Shared, cx: &Cx, event: &WatchNews) {
        Recipe::on_watch(self, shared, cx, event);
    }

    fn on_session(&mut self, shared: &mut R::Shared, cx: &Cx, news: &SessionNews) {
        Recipe::on_session(self, shared, cx, news);
    }

    fn wake_at_ms(&self) -> Option<i64> {
        Some(Recipe::wake_at_ms(self))
    }

    fn done(&self, shared: &R::Shared, cx: &Cx) -> bool {
        Recipe::done(self, shared, cx)
    }
}

/// The agents of a run of recipe `R`: one per client of the scenario, sharing a fresh
/// `R::Shared`.
pub fn team<R: Recipe + 'static>(scenario: &Scenario, seed: u64) -> Box<dyn Clients> {
    Box::new(team_of::<R>(scenario, seed))
}

/// The agents of a run of recipe `R`, as a [`Team`]: one per client of the scenario, each
/// with its own stream `<R::STREAM>-<client>` of the run's seed, sharing a fresh
/// `R::Shared`.
pub fn team_of<R: Recipe>(scenario: &Scenario, seed: u64) -> Team<R> {
    let agents = (0..scenario.clients)
        .map(|i| {
            let pace = Pace {
                rng: stream(seed, &format!("{}-{i}", R::STREAM)),
                think_ms_max: scenario.workload.think_ms_max,
                next_at_ms: 0,
            };
            R::new(scenario, i, pace)
        })
        .collect();
    Team::new(R::Shared::default(), agents)
}
