//! The InterProcessMutex under the `default` scenario (three servers, every fault kind):
//! the correct mutex keeps mutual exclusion in zxid order on every seed, and the holder
//! that ignores connection state is caught.

use zksim_examples::mutex::{Mutex, MutexIgnoringConnectionState, mutual_exclusion};
use zksim_sim::recipe_api::Sweep;

/// Seeds of the correct mutex in `cargo test` (about 15 s in a release build). The
/// nightly job runs 10,000 more, and 5,000 of `swarm` (.ci/recipes).
const SEEDS: u64 = 1000;

#[test]
fn mutex_keeps_mutual_exclusion() {
    // Every seed passes the mutex's invariant and every check of the run.
    Sweep::<Mutex>::new("default")
        .seeds(0..SEEDS)
        .invariant(mutual_exclusion())
        .run()
        .expect("a built-in scenario and a seed range")
        .assert_passed();
}

#[test]
fn mutex_ignoring_connection_state_is_caught() {
    // A holder that finishes its critical section after its session expired overlaps
    // the next holder: a sweep of at most 200 seeds finds a seed that shows it.
    let report = Sweep::<MutexIgnoringConnectionState>::new("default")
        .seeds(0..200)
        .invariant(mutual_exclusion())
        .run()
        .expect("a built-in scenario and a seed range");
    let failure = report.expect_failure();
    println!(
        "caught on seed {}, after {} of at most 200 seeds",
        failure.seed,
        report.seeds_run.len()
    );
    assert!(failure.broke("mutex-exclusive"), "{failure}");
}

#[test]
fn the_walkthrough_quotes_a_real_failure() {
    // docs/your-recipe.md shows the buggy mutex failing on seed 0: what it quotes is what
    // the run prints.
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/your-recipe.md"
    ))
    .expect("docs/your-recipe.md");
    let report = Sweep::<MutexIgnoringConnectionState>::new("default")
        .seeds(0..1)
        .invariant(mutual_exclusion())
        .replay_command("cargo test --release -p zksim-examples --test mutex -- mutex_ignoring_connection_state_is_caught --exact --nocapture")
        .run()
        .expect("a built-in scenario and a seed");
    let failure = report.expect_failure();
    for line in failure.to_string().lines() {
        assert!(page.contains(line), "docs/your-recipe.md lacks {line:?}");
    }
}
