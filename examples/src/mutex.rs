//! [`InterProcessMutex`]: Curator's `InterProcessMutex` (its `LockInternals`), the lock of
//! ZooKeeper's recipes page. A client creates an EPHEMERAL_SEQUENTIAL node under `/mutex`
//! whose name is protected by a prefix of its own (Curator's `withProtection()`: a create
//! whose outcome is unknown is found again by that prefix); lists `/mutex`; holds the lock
//! when its node is the lowest, and otherwise reads the next lower node with a watch and
//! waits for it to go. A holder's critical section writes `/mutex-data` a few times (plain
//! writes, nothing fences them) and releases by deleting its node.
//!
//! Like a JVM client, a holder now and then stops for a long GC pause in its critical
//! section, sometimes longer than its session timeout, so that its session expires and
//! its node is deleted while it is stopped.
//!
//! Curator leaves connection trouble to the application: a `ConnectionStateListener`
//! must treat SUSPENDED (disconnected) and LOST (expired) as the lock lost. The correct
//! client ([`Mutex`]) does: disconnected, it stops its critical section, and once
//! reconnected it lists `/mutex` again before holding again. The buggy client
//! ([`MutexIgnoringConnectionState`]) registers no listener: after a pause it finishes its
//! critical section, even in the new session that follows its expired one, while another
//! client holds the lock.
//!
//! Each write of a critical section is logged in [`Sections`] with its zxid; the invariant
//! is that sections do not overlap in zxid order (see `sections`).

use zksim_sim::recipe_api::{
    CreateMode, Cx, ErrorCode, EventType, Got, Invariant, Pace, Proposal, Recipe, Request,
    Scenario, SessionId, SessionNews, WatchNews, ops,
};

use crate::sections::Sections;

const MUTEX: &str = "/mutex";
const DATA: &str = "/mutex-data";

/// Percent of critical sections in which the holder stops for a GC pause.
const PAUSE_PERCENT: u32 = 15;

/// The correct mutex: its holder honours SUSPENDED and LOST.
pub type Mutex = InterProcessMutex<true>;

/// The buggy mutex: its holder ignores connection state and finishes its critical section
/// after a pause, whatever happened to its session meanwhile.
pub type MutexIgnoringConnectionState = InterProcessMutex<false>;

/// The invariant: critical sections do not overlap in zxid order, judged at the end.
pub fn mutual_exclusion() -> Invariant<Sections> {
    Invariant::at_end("mutex-exclusive", Sections::check)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// Create /mutex and /mutex-data.
    Setup,
    /// Create this session's lock node.
    Create,
    /// List /mutex: find this client's node, see whether it is lowest.
    Check,
    /// Read the next lower node with a watch.
    Watch(String),
    /// Wait for its deletion (or a poll).
    Wait(String),
    /// In the critical section: this many writes left.
    Hold(u32),
    /// Delete this client's node.
    Release,
    /// Delete a second node of this session (left by a create with an unknown outcome).
    Clean(String),
    /// Think, then `Create`.
    Idle,
}

/// One client of the mutex; `LISTENS`: whether it honours connection state.
pub struct InterProcessMutex<const LISTENS: bool> {
    pace: Pace,
    step: Step,
    setup_done: bool,
    /// This session's lock node (its name under /mutex).
    mine: Option<String>,
    /// The current critical section in the log, once it wrote.
    section: Option<usize>,
    /// Stop for a GC pause when this many writes are left in the section.
    pause_at: Option<u32>,
    /// The session timeout the server granted.
    timeout_ms: u64,
    writes: u64,
}

/// The protected prefix of a client's lock nodes in a session.
fn prefix(client: u32, session: SessionId) -> String {
    format!("_c_{client}-{session:x}-lock-")
}

fn full(name: &str) -> String {
    format!("{MUTEX}/{name}")
}

impl<const LISTENS: bool> InterProcessMutex<LISTENS> {
    fn request(&mut self, cx: &Cx) -> Request {
        match &self.step {
            Step::Setup => ops::create(MUTEX, "", CreateMode::Persistent),
            Step::Create | Step::Idle => ops::create(
                &full(&prefix(cx.client, cx.session)),
                "",
                CreateMode::EphemeralSequential,
            ),
            Step::Check => ops::get_children(MUTEX, false),
            Step::Watch(lower) | Step::Wait(lower) => ops::get_data(&full(lower), true),
            Step::Hold(_) => {
                self.writes += 1;
                ops::set_data(DATA, &format!("c{}-{}", cx.client, self.writes), -1)
            }
            Step::Release => ops::delete(&full(self.mine.as_deref().expect("a holder")), -1),
            Step::Clean(name) => ops::delete(&full(name), -1),
        }
    }

    /// `LockInternals.internalLockLoop`: the lowest node holds; the others watch the next
    /// lower one.
    fn on_listing(&mut self, cx: &Cx, children: &[String]) {
        let own = prefix(cx.client, cx.session);
        let ours = ops::in_sequence(children.iter().filter(|c| c.starts_with(&own)));
        if self.mine.is_none() {
            self.mine = ours.first().map(|c| c.to_string());
        }
        let Some(mine) = self.mine.clone() else {
            self.step = Step::Create;
            return;
        };
        if let Some(orphan) = ours.iter().find(|c| **c != &mine) {
            self.step = Step::Clean(orphan.to_string());
            return;
        }
        if !children.contains(&mine) {
            self.mine = None;
            self.step = Step::Create;
            return;
        }
        let lower = children
            .iter()
            .filter(|c| ops::sequence(c) < ops::sequence(&mine))
            .max_by_key(|c| ops::sequence(c));
        match lower {
            None => self.acquired(),
            Some(lower) => self.step = Step::Watch(lower.clone()),
        }
    }

