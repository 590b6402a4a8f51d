//! Each property on small hand-built histories: one that holds and one that breaks it,
//! rejected with that property named. Histories are built by a tiny single-leader model
//! (zksim-core's `Prep` and `DataTree`) so txns and replies are right unless a test
//! tampers with them.

use std::collections::HashMap;

use zksim_checker::History;
use zksim_checker::history::{Event, Outcome, Segment, SessionEvent};
use zksim_checker::props::{Options, Property, Report, Verdict, check_all};
use zksim_core::acl::{Acl, Id};
use zksim_core::error::ErrorCode;
use zksim_core::prep::{Prep, PrepConfig};
use zksim_core::read::serve_read;
use zksim_core::request::{CreateMode, Reply, Request, Response};
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::tree::DataTree;
use zksim_core::txn::{Txn, TxnHeader};
use zksim_core::watch::EventType;
use zksim_core::zab::PeerState;

const IP: &str = "127.0.0.1";

/// A request in flight.
#[derive(Clone)]
struct Call {
    client: u32,
    xid: i32,
    request: Request,
}

struct Builder {
    t: u64,
    events: Vec<Event>,
    txns: Vec<Event>,
    tree: DataTree,
    prep: Prep,
    zxid: Zxid,
    /// The tree after each zxid, for stale reads.
    history: Vec<(Zxid, DataTree)>,
    sessions: HashMap<u32, SessionId>,
    xids: HashMap<u32, i32>,
}

fn ids() -> Vec<Id> {
    vec![Id::new("ip", IP)]
}

impl Builder {
    fn new(clients: u32) -> Builder {
        let mut b = Builder {
            t: 0,
            events: vec![Event::header(
                Some(42),
                None,
                vec![1],
                vec![],
                Some("zksim run --seed 42".into()),
                vec![],
            )],
            txns: Vec::new(),
            tree: DataTree::new(),
            prep: Prep::new(PrepConfig::default()),
            zxid: 1 << 32,
            history: vec![(0, DataTree::new())],
            sessions: HashMap::new(),
            xids: HashMap::new(),
        };
        b.push(Event::Role {
            t: 0,
            server: 1,
            state: PeerState::Leading,
            epoch: 1,
            leader: Some(1),
        });
        for c in 0..clients {
            b.connect(c);
        }
        b
    }

    fn tick(&mut self) -> u64 {
        self.t += 10;
        self.t
    }

    fn push(&mut self, e: Event) {
        self.events.push(e);
    }

    fn hdr(&mut self, session_id: SessionId, cxid: i32) -> TxnHeader {
        self.zxid += 1;
        TxnHeader {
            session_id,
            cxid,
            zxid: self.zxid,
            time: 0,
        }
    }

    fn apply(&mut self, hdr: TxnHeader, txn: Txn) -> (ErrorCode, Response) {
        let result = self.tree.apply(&hdr, &txn, &mut Vec::new());
        self.prep.applied(hdr.zxid);
        self.history.push((hdr.zxid, self.tree.clone()));
        self.txns.push(Event::Txn {
            zxid: hdr.zxid,
            session: hdr.session_id,
            cxid: hdr.cxid,
            time: 0,
            txn,
            applied_t: None,
        });
        result.to_reply()
    }

    fn connect(&mut self, client: u32) -> SessionId {
        let session = 0x100 + SessionId::from(client) + 16 * self.sessions.len() as i64;
        let hdr = self.hdr(session, 0);
        self.apply(hdr, Txn::CreateSession { timeout_ms: 30_000 });
        self.sessions.insert(client, session);
        let t = self.tick();
        self.push(Event::Session {
            t,
            client,
            session,
            event: SessionEvent::Connected {
                server: 1,
                timeout_ms: 30_000,
            },
        });
        self.push(Event::Auth {
            t,
            client,
            ids: ids(),
        });
        session
    }

    fn session(&self, client: u32) -> SessionId {
        self.sessions[&client]
    }

    fn invoke(&mut self, client: u32, request: Request) -> Call {
        let xid = self.xids.entry(client).or_insert(0);
        *xid += 1;
        let call = Call {
            client,
            xid: *xid,
            request,
        };
        let t = self.tick();
        let session = Some(self.session(client));
        self.push(Event::Invoke {
            t,
            client,
            session,
            xid: call.xid,
            op: call.request.clone(),
        });
        call
    }

