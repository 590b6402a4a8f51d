//! Every claim docs/properties.md makes is shown to bite: a minimal edit of a real history
//! (one moved, dropped, duplicated or changed event) that breaks exactly that claim is
//! refused by exactly the property that makes it, and the history unedited holds.
//!
//! The histories are real: `fixtures/zksim/claims-seed25.jsonl`, a zksim run of
//! `fixtures/zksim/claims.json` (record it again with `cargo run --release -- run
//! --scenario checker/tests/fixtures/zksim/claims.json --seed 25 --history
//! checker/tests/fixtures/zksim/claims-seed25.jsonl`; the tests look for their edit sites,
//! so another recording serves as long as it has the same kinds of events), and the
//! recordings of a real ZooKeeper 3.8 ensemble in `fixtures/zk38-history/`.
//!
//! Each edit is tried at every site it fits, up to a few: each edited history must violate
//! the claim's property, and nothing but it and the properties the claim names as its
//! companions (an edit that breaks one guarantee may break another that depends on it:
//! copying an older reply makes a session go back in zxid, which FIFO order sees too).

// Every edit has one signature, `Edit`; some insert or remove events, so all take a Vec.
#![allow(clippy::ptr_arg)]

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};
use zksim_checker::history::parse;
use zksim_checker::{History, Options, check_all};

const ZKSIM: &str = "zksim/claims-seed25";
const ZK38: [&str; 3] = [
    "zk38-history/ensemble-seed1",
    "zk38-history/reconnects-seed2",
    "zk38-history/no-pauses-seed3",
];
/// The requests that write (each takes a zxid, whether it succeeds or fails).
const WRITES: [&str; 6] = ["Create", "Delete", "SetData", "SetAcl", "Check", "Multi"];
/// Sites tried per edit.
const SITES: usize = 4;

fn load(name: &str) -> Vec<Value> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The properties a history violates, or why it cannot be judged.
fn violated(events: &[Value]) -> Result<BTreeSet<String>, String> {
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    let events = parse(&text).map_err(|e| e.to_string())?;
    let h = History::new(&events).map_err(|e| e.to_string())?;
    let report = check_all(&h, Options::default());
    Ok(report.violated().map(|o| o.property.to_string()).collect())
}

fn kind(e: &Value) -> &str {
    e["type"].as_str().unwrap_or("")
}

fn reply(e: &Value) -> Option<&Value> {
    (kind(e) == "complete").then(|| e["outcome"].get("reply"))?
}

fn client(e: &Value) -> u64 {
    e["client"].as_u64().expect("a client")
}

/// Where the invoke of (client, xid) is.
fn invoke_of(events: &[Value], client: u64, xid: &Value) -> Option<usize> {
    events
        .iter()
        .position(|e| kind(e) == "invoke" && e["client"] == client && &e["xid"] == xid)
}

/// The request of the op a complete at `i` ends.
fn request_of(events: &[Value], i: usize) -> Option<&Value> {
    let at = invoke_of(events, client(&events[i]), &events[i]["xid"])?;
    Some(&events[at]["op"])
}

fn op_name(op: &Value) -> &str {
    op.as_object()
        .and_then(|o| o.keys().next())
        .map_or("", |k| k.as_str())
}

/// An edit at its `n`th site; `None` once there are no more sites.
type Edit = fn(&mut Vec<Value>, usize) -> Option<()>;

/// Apply `edit` at up to `SITES` sites of `fixture`, each on a fresh copy: every edited
/// history violates `property`, and only it and `companions`.
fn claim(fixture: &str, what: &str, property: &str, companions: &[&str], edit: Edit) {
    let base = load(fixture);
    assert_eq!(
        violated(&base),
        Ok(BTreeSet::new()),
        "{fixture}: the unedited history holds"
    );
    let allowed: BTreeSet<String> = std::iter::once(property)
        .chain(companions.iter().copied())
        .map(String::from)
        .collect();
    let mut tried = 0;
    for n in 0..SITES {
        let mut events = base.clone();
        if edit(&mut events, n).is_none() {
            break;
        }
        tried += 1;
        let got = violated(&events).unwrap_or_else(|e| panic!("{fixture}, {what}: {e}"));
        assert!(
            got.contains(property),
            "{fixture}, {what} (site {n}): {property} holds; violated: {got:?}"
        );
        assert!(
            got.is_subset(&allowed),
            "{fixture}, {what} (site {n}): more than {allowed:?} violated: {got:?}"
        );
    }
    assert!(tried > 0, "{fixture}: no site for {what}");
}

