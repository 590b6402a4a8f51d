//! Hostile and careless input, end to end through the `zksim` binary: every command fails
//! cleanly (one line naming what is wrong, exit 2) or, when its reader goes away, ends
//! quietly; none panics.

mod common;

use std::process::Stdio;

use common::{TempDir, command, stderr};

/// A small history to check: a short run of the default scenario.
fn history(dir: &TempDir) -> String {
    let file = dir.path("h.jsonl");
    let o = command()
        .args([
            "run",
            "--scenario",
            "default",
            "--seed",
            "1",
            "--history",
            &file,
        ])
        .output()
        .expect("zksim runs");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    file
}

/// Every command that prints, with its arguments.
fn printing_commands(history: &str) -> Vec<Vec<String>> {
    let cmds: Vec<Vec<&str>> = vec![
        vec!["bugs"],
        vec!["run", "--scenario", "default", "--seed", "1"],
        vec!["sweep", "--scenario", "default", "--seeds", "0..2"],
        vec![
            "sweep",
            "--scenario",
            "default",
            "--seeds",
            "0..2",
            "--json",
        ],
        vec!["check", history],
        vec!["--help"],
    ];
    cmds.into_iter()
        .map(|c| c.into_iter().map(String::from).collect())
        .collect()
}

// `zksim ... | head`: the reader is gone before the command writes a byte. The command ends
// quietly (exit 0, nothing on standard error), as any Unix filter does; before, every
// command panicked on its first print.
#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    let dir = TempDir::new("closed-pipe");
    let history = history(&dir);
    for args in printing_commands(&history) {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let o = command()
            .args(&args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("zksim runs");
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("cannot write"), "{args:?}: {err}");
    }
}