    /// The leader commits the write now; returns the reply it gives.
    fn commit(&mut self, call: &Call) -> Reply {
        let hdr = self.hdr(self.session(call.client), call.xid);
        let txn = self
            .prep
            .prep_write(&self.tree, &hdr, &ids(), &call.request)
            .txn;
        let (err, response) = self.apply(hdr, txn);
        Reply {
            err,
            zxid: hdr.zxid,
            response,
            message: None,
        }
    }

    /// A read served from the state at `zxid` (the latest when `None`).
    fn read_at(&mut self, call: &Call, zxid: Option<Zxid>) -> Reply {
        let session = self.session(call.client);
        let (z, tree) = match zxid {
            None => self.history.last_mut().expect("a state"),
            Some(z) => self
                .history
                .iter_mut()
                .rev()
                .find(|(at, _)| *at <= z)
                .expect("a state"),
        };
        let z = *z;
        let answer = serve_read(tree, session, &ids(), &call.request, &mut Vec::new());
        let (err, response) = match answer {
            Ok(r) => (ErrorCode::Ok, r),
            Err(e) => (e, Response::Empty),
        };
        Reply {
            err,
            zxid: z,
            response,
            message: None,
        }
    }

    fn complete(&mut self, call: &Call, reply: Reply) {
        let t = self.tick();
        self.push(Event::Complete {
            t,
            client: call.client,
            xid: call.xid,
            outcome: Outcome::Reply(reply),
        });
    }

    fn write(&mut self, client: u32, request: Request) -> Reply {
        let call = self.invoke(client, request);
        let reply = self.commit(&call);
        self.complete(&call, reply.clone());
        reply
    }

    fn read(&mut self, client: u32, request: Request) -> Reply {
        let call = self.invoke(client, request);
        let reply = self.read_at(&call, None);
        self.complete(&call, reply.clone());
        reply
    }

    fn notify(&mut self, client: u32, event_type: EventType, path: &str, zxid: Zxid) {
        let t = self.tick();
        let session = self.session(client);
        self.push(Event::Watch {
            t,
            client,
            session,
            event_type,
            path: path.into(),
            zxid,
        });
    }

    /// The leader expires the session: its closeSession txn.
    fn expire(&mut self, client: u32) {
        let session = self.session(client);
        let hdr = self.hdr(session, 0);
        let txn = self.prep.prep_close_session(&self.tree, &hdr);
        self.apply(hdr, txn);
        let t = self.tick();
        self.push(Event::Session {
            t,
            client,
            session,
            event: SessionEvent::Expired,
        });
    }

    fn finish(mut self) -> Vec<Event> {
        let zxids = self
            .txns
            .iter()
            .filter_map(|e| match e {
                Event::Txn { zxid, .. } => Some(*zxid),
                _ => None,
            })
            .collect();
        self.events.append(&mut self.txns);
        self.events.push(Event::Replica {
            server: 1,
            segments: vec![Segment { base: 0, zxids }],
        });
        self.events
    }
}

fn create(path: &str, mode: CreateMode) -> Request {
    Request::Create {
        path: path.into(),
        data: Some(b"x".to_vec()),
        acl: Acl::open_unsafe(),
        mode,
        ttl: None,
    }
}

fn set(path: &str, data: &str) -> Request {
    Request::SetData {
        path: path.into(),
        data: Some(data.as_bytes().to_vec()),
        version: -1,
    }
}

fn get(path: &str, watch: bool) -> Request {
    Request::GetData {
        path: path.into(),
        watch,
    }
}

fn check(events: &[Event]) -> Report {
    let h = History::new(events).expect("the history indexes");
    check_all(&h, Options::default())
}

/// Every property holds.
fn assert_holds(events: &[Event]) {
    let report = check(events);
    let broken: Vec<String> = report
        .findings()
        .map(|f| format!("{}: {}", f.property, f.sentence))
        .collect();
    assert!(report.holds(), "{broken:#?}");
}

/// `property` is violated, and it is the first violated property reported.
fn assert_violates(events: &[Event], property: Property) -> String {
    let report = check(events);
    let outcome = report.outcome(property);
    let Verdict::Violated { findings, .. } = &outcome.verdict else {
        panic!(
            "{property} holds: {:?}",
            report.findings().collect::<Vec<_>>()
        );
    };
    findings[0].sentence.clone()
}

