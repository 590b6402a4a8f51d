//! Faults aimed at protocol steps (`Fault::Aimed`): armed by the fault plan, fired by the
//! effect interpreter when the server reaches the step, carried out by the server's node.

use std::collections::BTreeMap;

use zksim_core::zab::ServerId;
use zksim_scenarios::{AimAction, AimPoint};

/// One armed aim: what to do to the server, and at which step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aim {
    pub action: AimAction,
    pub at: AimPoint,
    pub message: String,
}

/// The aims armed per server (one each; a new one replaces the old), the one armed at
/// whichever server gets there first, and those that fired and wait for the server's node
/// to carry them out.
#[derive(Debug, Default)]
pub struct Aims {
    armed: BTreeMap<ServerId, Aim>,
    any: Option<Aim>,
    fired: BTreeMap<ServerId, Aim>,
}

impl Aims {
    /// Arm `aim` at `server`, or at the first server to reach its step.
    pub fn arm(&mut self, server: Option<ServerId>, aim: Aim) {
        match server {
            Some(s) => {
                self.armed.insert(s, aim);
            }
            None => self.any = Some(aim),
        }
    }

    /// The server was restarted or resumed: its aim, fired or not, is over.
    pub fn disarm(&mut self, server: ServerId) {
        self.armed.remove(&server);
        self.fired.remove(&server);
    }

    /// Every server was restarted or resumed: the aim at any server is over.
    pub fn disarm_any(&mut self) {
        self.any = None;
    }

    /// `server` reaches `at` with a `message`: fire its aim if this is the step it waits
    /// for. True when the server is to stop at once (a crash): nothing after this step
    /// may happen.
    pub fn reached(&mut self, server: ServerId, at: AimPoint, message: &str) -> bool {
        let hits = |a: &Aim| a.at == at && a.message == message;
        let aim = if self.armed.get(&server).is_some_and(hits) {
            self.armed.remove(&server)
        } else if self.any.as_ref().is_some_and(hits) {
            self.any.take()
        } else {
            None
        };
        let Some(aim) = aim else {
            return false;
        };
        let crash = aim.action == AimAction::Crash;
        self.fired.insert(server, aim);
        crash
    }

    /// Whether the server's aim fired with a crash (it does nothing more).
    pub fn crashed(&self, server: ServerId) -> bool {
        self.fired
            .get(&server)
            .is_some_and(|a| a.action == AimAction::Crash)
    }

    /// The server's fired aim, for its node to carry out.
    pub fn take_fired(&mut self, server: ServerId) -> Option<Aim> {
        self.fired.remove(&server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aim_fires_once_at_its_step_and_only_a_crash_stops_the_server() {
        let mut aims = Aims::default();
        let aim = |action, at, message: &str| Aim {
            action,
            at,
            message: message.to_string(),
        };
        aims.arm(Some(2), aim(AimAction::Crash, AimPoint::Held, "ACK"));
        assert!(!aims.reached(2, AimPoint::Sent, "ACK"), "another step");
        assert!(!aims.reached(1, AimPoint::Held, "ACK"), "another server");
        assert!(
            !aims.reached(2, AimPoint::Held, "ACKEPOCH"),
            "another message"
        );
        assert!(aims.reached(2, AimPoint::Held, "ACK"));
        assert!(aims.crashed(2));
        assert!(!aims.reached(2, AimPoint::Held, "ACK"), "it fired once");
        assert_eq!(aims.take_fired(2).map(|a| a.action), Some(AimAction::Crash));
        assert!(!aims.crashed(2));
        aims.arm(Some(3), aim(AimAction::Pause, AimPoint::Sent, "NEWLEADER"));
        assert!(
            !aims.reached(3, AimPoint::Sent, "NEWLEADER"),
            "a pause lets the step finish"
        );
        assert_eq!(aims.take_fired(3).map(|a| a.action), Some(AimAction::Pause));
        aims.arm(Some(3), aim(AimAction::Crash, AimPoint::Sent, "PROPOSAL"));
        aims.disarm(3);
        assert!(
            !aims.reached(3, AimPoint::Sent, "PROPOSAL"),
            "disarmed by a restart"
        );
        aims.arm(None, aim(AimAction::Crash, AimPoint::Sent, "NEWLEADER"));
        assert!(
            aims.reached(1, AimPoint::Sent, "NEWLEADER"),
            "any server: the first"
        );
        assert!(
            !aims.reached(2, AimPoint::Sent, "NEWLEADER"),
            "and only the first"
        );
        aims.arm(None, aim(AimAction::Crash, AimPoint::Sent, "NEWLEADER"));
        aims.disarm_any();
        assert!(
            !aims.reached(2, AimPoint::Sent, "NEWLEADER"),
            "disarmed by restart_all"
        );
    }
}