    fn acquired(&mut self) {
        let writes = self.pace.draw(2, 4) as u32;
        self.step = Step::Hold(writes);
        self.section = None;
        self.pause_at = self
            .pace
            .percent(PAUSE_PERCENT)
            .then(|| self.pace.draw(1, u64::from(writes) - 1) as u32);
    }

    /// The lock is no longer held (or no longer known to be): end the section.
    fn lost(&mut self) {
        self.section = None;
        self.pause_at = None;
        self.step = Step::Check;
    }

    fn on_hold_reply(&mut self, log: &mut Sections, cx: &Cx, left: u32, got: &Got) {
        match got {
            Got::Ok(reply) => {
                let section = log.write(self.section, cx.client, cx.session, reply.zxid);
                self.section = Some(section);
                self.step = if left > 1 {
                    Step::Hold(left - 1)
                } else {
                    Step::Release
                };
                self.pace.after(cx, 5, 30);
            }
            // Not sure the write happened, so not sure of the lock either: look again.
            _ if LISTENS => self.lost(),
            // The buggy holder just writes again.
            _ => self.pace.after(cx, 10, 50),
        }
    }
}

impl<const LISTENS: bool> Recipe for InterProcessMutex<LISTENS> {
    type Shared = Sections;

    const STREAM: &'static str = "example-mutex";

    fn new(scenario: &Scenario, _client: u32, pace: Pace) -> Self {
        InterProcessMutex {
            pace,
            step: Step::Setup,
            setup_done: false,
            mine: None,
            section: None,
            pause_at: None,
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
            Step::Hold(left) if self.pause_at == Some(left) => {
                // A GC pause: from half the session timeout to twice it.
                self.pause_at = None;
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

    /// A holder releases before its session closes; everyone else just stops.
    fn wind_down(&mut self, _log: &mut Sections, cx: &Cx) -> Proposal {
        match self.step {
            Step::Hold(_) | Step::Release if self.mine.is_some() => {
                self.step = Step::Release;
                Proposal::one(self.request(cx))
            }
            _ => Proposal::wait(),
        }
    }

    fn on_reply(&mut self, log: &mut Sections, cx: &Cx, request: &Request, got: &Got) {
        match (self.step.clone(), got) {
            (Step::Setup, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _)) => {
                if request.path() != Some(MUTEX) {
                    self.setup_done = true;
                    self.step = Step::Create;
                }
            }
            (Step::Create, Got::Ok(reply)) => {
                let path = ops::created_path(reply);
                self.mine = Some(path.trim_start_matches("/mutex/").to_string());
                self.step = Step::Check;
            }
            // Perhaps created: look for it by this session's prefix.
            (Step::Create, Got::Unknown) => self.step = Step::Check,
            (Step::Create, Got::Err(ErrorCode::NoNode, _)) => self.step = Step::Setup,
            (Step::Check, Got::Ok(reply)) => self.on_listing(cx, ops::children_of(reply)),
            (Step::Watch(lower), Got::Ok(_)) => {
                self.step = Step::Wait(lower);
                self.pace.after(cx, 1000, 2000);
            }
            (Step::Watch(_), Got::Err(ErrorCode::NoNode, _)) => self.step = Step::Check,
            (Step::Hold(left), _) => self.on_hold_reply(log, cx, left, got),
            (Step::Release, Got::Ok(_) | Got::Err(..)) => {
                self.mine = None;
                self.section = None;
                self.step = Step::Idle;
                self.pace.think(cx);
            }
            (Step::Release, Got::Unknown) => {}
            (Step::Clean(_), _) => self.step = Step::Check,
            (Step::Watch(_) | Step::Check | Step::Wait(_), _) => {
                self.step = Step::Check;
                self.pace.after(cx, 10, 50);
            }
            (_, _) => self.pace.after(cx, 10, 50),
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
        let holding = matches!(self.step, Step::Hold(_));
        match news {
            SessionNews::Connected { timeout_ms, .. } => {
                self.timeout_ms = u64::try_from(*timeout_ms).unwrap_or(self.timeout_ms);
                self.pace.by_now(cx);
            }
            // The buggy holder hears nothing of its connection while it holds.
            _ if holding && !LISTENS => {}
            // SUSPENDED: the lock may be lost; stop, and look again once reconnected.
            SessionNews::Disconnected if holding => self.lost(),
            SessionNews::Disconnected if matches!(self.step, Step::Wait(_)) => {
                self.step = Step::Check;
            }
            // A new session (after LOST): the old node is gone with the old session.
            SessionNews::Started => {
                self.mine = None;
                self.section = None;
                self.pause_at = None;
                self.step = if self.setup_done {
                    Step::Create
                } else {
                    Step::Setup
                };
            }
            _ => {}
        }
    }

    fn done(&self, _log: &Sections, _cx: &Cx) -> bool {
        !matches!(self.step, Step::Hold(_) | Step::Release) || self.mine.is_none()
    }
}
