//! Each recipe invariant (docs/recipes.md) on small hand-built histories: what its clients
//! were told, written out event by event. For every invariant, a history that breaks it is
//! rejected with that invariant named, and one that holds is accepted.

use std::collections::HashMap;

use zksim_checker::History;
use zksim_checker::history::{Event, Outcome, SessionEvent};
use zksim_checker::recipes::{
    self, Closes, Feed, Judged, RecipeError, RecipeReport, barrier, config, counter, election,
    lock, queue, session_expiry, stale_read_sync,
};
use zksim_core::acl::Acl;
use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, OpResult, Reply, Request, Response};
use zksim_core::stat::{SessionId, Stat, Zxid};
use zksim_core::watch::EventType;

/// A request sent: its client and xid.
#[derive(Clone, Copy, Debug)]
struct Call {
    client: u32,
    xid: i32,
}

/// A recipe run's history, written by hand: header first, then what the clients did and
/// were told, one event at a time.
struct Script {
    events: Vec<Event>,
    t: u64,
    xids: HashMap<u32, i32>,
}

impl Script {
    fn new(recipe: &str, clients: u32) -> Script {
        let header = Event::header(Some(1), Some(recipe.into()), vec![1], vec![], None, vec![])
            .with_recipe(Some(recipe.to_string()), clients);
        Script {
            events: vec![header],
            t: 0,
            xids: HashMap::new(),
        }
    }

    fn tick(&mut self) -> u64 {
        self.t += 10;
        self.t
    }

    fn session(&mut self, client: u32, session: SessionId, event: SessionEvent) {
        let t = self.tick();
        self.events.push(Event::Session {
            t,
            client,
            session,
            event,
        });
    }

    fn connect(&mut self, client: u32, session: SessionId) {
        let event = SessionEvent::Connected {
            server: 1,
            timeout_ms: 4000,
        };
        self.session(client, session, event);
    }

    fn send(&mut self, client: u32, session: SessionId, op: Request) -> Call {
        let t = self.tick();
        let xid = self.xids.entry(client).or_insert(0);
        *xid += 1;
        let call = Call { client, xid: *xid };
        self.events.push(Event::Invoke {
            t,
            client,
            session: Some(session),
            xid: call.xid,
            op,
        });
        call
    }

    fn end(&mut self, call: Call, outcome: Outcome) {
        let t = self.tick();
        self.events.push(Event::Complete {
            t,
            client: call.client,
            xid: call.xid,
            outcome,
        });
    }

    fn reply(&mut self, call: Call, err: ErrorCode, zxid: Zxid, response: Response) {
        let reply = Reply {
            err,
            zxid,
            response,
            message: None,
        };
        self.end(call, Outcome::Reply(reply));
    }

    fn ok(&mut self, call: Call, zxid: Zxid, response: Response) {
        self.reply(call, ErrorCode::Ok, zxid, response);
    }

    fn fail(&mut self, call: Call, err: ErrorCode, zxid: Zxid) {
        self.reply(call, err, zxid, Response::Empty);
    }

    fn unknown(&mut self, call: Call) {
        let reason = "CONNECTIONLOSS".to_string();
        self.end(call, Outcome::Unknown { reason });
    }

    /// Send a request and have it answered OK at once.
    fn done(&mut self, client: u32, session: SessionId, op: Request, zxid: Zxid, r: Response) {
        let call = self.send(client, session, op);
        self.ok(call, zxid, r);
    }

    fn watch(
        &mut self,
        client: u32,
        session: SessionId,
        event_type: EventType,
        path: &str,
        zxid: Zxid,
    ) {
        let t = self.tick();
        self.events.push(Event::Watch {
            t,
            client,
            session,
            event_type,
            path: path.to_string(),
            zxid,
        });
    }

    fn report(&self) -> RecipeReport {
        let h = History::new(&self.events).expect("a well-formed history");
        recipes::check(&h)
            .expect("a known recipe")
            .expect("the header names a recipe")
    }

    /// Judge with these answered closes (the history does not record closes yet).
    fn judged_with(&self, closes: Closes, judge: fn(&Feed) -> Judged) -> Judged {
        let h = History::new(&self.events).expect("a well-formed history");
        let mut feed = Feed::new(&h, h.header.clients.expect("clients"));
        feed.closes = closes;
        judge(&feed)
    }
}

/// The sentences of an invariant's findings.
fn findings(r: &RecipeReport, invariant: &str) -> Vec<String> {
    sentences(&r.outcomes, invariant)
}

fn sentences(outcomes: &[recipes::InvariantOutcome], invariant: &str) -> Vec<String> {
    let o = outcomes
        .iter()
        .find(|o| o.invariant == invariant)
        .unwrap_or_else(|| panic!("no outcome for {invariant}"));
    assert_eq!(o.findings.len(), o.total.min(recipes::FINDINGS_MAX));
    o.findings.iter().map(|f| f.sentence.clone()).collect()
}

