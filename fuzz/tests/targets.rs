//! Every parser under a short fuzz run, and every saved input (the seed corpus and the inputs
//! that once failed) run once: each ends with a value or a clean error, in time.

use std::time::Duration;

use zksim_fuzz::{Config, Target, execute, fuzz, root, saved_inputs, seeds};

/// Executions per target in CI: a few seconds in all on two cores.
const EXECUTIONS: u64 = 20_000;

/// Input longer than this is a finding (CI's machine is shared, so the bound is generous
/// next to the milliseconds a saved input takes).
const SLOW: Duration = Duration::from_secs(2);

// A short run of every target, from its seed corpus, finds nothing.
#[test]
fn every_target_survives_a_short_run() {
    let mut failures = Vec::new();
    for target in Target::ALL {
        let seeds = seeds(&root(), target).expect("the corpus reads");
        assert!(!seeds.is_empty(), "{target} has a seed corpus");
        let mut config = Config::new(1);
        config.executions = Some(EXECUTIONS);
        config.slow = SLOW;
        let stats = fuzz(target, seeds, &config);
        println!("{}", stats.summary(target));
        assert_eq!(stats.executions, EXECUTIONS);
        for f in &stats.findings {
            failures.push(format!(
                "{target}: {}: {} on input {:?}",
                f.kind.name(),
                f.message,
                String::from_utf8_lossy(&f.input)
            ));
        }
    }
    assert!(failures.is_empty(), "findings:\n{}", failures.join("\n"));
}

// Every saved input gives a value or a clean error, in time: the seeds, and each input in
// fuzz/regressions/ that once panicked or ran too long (its file names the bug).
#[test]
fn every_saved_input_parses_or_fails_cleanly() {
    let mut count = 0;
    for target in Target::ALL {
        for path in saved_inputs(&root(), target).expect("the corpus reads") {
            let input = std::fs::read(&path).expect("a saved input reads");
            let execution = execute(target, &input);
            if let Err(panic) = &execution.result {
                panic!("{target}: {} panics: {panic}", path.display());
            }
            assert!(
                execution.elapsed < SLOW,
                "{target}: {} took {} ms",
                path.display(),
                execution.elapsed.as_millis()
            );
            count += 1;
        }
    }
    assert!(count > 50, "{count} saved inputs");
}
