//! `election`: test-and-set master election with an ephemeral znode, the ZooKeeper paper's
//! "Simple Locks" (Hunt et al., ATC 2010, §2.4): "to acquire a lock, a client tries to create
//! the designated znode with the EPHEMERAL flag. If the create succeeds, the client holds
//! the lock. Otherwise, the client can read the znode with the watch flag set to be notified
//! if the current leader dies."
//!
//! Every client tries to create /master (ephemeral, data = its client id). The winner is
//! master: it reads /master now and then and resigns by closing its session after a while.
//! The others read /master with a watch and try again when it is deleted (or after a poll).
//!
//! Its invariant, `election-one-master` (the nodes /master ever had live in disjoint zxid
//! intervals), is judged by the checker from the run's history
//! (`zksim_checker::recipes::election`).

use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_core::watch::EventType;
use zksim_scenarios::Scenario;

use super::ops::{Got, create, data_of, get_data};
use super::recipe::{Pace, Recipe};
use super::{Cx, Proposal, SessionNews, WatchNews};

const MASTER: &str = "/master";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Try to create /master.
    Create,
    /// Read /master with a watch (after losing the race, or to re-check after a loss of
    /// connection or an unknown create).
    Check,
    /// Wait for the deletion of the master seen (or a poll).
    Wait,
    /// Master until `hold_until_ms`, reading its node now and then.
    Hold,
}

pub struct ElectionAgent {
    pace: Pace,
    step: Step,
    hold_until_ms: i64,
}

impl ElectionAgent {
    fn become_master(&mut self, cx: &Cx) {
        self.step = Step::Hold;
        self.hold_until_ms = cx.now_ms + self.pace.draw_ms(300, 1500);
        self.pace.after(cx, 50, 200);
    }

    fn on_create(&mut self, cx: &Cx, g: &Got) {
        match g {
            Got::Ok(_) => self.become_master(cx),
            Got::Err(ErrorCode::NodeExists, _) => self.step = Step::Check,
            // The create may have been applied: find out who owns /master.
            Got::Unknown => self.step = Step::Check,
            Got::Err(..) => self.pace.after(cx, 20, 100),
        }
    }

    fn on_read(&mut self, cx: &Cx, g: &Got) {
        let reply = match g {
            Got::Ok(reply) => reply,
            Got::Err(ErrorCode::NoNode, _) => {
                self.step = Step::Create;
                return;
            }
            _ => {
                // Stop acting as master until a read says so again.
                self.step = Step::Check;
                return self.pace.after(cx, 20, 100);
            }
        };
        let (_, stat) = data_of(reply);
        if stat.ephemeral_owner == cx.session {
            if self.step != Step::Hold {
                self.become_master(cx);
            } else {
                self.pace.after(cx, 50, 200);
            }
            return;
        }
        self.step = Step::Wait;
        self.pace.after(cx, 1000, 2000);
    }
}

impl Recipe for ElectionAgent {
    type Shared = ();

    const STREAM: &'static str = "recipe-election";

    fn new(_scenario: &Scenario, _client: u32, pace: Pace) -> ElectionAgent {
        ElectionAgent {
            pace,
            step: Step::Create,
            hold_until_ms: 0,
        }
    }

    fn pace(&self) -> &Pace {
        &self.pace
    }

    /// Asked at the end of a master's term too (see `wake_at_ms`).
    fn next(&mut self, _shared: &mut (), cx: &Cx) -> Proposal {
        if self.step == Step::Hold && cx.now_ms >= self.hold_until_ms {
            // Resign: closing the session deletes /master.
            let restart_after_ms = self.pace.draw_ms(50, 300) as u64;
            return Proposal::CloseSession { restart_after_ms };
        }
        if cx.now_ms < self.pace.next_at_ms() {
            return Proposal::wait();
        }
        match self.step {
            Step::Create => Proposal::one(create(
                MASTER,
                &cx.client.to_string(),
                CreateMode::Ephemeral,
            )),
            Step::Check => Proposal::one(get_data(MASTER, true)),
            Step::Hold => Proposal::one(get_data(MASTER, false)),
            // The poll: the watch may have been lost with a session.
            Step::Wait => {
                self.step = Step::Check;
                Proposal::one(get_data(MASTER, true))
            }
        }
    }

    fn on_reply(&mut self, _shared: &mut (), cx: &Cx, request: &Request, g: &Got) {
        match request {
            Request::Create { .. } => self.on_create(cx, g),
            _ => self.on_read(cx, g),
        }
    }

    fn on_watch(&mut self, _shared: &mut (), cx: &Cx, event: &WatchNews) {
        if event.path != MASTER {
            return;
        }
        // Any change (a re-registered watch may report a new master as a data change):
        // try to create after a deletion, read again otherwise.
        if self.step == Step::Wait {
            let deleted = event.event_type == EventType::NodeDeleted;
            self.step = if deleted { Step::Create } else { Step::Check };
            self.pace.now(cx);
        }
    }

    fn on_session(&mut self, _shared: &mut (), _cx: &Cx, news: &SessionNews) {
        match news {
            SessionNews::Started => self.step = Step::Create,
            // A master that loses its connection stops acting as one until it re-checks.
            SessionNews::Disconnected if self.step == Step::Hold => self.step = Step::Check,
            SessionNews::Connected { .. } if self.step == Step::Wait => self.step = Step::Check,
            _ => {}
        }
    }

    /// A master's term ends at `hold_until_ms`, whatever its pace.
    fn wake_at_ms(&self) -> i64 {
        match self.step {
            Step::Hold => self.pace.next_at_ms().min(self.hold_until_ms),
            _ => self.pace.next_at_ms(),
        }
    }
}
