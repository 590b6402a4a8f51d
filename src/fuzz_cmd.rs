//! `zksim fuzz`: coverage-guided fuzzing. Inputs (a scenario with its fault plan written
//! out, and a seed) that reach a protocol point no earlier input reached join a corpus;
//! most new inputs are mutants of corpus inputs (`zksim_scenarios::mutate`), the rest
//! fresh seeds (swarm draws a scenario from each), as AFL and the distributed-systems
//! fuzzers Mallory and DistFuzz do. `--mutate-percent 0` takes fresh seeds only.
//!
//! Reproducible: the run goes in generations of `--batch` inputs, each drawn from the
//! corpus as it stood when the generation began (fresh seeds in order from `--start`,
//! every other draw from a stream keyed by `--start` and the run's number), run in
//! parallel and merged in input order. A stopped generation keeps a prefix of its inputs,
//! so the same start, options and number of runs give the same inputs on any machine.
//!
//! The corpus folder holds `inputs/` (each input a scenario file named by its number and
//! seed, which `zksim run --scenario FILE --seed S` replays), `coverage.json` (every point
//! reached, each input's origin and the points it added) and a folder per failing case
//! (its scenario, shrunk scenario, report and replay commands). A later fuzz with the same
//! folder replays its inputs first and fuzzes on from them.

mod corpus;
mod growth;

use crate::output::{errln, outln};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use zksim_checker::History;
use zksim_core::server::Bugs;
use zksim_scenarios::{FaultPlan, Scenario, mutate, pick_weighted, stream};
use zksim_sim::TraceMode;

use crate::judge::{Judgement, ScenarioArg, judge, judge_only, quiet_panics, replay_command};
use crate::run_cmd::parse_bugs;
use corpus::{Corpus, CorpusError, Entry, Origin, Saved};
use growth::{Growth, Kind};

#[derive(clap::Args)]
pub struct FuzzArgs {
    /// The time budget in minutes (fractions allowed); with --runs, whichever ends first.
    #[arg(long)]
    pub minutes: Option<f64>,
    /// The budget in runs (fresh seeds and mutants); with --minutes, whichever ends first.
    #[arg(long)]
    pub runs: Option<u64>,
    /// The corpus folder: inputs/, coverage.json and a folder per failing case. Inputs an
    /// earlier fuzz left there are replayed first and fuzzed on from.
    #[arg(long, default_value = "zksim-corpus")]
    pub corpus: PathBuf,
    /// The first fresh seed; fresh seeds are taken in order from here.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// A scenario instead of swarm (a built-in name or a file).
    #[arg(long, default_value = "swarm")]
    pub scenario: String,
    /// Parallel runs (default: the number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Re-create a known mistake in the service (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Do not shrink failing cases (shrinking takes up to a few minutes per case).
    #[arg(long)]
    pub no_shrink: bool,
    /// Stop after this many failing cases.
    #[arg(long, default_value_t = 5)]
    pub max_failures: usize,
    /// Percent of the inputs that are mutants of corpus inputs, the rest fresh seeds; 0
    /// for fresh seeds only.
    #[arg(long, default_value_t = 75, value_name = "PERCENT")]
    pub mutate_percent: u32,
    /// Inputs per generation: drawn from the corpus as it stood when the generation began.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Print one JSON document at the end, for scripts (the other lines go to stderr).
    #[arg(long)]
    pub json: bool,
}

/// The largest generation.
const BATCH_MAX: usize = 10_000;

/// A progress line at most this often (after a generation), for long runs.
const PROGRESS_EVERY: Duration = Duration::from_secs(60);

/// A fuzz run's options, checked.
struct Settings {
    scenario: ScenarioArg,
    bugs: Bugs,
    jobs: usize,
    budget: Option<Duration>,
    runs: Option<u64>,
    max_failures: usize,
    mutate_percent: u32,
    batch: usize,
    start: u64,
    dir: PathBuf,
    shrink: bool,
    json: bool,
}

