//! The model as the harness's `Host`: where a server's effects go.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use zksim_core::log::DurableRecord;
use zksim_core::proto::{ConnId, ServerMessage};
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::{PeerState, ServerId};
use zksim_harness::{GroundTruth, Host, Micros, ServerDisk};

use crate::model::index;

/// The harness's `Host` for one server's effects: messages go onto the links (none reach a
/// server that is down: its connections are gone), persists wait for a `Fsync` step.
pub(crate) struct ModelHost<'a> {
    pub links: &'a mut BTreeMap<(ServerId, ServerId), VecDeque<PeerMessage>>,
    pub truth: &'a mut GroundTruth,
    pub established: &'a mut BTreeMap<u32, BTreeSet<ServerId>>,
    pub breaches: &'a mut Vec<String>,
    pub unsynced: &'a mut VecDeque<u64>,
    pub up: Vec<bool>,
    pub disconnects: Vec<(ServerId, ServerId)>,
}

impl Host for ModelHost<'_> {
    fn send(&mut self, from: ServerId, to: ServerId, msg: PeerMessage) {
        if self.up[index(to)] {
            self.links.entry((from, to)).or_default().push_back(msg);
        }
    }

    fn persist(
        &mut self,
        _server: ServerId,
        token: u64,
        _records: &[DurableRecord],
        _reset: bool,
        _written: u64,
        _disk: &ServerDisk,
    ) {
        self.unsynced.push_back(token);
    }

    fn to_client(&mut self, _conn: ConnId, _msg: ServerMessage) {}

    fn close_conn(&mut self, _conn: ConnId) {}

    fn disconnect(&mut self, from: ServerId, peer: ServerId) {
        self.disconnects.push((from, peer));
    }

    fn role(
        &mut self,
        server: ServerId,
        state: PeerState,
        epoch: u32,
        _leader: Option<ServerId>,
        serving: bool,
    ) {
        if state == PeerState::Leading && serving {
            self.established.entry(epoch).or_default().insert(server);
        }
    }

    fn breach(&mut self, server: ServerId, invariant: &'static str, detail: String) {
        self.breaches
            .push(format!("S{server} breached {invariant}: {detail}"));
    }

    fn truth(&mut self) -> &mut GroundTruth {
        self.truth
    }

    fn now_us(&self) -> Micros {
        0
    }
}