fn violated(r: &RecipeReport) -> Vec<&'static str> {
    r.violated().map(|o| o.invariant).collect()
}

fn get_data(path: &str, watch: bool) -> Request {
    Request::GetData {
        path: path.to_string(),
        watch,
    }
}

fn set_data(path: &str, value: &str) -> Request {
    Request::SetData {
        path: path.to_string(),
        data: Some(value.as_bytes().to_vec()),
        version: -1,
    }
}

fn create(path: &str, value: &str, mode: CreateMode) -> Request {
    Request::Create {
        path: path.to_string(),
        data: Some(value.as_bytes().to_vec()),
        acl: Acl::open_unsafe(),
        mode,
        ttl: None,
    }
}

fn delete(path: &str) -> Request {
    Request::Delete {
        path: path.to_string(),
        version: -1,
    }
}

fn exists(path: &str) -> Request {
    Request::Exists {
        path: path.to_string(),
        watch: true,
    }
}

fn get_children(path: &str) -> Request {
    Request::GetChildren {
        path: path.to_string(),
        watch: false,
    }
}

fn sync(path: &str) -> Request {
    Request::Sync {
        path: path.to_string(),
    }
}

fn stat(czxid: Zxid, mzxid: Zxid, owner: SessionId) -> Stat {
    Stat {
        czxid,
        mzxid,
        ephemeral_owner: owner,
        ..Stat::default()
    }
}

fn data(value: &str, stat: Stat) -> Response {
    Response::GetData {
        data: Some(value.as_bytes().to_vec()),
        stat,
    }
}

fn value(v: &str) -> Response {
    data(v, Stat::default())
}

fn created(path: &str) -> Response {
    Response::Create {
        path: path.to_string(),
        stat: Stat::default(),
    }
}

fn children(names: &[&str]) -> Response {
    Response::GetChildren {
        children: names.iter().map(|s| s.to_string()).collect(),
        stat: None,
    }
}

fn synced(path: &str) -> Response {
    Response::Sync {
        path: path.to_string(),
    }
}

fn set() -> Response {
    Response::Stat(Stat::default())
}

// ---- the checker's entry point ----

#[test]
fn a_history_without_a_recipe_has_no_recipe_verdict() {
    let mut s = Script::new("config", 2);
    s.events[0] = Event::header(None, None, vec![1], vec![], None, vec![]);
    s.connect(0, 1);
    let h = History::new(&s.events).expect("well-formed");
    assert_eq!(recipes::check(&h), Ok(None));
    s.events[0] = s.events[0].clone().with_recipe(Some("generic".into()), 2);
    let h = History::new(&s.events).expect("well-formed");
    assert_eq!(recipes::check(&h), Ok(None));
}

#[test]
fn an_unknown_recipe_is_bad_input() {
    let mut s = Script::new("mutex", 2);
    s.connect(0, 1);
    let h = History::new(&s.events).expect("well-formed");
    let e = recipes::check(&h).expect_err("mutex is not a recipe");
    assert_eq!(e, RecipeError::UnknownRecipe("mutex".into()));
    assert!(e.to_string().contains("known: config, counter"), "{e}");
}

#[test]
fn a_recipe_without_a_client_count_is_bad_input() {
    let mut s = Script::new("barrier", 2);
    s.events[0] = Event::header(None, None, vec![1], vec![], None, vec![]);
    if let Event::Header { recipe, .. } = &mut s.events[0] {
        *recipe = Some("barrier".into());
    }
    s.connect(0, 1);
    let h = History::new(&s.events).expect("well-formed");
    assert_eq!(
        recipes::check(&h),
        Err(RecipeError::NoClientCount("barrier".into()))
    );
}

// ---- config-no-mixed-versions ----

/// Client 1 (a reader) reads /ready, /cfg/a and /cfg/b with these values and zxids, with a
/// /ready deletion event after the /ready reply when `event` says so.
fn config_round(values: [(&str, Zxid); 3], event: bool) -> RecipeReport {
    let mut s = Script::new("config", 3);
    s.connect(1, 0x11);
    let paths = ["/ready", "/cfg/a", "/cfg/b"];
    let calls: Vec<Call> = paths
        .iter()
        .map(|p| s.send(1, 0x11, get_data(p, *p == "/ready")))
        .collect();
    s.ok(calls[0], values[0].1, value(values[0].0));
    if event {
        s.watch(1, 0x11, EventType::NodeDeleted, "/ready", values[0].1 + 1);
    }
    s.ok(calls[1], values[1].1, value(values[1].0));
    s.ok(calls[2], values[2].1, value(values[2].0));
    s.report()
}

