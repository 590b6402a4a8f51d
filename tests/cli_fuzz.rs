//! Coverage-guided fuzzing end to end through the `zksim` binary: the same start and
//! number of runs give the same corpus, a kept input replays exactly with `zksim run`, a
//! later fuzz resumes from the corpus, and bad input is one line and exit 2.

mod common;

use common::{TempDir, stderr, stdout, zksim};
use serde_json::Value;

/// Fuzz the `default` scenario for `runs` runs from seed `start` into `corpus`, in
/// generations of 4 (so that mutants come early); the output.
fn fuzz(corpus: &str, runs: &str, start: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "fuzz",
        "--scenario",
        "default",
        "--runs",
        runs,
        "--jobs",
        "2",
        "--batch",
        "4",
        "--start",
        start,
        "--corpus",
        corpus,
    ];
    args.extend_from_slice(extra);
    zksim(&args)
}

/// The corpus's input files, by name, with their text.
fn inputs(corpus: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(format!("{corpus}/inputs"))
        .expect("the inputs folder lists")
        .map(|e| {
            let e = e.expect("an entry");
            let text = std::fs::read_to_string(e.path()).expect("an input reads");
            (e.file_name().to_string_lossy().into_owned(), text)
        })
        .collect();
    files.sort();
    files
}

fn coverage(corpus: &str) -> Value {
    let text = std::fs::read_to_string(format!("{corpus}/coverage.json")).expect("coverage.json");
    serde_json::from_str(&text).expect("coverage.json is JSON")
}

/// The number after `label` on the line of `text` that has it: `operations: 123 (...)`.
fn number_after(text: &str, label: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no line {label:?} in {text}"));
    let rest = &line[line.find(label).expect("the label") + label.len()..];
    rest.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?}: {line}"))
}

// Two fuzz runs of 12 runs from the same start write the same corpus inputs, byte for
// byte, and the same record of where each came from: the inputs of a generation are drawn
// before it runs and merged in input order, whatever the threads' timing. Of the 12 runs,
// the first generation is fresh seeds (the corpus is empty) and then 3 of every 4 are
// mutants.
#[test]
fn the_same_start_and_runs_give_the_same_corpus() {
    let dir = TempDir::new("fuzz-same");
    let (a, b) = (dir.path("a"), dir.path("b"));
    for corpus in [&a, &b] {
        let o = fuzz(corpus, "12", "3", &[]);
        assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
        let text = stdout(&o);
        assert!(
            text.contains("12 runs: 6 fresh seeds (3..=8) and 6 mutants"),
            "{text}"
        );
    }
    let files = inputs(&a);
    assert!(!files.is_empty());
    assert_eq!(files, inputs(&b));
    let record = |corpus: &str| -> Vec<Value> {
        let v = coverage(corpus);
        v["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(|i| {
                let mut i = i.clone();
                i["seconds"] = Value::Null;
                i
            })
            .collect()
    };
    assert_eq!(record(&a), record(&b));
    // Every point reached is credited to the one input that reached it first.
    let v = coverage(&a);
    let added: usize = v["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|i| i["new"].as_array().expect("new").len())
        .sum();
    assert_eq!(added, v["points"].as_array().expect("points").len());
    for i in v["inputs"].as_array().expect("inputs") {
        match i["origin"].as_str() {
            Some("fresh") => assert!(i["parent"].is_null(), "{i}"),
            Some("mutant") => {
                assert!(i["parent"].as_str().is_some(), "{i}");
                assert!(!i["mutations"].as_array().expect("mutations").is_empty());
            }
            other => panic!("origin {other:?}"),
        }
    }
}

