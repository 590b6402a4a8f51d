//! `zksim-fuzz`: fuzz one parser (or `all`) for a time or a number of executions, or run
//! saved inputs once (`--replay`). Exit codes: 0 nothing found, 1 a finding, 2 a usage
//! error, 3 the watchdog ended a hang or a process that grew too large (docs/fuzzing.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use clap::Parser;
use zksim_fuzz::{Config, Stats, Target, execute, fuzz, root, seeds};

#[derive(Parser)]
#[command(name = "zksim-fuzz", about = "Fuzz zksim's parsers")]
struct Args {
    /// The target (scenario, history, replay, etcd, kv, knossos, edn) or `all`.
    target: Option<String>,
    /// List the targets and exit.
    #[arg(long)]
    list: bool,
    /// Fuzz each target this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
    /// Fuzz each target this many executions (seeds included).
    #[arg(long)]
    executions: Option<u64>,
    /// The seed of the mutations.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// With `all`, fuzz this many targets at once.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Where the corpus/ and regressions/ folders are.
    #[arg(long, default_value_os_t = root())]
    root: PathBuf,
    /// Where findings are saved, one folder per target.
    #[arg(long, default_value_os_t = root().join("findings"))]
    findings: PathBuf,
    /// An execution longer than this is a finding.
    #[arg(long, default_value_t = 1000)]
    slow_ms: u64,
    /// An execution longer than this ends the run.
    #[arg(long, default_value_t = 30)]
    hang_seconds: u64,
    /// A process larger than this is a finding.
    #[arg(long, default_value_t = 2048)]
    memory_mib: u64,
    /// From this execution on, write each input to FINDINGS/TARGET/current before running
    /// it: rerun a crashed run with the same seed to find the input that crashed it.
    #[arg(long)]
    save_from: Option<u64>,
    /// Print each feature when an input first shows it.
    #[arg(long)]
    print_features: bool,
    /// Run these saved inputs once each instead of fuzzing.
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list {
        for t in Target::ALL {
            println!("{t}");
        }
        return ExitCode::SUCCESS;
    }
    let targets = match args.target.as_deref() {
        None => return usage("name a target, or `all`; --list lists them"),
        Some("all") => Target::ALL.to_vec(),
        Some(name) => match name.parse::<Target>() {
            Ok(t) => vec![t],
            Err(e) => return usage(&e),
        },
    };
    if !args.replay.is_empty() {
        return replay(&targets, &args);
    }
    if args.seconds.is_none() && args.executions.is_none() {
        return usage("give --seconds or --executions");
    }
    if args.seconds.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
        return usage("--seconds must be positive");
    }
    if args.jobs == 0 {
        return usage("--jobs must be at least 1");
    }
    let config = config(&args);
    println!(
        "zksim-fuzz {}: seed {}, {} per target, jobs {}, slow {} ms, hang {} s, memory {} MiB, inputs up to {} bytes, root {}, findings {}",
        args.target.as_deref().unwrap_or_default(),
        config.seed,
        budget(&args),
        args.jobs,
        args.slow_ms,
        args.hang_seconds,
        args.memory_mib,
        config.max_len,
        args.root.display(),
        args.findings.display()
    );
    let results = run_all(&targets, &args, &config);
    let mut found = 0;
    for (target, stats) in &results {
        let stats = match stats {
            Ok(stats) => stats,
            Err(e) => {
                eprintln!("zksim-fuzz {target}: cannot read its corpus: {e}");
                return ExitCode::from(2);
            }
        };
        for f in &stats.findings {
            found += 1;
            let path = f.saved.as_deref().map(|p| p.display().to_string());
            println!(
                "  {}: {} (execution {}); replay: cargo run --release -p zksim-fuzz -- {target} --replay {}",
                f.kind.name(),
                f.message,
                f.execution,
                path.unwrap_or_else(|| "(not saved)".to_string())
            );
        }
    }
    let executions: u64 = results
        .iter()
        .filter_map(|(_, s)| s.as_ref().ok())
        .map(|s| s.executions)
        .sum();
    println!("zksim-fuzz: {executions} executions, {found} findings");
    if found > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("zksim-fuzz: {message}");
    ExitCode::from(2)
}

fn budget(args: &Args) -> String {
    match (args.seconds, args.executions) {
        (Some(s), Some(n)) => format!("{s} s or {n} executions"),
        (Some(s), None) => format!("{s} s"),
        (None, Some(n)) => format!("{n} executions"),
        (None, None) => "nothing".to_string(),
    }
}

fn config(args: &Args) -> Config {
    let mut config = Config::new(args.seed);
    config.duration = args.seconds.map(Duration::from_secs_f64);
    config.executions = args.executions;
    config.slow = Duration::from_millis(args.slow_ms);
    config.hang = Duration::from_secs(args.hang_seconds);
    config.memory_bytes = args.memory_mib << 20;
    config.findings_dir = Some(args.findings.clone());
    config.save_from = args.save_from;
    config.status_every = Some(Duration::from_secs(60));
    config.print_features = args.print_features;
    config
}

type Outcome = (Target, std::io::Result<Stats>);

/// Fuzz every target, `--jobs` at a time, and return their stats in target order.
fn run_all(targets: &[Target], args: &Args, config: &Config) -> Vec<Outcome> {
    let queue = Mutex::new(targets.iter().copied());
    let results: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.min(targets.len()) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().expect("no thread panics holding it").next();
                    let Some(target) = next else { return };
                    let stats = seeds(&args.root, target).map(|s| fuzz(target, s, config));
                    if let Ok(stats) = &stats {
                        println!("{}", stats.summary(target));
                    }
                    results
                        .lock()
                        .expect("no thread panics holding it")
                        .push((target, stats));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("the threads have ended");
    results.sort_by_key(|(t, _)| *t);
    results
}

/// Run each file once on the target; a panic or a slow execution fails.
fn replay(targets: &[Target], args: &Args) -> ExitCode {
    let [target] = targets else {
        return usage("--replay needs one target");
    };
    let mut failed = false;
    for path in &args.replay {
        let input = match std::fs::read(path) {
            Ok(input) => input,
            Err(e) => {
                eprintln!("zksim-fuzz: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let execution = execute(*target, &input);
        let ms = execution.elapsed.as_millis();
        let slow = execution.elapsed > Duration::from_millis(args.slow_ms);
        match &execution.result {
            Ok(features) => println!("{}: ok in {ms} ms: {}", path.display(), features.join("; ")),
            Err(panic) => println!("{}: PANIC in {ms} ms: {panic}", path.display()),
        }
        failed |= execution.result.is_err() || slow;
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
