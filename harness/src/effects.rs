//! The effect interpreter: how a server's effects are carried out, the same for every
//! driver. A driver (the madsim simulator, the deterministic network of core's protocol
//! tests) implements [`Host`]: how a message travels, when an fsync completes, where a
//! client message goes. The interpreter keeps the rules every driver must share:
//!
//! - a persist goes to the server's disk cache at once and is durable only at its fsync;
//! - a message sent after a persist (`SendAfterPersist`) leaves only once the fsync of
//!   that token (or a later one) completed, and is lost with the server if it crashes first
//!   (ZooKeeper's SyncRequestProcessor hands a learner's ACK to the SendAckRequestProcessor
//!   only after `flush`; Zab.tla's follower ACKs a proposal after logging it);
//! - what a replica applies, and each snapshot it installs, goes to the ground truth.

use std::sync::Arc;

use zksim_checker::history::Micros;
use zksim_core::log::{DurableRecord, File};
use zksim_core::proto::{ConnId, ServerMessage};
use zksim_core::server::Effect;
use zksim_core::zab::messages::{PeerMessage, Proposal};
use zksim_core::zab::{PeerState, ServerId};

use crate::disk::ServerDisk;
use crate::truth::GroundTruth;

/// What a driver provides to carry out a server's effects.
pub trait Host {
    /// A message from `from` to `to` enters the network.
    fn send(&mut self, from: ServerId, to: ServerId, msg: PeerMessage);
    /// A persist of `written` encoded bytes went to `disk`'s cache: the host decides when
    /// its fsync completes and then calls [`ServerIo::persisted`].
    fn persist(
        &mut self,
        server: ServerId,
        token: u64,
        records: &[DurableRecord],
        reset: bool,
        written: u64,
        disk: &ServerDisk,
    );
    /// An fsync made the cache up to a token durable; `dropped` bytes of old snapshots were
    /// freed.
    fn synced(&mut self, _server: ServerId, _dropped: u64, _disk: &ServerDisk) {}
    /// The same fsync made these files' writes durable (before any held message leaves).
    fn durable(&mut self, _server: ServerId, _files: &[File]) {}
    /// An fsync of writes to these files is about to complete.
    fn syncing(&mut self, _server: ServerId, _files: &[File]) {}
    fn to_client(&mut self, conn: ConnId, msg: ServerMessage);
    /// The server closes a client connection.
    fn close_conn(&mut self, conn: ConnId);
    /// `from` closes its connection to `peer`.
    fn disconnect(&mut self, from: ServerId, peer: ServerId);
    /// The server's role changed; `serving` says whether it is established in it.
    fn role(
        &mut self,
        server: ServerId,
        state: PeerState,
        epoch: u32,
        leader: Option<ServerId>,
        serving: bool,
    );
    /// An invariant a bug knob breaks on purpose was breached.
    fn breach(&mut self, server: ServerId, invariant: &'static str, detail: String);
    /// Called before the ground truth records an applied txn (for a trace line).
    fn on_apply(&mut self, _server: ServerId, _p: &Arc<Proposal>) {}
    /// A message held for a persist is about to leave, its fsync done.
    fn releasing(&mut self, _server: ServerId, _msg: &PeerMessage) {}
    /// The server stopped (a crash aimed at the step just carried out): the interpreter
    /// carries out nothing more of this batch.
    fn halted(&self) -> bool {
        false
    }
    fn truth(&mut self) -> &mut GroundTruth;
    fn now_us(&self) -> Micros;
}

/// One server's side of the interpreter: the messages waiting for a persist token.
#[derive(Clone, Debug)]
pub struct ServerIo {
    pub id: ServerId,
    /// Messages waiting for a token to be durable (SendAfterPersist), in effect order.
    held: Vec<(u64, ServerId, PeerMessage)>,
}

impl ServerIo {
    pub fn new(id: ServerId) -> ServerIo {
        ServerIo {
            id,
            held: Vec::new(),
        }
    }

