//! The in-memory ensemble behind `generate` (see the module above).

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use zksim_core::acl::Id;
use zksim_core::error::ErrorCode;
use zksim_core::prep::{Prep, PrepConfig};
use zksim_core::read;
use zksim_core::request::{Reply, Request, Response};
use zksim_core::standalone::CLIENT_IP;
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::tree::DataTree;
use zksim_core::txn::{Txn, TxnHeader};
use zksim_core::watch::{WatchEvent, WatcherMode};
use zksim_core::zab::PeerState;

use super::GenConfig;
use super::workload::{QUEUE, Workload};
use crate::history::{Event, Outcome, SET_WATCHES_XID, Segment, SessionEvent};

struct Committed {
    hdr: TxnHeader,
    txn: Txn,
    err: ErrorCode,
    response: Response,
}

struct Replica {
    tree: DataTree,
    applied: usize,
    segments: Vec<Segment>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Sync,
}

struct Pending {
    xid: i32,
    request: Request,
    kind: Kind,
    /// The committed txn of a write.
    txn: Option<usize>,
    /// For a sync: the log length the server must reach.
    target: Option<usize>,
}

enum Forward {
    Request { xid: i32, request: Request },
    Close { xid: i32 },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// No session: the next step may connect.
    Idle,
    /// The createSession txn is `txn`; connected once the server applies it.
    Connecting {
        txn: usize,
    },
    Active,
    /// The closeSession was sent.
    Closing,
}

struct Client {
    session: SessionId,
    /// The zxid of the session's createSession txn.
    created: Zxid,
    state: State,
    server: usize,
    next_xid: i32,
    queue: VecDeque<Pending>,
    to_leader: VecDeque<(SessionId, Forward)>,
    last_zxid: Zxid,
    /// The xid of the closeSession sent, until it is answered.
    close_xid: Option<i32>,
}

struct Ensemble {
    rng: ChaCha8Rng,
    cfg: GenConfig,
    workload: Workload,
    now: u64,
    epoch: u32,
    counter: u32,
    leader_tree: DataTree,
    prep: Prep,
    log: Vec<Committed>,
    replicas: Vec<Replica>,
    clients: Vec<Client>,
    next_session: SessionId,
    events: Vec<Event>,
    invoked: usize,
    first_request: Option<Request>,
}

fn ids() -> Vec<Id> {
    vec![Id::new("ip", CLIENT_IP)]
}

/// A valid history of `config.ops` client operations, a pure function of the seed.
pub fn generate(seed: u64, config: &GenConfig) -> Vec<Event> {
    assert!(config.clients > 0, "at least one client");
    assert!(config.servers > 0, "at least one server");
    let mut e = Ensemble::new(seed, *config);
    e.setup();
    while e.invoked < e.cfg.ops {
        e.now += e.rng.gen_range(1..40);
        e.step(true);
    }
    let mut guard = 0;
    while e.busy() {
        e.now += e.rng.gen_range(1..40);
        e.step(false);
        guard += 1;
        assert!(guard < 100_000_000, "the generator does not quiesce");
    }
    e.finish(seed)
}

impl Ensemble {
    fn new(seed: u64, cfg: GenConfig) -> Ensemble {
        let servers = cfg.servers as usize;
        let replicas = (0..servers)
            .map(|_| Replica {
                tree: DataTree::new(),
                applied: 0,
                segments: vec![Segment {
                    base: 0,
                    zxids: Vec::new(),
                }],
            })
            .collect();
        let clients = (0..cfg.clients)
            .map(|c| Client {
                session: 0,
                created: 0,
                state: State::Idle,
                server: c as usize % servers,
                next_xid: 1,
                queue: VecDeque::new(),
                to_leader: VecDeque::new(),
                last_zxid: 0,
                close_xid: None,
            })
            .collect();
        Ensemble {
            rng: ChaCha8Rng::seed_from_u64(seed),
            cfg,
            workload: Workload { keys: cfg.keys },
            now: 0,
            epoch: 1,
            counter: 0,
            leader_tree: DataTree::new(),
            prep: Prep::new(PrepConfig::default()),
            log: Vec::new(),
            replicas,
            clients,
            next_session: 0x1_0000,
            events: Vec::new(),
            invoked: 0,
            first_request: None,
        }
    }

