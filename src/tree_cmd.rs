//! `zksim tree replay`: apply a JSON-lines file of operations to a fresh data tree.

use crate::output::{check_file_size, errln};
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
        /// Refuse an operations file larger than this, in MB (the file, its parsed
        /// operations and the tree it builds are held at once).
        #[arg(long, value_name = "MB", default_value_t = MAX_FILE_MB_DEFAULT)]
        max_file_mb: u64,
    },
}

/// The largest operations file `tree replay` reads by default.
pub const MAX_FILE_MB_DEFAULT: u64 = 256;

pub fn run(cmd: TreeCommand) -> ExitCode {
    match cmd {
        TreeCommand::Replay { file, max_file_mb } => replay_file(&file, max_file_mb),
    }
}

fn replay_file(file: &PathBuf, max_file_mb: u64) -> ExitCode {
    let why = "the file, its operations and the tree are held at once";
    if let Err(e) = check_file_size(file, max_file_mb, "a replay", why) {
        errln!("zksim tree replay: {e}");
        return ExitCode::from(2);
    }
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            errln!("zksim tree replay: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut written = true;
    let mut i = 0;
    // Each result is printed as it is made: results are never all held at once.
    let replayed = replay::replay_each(&text, |r| {
        if let Some(message) = &r.message {
            errln!("operation {i}: {message}");
        }
        i += 1;
        written = writeln!(out, "{}", r.json).is_ok();
        written
    });
    if let Err(e) = replayed {
        errln!("zksim tree replay: {}: {e}", file.display());
        return ExitCode::from(2);
    }
    if !written || out.flush().is_err() {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
