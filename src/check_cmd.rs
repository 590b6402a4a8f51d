//! `zksim check`: judge a history file.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The history file.
    pub file: PathBuf,
}

pub fn run(args: CheckArgs) -> ExitCode {
    eprintln!("zksim check: not yet available for {}", args.file.display());
    ExitCode::from(2)
}
