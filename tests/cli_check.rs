//! `zksim check` end to end: exit codes and what it prints, on small histories written to a
//! temporary directory (the external corpus is not needed here).

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::{stderr, stdout};

/// A history written to this test run's temporary directory, removed when dropped.
struct HistoryFile(PathBuf);

impl HistoryFile {
    fn new(name: &str, text: &str) -> Self {
        // One directory per file: tests run in parallel, and each removes its own.
        let dir =
            std::env::temp_dir().join(format!("zksim-cli-check-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("the history is written");
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }
}

impl Drop for HistoryFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = self.0.parent().map(std::fs::remove_dir);
    }
}

fn zksim_check(args: &[&str]) -> Output {
    common::command()
        .arg("check")
        .args(args)
        .output()
        .expect("zksim runs")
}

const KNOSSOS_OK: &str = "[{:process 0, :type :invoke, :f :write, :value 3}
 {:process 0, :type :ok, :f :write, :value 3}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value 3}]
";

const KNOSSOS_STALE_READ: &str = "[{:process 0, :type :invoke, :f :write, :value 3}
 {:process 0, :type :ok, :f :write, :value 3}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value 0}]
";

// A linearizable history: exit 0 and a one-line verdict.
#[test]
fn linearizable_history_exits_0() {
    let file = HistoryFile::new("ok.edn", KNOSSOS_OK);
    let output = zksim_check(&["--format", "knossos-cas", file.path()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("linearizable: "),
        "{}",
        stdout(&output)
    );
}

// A violation: exit 1 and a report naming the operation, its process and its lines.
#[test]
fn violation_exits_1_with_a_report() {
    let file = HistoryFile::new("stale.edn", KNOSSOS_STALE_READ);
    let output = zksim_check(&["--format", "knossos-cas", file.path()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.starts_with("NOT linearizable: "), "{out}");
    assert!(
        out.contains("Process 1's read -> 0 (lines 3-4) cannot be linearized"),
        "{out}"
    );
}

// Without --format the file is a zksim history: an external file there is bad input,
// exit 2, with the line named.
#[test]
fn external_file_without_format_is_bad_input() {
    let file = HistoryFile::new("plain.edn", KNOSSOS_OK);
    let output = zksim_check(&[file.path()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("line 1:"), "{}", stderr(&output));
}

fn generated(seed: u64, ops: usize) -> Vec<zksim_checker::history::Event> {
    zksim_checker::generator::generate(seed, &zksim_checker::generator::GenConfig::new(ops))
}

// A valid zksim history: every property holds, exit 0.
#[test]
fn zksim_history_that_holds_exits_0() {
    let text = zksim_checker::history::to_jsonl(&generated(5, 600));
    let file = HistoryFile::new("good.jsonl", &text);
    let output = zksim_check(&[file.path()]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let out = stdout(&output);
    assert!(out.starts_with("all properties hold: "), "{out}");
    assert!(out.contains("linearizable-writes ("), "{out}");
    assert!(out.contains("seed: 5"), "{out}");
}

// A violation: exit 1, the first line names the property, the report the operations.
#[test]
fn zksim_history_with_a_violation_exits_1() {
    use zksim_checker::Property;
    let mut events = generated(5, 600);
    zksim_checker::generator::mutate::inject(&mut events, Property::NoTimeTravel, 0)
        .expect("a place for a stale read");
    let file = HistoryFile::new("stale.jsonl", &zksim_checker::history::to_jsonl(&events));
    let html = HistoryFile::new("stale.html", "");
    let output = zksim_check(&[file.path(), "--html", html.path()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.starts_with("no-time-travel: VIOLATED: session "),
        "{out}"
    );
    assert!(out.contains("invoked at"), "{out}");
    let page = std::fs::read_to_string(&html.0).expect("the page is written");
    assert!(
        page.contains("no-time-travel"),
        "the page names the property"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing from the network"
    );
}

// A history that contradicts itself: exit 2, naming the event.
#[test]
fn zksim_history_that_contradicts_itself_exits_2() {
    let mut text = zksim_checker::history::to_jsonl(&generated(5, 50));
    text.push_str("{\"type\":\"complete\",\"t\":99999999,\"client\":0,\"xid\":12345,\"outcome\":{\"unknown\":{\"reason\":\"x\"}}}\n");
    let file = HistoryFile::new("contradiction.jsonl", &text);
    let output = zksim_check(&[file.path()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("never invoked"),
        "{}",
        stderr(&output)
    );
}

// A zksim history whose zxid claim fails, with no budget to search: unknown, exit 2.
#[test]
fn zksim_history_beyond_the_budget_exits_2() {
    use zksim_checker::Property;
    let mut events = generated(5, 600);
    zksim_checker::generator::mutate::inject(&mut events, Property::LinearizableWrites, 0)
        .expect("a place for a wrong reply");
    let file = HistoryFile::new("budget.jsonl", &zksim_checker::history::to_jsonl(&events));
    let output = zksim_check(&[file.path(), "--max-steps", "0"]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(
        stdout(&output).starts_with("linearizable-writes: UNKNOWN: "),
        "{}",
        stdout(&output)
    );
}

// An unknown format name is rejected by the argument parser: exit 2.
#[test]
fn unknown_format_is_rejected() {
    let output = zksim_check(&["--format", "jepsen-mongo", "whatever.edn"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("invalid value 'jepsen-mongo'"),
        "{}",
        stderr(&output)
    );
}

// A malformed file: exit 2 and an error naming the file and the line.
#[test]
fn malformed_file_exits_2_naming_the_line() {
    let file = HistoryFile::new(
        "bad.log",
        "INFO  jepsen.util - 1\t:invoke\t:read\tnil\nnonsense\n",
    );
    let output = zksim_check(&["--format", "porcupine-etcd", file.path()]);
    assert_eq!(output.status.code(), Some(2));
    let expected = format!("{}:2: expected `INFO jepsen.util", file.path());
    assert!(stderr(&output).contains(&expected), "{}", stderr(&output));
}

// A missing file: exit 2.
#[test]
fn missing_file_exits_2() {
    let output = zksim_check(&["--format", "porcupine-kv", "/nonexistent/history.txt"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot read /nonexistent/history.txt"),
        "{}",
        stderr(&output)
    );
}

// A budget too small to decide: verdict unknown, exit 2.
#[test]
fn exhausted_budget_exits_2() {
    let file = HistoryFile::new("budget.edn", KNOSSOS_OK);
    let output = zksim_check(&["--format", "knossos-cas", "--max-steps", "0", file.path()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).contains("unknown: "), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("budget of 0 steps"),
        "{}",
        stdout(&output)
    );
}

/// `zksim run` of a built-in recipe scenario, its history saved to `file`.
fn run_recipe(scenario: &str, seed: &str, bug: Option<&str>, file: &HistoryFile) {
    let mut args = vec!["run", "--scenario", scenario, "--seed", seed];
    args.extend(["--history", file.path()]);
    if let Some(b) = bug {
        args.extend(["--bug", b]);
    }
    let output = common::command().args(&args).output().expect("zksim runs");
    assert!(output.status.code().is_some(), "{}", stderr(&output));
}

// A recipe run's saved history is judged on the recipe's invariants too, as the run was:
// everything holds, exit 0, with the recipe's counts.
#[test]
fn recipe_history_that_holds_exits_0() {
    let file = HistoryFile::new("counter.jsonl", "");
    run_recipe("counter", "0", None, &file);
    let output = zksim_check(&[file.path()]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let out = stdout(&output);
    assert!(
        out.starts_with("all properties and the invariants of recipe counter hold: "),
        "{out}"
    );
    assert!(out.contains("counter final reads 1"), "{out}");
}

// watch-after-read breaks the config recipe's invariant: `zksim check` of the saved history
// reports it, exit 1, and the page shows it beside the properties.
#[test]
fn recipe_history_with_a_broken_invariant_exits_1() {
    let file = HistoryFile::new("config.jsonl", "");
    run_recipe("config", "0", Some("watch-after-read"), &file);
    let html = HistoryFile::new("config.html", "");
    let output = zksim_check(&[file.path(), "--html", html.path()]);
    let page = std::fs::read_to_string(&html.0).expect("the page is written");
    assert!(
        page.contains(r#"["config-no-mixed-versions","violated""#),
        "the page lists the recipe's invariant as violated"
    );
    assert!(
        page.contains("with no watch event for /ready in between"),
        "the page holds the recipe's finding"
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("\nconfig-no-mixed-versions is violated (recipe config"),
        "{out}"
    );
    assert!(
        out.contains("with no watch event for /ready in between"),
        "{out}"
    );
}

// A header naming a recipe the checker does not know is bad input: exit 2.
#[test]
fn unknown_recipe_exits_2() {
    let mut events = generated(5, 50);
    events[0] = events[0].clone().with_recipe(Some("mutex".into()), 4);
    let file = HistoryFile::new("mutex.jsonl", &zksim_checker::history::to_jsonl(&events));
    let output = zksim_check(&[file.path()]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("recipe \"mutex\", which the checker does not know"),
        "{}",
        stderr(&output)
    );
}

/// Exit 2 with exactly one line on stderr that contains `what`, and nothing on stdout.
fn assert_refused(output: &Output, what: &str) {
    assert_eq!(output.status.code(), Some(2), "{}", stderr(output));
    let err = stderr(output);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(what), "{err}");
    assert!(stdout(output).is_empty(), "{}", stdout(output));
}

// Input the checker cannot trust is refused with one line: an empty external history in
// every format (an empty file, only blank lines, an empty list), a zksim history that is
// only a header, a txn that no replica applied, a replica the header does not name, and a
// reply without a request.
#[test]
fn untrusted_input_is_refused_with_one_line() {
    for format in ["porcupine-etcd", "porcupine-kv", "knossos-cas"] {
        for (name, text) in [("empty", ""), ("blank", "\n\n"), ("list", "[]\n")] {
            let file = HistoryFile::new(&format!("{format}-{name}.txt"), text);
            let output = zksim_check(&["--format", format, file.path()]);
            assert_eq!(output.status.code(), Some(2), "{format} {name}");
            assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
        }
        let file = HistoryFile::new(&format!("{format}-nothing.txt"), "\n");
        let output = zksim_check(&["--format", format, file.path()]);
        if format != "knossos-cas" {
            assert_refused(&output, "nothing to check");
        }
    }
    let events = generated(5, 50);
    let header = zksim_checker::history::to_jsonl(&events[..1]);
    let file = HistoryFile::new("header-only.jsonl", &header);
    assert_refused(&zksim_check(&[file.path()]), "only its header");

    let mut unapplied = events.clone();
    for e in &mut unapplied {
        if let zksim_checker::history::Event::Replica { segments, .. } = e {
            for s in segments {
                s.zxids.retain(|z| *z != 1 << 32 | 1);
            }
        }
    }
    let file = HistoryFile::new(
        "unapplied.jsonl",
        &zksim_checker::history::to_jsonl(&unapplied),
    );
    assert_refused(&zksim_check(&[file.path()]), "no replica line lists it");

    let mut stranger = events.clone();
    if let Some(zksim_checker::history::Event::Replica { server, .. }) = stranger.last_mut() {
        *server = 99;
    }
    let file = HistoryFile::new(
        "stranger.jsonl",
        &zksim_checker::history::to_jsonl(&stranger),
    );
    assert_refused(&zksim_check(&[file.path()]), "server 99");

    let mut text = zksim_checker::history::to_jsonl(&events);
    text.push_str("{\"type\":\"complete\",\"t\":99999999,\"client\":3,\"xid\":777,\"outcome\":{\"unknown\":{\"reason\":\"x\"}}}\n");
    let file = HistoryFile::new("orphan-reply.jsonl", &text);
    assert_refused(&zksim_check(&[file.path()]), "never invoked");
}

// A history file past `--max-file-mb` is refused before it is read, with its size and the
// bound (checking holds about 2.3 times the file, so the default keeps a check under
// 2 GB); raised, the same file is judged.
#[test]
fn a_history_past_the_size_bound_is_refused_before_it_is_read() {
    let mut text = KNOSSOS_OK.to_string();
    text.push_str(&" ".repeat(3 << 20));
    let file = HistoryFile::new("big.edn", &text);
    let o = zksim_check(&["--format", "knossos-cas", "--max-file-mb", "1", file.path()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("4 MB is over the 1 MB a check reads"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    let o = zksim_check(&["--format", "knossos-cas", "--max-file-mb", "8", file.path()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}