// Standard output on a full disk: one line naming it, exit 2, never a panic.
#[test]
fn a_full_disk_behind_standard_output_is_one_line() {
    if !std::path::Path::new("/dev/full").exists() {
        panic!("/dev/full is needed to fake a full disk");
    }
    let dir = TempDir::new("full-disk");
    let history = history(&dir);
    for args in printing_commands(&history) {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full opens");
        let o = command()
            .args(&args)
            .stdout(full)
            .output()
            .expect("zksim runs");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("cannot write to standard output: No space left on device"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// Exit 2 with one line on standard error that contains every one of `what`, nothing on
/// standard output, and no panic.
fn refused(args: &[&str], what: &[&str]) {
    let o = command().args(args).output().expect("zksim runs");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    for w in what {
        assert!(err.contains(w), "{args:?}: {err:?} should say {w:?}");
    }
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(o.stdout.is_empty(), "{args:?}: nothing on stdout");
}

/// A scenario that is valid but for `change`, as JSON text.
fn scenario_with(change: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v = serde_json::json!({
        "name": "hostile", "servers": 3, "clients": 2, "safety_ms": 2000, "liveness_ms": 20000
    });
    change(&mut v);
    v.to_string()
}

// Every malformed scenario is refused with one line naming the field and the reason: bad
// JSON of every shape, and every number out of its documented range (several of which
// overflowed the harness's arithmetic before they were checked).
#[test]
fn scenario_messages_name_the_field_and_the_reason() {
    let dir = TempDir::new("scenario-messages");
    let huge = "y".repeat(100_000);
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("array", b"[1, 2]".to_vec(), vec!["a JSON object", "a JSON array"]),
        ("empty", Vec::new(), vec!["is empty"]),
        (
            "bom",
            [&b"\xEF\xBB\xBF"[..], scenario_with(|_| {}).as_bytes()].concat(),
            vec!["byte order mark"],
        ),
        ("latin1", b"{\"name\": \"caf\xE9\"}".to_vec(), vec!["not UTF-8", "offset 13"]),
        ("truncated", b"{\"name\": \"x\", \"servers\": 3,".to_vec(), vec!["not valid JSON"]),
        (
            "trailing",
            format!("{} {{}}", scenario_with(|_| {})).into_bytes(),
            vec!["not valid JSON", "trailing characters"],
        ),
        (
            "beyond-u32",
            scenario_with(|v| v["servers"] = 5_000_000_000u64.into()).into_bytes(),
            vec!["field `servers`", "5000000000", "expected u32"],
        ),
        (
            "float",
            scenario_with(|v| v["workload"] = serde_json::json!({"pipeline": 1.5})).into_bytes(),
            vec!["field `workload.pipeline`", "floating point `1.5`"],
        ),
        (
            "huge",
            scenario_with(|v| v["workload"] = serde_json::json!({"keys": huge})).into_bytes(),
            vec!["field `workload.keys`", "... (100000 characters)"],
        ),
        (
            "unknown-field",
            scenario_with(|v| v["workload"] = serde_json::json!({"pipline": 2})).into_bytes(),
            vec!["field `workload.pipline`", "unknown field `pipline`"],
        ),
        (
            "weights-overflow",
            scenario_with(|v| {
                v["workload"] = serde_json::json!({"mix": {"create": u32::MAX, "delete": u32::MAX}})
            })
            .into_bytes(),
            vec!["field `workload.mix`", "create weighs 4294967295"],
        ),
        (
            "fault-weight",
            scenario_with(|v| v["faults"] = serde_json::json!({"kill": u32::MAX, "pause": 9})).into_bytes(),
            vec!["field `faults`", "kill weighs"],
        ),
        (
            "mean-interval",
            scenario_with(|v| v["faults"] = serde_json::json!({"mean_interval_ms": u64::MAX}))
                .into_bytes(),
            vec!["field `faults.mean_interval_ms`"],
        ),
        (
            "duration",
            scenario_with(|v| v["faults"] = serde_json::json!({"duration_ms": [1, u64::MAX]}))
                .into_bytes(),
            vec!["field `faults.duration_ms`"],
        ),
        (
            "think",
            scenario_with(|v| v["workload"] = serde_json::json!({"think_ms_max": u64::MAX}))
                .into_bytes(),
            vec!["field `workload.think_ms_max`"],
        ),
        (
            "snap-count",
            scenario_with(|v| v["snap_count"] = u64::MAX.into()).into_bytes(),
            vec!["field `snap_count`"],
        ),
        (
            "session-timeout",
            scenario_with(|v| v["workload"] = serde_json::json!({"session_timeout_ms": -5}))
                .into_bytes(),
            vec!["field `workload.session_timeout_ms`"],
        ),
        (
            "liveness-unreachable",
            scenario_with(|v| v["liveness_ms"] = 3_000.into()).into_bytes(),
            vec!["field `liveness_ms`", "can never be met", "at least 6000 ms"],
        ),
        (
            "fault-after-safety",
            scenario_with(|v| {
                v["plan"] = serde_json::json!({"faults": [{"at_ms": 99_999, "kind": "heal_network"}]})
            })
            .into_bytes(),
            vec!["field `plan`", "after the safety phase"],
        ),
        (
            "loss",
            scenario_with(|v| {
                v["plan"] = serde_json::json!({"faults": [{"at_ms": 1, "kind": "loss", "per_mille": 5000}]})
            })
            .into_bytes(),
            vec!["field `plan`", "5000 per mille"],
        ),
        (
            "latency",
            scenario_with(|v| {
                v["plan"] = serde_json::json!({"faults": [{"at_ms": 1, "kind": "latency", "extra_ms": u64::MAX}]})
            })
            .into_bytes(),
            vec!["field `plan`", "latency of"],
        ),
        (
            "clock-jump",
            scenario_with(|v| {
                v["plan"] = serde_json::json!({"faults": [{"at_ms": 1, "kind": "clock_jump", "server": 1, "delta_ms": i64::MIN}]})
            })
            .into_bytes(),
            vec!["field `plan`", "clock jump of"],
        ),
        (
            "fsync",
            scenario_with(|v| {
                v["plan"] = serde_json::json!({"faults": [{"at_ms": 1, "kind": "disk_slow", "server": 2, "fsync_ms": u64::MAX}]})
            })
            .into_bytes(),
            vec!["field `plan`", "fsync of"],
        ),
    ];
    let mut cases = cases;
    cases.push((
        "oversized",
        vec![b' '; 17 << 20],
        vec!["larger than 16 MiB"],
    ));
    for (name, text, what) in cases {
        let file = dir.path(&format!("{name}.json"));
        std::fs::write(&file, &text).expect("write");
        for command in ["run", "sweep"] {
            let mut args = vec![command, "--scenario", &file];
            if command == "sweep" {
                args.extend(["--seeds", "0..2"]);
            }
            refused(&args, &what);
        }
    }
}

// A built-in scenario name always means the built-in: a folder `config` or a file `default`
// in the working directory does not hide it. A file is a path (with `/`, or ending .json).
#[test]
fn builtin_names_are_never_hidden_by_files() {
    let dir = TempDir::new("names");
    std::fs::create_dir_all(dir.dir().join("config")).expect("a folder named config");
    std::fs::write(dir.dir().join("default"), "not a scenario").expect("a file named default");
    std::fs::write(dir.dir().join("mine"), scenario_with(|_| {})).expect("a file named mine");
    for name in ["config", "default"] {
        let o = command()
            .current_dir(dir.dir())
            .args(["run", "--scenario", name, "--seed", "1"])
            .output()
            .expect("zksim runs");
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        assert!(
            out.starts_with(&format!("zksim run: scenario {name}, seed 1")),
            "{name}: {out}"
        );
    }
    // The file is read when named as a path.
    let o = command()
        .current_dir(dir.dir())
        .args(["run", "--scenario", "./default", "--seed", "1"])
        .output()
        .expect("zksim runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("scenario file ./default: not valid JSON"),
        "{}",
        stderr(&o)
    );
    // A name that is neither: the error says how to read the file of that name.
    let o = command()
        .current_dir(dir.dir())
        .args(["run", "--scenario", "mine", "--seed", "1"])
        .output()
        .expect("zksim runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown scenario \"mine\"") && stderr(&o).contains("write ./mine"),
        "{}",
        stderr(&o)
    );
}

// A valid plan that is likely not meant (every voter down, none back) runs, with a warning
// that says why.
#[test]
fn a_plan_that_downs_every_voter_for_good_is_warned_about() {
    let dir = TempDir::new("warn");
    let file = dir.path("all-down.json");
    let text = scenario_with(|v| {
        v["plan"] = serde_json::json!({"faults": [{"at_ms": 500, "kind": "kill_many", "servers": [1, 2, 3]}]})
    });
    std::fs::write(&file, text).expect("write");
    let o = command()
        .args(["run", "--scenario", &file, "--seed", "1"])
        .output()
        .expect("zksim runs");
    let err = stderr(&o);
    assert!(
        err.contains("warning") && err.contains("leaves every voter down, and none comes back"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

// An output that cannot be written is one line naming it, found before the run starts
// (a shrink or a fuzz can take minutes before it writes).
#[test]
fn unwritable_outputs_are_refused_before_the_run() {
    let dir = TempDir::new("unwritable");
    let history = history(&dir);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "run",
                "--scenario",
                "default",
                "--seed",
                "1",
                "--history",
                "/dev/null/h.jsonl",
            ],
            "cannot write /dev/null/h.jsonl",
        ),
        (
            vec![
                "run",
                "--scenario",
                "default",
                "--seed",
                "1",
                "--trace",
                "/dev/null/t.txt",
            ],
            "cannot write /dev/null/t.txt",
        ),
        (
            vec![
                "shrink",
                "--scenario",
                "default",
                "--seed",
                "1",
                "--bug",
                "watch-after-read",
                "--out",
                "/dev/null/s.json",
            ],
            "cannot write /dev/null/s.json",
        ),
        (
            vec![
                "replay",
                "--scenario",
                "default",
                "--seed",
                "1",
                "--out",
                "/dev/null/r",
            ],
            "cannot create /dev/null/r",
        ),
        (
            vec!["fuzz", "--minutes", "1", "--corpus", "/dev/null/corpus"],
            "cannot create /dev/null/corpus",
        ),
        (
            vec!["check", &history, "--html", "/dev/null/h.html"],
            "cannot write /dev/null/h.html",
        ),
    ];
    for (args, what) in cases {
        refused(&args, &[what]);
    }
}

// A malformed history is refused with one line naming the line, the field and the reason,
// a huge bad value cut short.
#[test]
fn history_messages_name_the_line_the_field_and_the_reason() {
    let dir = TempDir::new("history-messages");
    let header = r#"{"type":"header","format":"zksim-history","version":2,"servers":[1],"observers":[],"bugs":[]}"#;
    let huge = format!(
        r#"{{"type":"invoke","t":1,"client":"{}","xid":1,"op":{{"Sync":{{"path":"/"}}}}}}"#,
        "y".repeat(100_000)
    );
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "array",
            "[1, 2]\n".into(),
            vec!["line 1", "this line is a JSON array"],
        ),
        (
            "bom",
            format!("\u{feff}{header}\n"),
            vec!["line 1", "byte order mark"],
        ),
        (
            "float",
            header.replace(r#""bugs":[]"#, r#""bugs":[],"seed":1.5"#) + "\n",
            vec!["line 1", "field `seed`", "floating point `1.5`"],
        ),
        (
            "beyond-u64",
            header.replace(
                r#""bugs":[]"#,
                r#""bugs":[],"seed":99999999999999999999999"#,
            ) + "\n",
            vec!["line 1", "field `seed`"],
        ),
        (
            "huge",
            format!("{header}\n{huge}\n"),
            vec!["line 2", "field `client`", "... (100000 characters)"],
        ),
    ];
    for (name, text, what) in cases {
        let file = dir.path(&format!("{name}.jsonl"));
        std::fs::write(&file, text).expect("write");
        refused(&["check", &file], &what);
        let o = command()
            .args(["check", &file])
            .output()
            .expect("zksim runs");
        assert!(o.stderr.len() < 400, "{name}: {}", stderr(&o));
    }
}

