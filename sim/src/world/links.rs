//! The links between servers: FIFO, and broken as TCP connections are (both ends told when
//! a message is lost or a peer dies). A partition cuts links silently: what is sent waits,
//! as TCP retransmits, until the cut heals, and a close held up by a cut is heard only then.
//! Message loss and extra latency apply here too.

use zksim_core::zab::ServerId;
use zksim_core::zab::messages::PeerMessage;

use super::draws::Site;
use super::{Addr, Item, World};

/// Election notifications a link carries at once before its sender blocks (the socket's
/// buffer); see `transmit`.
const NOTIFICATION_WINDOW: usize = 8;

#[derive(Clone, Debug, Default)]
pub(super) struct Link {
    epoch: u64,
    /// The connection is gone; the next send opens a new one.
    broken: bool,
    last_at: u64,
    /// The far end closed the connection and this end has not heard yet (the close is held
    /// up by a cut): what this end sends is lost.
    pub(super) dead: bool,
    /// Messages sent, or in flight, while the link is cut: TCP retransmits them once the
    /// cut heals, in order, unless the connection is closed first.
    held: Vec<(u64, PeerMessage)>,
}

impl World {
    pub(super) fn link(&mut self, from: ServerId, to: ServerId) -> &mut Link {
        self.links.entry((from, to)).or_default()
    }

    /// Send over the FIFO link `from -> to`. On a cut link the message waits for the cut
    /// to heal; a dead peer or a lost message breaks the link instead of delivering; a
    /// connection the far end closed (this end not told yet) loses it.
    pub fn peer_send(&mut self, from: ServerId, to: ServerId, msg: PeerMessage) {
        self.stats.peer_messages += 1;
        if self.link(from, to).dead {
            return;
        }
        if self.cut.contains(&(from, to)) {
            let link = self.link(from, to);
            link.broken = false;
            let epoch = link.epoch;
            link.held.push((epoch, msg));
            return;
        }
        let lost = self.draws.lost(self.loss_per_mille);
        if !self.alive(to) || lost {
            self.break_link(from, to);
            return;
        }
        if recovering(&msg) && self.draws.buggify(Site::SyncReset) {
            let kind = Site::SyncReset.fault_kind();
            self.fault(
                kind,
                format!("S{from} -> S{to} reset carrying {}", msg.kind()),
            );
            self.break_link(from, to);
            return;
        }
        if matches!(msg, PeerMessage::Notification(_)) && self.draws.buggify(Site::DuplicateVote) {
            let kind = Site::DuplicateVote.fault_kind();
            self.fault(kind, format!("S{from} -> S{to} sends its vote twice"));
            self.transmit(from, to, msg.clone());
        }
        self.transmit(from, to, msg);
    }

    /// Put a message on the wire of the link `from -> to`, after whatever it carries.
    fn transmit(&mut self, from: ServerId, to: ServerId, msg: PeerMessage) {
        let now = self.now_ns();
        let at = now + self.draws.link_latency_ns(from, to) + self.extra_latency_ns;
        let link = self.link(from, to);
        if link.broken {
            // A new connection replaces the broken one.
            link.broken = false;
        }
        let epoch = link.epoch;
        if self.trace.on() {
            let t = self.now_us();
            self.trace
                .line(t, &format!("S{from} -> S{to} {}", describe(&msg)));
        }
        // QuorumCnxManager keeps one election message queued per peer (SEND_CAPACITY = 1),
        // and a newer vote replaces the queued one. Its send worker takes each message off
        // that queue and writes it to the socket at once, so on a working connection
        // nothing is replaced: only once the socket's buffer is full (here, a window of
        // NOTIFICATION_WINDOW notifications in flight) does the worker block, and the
        // queue of one keeps just the newest vote. An election whose votes never settle
        // (ZOOKEEPER-1419) then swaps votes forever without multiplying messages.
        if let PeerMessage::Notification(_) = &msg {
            let inbox = self
                .inboxes
                .get_mut(&Addr::Server(to))
                .expect("known inbox");
            let mut votes = 0;
            let mut last = None;
            for item in inbox.queue.values_mut() {
                if let Item::Peer {
                    from: f,
                    link: e,
                    msg: m,
                } = item
                {
                    if *f == from && *e == epoch {
                        votes += usize::from(matches!(m, PeerMessage::Notification(_)));
                        last = Some(m);
                    }
                }
            }
            // Replace only the last message on the link, so the link stays FIFO.
            if let Some(queued @ PeerMessage::Notification(_)) = last {
                if votes >= NOTIFICATION_WINDOW {
                    *queued = msg;
                    return;
                }
            }
        }
        let link = self.link(from, to);
        let at = at.max(link.last_at + 1);
        link.last_at = at;
        self.deliver(
            Addr::Server(to),
            at,
            Item::Peer {
                from,
                link: epoch,
                msg,
            },
        );
    }

    /// Whether a delivery on link `from -> to` of `epoch` is still valid.
    pub fn link_current(&self, from: ServerId, to: ServerId, epoch: u64) -> bool {
        self.links
            .get(&(from, to))
            .is_some_and(|l| l.epoch == epoch && !l.broken)
    }

    /// Tell `me` that `peer`'s connection is gone, now, or when the cut from `peer` to
    /// `me` heals (the close cannot cross it either). Until then `me`'s sends are lost.
    fn tell_closed(&mut self, me: ServerId, peer: ServerId) {
        if !self.alive(me) {
            return;
        }
        if self.cut.contains(&(peer, me)) {
            self.link(me, peer).dead = true;
            if !self.held_closes.contains(&(me, peer)) {
                self.held_closes.push((me, peer));
            }
        } else {
            let at = self.now_ns();
            self.deliver(Addr::Server(me), at, Item::PeerDown { peer });
        }
    }