fn settings(args: FuzzArgs) -> Result<Settings, String> {
    if args.minutes.is_none() && args.runs.is_none() {
        return Err("give a budget: --minutes M, --runs N, or both (whichever ends first)".into());
    }
    if let Some(minutes) = args.minutes {
        if !(minutes > 0.0 && minutes.is_finite() && minutes <= 24.0 * 60.0) {
            return Err(format!(
                "--minutes {minutes}: give a positive budget of at most a day"
            ));
        }
    }
    if args.runs == Some(0) {
        return Err("--runs 0: give at least one run".into());
    }
    if args.max_failures == 0 {
        return Err("--max-failures must be at least 1".into());
    }
    if args.mutate_percent > 100 {
        return Err(format!(
            "--mutate-percent {}: a percentage, 0 to 100",
            args.mutate_percent
        ));
    }
    if !(1..=BATCH_MAX).contains(&args.batch) {
        return Err(format!("--batch {}: 1 to {BATCH_MAX}", args.batch));
    }
    let scenario = ScenarioArg::parse(&args.scenario)?;
    let bugs = parse_bugs(&args.bugs)?;
    let jobs = crate::sweep_cmd::jobs("fuzz", args.jobs)?;
    crate::output::check_writable_dir(&args.corpus).map_err(|e| format!("corpus: {e}"))?;
    Ok(Settings {
        scenario,
        bugs,
        jobs,
        budget: args.minutes.map(|m| Duration::from_secs_f64(m * 60.0)),
        runs: args.runs,
        max_failures: args.max_failures,
        mutate_percent: args.mutate_percent,
        batch: args.batch,
        start: args.start,
        dir: args.corpus,
        shrink: !args.no_shrink,
        json: args.json,
    })
}

pub fn run(args: FuzzArgs) -> ExitCode {
    let prepared = settings(args).and_then(|s| {
        let saved = corpus::load(&s.dir).map_err(|e| e.to_string())?;
        Ok((s, saved))
    });
    let (settings, saved) = match prepared {
        Ok(p) => p,
        Err(e) => {
            errln!("zksim fuzz: {e}");
            return ExitCode::from(2);
        }
    };
    let mut fuzz = Fuzz::new(&settings, &saved);
    fuzz.say(&header(&settings, saved.len()));
    quiet_panics();
    let outcome = fuzz
        .replay(saved)
        .and_then(|()| fuzz.generations())
        .map_err(|e| e.to_string())
        .and_then(|()| fuzz.finish());
    match outcome {
        Err(e) => {
            errln!("zksim fuzz: {e}");
            ExitCode::from(2)
        }
        Ok(()) if !fuzz.failures.is_empty() => ExitCode::from(1),
        Ok(()) if fuzz.harness_errors > 0 => ExitCode::from(2),
        Ok(()) => ExitCode::SUCCESS,
    }
}

/// The first line: every option that decides what runs.
fn header(s: &Settings, saved: usize) -> String {
    let budget = match (s.runs, s.budget) {
        (Some(r), Some(b)) => format!("{r} runs or {:.1} minutes", b.as_secs_f64() / 60.0),
        (Some(r), None) => format!("{r} runs"),
        (None, Some(b)) => format!("{:.1} minutes", b.as_secs_f64() / 60.0),
        (None, None) => unreachable!("settings require a budget"),
    };
    format!(
        "zksim fuzz: scenario {}, fresh seeds from {}, {budget} on {} threads, {}% mutants in generations of {}, corpus {}{}, bugs: {}",
        s.scenario.arg(),
        s.start,
        s.jobs,
        s.mutate_percent,
        s.batch,
        s.dir.display(),
        if saved > 0 {
            format!(" ({saved} inputs to replay)")
        } else {
            String::new()
        },
        if s.bugs.names().is_empty() {
            "none".to_string()
        } else {
            s.bugs.names().join(", ")
        }
    )
}

