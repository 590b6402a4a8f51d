//! `zksim check`: judge a recorded history.
//!
//! Exit codes: 0 linearizable, 1 not linearizable (with a short report), 2 anything else
//! (a file that cannot be read or parsed, a verdict the search budget could not reach, a
//! format not supported yet). See docs/checker.md.

use std::path::PathBuf;
use std::process::ExitCode;

use zksim_checker::external::{ExternalHistory, Format};
use zksim_checker::linearizability::{Budget, Verdict};

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The history file.
    pub file: PathBuf,
    /// Read FILE as a history recorded by another project, in this format. Without it,
    /// FILE is a zksim history.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Give up, with verdict unknown (exit 2), after this many search steps.
    #[arg(long, default_value_t = Budget::DEFAULT_MAX_STEPS)]
    pub max_steps: u64,
}

/// The external formats, as named on the command line.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum FormatArg {
    /// Jepsen etcd logs as in porcupine's test data (a CAS register starting at nil).
    PorcupineEtcd,
    /// Porcupine's key-value logs (get/put/append, checked per key).
    PorcupineKv,
    /// Knossos's cas-register histories (a CAS register starting at 0).
    KnossosCas,
}

impl From<FormatArg> for Format {
    fn from(arg: FormatArg) -> Self {
        match arg {
            FormatArg::PorcupineEtcd => Format::PorcupineEtcd,
            FormatArg::PorcupineKv => Format::PorcupineKv,
            FormatArg::KnossosCas => Format::KnossosCas,
        }
    }
}

const NOT_LINEARIZABLE: u8 = 1;
const CANNOT_DECIDE: u8 = 2;

pub fn run(args: CheckArgs) -> ExitCode {
    let Some(format) = args.format else {
        eprintln!(
            "zksim check: zksim history format not yet supported ({}); to check a history \
             recorded elsewhere, pass --format porcupine-etcd, porcupine-kv or knossos-cas",
            args.file.display()
        );
        return ExitCode::from(CANNOT_DECIDE);
    };
    let history = match ExternalHistory::load(format.into(), &args.file) {
        Ok(history) => history,
        Err(error) => {
            eprintln!("zksim check: {error}");
            return ExitCode::from(CANNOT_DECIDE);
        }
    };
    let result = history.check(Budget::steps(args.max_steps));
    let file = args.file.display();
    let stats = result.stats;
    match &result.verdict {
        Verdict::Linearizable => {
            let partitions = match stats.partitions {
                1 => "1 partition".to_string(),
                n => format!("{n} partitions"),
            };
            println!(
                "linearizable: {file} ({} operations, {partitions}, {} search steps)",
                stats.operations, stats.steps
            );
            ExitCode::SUCCESS
        }
        Verdict::Violation(_) => {
            println!("NOT linearizable: {file}");
            print!("{}", history.report(&result.verdict));
            ExitCode::from(NOT_LINEARIZABLE)
        }
        Verdict::Unknown(reason) => {
            println!("unknown: {file}: {reason}");
            ExitCode::from(CANNOT_DECIDE)
        }
    }
}