    /// Roles and sessions; the first request any client sends creates the queue parent.
    fn setup(&mut self) {
        self.announce_leader();
        for c in 0..self.clients.len() {
            self.connect(c);
        }
        self.first_request = Some(Request::Create {
            path: QUEUE.to_string(),
            data: Some(Vec::new()),
            acl: zksim_core::acl::Acl::open_unsafe(),
            mode: zksim_core::request::CreateMode::Persistent,
            ttl: None,
        });
    }

    fn announce_leader(&mut self) {
        let leader = self.epoch as usize % self.replicas.len();
        for s in 0..self.replicas.len() {
            let state = if s == leader {
                PeerState::Leading
            } else {
                PeerState::Following
            };
            self.events.push(Event::Role {
                t: self.now,
                server: s as u64 + 1,
                state,
                epoch: self.epoch,
                leader: Some(leader as u64 + 1),
            });
        }
    }

    fn busy(&self) -> bool {
        let lagging = self.replicas.iter().any(|r| r.applied < self.log.len());
        let waiting = self.clients.iter().any(|c| {
            !c.queue.is_empty()
                || !c.to_leader.is_empty()
                || matches!(c.state, State::Connecting { .. } | State::Closing)
        });
        lagging || waiting
    }

    fn step(&mut self, invoking: bool) {
        let c = self.rng.gen_range(0..self.clients.len());
        let roll = self.rng.gen_range(0..1000u32);
        let cfg = self.cfg;
        if invoking && roll < cfg.reconnect_per_mille {
            self.reconnect(c);
        } else if invoking && roll < cfg.reconnect_per_mille + cfg.session_end_per_mille {
            self.end_session(c);
        } else if invoking
            && roll
                < cfg.reconnect_per_mille + cfg.session_end_per_mille + cfg.leader_change_per_mille
        {
            self.epoch += 1;
            self.counter = 0;
            self.announce_leader();
        } else {
            match self.rng.gen_range(0..4) {
                0 if invoking => self.invoke(c),
                0 | 1 => self.leader_step(),
                2 => {
                    let s = self.rng.gen_range(0..self.replicas.len());
                    self.apply_next(s);
                }
                _ => self.drain(c),
            }
        }
    }

    fn next_hdr(&mut self, session_id: SessionId, cxid: i32) -> TxnHeader {
        self.counter += 1;
        TxnHeader {
            session_id,
            cxid,
            zxid: (i64::from(self.epoch) << 32) | i64::from(self.counter),
            time: (self.now / 1000) as i64,
        }
    }

    /// The leader applies a prepped txn at once and appends it to the committed log.
    fn commit(&mut self, hdr: TxnHeader, txn: Txn) -> usize {
        let result = self.leader_tree.apply(&hdr, &txn, &mut Vec::new());
        self.prep.applied(hdr.zxid);
        let (err, response) = result.to_reply();
        self.log.push(Committed {
            hdr,
            txn,
            err,
            response,
        });
        self.log.len() - 1
    }

    fn connect(&mut self, c: usize) {
        let session = self.next_session;
        self.next_session += 1;
        let hdr = self.next_hdr(session, 0);
        let txn = self.prep.prep_create_session(30_000);
        let at = self.commit(hdr, txn);
        let created = self.log[at].hdr.zxid;
        let client = &mut self.clients[c];
        client.session = session;
        client.created = created;
        client.state = State::Connecting { txn: at };
        client.server = self.rng.gen_range(0..self.replicas.len());
        client.last_zxid = 0;
    }

    fn invoke(&mut self, c: usize) {
        if self.clients[c].state == State::Idle {
            return self.connect(c);
        }
        if self.clients[c].state != State::Active
            || self.clients[c].queue.len() >= self.cfg.pipeline
        {
            return;
        }
        let request = match self.first_request.take() {
            Some(first) => first,
            None => {
                let oldest = self.leader_tree.get(QUEUE).and_then(|q| {
                    // The oldest by sequence number, whatever its prefix.
                    q.children
                        .iter()
                        .min_by_key(|c| c[c.len().saturating_sub(10)..].to_string())
                        .cloned()
                });
                self.workload.request(&mut self.rng, oldest.as_deref())
            }
        };
        let client = &mut self.clients[c];
        let xid = client.next_xid;
        client.next_xid += 1;
        let kind = match &request {
            r if r.is_write() => Kind::Write,
            Request::Sync { .. } => Kind::Sync,
            _ => Kind::Read,
        };
        if kind != Kind::Read {
            let forward = Forward::Request {
                xid,
                request: request.clone(),
            };
            client.to_leader.push_back((client.session, forward));
        }
        self.events.push(Event::Invoke {
            t: self.now,
            client: c as u32,
            session: Some(client.session),
            xid,
            op: request.clone(),
        });
        client.queue.push_back(Pending {
            xid,
            request,
            kind,
            txn: None,
            target: None,
        });
        self.invoked += 1;
    }