/// One run to make: the input and where it came from.
#[derive(Clone)]
struct Input {
    scenario: Scenario,
    seed: u64,
    origin: Origin,
    /// Its number and file, when it was read from the corpus folder.
    saved: Option<(usize, String)>,
}

/// A failing run.
struct Failure {
    /// The fuzz run (none for a corpus input replayed).
    run: Option<u64>,
    label: String,
    input: Input,
    judgement: Judgement,
    case: Option<PathBuf>,
}

struct Fuzz<'a> {
    settings: &'a Settings,
    corpus: Corpus,
    growth: Growth,
    failures: Vec<Failure>,
    ops: u64,
    harness_errors: usize,
    /// The next fresh seed; none once every seed from `--start` on was taken.
    next_fresh: Option<u64>,
    started: Instant,
    last_progress: Instant,
}

impl<'a> Fuzz<'a> {
    fn new(settings: &'a Settings, saved: &[Saved]) -> Fuzz<'a> {
        Fuzz {
            settings,
            corpus: Corpus::new(&settings.dir, saved),
            growth: Growth::default(),
            failures: Vec::new(),
            ops: 0,
            harness_errors: 0,
            next_fresh: Some(settings.start),
            started: Instant::now(),
            last_progress: Instant::now(),
        }
    }

    /// A line of the human summary: standard output, or standard error under `--json`.
    fn say(&self, line: &str) {
        if self.settings.json {
            errln!("{line}");
        } else {
            outln!("{line}");
        }
    }

    /// Replay the inputs read from the corpus folder; each joins the corpus again.
    fn replay(&mut self, saved: Vec<Saved>) -> Result<(), CorpusError> {
        let inputs: Vec<Input> = saved
            .into_iter()
            .map(|s| Input {
                scenario: s.scenario,
                seed: s.seed,
                origin: Origin::Resumed,
                saved: Some((s.id, s.file)),
            })
            .collect();
        let results = run_batch(&inputs, self.settings, &|_| false);
        for (input, j) in inputs.into_iter().zip(results) {
            self.merge(input, j)?;
        }
        Ok(())
    }

    /// Fuzz generation after generation until a budget is spent.
    fn generations(&mut self) -> Result<(), CorpusError> {
        let s = self.settings;
        loop {
            let left = s.runs.map_or(u64::MAX, |r| r - self.growth.runs);
            if left == 0 || self.out_of_time() || self.failures.len() >= s.max_failures {
                return Ok(());
            }
            let n = usize::try_from(left).map_or(s.batch, |l| l.min(s.batch));
            let inputs = self.generation(n);
            if inputs.is_empty() {
                self.say("every fresh seed from --start on was taken");
                return Ok(());
            }
            let failed_before = self.failures.len();
            let (started, budget) = (self.started, s.budget);
            let stop = move |failed: usize| {
                budget.is_some_and(|b| started.elapsed() >= b)
                    || failed_before + failed >= s.max_failures
            };
            let results = run_batch(&inputs, s, &stop);
            let complete = results.len() == inputs.len();
            for (input, j) in inputs.into_iter().zip(results) {
                self.merge(input, j)?;
            }
            if !complete {
                return Ok(());
            }
            if self.last_progress.elapsed() >= PROGRESS_EVERY {
                self.last_progress = Instant::now();
                self.say(&self.progress());
            }
        }
    }

    /// `progress: 120 runs (90 fresh, 30 mutants), 150 points, 31 corpus inputs, 0 failed,
    /// 240 s`.
    fn progress(&self) -> String {
        let g = &self.growth;
        format!(
            "progress: {} runs ({} fresh, {} mutants), {} points, {} corpus inputs, {} failed, {:.0} s",
            g.runs,
            g.fresh_runs,
            g.mutant_runs,
            g.points.len(),
            self.corpus.entries.len(),
            self.failures.len(),
            self.started.elapsed().as_secs_f64()
        )
    }

    fn out_of_time(&self) -> bool {
        self.settings
            .budget
            .is_some_and(|b| self.started.elapsed() >= b)
    }

    /// The next `n` inputs, from the corpus as it stands: mutants where `is_mutant_run`
    /// says so, fresh seeds elsewhere and while the corpus is empty.
    fn generation(&mut self, n: usize) -> Vec<Input> {
        let mut inputs = Vec::with_capacity(n);
        for slot in 0..n as u64 {
            let run = self.growth.runs + slot;
            if !is_mutant_run(run, self.settings.mutate_percent) || self.corpus.entries.is_empty() {
                if let Some(input) = self.fresh() {
                    inputs.push(input);
                    continue;
                }
                if self.corpus.entries.is_empty() {
                    break;
                }
            }
            inputs.push(self.mutant(run));
        }
        inputs
    }

    /// The next fresh seed's input, its plan written out.
    fn fresh(&mut self) -> Option<Input> {
        let seed = self.next_fresh?;
        self.next_fresh = seed.checked_add(1);
        let mut scenario = self.settings.scenario.for_seed(seed);
        if scenario.plan.is_none() {
            scenario.plan = Some(FaultPlan::generate(&scenario, seed));
        }
        Some(Input {
            scenario,
            seed,
            origin: Origin::Fresh,
            saved: None,
        })
    }

    /// A mutant for fuzz run `run`: a corpus input picked by energy, another picked
    /// uniformly for a splice, both drawn from the stream `fuzz-schedule` of the run's key.
    fn mutant(&mut self, run: u64) -> Input {
        let key = run_key(self.settings.start, run);
        let mut rng = stream(key, "fuzz-schedule");
        let parent = self.corpus.pick(&self.growth, &mut rng);
        let donor = pick_weighted(&mut rng, &vec![1; self.corpus.entries.len()]);
        let (p, d) = (&self.corpus.entries[parent], &self.corpus.entries[donor]);
        let mut m = mutate(&p.scenario, p.seed, &d.scenario, key);
        let spliced = m.mutations.iter().any(|w| w.starts_with("splice"));
        m.scenario.description = format!("a mutant of input {}: {}", p.id, m.mutations.join("; "));
        Input {
            scenario: m.scenario,
            seed: m.seed,
            origin: Origin::Mutant {
                parent: p.id,
                donor: spliced.then_some(d.id),
                mutations: m.mutations,
            },
            saved: None,
        }
    }

    /// Take a finished run: count its coverage, keep the input when it reached a new
    /// point (or was read from the folder), note a failure.
    fn merge(&mut self, input: Input, j: Judgement) -> Result<(), CorpusError> {
        let secs = self.started.elapsed().as_secs_f64();
        let kind = match input.origin {
            Origin::Fresh => Kind::Fresh,
            Origin::Mutant { .. } => Kind::Mutant,
            Origin::Resumed => Kind::Resumed,
        };
        let new = self.growth.add(kind, secs, &j.coverage);
        let run = (kind != Kind::Resumed).then_some(self.growth.runs);
        self.ops += j.ops;
        let label = self.label(&input, run);
        if let Some(h) = &j.harness {
            // Not the service's failure: said, counted, never kept.
            errln!("zksim fuzz: {label}: {h}");
            self.harness_errors += 1;
            return Ok(());
        }
        if !j.ok() {
            self.say(&format!("FAILED {label}: {}", j.reason()));
            self.failures.push(Failure {
                run,
                label,
                input: input.clone(),
                judgement: j.clone(),
                case: None,
            });
        }
        if !new.is_empty() || input.saved.is_some() {
            let entry = Entry {
                id: 0,
                file: String::new(),
                scenario: input.scenario,
                seed: input.seed,
                origin: input.origin,
                reached: j.coverage,
                new,
                run,
                secs,
                ops: j.ops,
                events: j.events,
                picked: 0,
            };
            self.corpus.add(entry, input.saved)?;
        }
        Ok(())
    }

    /// How a run is named in the output: `run 12 (swarm seed 1000011)`.
    fn label(&self, input: &Input, run: Option<u64>) -> String {
        let what = match &input.origin {
            Origin::Fresh => format!("{} seed {}", self.settings.scenario.arg(), input.seed),
            Origin::Mutant { parent, .. } => {
                format!("a mutant of input {parent}, seed {}", input.seed)
            }
            Origin::Resumed => {
                let file = input.saved.as_ref().map_or("", |(_, f)| f.as_str());
                format!("corpus input {file}")
            }
        };
        match run {
            Some(r) => format!("run {r} ({what})"),
            None => what,
        }
    }

    /// Write coverage.json and the failing cases, and print the summary.
    fn finish(&mut self) -> Result<(), String> {
        let secs = self.started.elapsed().as_secs_f64();
        write_coverage(&self.settings.dir, &self.corpus, &self.growth)?;
        for i in 0..self.failures.len() {
            let case = self.settings.dir.join(case_name(
                self.settings.scenario.arg(),
                &self.failures[i].input,
            ));
            keep_case(&case, &self.failures[i], self.settings)
                .map_err(|e| format!("cannot keep {}: {e}", case.display()))?;
            self.failures[i].case = Some(case);
        }
        for line in self.summary(secs) {
            self.say(&line);
        }
        for f in &self.failures {
            if let Some(case) = &f.case {
                self.say(&format!("  kept {}", case.display()));
            }
        }
        if self.settings.json {
            outln!("{}", self.json(secs));
        }
        Ok(())
    }

    fn summary(&self, secs: f64) -> Vec<String> {
        let g = &self.growth;
        let s = self.settings;
        let fresh = match g.fresh_runs {
            0 => "no fresh seeds".to_string(),
            n => format!("{n} fresh seeds ({}..={})", s.start, s.start + (n - 1)),
        };
        let mut lines = vec![format!(
            "{} runs: {fresh} and {} mutants{}; {} operations, {} failed, in {secs:.0} s ({:.2} runs/s)",
            g.runs,
            g.mutant_runs,
            if g.replayed > 0 {
                format!(", after {} corpus inputs replayed", g.replayed)
            } else {
                String::new()
            },
            self.ops,
            self.failures.len(),
            (g.runs + g.replayed) as f64 / secs.max(1e-9)
        )];
        lines.extend(g.summary(secs));
        let count = |kind: &str| {
            self.corpus
                .entries
                .iter()
                .filter(|e| origin_name(&e.origin) == kind)
                .count()
        };
        lines.push(format!(
            "corpus: {} inputs in {} ({} fresh, {} mutants, {} replayed)",
            self.corpus.entries.len(),
            s.dir.join(corpus::INPUTS).display(),
            count("fresh"),
            count("mutant"),
            count("resumed")
        ));
        if let Some(f) = self.failures.first() {
            lines.push(format!("first failure: {}", f.label));
        }
        lines
    }

    fn json(&self, secs: f64) -> String {
        let g = &self.growth;
        let (rss, peak) =
            crate::sweep_cmd::resident_kb().map_or((None, None), |(r, p)| (Some(r), Some(p)));
        let failures: Vec<_> = self
            .failures
            .iter()
            .map(|f| {
                json!({
                    "run": f.run,
                    "origin": origin_name(&f.input.origin),
                    "seed": f.input.seed,
                    "reason": f.judgement.reason(),
                    "failure_kinds": f.judgement.failure_kinds(),
                    "case": f.case.as_ref().map(|c| c.display().to_string()),
                })
            })
            .collect();
        let v = json!({
            "runs": g.runs,
            "fresh_runs": g.fresh_runs,
            "mutant_runs": g.mutant_runs,
            "replayed": g.replayed,
            "start": self.settings.start,
            "mutate_percent": self.settings.mutate_percent,
            "batch": self.settings.batch,
            "ops": self.ops,
            "failed": self.failures.len(),
            "harness_errors": self.harness_errors,
            "first_failure_run": self.failures.iter().find_map(|f| f.run),
            "failures": failures,
            "corpus_inputs": self.corpus.entries.len(),
            "wall_s": secs,
            "bugs": self.settings.bugs.names(),
            "rss_kb": rss,
            "peak_rss_kb": peak,
            "memory_waits": zksim_sim::admission::waits(),
            "coverage": g.json(),
        });
        serde_json::to_string_pretty(&v).expect("json")
    }
}

/// Whether fuzz run `run` (counted from 0) is a mutant: where the mutants' share of runs
/// 0..=run passes a whole number, so that `percent` of every stretch of runs are mutants.
fn is_mutant_run(run: u64, percent: u32) -> bool {
    let share = |r: u128| r * u128::from(percent) / 100;
    share(u128::from(run) + 1) > share(u128::from(run))
}

fn origin_name(origin: &Origin) -> &'static str {
    match origin {
        Origin::Fresh => "fresh",
        Origin::Mutant { .. } => "mutant",
        Origin::Resumed => "resumed",
    }
}

