//! The recipe scenarios (docs/recipes.md): each runs a few seeds that pass every property of
//! the checker, the recipe's own invariants and liveness, having exercised its invariants;
//! and where a bug knob breaks a recipe's invariant, a pinned seed shows the checker
//! reporting it from the run's history. (Each invariant on hand-built histories that break
//! it and keep it is in checker/tests/recipes.rs.)

use zksim_checker::props::Verdict;
use zksim_checker::recipes::{self, RecipeReport};
use zksim_checker::{History, Options, check_all};
use zksim_core::server::Bugs;
use zksim_scenarios::builtin;
use zksim_sim::{RunOptions, RunReport, run};

fn run_recipe(name: &str, seed: u64, bug: Option<&str>) -> RunReport {
    let scenario = builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        scenario.recipe.as_deref(),
        Some(name),
        "the scenario runs its recipe"
    );
    let bugs = match bug {
        Some(b) => Bugs::default().with(b).expect("a known bug"),
        None => Bugs::default(),
    };
    run(
        &scenario,
        &RunOptions {
            seed,
            bugs,
            ..RunOptions::default()
        },
    )
}

/// The checker's verdict on the run's recipe, from its history.
fn judge_recipe(report: &RunReport, at: &str) -> RecipeReport {
    let history = History::new(&report.history).expect("a well-formed history");
    recipes::check(&history)
        .unwrap_or_else(|e| panic!("{at}: {e}"))
        .unwrap_or_else(|| panic!("{at}: the history names no recipe"))
}

/// The run passed everything, and each named count is at least its minimum.
fn assert_passes(name: &str, seed: u64, minimums: &[(&str, u64)]) {
    let report = run_recipe(name, seed, None);
    let at = format!("{name} seed {seed}");
    let recipe = judge_recipe(&report, &at);
    println!("{at}: {:?}", recipe.counts);
    assert!(report.liveness.is_ok(), "{at}: {:?}", report.liveness);
    assert!(
        report.clients.protocol_violations.is_empty(),
        "{at}: {:?}",
        report.clients.protocol_violations
    );
    assert!(recipe.holds(), "{at}: {:?}", recipe.outcomes);
    let history = History::new(&report.history).expect("a well-formed history");
    for outcome in check_all(&history, Options::default()).outcomes {
        assert!(
            !matches!(outcome.verdict, Verdict::Violated { .. }),
            "{at}: {} violated: {:?}",
            outcome.property,
            outcome.verdict
        );
    }
    for (what, minimum) in minimums {
        let n = recipe
            .count(what)
            .unwrap_or_else(|| panic!("{at}: no count {what:?} in {:?}", recipe.counts));
        assert!(
            n >= *minimum,
            "{at}: {what} = {n}, expected at least {minimum}"
        );
    }
}

/// The checker reports `invariant` broken in the run's history.
fn assert_reports(name: &str, seed: u64, bug: &str, invariant: &str) {
    let report = run_recipe(name, seed, Some(bug));
    let at = format!("{name} seed {seed} with {bug}");
    let recipe = judge_recipe(&report, &at);
    let violated: Vec<&str> = recipe.violated().map(|o| o.invariant).collect();
    assert!(
        violated.contains(&invariant),
        "{at}: {invariant} not reported; reported {violated:?}"
    );
}

#[test]
fn config_readers_never_see_a_mix_of_versions() {
    for seed in [0, 1, 2] {
        assert_passes(
            "config",
            seed,
            &[
                ("config versions written", 50),
                ("config reads checked", 500),
            ],
        );
    }
}

#[test]
fn counter_ends_between_acknowledged_and_acknowledged_plus_unknown() {
    for seed in [0, 1, 2] {
        assert_passes(
            "counter",
            seed,
            &[
                ("counter increments acknowledged", 100),
                ("counter final reads", 1),
            ],
        );
    }
}

#[test]
fn election_has_one_master_at_a_time_in_zxid_order() {
    for seed in [0, 1, 2] {
        assert_passes(
            "election",
            seed,
            &[
                ("election masters elected", 5),
                ("election reads of /master", 20),
                ("election deletions seen", 5),
            ],
        );
    }
}

#[test]
fn lock_holders_are_mutually_exclusive_in_zxid_order() {
    for seed in [0, 1, 2] {
        assert_passes(
            "lock",
            seed,
            &[
                ("lock acquisitions", 20),
                ("lock writes while holding", 20),
                ("lock nodes judged", 20),
            ],
        );
    }
}

#[test]
fn barrier_lets_no_client_through_before_all_entered() {
    for seed in [0, 1, 2] {
        assert_passes(
            "barrier",
            seed,
            &[("barrier passes", 20), ("barrier rounds completed", 20)],
        );
    }
}

#[test]
fn queue_items_are_consumed_once_and_in_order() {
    for seed in [0, 1, 2] {
        assert_passes(
            "queue",
            seed,
            &[("queue items produced", 100), ("queue items consumed", 100)],
        );
    }
}

#[test]
fn stale_read_sync_reads_are_fresh_after_sync_and_never_go_back() {
    for seed in [0, 1, 2] {
        assert_passes(
            "stale_read_sync",
            seed,
            &[
                ("stale_read_sync writes announced", 100),
                ("stale_read_sync sync reads checked", 100),
            ],
        );
    }
}

#[test]
fn session_expiry_ended_sessions_stay_silent_and_dead() {
    for seed in [0, 1, 2] {
        assert_passes(
            "session_expiry",
            seed,
            &[
                ("session_expiry sessions expired", 1),
                ("session_expiry ephemerals read", 50),
                ("session_expiry writes", 50),
            ],
        );
    }
}

// The watch-after-read knob sends a notification after the next reply on its connection:
// a config reader then reads the new /cfg/a before hearing that /ready was deleted.
#[test]
fn config_catches_watch_after_read() {
    assert_reports("config", 0, "watch-after-read", "config-no-mixed-versions");
}

// With watch-after-read, a client hears of the master's deletion after a read that already
// reflects it, and reads /master alive at a zxid by which it was gone.
#[test]
fn election_catches_watch_after_read() {
    assert_reports("election", 0, "watch-after-read", "election-one-master");
}

// commit-before-quorum: a leader commits on its own ACK, so a write acknowledged to a client
// can be lost when that leader is deposed. Each recipe then sees the lost write's effects
// contradicted: the same increment acknowledged twice, an item consumed twice, two lock
// holders, an acknowledged write a synced read does not see, an ephemeral whose owner had
// ended.
#[test]
fn recipes_catch_commit_before_quorum() {
    let bug = "commit-before-quorum";
    assert_reports("counter", 4, bug, "counter-unique-acks");
    assert_reports("queue", 8, bug, "queue-consumed-once");
    assert_reports("lock", 8, bug, "lock-mutual-exclusion");
    assert_reports("stale_read_sync", 3, bug, "sync-read-sees-announced-writes");
    assert_reports("session_expiry", 0, bug, "ephemeral-owner-live");
}