fn reply_mut(events: &mut [Event], client: u32, xid: i32) -> &mut Reply {
    events
        .iter_mut()
        .find_map(|e| match e {
            Event::Complete {
                client: c,
                xid: x,
                outcome: Outcome::Reply(r),
                ..
            } if *c == client && *x == xid => Some(r),
            _ => None,
        })
        .expect("that reply exists")
}

/// Two clients write and read one node; everything in order.
fn plain() -> Builder {
    let mut b = Builder::new(2);
    b.write(0, create("/a", CreateMode::Persistent));
    b.write(1, set("/a", "one"));
    b.read(0, get("/a", false));
    b
}

// A history with writes, reads, a watch and its notification passes every property.
#[test]
fn a_good_history_holds() {
    let mut b = plain();
    let call = b.invoke(0, get("/a", true));
    let reply = b.read_at(&call, None);
    b.complete(&call, reply);
    let w = b.write(1, set("/a", "two"));
    b.notify(0, EventType::NodeDataChanged, "/a", w.zxid);
    b.read(0, get("/a", false));
    assert_holds(&b.finish());
}

// ZooKeeper paper §2.3: a reply no order of the writes can give is a confirmed violation.
#[test]
fn linearizable_writes_rejects_an_impossible_version() {
    let mut events = plain().finish();
    // Client 1's setData (xid 1) claims version 5; only one setData ever ran.
    if let Response::Stat(stat) = &mut reply_mut(&mut events, 1, 1).response {
        stat.version = 5;
    }
    let sentence = assert_violates(&events, Property::LinearizableWrites);
    assert!(sentence.starts_with("No order of the writes"), "{sentence}");
}

// Real-time precedence: a write that completed before another began must have the smaller
// zxid; with the zxids swapped the replies still fit an order, but not the zxid order.
#[test]
fn linearizable_writes_rejects_zxids_against_real_time() {
    let mut b = Builder::new(2);
    let first = b.write(0, create("/a", CreateMode::Persistent));
    let second = b.write(1, create("/b", CreateMode::Persistent));
    let mut events = b.finish();
    let swap = |z: Zxid| {
        if z == first.zxid {
            second.zxid
        } else if z == second.zxid {
            first.zxid
        } else {
            z
        }
    };
    for e in &mut events {
        match e {
            Event::Complete {
                outcome: Outcome::Reply(r),
                ..
            } => {
                r.zxid = swap(r.zxid);
                if let Response::Create { stat, .. } = &mut r.response {
                    (stat.czxid, stat.mzxid, stat.pzxid) = (r.zxid, r.zxid, r.zxid);
                }
            }
            Event::Txn { zxid, .. } => *zxid = swap(*zxid),
            _ => {}
        }
    }
    let sentence = assert_violates(&events, Property::LinearizableWrites);
    assert!(
        sentence.contains("not in the order their zxids claim"),
        "{sentence}"
    );
}

// FIFO client order: a session's pipelined writes take effect in the order it sent them.
#[test]
fn fifo_rejects_writes_applied_out_of_order() {
    let mut b = Builder::new(1);
    let w1 = b.invoke(0, create("/a", CreateMode::Persistent));
    let w2 = b.invoke(0, create("/b", CreateMode::Persistent));
    let r2 = b.commit(&w2);
    let r1 = b.commit(&w1);
    b.complete(&w1, r1);
    b.complete(&w2, r2);
    let sentence = assert_violates(&b.finish(), Property::FifoClientOrder);
    assert!(sentence.contains("took effect after it"), "{sentence}");
}

// A write lost with its connection that reaches the leader late, after the session moved
// and sent more, is refused with a SESSIONMOVED error txn (PrepRequestProcessor's
// checkSession): that txn is no effect, so the later write's smaller zxid breaks no order.
// A real effect in the same place does.
#[test]
fn fifo_ignores_a_late_session_refusal_txn() {
    let build = |late: Option<ErrorCode>| {
        let mut b = Builder::new(1);
        let lost = b.invoke(0, create("/a", CreateMode::Persistent));
        let t = b.tick();
        b.push(Event::Complete {
            t,
            client: 0,
            xid: lost.xid,
            outcome: Outcome::Unknown {
                reason: "connection loss".into(),
            },
        });
        b.write(0, create("/b", CreateMode::Persistent));
        let hdr = b.hdr(b.session(0), lost.xid);
        match late {
            Some(err) => {
                b.apply(hdr, Txn::Error { err });
            }
            None => {
                b.commit(&lost);
            }
        }
        b.finish()
    };
    assert_holds(&build(Some(ErrorCode::SessionMoved)));
    assert_holds(&build(Some(ErrorCode::SessionExpired)));
    assert_violates(&build(None), Property::FifoClientOrder);
}