    /// The leader takes the oldest forwarded request of one client.
    fn leader_step(&mut self) {
        let ready: Vec<usize> = (0..self.clients.len())
            .filter(|&c| !self.clients[c].to_leader.is_empty())
            .collect();
        if ready.is_empty() {
            return;
        }
        let c = ready[self.rng.gen_range(0..ready.len())];
        let (session, forward) = self.clients[c].to_leader.pop_front().expect("not empty");
        // A request of a session that has ended is refused (SESSIONEXPIRED).
        if !self.leader_tree.sessions().contains_key(&session) {
            return;
        }
        match forward {
            Forward::Request { xid, request } => {
                let marks = if let Request::Sync { .. } = request {
                    (None, Some(self.log.len()))
                } else {
                    let hdr = self.next_hdr(session, xid);
                    let txn = self
                        .prep
                        .prep_write(&self.leader_tree, &hdr, &ids(), &request)
                        .txn;
                    (Some(self.commit(hdr, txn)), None)
                };
                let client = &mut self.clients[c];
                if let Some(p) = client.queue.iter_mut().find(|p| p.xid == xid) {
                    if client.session == session {
                        p.txn = marks.0;
                        p.target = marks.1;
                    }
                }
            }
            Forward::Close { xid } => {
                let hdr = self.next_hdr(session, xid);
                let txn = self.prep.prep_close_session(&self.leader_tree, &hdr);
                self.commit(hdr, txn);
            }
        }
    }

    /// Replica `s` applies its next committed txn, notifies, and answers what it can.
    fn apply_next(&mut self, s: usize) {
        let r = &mut self.replicas[s];
        if r.applied >= self.log.len() {
            return;
        }
        let index = r.applied;
        let entry = &self.log[index];
        let mut fired = Vec::new();
        r.tree.apply(&entry.hdr, &entry.txn, &mut fired);
        r.applied += 1;
        r.segments
            .last_mut()
            .expect("a replica has a segment")
            .zxids
            .push(entry.hdr.zxid);
        let (zxid, session, is_close) = (
            entry.hdr.zxid,
            entry.hdr.session_id,
            matches!(entry.txn, Txn::CloseSession { .. }),
        );
        self.deliver(s, &fired, zxid);
        for c in 0..self.clients.len() {
            let client = &self.clients[c];
            if client.server != s {
                continue;
            }
            match client.state {
                State::Connecting { txn } if txn == index => self.connected(c),
                State::Active | State::Closing if is_close && client.session == session => {
                    self.session_over(c, zxid)
                }
                _ => {}
            }
        }
        for c in 0..self.clients.len() {
            if self.clients[c].server == s {
                self.drain(c);
            }
        }
    }

    fn deliver(&mut self, s: usize, fired: &[WatchEvent], zxid: Zxid) {
        for e in fired {
            let target = self.clients.iter().position(|c| {
                // A closing session still hears the changes applied before its
                // closeSession, ahead of the close reply (one connection, one order).
                c.server == s
                    && matches!(c.state, State::Active | State::Closing)
                    && c.session == e.watcher
            });
            if let Some(c) = target {
                if e.readable_by(&ids()) {
                    self.events.push(Event::Watch {
                        t: self.now,
                        client: c as u32,
                        session: e.watcher,
                        event_type: e.event_type,
                        path: e.path.clone(),
                        zxid,
                    });
                }
            }
        }
    }

    fn connected(&mut self, c: usize) {
        let client = &mut self.clients[c];
        client.state = State::Active;
        let server = client.server as u64 + 1;
        let session = client.session;
        self.events.push(Event::Session {
            t: self.now,
            client: c as u32,
            session,
            event: SessionEvent::Connected {
                server,
                timeout_ms: 30_000,
            },
        });
        self.events.push(Event::Auth {
            t: self.now,
            client: c as u32,
            ids: ids(),
        });
    }

