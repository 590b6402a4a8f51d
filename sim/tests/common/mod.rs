//! Helpers shared by the simulator's integration tests.

use zksim_scenarios::Scenario;
use zksim_sim::{RunOptions, TraceMode, run};

/// Run `scenario` (which must be valid) from `seed` and return its trace lines; the run
/// must converge in its liveness phase.
pub fn trace_of(scenario: &Scenario, seed: u64) -> Vec<String> {
    scenario.validate().expect("a valid scenario");
    let report = run(
        scenario,
        &RunOptions {
            seed,
            trace: TraceMode::Keep,
            ..RunOptions::default()
        },
    );
    assert!(report.liveness.is_ok(), "{:?}", report.liveness);
    report.trace_lines
}
