//! The testbed as people use it, end to end through the `zksim` binary: a fast sweep of
//! every built-in scenario, a failure found with a bug knob, replayed, shrunk and fuzzed,
//! and bad input refused with one line and exit code 2.

mod common;

use common::{TempDir, stderr, stdout, zksim};

fn sweep_json(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut all = vec!["sweep", "--json"];
    all.extend_from_slice(args);
    let o = zksim(&all);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("sweep --json prints JSON ({e}): {}", stderr(&o)));
    (o.status.code(), v)
}

fn failing_runs(v: &serde_json::Value) -> Vec<String> {
    v["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["ok"] == false)
        .map(|r| r.to_string())
        .collect()
}

// The fast sweep: every built-in scenario (design §7), two dozen seeds each, passes every
// property, its recipe invariant and liveness with no bug knob on.
#[test]
fn every_builtin_scenario_passes_a_fast_sweep() {
    let (code, v) = sweep_json(&["--scenario", "all", "--seeds", "0..24"]);
    let failing = failing_runs(&v);
    assert!(failing.is_empty(), "failing runs:\n{}", failing.join("\n"));
    assert_eq!(code, Some(0));
    let scenarios: std::collections::BTreeSet<&str> = v["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["scenario"].as_str().expect("scenario"))
        .collect();
    assert!(
        scenarios.contains("default") && scenarios.len() >= 3,
        "{scenarios:?}"
    );
    assert!(
        v["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .all(|r| r["ops"].as_u64() > Some(0))
    );
    // Coverage: every run reached protocol points, and the sweep's union names the ones
    // every established ensemble passes through, in recovery and in broadcast.
    let runs = v["runs"].as_array().expect("runs");
    assert!(runs.iter().all(|r| r["coverage"].as_u64() > Some(0)));
    let reached: Vec<&str> = v["coverage"]["reached"]
        .as_array()
        .expect("coverage.reached")
        .iter()
        .map(|p| p.as_str().expect("a point"))
        .collect();
    assert_eq!(v["coverage"]["points"].as_u64(), Some(reached.len() as u64));
    let most = runs.iter().filter_map(|r| r["coverage"].as_u64()).max();
    assert!(
        most < Some(reached.len() as u64),
        "the union exceeds any one run"
    );
    for point in [
        "LOOKING/election/NOTIFICATION",
        "LEADING/recovery/FOLLOWERINFO",
        "FOLLOWING/recovery/NEWLEADER",
        "LEADING/broadcast/ACK",
        "FOLLOWING/broadcast/COMMIT",
    ] {
        assert!(reached.contains(&point), "{point} not in {reached:?}");
    }
    assert!(reached.iter().any(|p| p.starts_with("fault ")));
}

// A user's path through a failure: a sweep with a bug knob fails with exit 1, names the
// property and prints the replay command; replay writes the trace, history and HTML
// report; shrink writes a smaller scenario that fails the same way when replayed.
#[test]
fn a_failure_is_found_replayed_and_shrunk() {
    let dir = TempDir::new("failure");
    let o = zksim(&[
        "sweep",
        "--scenario",
        "default",
        "--seeds",
        "0..2",
        "--bug",
        "watch-after-read",
    ]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("watch-before-later-read"), "{text}");
    let replay = "cargo run --release -- replay --scenario default --seed 0 --bug watch-after-read";
    assert!(text.contains(replay), "{text}");

    let out = dir.path("replay");
    let o = zksim(&[
        "replay",
        "--scenario",
        "default",
        "--seed",
        "0",
        "--bug",
        "watch-after-read",
        "--out",
        &out,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    for f in ["trace.txt", "history.jsonl", "report.txt", "report.html"] {
        let len = std::fs::metadata(dir.path(&format!("replay/{f}")))
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .len();
        assert!(len > 0, "{f} is empty");
    }
    let html = std::fs::read_to_string(dir.path("replay/report.html")).expect("html");
    assert!(html.contains("watch-before-later-read"));

    let shrunk = dir.path("shrunk.json");
    let o = zksim(&[
        "shrink",
        "--scenario",
        "default",
        "--seed",
        "0",
        "--bug",
        "watch-after-read",
        "--out",
        &shrunk,
    ]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{}", stderr(&o));
    assert!(
        text.contains("failure kept: watch-before-later-read"),
        "{text}"
    );
    let scenario: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&shrunk).expect("shrunk file"))
            .expect("a scenario");
    let faults = scenario["plan"]["faults"]
        .as_array()
        .expect("an explicit plan");
    // The default scenario draws a fault every two seconds for twenty seconds.
    assert!(faults.len() < 5, "{faults:?}");
    assert!(scenario["clients"].as_u64() < Some(8));
    // The shrunk scenario fails the same way, with the same seed, every time.
    let runs: Vec<String> = (0..2)
        .map(|_| {
            let o = zksim(&[
                "run",
                "--scenario",
                &shrunk,
                "--seed",
                "0",
                "--bug",
                "watch-after-read",
                "--hash",
            ]);
            assert_eq!(o.status.code(), Some(1));
            let text = stdout(&o);
            assert!(text.contains("watch-before-later-read"), "{text}");
            text.lines().last().expect("a hash").to_string()
        })
        .collect();
    assert_eq!(runs[0], runs[1]);
}

// Fuzzing keeps each failing case with its scenario and a report holding the replay command.
#[test]
fn fuzz_keeps_failing_cases() {
    let dir = TempDir::new("fuzz");
    let corpus = dir.path("corpus");
    let o = zksim(&[
        "fuzz",
        "--minutes",
        "0.02",
        "--bug",
        "watch-after-read",
        "--corpus",
        &corpus,
        "--start",
        "1",
        "--jobs",
        "1",
        "--no-shrink",
        "--max-failures",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let report = std::fs::read_to_string(dir.path("corpus/swarm-seed-1/report.txt"))
        .expect("the first failing seed is kept");
    assert!(report.contains("replay --scenario swarm --seed 1 --bug watch-after-read"));
    assert!(report.contains("watch-before-later-read"));
    let scenario = std::fs::read_to_string(dir.path("corpus/swarm-seed-1/scenario.json"))
        .expect("scenario kept");
    assert!(scenario.contains("\"servers\""));
    // Cases (and the coverage file and corpus inputs) are written whole, then renamed into
    // place: nothing half-written is left.
    let mut entries: Vec<String> = std::fs::read_dir(&corpus)
        .expect("the corpus lists")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    entries.sort();
    assert_eq!(entries, vec!["coverage.json", "inputs", "swarm-seed-1"]);
}

// The clean path of fuzzing: no failure, exit 0, the seeds it ran.
#[test]
fn fuzz_without_failures_exits_zero() {
    let dir = TempDir::new("fuzz-clean");
    let o = zksim(&[
        "fuzz",
        "--minutes",
        "0.01",
        "--scenario",
        "default",
        "--corpus",
        &dir.path("corpus"),
        "--jobs",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("0 failed"), "{}", stdout(&o));
    // Coverage: the inputs that reached new protocol points are kept with those points.
    assert!(stdout(&o).contains("coverage: "), "{}", stdout(&o));
    let text = std::fs::read_to_string(dir.path("corpus/coverage.json")).expect("coverage.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let points = v["points"].as_array().expect("points");
    let steps = v["inputs"].as_array().expect("inputs");
    assert!(!points.is_empty() && !steps.is_empty(), "{text}");
    let added: usize = steps
        .iter()
        .map(|s| s["new"].as_array().expect("new").len())
        .sum();
    assert_eq!(added, points.len(), "each point is new once");
}

// Bad input: a clear one-line error and exit code 2, never a panic.
#[test]
fn bad_input_is_refused_with_exit_code_2() {
    let dir = TempDir::new("bad-input");
    let malformed = dir.path("malformed.json");
    std::fs::write(&malformed, "{\"name\": \"x\", \"servers\": 3,").expect("write");
    let too_many_down = dir.path("down.json");
    std::fs::write(
        &too_many_down,
        r#"{"name": "down", "servers": 3, "clients": 2, "safety_ms": 1000, "liveness_ms": 10000,
            "plan": {"faults": [{"at_ms": 10, "kind": "kill_many", "servers": [1, 2, 3, 4]}]}}"#,
    )
    .expect("write");
    let unknown_field = dir.path("field.json");
    std::fs::write(
        &unknown_field,
        r#"{"name": "f", "servers": 3, "clients": 2, "safety_ms": 1000, "liveness_ms": 5000,
            "workload": {"pipline": 2}}"#,
    )
    .expect("write");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", "--scenario", "nope"],
            "unknown scenario \"nope\"",
        ),
        (vec!["sweep", "--scenario", "nope"], "unknown scenario"),
        (vec!["run", "--scenario", &malformed], "not valid JSON"),
        (vec!["run", "--scenario", &too_many_down], "server 4"),
        (vec!["run", "--scenario", &unknown_field], "pipline"),
        (
            vec!["run", "--scenario", "/no/such/file.json"],
            "cannot read",
        ),
        (vec!["sweep", "--seeds", "5..2"], "is empty"),
        (vec!["sweep", "--seeds", "a..b"], "not a number"),
        (vec!["sweep", "--seeds", "10"], "expected A..B"),
        (vec!["sweep", "--shard", "3/2"], "1 <= K <= N"),
        (vec!["sweep", "--jobs", "0"], "at least 1"),
        (vec!["run", "--bug", "nope"], "unknown bug \"nope\""),
        (
            vec!["shrink", "--seed", "1", "--bug", "nope"],
            "unknown bug",
        ),
        (vec!["fuzz", "--minutes", "0"], "positive budget"),
        (
            vec!["replay", "--scenario", "nope", "--seed", "1"],
            "unknown scenario",
        ),
        (vec!["sweep", "--no-such-option"], "--no-such-option"),
    ];
    for (args, expect) in cases {
        let o = zksim(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}{}", stdout(&o));
        assert!(
            err.contains(expect),
            "{args:?}: {err:?} should say {expect:?}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

// A scenario that passes has nothing to shrink: said plainly, exit 2.
#[test]
fn shrinking_a_passing_run_is_refused() {
    let o = zksim(&["shrink", "--scenario", "default", "--seed", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("passes"), "{}", stderr(&o));
}

// `zksim bugs` lists every knob with what it re-creates.
#[test]
fn bugs_lists_every_knob() {
    let o = zksim(&["bugs"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert_eq!(
        text.lines().count(),
        zksim_core::server::Bug::ALL.len(),
        "{text}"
    );
    for name in zksim_core::server::Bug::ALL.map(|b| b.name()) {
        assert!(text.contains(name), "{name} missing from {text}");
    }
    assert!(text.contains("sync-no-quorum") && text.contains("ZOOKEEPER-1675"));
}

// An invariant that a bug knob breaks on purpose is reported among the run's findings
// instead of stopping the server with an assertion: with `old-leader-keeps-state`, a
// deposed leader that applied its uncommitted txns is later told to TRUNC below them. The
// run fails on the breach, and the checker still catches the knob on its own (replica
// agreement).
#[test]
fn a_breach_under_a_bug_knob_is_a_finding_not_a_panic() {
    let o = zksim(&[
        "run",
        "--scenario",
        "default",
        "--seed",
        "2",
        "--bug",
        "old-leader-keeps-state",
    ]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}{}", stderr(&o));
    assert!(
        text.contains(
            "FAILED: breach of an invariant under a bug knob: nothing committed is truncated: server 3: TRUNC to 0x1000043a0 below its committed 0x1000043ad"
        ),
        "{text}"
    );
    assert!(text.contains("replica-agreement is violated"), "{text}");
    assert!(!text.contains("panicked"), "{text}");

    // With `fifo-reorder`, a learner's swapped writes are answered with zxids that go
    // back on one connection: every breach of one invariant is one finding, with a count.
    let o = zksim(&[
        "run",
        "--scenario",
        "default",
        "--seed",
        "1",
        "--bug",
        "fifo-reorder",
    ]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}{}", stderr(&o));
    let breaches: Vec<&str> = text.lines().filter(|l| l.contains("breach of")).collect();
    assert_eq!(breaches.len(), 1, "{text}");
    assert!(
        breaches[0].contains("a connection's replies never go back: server ")
            && breaches[0].contains(" more)"),
        "{text}"
    );
}
