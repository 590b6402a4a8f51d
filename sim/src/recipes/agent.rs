//! The agent interface between the client node and a workload: each simulated client's
//! behaviour is an [`Agent`], and the agents of one run share one recipe-wide state (its
//! `Shared`) that holds what they coordinate on outside ZooKeeper (which client does the
//! counter's final read, how far a queue's producers are ahead). A recipe's invariants are
//! not judged here: the checker judges them from the run's history
//! (`zksim_checker::recipes`).
//!
//! All clients run in one task, so the client node calls the agents one at a time through
//! a [`Team`], which pairs the shared state with the agents and hides their type behind
//! [`Clients`].
//!
//! The recipes write their agents as a `Recipe` (`super::recipe`), which is run as an
//! [`Agent`] and holds what every recipe's agent does alike: its random stream and when it
//! next acts, and when it is asked for requests.

use zksim_core::client::Outcome;
use zksim_core::request::{Reply, Request};
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::watch::EventType;

/// What an agent knows of its client when it is called.
#[derive(Clone, Copy, Debug)]
pub struct Cx {
    /// The client's index, stable across its sessions.
    pub client: u32,
    /// Simulated time.
    pub now_ms: i64,
    /// The current session's id, 0 until one is established.
    pub session: SessionId,
    /// The run's liveness phase has begun: finish in-flight work and stop.
    pub winding_down: bool,
    /// The client's submitted requests not yet completed.
    pub in_flight: usize,
    /// How many more requests fit in the client's pipeline now.
    pub room: usize,
}

/// A change in a client's session, as the agent is told of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionNews {
    /// A new session object was started (after expiry, a close, or at the beginning); it
    /// has no id until `Connected`.
    Started,
    /// A session is established (new or re-established) on a connection.
    Connected {
        /// The session's id (the one known before, on a reconnect).
        session: SessionId,
        /// The session timeout the server granted.
        timeout_ms: i32,
    },
    /// The connection was lost; the session may still be alive.
    Disconnected,
    /// The server said the session expired. The session object is finished.
    Expired {
        /// The session that expired.
        session: SessionId,
    },
    /// The session was closed by the client; `zxid` is the closeSession reply's zxid (the
    /// txn that deleted the session's ephemerals) when the reply came.
    Closed {
        /// The session that was closed.
        session: SessionId,
        /// The closeSession reply's zxid, if it came.
        zxid: Option<Zxid>,
    },
    /// An auth was refused. The session object is finished.
    AuthFailed,
}

/// A watch notification, as the agent is told of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchNews {
    /// What happened to the node (created, deleted, data or children changed).
    pub event_type: EventType,
    /// The watched node's path.
    pub path: String,
    /// The zxid the server tagged the event with: the triggering txn, or for an event fired
    /// by SetWatches after a reconnect the server's last applied zxid (an upper bound).
    pub zxid: Zxid,
}

/// What an agent wants next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Proposal {
    /// Submit these requests, in order (none: the agent waits for something).
    Requests(Vec<Request>),
    /// Close the session, and start a new one after the delay.
    CloseSession {
        /// How long after the close the next session starts.
        restart_after_ms: u64,
    },
    /// Stop for a while, as a client in a long GC pause or cut off on its side: drop the
    /// connection (the session stays open) and do nothing until the pause is over, then
    /// reconnect. A pause longer than the session timeout lets the session expire, which
    /// the client learns only when it reconnects.
    Pause {
        /// How long the client stops.
        for_ms: u64,
    },
}

impl Proposal {
    /// No request now: wait for a reply, a watch, session news or the next wake-up.
    pub fn wait() -> Proposal {
        Proposal::Requests(Vec::new())
    }

    /// Submit one request.
    pub fn one(request: Request) -> Proposal {
        Proposal::Requests(vec![request])
    }
}

/// One client's behaviour (`Send`, as the client node's task is).
pub trait Agent: Send {
    /// What the run's agents share (a counter's final reader, a queue's backlog).
    type Shared: Send;

    /// Called when the client is connected, its session is not closing and its pipeline
    /// has room (`cx.room`): the next requests, or none while the agent waits.
    fn propose(&mut self, shared: &mut Self::Shared, cx: &Cx) -> Proposal;

