//! The shape of the clients' load: quiet spells without writes, and switching clients that
//! go to the least loaded server.

mod common;

use std::collections::BTreeMap;

use common::trace_of;
use zksim_scenarios::{Fault, FaultPlan, PlannedFault, builtin};

/// (time in µs, client, operation) of every request a client invoked.
fn invokes(lines: &[String]) -> Vec<(u64, String, String)> {
    lines
        .iter()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let t: u64 = w.next()?.parse().ok()?;
            let client = w.next()?.to_string();
            (client.starts_with('C') && w.next()? == "invoke").then(|| {
                w.next();
                (t, client, w.next().unwrap_or("").to_string())
            })
        })
        .collect()
}

fn is_write(op: &str) -> bool {
    matches!(op, "create" | "delete" | "set_data" | "multi")
}

#[test]
fn nobody_writes_in_a_quiet_spell_and_everyone_reads_after_a_sync() {
    let mut scenario = builtin("default").expect("default");
    scenario.safety_ms = 4_000;
    scenario.plan = Some(FaultPlan::default());
    scenario.workload.quiet_every_ms = 300;
    scenario.workload.quiet_ms = 100;
    let ops = invokes(&trace_of(&scenario, 7));
    // A request proposed just before a spell may be submitted in its first milliseconds
    // (the second of a pair, once the pipeline has room).
    let quiet = |t: u64| (t / 1_000) % 300 >= 220;
    let in_spell: Vec<_> = ops.iter().filter(|(t, ..)| quiet(*t)).collect();
    let writes_in_spell: Vec<_> = in_spell.iter().filter(|(.., op)| is_write(op)).collect();
    assert!(
        writes_in_spell.is_empty(),
        "writes in a quiet spell: {:?}",
        &writes_in_spell[..writes_in_spell.len().min(5)]
    );
    assert!(
        in_spell.iter().filter(|(.., op)| op == "sync").count() > 20,
        "quiet spells read after a sync"
    );
    assert!(
        ops.iter()
            .filter(|(t, _, op)| !quiet(*t) && is_write(op))
            .count()
            > 100,
        "writes go on between the spells"
    );
}

/// A switching client's move: when it left, where it had a session again, and whether
/// that server then held the fewest sessions of those it did not leave (counted from the
/// trace).
#[derive(Debug)]
struct Move {
    left_us: u64,
    server: String,
    fewest: bool,
}

/// S3 is killed at 1 s and restarted at 2.5 s; the first `count` moves of switching clients
/// that reconnect after S3 serves again, and when it did.
fn moves_after_restart(least_loaded: bool, switch_percent: u32, count: usize) -> (Vec<Move>, u64) {
    let mut scenario = builtin("default").expect("default");
    scenario.safety_ms = 5_000;
    scenario.clients = 9;
    scenario.workload.switch_percent = switch_percent;
    scenario.workload.switch_to_least_loaded = least_loaded;
    scenario.plan = Some(FaultPlan {
        faults: vec![
            PlannedFault {
                at_ms: 1_000,
                fault: Fault::Kill { server: 3 },
            },
            PlannedFault {
                at_ms: 2_500,
                fault: Fault::Restart { server: 3 },
            },
        ],
    });
    let lines = trace_of(&scenario, 11);
    let serving = lines
        .iter()
        .find(|l| l.contains("S3 FOLLOWING") && time_of(l) > 2_500_000)
        .map(|l| time_of(l))
        .expect("S3 rejoins");
    // Each client's server while it has a session there, and when each switching client
    // left which server.
    let mut on: BTreeMap<String, String> = BTreeMap::new();
    let mut left: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut moves = Vec::new();
    for l in &lines {
        let mut words = l.split_whitespace().skip(1);
        let (Some(client), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        if !client.starts_with('C') {
            continue;
        }
        if what == "switch" {
            let from = on.get(client).cloned().unwrap_or_default();
            left.insert(client.to_string(), (time_of(l), from));
        }
        if what != "session" {
            continue;
        }
        let Some(server) = l
            .split("Connected { server: ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
        else {
            on.remove(client);
            continue;
        };
        if let Some((left_us, from)) = left.remove(client) {
            let load = |s: &str| on.values().filter(|v| *v == s).count();
            let fewest = ["1", "2", "3"]
                .into_iter()
                .filter(|s| *s != from)
                .map(load)
                .min()
                .expect("servers");
            if time_of(l) > serving {
                moves.push(Move {
                    left_us,
                    server: server.to_string(),
                    fewest: load(server) == fewest,
                });
            }
        }
        on.insert(client.to_string(), server.to_string());
        if moves.len() == count {
            break;
        }
    }
    assert!(!moves.is_empty(), "clients switch after S3 is back");
    (moves, serving)
}

fn time_of(line: &str) -> u64 {
    line.split_whitespace()
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_switching_client_goes_to_the_server_with_the_fewest_connections() {
    // S3 comes back with none, and the other two share nine clients: the next switching
    // clients go to whichever server holds the fewest sessions, S3 first.
    let (balanced, _) = moves_after_restart(true, 2, 3);
    assert!(
        balanced.iter().all(|m| m.fewest),
        "a switching client went to a busier server: {balanced:?}"
    );
    assert_eq!(balanced[0].server, "3", "{balanced:?}");
    // Following their host lists, they do not.
    let (plain, _) = moves_after_restart(false, 2, 3);
    assert!(
        plain.iter().any(|m| !m.fewest),
        "without balancing: {plain:?}"
    );
}

#[test]
fn the_balancer_answers_when_the_client_reconnects() {
    // Clients that left their servers before S3 served again, and reconnect once it does,
    // go to S3 too: the balancer looks at the load when the client connects (S3 has few
    // sessions), not when it left (S3 served none then).
    let (moves, serving) = moves_after_restart(true, 20, 40);
    let across: Vec<&Move> = moves.iter().filter(|m| m.left_us < serving).collect();
    assert!(
        !across.is_empty(),
        "no client was away while S3 came back: {moves:?}"
    );
    assert!(across.iter().any(|m| m.server == "3"), "{across:?}");
}
