//! [`LeaderLatch`]: Curator's `LeaderLatch`. A client creates an EPHEMERAL_SEQUENTIAL
//! node under `/latch` (protected by a prefix of its own, as Curator's latch does), lists
//! `/latch`, and leads when its node is the lowest; otherwise it reads the next lower node
//! with a watch and looks again when that node goes. A leader writes `/latch-data` now and
//! then, and after a while resigns (`close()`: it deletes its node) and joins again.
//!
//! Like a JVM client, a leader now and then stops for a long GC pause, sometimes longer
//! than its session timeout, so that its session expires while it is stopped.
//!
//! Curator's latch gives up leadership on SUSPENDED and LOST, and on RECONNECTED starts
//! again (`reset()`). The correct client ([`LeaderLatch`]) does the same: disconnected, it
//! stops leading, and once connected it lists `/latch` again (its node is there and lowest
//! only if its session survived). The buggy client ([`LatchTrustingItsNode`]) also stops
//! leading when disconnected, but on reconnecting it trusts the node it remembers: it
//! resumes as leader without looking, even when the connection is a new session after its
//! old one expired and took the node with it.
//!
//! Each leader write is logged in [`Sections`] with its zxid; the invariant, judged after
//! every step, is that terms do not overlap in zxid order (see `sections`).

use zksim_sim::recipe_api::{
    CreateMode, Cx, ErrorCode, EventType, Got, Invariant, Pace, Proposal, Recipe, Request,
    Scenario, SessionId, SessionNews, WatchNews, ops,
};

use crate::sections::Sections;

const LATCH: &str = "/latch";
const DATA: &str = "/latch-data";

/// Percent of leader writes after which the leader stops for a GC pause.
const PAUSE_PERCENT: u32 = 8;

/// The correct latch: it verifies its node after every reconnect.
pub type LeaderLatch = Latch<true>;

/// The buggy latch: it resumes leadership after a reconnect on the strength of the node it
/// remembers.
pub type LatchTrustingItsNode = Latch<false>;

/// The invariant: leaders' terms do not overlap in zxid order, judged after every step.
pub fn one_leader() -> Invariant<Sections> {
    Invariant::each_step("latch-one-leader", Sections::first_overlap)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// Create /latch and /latch-data.
    Setup,
    /// Create this session's latch node.
    Create,
    /// List /latch.
    Check,
    /// Read the next lower node with a watch.
    Watch(String),
    /// Wait for its deletion (or a poll).
    Wait(String),
    /// Leading: this many writes left in the term.
    Lead(u32),
    /// Disconnected while leading (the buggy latch remembers it led).
    Suspended,
    /// Resign: delete this client's node.
    Resign,
    /// Delete a second node of this session (left by a create with an unknown outcome).
    Clean(String),
    /// Think, then `Create`.
    Idle,
}

/// One client of the latch; `VERIFIES`: whether it lists `/latch` after a reconnect.
pub struct Latch<const VERIFIES: bool> {
    pace: Pace,
    step: Step,
    setup_done: bool,
    /// This session's latch node (its name under /latch), as the client remembers it.
    ours: Option<String>,
    /// The current term in the log, once it wrote.
    term: Option<usize>,
    /// Writes left in the term when it was suspended.
    suspended_left: u32,
    timeout_ms: u64,
    writes: u64,
}

fn prefix(client: u32, session: SessionId) -> String {
    format!("_c_{client}-{session:x}-latch-")
}

fn full(name: &str) -> String {
    format!("{LATCH}/{name}")
}

impl<const VERIFIES: bool> Latch<VERIFIES> {
    fn request(&mut self, cx: &Cx) -> Request {
        match &self.step {
            Step::Setup => ops::create(LATCH, "", CreateMode::Persistent),
            Step::Create | Step::Idle => ops::create(
                &full(&prefix(cx.client, cx.session)),
                &cx.client.to_string(),
                CreateMode::EphemeralSequential,
            ),
            Step::Check | Step::Suspended => ops::get_children(LATCH, false),
            Step::Watch(lower) | Step::Wait(lower) => ops::get_data(&full(lower), true),
            Step::Lead(_) => {
                self.writes += 1;
                ops::set_data(DATA, &format!("leader c{}-{}", cx.client, self.writes), -1)
            }
            Step::Resign => ops::delete(&full(self.ours.as_deref().expect("a node")), -1),
            Step::Clean(name) => ops::delete(&full(name), -1),
        }
    }

    /// `LeaderLatch.checkLeadership`.
    fn on_listing(&mut self, cx: &Cx, children: &[String]) {
        let own = prefix(cx.client, cx.session);
        let mine = ops::in_sequence(children.iter().filter(|c| c.starts_with(&own)));
        if self.ours.is_none() {
            self.ours = mine.first().map(|c| c.to_string());
        }
        let Some(ours) = self.ours.clone() else {
            self.step = Step::Create;
            return;
        };
        if let Some(orphan) = mine.iter().find(|c| **c != &ours) {
            self.step = Step::Clean(orphan.to_string());
            return;
        }
        if !children.contains(&ours) {
            self.ours = None;
            self.step = Step::Create;
            return;
        }
        let lower = children
            .iter()
            .filter(|c| ops::sequence(c) < ops::sequence(&ours))
            .max_by_key(|c| ops::sequence(c));
        match lower {
            None => {
                self.term = None;
                self.step = Step::Lead(self.pace.draw(3, 8) as u32);
            }
            Some(lower) => self.step = Step::Watch(lower.clone()),
        }
    }

