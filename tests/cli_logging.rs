//! Logs through tracing: `RUST_LOG` filters by target as in any Rust program, each line
//! is stamped with simulated time inside its run's and node's spans, `--log-format json`
//! writes one JSON object per line, and logging never changes a run.

mod common;

use common::{command, stderr, stdout};

/// `zksim run --hash` of default seed 1 with `RUST_LOG` set to `filter` (none: unset) and
/// extra arguments; (exit code, stdout, stderr).
fn run(filter: Option<&str>, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut c = command();
    if let Some(f) = filter {
        c.env("RUST_LOG", f);
    }
    c.args(extra)
        .args(["run", "--scenario", "default", "--seed", "1", "--hash"]);
    let o = c.output().expect("zksim runs");
    (o.status.code(), stdout(&o), stderr(&o))
}

fn hash(out: &str) -> String {
    out.lines().last().expect("a hash line").to_string()
}

#[test]
fn rust_log_filters_by_target_and_logging_changes_no_run() {
    let (code, quiet_out, quiet_err) = run(None, &[]);
    assert_eq!(code, Some(0), "{quiet_err}");
    assert_eq!(quiet_err, "", "without RUST_LOG nothing is logged");

    let (code, out, err) = run(Some("zksim_core::zab=debug"), &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(hash(&out), hash(&quiet_out), "logging changes no run");
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines.len() > 50,
        "Zab logs its steps: {} lines",
        lines.len()
    );
    for line in &lines {
        // `<seconds>s LEVEL run{seed=1}:server{id=N}: zksim_core::zab::<phase>: ...`
        assert!(
            line.contains(" zksim_core::zab::"),
            "only the asked target is logged: {line}"
        );
        assert!(
            line.contains("run{seed=1}:server{id="),
            "every line names its run and server: {line}"
        );
        let stamp = line.split(' ').next().expect("a timestamp");
        let secs: f64 = stamp
            .strip_suffix('s')
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("a simulated-time stamp: {line}"));
        assert!(
            secs < 120.0,
            "simulated seconds, not the wall clock: {line}"
        );
    }
    for (phase, what) in [
        ("election", "decided"),
        ("discovery", "LEADERINFO proposes the epoch"),
        ("sync", "a quorum acknowledged NEWLEADER"),
        ("broadcast", "commit"),
    ] {
        let target = format!("zksim_core::zab::{phase}: {what}");
        assert!(
            lines.iter().any(|l| l.contains(&target)),
            "a `{target}` line"
        );
    }
    assert!(
        !lines.iter().any(|l| l.contains("TRACE")),
        "debug leaves out trace-level lines"
    );
}

#[test]
fn json_lines_carry_fields_and_spans() {
    let (code, out, err) = run(
        Some("info,zksim_core::zab::broadcast=debug"),
        &["--log-format", "json"],
    );
    assert_eq!(code, Some(0), "{err}");
    let (_, quiet_out, _) = run(None, &[]);
    assert_eq!(hash(&out), hash(&quiet_out), "logging changes no run");
    let mut targets = std::collections::BTreeSet::new();
    for line in err.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("a JSON line ({e}): {line}"));
        let target = v["target"].as_str().expect("a target").to_string();
        let spans = v["spans"].as_array().expect("the span list");
        assert_eq!(spans[0]["name"], "run", "{line}");
        assert_eq!(spans[0]["seed"], 1, "{line}");
        if target.starts_with("zksim_core") {
            assert_eq!(spans[1]["name"], "server", "a server's event: {line}");
        }
        if v["fields"]["message"] == "commit" {
            assert!(
                v["fields"]["zxid"]
                    .as_str()
                    .is_some_and(|z| z.starts_with("0x")),
                "a commit names its zxid: {line}"
            );
        }
        if v["fields"]["message"] == "role" {
            assert!(
                v["fields"]["epoch"].is_u64(),
                "a role names its epoch: {line}"
            );
        }
        targets.insert(target);
    }
    for t in [
        "zksim_core::server",
        "zksim_core::zab::broadcast",
        "zksim_sim::faults",
    ] {
        assert!(targets.contains(t), "{t} logged: {targets:?}");
    }
    assert!(
        !targets.contains("madsim::sim::rand"),
        "madsim's HashMap warning is off"
    );
}

#[test]
fn a_bad_rust_log_is_refused_with_one_line() {
    let (code, out, err) = run(Some("zksim_core=loud"), &[]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert_eq!(out, "");
    assert!(
        err.starts_with("zksim: RUST_LOG=zksim_core=loud: ") && err.lines().count() == 1,
        "{err}"
    );
    let (code, _, err) = run(Some("debug"), &["--log-format", "yaml"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--log-format"), "{err}");
}