// A corpus input replays with `zksim run --scenario FILE --seed S`: the same operations
// and simulated events as when the fuzz ran it. A later fuzz with the same corpus replays
// every input first and numbers its new ones after them.
#[test]
fn a_kept_input_replays_and_a_later_fuzz_resumes() {
    let dir = TempDir::new("fuzz-resume");
    let corpus = dir.path("corpus");
    let o = fuzz(&corpus, "6", "3", &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let v = coverage(&corpus);
    let kept = v["inputs"].as_array().expect("inputs").clone();
    // The last input kept: a mutant, unless no mutant reached a new point.
    let last = kept.last().expect("an input kept");
    let file = format!("{corpus}/{}", last["file"].as_str().expect("file"));
    let seed = last["seed"].as_u64().expect("seed").to_string();
    let o = zksim(&["run", "--scenario", &file, "--seed", &seed]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert_eq!(number_after(&text, "operations:"), last["ops"], "{text}");
    assert_eq!(number_after(&text, "budget:"), last["events"], "{text}");

    let before = inputs(&corpus);
    let o = fuzz(&corpus, "2", "100", &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains(&format!("({} inputs to replay)", before.len())),
        "{text}"
    );
    assert!(
        text.contains(&format!("after {} corpus inputs replayed", before.len())),
        "{text}"
    );
    let after = inputs(&corpus);
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "the inputs are kept as they were"
    );
    let v = coverage(&corpus);
    let origins: Vec<&str> = v["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|i| i["origin"].as_str().expect("origin"))
        .collect();
    assert_eq!(origins.len(), after.len());
    assert!(origins[..before.len()].iter().all(|o| *o == "resumed"));
    for (name, _) in &after[before.len()..] {
        let number: usize = name[..6].parse().expect("numbered");
        assert!(
            number > before.len(),
            "{name} comes after the inputs replayed"
        );
    }
}

// Plain fuzzing (`--mutate-percent 0`) takes fresh seeds only; `--json` gives its numbers.
#[test]
fn plain_fuzzing_takes_fresh_seeds_only() {
    let dir = TempDir::new("fuzz-plain");
    let o = fuzz(
        &dir.path("corpus"),
        "2",
        "0",
        &["--mutate-percent", "0", "--json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    assert_eq!(v["runs"], 2);
    assert_eq!(v["fresh_runs"], 2);
    assert_eq!(v["mutant_runs"], 0);
    assert_eq!(v["failed"], 0);
    assert!(v["coverage"]["points"].as_u64().expect("points") > 0);
    assert_eq!(v["coverage"]["growth"][0]["runs"], 1);
    // The human summary went to standard error.
    assert!(stderr(&o).contains("2 runs: 2 fresh seeds (0..=1) and 0 mutants"));
}

// Bad input to fuzz: one line naming what is wrong, exit 2, never a panic.
#[test]
fn bad_fuzz_input_is_one_line_and_exit_2() {
    let dir = TempDir::new("fuzz-bad");
    let valid = zksim_scenario_with_plan();
    let cases: Vec<(&str, &str, &str)> = vec![
        ("000001-seed-1.json", "{\"name\": \"x\"", "not valid JSON"),
        ("000001-seed-1.json", "{\"name\": \"x\"}", "missing field"),
        ("input.json", &valid, "not named NNNNNN-seed-S.json"),
        (
            "000001-seed-1.json",
            "{\"name\": \"x\", \"servers\": 3, \"clients\": 1, \"safety_ms\": 1000, \"liveness_ms\": 10000}",
            "no fault plan",
        ),
    ];
    for (k, (name, text, expect)) in cases.iter().enumerate() {
        let corpus = dir.path(&format!("c{k}"));
        std::fs::create_dir_all(format!("{corpus}/inputs")).expect("a folder");
        std::fs::write(format!("{corpus}/inputs/{name}"), text).expect("written");
        let o = zksim(&["fuzz", "--runs", "1", "--corpus", &corpus]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(expect), "{name}: {err}");
        assert!(err.contains(&format!("inputs/{name}")), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let corpus = dir.path("c");
    for (args, expect) in [
        (vec!["fuzz", "--runs", "0"], "--runs 0"),
        (vec!["fuzz"], "give a budget"),
        (
            vec!["fuzz", "--runs", "3", "--mutate-percent", "101"],
            "a percentage",
        ),
        (vec!["fuzz", "--runs", "3", "--batch", "0"], "--batch 0"),
        (
            vec!["fuzz", "--runs", "3", "--minutes", "0"],
            "positive budget",
        ),
        (vec!["fuzz", "--runs", "3", "--frobnicate"], "--frobnicate"),
        (vec!["fuzz", "--runs", "-1"], "-1"),
    ] {
        let mut args = args.clone();
        args.extend(["--corpus", &corpus]);
        let o = zksim(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// A valid scenario with a plan, as a corpus input is.
fn zksim_scenario_with_plan() -> String {
    r#"{"name": "x", "servers": 3, "clients": 1, "safety_ms": 1000, "liveness_ms": 10000,
        "plan": {"faults": [{"at_ms": 10, "kind": "kill", "server": 2}]}}"#
        .to_string()
}