// FIFO client order holds for pipelined writes committed in order, replies in order.
#[test]
fn fifo_accepts_pipelined_writes() {
    let mut b = Builder::new(1);
    let w1 = b.invoke(0, create("/a", CreateMode::Persistent));
    let w2 = b.invoke(0, create("/b", CreateMode::Persistent));
    let (r1, r2) = (b.commit(&w1), b.commit(&w2));
    b.complete(&w1, r1);
    b.complete(&w2, r2);
    assert_holds(&b.finish());
}

// Single system image: a session never sees an older zxid than one it has seen.
#[test]
fn time_travel_rejects_an_older_view() {
    let mut b = plain();
    let newest = b.zxid;
    let call = b.invoke(0, get("/a", false));
    let stale = b.read_at(&call, Some(newest - 1));
    b.complete(&call, stale);
    assert_violates(&b.finish(), Property::NoTimeTravel);
}

// Reads may be stale (ZooKeeper's reads are not linearizable): another session's read of
// an older state is fine.
#[test]
fn stale_reads_of_a_consistent_state_are_allowed() {
    let mut b = Builder::new(2);
    b.write(0, create("/a", CreateMode::Persistent));
    let before = b.zxid;
    b.write(0, set("/a", "new"));
    let call = b.invoke(1, get("/a", false));
    let stale = b.read_at(&call, Some(before));
    b.complete(&call, stale);
    assert_holds(&b.finish());
}

// Watches: the notification comes before any reply that reflects the change.
#[test]
fn watch_order_rejects_a_read_before_the_notification() {
    let mut b = plain();
    let call = b.invoke(0, get("/a", true));
    let reply = b.read_at(&call, None);
    b.complete(&call, reply);
    let w = b.write(1, set("/a", "two"));
    b.read(0, get("/a", false));
    b.notify(0, EventType::NodeDataChanged, "/a", w.zxid);
    let sentence = assert_violates(&b.finish(), Property::WatchBeforeLaterRead);
    assert!(
        sentence.contains("the notification came later"),
        "{sentence}"
    );
}

// Reads equal the state at their zxid.
#[test]
fn reads_reject_data_the_state_never_had() {
    let mut events = plain().finish();
    if let Response::GetData { data, .. } = &mut reply_mut(&mut events, 0, 2).response {
        *data = Some(b"forged".to_vec());
    }
    let sentence = assert_violates(&events, Property::ReadsEqualState);
    assert!(
        sentence.contains("data \"forged\" (expected \"one\")"),
        "{sentence}"
    );
}

// A read may not reflect a zxid that was never committed.
#[test]
fn reads_reject_uncommitted_state() {
    let mut events = plain().finish();
    reply_mut(&mut events, 0, 2).zxid += 5;
    let sentence = assert_violates(&events, Property::ReadsEqualState);
    assert!(sentence.contains("never committed"), "{sentence}");
}

// ACL effects are part of a read's answer: NOAUTH where the node denies READ.
#[test]
fn reads_reject_data_the_acl_hides() {
    let mut b = Builder::new(2);
    let hidden = vec![Acl::new(zksim_core::acl::PERM_ALL, "digest", "someone:xyz")];
    b.write(
        0,
        Request::Create {
            path: "/s".into(),
            data: Some(b"secret".to_vec()),
            acl: hidden,
            mode: CreateMode::Persistent,
            ttl: None,
        },
    );
    let ok = b.read(1, get("/s", false));
    assert_eq!(ok.err, ErrorCode::NoAuth);
    let mut events = b.finish();
    let told = reply_mut(&mut events, 1, 1);
    told.err = ErrorCode::Ok;
    told.response = Response::GetData {
        data: Some(b"secret".to_vec()),
        stat: Default::default(),
    };
    assert_violates(&events, Property::ReadsEqualState);
}