#[test]
fn config_a_mixed_configuration_without_an_event_is_a_violation() {
    // §2.3: having seen ready = 3, a reader must see the version-3 configuration.
    let r = config_round([("3", 10), ("3", 11), ("4", 12)], false);
    assert_eq!(violated(&r), [config::INVARIANT]);
    let found = findings(&r, config::INVARIANT);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0],
        "client 1 read /ready = 3 at zxid 0xa, then /cfg/b = 4 at zxid 0xc with no watch \
         event for /ready in between"
    );
    assert_eq!(r.count("config reads checked"), Some(2));
}

#[test]
fn config_a_mixed_configuration_after_an_event_is_allowed() {
    // The deletion of /ready was announced first: the reader knows the config moves.
    let r = config_round([("3", 10), ("4", 12), ("4", 12)], true);
    assert!(r.holds(), "{r:?}");
    assert_eq!(r.count("config reads checked"), Some(0));
}

#[test]
fn config_a_consistent_configuration_holds() {
    let r = config_round([("3", 10), ("3", 10), ("3", 10)], false);
    assert!(r.holds(), "{r:?}");
    assert_eq!(r.count("config reads checked"), Some(2));
}

#[test]
fn config_counts_the_versions_the_writer_wrote_completely() {
    // Client 0's setup batch, then version 1 (its delete finds /ready gone: fine).
    let mut s = Script::new("config", 2);
    s.connect(0, 0x10);
    let setup = [
        create("/cfg", "", CreateMode::Persistent),
        create("/cfg/a", "0", CreateMode::Persistent),
        create("/cfg/b", "0", CreateMode::Persistent),
        create("/ready", "0", CreateMode::Persistent),
    ];
    for (i, op) in setup.into_iter().enumerate() {
        s.done(0, 0x10, op, 10 + i as Zxid, created("/x"));
    }
    let call = s.send(0, 0x10, delete("/ready"));
    s.fail(call, ErrorCode::NoNode, 20);
    s.done(0, 0x10, set_data("/cfg/a", "1"), 21, set());
    s.done(0, 0x10, set_data("/cfg/b", "1"), 22, set());
    let ready = create("/ready", "1", CreateMode::Persistent);
    s.done(0, 0x10, ready, 23, created("/ready"));
    assert_eq!(s.report().count("config versions written"), Some(1));
}

// ---- counter-acked-bounds, counter-unique-acks ----

/// A counter run: increments (client, value written, zxid) acknowledged in that order,
/// `unknown` increments with an unknown outcome, then a final sync and read of `f`.
fn counter_run(acked: &[(u32, u64, Zxid)], unknown: u32, f: u64) -> RecipeReport {
    let mut s = Script::new("counter", 6);
    for c in 0..6 {
        s.connect(c, 0x10 + SessionId::from(c));
    }
    for &(c, v, zxid) in acked {
        let session = 0x10 + SessionId::from(c);
        s.done(
            c,
            session,
            set_data("/counter", &v.to_string()),
            zxid,
            set(),
        );
    }
    for _ in 0..unknown {
        let call = s.send(5, 0x15, set_data("/counter", "99"));
        s.unknown(call);
    }
    s.done(0, 0x10, sync("/counter"), 40, synced("/counter"));
    s.done(
        0,
        0x10,
        get_data("/counter", false),
        40,
        value(&f.to_string()),
    );
    s.report()
}

#[test]
fn counter_a_final_value_below_the_acknowledged_increments_is_a_violation() {
    // Three increments acknowledged, none unknown: the counter must read 3.
    let r = counter_run(&[(1, 1, 11), (2, 2, 12), (3, 3, 13)], 0, 2);
    assert_eq!(violated(&r), [counter::BOUNDS]);
    let found = findings(&r, counter::BOUNDS);
    assert!(found[0].contains("3 increments"), "{}", found[0]);
    assert!(found[1].contains("below the value 3"), "{}", found[1]);
}

#[test]
fn counter_a_final_value_above_acknowledged_plus_unknown_is_a_violation() {
    let r = counter_run(&[(0, 1, 10)], 1, 3);
    assert_eq!(violated(&r), [counter::BOUNDS]);
}

#[test]
fn counter_unknown_increments_may_or_may_not_count() {
    for f in [1, 2, 3] {
        let r = counter_run(&[(0, 1, 10)], 2, f);
        assert!(r.holds(), "final value {f}: {r:?}");
        assert_eq!(r.count("counter final reads"), Some(1));
        assert_eq!(r.count("counter increments unknown"), Some(2));
    }
}

#[test]
fn counter_two_acknowledged_increments_to_one_value_is_a_violation() {
    let r = counter_run(&[(0, 5, 10), (1, 5, 11)], 0, 2);
    assert!(violated(&r).contains(&counter::UNIQUE), "{r:?}");
    let found = findings(&r, counter::UNIQUE);
    assert_eq!(
        found[0],
        "clients 0 and 1 were both told that their increment to 5 was applied (zxids 0xa and 0xb)"
    );
}