    /// Carry out `effects` in order (draining them); `serving` is whether the server is
    /// established in its role (`Server::is_serving`).
    pub fn carry_out(
        &mut self,
        serving: bool,
        effects: &mut Vec<Effect>,
        disk: &mut ServerDisk,
        host: &mut impl Host,
    ) {
        for e in effects.drain(..) {
            if host.halted() {
                break;
            }
            match e {
                Effect::Send { to, msg } => {
                    tracing::trace!(to, kind = msg.kind(), "send");
                    host.send(self.id, to, msg)
                }
                Effect::Persist {
                    token,
                    records,
                    reset,
                } => {
                    let written = disk.write(token, &records, reset);
                    tracing::trace!(token, records = records.len(), written, reset, "persist");
                    host.persist(self.id, token, &records, reset, written, disk);
                }
                Effect::SendAfterPersist { token, to, msg } => {
                    assert!(
                        self.held.last().is_none_or(|(t, ..)| *t <= token),
                        "held messages wait for tokens in the order they were issued"
                    );
                    tracing::trace!(token, to, kind = msg.kind(), "send held for persist");
                    self.held.push((token, to, msg));
                }
                Effect::ToClient { conn, msg } => host.to_client(conn, msg),
                Effect::CloseConn { conn } => host.close_conn(conn),
                Effect::Disconnect { peer } => {
                    // What waits for a persist to go to this peer was for the connection
                    // now closed: it is lost with it, as a write to a closed socket is
                    // (QuorumPeer's learner and LearnerHandler talk over one socket each;
                    // a stale ACKEPOCH must not reach the peer's next connection and
                    // count for an epoch the learner never accepted).
                    let before = self.held.len();
                    self.held.retain(|(_, to, _)| *to != peer);
                    if self.held.len() < before {
                        tracing::debug!(
                            peer,
                            lost = before - self.held.len(),
                            "disconnect: held messages lost"
                        );
                    }
                    host.disconnect(self.id, peer)
                }
                Effect::Role {
                    state,
                    epoch,
                    leader,
                } => host.role(self.id, state, epoch, leader, serving),
                Effect::Applied(p) => {
                    host.on_apply(self.id, &p);
                    let t = host.now_us();
                    host.truth().applied(self.id, &p, t);
                }
                Effect::InstalledSnapshot { zxid, .. } => host.truth().start_segment(self.id, zxid),
                Effect::Breach { invariant, detail } => host.breach(self.id, invariant, detail),
            }
        }
    }

    /// The fsync of `token` completed: the disk's cache up to it is durable, and the
    /// messages held for it (or an earlier token) leave, in order. The driver then hands
    /// the server `on_persisted`.
    pub fn persisted(&mut self, token: u64, disk: &mut ServerDisk, host: &mut impl Host) {
        host.syncing(self.id, &disk.unsynced_files(token));
        if host.halted() {
            // Crashed as the fsync was to complete (an aimed fault): the writes are lost.
            return;
        }
        let synced = disk.sync(token);
        let (ready, held): (Vec<_>, Vec<_>) = self.held.drain(..).partition(|(t, ..)| *t <= token);
        self.held = held;
        tracing::trace!(token, released = ready.len(), "fsync done");
        host.synced(self.id, synced.dropped, disk);
        host.durable(self.id, &synced.files);
        if host.halted() {
            // Crashed right after the fsync (an aimed fault): nothing it held leaves.
            return;
        }
        for (_, to, msg) in ready {
            host.releasing(self.id, &msg);
            if host.halted() {
                break;
            }
            host.send(self.id, to, msg);
        }
    }

    /// The server crashed: what it held back is lost with it. (Its disk loses its cache
    /// through [`ServerDisk::crash`].)
    pub fn crash(&mut self) {
        if !self.held.is_empty() {
            tracing::debug!(lost = self.held.len(), "crash: held messages lost");
        }
        self.held.clear();
    }

    /// How many messages wait for a persist.
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host that records what reached it.
    #[derive(Default)]
    struct Recorder {
        sent: Vec<(ServerId, ServerId, &'static str)>,
        persists: Vec<u64>,
        truth: GroundTruth,
    }

    impl Host for Recorder {
        fn send(&mut self, from: ServerId, to: ServerId, msg: PeerMessage) {
            self.sent.push((from, to, msg.kind()));
        }
        fn persist(
            &mut self,
            _: ServerId,
            token: u64,
            _: &[DurableRecord],
            _: bool,
            _: u64,
            _: &ServerDisk,
        ) {
            self.persists.push(token);
        }
        fn to_client(&mut self, _: ConnId, _: ServerMessage) {}
        fn close_conn(&mut self, _: ConnId) {}
        fn disconnect(&mut self, _: ServerId, _: ServerId) {}
        fn role(&mut self, _: ServerId, _: PeerState, _: u32, _: Option<ServerId>, _: bool) {}
        fn breach(&mut self, _: ServerId, _: &'static str, _: String) {}
        fn truth(&mut self) -> &mut GroundTruth {
            &mut self.truth
        }
        fn now_us(&self) -> Micros {
            0
        }
    }

