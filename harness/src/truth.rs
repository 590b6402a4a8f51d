//! The ground truth of a run: what every replica applied, in order, and every distinct txn
//! applied at each zxid. Drivers record it from the servers' `Applied` and
//! `InstalledSnapshot` effects and from restarts; it becomes the history's `txn` and
//! `replica` events, and Zab's agreement over it is judged by the checker's replica
//! agreement property (`zksim_checker::props::replicas`), the one place that check lives.

use std::collections::BTreeMap;
use std::sync::Arc;

use zksim_checker::History;
use zksim_checker::history::{Event, Micros, Segment};
use zksim_checker::props::{Verdict, replicas};
use zksim_core::stat::Zxid;
use zksim_core::zab::messages::Proposal;
use zksim_core::zab::{PeerState, ServerId};

/// Whether a history records a role change: a server leads epoch `e` once it is
/// established in it (a quorum acknowledged NEWLEADER) and follows once synced; a
/// candidate still in discovery or synchronization is recorded only when it goes back to
/// looking.
pub fn history_records_role(state: PeerState, serving: bool) -> bool {
    serving
        || !matches!(
            state,
            PeerState::Leading | PeerState::Following | PeerState::Observing
        )
}

/// What the replicas applied: per server its segments, and every distinct txn.
#[derive(Clone, Debug, Default)]
pub struct GroundTruth {
    pub segments: BTreeMap<ServerId, Vec<Segment>>,
    pub txns: BTreeMap<Zxid, Vec<Arc<Proposal>>>,
    /// When some replica first applied each zxid (simulated microseconds).
    pub first_applied: BTreeMap<Zxid, Micros>,
}

impl GroundTruth {
    /// The server restarted, or installed a snapshot, with its tree at `base`: what it
    /// applies next follows that state.
    pub fn start_segment(&mut self, server: ServerId, base: Zxid) {
        self.segments.entry(server).or_default().push(Segment {
            base,
            zxids: Vec::new(),
        });
    }

    /// The server applied `p` at time `t`.
    pub fn applied(&mut self, server: ServerId, p: &Arc<Proposal>, t: Micros) {
        self.first_applied.entry(p.hdr.zxid).or_insert(t);
        let segs = self.segments.entry(server).or_default();
        if segs.is_empty() {
            segs.push(Segment {
                base: 0,
                zxids: Vec::new(),
            });
        }
        segs.last_mut().expect("a segment").zxids.push(p.hdr.zxid);
        let known = self.txns.entry(p.hdr.zxid).or_default();
        if !known.iter().any(|k| **k == **p) {
            known.push(Arc::clone(p));
        }
    }

    /// The zxids `server` applied since its last restart or snapshot install.
    pub fn current_segment(&self, server: ServerId) -> &[Zxid] {
        self.segments
            .get(&server)
            .and_then(|s| s.last())
            .map_or(&[], |s| s.zxids.as_slice())
    }

    /// The history's `txn` events then its `replica` events, in zxid and server order.
    pub fn events(&self) -> Vec<Event> {
        let mut events = Vec::new();
        for (zxid, proposals) in &self.txns {
            for p in proposals {
                events.push(Event::Txn {
                    zxid: *zxid,
                    session: p.hdr.session_id,
                    cxid: p.hdr.cxid,
                    time: p.hdr.time,
                    txn: p.txn.clone(),
                    applied_t: self.first_applied.get(zxid).copied(),
                });
            }
        }
        for (server, segments) in &self.segments {
            events.push(Event::Replica {
                server: *server,
                segments: segments.clone(),
            });
        }
        events
    }

    /// Zab's agreement over what the replicas applied so far, judged by the checker's
    /// replica agreement property, with the servers' roles (time, server, state, epoch,
    /// leader) as established leaders and synced followers: every violation it finds, one
    /// sentence each.
    pub fn agreement(
        &self,
        servers: &[ServerId],
        observers: &[ServerId],
        roles: &[(Micros, ServerId, PeerState, u32, Option<ServerId>)],
    ) -> Result<(), Vec<String>> {
        let mut events = vec![Event::header(
            None,
            None,
            servers.to_vec(),
            observers.to_vec(),
            None,
            Vec::new(),
        )];
        events.extend(
            roles
                .iter()
                .map(|&(t, server, state, epoch, leader)| Event::Role {
                    t,
                    server,
                    state,
                    epoch,
                    leader,
                }),
        );
        events.extend(self.events());
        let history = History::new(&events).map_err(|e| vec![format!("the history: {e}")])?;
        match replicas::check(&history).verdict {
            Verdict::Holds => Ok(()),
            Verdict::Violated { findings, .. } => {
                Err(findings.into_iter().map(|f| f.sentence).collect())
            }
            Verdict::Unknown(why) => Err(vec![format!("undecided: {why}")]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zksim_core::txn::{Txn, TxnHeader};

    fn proposal(zxid: Zxid, path: &str) -> Arc<Proposal> {
        Arc::new(Proposal {
            hdr: TxnHeader {
                session_id: 1,
                cxid: 1,
                zxid,
                time: 0,
            },
            txn: Txn::Delete {
                path: path.to_string(),
            },
        })
    }

    #[test]
    fn replicas_that_agree_hold_and_a_zxid_applied_two_ways_is_refused() {
        let mut truth = GroundTruth::default();
        let a = proposal(0x1_0000_0001, "/a");
        for server in [1, 2] {
            truth.start_segment(server, 0);
            truth.applied(server, &a, 10);
        }
        assert_eq!(truth.current_segment(2), &[0x1_0000_0001]);
        assert_eq!(truth.agreement(&[1, 2, 3], &[], &[]), Ok(()));
        truth.applied(3, &proposal(0x1_0000_0001, "/b"), 20);
        let found = truth
            .agreement(&[1, 2, 3], &[], &[])
            .expect_err("a conflict");
        assert!(
            found.iter().any(|f| f.contains("two different txns")),
            "{found:?}"
        );
    }
}
