//! A default-scenario run converges and records a history.

use zksim_scenarios::builtin;
use zksim_sim::{RunOptions, TraceMode, run};

#[test]
fn a_default_run_converges() {
    let scenario = builtin("default").expect("default");
    let report = run(
        &scenario,
        &RunOptions {
            seed: 1,
            trace: TraceMode::Hash,
            ..RunOptions::default()
        },
    );
    println!(
        "liveness {:?} converged after {:?} ms, sim {} ms, wall {:?}",
        report.liveness, report.converged_after_ms, report.sim_ms, report.wall
    );
    println!("stats {:?} clients {:?}", report.stats, report.clients);
    println!(
        "history {} events, trace {} lines hash {:x?}",
        report.history.len(),
        report.trace_count,
        report.trace_hash
    );
    assert!(report.liveness.is_ok(), "{:?}", report.liveness);
}
