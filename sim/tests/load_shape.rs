//! The shape of the clients' load: quiet spells without writes, and switching clients that
//! go to the least loaded server.

mod common;

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

/// After S3 restarts with no client, the servers the switching clients connect to.
fn connects_after_restart(least_loaded: bool) -> (usize, usize) {
    let mut scenario = builtin("default").expect("default");
    scenario.safety_ms = 5_000;
    scenario.clients = 9;
    scenario.workload.switch_percent = 2;
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
    let back = lines
        .iter()
        .position(|l| l.contains("-> S3 UPTODATE") && time_of(l) > 2_500_000)
        .expect("S3 rejoins");
    // The server each of the next 3 switches lands on.
    let mut servers: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate().skip(back) {
        let Some(client) = l
            .strip_suffix(" switch")
            .and_then(|l| l.split_whitespace().nth(1))
        else {
            continue;
        };
        let to = lines[i..]
            .iter()
            .find_map(|l| {
                l.split_whitespace().nth(1).filter(|c| *c == client)?;
                l.split("Connected { server: ").nth(1)
            })
            .and_then(|rest| rest.split(',').next());
        servers.extend(to.map(str::to_string));
        if servers.len() == 3 {
            break;
        }
    }
    assert!(!servers.is_empty(), "clients switch after S3 is back");
    let to_s3 = servers.iter().filter(|s| *s == "3").count();
    (to_s3, servers.len() - to_s3)
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
    // clients all go there.
    let (to_s3, elsewhere) = connects_after_restart(true);
    assert!(
        (to_s3, elsewhere) == (3, 0),
        "{to_s3} of the first connections went to the empty server, {elsewhere} elsewhere"
    );
    // Following their host lists, they spread over all three.
    let (plain_to_s3, _) = connects_after_restart(false);
    assert!(
        plain_to_s3 < to_s3,
        "{plain_to_s3} without balancing, {to_s3} with"
    );
}