#[test]
fn counter_a_read_without_an_answered_sync_is_not_the_final_read() {
    // A plain read, and a read after a sync that was lost: neither is judged.
    let mut s = Script::new("counter", 2);
    s.connect(0, 0x10);
    s.done(0, 0x10, set_data("/counter", "1"), 10, set());
    s.done(1, 0x11, get_data("/counter", false), 9, value("0"));
    let lost = s.send(1, 0x11, sync("/counter"));
    s.unknown(lost);
    s.done(1, 0x11, get_data("/counter", false), 9, value("0"));
    let r = s.report();
    assert!(r.holds(), "{r:?}");
    assert_eq!(r.count("counter final reads"), Some(0));
}

#[test]
fn counter_an_increment_acknowledged_after_the_final_sync_need_not_show() {
    // Client 1's increment is acknowledged only after the final sync was invoked.
    let mut s = Script::new("counter", 2);
    s.connect(0, 0x10);
    s.connect(1, 0x11);
    s.done(0, 0x10, set_data("/counter", "1"), 10, set());
    let late = s.send(1, 0x11, set_data("/counter", "2"));
    s.done(0, 0x10, sync("/counter"), 11, synced("/counter"));
    s.ok(late, 12, set());
    s.done(0, 0x10, get_data("/counter", false), 11, value("1"));
    assert!(s.report().holds());
}

// ---- election-one-master ----

/// Client `c` creates /master at `zxid` in session `session`.
fn elect(s: &mut Script, c: u32, session: SessionId, zxid: Zxid) {
    let op = create("/master", &c.to_string(), CreateMode::Ephemeral);
    s.done(c, session, op, zxid, created("/master"));
}

/// Client `observer` reads /master (made at `czxid` by `owner` in `session`) at `at`.
fn read_master(
    s: &mut Script,
    observer: u32,
    czxid: Zxid,
    at: Zxid,
    owner: u32,
    session: SessionId,
) {
    let me = 0x100 + SessionId::from(observer);
    let node = data(&owner.to_string(), stat(czxid, czxid, session));
    s.done(observer, me, get_data("/master", true), at, node);
}

#[test]
fn election_a_master_read_alive_after_a_later_create_is_a_violation() {
    // Client 1 created /master at 10; client 2 at 20; client 3 still reads 1's at 25.
    let mut s = Script::new("election", 5);
    elect(&mut s, 1, 0x11, 10);
    elect(&mut s, 2, 0x22, 20);
    read_master(&mut s, 3, 10, 25, 1, 0x11);
    let r = s.report();
    let found = findings(&r, election::INVARIANT);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("two masters at zxid 0x14"),
        "{}",
        found[0]
    );
}

#[test]
fn election_a_read_that_disagrees_with_the_create_is_a_violation() {
    let mut s = Script::new("election", 5);
    elect(&mut s, 1, 0x11, 10);
    read_master(&mut s, 3, 10, 12, 2, 0x22);
    let found = findings(&s.report(), election::INVARIANT);
    assert!(found[0].contains("as owned by client 2"), "{}", found[0]);
}

#[test]
fn election_a_node_alive_after_its_deletion_is_a_violation() {
    // Client 2 watches 1's node and hears of its deletion at 15; client 3 reads it alive at
    // 16; client 4 finds /master absent at 18; client 3 reads the node alive at 19.
    let mut s = Script::new("election", 5);
    elect(&mut s, 1, 0x11, 10);
    read_master(&mut s, 2, 10, 12, 1, 0x11);
    s.watch(2, 0x102, EventType::NodeDeleted, "/master", 15);
    read_master(&mut s, 3, 10, 16, 1, 0x11);
    let absent = s.send(4, 0x104, get_data("/master", true));
    s.fail(absent, ErrorCode::NoNode, 18);
    read_master(&mut s, 3, 10, 19, 1, 0x11);
    let r = s.report();
    let found = findings(&r, election::INVARIANT);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].contains("gone by zxid 0xf (client 2 was notified"),
        "{}",
        found[0]
    );
    assert!(found[1].contains("absent at zxid 0x12"), "{}", found[1]);
    assert_eq!(r.count("election deletions seen"), Some(1));
}

#[test]
fn election_a_node_alive_after_its_owners_close_is_a_violation() {
    // Client 1 closed its session 0x11 and was answered at zxid 15; client 3 reads its
    // node alive at 16.
    let mut s = Script::new("election", 5);
    elect(&mut s, 1, 0x11, 10);
    s.session(1, 0x11, SessionEvent::Closed);
    read_master(&mut s, 3, 10, 16, 1, 0x11);
    assert!(
        s.report().holds(),
        "without the close's reply nothing is known"
    );
    let judged = s.judged_with(Closes::default().with(0x11, 15), election::judge);
    let found = sentences(&judged.outcomes, election::INVARIANT);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].ends_with("gone by zxid 0xf (client 1 closed its session 0x11)"),
        "{}",
        found[0]
    );
}