// sync: a read after a sync reflects every write acknowledged before the sync was sent.
#[test]
fn read_after_sync_rejects_a_stale_read() {
    let mut b = Builder::new(2);
    b.write(0, create("/a", CreateMode::Persistent));
    let before = b.zxid;
    b.write(1, set("/a", "new"));
    let sync = b.invoke(0, Request::Sync { path: "/".into() });
    b.complete(
        &sync,
        Reply {
            err: ErrorCode::Ok,
            zxid: before,
            response: Response::Sync { path: "/".into() },
            message: None,
        },
    );
    let call = b.invoke(0, get("/a", false));
    let stale = b.read_at(&call, Some(before));
    b.complete(&call, stale);
    assert_violates(&b.finish(), Property::ReadAfterSync);
}

// Reliability: an acknowledged write is in the ground truth.
#[test]
fn durability_rejects_a_lost_write() {
    let mut b = plain();
    let w = b.write(0, set("/a", "lost"));
    let mut events = b.finish();
    events.retain(|e| !matches!(e, Event::Txn { zxid, .. } if *zxid == w.zxid));
    for e in &mut events {
        if let Event::Replica { segments, .. } = e {
            segments[0].zxids.retain(|z| *z != w.zxid);
        }
    }
    let sentence = assert_violates(&events, Property::AcknowledgedWritesSurvive);
    assert!(sentence.contains("no txn"), "{sentence}");
}

// Ephemerals: the session's closeSession deletes every ephemeral it owns (ZOOKEEPER-2355).
#[test]
fn ephemerals_reject_a_close_that_keeps_one() {
    let mut b = Builder::new(1);
    b.write(0, create("/e1", CreateMode::Ephemeral));
    b.write(0, create("/e2", CreateMode::Ephemeral));
    b.expire(0);
    let mut events = b.finish();
    for e in &mut events {
        if let Event::Txn {
            txn: Txn::CloseSession { paths },
            ..
        } = e
        {
            paths.retain(|p| p != "/e2");
        }
    }
    let sentence = assert_violates(&events, Property::EphemeralsLiveWithSession);
    assert!(sentence.contains("/e2"), "{sentence}");
}

// Ephemerals: a session its client saw expire must have a closeSession txn.
#[test]
fn ephemerals_reject_an_expiry_without_close() {
    let mut b = Builder::new(1);
    b.write(0, create("/e", CreateMode::Ephemeral));
    b.expire(0);
    let mut events = b.finish();
    events.retain(|e| {
        !matches!(
            e,
            Event::Txn {
                txn: Txn::CloseSession { .. },
                ..
            }
        )
    });
    for e in &mut events {
        if let Event::Replica { segments, .. } = e {
            segments[0].zxids.pop();
        }
    }
    assert_violates(&events, Property::EphemeralsLiveWithSession);
}

// Expiry with a correct closeSession passes, and later reads no longer see the ephemeral.
#[test]
fn ephemerals_accept_an_expiry() {
    let mut b = Builder::new(2);
    b.write(0, create("/e", CreateMode::Ephemeral));
    b.expire(0);
    let gone = b.read(
        1,
        Request::Exists {
            path: "/e".into(),
            watch: false,
        },
    );
    assert_eq!(gone.err, ErrorCode::NoNode);
    assert_holds(&b.finish());
}

// Sequence nodes: two creates under one parent never get the same name.
#[test]
fn sequential_rejects_a_repeated_name() {
    let mut b = Builder::new(2);
    b.write(0, create("/q", CreateMode::Persistent));
    let first = b.write(0, create("/q/n-", CreateMode::PersistentSequential));
    b.write(1, create("/q/n-", CreateMode::PersistentSequential));
    let s1 = b.session(1);
    let mut events = b.finish();
    let Response::Create { path: name, .. } = first.response else {
        panic!("a create")
    };
    if let Response::Create { path, .. } = &mut reply_mut(&mut events, 1, 1).response {
        *path = name.clone();
    }
    // The client is told a name that differs from the ground truth's.
    let sentence = assert_violates(&events, Property::SequentialNames);
    assert!(sentence.contains("has two names"), "{sentence}");
    // The ground truth agrees with the reply: the name is given twice.
    for e in &mut events {
        if let Event::Txn {
            txn: Txn::Create { path, .. },
            cxid: 1,
            session,
            ..
        } = e
        {
            if *session == s1 {
                *path = name.clone();
            }
        }
    }
    let sentence = assert_violates(&events, Property::SequentialNames);
    assert!(sentence.contains("must increase"), "{sentence}");
}

