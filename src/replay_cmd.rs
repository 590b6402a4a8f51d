//! `zksim replay`: rerun one seed with the full trace, write its history, trace and HTML
//! report, and print the verdict.

use crate::output::{errln, out, outln};
use std::path::PathBuf;
use std::process::ExitCode;

use zksim_checker::{History, check_all};
use zksim_sim::TraceMode;

use crate::judge::{ScenarioArg, judge, replay_command};
use crate::run_cmd::parse_bugs;

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// A built-in scenario, a scenario file, or `swarm`.
    #[arg(long, default_value = "default")]
    pub scenario: String,
    #[arg(long)]
    pub seed: u64,
    /// Re-create a known mistake in the service (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Where to write trace.txt, history.jsonl, report.txt and report.html.
    #[arg(long, default_value = "zksim-replay")]
    pub out: PathBuf,
}

pub fn run(args: ReplayArgs) -> ExitCode {
    let (arg, bugs) = match (ScenarioArg::parse(&args.scenario), parse_bugs(&args.bugs)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            errln!("zksim replay: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = crate::output::check_writable_dir(&args.out) {
        errln!("zksim replay: {e}");
        return ExitCode::from(2);
    }
    let scenario = arg.for_seed(args.seed);
    let replay = replay_command(arg.arg(), args.seed, &bugs);
    outln!("zksim replay: scenario {}, seed {}", arg.arg(), args.seed);
    let (j, report) = judge(
        &scenario,
        args.seed,
        bugs,
        TraceMode::Keep,
        Some(replay.clone()),
    );
    let Some(report) = report else {
        if let Some(h) = &j.harness {
            errln!("zksim replay: {h}");
            return ExitCode::from(2);
        }
        outln!("FAILED: {}", j.reason());
        outln!("replay: {replay}");
        return ExitCode::from(1);
    };
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        errln!("zksim replay: cannot create {}: {e}", args.out.display());
        return ExitCode::from(2);
    }
    let history = History::new(&report.history).expect("a run's history is well formed");
    let verdict = check_all(&history, crate::judge::run_check_options());
    let name = args.out.join("history.jsonl");
    let recipe = zksim_checker::recipes::check(&history).ok().flatten();
    let name = name.display().to_string();
    let text = zksim_checker::report::render(&history, &verdict, recipe.as_ref(), &name);
    let files = [
        ("trace.txt", report.trace_lines.join("\n") + "\n"),
        (
            "history.jsonl",
            zksim_checker::history::to_jsonl(&report.history),
        ),
        ("report.txt", text.clone()),
        (
            "report.html",
            zksim_checker::html::render(&history, &verdict, recipe.as_ref(), "history.jsonl"),
        ),
    ];
    for (file, content) in files {
        let path = args.out.join(file);
        if let Err(e) = std::fs::write(&path, content) {
            errln!("zksim replay: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    outln!(
        "  {} trace lines (hash {:016x}), {} history events",
        report.trace_count,
        report.trace_hash.unwrap_or(0),
        report.history.len()
    );
    if let Some(b) = &j.budget {
        outln!("  FAILED: {b}");
    }
    if let Some(l) = &j.liveness {
        outln!("  FAILED: no liveness: {l}");
    }
    for p in &j.protocol {
        outln!("  FAILED: client protocol violation: {p}");
    }
    outln!();
    out!("{text}");
    outln!(
        "\nwrote {0}/trace.txt, {0}/history.jsonl, {0}/report.txt and {0}/report.html",
        args.out.display()
    );
    if j.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
