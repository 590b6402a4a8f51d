//! `zksim tree replay`: apply a JSON-lines file of operations to a fresh data tree.

use crate::output::errln;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use zksim_core::replay;

#[derive(clap::Subcommand)]
pub enum TreeCommand {
    /// Apply a JSON-lines file of operations (docs/tree-replay.md) to a fresh
    /// single-server tree and print one JSON line of result per operation.
    Replay {
        /// The operations file.
        file: PathBuf,
    },
}

pub fn run(cmd: TreeCommand) -> ExitCode {
    match cmd {
        TreeCommand::Replay { file } => replay_file(&file),
    }
}

fn replay_file(file: &PathBuf) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            errln!("zksim tree replay: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let results = match replay::replay_text(&text) {
        Ok(results) => results,
        Err(e) => {
            errln!("zksim tree replay: {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (i, r) in results.iter().enumerate() {
        if let Some(message) = &r.message {
            errln!("operation {i}: {message}");
        }
        if writeln!(out, "{}", r.json).is_err() {
            return ExitCode::from(2);
        }
    }
    if out.flush().is_err() {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
