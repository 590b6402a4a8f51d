//! The run's budget: a run past its budget of simulated events stops with the reason, at
//! the same event every time; a passing run stays far below the default budget.

use zksim_scenarios::{MAX_EVENTS_DEFAULT, MEMORY_MB_DEFAULT, builtin};
use zksim_sim::{RunOptions, TraceMode, run};

// The same seed stops at the same event, with the same history and trace: the budget is
// counted in simulated events, never in wall time.
#[test]
fn a_spent_budget_stops_the_run_deterministically() {
    let mut scenario = builtin("default").expect("default");
    scenario.max_events = Some(20_000);
    let options = RunOptions {
        seed: 3,
        trace: TraceMode::Hash,
        ..RunOptions::default()
    };
    let a = run(&scenario, &options);
    let b = run(&scenario, &options);
    let reason = a.budget_exceeded.clone().expect("the budget ran out");
    assert!(
        reason.starts_with("run budget exceeded after 2000"),
        "{reason}"
    );
    assert!(reason.contains("still busy: S"), "{reason}");
    assert!(a.events > 20_000);
    assert!(a.converged_after_ms.is_none());
    assert_eq!(a.budget_exceeded, b.budget_exceeded);
    assert_eq!(a.events, b.events);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.history, b.history);
}

// A passing run of the default scenario takes a small share of either budget.
#[test]
fn a_passing_run_stays_far_below_the_default_budget() {
    let scenario = builtin("default").expect("default");
    let r = run(
        &scenario,
        &RunOptions {
            seed: 1,
            ..RunOptions::default()
        },
    );
    assert!(r.budget_exceeded.is_none());
    assert!(r.liveness.is_ok(), "{:?}", r.liveness);
    assert!(r.events < MAX_EVENTS_DEFAULT / 20, "{} events", r.events);
    assert!(
        r.held_bytes < (MEMORY_MB_DEFAULT << 20) / 10,
        "{} bytes",
        r.held_bytes
    );
}