    fn persist(token: u64) -> Effect {
        Effect::Persist {
            token,
            records: vec![DurableRecord::AcceptedEpoch(token as u32)],
            reset: false,
        }
    }

    fn ack_after(token: u64) -> Effect {
        Effect::SendAfterPersist {
            token,
            to: 2,
            msg: PeerMessage::Ack { zxid: token as i64 },
        }
    }

    #[test]
    fn a_message_held_for_a_persist_leaves_only_once_it_is_durable() {
        let (mut io, mut disk, mut host) =
            (ServerIo::new(1), ServerDisk::default(), Recorder::default());
        let mut effects = vec![persist(1), ack_after(1), persist(2), ack_after(2)];
        io.carry_out(true, &mut effects, &mut disk, &mut host);
        assert!(effects.is_empty());
        assert_eq!(host.persists, vec![1, 2]);
        assert!(host.sent.is_empty(), "nothing leaves before its fsync");
        assert!(disk.files.is_empty(), "written, not durable");
        io.persisted(1, &mut disk, &mut host);
        assert_eq!(host.sent, vec![(1, 2, "ACK")]);
        assert_eq!(disk.recover().expect("durable").accepted_epoch, 1);
        assert_eq!(io.held(), 1);
        io.persisted(2, &mut disk, &mut host);
        assert_eq!(host.sent.len(), 2);
        assert_eq!(io.held(), 0);
    }

    #[test]
    fn a_closed_connection_loses_what_waited_for_a_persist_to_go_over_it() {
        let (mut io, mut disk, mut host) =
            (ServerIo::new(1), ServerDisk::default(), Recorder::default());
        let mut effects = vec![
            persist(1),
            ack_after(1),
            Effect::Disconnect { peer: 2 },
            persist(2),
            ack_after(2),
        ];
        io.carry_out(true, &mut effects, &mut disk, &mut host);
        assert_eq!(io.held(), 1, "the ACK for the old connection is dropped");
        io.persisted(2, &mut disk, &mut host);
        assert_eq!(host.sent, vec![(1, 2, "ACK")], "only the one held after it");
        assert_eq!(io.held(), 0);
    }

    #[test]
    fn a_crash_loses_what_waited_for_its_fsync() {
        let (mut io, mut disk, mut host) =
            (ServerIo::new(1), ServerDisk::default(), Recorder::default());
        let mut effects = vec![persist(1), ack_after(1)];
        io.carry_out(true, &mut effects, &mut disk, &mut host);
        io.crash();
        disk.crash(None);
        assert_eq!(io.held(), 0);
        assert!(disk.files.is_empty());
        // The completion of a write from before the crash finds nothing to release.
        io.persisted(1, &mut disk, &mut host);
        assert!(host.sent.is_empty());
    }

    #[test]
    fn what_a_replica_applies_and_installs_goes_to_the_ground_truth() {
        use zksim_core::txn::{Txn, TxnHeader};
        let (mut io, mut disk, mut host) =
            (ServerIo::new(3), ServerDisk::default(), Recorder::default());
        let p = Arc::new(Proposal {
            hdr: TxnHeader {
                session_id: 1,
                cxid: 1,
                zxid: 0x1_0000_0001,
                time: 0,
            },
            txn: Txn::Delete {
                path: "/a".to_string(),
            },
        });
        let mut effects = vec![
            Effect::Applied(Arc::clone(&p)),
            Effect::InstalledSnapshot {
                zxid: 0x1_0000_0007,
                digest: 0,
            },
        ];
        io.carry_out(true, &mut effects, &mut disk, &mut host);
        let segments = &host.truth.segments[&3];
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[0].zxids, vec![0x1_0000_0001]);
        assert_eq!(segments[1].base, 0x1_0000_0007);
        assert_eq!(host.truth.txns.len(), 1);
    }
}