/// The key of fuzz run `run` of a fuzz from `start` (SplitMix64's finalizer over both),
/// from which its mutant is drawn.
fn run_key(start: u64, run: u64) -> u64 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    mix(start ^ mix(run.wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

/// Run `inputs` on the settings' jobs and return the judgements of a prefix of them: all,
/// unless `stop` (given the failures found so far in this batch) said to stop taking more.
/// Every input taken is run to its end, and they are taken in order, so what comes back is
/// always a prefix.
fn run_batch(
    inputs: &[Input],
    settings: &Settings,
    stop: &(dyn Fn(usize) -> bool + Sync),
) -> Vec<Judgement> {
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Judgement>>> = inputs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..settings.jobs.min(inputs.len()) {
            scope.spawn(|| {
                while !stop(failed.load(Ordering::SeqCst)) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(input) = inputs.get(i) else {
                        return;
                    };
                    let j = judge_only(&input.scenario, input.seed, settings.bugs);
                    if j.harness.is_none() && !j.ok() {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                    *results[i].lock().expect("results lock") = Some(j);
                }
            });
        }
    });
    results
        .into_iter()
        .map_while(|r| r.into_inner().expect("results lock"))
        .collect()
}

/// `coverage.json`: every point reached, each corpus input with its origin and the points
/// it added, and the numbers of the summary. Written whole, then renamed into place.
fn write_coverage(dir: &Path, corpus: &Corpus, growth: &Growth) -> Result<(), String> {
    let v = json!({
        "points": growth.points,
        "inputs": corpus.json(),
        "summary": growth.json(),
    });
    let file = dir.join("coverage.json");
    let partial = dir.join(".coverage.json.partial");
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&partial, serde_json::to_string_pretty(&v).expect("json")))
        .and_then(|()| std::fs::rename(&partial, &file))
        .map_err(|e| format!("cannot write {}: {e}", file.display()))
}

