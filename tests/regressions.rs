//! Pinned regression cases (tests/regressions.json): seeds that once failed, found by
//! sweeps, fuzzing or while building the service, each replayed through the `zksim` binary
//! with what it must do now: pass in the default build, or, under a bug knob, fail with the
//! named property (a test per knob that the testbed still catches it).

use std::process::Command;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// A built-in scenario, `swarm`, or a file under tests/regressions/.
    scenario: String,
    seed: u64,
    #[serde(default)]
    bugs: Vec<String>,
    /// `pass`, a property or invariant name, or `no liveness`.
    expect: String,
    /// What the case once found, or what it pins.
    why: String,
}

fn cases() -> Vec<Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/regressions.json");
    let text = std::fs::read_to_string(path).expect("tests/regressions.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("tests/regressions.json: {e}"))
}

/// Run one case; None when it did what it must, else what went wrong.
fn replay(case: &Case) -> Option<String> {
    let scenario = if case.scenario.ends_with(".json") {
        format!(
            "{}/tests/regressions/{}",
            env!("CARGO_MANIFEST_DIR"),
            case.scenario
        )
    } else {
        case.scenario.clone()
    };
    let seeds = format!("{}..{}", case.seed, case.seed + 1);
    let mut args = vec![
        "sweep",
        "--json",
        "--jobs",
        "1",
        "--scenario",
        &scenario,
        "--seeds",
        &seeds,
    ];
    for b in &case.bugs {
        args.extend(["--bug", b]);
    }
    let o = Command::new(env!("CARGO_BIN_EXE_zksim"))
        .args(&args)
        .output()
        .expect("zksim runs");
    let v: serde_json::Value = match serde_json::from_slice(&o.stdout) {
        Ok(v) => v,
        Err(e) => {
            return Some(format!(
                "no JSON ({e}): {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    };
    let run = &v["runs"][0];
    let mut failed: Vec<String> = run["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["property"].as_str().map(str::to_string))
        .collect();
    if !run["liveness"].is_null() {
        failed.push("no liveness".into());
    }
    if !run["budget"].is_null() {
        failed.push("run budget exceeded".into());
    }
    for key in ["panic", "protocol_violations", "unknown"] {
        let x = &run[key];
        if !(x.is_null() || x.as_array().is_some_and(Vec::is_empty)) {
            failed.push(format!("{key}: {x}"));
        }
    }
    let code = o.status.code();
    let good = if case.expect == "pass" {
        failed.is_empty() && code == Some(0)
    } else {
        failed.contains(&case.expect) && code == Some(1)
    };
    (!good).then(|| {
        format!(
            "{} seed {} bugs {:?} ({}): expected {}, got exit {code:?} with {failed:?}",
            case.scenario, case.seed, case.bugs, case.why, case.expect
        )
    })
}

#[test]
fn every_pinned_case_replays_as_expected() {
    let cases = cases();
    assert!(!cases.is_empty());
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let wrong = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    if let Some(w) = replay(case) {
                        wrong.lock().expect("not poisoned").push(w);
                    }
                }
            });
        }
    });
    let wrong = wrong.into_inner().expect("not poisoned");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every knob must have a pinned failing case, so a new knob cannot land untested.
#[test]
fn every_bug_knob_has_a_pinned_failing_case() {
    let cases = cases();
    for knob in zksim_core::server::Bug::ALL.map(|b| b.name()) {
        let pinned = cases.iter().any(|c| c.bugs == [knob] && c.expect != "pass");
        assert!(pinned, "no pinned failing case for the {knob} knob");
    }
}