/// Move the event at `from` to stand just before the event now at `to` (`to > from`),
/// taking the time of the event before it there, so that times still never go back.
fn move_before(events: &mut Vec<Value>, from: usize, to: usize) {
    let mut e = events.remove(from);
    let at = to - 1;
    if let Some(t) = events[..at].iter().rev().find_map(|x| x["t"].as_u64()) {
        e["t"] = json!(t);
    }
    events.insert(at, e);
}

/// Move the event at `from` to stand at `to` (`to < from`), taking the time of the event
/// after it there.
fn move_back(events: &mut Vec<Value>, from: usize, to: usize) {
    let mut e = events.remove(from);
    if let Some(t) = events[to..].iter().find_map(|x| x["t"].as_u64()) {
        e["t"] = json!(t);
    }
    events.insert(to, e);
}

/// The `n`th position satisfying `pred`.
fn nth(events: &[Value], n: usize, pred: impl Fn(&[Value], usize) -> bool) -> Option<usize> {
    (0..events.len()).filter(|&i| pred(events, i)).nth(n)
}

/// The zxid a reply or a notification carries, if above 0.
fn seen_zxid(e: &Value) -> Option<i64> {
    let z = match kind(e) {
        "complete" => reply(e)?["zxid"].as_i64(),
        "watch" => e["zxid"].as_i64(),
        _ => None,
    };
    z.filter(|&z| z > 0)
}

fn ok_reply_of(events: &[Value], i: usize, name: &str) -> bool {
    reply(&events[i]).is_some_and(|r| r["err"] == "Ok")
        && request_of(events, i).is_some_and(|op| op_name(op) == name)
}

// ---- linearizable-writes ----

/// A create the service made is answered as if the node existed.
fn create_answered_node_exists(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let i = nth(events, n, |e, i| {
        ok_reply_of(e, i, "Create") && e[i]["outcome"]["reply"]["response"].is_object()
    })?;
    let r = &mut events[i]["outcome"]["reply"];
    r["err"] = json!("NodeExists");
    r["response"] = json!("Empty");
    Some(())
}

#[test]
fn a_write_answered_otherwise_than_it_was_made() {
    claim(
        ZKSIM,
        "create answered NodeExists",
        "linearizable-writes",
        &[],
        create_answered_node_exists,
    );
}

// ---- fifo-client-order ----

/// Two replies of one client, one after the other, swapped.
fn replies_swapped(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let i = nth(events, n, |e, i| {
        i + 1 < e.len()
            && reply(&e[i]).is_some()
            && reply(&e[i + 1]).is_some()
            && e[i]["client"] == e[i + 1]["client"]
            && e[i]["xid"].as_i64() > Some(0)
    })?;
    move_before(events, i, i + 2);
    Some(())
}

#[test]
fn replies_out_of_request_order() {
    // When the two carry different zxids, the session also goes back in zxid.
    claim(
        ZKSIM,
        "two replies swapped",
        "fifo-client-order",
        &["no-time-travel"],
        replies_swapped,
    );
    for fixture in ZK38 {
        claim(
            fixture,
            "two replies swapped",
            "fifo-client-order",
            &["no-time-travel"],
            replies_swapped,
        );
    }
}

// ---- no-time-travel ----

