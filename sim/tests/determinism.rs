//! The same seed gives a byte-identical trace: every run's trace hash is compared with a
//! second run of the same seed, for 20 seeds; and madsim's own determinism check (which
//! logs every random draw of the runtime and compares two runs) passes.

use zksim_scenarios::{Scenario, builtin};
use zksim_sim::{RunOptions, TraceMode, run, simulate};

/// The default scenario with a shorter safety phase, to keep the test quick.
fn short() -> Scenario {
    let mut s = builtin("default").expect("default");
    s.safety_ms = 6_000;
    s
}

#[test]
fn twenty_seeds_give_the_same_trace_twice() {
    let scenario = short();
    let mut distinct = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let options = RunOptions {
            seed,
            trace: TraceMode::Hash,
            ..RunOptions::default()
        };
        let a = run(&scenario, &options);
        let b = run(&scenario, &options);
        assert!(
            a.trace_count > 1_000,
            "seed {seed}: the trace has {} lines",
            a.trace_count
        );
        assert_eq!(a.trace_hash, b.trace_hash, "seed {seed}: two runs differ");
        assert_eq!(a.history, b.history, "seed {seed}: two histories differ");
        assert!(a.liveness.is_ok(), "seed {seed}: {:?}", a.liveness);
        distinct.insert(a.trace_hash);
    }
    // Different seeds give different runs.
    assert_eq!(distinct.len(), 20);
}

#[test]
fn madsim_determinism_check_passes() {
    // madsim::runtime::Runtime::check_determinism runs the future twice with the same seed,
    // logging every draw of madsim's random source, and panics at the first difference.
    madsim::runtime::Runtime::check_determinism(11, madsim::Config::default(), || async {
        let mut scenario = builtin("default").expect("default");
        scenario.safety_ms = 4_000;
        let report = simulate(
            scenario,
            RunOptions {
                seed: 11,
                ..RunOptions::default()
            },
        )
        .await;
        assert!(report.liveness.is_ok(), "{:?}", report.liveness);
    });
}

/// The same check through madsim's test harness: run with
/// `MADSIM_TEST_CHECK_DETERMINISM=1 MADSIM_TEST_SEED=<seed>`, it runs twice and compares.
/// The harness picks a fresh seed on every plain run, so this run injects no faults: it
/// must pass for any seed.
#[madsim::test]
async fn madsim_test_harness_run() {
    let mut scenario = builtin("default").expect("default");
    scenario.safety_ms = 3_000;
    scenario.faults.mean_interval_ms = 0;
    let seed = madsim::runtime::Handle::current().seed();
    let report = simulate(
        scenario,
        RunOptions {
            seed,
            ..RunOptions::default()
        },
    )
    .await;
    assert!(
        report.liveness.is_ok(),
        "seed {seed}: {:?}",
        report.liveness
    );
}
