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
    /// `crash_pair`: recipients to crash once they have handled the message the aim fired
    /// at (recipient -> the sender, the message kind).
    recipients: BTreeMap<ServerId, (ServerId, String)>,
    /// `crash_pair` senders, stopped right after the message left (what they sent stays
    /// in flight, as a dying process's socket is flushed), until they are crashed with
    /// their recipient or restarted.
    frozen: std::collections::BTreeSet<ServerId>,
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
        self.recipients.remove(&server);
    }

    /// Every server was restarted or resumed: the aim at any server is over.
    pub fn disarm_any(&mut self) {
        self.any = None;
        self.recipients.clear();
    }

    /// `sender` sent `message` to `recipient`: if that fired a `crash_pair`, the recipient
    /// is to crash once it has handled the message.
    pub fn sent(&mut self, sender: ServerId, recipient: ServerId, message: &str) {
        let pair = self
            .fired
            .get(&sender)
            .is_some_and(|a| a.action == AimAction::CrashPair && a.message == message);
        if pair {
            self.recipients
                .insert(recipient, (sender, message.to_string()));
        }
    }

    /// A `crash_pair` sender has stopped: it waits, frozen, for its recipient.
    pub fn freeze(&mut self, sender: ServerId) {
        self.frozen.insert(sender);
    }

    /// Whether `server` was frozen by a `crash_pair` (it is no longer, once asked): a
    /// restart crashes it first.
    pub fn thaw(&mut self, server: ServerId) -> bool {
        self.frozen.remove(&server)
    }

    /// `server` has handled `message` from `from` (its effects carried out): a recipient
    /// of a `crash_pair` crashes now, and so does its frozen sender, returned for the
    /// caller to crash.
    pub fn handled(&mut self, server: ServerId, from: ServerId, message: &str) -> Option<ServerId> {
        let due = self
            .recipients
            .get(&server)
            .is_some_and(|(s, m)| *s == from && m == message);
        if !due {
            return None;
        }
        self.recipients.remove(&server);
        let aim = Aim {
            action: AimAction::Crash,
            at: AimPoint::Sent,
            message: message.to_string(),
        };
        self.fired.insert(server, aim);
        self.frozen.remove(&from).then_some(from)
    }

    /// `server` reaches `at` with a `message`: fire its aim if this is the step it waits
    /// for. True when the server is to stop at once (a crash): nothing after this step
    /// may happen.
    pub fn reached(&mut self, server: ServerId, at: AimPoint, message: &str) -> bool {
        self.fire(server, |a| a.at == at && a.message == message)
    }

    /// `server`'s fsync made `file` durable (`at: synced`). A `crash_pair` there crashes
    /// a learner with its leader, so it does not fire at `last_leader` itself.
    pub fn reached_synced(
        &mut self,
        server: ServerId,
        file: &str,
        last_leader: Option<ServerId>,
    ) -> bool {
        let leads = last_leader == Some(server);
        self.fire(server, |a| {
            a.at == AimPoint::Synced
                && a.message == file
                && !(leads && a.action == AimAction::CrashPair)
        })
    }

    fn fire(&mut self, server: ServerId, hits: impl Fn(&Aim) -> bool) -> bool {
        let aim = if self.armed.get(&server).is_some_and(&hits) {
            self.armed.remove(&server)
        } else if self.any.as_ref().is_some_and(&hits) {
            self.any.take()
        } else {
            None
        };
        let Some(aim) = aim else {
            return false;
        };
        let crash = aim.action != AimAction::Pause;
        self.fired.insert(server, aim);
        crash
    }

    /// Whether the server's aim fired with a crash (it does nothing more).
    pub fn crashed(&self, server: ServerId) -> bool {
        self.fired
            .get(&server)
            .is_some_and(|a| a.action != AimAction::Pause)
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
        // A pair: the sender at once, the recipient once it has handled that message.
        aims.arm(
            Some(1),
            aim(AimAction::CrashPair, AimPoint::Sent, "NEWLEADER_ACK"),
        );
        assert!(aims.reached(1, AimPoint::Sent, "NEWLEADER_ACK"));
        aims.sent(1, 2, "NEWLEADER_ACK");
        assert!(aims.crashed(1), "the sender stops at once");
        assert_eq!(
            aims.take_fired(1).map(|a| a.action),
            Some(AimAction::CrashPair)
        );
        aims.freeze(1);
        assert_eq!(aims.handled(2, 3, "NEWLEADER_ACK"), None);
        assert_eq!(aims.handled(2, 1, "ACK"), None);
        assert!(!aims.crashed(2), "another sender, another message");
        assert_eq!(
            aims.handled(2, 1, "NEWLEADER_ACK"),
            Some(1),
            "the sender with it"
        );
        assert!(aims.crashed(2));
        assert!(!aims.thaw(1), "crashed, no longer frozen");
        assert_eq!(aims.take_fired(2).map(|a| a.action), Some(AimAction::Crash));
        aims.arm(None, aim(AimAction::Crash, AimPoint::Sent, "NEWLEADER"));
        aims.disarm_any();
        assert!(
            !aims.reached(2, AimPoint::Sent, "NEWLEADER"),
            "disarmed by restart_all"
        );
    }

    #[test]
    fn a_pair_at_synced_fires_at_a_learner_not_at_the_leader() {
        let mut aims = Aims::default();
        let pair = Aim {
            action: AimAction::CrashPair,
            at: AimPoint::Synced,
            message: "currentEpoch".to_string(),
        };
        aims.arm(None, pair.clone());
        assert!(!aims.reached_synced(1, "log", Some(1)), "another file");
        assert!(
            !aims.reached_synced(1, "currentEpoch", Some(1)),
            "the leader's own currentEpoch"
        );
        assert!(
            !aims.reached(2, AimPoint::Sent, "currentEpoch"),
            "not a send"
        );
        assert!(aims.reached_synced(2, "currentEpoch", Some(1)));
        assert_eq!(aims.take_fired(2), Some(pair));
        // A plain crash there may hit the leader.
        aims.arm(
            None,
            Aim {
                action: AimAction::Crash,
                at: AimPoint::Synced,
                message: "acceptedEpoch".to_string(),
            },
        );
        assert!(aims.reached_synced(1, "acceptedEpoch", Some(1)));
    }
}
