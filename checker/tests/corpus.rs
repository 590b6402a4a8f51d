//! Every history in the external corpus (../shared/data, read in place) gets the verdict its
//! README gives: Jepsen etcd logs and key-value logs from porcupine's test data, and
//! Knossos's cas-register histories.
//!
//! The corpus lives beside the repository, not in it. When it is absent the test says so
//! and passes, unless `ZKSIM_REQUIRE_CORPUS` is set (as CI does), in which case it fails.

use std::path::{Path, PathBuf};

use zksim_checker::external::{ExternalHistory, Format};
use zksim_checker::linearizability::{Budget, Verdict};

/// From ../shared/data/README.md: the linearizable etcd logs; every other one is not.
const LINEARIZABLE_ETCD: [&str; 11] = [
    "002", "018", "038", "048", "056", "076", "080", "092", "098", "100", "102",
];

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("ZKSIM_REQUIRE_CORPUS").is_none(),
        "external history corpus {} not found, and ZKSIM_REQUIRE_CORPUS is set",
        dir.display()
    );
    println!("external history corpus ../shared/data not found; skipping");
    None
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no .{extension} files in {}",
        dir.display()
    );
    files
}

/// Checks one file and returns whether it is linearizable; any other verdict fails.
fn linearizable(format: Format, path: &Path) -> bool {
    let history = ExternalHistory::load(format, path).unwrap_or_else(|e| panic!("{e}"));
    let result = history.check(Budget::default());
    match result.verdict {
        Verdict::Linearizable => true,
        Verdict::Violation(_) => {
            // A violation comes with a report that names the operation it is about.
            assert!(
                history
                    .report(&result.verdict)
                    .contains("cannot be linearized")
            );
            false
        }
        Verdict::Unknown(reason) => panic!("{}: no verdict: {reason}", path.display()),
    }
}

fn name(path: &Path) -> String {
    path.file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

// porcupine/jepsen: the 11 listed logs are linearizable, the other 41 are not.
#[test]
fn porcupine_etcd_logs_get_their_known_verdicts() {
    let Some(dir) = corpus() else { return };
    let logs = files(&dir.join("porcupine/jepsen"), "log");
    assert_eq!(logs.len(), 52);
    let mut wrong = Vec::new();
    for log in &logs {
        let expected = LINEARIZABLE_ETCD
            .iter()
            .any(|n| name(log) == format!("etcd_{n}.log"));
        if linearizable(Format::PorcupineEtcd, log) != expected {
            wrong.push(name(log));
        }
    }
    assert!(wrong.is_empty(), "wrong verdicts: {wrong:?}");
}

// porcupine/kv: -ok files are linearizable, -bad files are not.
#[test]
fn porcupine_kv_logs_get_their_known_verdicts() {
    let Some(dir) = corpus() else { return };
    let logs = files(&dir.join("porcupine/kv"), "txt");
    assert_eq!(logs.len(), 6);
    for log in &logs {
        let expected = name(log).ends_with("-ok.txt");
        assert!(name(log).ends_with("-ok.txt") || name(log).ends_with("-bad.txt"));
        assert_eq!(
            linearizable(Format::PorcupineKv, log),
            expected,
            "{}",
            name(log)
        );
    }
}

// knossos/cas-register: good/ is linearizable, bad/ is not.
#[test]
fn knossos_histories_get_their_known_verdicts() {
    let Some(dir) = corpus() else { return };
    for (folder, expected) in [("good", true), ("bad", false)] {
        let histories = files(&dir.join("knossos/cas-register").join(folder), "edn");
        for history in &histories {
            let got = linearizable(Format::KnossosCas, history);
            assert_eq!(got, expected, "{folder}/{}", name(history));
        }
    }
}
