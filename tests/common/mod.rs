//! What the end-to-end tests share: the `zksim` binary, its output as text, and a
//! temporary directory per test. (Each test file uses part of it.)
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `zksim` binary, to configure before running (without the caller's `RUST_LOG`:
/// a test that wants logs sets it).
pub fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zksim"));
    c.env_remove("RUST_LOG");
    c
}

/// Run `zksim` with `args` and wait for it.
pub fn zksim(args: &[&str]) -> Output {
    command().args(args).output().expect("zksim runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh directory for one test, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("zksim-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// The path of `file` in the directory.
    pub fn path(&self, file: &str) -> String {
        self.0.join(file).to_str().expect("UTF-8").to_string()
    }

    /// Write `text` to `file` in the directory; its path.
    pub fn write(&self, file: &str, text: &str) -> String {
        let path = self.path(file);
        std::fs::write(&path, text).expect("a file written");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