#[test]
fn election_masters_one_after_another_hold() {
    let mut s = Script::new("election", 5);
    elect(&mut s, 1, 0x11, 10);
    read_master(&mut s, 2, 10, 14, 1, 0x11);
    s.watch(2, 0x102, EventType::NodeDeleted, "/master", 15);
    let absent = s.send(3, 0x103, get_data("/master", true));
    s.fail(absent, ErrorCode::NoNode, 15);
    elect(&mut s, 2, 0x22, 16);
    read_master(&mut s, 1, 16, 30, 2, 0x22);
    let r = s.report();
    assert!(r.holds(), "{r:?}");
    assert_eq!(r.count("election masters elected"), Some(2));
}

// ---- lock-mutual-exclusion ----

/// Client `c` lists /lock at `zxid`.
fn list_lock(s: &mut Script, c: u32, names: &[&str], zxid: Zxid) {
    let session = 0xa0 + SessionId::from(c);
    s.done(c, session, get_children("/lock"), zxid, children(names));
}

/// Client `c`'s checked write while holding `name`, answered at `zxid`.
fn locked_write(s: &mut Script, c: u32, name: &str, zxid: Zxid) {
    let session = 0xa0 + SessionId::from(c);
    let check = Request::Check {
        path: format!("/lock/{name}"),
        version: -1,
    };
    let multi = Request::Multi(vec![check, set_data("/lock-data", "x")]);
    let results = Response::Multi(vec![
        OpResult::Check,
        OpResult::SetData {
            stat: Stat::default(),
        },
    ]);
    s.done(c, session, multi, zxid, results);
}

#[test]
fn lock_two_nodes_lowest_at_once_is_a_violation() {
    // Client 1 saw its node lowest at 10 and wrote under the lock at 15; client 2 saw its
    // later node lowest at 12: both held the lock at zxids 12..15.
    let mut s = Script::new("lock", 5);
    list_lock(&mut s, 1, &["c1-a1-0000000001", "c2-a2-0000000002"], 10);
    locked_write(&mut s, 1, "c1-a1-0000000001", 15);
    list_lock(&mut s, 2, &["c2-a2-0000000002"], 12);
    let r = s.report();
    let found = findings(&r, lock::INVARIANT);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("were both the lowest"), "{}", found[0]);
    assert_eq!(r.count("lock acquisitions"), Some(2));
    assert_eq!(r.count("lock writes while holding"), Some(1));
}

#[test]
fn lock_a_node_seen_after_its_acknowledged_delete_is_a_violation() {
    let mut s = Script::new("lock", 5);
    list_lock(&mut s, 1, &["c1-a1-0000000001"], 10);
    s.done(
        1,
        0xa1,
        delete("/lock/c1-a1-0000000001"),
        12,
        Response::Empty,
    );
    let watch = s.send(2, 0xa2, exists("/lock/c1-a1-0000000001"));
    s.ok(watch, 13, Response::Stat(Stat::default()));
    let found = findings(&s.report(), lock::INVARIANT);
    assert!(found[0].contains("after its delete"), "{}", found[0]);
}

#[test]
fn lock_holders_one_after_another_hold() {
    let mut s = Script::new("lock", 5);
    let mine = create("/lock/c1-a1-", "1", CreateMode::EphemeralSequential);
    s.done(1, 0xa1, mine, 9, created("/lock/c1-a1-0000000001"));
    list_lock(&mut s, 1, &["c1-a1-0000000001", "c2-a2-0000000002"], 10);
    locked_write(&mut s, 1, "c1-a1-0000000001", 11);
    s.done(
        1,
        0xa1,
        delete("/lock/c1-a1-0000000001"),
        12,
        Response::Empty,
    );
    list_lock(&mut s, 2, &["c2-a2-0000000002"], 12);
    // A stale listing by a third client: it still shows node 1 lowest at 11.
    list_lock(&mut s, 3, &["c1-a1-0000000001", "c2-a2-0000000002"], 11);
    let r = s.report();
    assert!(r.holds(), "{r:?}");
    assert_eq!(r.count("lock nodes judged"), Some(2));
}

// ---- barrier-all-entered ----

/// Client `c` creates its node in round `round`, answered at `zxid` (None: unknown).
fn enter(s: &mut Script, c: u32, round: u64, zxid: Option<Zxid>) {
    let session = 0xb0 + SessionId::from(c);
    let path = format!("/b/r{round}/c{c}");
    let call = s.send(c, session, create(&path, "", CreateMode::Ephemeral));
    match zxid {
        Some(z) => s.ok(call, z, created(&path)),
        None => s.unknown(call),
    }
}