    fn on_lead_reply(&mut self, log: &mut Sections, cx: &Cx, left: u32, got: &Got) {
        match got {
            Got::Ok(reply) => {
                self.term = Some(log.write(self.term, cx.client, cx.session, reply.zxid));
                self.step = if left > 1 {
                    Step::Lead(left - 1)
                } else {
                    Step::Resign
                };
                self.pace.after(cx, 20, 100);
            }
            // Unsure: stop leading and look again.
            _ => {
                self.term = None;
                self.step = Step::Check;
                self.pace.after(cx, 10, 50);
            }
        }
    }

    fn start_over(&mut self) {
        self.ours = None;
        self.term = None;
        self.step = if self.setup_done {
            Step::Create
        } else {
            Step::Setup
        };
    }
}

impl<const VERIFIES: bool> Recipe for Latch<VERIFIES> {
    type Shared = Sections;

    const STREAM: &'static str = "example-latch";

    fn new(scenario: &Scenario, _client: u32, pace: Pace) -> Self {
        Latch {
            pace,
            step: Step::Setup,
            setup_done: false,
            ours: None,
            term: None,
            suspended_left: 0,
            timeout_ms: u64::try_from(scenario.workload.session_timeout_ms).unwrap_or(4000),
            writes: 0,
        }
    }

    fn pace(&self) -> &Pace {
        &self.pace
    }

    fn next(&mut self, _log: &mut Sections, cx: &Cx) -> Proposal {
        match self.step {
            Step::Wait(_) => self.step = Step::Check,
            Step::Idle => self.step = Step::Create,
            Step::Setup if self.setup_done => self.step = Step::Create,
            Step::Lead(_) if self.term.is_some() && self.pace.percent(PAUSE_PERCENT) => {
                // A GC pause: from half the session timeout to twice it.
                let for_ms = self.pace.draw(self.timeout_ms / 2, self.timeout_ms * 2);
                return Proposal::Pause { for_ms };
            }
            _ => {}
        }
        let mut requests = vec![self.request(cx)];
        if self.step == Step::Setup {
            requests.push(ops::create(DATA, "", CreateMode::Persistent));
        }
        Proposal::Requests(requests)
    }

    fn on_reply(&mut self, log: &mut Sections, cx: &Cx, request: &Request, got: &Got) {
        match (self.step.clone(), got) {
            (Step::Setup, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _)) => {
                if request.path() != Some(LATCH) {
                    self.setup_done = true;
                    self.step = Step::Create;
                }
            }
            (Step::Create, Got::Ok(reply)) => {
                let path = ops::created_path(reply);
                self.ours = Some(path.trim_start_matches("/latch/").to_string());
                self.step = Step::Check;
            }
            (Step::Create, Got::Unknown) => self.step = Step::Check,
            (Step::Create, Got::Err(ErrorCode::NoNode, _)) => self.step = Step::Setup,
            (Step::Check | Step::Suspended, Got::Ok(reply)) => {
                self.on_listing(cx, ops::children_of(reply))
            }
            (Step::Watch(lower), Got::Ok(_)) => {
                self.step = Step::Wait(lower);
                self.pace.after(cx, 1000, 2000);
            }
            (Step::Watch(_), Got::Err(ErrorCode::NoNode, _)) => self.step = Step::Check,
            (Step::Lead(left), _) => self.on_lead_reply(log, cx, left, got),
            (Step::Resign, Got::Ok(_) | Got::Err(..)) => {
                self.ours = None;
                self.term = None;
                self.step = Step::Idle;
                self.pace.after(cx, 100, 500);
            }
            (Step::Resign, Got::Unknown) => {}
            (Step::Clean(_), _) => self.step = Step::Check,
            // The setup's second create may still be in flight: set up again later.
            (Step::Setup, _) => self.pace.after(cx, 10, 50),
            (_, _) => {
                self.step = Step::Check;
                self.pace.after(cx, 10, 50);
            }
        }
    }

    fn on_watch(&mut self, _log: &mut Sections, cx: &Cx, event: &WatchNews) {
        let Step::Wait(lower) = &self.step else {
            return;
        };
        if event.path == full(lower) && event.event_type == EventType::NodeDeleted {
            self.step = Step::Check;
            self.pace.now(cx);
        }
    }

    fn on_session(&mut self, _log: &mut Sections, cx: &Cx, news: &SessionNews) {
        match news {
            // SUSPENDED: leadership is given up until the latch knows more.
            SessionNews::Disconnected => match self.step {
                Step::Lead(left) => {
                    self.suspended_left = left;
                    self.term = None;
                    self.step = Step::Suspended;
                }
                Step::Wait(_) => self.step = Step::Check,
                _ => {}
            },
            SessionNews::Connected { timeout_ms, .. } => {
                self.timeout_ms = u64::try_from(*timeout_ms).unwrap_or(self.timeout_ms);
                // RECONNECTED: the buggy latch trusts the node it remembers and leads on.
                if !VERIFIES && self.step == Step::Suspended && self.ours.is_some() {
                    self.step = Step::Lead(self.suspended_left.max(1));
                }
                self.pace.by_now(cx);
            }
            // LOST, then a new session: the old node went with the old session. The buggy
            // latch keeps what it remembers of it.
            SessionNews::Started if !VERIFIES && self.step == Step::Suspended => {}
            SessionNews::Started => self.start_over(),
            _ => {}
        }
    }

    /// A leader resigns before its session closes.
    fn wind_down(&mut self, _log: &mut Sections, cx: &Cx) -> Proposal {
        match self.step {
            Step::Lead(_) | Step::Resign if self.ours.is_some() => {
                self.step = Step::Resign;
                Proposal::one(self.request(cx))
            }
            _ => Proposal::wait(),
        }
    }

    fn done(&self, _log: &Sections, _cx: &Cx) -> bool {
        !matches!(self.step, Step::Lead(_) | Step::Resign)
    }
}