    /// `me` has heard that its connection to `peer` is gone: its next send opens a new one.
    pub fn close_heard(&mut self, me: ServerId, peer: ServerId) {
        let link = self.link(me, peer);
        link.dead = false;
        link.broken = true;
    }

    /// End the connection between two servers: what is in flight or held either way is
    /// dropped, and the next send opens a new connection.
    fn end_connection(&mut self, a: ServerId, b: ServerId) {
        for key in [(a, b), (b, a)] {
            let l = self.link(key.0, key.1);
            l.epoch += 1;
            l.broken = true;
            l.held.clear();
        }
    }

    /// `me` closes its connection to `peer` (it left the role that used it); `peer` hears
    /// of it when the network lets the close through.
    pub fn disconnect(&mut self, me: ServerId, peer: ServerId) {
        tracing::debug!(target: "zksim_sim::net", from = me, to = peer, "connection closed");
        if self.trace.on() {
            let t = self.now_us();
            self.trace.line(t, &format!("S{me} closes S{peer}"));
        }
        self.end_connection(me, peer);
        self.tell_closed(peer, me);
    }

    /// Break the connection between two servers: both directions, both ends told.
    pub fn break_link(&mut self, a: ServerId, b: ServerId) {
        let already = self.links.get(&(a, b)).is_some_and(|l| l.broken)
            && self.links.get(&(b, a)).is_some_and(|l| l.broken);
        if already {
            return;
        }
        self.stats.link_breaks += 1;
        self.end_connection(a, b);
        // Both ends hear of the break now (or once a cut lets it through), before anything
        // a new connection could carry (every message takes some latency), so no end ever
        // sees a gap in one stream.
        self.tell_closed(a, b);
        self.tell_closed(b, a);
    }

    /// Apply a partition: cut every listed directed pair. Nobody is told; what is in
    /// flight on a cut link is held with what is sent later, until the cut heals.
    pub fn cut_links(&mut self, pairs: &[(ServerId, ServerId)]) {
        for (a, b) in pairs {
            if a == b || !self.cut.insert((*a, *b)) {
                continue;
            }
            let Some(inbox) = self.inboxes.get_mut(&Addr::Server(*b)) else {
                continue;
            };
            let in_flight: Vec<(u64, u64)> = inbox
                .queue
                .iter()
                .filter(|(_, item)| matches!(item, Item::Peer { from, .. } if from == a))
                .map(|(k, _)| *k)
                .collect();
            let mut moved = Vec::new();
            for k in in_flight {
                if let Some(Item::Peer { link, msg, .. }) = inbox.queue.remove(&k) {
                    moved.push((link, msg));
                }
            }
            let link = self.link(*a, *b);
            moved.append(&mut link.held);
            link.held = moved;
        }
    }

    /// Every cut heals: held messages go out in order, held closes are heard.
    pub fn heal_network(&mut self) {
        self.cut.clear();
        self.loss_per_mille = 0;
        self.extra_latency_ns = 0;
        let keys: Vec<(ServerId, ServerId)> = self
            .links
            .iter()
            .filter(|(_, l)| !l.held.is_empty())
            .map(|(k, _)| *k)
            .collect();
        for (from, to) in keys {
            let held = std::mem::take(&mut self.link(from, to).held);
            if !self.alive(to) {
                self.break_link(from, to);
                continue;
            }
            for (epoch, msg) in held {
                if self.link(from, to).epoch == epoch {
                    self.transmit(from, to, msg);
                }
            }
        }
        for (me, peer) in std::mem::take(&mut self.held_closes) {
            if self.alive(me) {
                let at = self.now_ns();
                self.deliver(Addr::Server(me), at, Item::PeerDown { peer });
            }
        }
    }

    pub fn set_loss(&mut self, per_mille: u32) {
        self.loss_per_mille = per_mille;
    }

    pub fn set_extra_latency_ms(&mut self, ms: u64) {
        self.extra_latency_ns = ms * 1_000_000;
    }
}

/// A compact description of a peer message for the trace.
pub fn describe(msg: &PeerMessage) -> String {
    match msg {
        PeerMessage::Notification(n) => format!(
            "NOTIFICATION leader S{} zxid {:#x} round {} {}",
            n.leader,
            n.zxid,
            n.election_epoch,
            n.state.name()
        ),
        PeerMessage::Propose(p) | PeerMessage::Inform(p) => {
            format!("{} {:#x}", msg.kind(), p.hdr.zxid)
        }
        PeerMessage::Ack { zxid }
        | PeerMessage::Commit { zxid }
        | PeerMessage::Diff { zxid }
        | PeerMessage::Trunc { zxid }
        | PeerMessage::NewLeader { zxid } => format!("{} {zxid:#x}", msg.kind()),
        PeerMessage::Snap { snapshot } => format!("SNAP {:#x}", snapshot.zxid),
        PeerMessage::LeaderInfo { new_epoch } => format!("LEADERINFO {new_epoch}"),
        PeerMessage::Ping { round, .. } => format!("PING {round}"),
        PeerMessage::Request {
            session_id, cxid, ..
        } => format!("REQUEST {session_id:#x}/{cxid}"),
        _ => msg.kind().to_string(),
    }
}

/// Whether a message belongs to Zab's recovery (discovery and synchronization, the
/// NEWLEADER ACK included), where a reset connection sends the learner back to election.
fn recovering(msg: &PeerMessage) -> bool {
    match msg {
        PeerMessage::Ack { zxid } => zksim_core::zab::counter_of(*zxid) == 0,
        m => matches!(m.phase(), "discovery" | "sync"),
    }
}