/// Client `c` reads /b/r<round>/ready and finds it at `zxid`.
fn read_ready(s: &mut Script, c: u32, round: u64, zxid: Zxid) {
    let session = 0xb0 + SessionId::from(c);
    let path = format!("/b/r{round}/ready");
    s.done(
        c,
        session,
        exists(&path),
        zxid,
        Response::Stat(Stat::default()),
    );
}

#[test]
fn barrier_passing_before_a_client_entered_is_a_violation() {
    // Client 0 read ready at zxid 20, but client 2's node was created only at zxid 25.
    let mut s = Script::new("barrier", 3);
    enter(&mut s, 0, 0, Some(10));
    enter(&mut s, 1, 0, Some(11));
    read_ready(&mut s, 0, 0, 20);
    enter(&mut s, 2, 0, Some(25));
    let found = findings(&s.report(), barrier::INVARIANT);
    assert_eq!(
        found,
        [
            "client 0 passed the round-0 barrier at zxid 0x14 (it read ready), but client 2 \
          created its node at zxid 0x19"
        ]
    );
}

#[test]
fn barrier_a_client_that_never_entered_is_a_violation() {
    let mut s = Script::new("barrier", 2);
    enter(&mut s, 0, 3, Some(10));
    read_ready(&mut s, 0, 3, 20);
    let found = findings(&s.report(), barrier::INVARIANT);
    assert!(
        found[0].contains("client 1 never created its node"),
        "{}",
        found[0]
    );
}

#[test]
fn barrier_an_unknown_first_create_is_not_judged() {
    // Client 1's first create may have been applied before zxid 20.
    let mut s = Script::new("barrier", 2);
    enter(&mut s, 0, 0, Some(10));
    enter(&mut s, 1, 0, None);
    read_ready(&mut s, 0, 0, 20);
    enter(&mut s, 1, 0, Some(30));
    assert!(s.report().holds());
}

#[test]
fn barrier_passes_by_listing_all_and_by_notification() {
    // Client 0 enters and lists only its own node (so waits for ready); client 1 enters,
    // lists both nodes and passes; client 0 passes when notified of ready. Client 0's
    // second listing follows a read, not its create: a leave listing, counted as a round
    // completed when it is empty.
    let mut s = Script::new("barrier", 2);
    enter(&mut s, 0, 0, Some(10));
    s.done(0, 0xb0, get_children("/b/r0"), 10, children(&["c0"]));
    enter(&mut s, 1, 0, Some(11));
    s.done(1, 0xb1, get_children("/b/r0"), 11, children(&["c0", "c1"]));
    s.watch(0, 0xb0, EventType::NodeCreated, "/b/r0/ready", 12);
    read_ready(&mut s, 1, 0, 12);
    s.done(0, 0xb0, get_children("/b/r0"), 20, children(&["ready"]));
    let r = s.report();
    assert!(r.holds(), "{r:?}");
    assert_eq!(r.count("barrier passes"), Some(3));
    assert_eq!(r.count("barrier rounds completed"), Some(1));
}

#[test]
fn barrier_a_notification_before_all_entered_is_a_violation() {
    // Client 0 waits for ready and is notified of it at 12, before client 1 entered at 15.
    let mut s = Script::new("barrier", 2);
    enter(&mut s, 0, 0, Some(10));
    s.done(0, 0xb0, get_children("/b/r0"), 10, children(&["c0"]));
    s.watch(0, 0xb0, EventType::NodeCreated, "/b/r0/ready", 12);
    enter(&mut s, 1, 0, Some(15));
    let found = findings(&s.report(), barrier::INVARIANT);
    assert!(
        found[0].contains("(it was notified of ready)"),
        "{}",
        found[0]
    );
}

// ---- queue-consumed-once, queue-consumer-order ----

/// Consumers take items: (client, item sequence number, zxid), acknowledged in order.
fn queue_run(takes: &[(u32, u64, Zxid)]) -> RecipeReport {
    let mut s = Script::new("queue", 6);
    let item = create("/q/item-", "p0-1", CreateMode::PersistentSequential);
    s.done(0, 0xc0, item, 5, created("/q/item-0000000001"));
    for &(c, seq, zxid) in takes {
        let path = format!("/q/item-{seq:010}");
        s.done(
            c,
            0xc0 + SessionId::from(c),
            delete(&path),
            zxid,
            Response::Empty,
        );
    }
    s.report()
}

#[test]
fn queue_an_item_consumed_twice_is_a_violation() {
    let r = queue_run(&[(1, 4, 10), (3, 4, 12)]);
    assert_eq!(violated(&r), [queue::ONCE]);
    let found = findings(&r, queue::ONCE);
    assert_eq!(
        found,
        [
            "/q/item-0000000004 was consumed twice: client 1's delete succeeded at zxid 0xa and \
          client 3's at zxid 0xc"
        ]
    );
}