// A one-shot watch fires once: a second notification for it is a violation.
#[test]
fn one_shot_rejects_a_second_notification() {
    let mut b = plain();
    let call = b.invoke(0, get("/a", true));
    let reply = b.read_at(&call, None);
    b.complete(&call, reply);
    let w = b.write(1, set("/a", "two"));
    b.notify(0, EventType::NodeDataChanged, "/a", w.zxid);
    let w2 = b.write(1, set("/a", "three"));
    b.notify(0, EventType::NodeDataChanged, "/a", w2.zxid);
    assert_violates(&b.finish(), Property::OneShotWatches);
}

// Zab PrefixConsistency: a replica that skips a committed txn.
#[test]
fn replicas_reject_a_skipped_txn() {
    // A second replica skips a txn the first applied.
    let mut events = plain().finish();
    if let Event::Header { servers, .. } = &mut events[0] {
        servers.push(2);
    }
    let Some(Event::Replica { segments, .. }) = events.last().cloned() else {
        panic!("finish ends with the replica");
    };
    let mut skipped = segments.clone();
    skipped[0].zxids.remove(2);
    events.push(Event::Replica {
        server: 2,
        segments: skipped,
    });
    let sentence = assert_violates(&events, Property::ReplicaAgreement);
    assert!(sentence.contains("skipped"), "{sentence}");
}

// Input the checker cannot trust is refused, not judged: a txn no replica applied (the
// ground truth is the union of what the replicas applied), a replica the header does
// not name.
#[test]
fn untrusted_ground_truth_is_refused() {
    let mut events = plain().finish();
    for e in &mut events {
        if let Event::Replica { segments, .. } = e {
            segments[0].zxids.remove(2);
        }
    }
    let error = History::new(&events).expect_err("a txn no replica applied");
    assert!(error.message.contains("no replica"), "{error}");

    let mut events = plain().finish();
    if let Some(Event::Replica { server, .. }) = events.last_mut() {
        *server = 7;
    }
    let error = History::new(&events).expect_err("a replica the header does not name");
    assert!(error.message.contains("server 7"), "{error}");
}

// Zab: at most one leader per epoch.
#[test]
fn replicas_reject_two_leaders_in_one_epoch() {
    let mut events = plain().finish();
    events.insert(
        2,
        Event::Role {
            t: 5,
            server: 2,
            state: PeerState::Leading,
            epoch: 1,
            leader: Some(2),
        },
    );
    let sentence = assert_violates(&events, Property::ReplicaAgreement);
    assert!(sentence.contains("both led epoch 1"), "{sentence}");
}

// A history that contradicts itself cannot be checked: the index names the event.
#[test]
fn malformed_histories_are_refused() {
    let mut events = plain().finish();
    events.push(Event::Complete {
        t: 1_000_000,
        client: 0,
        xid: 99,
        outcome: Outcome::Unknown { reason: "x".into() },
    });
    let err = History::new(&events).expect_err("a completion of nothing");
    assert!(err.to_string().contains("never invoked"), "{err}");
}

// ZooKeeper 3.8's PrepRequestProcessor refuses a request of a session it is expiring with
// an error txn (SESSIONEXPIRED) before looking at the tree, so the refusal is right on any
// state, while the same request with another error code must match the tree.
#[test]
fn a_session_refusal_txn_needs_no_matching_state() {
    let build = |err: ErrorCode| {
        let mut b = plain();
        let call = b.invoke(
            1,
            Request::SetData {
                path: "/a".into(),
                data: Some(b"late".to_vec()),
                version: 7,
            },
        );
        let hdr = b.hdr(b.session(1), call.xid);
        b.apply(hdr, Txn::Error { err });
        b.complete(
            &call,
            Reply {
                err,
                zxid: hdr.zxid,
                response: Response::Empty,
                message: None,
            },
        );
        b.read(0, get("/a", false));
        b.finish()
    };
    assert_holds(&build(ErrorCode::SessionExpired));
    assert_holds(&build(ErrorCode::SessionMoved));
    // NONODE is an answer about the tree, and /a exists: no order gives it.
    assert_violates(&build(ErrorCode::NoNode), Property::LinearizableWrites);
}
