//! Hostile and careless input, end to end through the `zksim` binary: every command fails
//! cleanly (one line naming what is wrong, exit 2) or, when its reader goes away, ends
//! quietly; none panics.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn zksim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zksim"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("zksim-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    fn path(&self, file: &str) -> String {
        self.0.join(file).to_str().expect("UTF-8").to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small history to check: a short run of the default scenario.
fn history(dir: &TempDir) -> String {
    let file = dir.path("h.jsonl");
    let o = zksim()
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
        let o = zksim()
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
        let o = zksim()
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