#[test]
fn queue_a_consumer_taking_a_lower_item_later_is_a_violation() {
    let r = queue_run(&[(1, 7, 10), (1, 5, 12)]);
    assert_eq!(violated(&r), [queue::ORDER]);
    let found = findings(&r, queue::ORDER);
    assert!(
        found[0].contains("consumed /q/item-0000000005"),
        "{}",
        found[0]
    );
}

#[test]
fn queue_consumers_taking_in_order_hold() {
    let r = queue_run(&[(1, 1, 10), (3, 2, 11), (1, 3, 12)]);
    assert!(r.holds(), "{r:?}");
    assert_eq!(r.count("queue items produced"), Some(1));
    assert_eq!(r.count("queue items consumed"), Some(3));
}

// ---- sync-read-sees-announced-writes, session-reads-never-go-back ----

/// Client 2 writes /v at zxid 30, announced (completed) before or after client 1's sync;
/// client 1 then reads /v with mzxid 20 at zxid 25.
fn sync_run(announced_before_sync: bool, sync_answered: bool) -> RecipeReport {
    let mut s = Script::new("stale_read_sync", 3);
    let write = s.send(2, 0xd2, set_data("/v", "c2-1"));
    if announced_before_sync {
        s.ok(write, 30, set());
    }
    let synced_call = s.send(1, 0xd1, sync("/v"));
    let read = s.send(1, 0xd1, get_data("/v", false));
    if !announced_before_sync {
        s.ok(write, 30, set());
    }
    if sync_answered {
        s.ok(synced_call, 25, synced("/v"));
    } else {
        s.fail(synced_call, ErrorCode::SessionMoved, 0);
    }
    s.ok(read, 25, data("c1-1", stat(5, 20, 0)));
    s.report()
}

#[test]
fn stale_read_sync_a_synced_read_missing_an_announced_write_is_a_violation() {
    let r = sync_run(true, true);
    assert_eq!(violated(&r), [stale_read_sync::SYNC]);
    let found = findings(&r, stale_read_sync::SYNC);
    assert_eq!(
        found,
        [
            "client 1 read /v after a sync and saw mzxid 0x14 (reply zxid 0x19), but client 2 \
          had announced its write at zxid 0x1e before the sync was invoked"
        ]
    );
    assert_eq!(r.count("stale_read_sync sync reads checked"), Some(1));
}

#[test]
fn stale_read_sync_a_write_announced_after_the_sync_may_be_missed() {
    let r = sync_run(false, true);
    assert!(r.holds(), "{r:?}");
    assert_eq!(r.count("stale_read_sync writes announced"), Some(1));
}

#[test]
fn stale_read_sync_a_read_after_an_unanswered_sync_is_not_judged() {
    let r = sync_run(true, false);
    assert!(r.holds(), "{r:?}");
    assert_eq!(r.count("stale_read_sync sync reads checked"), Some(0));
}

#[test]
fn stale_read_sync_a_session_reading_back_in_time_is_a_violation() {
    // Client 1's session saw mzxid 40 and then reads mzxid 30; its next session (history
    // client 4 with 3 clients) may read older state again.
    let mut s = Script::new("stale_read_sync", 3);
    s.done(
        1,
        0xd1,
        get_data("/v", false),
        40,
        data("x", stat(5, 40, 0)),
    );
    s.done(
        1,
        0xd1,
        get_data("/v", false),
        35,
        data("y", stat(5, 30, 0)),
    );
    s.done(
        4,
        0xd4,
        get_data("/v", false),
        35,
        data("y", stat(5, 30, 0)),
    );
    let r = s.report();
    assert_eq!(violated(&r), [stale_read_sync::MONOTONIC]);
    let found = findings(&r, stale_read_sync::MONOTONIC);
    assert_eq!(
        found,
        [
            "client 1 read /v with mzxid 0x1e (reply zxid 0x23) in a session that had already \
          seen mzxid 0x28 (a read at zxid 0x28)"
        ]
    );
    assert_eq!(r.count("stale_read_sync reads checked"), Some(3));
}

// ---- session-ended-stays-silent, ephemeral-owner-live ----

/// Clients 1 (sessions 0x11, later 0x12) and 2 (session 0x21) of a session_expiry run.
fn expiry_script() -> Script {
    let mut s = Script::new("session_expiry", 3);
    s.connect(1, 0x11);
    s.connect(2, 0x21);
    s
}

/// Client 1 makes /e/c1 in session 0x11 at `zxid`.
fn make_ephemeral(s: &mut Script, zxid: Zxid) {
    let op = create("/e/c1", "c1", CreateMode::Ephemeral);
    s.done(1, 0x11, op, zxid, created("/e/c1"));
}