/// A read answered with an older read's whole reply (content and zxid) of the same path
/// and kind, by another client, older than what its session already saw.
fn read_answered_from_the_past(events: &mut Vec<Value>, n: usize) -> Option<()> {
    // Reads without a watch: one set on an older state would fire for changes the
    // session was never told of, which one-shot-watches sees too.
    let reads: Vec<usize> = (0..events.len())
        .filter(|&i| {
            ok_reply_of(events, i, "GetData")
                && request_of(events, i).is_some_and(|op| op["GetData"]["watch"] == false)
        })
        .collect();
    let mut found = 0;
    for (k, &i) in reads.iter().enumerate() {
        let path = request_of(events, i)?["GetData"]["path"].clone();
        let data = &events[i]["outcome"]["reply"]["response"]["GetData"];
        let zxid = events[i]["outcome"]["reply"]["zxid"].as_i64()?;
        // An older read of the path by another client, with other content.
        let older = reads[..k].iter().rev().find(|&&j| {
            events[j]["client"] != events[i]["client"]
                && request_of(events, j).is_some_and(|op| op["GetData"]["path"] == path)
                && events[j]["outcome"]["reply"]["response"]["GetData"]["data"] != data["data"]
                && events[j]["outcome"]["reply"]["zxid"].as_i64() < Some(zxid)
        });
        let Some(&j) = older else { continue };
        // The reading session saw a newer zxid before (its last reply before i).
        let c = client(&events[i]);
        let seen = events[..i]
            .iter()
            .filter(|e| reply(e).is_some() && client(e) == c)
            .filter_map(|e| e["outcome"]["reply"]["zxid"].as_i64())
            .max()?;
        if seen <= events[j]["outcome"]["reply"]["zxid"].as_i64()? {
            continue;
        }
        if found == n {
            events[i]["outcome"] = events[j]["outcome"].clone();
            return Some(());
        }
        found += 1;
    }
    None
}

#[test]
fn a_read_older_than_what_its_session_saw() {
    claim(
        ZKSIM,
        "a read answered with an older reply",
        "no-time-travel",
        // The session may also have been notified of a newer change on the connection.
        &["fifo-client-order", "watch-before-later-read"],
        read_answered_from_the_past,
    );
}

// ---- watch-before-later-read ----

/// A notification moved after the next reply of its client that reflects its change.
fn notification_after_the_read(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let mut found = 0;
    for i in 0..events.len() {
        if kind(&events[i]) != "watch" {
            continue;
        }
        let zxid = events[i]["zxid"].as_i64()?;
        let c = client(&events[i]);
        let later = (i + 1..events.len()).find(|&j| {
            kind(&events[j]) == "session" && client(&events[j]) == c
                || reply(&events[j]).is_some()
                    && client(&events[j]) == c
                    && events[j]["outcome"]["reply"]["zxid"].as_i64() >= Some(zxid)
        })?;
        if kind(&events[later]) == "session" {
            continue;
        }
        if found == n {
            move_before(events, i, later + 1);
            return Some(());
        }
        found += 1;
    }
    None
}

#[test]
fn a_reply_reflecting_a_change_before_its_notification() {
    claim(
        ZKSIM,
        "a notification after a later reply",
        "watch-before-later-read",
        &[],
        notification_after_the_read,
    );
    claim(
        ZK38[0],
        "a notification after a later reply",
        "watch-before-later-read",
        &[],
        notification_after_the_read,
    );
}

/// Two notifications on one connection, for changes at different zxids, swapped.
fn notifications_swapped(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let mut found = 0;
    for i in 0..events.len() {
        if kind(&events[i]) != "watch" {
            continue;
        }
        let c = client(&events[i]);
        let next = (i + 1..events.len()).find(|&j| {
            client_event(&events[j], c) && kind(&events[j]) != "watch"
                || kind(&events[j]) == "watch" && client(&events[j]) == c
        })?;
        if kind(&events[next]) != "watch" || events[next]["zxid"] == events[i]["zxid"] {
            continue;
        }
        if found == n {
            move_before(events, i, next + 1);
            return Some(());
        }
        found += 1;
    }
    None
}

/// Whether `e` is something `c` received or did (a reply, a session event, a request).
fn client_event(e: &Value, c: u64) -> bool {
    matches!(
        kind(e),
        "complete" | "session" | "invoke" | "close" | "ping"
    ) && client(e) == c
}

#[test]
fn notifications_out_of_update_order() {
    claim(
        ZKSIM,
        "two notifications swapped",
        "watch-before-later-read",
        &[],
        notifications_swapped,
    );
}

/// A SetWatches' reply moved ahead of the notifications DataTree.setWatches fires at once.
fn set_watches_reply_first(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let mut found = 0;
    for i in 0..events.len() {
        if !(kind(&events[i]) == "invoke" && events[i]["xid"] == -8) {
            continue;
        }
        let c = client(&events[i]);
        let end = (i + 1..events.len())
            .find(|&j| kind(&events[j]) == "complete" && client(&events[j]) == c)?;
        if events[end]["xid"] != -8 || reply(&events[end]).is_none() {
            continue;
        }
        let fired = (i + 1..end).any(|j| kind(&events[j]) == "watch" && client(&events[j]) == c);
        if !fired {
            continue;
        }
        if found == n {
            move_back(events, end, i + 1);
            return Some(());
        }
        found += 1;
    }
    None
}