// Careless and hostile arguments across every subcommand: each ends with exit 0, 1 or 2,
// never a panic, and a refusal is one line. (Seeds, ranges and shards at the ends of u64
// overflowed hunt's and fuzz's arithmetic before; --html naming the history overwrote it.)
#[test]
fn hostile_arguments_never_panic() {
    let dir = TempDir::new("arguments");
    let history = history(&dir);
    let file = dir.path("a-file");
    std::fs::write(&file, "not a folder").expect("write");
    let corpus = dir.path("corpus");
    let max = u64::MAX.to_string();
    let near_max = (u64::MAX - 1000).to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["run", "--seed", "-1"],
        vec!["run", "--seed", "18446744073709551616"],
        vec!["run", "--seed", "abc"],
        vec!["run", "--scenario", ""],
        vec!["run", "--scenario", "/"],
        vec!["run", "--scenario", ".json"],
        vec!["run", "--scenario", "default", "--bug", ""],
        vec!["run", "--scenario", "default", "--seed", &max],
        vec!["sweep", "--seeds", ""],
        vec!["sweep", "--seeds", "0..0"],
        vec!["sweep", "--seeds", "-1..5"],
        vec!["sweep", "--seeds", ".."],
        vec!["sweep", "--seeds", "0..18446744073709551616"],
        vec!["sweep", "--shard", "0/0"],
        vec!["sweep", "--shard", "1/0"],
        vec!["sweep", "--shard", "a/b"],
        vec!["sweep", "--shard", "2/1"],
        vec![
            "sweep",
            "--scenario",
            "all",
            "--seeds",
            "0..1",
            "--shard",
            "2/2",
        ],
        vec!["check", "/"],
        vec!["check", "/nonexistent"],
        vec!["check", &file],
        vec!["check", &history, "--max-steps", "0"],
        vec!["check", &history, "--max-steps", "-1"],
        vec!["check", &history, "--format", "porcupine-etcd"],
        vec!["check", &history, "--format", "porcupine-kv"],
        vec!["check", &history, "--format", "knossos-cas"],
        vec!["check", &history, "--format", "nope"],
        vec!["check", &history, "--html", &history],
        vec!["tree", "replay", "/"],
        vec!["tree", "replay", &file],
        vec!["tree", "replay", "/nonexistent"],
        vec!["replay", "--seed", "1", "--out", &file],
        vec![
            "shrink",
            "--seed",
            "0",
            "--bug",
            "watch-after-read",
            "--max-runs",
            "0",
            "--out",
            &file,
        ],
        vec!["fuzz", "--minutes", "NaN"],
        vec!["fuzz", "--minutes", "inf"],
        vec!["fuzz", "--minutes", "-1"],
        vec!["fuzz", "--minutes", "0.001", "--corpus", &file],
        vec!["fuzz", "--minutes", "0.001", "--max-failures", "0"],
        vec![
            "fuzz",
            "--minutes",
            "0.001",
            "--no-shrink",
            "--corpus",
            &corpus,
            "--start",
            &max,
        ],
        vec!["hunt", "--ranges", "0"],
        vec!["hunt", "--max-seeds", "0"],
        vec!["hunt", "--start", &max, "--ranges", "2", "--max-seeds", "1"],
        vec![
            "hunt",
            "--start",
            &near_max,
            "--ranges",
            &max,
            "--max-seeds",
            "1",
        ],
        vec!["hunt", "--bug", "nope"],
        vec!["mc", "--bug", "nope"],
        vec!["mc", "--servers", "0"],
        vec!["mc", "--replay", "/nonexistent/counterexample.json"],
        vec!["mc", "--replay", &history],
        vec!["bench", "--scenario", "nope"],
        vec!["bugs", "extra"],
        vec!["nope"],
        vec![],
    ];
    for args in cases {
        let o = command().args(&args).output().expect("zksim runs");
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        let code = o.status.code();
        assert!(
            matches!(code, Some(0..=2)),
            "{args:?}: exit {code:?}: {err}"
        );
        if code == Some(2) && err.starts_with("zksim") {
            // Our own refusals are one line (clap's usage errors carry their usage).
            assert!(err.lines().count() <= 2, "{args:?}: {err}");
        }
    }
    // --html naming the history refuses, and the history is intact.
    assert!(
        std::fs::read_to_string(&history)
            .expect("read")
            .starts_with("{\"type\":\"header\"")
    );
}
