//! The session's request queue: xids, requests waiting for a session to be established
//! (`outgoingQueue`) and written but not answered (`pendingQueue`), replies matched in
//! order, the queue primed after a connect, and every request failed when it is lost.

use crate::proto::ClientMessage;
use crate::request::{Reply, Request};
use crate::stat::Zxid;
use crate::watch::EventType;

use super::{ClientSession, ClientState, SET_WATCHES_XID};
use crate::client::effect::{ClientEffect, Outcome, SessionEvent};
use crate::client::watches::WatchRegistration;

/// A message written and not yet answered (ZooKeeper's `pendingQueue`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct InFlight {
    xid: i32,
    kind: InFlightKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum InFlightKind {
    Request(WatchRegistration),
    CloseSession,
    SetWatches,
}

/// A request waiting for a session to be established (ZooKeeper's `outgoingQueue`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Queued {
    Request { xid: i32, request: Request },
    CloseSession { xid: i32 },
}

impl Queued {
    fn xid(&self) -> i32 {
        match self {
            Queued::Request { xid, .. } | Queued::CloseSession { xid } => *xid,
        }
    }
}

impl ClientSession {
    /// Submits a request and returns its xid. Sent at once when a session is established,
    /// else queued until one is; completed at once when the session is closing or over.
    pub fn submit(&mut self, now_ms: i64, request: Request, out: &mut Vec<ClientEffect>) -> i32 {
        let xid = self.take_xid();
        if let Some(outcome) = self.refusal() {
            out.push(ClientEffect::Completed { xid, outcome });
        } else if self.state == ClientState::Connected {
            self.send_request(now_ms, xid, request, out);
        } else {
            self.queued.push_back(Queued::Request { xid, request });
        }
        xid
    }

    /// `ZooKeeper.addAuthInfo`: remembered for every later connection, and sent now when a
    /// session is established. Ignored once the session is over, as ZooKeeper does.
    pub fn add_auth(
        &mut self,
        now_ms: i64,
        scheme: String,
        auth: Vec<u8>,
        out: &mut Vec<ClientEffect>,
    ) {
        if self.state.is_terminal() {
            return;
        }
        self.auths.push((scheme.clone(), auth.clone()));
        if self.state == ClientState::Connected && !self.closing {
            self.send(now_ms, ClientMessage::Auth { scheme, auth }, out);
        }
    }

    /// `ZooKeeper.close`: sends closeSession behind every request submitted before, and
    /// returns its xid. Its reply completes it, emits `Closed` and ends the session. When the
    /// connection is lost first the session still ends (ZooKeeper does not reconnect while
    /// closing); with no connection at all it ends at once.
    pub fn close(&mut self, now_ms: i64, out: &mut Vec<ClientEffect>) -> i32 {
        let xid = self.take_xid();
        if let Some(outcome) = self.refusal() {
            out.push(ClientEffect::Completed { xid, outcome });
            return xid;
        }
        self.closing = true;
        match self.state {
            ClientState::Connected => self.send_close_session(now_ms, xid, out),
            ClientState::Connecting | ClientState::Handshaking => {
                self.queued.push_back(Queued::CloseSession { xid });
            }
            ClientState::NotConnected => {
                // SendThread.run: "don't re-establish connection if we are closing".
                self.queued.push_back(Queued::CloseSession { xid });
                self.lose_connection(now_ms, out);
            }
            ClientState::Closed | ClientState::Expired | ClientState::AuthFailed => {
                unreachable!("refusal() covers terminal states")
            }
        }
        xid
    }

    /// `ClientCnxn.getXid`: increasing from 1, skipping from `Integer.MAX_VALUE` back to 1
    /// so no request ever uses a negative (reserved) xid.
    pub(super) fn take_xid(&mut self) -> i32 {
        if self.next_xid == i32::MAX {
            self.next_xid = 1;
        }
        let xid = self.next_xid;
        self.next_xid += 1;
        assert!(xid > 0);
        xid
    }

    /// The outcome a request gets without being sent, if it cannot be sent ever.
    fn refusal(&self) -> Option<Outcome> {
        match self.state {
            ClientState::Closed => Some(Outcome::Closed),
            ClientState::Expired => Some(Outcome::SessionExpired),
            ClientState::AuthFailed => Some(Outcome::AuthFailed),
            _ if self.closing => Some(Outcome::Closed),
            _ => None,
        }
    }

    fn send_request(
        &mut self,
        now_ms: i64,
        xid: i32,
        request: Request,
        out: &mut Vec<ClientEffect>,
    ) {
        let registration = WatchRegistration::of(&request);
        self.in_flight.push_back(InFlight {
            xid,
            kind: InFlightKind::Request(registration),
        });
        self.send(now_ms, ClientMessage::Request { xid, request }, out);
    }