#[test]
fn a_set_watches_answered_before_what_it_fires() {
    claim(
        ZK38[1],
        "SetWatches reply before its notifications",
        "watch-before-later-read",
        &[],
        set_watches_reply_first,
    );
}

// ---- reads-equal-state ----

/// A read's data changed.
fn read_data_changed(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let i = nth(events, n, |e, i| ok_reply_of(e, i, "GetData"))?;
    let data = &mut events[i]["outcome"]["reply"]["response"]["GetData"]["data"];
    let mut bytes = data.as_array()?.clone();
    bytes.push(json!(33));
    *data = Value::Array(bytes);
    Some(())
}

/// A child name in a GetChildren reply replaced by one that never existed.
fn child_invented(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let i = nth(events, n, |e, i| {
        ok_reply_of(e, i, "GetChildren")
            && e[i]["outcome"]["reply"]["response"]["GetChildren"]["children"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
    })?;
    let children = &mut events[i]["outcome"]["reply"]["response"]["GetChildren"]["children"];
    children[0] = json!("never-made");
    Some(())
}

#[test]
fn a_read_that_differs_from_the_state_it_names() {
    claim(
        ZKSIM,
        "a read's data changed",
        "reads-equal-state",
        &[],
        read_data_changed,
    );
    claim(
        ZKSIM,
        "a child invented",
        "reads-equal-state",
        &[],
        child_invented,
    );
    for fixture in ZK38 {
        claim(
            fixture,
            "a read's data changed",
            "reads-equal-state",
            &[],
            read_data_changed,
        );
    }
}

// Children are a set: any order is legal (a real ZooKeeper lists them in hash order).
#[test]
fn children_in_any_order_hold() {
    for fixture in std::iter::once(ZKSIM).chain(ZK38) {
        let mut events = load(fixture);
        let mut reversed = 0;
        for e in &mut events {
            if let Some(list) = e
                .pointer_mut("/outcome/reply/response/GetChildren/children")
                .and_then(Value::as_array_mut)
            {
                if list.len() > 1 {
                    list.reverse();
                    reversed += 1;
                }
            }
        }
        assert!(reversed > 0, "{fixture}: no child list to reorder");
        assert_eq!(violated(&events), Ok(BTreeSet::new()), "{fixture}");
    }
}

// ---- no-phantom-writes ----

/// A client txn's cxid changed to one its session never sent.
fn txn_nobody_asked_for(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let i = nth(events, n, |e, i| {
        kind(&e[i]) == "txn"
            && e[i]["session"].as_u64() != Some(0)
            && e[i]["txn"].get("SetData").is_some()
    })?;
    events[i]["cxid"] = json!(1_000_000);
    Some(())
}

#[test]
fn a_txn_no_client_asked_for() {
    // The write it was made for now has no txn: linearizable-writes misses it, and
    // acknowledged-writes-survive too when it was acknowledged.
    claim(
        ZKSIM,
        "a txn's cxid changed",
        "no-phantom-writes",
        &["linearizable-writes", "acknowledged-writes-survive"],
        txn_nobody_asked_for,
    );
}

// ---- ephemerals-live-with-session ----

/// A closeSession txn keeps one of its session's ephemerals (ZOOKEEPER-2355).
fn close_keeps_an_ephemeral(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let i = nth(events, n, |e, i| {
        kind(&e[i]) == "txn"
            && e[i]["txn"]["CloseSession"]["paths"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
    })?;
    let paths = events[i]["txn"]["CloseSession"]["paths"].as_array_mut()?;
    paths.remove(0);
    Some(())
}

/// An answered close's reply names another txn's zxid than its closeSession's.
fn close_answered_at_another_zxid(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let i = nth(events, n, |e, i| {
        kind(&e[i]) == "close"
            && (i + 1..e.len()).any(|j| {
                kind(&e[j]) == "complete"
                    && e[j]["client"] == e[i]["client"]
                    && e[j]["xid"] == e[i]["xid"]
                    && reply(&e[j]).is_some()
            })
    })?;
    let j = (i + 1..events.len()).find(|&j| {
        kind(&events[j]) == "complete"
            && events[j]["client"] == events[i]["client"]
            && events[j]["xid"] == events[i]["xid"]
    })?;
    let zxid = events[j]["outcome"]["reply"]["zxid"].as_i64()?;
    events[j]["outcome"]["reply"]["zxid"] = json!(zxid - 1);
    Some(())
}

#[test]
fn a_session_that_ended_keeps_nothing() {
    // The ephemeral left behind is also in the state later reads see.
    claim(
        ZKSIM,
        "a closeSession keeps an ephemeral",
        "ephemerals-live-with-session",
        &["reads-equal-state", "linearizable-writes"],
        close_keeps_an_ephemeral,
    );
    claim(
        ZKSIM,
        "a close answered at another zxid",
        "ephemerals-live-with-session",
        &[],
        close_answered_at_another_zxid,
    );
}

// ---- one-shot-watches ----

/// A notification delivered twice.
fn notification_twice(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let i = nth(events, n, |e, i| kind(&e[i]) == "watch")?;
    let copy = events[i].clone();
    events.insert(i + 1, copy);
    Some(())
}

/// A NodeDataChanged notification reported as NodeDeleted.
fn notification_of_the_wrong_type(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let i = nth(events, n, |e, i| {
        kind(&e[i]) == "watch" && e[i]["event_type"] == "NodeDataChanged"
    })?;
    events[i]["event_type"] = json!("NodeDeleted");
    Some(())
}

#[test]
fn a_watch_fires_once_and_for_its_change() {
    claim(
        ZKSIM,
        "a notification twice",
        "one-shot-watches",
        &[],
        notification_twice,
    );
    claim(
        ZKSIM,
        "NodeDataChanged as NodeDeleted",
        "one-shot-watches",
        &[],
        notification_of_the_wrong_type,
    );
}

// ---- replica-agreement ----

/// One replica skips a txn in the middle of what it applied.
fn replica_skips_a_txn(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let i = nth(events, n, |e, i| {
        kind(&e[i]) == "replica"
            && e[i]["segments"][0]["zxids"]
                .as_array()
                .is_some_and(|z| z.len() > 10)
    })?;
    let zxids = events[i]["segments"][0]["zxids"].as_array_mut()?;
    let mid = zxids.len() / 2;
    zxids.remove(mid);
    Some(())
}

#[test]
fn replicas_that_disagree() {
    claim(
        ZKSIM,
        "a replica skips a txn",
        "replica-agreement",
        &[],
        replica_skips_a_txn,
    );
}

// ---- progress ----

/// A client's last request, answered, left without its answer.
fn request_never_answered(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let i = nth(events, n, |e, i| {
        reply(&e[i]).is_some()
            && e[i]["xid"].as_i64() > Some(0)
            && !e[i + 1..]
                .iter()
                .any(|x| matches!(kind(x), "invoke" | "complete") && x["client"] == e[i]["client"])
    })?;
    events.remove(i);
    Some(())
}

/// A container left in place long after its last child went: its DeleteContainer applied
/// ten check intervals late.
fn container_reaped_late(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let live = events.iter().find(|e| kind(e) == "phase")?["t"].as_u64()?;
    let i = nth(events, n, |e, i| {
        kind(&e[i]) == "txn"
            && e[i]["txn"].get("DeleteContainer").is_some()
            && e[i]["applied_t"].as_u64() > Some(live)
    })?;
    let t = events[i]["applied_t"].as_u64()?;
    events[i]["applied_t"] = json!(t + 10_000_000);
    Some(())
}

/// The fixture with its first DeleteContainer of the liveness phase applied `delay_us`
/// later, and, when `late_ms` is given, a BUGGIFY late timer of that length reported
/// before it.
fn reaped_later(base: &[Value], delay_us: u64, late_ms: Option<u64>) -> Vec<Value> {
    let mut events = base.to_vec();
    let live = events
        .iter()
        .find(|e| kind(e) == "phase")
        .and_then(|e| e["t"].as_u64())
        .expect("a liveness phase");
    let i = events
        .iter()
        .position(|e| {
            kind(e) == "txn"
                && e["txn"].get("DeleteContainer").is_some()
                && e["applied_t"].as_u64() > Some(live)
        })
        .expect("a reaping in the liveness phase");
    let t = events[i]["applied_t"].as_u64().expect("applied_t");
    events[i]["applied_t"] = json!(t + delay_us);
    if let Some(ms) = late_ms {
        let at = events
            .iter()
            .position(|e| kind(e) == "phase")
            .expect("a liveness phase");
        let fault = json!({"type": "fault", "t": live, "kind": "buggify_late_timer",
            "detail": format!("S1 timer fires {ms} ms late")});
        events.insert(at + 1, fault);
    }
    events
}

/// A reaping delayed past the check interval is excused by a late timer the history
/// reports, by no more than that timer, and not without it.
#[test]
fn a_late_timer_excuses_a_late_reaping_by_its_length() {
    let base = load(ZKSIM);
    let refused = |events: &[Value]| {
        violated(events)
            .expect("a judged history")
            .contains("progress")
    };
    // The least delay (in 50 ms steps) that progress refuses with no late timer.
    let first = (1..=100)
        .map(|k| k * 50_000)
        .find(|d| refused(&reaped_later(&base, *d, None)))
        .expect("a reaping 5 s late is refused");
    assert!(!refused(&reaped_later(&base, first, Some(400))));
    assert!(!refused(&reaped_later(&base, first + 350_000, Some(400))));
    assert!(refused(&reaped_later(&base, first + 450_000, Some(400))));
}

/// `events` with a fault of `fault_kind` reported as the liveness phase begins, judged.
fn judged_with_fault(events: &[Value], fault_kind: &str, detail: &str) -> BTreeSet<String> {
    judged_with_faults(events, &[(fault_kind, detail)])
}

/// Likewise with several faults, in their order.
fn judged_with_faults(events: &[Value], faults: &[(&str, &str)]) -> BTreeSet<String> {
    let mut events = events.to_vec();
    let at = events
        .iter()
        .position(|e| kind(e) == "phase")
        .expect("a liveness phase");
    let t = events[at]["t"].as_u64().expect("t");
    for (i, (fault_kind, detail)) in faults.iter().enumerate() {
        events.insert(
            at + i,
            json!({"type": "fault", "t": t, "kind": fault_kind, "detail": detail}),
        );
    }
    violated(&events).expect("a judged history")
}

/// A slowed leader's clocks stay behind once they run at true time again, and so does the
/// TTL it judges by its wall clock: the fixture's TTL node, reaped ten seconds late in the
/// reign of S2, is refused; not once the history reports that a `slow_leader` fault slowed
/// S2 (here as the liveness phase begins), nor with a clock fault; but still when the
/// slowed leader was another server, or with another fault.
#[test]
fn a_slowed_leader_excuses_a_late_ttl_node_in_its_own_reign() {
    let late = reaped_later(&load(ZKSIM), 10_000_000, None);
    let refused = violated(&late).expect("a judged history");
    assert!(refused.contains("progress"), "{refused:?}");
    let excused = |k: &str, d: &str| !judged_with_fault(&late, k, d).contains("progress");
    assert!(excused("slow_leader", "leader S2 at 10%"));
    assert!(excused(
        "clock_rate",
        r#"{"kind":"clock_rate","server":2,"percent":10}"#
    ));
    assert!(!excused("slow_leader", "leader S3 at 10%"));
    assert!(!excused("slow_leader", "no leader to slow"));
    assert!(!excused("latency", r#"{"kind":"latency","extra_ms":5}"#));
    // The simulator sets a slowed leader's clocks back to the true rate as the liveness
    // phase begins, and records it as a clock fault: that moves no clock of its own.
    let restored = |server: u64, percent: u32| {
        let slow = format!("leader S{server} at 10%");
        let rate = format!(r#"{{"kind":"clock_rate","server":{server},"percent":{percent}}}"#);
        !judged_with_faults(&late, &[("slow_leader", &slow), ("clock_rate", &rate)])
            .contains("progress")
    };
    assert!(!restored(3, 100));
    assert!(restored(2, 100));
    assert!(restored(3, 50));
}

/// A session kept alive expired: the closes of the sessions that held on through the
/// liveness phase taken away, so that their closeSession txns read as expiries.
fn kept_alive_expired(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let live = events.iter().find(|e| kind(e) == "phase")?["t"].as_u64()?;
    let i = nth(events, n, |e, i| {
        kind(&e[i]) == "close" && e[i]["t"].as_u64() > Some(live + 2_000_000)
    })?;
    let (c, xid) = (events[i]["client"].clone(), events[i]["xid"].clone());
    events.retain(|e| {
        !(matches!(kind(e), "close" | "complete") && e["client"] == c && e["xid"] == xid)
    });
    Some(())
}

/// Likewise an expiry decided by a slowed leader: the fixture with a kept-alive session
/// expired (in epoch 2, which S2 leads) is refused, but not once a `slow_leader` fault
/// slowed S2; still when it slowed S3.
#[test]
fn a_slowed_leader_excuses_its_own_expiries() {
    let mut expired = load(ZKSIM);
    kept_alive_expired(&mut expired, 0).expect("a session held through the liveness phase");
    let with_slowed = |server: u64| {
        judged_with_fault(&expired, "slow_leader", &format!("leader S{server} at 10%"))
    };
    assert!(violated(&expired).expect("judged").contains("progress"));
    assert!(!with_slowed(2).contains("progress"));
    assert!(with_slowed(3).contains("progress"));
    let restored = judged_with_faults(
        &expired,
        &[
            ("slow_leader", "leader S3 at 10%"),
            (
                "clock_rate",
                r#"{"kind":"clock_rate","server":3,"percent":100}"#,
            ),
        ],
    );
    assert!(restored.contains("progress"), "{restored:?}");
    // An expiry in an epoch no recorded leader led is judged all the same: only a leader
    // known to be slowed is excused.
    let mut unled = expired.clone();
    unled.retain(|e| !(kind(e) == "role" && e["state"] == "Leading" && e["epoch"] == 2));
    let judged = judged_with_fault(&unled, "slow_leader", "leader S3 at 10%");
    assert!(judged.contains("progress"), "{judged:?}");
}

#[test]
fn what_the_fault_free_phase_owes() {
    claim(
        ZKSIM,
        "a request never answered",
        "progress",
        &[],
        request_never_answered,
    );
    claim(
        ZKSIM,
        "a container reaped late",
        "progress",
        &[],
        container_reaped_late,
    );
    claim(
        ZKSIM,
        "a session kept alive expired",
        "progress",
        &[],
        kept_alive_expired,
    );
}

// ---- no-time-travel: a server with no database ----

/// A read answered by a server with no database loaded (zxid 0, no node) after its session
/// had seen the node: tagged 0, the reply is not the client's last zxid, yet it is older
/// than anything the session saw.
fn read_answered_from_an_empty_database(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let i = nth(events, n, |e, i| {
        ok_reply_of(e, i, "GetData")
            && request_of(e, i).is_some_and(|op| op["GetData"]["watch"] == false)
            && e[..i].iter().any(|x| {
                reply(x).is_some_and(|r| r["zxid"].as_i64() > Some(0)) && client(x) == client(&e[i])
            })
    })?;
    let r = &mut events[i]["outcome"]["reply"];
    r["err"] = json!("NoNode");
    r["zxid"] = json!(0);
    r["response"] = json!("Empty");
    Some(())
}

#[test]
fn a_read_from_a_server_with_no_database() {
    claim(
        ZKSIM,
        "a read answered with zxid 0",
        "no-time-travel",
        // After a sync of the session, the read also misses what the sync promised; after
        // a notification on the connection, the connection goes back.
        &["read-after-sync", "watch-before-later-read"],
        read_answered_from_an_empty_database,
    );
}

// ---- read-after-sync ----

/// A sync answered at the zxid its session had already seen, below the newest write
/// acknowledged before it was invoked (so the session does not go back in zxid).
fn sync_answered_behind_an_acknowledged_write(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let mut found = 0;
    for i in 0..events.len() {
        if !ok_reply_of(events, i, "Sync") {
            continue;
        }
        let c = client(&events[i]);
        let Some(at) = invoke_of(events, c, &events[i]["xid"]) else {
            continue;
        };
        let acked = events[..at]
            .iter()
            .filter(|e| reply(e).is_some())
            .filter(|e| {
                let op = invoke_of(events, client(e), &e["xid"]).map(|j| &events[j]["op"]);
                op.is_some_and(|op| WRITES.contains(&op_name(op)))
            })
            .filter_map(|e| e["outcome"]["reply"]["zxid"].as_i64())
            .max();
        let Some(acked) = acked else { continue };
        // What the client heard before the reply, notifications included.
        let seen = events[..i]
            .iter()
            .filter(|e| e["client"] == c)
            .filter_map(seen_zxid)
            .max()
            .unwrap_or(0);
        if seen == 0 || seen >= acked {
            continue;
        }
        if found == n {
            events[i]["outcome"]["reply"]["zxid"] = json!(seen);
            return Some(());
        }
        found += 1;
    }
    None
}

#[test]
fn a_sync_that_misses_an_acknowledged_write() {
    claim(
        ZKSIM,
        "a sync answered behind an acknowledged write",
        "read-after-sync",
        &[],
        sync_answered_behind_an_acknowledged_write,
    );
}

// ---- acknowledged-writes-survive ----

/// A write acknowledged at a zxid other than its txn's: the reply names the next txn's
/// zxid, as if the leader had answered from another proposal (what the client hears next is
/// no older, so its connection does not go back).
fn write_acknowledged_at_another_zxid(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let zxids: BTreeSet<i64> = events
        .iter()
        .filter(|e| kind(e) == "txn")
        .filter_map(|e| e["zxid"].as_i64())
        .collect();
    let mut found = 0;
    for i in 0..events.len() {
        let write = reply(&events[i]).is_some_and(|r| r["zxid"].as_i64() > Some(0))
            && request_of(events, i).is_some_and(|op| {
                // Sequential names are judged in the zxid order their replies give.
                WRITES.contains(&op_name(op)) && !op.to_string().contains("Sequential")
            });
        if !write {
            continue;
        }
        let z = events[i]["outcome"]["reply"]["zxid"].as_i64()?;
        let c = client(&events[i]);
        let next = events[i + 1..]
            .iter()
            .filter(|e| e["client"] == c)
            .find_map(seen_zxid);
        // Nor is it told of the change at z + 1 after a reply that now reflects it.
        let told_later = events[i + 1..]
            .iter()
            .any(|e| kind(e) == "watch" && e["client"] == c && e["zxid"].as_i64() == Some(z + 1));
        if !zxids.contains(&(z + 1)) || next.is_some_and(|next| next <= z) || told_later {
            continue;
        }
        if found == n {
            events[i]["outcome"]["reply"]["zxid"] = json!(z + 1);
            return Some(());
        }
        found += 1;
    }
    None
}

#[test]
fn a_write_acknowledged_at_another_zxid() {
    for fixture in std::iter::once(ZKSIM).chain(ZK38) {
        claim(
            fixture,
            "a write acknowledged at another zxid",
            "acknowledged-writes-survive",
            // The zxid order of the writes no longer explains the replies either.
            &["linearizable-writes"],
            write_acknowledged_at_another_zxid,
        );
    }
}

// ---- sequential-names ----

/// A sequential create told the name the previous sequential create of the same path got.
fn sequential_name_given_twice(events: &mut Vec<Value>, n: usize) -> Option<()> {
    let named: Vec<usize> = (0..events.len())
        .filter(|&i| {
            ok_reply_of(events, i, "Create")
                && request_of(events, i).is_some_and(|op| {
                    op["Create"]["mode"]
                        .as_str()
                        .is_some_and(|m| m.ends_with("Sequential"))
                })
        })
        .collect();
    let path = |events: &[Value], i: usize| -> Option<String> {
        let p = events[i]["outcome"]["reply"]["response"]["Create"]["path"].as_str()?;
        Some(p.to_string())
    };
    // The requested path: the name without its ten digits.
    let prefix = |p: &str| p[..p.len().saturating_sub(10)].to_string();
    let mut found = 0;
    for (k, &i) in named.iter().enumerate() {
        let Some(me) = path(events, i) else { continue };
        let before = named[..k].iter().rev().find_map(|&j| {
            let p = path(events, j)?;
            (prefix(&p) == prefix(&me)).then_some(p)
        });
        let Some(before) = before else { continue };
        if found == n {
            events[i]["outcome"]["reply"]["response"]["Create"]["path"] = json!(before);
            return Some(());
        }
        found += 1;
    }
    None
}

#[test]
fn a_sequential_name_given_twice() {
    claim(
        ZKSIM,
        "a sequential name given twice",
        "sequential-names",
        // The reply no longer names its own txn's path.
        &["linearizable-writes"],
        sequential_name_given_twice,
    );
}