    /// The session's closeSession reached the client's server: closed (the close is
    /// answered with the closeSession txn's zxid), or expired.
    fn session_over(&mut self, c: usize, zxid: Zxid) {
        let event = if self.clients[c].state == State::Closing {
            SessionEvent::Closed
        } else {
            SessionEvent::Expired
        };
        self.fail_pending(c);
        if let Some(xid) = self.clients[c].close_xid.take() {
            self.events.push(Event::Complete {
                t: self.now,
                client: c as u32,
                xid,
                outcome: Outcome::Reply(Reply {
                    err: ErrorCode::Ok,
                    zxid,
                    response: Response::Empty,
                    message: None,
                }),
            });
        }
        let client = &mut self.clients[c];
        client.state = State::Idle;
        self.events.push(Event::Session {
            t: self.now,
            client: c as u32,
            session: client.session,
            event,
        });
    }

    /// Every request in flight ends without a reply.
    fn fail_pending(&mut self, c: usize) {
        let client = &mut self.clients[c];
        for p in client.queue.drain(..) {
            self.events.push(Event::Complete {
                t: self.now,
                client: c as u32,
                xid: p.xid,
                outcome: Outcome::Unknown {
                    reason: "CONNECTIONLOSS".to_string(),
                },
            });
        }
    }

    /// Answer the client's requests in order while the oldest can be answered.
    fn drain(&mut self, c: usize) {
        if self.clients[c].state != State::Active {
            return;
        }
        loop {
            let client = &self.clients[c];
            let r = &self.replicas[client.server];
            let Some(head) = client.queue.front() else {
                return;
            };
            let ready = match head.kind {
                Kind::Read => true,
                Kind::Write => head.txn.is_some_and(|i| r.applied > i),
                Kind::Sync => head.target.is_some_and(|t| r.applied >= t),
            };
            if !ready {
                return;
            }
            let p = self.clients[c].queue.pop_front().expect("front exists");
            let reply = self.answer(c, &p);
            let client = &mut self.clients[c];
            client.last_zxid = client.last_zxid.max(reply.zxid);
            self.events.push(Event::Complete {
                t: self.now,
                client: c as u32,
                xid: p.xid,
                outcome: Outcome::Reply(reply),
            });
        }
    }

    fn answer(&mut self, c: usize, p: &Pending) -> Reply {
        let client = &self.clients[c];
        let session = client.session;
        let tree = &mut self.replicas[client.server].tree;
        let zxid = tree.last_processed_zxid();
        let (err, response, zxid) = match p.kind {
            Kind::Write => {
                let entry = &self.log[p.txn.expect("ready writes have txns")];
                (entry.err, entry.response.clone(), entry.hdr.zxid)
            }
            Kind::Sync => {
                let path = p.request.path().unwrap_or("/").to_string();
                (ErrorCode::Ok, Response::Sync { path }, zxid)
            }
            Kind::Read => {
                match read::serve_read(tree, session, &ids(), &p.request, &mut Vec::new()) {
                    Ok(response) => (ErrorCode::Ok, response, zxid),
                    Err(err) => (err, Response::Empty, zxid),
                }
            }
        };
        Reply {
            err,
            zxid,
            response,
            message: None,
        }
    }

    /// The client loses its connection and moves to a server that has seen its zxid.
    fn reconnect(&mut self, c: usize) {
        if self.clients[c].state != State::Active {
            return;
        }
        // A server that knows the session and has seen everything the client has.
        let last = self.clients[c].last_zxid.max(self.clients[c].created);
        let from = self.clients[c].server;
        let choices: Vec<usize> = (0..self.replicas.len())
            .filter(|&s| s != from && self.replicas[s].tree.last_processed_zxid() >= last)
            .collect();
        if choices.is_empty() {
            return;
        }
        let to = choices[self.rng.gen_range(0..choices.len())];
        let session = self.clients[c].session;
        self.events.push(Event::Session {
            t: self.now,
            client: c as u32,
            session,
            event: SessionEvent::Disconnected,
        });
        self.events.push(Event::Fault {
            t: self.now,
            kind: "disconnect".to_string(),
            detail: format!("client {c} from server {}", from + 1),
        });
        self.fail_pending(c);
        self.clients[c].server = to;
        if !self.replicas[to].tree.sessions().contains_key(&session) {
            // The new server has already applied the session's closeSession: expired.
            self.replicas[from].tree.remove_watcher(session);
            return self.session_over(c, 0);
        }
        self.connected(c);
        self.move_watches(c, from, to, last);
    }

