//! `zksim tree replay`: apply a JSON-lines file of operations to a fresh data tree.

use std::path::PathBuf;
use std::process::ExitCode;

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
        TreeCommand::Replay { file } => {
            eprintln!("zksim tree replay: not yet available for {}", file.display());
            ExitCode::from(2)
        }
    }
}