fn file_stem(arg: &str) -> String {
    Path::new(arg)
        .file_stem()
        .map_or_else(|| arg.to_string(), |s| s.to_string_lossy().to_string())
}

/// A failing case's folder: `swarm-seed-7` for a fresh seed, `swarm-mutant-HASH-seed-7`
/// for a mutant (HASH of its scenario, so that cases of different fuzz runs keep apart),
/// `input-12-seed-7` for a corpus input replayed.
fn case_name(arg: &str, input: &Input) -> String {
    let stem = file_stem(arg);
    match (&input.origin, &input.saved) {
        (_, Some((id, _))) => format!("input-{id}-seed-{}", input.seed),
        (Origin::Mutant { .. }, _) => {
            // FNV-1a of the scenario's JSON.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in input.scenario.to_json().bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            format!("{stem}-mutant-{:08x}-seed-{}", h >> 32, input.seed)
        }
        _ => format!("{stem}-seed-{}", input.seed),
    }
}

/// Write a failing case: scenario.json (the input's scenario, its plan written out),
/// report.txt (what failed, the checker's report, the replay commands) and, when
/// shrinking, shrunk.json.
fn keep_case(dir: &Path, failure: &Failure, settings: &Settings) -> Result<(), String> {
    // Every file is written to a hidden folder that becomes the case once complete, so an
    // interrupted fuzz leaves whole cases only.
    let (input, bugs) = (&failure.input, settings.bugs);
    let mut files: Vec<(&str, String)> = vec![("scenario.json", input.scenario.to_json() + "\n")];
    let scenario_file = dir.join("scenario.json").display().to_string();
    let mut report = format!("{}: {}\n\n", failure.label, failure.judgement.reason());
    if input.origin == Origin::Fresh {
        // A fresh seed also replays from the scenario argument (while swarm draws it so).
        report.push_str(&format!(
            "replay:        {}\n",
            replay_command(settings.scenario.arg(), input.seed, &bugs)
        ));
    }
    report.push_str(&format!(
        "replay (file): {}\n",
        replay_command(&scenario_file, input.seed, &bugs)
    ));
    if let Origin::Mutant { mutations, .. } = &input.origin {
        report.push_str(&format!("mutations:     {}\n", mutations.join("; ")));
    }
    // The checker's full report, from a rerun (the same input gives the same run).
    let (_, run) = judge(&input.scenario, input.seed, bugs, TraceMode::Off, None);
    if let Some(run) = run {
        if let Ok(h) = History::new(&run.history) {
            let verdict = zksim_checker::check_all(&h, crate::judge::run_check_options());
            let recipe = zksim_checker::recipes::check(&h).ok().flatten();
            report.push('\n');
            report.push_str(&zksim_checker::report::render(
                &h,
                &verdict,
                recipe.as_ref(),
                &failure.label,
            ));
        }
    }
    if settings.shrink {
        let shrunk = crate::shrink_cmd::shrink(
            input.scenario.clone(),
            input.seed,
            bugs,
            settings.jobs,
            400,
            false,
        );
        match shrunk {
            Ok(shrunk) => {
                files.push(("shrunk.json", shrunk.scenario.to_json() + "\n"));
                let shrunk_file = dir.join("shrunk.json").display().to_string();
                report.push_str(&format!(
                    "\nshrunk ({} runs): {}\nreplay (shrunk): {}\n",
                    shrunk.runs,
                    shrunk.shrunk,
                    replay_command(&shrunk_file, input.seed, &bugs)
                ));
            }
            Err(e) => report.push_str(&format!("\nnot shrunk: {e}\n")),
        }
    }
    files.push(("report.txt", report));
    crate::output::write_dir_atomically(dir, &files)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The share of mutants: with 75 percent, three runs of every four are mutants once the
    // corpus has an input; with 0, none; with 100, all.
    #[test]
    fn mutate_percent_spreads_mutants_over_the_runs() {
        let slots = |percent: u32| -> String {
            (0..8u64)
                .map(|r| if is_mutant_run(r, percent) { 'm' } else { 'f' })
                .collect()
        };
        assert_eq!(slots(75), "fmmmfmmm");
        assert_eq!(slots(0), "ffffffff");
        assert_eq!(slots(100), "mmmmmmmm");
        assert_eq!(slots(50), "fmfmfmfm");
    }

    // Runs are keyed apart, and by the start seed too.
    #[test]
    fn run_keys_differ_by_run_and_start() {
        let keys: std::collections::BTreeSet<u64> = (0..1000)
            .flat_map(|r| [run_key(0, r), run_key(1, r)])
            .collect();
        assert_eq!(keys.len(), 2000);
        assert_eq!(run_key(7, 3), run_key(7, 3));
    }
}