    fn send_close_session(&mut self, now_ms: i64, xid: i32, out: &mut Vec<ClientEffect>) {
        assert!(self.closing);
        self.in_flight.push_back(InFlight {
            xid,
            kind: InFlightKind::CloseSession,
        });
        self.send(now_ms, ClientMessage::CloseSession { xid }, out);
    }

    /// `SendThread.primeConnection`'s queue, sent once the session is established: the auths
    /// (pushed to the queue's front one by one, so the last added goes first), then
    /// SetWatches when any watch is held, then the requests that waited, in xid order.
    pub(super) fn prime(&mut self, now_ms: i64, out: &mut Vec<ClientEffect>) {
        for (scheme, auth) in self.auths.clone().into_iter().rev() {
            self.send(now_ms, ClientMessage::Auth { scheme, auth }, out);
        }
        if !self.watches.is_empty() {
            let request = self.watches.set_watches(self.last_zxid_seen);
            self.in_flight.push_back(InFlight {
                xid: SET_WATCHES_XID,
                kind: InFlightKind::SetWatches,
            });
            let xid = SET_WATCHES_XID;
            self.send(now_ms, ClientMessage::Request { xid, request }, out);
        }
        while let Some(queued) = self.queued.pop_front() {
            match queued {
                Queued::Request { xid, request } => self.send_request(now_ms, xid, request, out),
                Queued::CloseSession { xid } => self.send_close_session(now_ms, xid, out),
            }
        }
        assert!(self.queued.is_empty());
    }

    /// `SendThread.readResponse`: replies come in the order requests were sent.
    pub(super) fn on_reply(
        &mut self,
        now_ms: i64,
        xid: i32,
        reply: Reply,
        out: &mut Vec<ClientEffect>,
    ) {
        let Some(oldest) = self.in_flight.front() else {
            let what = format!("nothing in flight, but got a reply for xid {xid}");
            return self.protocol_violation(now_ms, what, out);
        };
        if oldest.xid != xid {
            let what = format!(
                "xid out of order: got a reply for xid {xid}, expected xid {}",
                oldest.xid
            );
            return self.protocol_violation(now_ms, what, out);
        }
        let answered = self
            .in_flight
            .pop_front()
            .expect("the oldest was just read");
        self.observe_zxid(reply.zxid);
        match answered.kind {
            InFlightKind::SetWatches => {}
            InFlightKind::Request(registration) => {
                self.watches.on_reply(&registration, reply.err);
                let outcome = Outcome::Reply(reply);
                out.push(ClientEffect::Completed { xid, outcome });
            }
            InFlightKind::CloseSession => self.on_close_reply(xid, reply, out),
        }
    }

    /// `ReplyHeader.zxid > 0` moves the last zxid seen; it never goes back.
    fn observe_zxid(&mut self, zxid: Zxid) {
        let before = self.last_zxid_seen;
        if zxid > 0 {
            self.last_zxid_seen = self.last_zxid_seen.max(zxid);
        }
        assert!(self.last_zxid_seen >= before);
    }

    /// `ZooKeeper.close`: once closeSession is answered the client shuts down.
    fn on_close_reply(&mut self, xid: i32, reply: Reply, out: &mut Vec<ClientEffect>) {
        assert!(self.closing);
        // Nothing is sent after closeSession: later submits are refused.
        assert!(self.in_flight.is_empty());
        assert!(self.queued.is_empty());
        out.push(ClientEffect::Completed {
            xid,
            outcome: Outcome::Reply(reply),
        });
        self.state = ClientState::Closed;
        out.push(ClientEffect::Session(SessionEvent::Closed));
        out.push(ClientEffect::Close);
    }

    pub(super) fn on_watch(
        &mut self,
        event_type: EventType,
        path: String,
        zxid: Zxid,
        out: &mut Vec<ClientEffect>,
    ) {
        // A notification's header zxid is -1 on ZooKeeper's wire, so it does not move
        // last_zxid_seen here either.
        self.watches.on_event(event_type, &path);
        out.push(ClientEffect::Watch {
            event_type,
            path,
            zxid,
        });
    }

    /// `ClientCnxn.cleanup`: the written requests, then the waiting ones, in xid order.
    /// SetWatches is internal and reported to no one.
    pub(super) fn fail_all(&mut self, outcome: Outcome, out: &mut Vec<ClientEffect>) {
        for written in self.in_flight.drain(..) {
            if written.kind != InFlightKind::SetWatches {
                let outcome = outcome.clone();
                out.push(ClientEffect::Completed {
                    xid: written.xid,
                    outcome,
                });
            }
        }
        for waiting in self.queued.drain(..) {
            let outcome = outcome.clone();
            out.push(ClientEffect::Completed {
                xid: waiting.xid(),
                outcome,
            });
        }
        assert!(self.in_flight.is_empty());
        assert!(self.queued.is_empty());
    }
}