    /// A request this agent proposed has ended: a reply (whose code may be an error), or
    /// an unknown outcome (CONNECTIONLOSS, SESSIONEXPIRED: it may or may not have been
    /// applied).
    fn on_complete(
        &mut self,
        shared: &mut Self::Shared,
        cx: &Cx,
        request: &Request,
        outcome: &Outcome,
    );

    /// A watch this client set has fired.
    fn on_watch(&mut self, _shared: &mut Self::Shared, _cx: &Cx, _event: &WatchNews) {}

    /// The client's session changed.
    fn on_session(&mut self, _shared: &mut Self::Shared, _cx: &Cx, _news: &SessionNews) {}

    /// When the agent wants to be asked again even if nothing happens (a think time, a
    /// retry, a poll while it waits on a watch), in simulated ms.
    fn wake_at_ms(&self) -> Option<i64> {
        None
    }

    /// While the run winds down: whether the agent has nothing left to do, so that the
    /// client may close its session once its requests complete.
    fn done(&self, _shared: &Self::Shared, _cx: &Cx) -> bool {
        true
    }
}

/// The agents of a run as the client node sees them: one object, addressed by client.
pub trait Clients: Send {
    /// `Agent::propose` of client `cx.client`.
    fn propose(&mut self, cx: &Cx) -> Proposal;
    /// `Agent::on_complete` of client `cx.client`.
    fn on_complete(&mut self, cx: &Cx, request: &Request, outcome: &Outcome);
    /// `Agent::on_watch` of client `cx.client`.
    fn on_watch(&mut self, cx: &Cx, event: &WatchNews);
    /// `Agent::on_session` of client `cx.client`.
    fn on_session(&mut self, cx: &Cx, news: &SessionNews);
    /// `Agent::wake_at_ms` of `client`.
    fn wake_at_ms(&self, client: u32) -> Option<i64>;
    /// `Agent::done` of client `cx.client`.
    fn done(&self, cx: &Cx) -> bool;
}

/// The shared state and one agent per client.
pub struct Team<A: Agent> {
    /// What the agents share.
    pub shared: A::Shared,
    /// The agents, by client index.
    pub agents: Vec<A>,
}

impl<A: Agent> Team<A> {
    /// A team of `agents` sharing `shared`.
    pub fn new(shared: A::Shared, agents: Vec<A>) -> Team<A> {
        Team { shared, agents }
    }
}

impl<A: Agent> Clients for Team<A> {
    fn propose(&mut self, cx: &Cx) -> Proposal {
        assert!(cx.room > 0, "client {}: proposing without room", cx.client);
        let agent = &mut self.agents[cx.client as usize];
        agent.propose(&mut self.shared, cx)
    }

    fn on_complete(&mut self, cx: &Cx, request: &Request, outcome: &Outcome) {
        let agent = &mut self.agents[cx.client as usize];
        agent.on_complete(&mut self.shared, cx, request, outcome);
    }

    fn on_watch(&mut self, cx: &Cx, event: &WatchNews) {
        let agent = &mut self.agents[cx.client as usize];
        agent.on_watch(&mut self.shared, cx, event);
    }

    fn on_session(&mut self, cx: &Cx, news: &SessionNews) {
        let agent = &mut self.agents[cx.client as usize];
        agent.on_session(&mut self.shared, cx, news);
    }

    fn wake_at_ms(&self, client: u32) -> Option<i64> {
        self.agents[client as usize].wake_at_ms()
    }

    fn done(&self, cx: &Cx) -> bool {
        self.agents[cx.client as usize].done(&self.shared, cx)
    }
}

/// The reply of a completed request, if the server answered.
pub fn reply(outcome: &Outcome) -> Option<&Reply> {
    match outcome {
        Outcome::Reply(r) => Some(r),
        _ => None,
    }
}

/// Whether the outcome leaves it open whether the request took effect.
pub fn unknown(outcome: &Outcome) -> bool {
    !matches!(outcome, Outcome::Reply(_))
}

/// A znode's data as text (recipes store small decimal or tagged values).
pub fn text(data: &Option<Vec<u8>>) -> String {
    data.as_deref()
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .unwrap_or_default()
}

/// Data from text.
pub fn data(text: &str) -> Option<Vec<u8>> {
    Some(text.as_bytes().to_vec())
}
