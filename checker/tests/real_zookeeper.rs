//! Histories recorded from a real Apache ZooKeeper 3.8 ensemble hold every property: the
//! checker does not flag what ZooKeeper legally does. The fixtures in
//! `fixtures/zk38-history/` were written by `tools/zk-reference/history.py` (three servers,
//! concurrent sessions that reconnect and re-register their watches, a follower paused now
//! and then; the ground truth read from the servers' own transaction logs); their README
//! says how, and how to record them again.
//!
//! The second test pins what makes them worth having, so that a re-recording keeps it:
//! children listed in ZooKeeper's hash order, stale reads from a follower, SetWatches after
//! reconnects (some firing at once), notifications, and writes whose outcome is unknown.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use zksim_checker::history::{Event, Outcome, SET_WATCHES_XID, parse};
use zksim_checker::{History, Options, check_all, report};
use zksim_core::request::{Request, Response};

const FIXTURES: [&str; 3] = ["ensemble-seed1", "reconnects-seed2", "no-pauses-seed3"];

fn load(name: &str) -> (String, Vec<Event>) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/zk38-history")
        .join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let events = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    (file.display().to_string(), events)
}

// Every property holds on every recording of the real ZooKeeper.
#[test]
fn recorded_zookeeper_histories_hold_every_property() {
    for name in FIXTURES {
        let (file, events) = load(name);
        let h = History::new(&events).unwrap_or_else(|e| panic!("{file}: {e}"));
        let verdict = check_all(&h, Options::default());
        assert!(
            verdict.holds(),
            "{}",
            report::render(&h, &verdict, None, &file)
        );
    }
}

/// What one recording exercises.
#[derive(Debug, Default)]
struct Exercised {
    children_unsorted: usize,
    stale_reads: usize,
    set_watches: usize,
    notifications: usize,
    fired_by_set_watches: usize,
    unknown_outcomes: usize,
}

fn exercised(events: &[Event]) -> Exercised {
    let mut out = Exercised::default();
    // The request each (client, xid) in flight carries, and the largest write zxid any
    // client had seen acknowledged when it was sent.
    let mut in_flight: HashMap<(u32, i32), (&Request, i64)> = HashMap::new();
    let mut acknowledged = 0;
    // Clients whose SetWatches awaits its reply.
    let mut set_watches_open: HashSet<u32> = HashSet::new();
    for event in events {
        match event {
            Event::Invoke {
                client, xid, op, ..
            } => {
                in_flight.insert((*client, *xid), (op, acknowledged));
                if *xid == SET_WATCHES_XID {
                    out.set_watches += 1;
                    set_watches_open.insert(*client);
                }
            }
            Event::Watch { client, zxid, .. } => {
                assert!(*zxid > 0, "every notification's zxid was inferred");
                out.notifications += 1;
                if set_watches_open.contains(client) {
                    out.fired_by_set_watches += 1;
                }
            }
            Event::Complete {
                client,
                xid,
                outcome,
                ..
            } => {
                if *xid == SET_WATCHES_XID {
                    set_watches_open.remove(client);
                }
                let Some((request, seen)) = in_flight.remove(&(*client, *xid)) else {
                    continue;
                };
                let reply = match outcome {
                    Outcome::Reply(reply) => reply,
                    Outcome::Unknown { .. } => {
                        out.unknown_outcomes += 1;
                        continue;
                    }
                };
                if request.is_write() {
                    acknowledged = acknowledged.max(reply.zxid);
                } else if is_plain_read(request) && reply.zxid < seen {
                    out.stale_reads += 1;
                }
                if let Response::GetChildren { children, .. } = &reply.response {
                    if !children.is_sorted() {
                        out.children_unsorted += 1;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn is_plain_read(request: &Request) -> bool {
    matches!(
        request,
        Request::Exists { .. } | Request::GetData { .. } | Request::GetChildren { .. }
    )
}

// Each recording lists children in ZooKeeper's hash order, has follower reads older than
// writes already acknowledged to others, reconnects with SetWatches (some of which fire at
// once), notifications, and writes whose outcome only the ground truth settles; and its
// ground truth came from the three servers' logs.
#[test]
fn recorded_histories_exercise_legal_zookeeper_behaviour() {
    for name in FIXTURES {
        let (file, events) = load(name);
        let seen = exercised(&events);
        assert!(seen.children_unsorted > 0, "{file}: {seen:?}");
        assert!(seen.stale_reads > 0, "{file}: {seen:?}");
        assert!(seen.set_watches > 0, "{file}: {seen:?}");
        assert!(seen.notifications > 0, "{file}: {seen:?}");
        assert!(seen.fired_by_set_watches > 0, "{file}: {seen:?}");
        assert!(seen.unknown_outcomes > 0, "{file}: {seen:?}");
        let replicas = events
            .iter()
            .filter(|e| matches!(e, Event::Replica { .. }))
            .count();
        assert_eq!(replicas, 3, "{file}: one replica line per server");
    }
}
