//! `zksim check`: judge a recorded history.
//!
//! A zksim history (the default) is held to every ZooKeeper property (docs/properties.md)
//! and, when its header names a recipe, to that recipe's invariants (docs/recipes.md);
//! `--format` reads a history recorded by another project and checks it for
//! linearizability. Exit codes: 0 everything holds, 1 a violation (with a report whose
//! first line names the property), 2 anything else (a file that cannot be read or parsed,
//! a verdict the search budget could not reach). See docs/checker.md.

use crate::output::{check_file_size, errln, out, outln};
use std::path::PathBuf;
use std::process::ExitCode;

use zksim_checker::external::{ExternalHistory, Format};
use zksim_checker::linearizability::{Budget, Verdict};
use zksim_checker::props::{Options, check_all};
use zksim_checker::{History, history, html, recipes, report};

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The history file.
    pub file: PathBuf,
    /// Read FILE as a history recorded by another project, in this format. Without it,
    /// FILE is a zksim history.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Give up, with verdict unknown (exit 2), after this many search steps [default:
    /// 20000000 with --format; 100000 for a zksim history, whose model steps cost more]
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Also write a self-contained HTML page of the history with the violations marked
    /// (zksim histories only).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Refuse a history file larger than this, in MB: checking holds about 2.3 times the
    /// file in memory, so the default keeps a check under 2 GB. Raise it on a machine with
    /// the memory.
    #[arg(long, value_name = "MB", default_value_t = MAX_FILE_MB_DEFAULT)]
    pub max_file_mb: u64,
}

/// The largest history file `check` reads by default (1.16 GB resident for a 509 MB file,
/// docs/checker.md: 768 MB needs about 1.8 GB).
pub const MAX_FILE_MB_DEFAULT: u64 = 768;

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

/// A violation (or, with --format, not linearizable).
const NOT_LINEARIZABLE: u8 = 1;
const CANNOT_DECIDE: u8 = 2;

pub fn run(args: CheckArgs) -> ExitCode {
    let why = "it holds about 2.3 times the file in memory";
    if let Err(e) = check_file_size(&args.file, args.max_file_mb, "a check", why) {
        errln!("zksim check: {e}");
        return ExitCode::from(CANNOT_DECIDE);
    }
    let Some(format) = args.format else {
        return run_zksim(&args);
    };
    if args.html.is_some() {
        errln!("zksim check: --html is for zksim histories; drop --format or --html");
        return ExitCode::from(CANNOT_DECIDE);
    }
    let history = match ExternalHistory::load(format.into(), &args.file) {
        Ok(history) => history,
        Err(error) => {
            errln!("zksim check: {error}");
            return ExitCode::from(CANNOT_DECIDE);
        }
    };
    let max_steps = args.max_steps.unwrap_or(Budget::DEFAULT_MAX_STEPS);
    let result = history.check(Budget::steps(max_steps));
    let file = args.file.display();
    let stats = result.stats;
    match &result.verdict {
        Verdict::Linearizable => {
            let partitions = match stats.partitions {
                1 => "1 partition".to_string(),
                n => format!("{n} partitions"),
            };
            outln!(
                "linearizable: {file} ({} operations, {partitions}, {} search steps)",
                stats.operations,
                stats.steps
            );
            ExitCode::SUCCESS
        }
        Verdict::Violation(_) => {
            outln!("NOT linearizable: {file}");
            out!("{}", history.report(&result.verdict));
            ExitCode::from(NOT_LINEARIZABLE)
        }
        Verdict::Unknown(reason) => {
            outln!("unknown: {file}: {reason}");
            ExitCode::from(CANNOT_DECIDE)
        }
    }
}

/// Check a zksim history against every property, and its recipe's invariants.
fn run_zksim(args: &CheckArgs) -> ExitCode {
    let file = args.file.display().to_string();
    // Read block by block on every core: the text is never held whole.
    if let Some(path) = &args.html {
        let same = |a: &std::path::Path, b: &std::path::Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
        if same(path, &args.file) {
            errln!(
                "zksim check: --html {} is the history being checked; it would be overwritten",
                path.display()
            );
            return ExitCode::from(CANNOT_DECIDE);
        }
        if let Err(e) = crate::output::check_writable_file(path) {
            errln!("zksim check: {e}");
            return ExitCode::from(CANNOT_DECIDE);
        }
    }
    let events = std::fs::File::open(&args.file)
        .map_err(history::ReadError::from)
        .and_then(history::read);
    let events = match events {
        Ok(events) => events,
        Err(error) => {
            errln!("zksim check: {file}: {error}");
            return ExitCode::from(CANNOT_DECIDE);
        }
    };
    let h = match History::new(&events) {
        Ok(h) => h,
        Err(error) => {
            errln!("zksim check: {file}: {error}");
            return ExitCode::from(CANNOT_DECIDE);
        }
    };
    let recipe = match recipes::check(&h) {
        Ok(recipe) => recipe,
        Err(error) => {
            errln!("zksim check: {file}: {error}");
            return ExitCode::from(CANNOT_DECIDE);
        }
    };
    let report = check_all(
        &h,
        Options {
            max_steps: args.max_steps.unwrap_or(Options::DEFAULT_MAX_STEPS),
        },
    );
    out!("{}", report::render(&h, &report, recipe.as_ref(), &file));
    if let Some(path) = &args.html {
        if let Err(error) = std::fs::write(path, html::render(&h, &report, recipe.as_ref(), &file))
        {
            errln!("zksim check: {}: {error}", path.display());
            return ExitCode::from(CANNOT_DECIDE);
        }
    }
    let recipe_violated = recipe.as_ref().is_some_and(|r| !r.holds());
    let code = if report.violated().next().is_some() || recipe_violated {
        ExitCode::from(NOT_LINEARIZABLE)
    } else if report.unknown().next().is_some() {
        ExitCode::from(CANNOT_DECIDE)
    } else {
        ExitCode::SUCCESS
    };
    // The process ends next and the system takes the memory back at once; freeing millions
    // of events one by one first would take a tenth of a large history's check.
    std::mem::forget(h);
    std::mem::forget(events);
    code
}