    /// SetWatches: the client re-registers its watches on the new server, which fires at
    /// once those whose znode changed since the client's last zxid.
    fn move_watches(&mut self, c: usize, from: usize, to: usize, last: Zxid) {
        let session = self.clients[c].session;
        let old = &mut self.replicas[from].tree;
        let (data_watches, child_watches) = old.watches_of(session);
        old.remove_watcher(session);
        let mut data = Vec::new();
        let mut exist = Vec::new();
        let mut child = Vec::new();
        let mut persistent = Vec::new();
        let mut recursive = Vec::new();
        for (path, mode) in data_watches.iter().chain(&child_watches) {
            match mode {
                WatcherMode::Persistent => persistent.push(path.clone()),
                WatcherMode::PersistentRecursive => recursive.push(path.clone()),
                WatcherMode::Standard => {}
            }
        }
        for (path, mode) in &data_watches {
            if *mode == WatcherMode::Standard {
                match old.get(path) {
                    Some(_) => data.push(path.clone()),
                    None => exist.push(path.clone()),
                }
            }
        }
        for (path, mode) in &child_watches {
            if *mode == WatcherMode::Standard {
                child.push(path.clone());
            }
        }
        persistent.dedup();
        recursive.dedup();
        let request = Request::SetWatches {
            relative_zxid: last,
            data,
            exist,
            child,
            persistent,
            persistent_recursive: recursive,
        };
        self.events.push(Event::Invoke {
            t: self.now,
            client: c as u32,
            session: Some(session),
            xid: SET_WATCHES_XID,
            op: request.clone(),
        });
        let tree = &mut self.replicas[to].tree;
        let mut fired = Vec::new();
        let response = read::serve_read(tree, session, &ids(), &request, &mut fired)
            .expect("SetWatches always succeeds");
        let zxid = tree.last_processed_zxid();
        self.deliver(to, &fired, zxid);
        let client = &mut self.clients[c];
        client.last_zxid = client.last_zxid.max(zxid);
        self.events.push(Event::Complete {
            t: self.now,
            client: c as u32,
            xid: SET_WATCHES_XID,
            outcome: Outcome::Reply(Reply {
                err: ErrorCode::Ok,
                zxid,
                response,
                message: None,
            }),
        });
    }

    /// The client closes its session, or the leader expires it.
    fn end_session(&mut self, c: usize) {
        let client = &mut self.clients[c];
        if client.state != State::Active {
            return;
        }
        let session = client.session;
        if self.rng.gen_bool(0.5) {
            let xid = client.next_xid;
            client.next_xid += 1;
            client
                .to_leader
                .push_back((session, Forward::Close { xid }));
            client.state = State::Closing;
            client.close_xid = Some(xid);
            self.events.push(Event::Close {
                t: self.now,
                client: c as u32,
                session: Some(session),
                xid,
            });
        } else {
            let hdr = self.next_hdr(session, 0);
            let txn = self.prep.prep_close_session(&self.leader_tree, &hdr);
            self.commit(hdr, txn);
        }
    }

    fn finish(mut self, seed: u64) -> Vec<Event> {
        let servers: Vec<u64> = (1..=self.replicas.len() as u64).collect();
        let mut out = vec![Event::header(
            Some(seed),
            Some(format!("generated ({} ops)", self.cfg.ops)),
            servers,
            Vec::new(),
            None,
            Vec::new(),
        )];
        out.append(&mut self.events);
        for entry in self.log {
            out.push(Event::Txn {
                zxid: entry.hdr.zxid,
                session: entry.hdr.session_id,
                cxid: entry.hdr.cxid,
                time: entry.hdr.time,
                txn: entry.txn,
                applied_t: None,
            });
        }
        for (s, r) in self.replicas.into_iter().enumerate() {
            out.push(Event::Replica {
                server: s as u64 + 1,
                segments: r.segments,
            });
        }
        out
    }
}
