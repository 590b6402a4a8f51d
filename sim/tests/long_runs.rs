//! A 3-server and a 5-server (plus an observer) ensemble each run a minute of simulated
//! time under every fault kind, record a history, and converge once the faults heal.

use std::collections::BTreeSet;

use zksim_checker::history::Event;
use zksim_scenarios::builtin;
use zksim_sim::{RunOptions, run};

fn run_scenario(name: &str) {
    let scenario = builtin(name).expect("built in");
    let report = run(
        &scenario,
        &RunOptions {
            seed: 1,
            ..RunOptions::default()
        },
    );
    assert!(report.liveness.is_ok(), "{name}: {:?}", report.liveness);
    assert!(
        report.sim_ms >= 60_000,
        "{name}: only {} ms simulated",
        report.sim_ms
    );
    let kinds: BTreeSet<String> = report
        .history
        .iter()
        .filter_map(|e| match e {
            Event::Fault { kind, .. } => Some(kind.clone()),
            _ => None,
        })
        .collect();
    for k in [
        "partition",
        "isolate_leader",
        "bridge",
        "one_way",
        "loss",
        "latency",
        "kill",
        "kill_leader",
        "kill_many",
        "pause",
        "disk_slow",
        "disk_corrupt",
        "torn_write",
    ] {
        assert!(
            kinds.contains(k),
            "{name}: fault kind {k} never happened: {kinds:?}"
        );
    }
    assert!(
        kinds.contains("clock_skew")
            || kinds.contains("clock_jump")
            || kinds.contains("clock_rate"),
        "{name}: no clock fault"
    );
    let invokes = report
        .history
        .iter()
        .filter(|e| matches!(e, Event::Invoke { .. }))
        .count();
    let txns = report
        .history
        .iter()
        .filter(|e| matches!(e, Event::Txn { .. }))
        .count();
    assert!(invokes > 10_000, "{name}: {invokes} operations");
    assert!(txns > 1_000, "{name}: {txns} committed txns");
    assert!(
        report.clients.protocol_violations.is_empty(),
        "{name}: {:?}",
        report.clients.protocol_violations
    );
}

#[test]
fn three_servers_for_a_minute_under_every_fault() {
    run_scenario("three");
}

#[test]
fn five_servers_and_an_observer_for_a_minute_under_every_fault() {
    run_scenario("five");
}