/// Client 2 reads /e/c1 (made at `czxid` by `owner`) at `at`.
fn read_e1(s: &mut Script, czxid: Zxid, owner: SessionId, at: Zxid) {
    let node = data("c1", stat(czxid, czxid, owner));
    s.done(2, 0x21, get_data("/e/c1", true), at, node);
}

#[test]
fn session_expiry_an_ephemeral_of_a_closed_session_read_later_is_a_violation() {
    // Session 0x11 closed, answered at zxid 20; client 2 still reads its /e/c1 at zxid 25.
    let mut s = expiry_script();
    make_ephemeral(&mut s, 10);
    s.session(1, 0x11, SessionEvent::Closed);
    read_e1(&mut s, 10, 0x11, 25);
    assert!(
        s.report().holds(),
        "without the close's reply nothing is known"
    );
    let judged = s.judged_with(Closes::default().with(0x11, 20), session_expiry::judge);
    let found = sentences(&judged.outcomes, session_expiry::OWNER);
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("had ended by zxid 0x14"), "{}", found[0]);
}

#[test]
fn session_expiry_an_owner_that_is_not_the_clients_session_is_a_violation() {
    let mut s = expiry_script();
    read_e1(&mut s, 10, 0x21, 12);
    let r = s.report();
    assert_eq!(violated(&r), [session_expiry::OWNER]);
    assert!(findings(&r, session_expiry::OWNER)[0].contains("not a session of client 1"));
}

#[test]
fn session_expiry_a_write_after_the_sessions_ephemeral_went_is_a_violation() {
    // Client 2 saw /e/c1 (session 0x11) deleted at zxid 30; 0x11 then wrote at 31.
    let mut s = expiry_script();
    make_ephemeral(&mut s, 10);
    read_e1(&mut s, 10, 0x11, 12);
    s.watch(2, 0x21, EventType::NodeDeleted, "/e/c1", 30);
    s.done(1, 0x11, set_data("/e-data/c1", "1"), 29, set());
    s.done(1, 0x11, set_data("/e-data/c1", "2"), 31, set());
    let r = s.report();
    assert_eq!(violated(&r), [session_expiry::SILENT]);
    let found = findings(&r, session_expiry::SILENT);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("succeeded at zxid 0x1f"), "{}", found[0]);
    assert_eq!(r.count("session_expiry ephemerals seen gone"), Some(1));
}

#[test]
fn session_expiry_a_reply_after_the_client_was_told_its_session_expired_is_a_violation() {
    let mut s = expiry_script();
    let late = s.send(1, 0x11, get_data("/e/c2", true));
    s.session(1, 0x11, SessionEvent::Expired);
    s.fail(late, ErrorCode::NoNode, 40);
    let r = s.report();
    assert_eq!(violated(&r), [session_expiry::SILENT]);
    let found = findings(&r, session_expiry::SILENT);
    assert_eq!(
        found,
        [
            "client 1 got a reply (NONODE at zxid 0x28) in session 0x11 after it was told the \
          session expired"
        ]
    );
    assert_eq!(r.count("session_expiry sessions expired"), Some(1));
}

#[test]
fn session_expiry_a_new_node_at_the_path_ends_the_old_owner() {
    // Client 1's second session made /e/c1 again at zxid 40: the first one had ended.
    let mut s = expiry_script();
    read_e1(&mut s, 10, 0x11, 12);
    s.connect(4, 0x12);
    let op = create("/e/c1", "c1", CreateMode::Ephemeral);
    s.done(4, 0x12, op, 40, created("/e/c1"));
    read_e1(&mut s, 10, 0x11, 41);
    let found = findings(&s.report(), session_expiry::OWNER);
    assert!(!found.is_empty());
    assert!(
        found[0].contains("was made again at zxid 0x28"),
        "{}",
        found[0]
    );
}

#[test]
fn session_expiry_expiry_then_a_new_session_holds() {
    let mut s = expiry_script();
    make_ephemeral(&mut s, 10);
    read_e1(&mut s, 10, 0x11, 12);
    s.done(1, 0x11, set_data("/e-data/c1", "1"), 15, set());
    s.session(1, 0x11, SessionEvent::Expired);
    let absent = s.send(2, 0x21, get_data("/e/c1", true));
    s.fail(absent, ErrorCode::NoNode, 20);
    s.connect(4, 0x12);
    let op = create("/e/c1", "c1", CreateMode::Ephemeral);
    s.done(4, 0x12, op, 40, created("/e/c1"));
    read_e1(&mut s, 40, 0x12, 45);
    s.done(4, 0x12, set_data("/e-data/c1", "2"), 50, set());
    let r = s.report();
    assert!(r.holds(), "{r:?}");
    assert_eq!(r.count("session_expiry ephemerals read"), Some(4));
    assert_eq!(r.count("session_expiry writes"), Some(2));
}
