//! The fuzz loop: pick an input from the corpus, mutate it, run the target on it with
//! panics caught and time measured, keep the mutant when it shows a feature no input showed
//! before, and keep every input that panics, runs longer than the slow bound or grows the
//! process past the memory bound as a finding. A watchdog thread ends the process when one
//! execution hangs past the hang bound or the process grows past the memory bound while it
//! runs, after saving the input.
//!
//! A run is a pure function of its seed and starting corpus: the features decide what joins
//! the corpus, never the time, so `--save-from` can replay a run up to an execution that
//! crashed the process (a stack overflow cannot be caught) and save the input it ran.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

use crate::kinds::panic_kind;
use crate::mutate::Mutator;
use crate::rng::Rng;
use crate::targets::Target;

/// What a run may do, and where it keeps what it finds.
#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    /// Stop after this long (the seeds are always run).
    pub duration: Option<Duration>,
    /// Stop after this many executions.
    pub executions: Option<u64>,
    /// An execution longer than this is a finding.
    pub slow: Duration,
    /// An execution longer than this ends the process (the watchdog).
    pub hang: Duration,
    /// A process larger than this (resident bytes) is a finding and ends the process.
    pub memory_bytes: u64,
    /// Mutants are cut at this length.
    pub max_len: usize,
    /// The in-memory corpus grows to at most this many inputs.
    pub max_corpus: usize,
    /// Where findings are saved, one folder per target; `None` keeps them in memory.
    pub findings_dir: Option<PathBuf>,
    /// From this execution on, write each input to `findings_dir/TARGET/current` before
    /// running it (to find the input that crashed a run).
    pub save_from: Option<u64>,
    /// Print a status line this often.
    pub status_every: Option<Duration>,
    /// Print each feature when it is first seen (to see what the corpus tells apart).
    pub print_features: bool,
}

impl Config {
    pub fn new(seed: u64) -> Config {
        Config {
            seed,
            duration: None,
            executions: None,
            slow: Duration::from_secs(1),
            hang: Duration::from_secs(30),
            memory_bytes: 2 << 30,
            max_len: 256 << 10,
            max_corpus: 20_000,
            findings_dir: None,
            save_from: None,
            status_every: None,
            print_features: false,
        }
    }
}

/// How a finding failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FindingKind {
    Panic,
    Slow,
    Memory,
}

impl FindingKind {
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Panic => "panic",
            FindingKind::Slow => "slow",
            FindingKind::Memory => "memory",
        }
    }
}

/// An input that made the target panic, run too long or take too much memory.
#[derive(Clone, Debug)]
pub struct Finding {
    pub kind: FindingKind,
    pub message: String,
    /// The input, minimized for a panic.
    pub input: Vec<u8>,
    /// The execution that found it (0 for the first).
    pub execution: u64,
    pub saved: Option<PathBuf>,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub executions: u64,
    pub elapsed: Duration,
    pub seeds: usize,
    pub corpus: usize,
    pub features: usize,
    pub slowest: Duration,
    pub findings: Vec<Finding>,
}

impl Stats {
    pub fn per_second(&self) -> f64 {
        self.executions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// One line: `TARGET: N executions in T s (X/s), corpus C (S seeds, F features), ...`.
    pub fn summary(&self, target: Target) -> String {
        format!(
            "{target}: {} executions in {:.1} s ({:.0}/s), corpus {} ({} seeds, {} features), slowest {} ms, {} findings",
            self.executions,
            self.elapsed.as_secs_f64(),
            self.per_second(),
            self.corpus,
            self.seeds,
            self.features,
            self.slowest.as_millis(),
            self.findings.len()
        )
    }
}

/// How one execution ended.
#[derive(Clone, Debug)]
pub struct Execution {
    /// The features, or the panic's message and place.
    pub result: Result<Vec<String>, String>,
    pub elapsed: Duration,
}

thread_local! {
    /// Set while this thread runs a target: its panics are recorded here, not printed.
    static CAUGHT: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

/// Install, once, a panic hook that records the panics of threads running a target and
/// leaves every other panic to the hook that was there before.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let capturing = CAUGHT.with(|c| c.borrow().is_some());
            if !capturing {
                previous(info);
                return;
            }
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_string());
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            CAUGHT.with(|c| *c.borrow_mut() = Some(Some(format!("{message}{place}"))));
        }));
    });
}

/// Run `target` on `input` once, with its panic caught and its time measured.
pub fn execute(target: Target, input: &[u8]) -> Execution {
    install_hook();
    CAUGHT.with(|c| *c.borrow_mut() = Some(None));
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| target.run(input)));
    let elapsed = start.elapsed();
    let caught = CAUGHT.with(|c| c.borrow_mut().take()).flatten();
    let result = result.map_err(|_| caught.unwrap_or_else(|| "a panic".to_string()));
    Execution { result, elapsed }
}

/// The process's resident and peak resident bytes (Linux; `None` elsewhere).
fn memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim()
            .trim_end_matches(" kB")
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The execution the watchdog is watching.
struct Current {
    since: Instant,
    input: Arc<Vec<u8>>,
}

/// A thread that ends the process when an execution hangs or the process grows too large.
struct Watchdog {
    current: Arc<Mutex<Option<Current>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(target: Target, config: &Config) -> Watchdog {
        let current: Arc<Mutex<Option<Current>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (hang, memory_bytes) = (config.hang, config.memory_bytes);
        let dir = config.findings_dir.clone();
        let thread = {
            let (current, stop) = (Arc::clone(&current), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    let guard = current.lock().unwrap_or_else(PoisonError::into_inner);
                    let Some(now) = guard.as_ref() else { continue };
                    let resident = memory().map_or(0, |(rss, _)| rss);
                    let why = if now.since.elapsed() > hang {
                        format!("hang: one execution ran past {} s", hang.as_secs())
                    } else if resident > memory_bytes {
                        format!("memory: the process reached {} MiB", resident >> 20)
                    } else {
                        continue;
                    };
                    let saved = dir
                        .as_deref()
                        .and_then(|d| save(d, target, "hang-or-memory", &now.input).ok());
                    eprintln!("zksim-fuzz {target}: {why}; input saved to {saved:?}");
                    std::process::exit(3);
                }
            })
        };
        Watchdog {
            current,
            stop,
            thread: Some(thread),
        }
    }

    fn watch(&self, input: Option<Arc<Vec<u8>>>) {
        let mut guard = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        *guard = input.map(|input| Current {
            since: Instant::now(),
            input,
        });
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Save an input as `dir/TARGET/PREFIX-HASH`, and return the path.
pub fn save(dir: &Path, target: Target, prefix: &str, input: &[u8]) -> std::io::Result<PathBuf> {
    let folder = dir.join(target.name());
    std::fs::create_dir_all(&folder)?;
    let path = folder.join(format!("{prefix}-{:016x}", fnv1a(input)));
    std::fs::write(&path, input)?;
    Ok(path)
}

/// FNV-1a, 64 bits: a stable name for an input.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The smallest input found by deleting chunks of `input` that still panics with the same
/// message kind (at most `tries` executions).
pub fn minimize(target: Target, input: &[u8], message: &str, tries: usize) -> Vec<u8> {
    let wanted = panic_kind(message);
    let same = |candidate: &[u8]| match execute(target, candidate).result {
        Err(m) => panic_kind(&m) == wanted,
        Ok(_) => false,
    };
    let mut best = input.to_vec();
    let mut chunk = best.len() / 2;
    let mut tries_left = tries;
    while chunk > 0 && tries_left > 0 {
        let mut at = 0;
        let mut shrunk = false;
        while at < best.len() && tries_left > 0 {
            let end = (at + chunk).min(best.len());
            let mut candidate = best[..at].to_vec();
            candidate.extend_from_slice(&best[end..]);
            tries_left -= 1;
            if same(&candidate) {
                best = candidate;
                shrunk = true;
            } else {
                at += chunk;
            }
        }
        if !shrunk {
            chunk /= 2;
        }
    }
    best
}

/// The run's corpus: the inputs, and every feature some input showed.
struct Corpus {
    inputs: Vec<Vec<u8>>,
    features: BTreeSet<String>,
    /// Print each feature when it is first seen.
    print: bool,
}

impl Corpus {
    /// Remember an input's features; true when one is new.
    fn learn(&mut self, features: Vec<String>) -> bool {
        let mut new = false;
        for f in features {
            if self.print && !self.features.contains(&f) {
                println!("  new feature: {f}");
            }
            new |= self.features.insert(f);
        }
        new
    }
}

/// Fuzz `target` from `seeds` (never empty for a useful run) until the configured time or
/// number of executions is spent.
pub fn fuzz(target: Target, seeds: Vec<Vec<u8>>, config: &Config) -> Stats {
    assert!(config.duration.is_some() || config.executions.is_some());
    let mutator = Mutator::new(
        target.words(),
        &seeds,
        target.json(),
        target.lines(),
        config.max_len,
    );
    let mut rng = Rng::new(config.seed);
    let mut stats = Stats {
        seeds: seeds.len(),
        ..Stats::default()
    };
    let mut corpus = Corpus {
        inputs: Vec::new(),
        features: BTreeSet::new(),
        print: config.print_features,
    };
    let mut seen_findings: BTreeSet<(FindingKind, String)> = BTreeSet::new();
    let watchdog = Watchdog::start(target, config);
    let start = Instant::now();
    let mut last_status = start;
    let mut queue = seeds.into_iter();
    loop {
        let done = config.executions.is_some_and(|n| stats.executions >= n)
            || config.duration.is_some_and(|d| start.elapsed() >= d);
        let (input, is_seed) = match queue.next() {
            Some(seed) => (seed, true),
            None if done => break,
            None if corpus.inputs.is_empty() => (Vec::new(), false),
            None => {
                // The shorter of two: small inputs run fast and mutate into more.
                let a = &corpus.inputs[rng.below(corpus.inputs.len())];
                let b = &corpus.inputs[rng.below(corpus.inputs.len())];
                let base = if a.len() <= b.len() { a } else { b };
                (mutator.mutate(&mut rng, base, &corpus.inputs), false)
            }
        };
        let input = Arc::new(input);
        if config.save_from.is_some_and(|n| stats.executions >= n) {
            if let Some(dir) = &config.findings_dir {
                let folder = dir.join(target.name());
                let _ = std::fs::create_dir_all(&folder);
                let _ = std::fs::write(folder.join("current"), input.as_slice());
            }
        }
        watchdog.watch(Some(Arc::clone(&input)));
        let execution = execute(target, &input);
        watchdog.watch(None);
        stats.executions += 1;
        stats.slowest = stats.slowest.max(execution.elapsed);
        let mut problems = Vec::new();
        match execution.result {
            Ok(features) => {
                // Seeds always join; a mutant joins when it shows something new.
                let new = corpus.learn(features);
                if (is_seed || new) && corpus.inputs.len() < config.max_corpus {
                    corpus.inputs.push(Arc::unwrap_or_clone(Arc::clone(&input)));
                }
            }
            Err(message) => problems.push((FindingKind::Panic, message)),
        }
        if execution.elapsed > config.slow {
            problems.push((
                FindingKind::Slow,
                format!("one execution took {} ms", execution.elapsed.as_millis()),
            ));
        }
        if execution.elapsed > Duration::from_millis(20) {
            if let Some((_, peak)) = memory().filter(|(_, peak)| *peak > config.memory_bytes) {
                problems.push((
                    FindingKind::Memory,
                    format!("the process peaked at {} MiB", peak >> 20),
                ));
            }
        }
        for (kind_of, message) in problems {
            if seen_findings.insert((kind_of, panic_kind(&message))) {
                stats.findings.push(record(
                    target,
                    config,
                    kind_of,
                    message,
                    &input,
                    stats.executions - 1,
                ));
            }
        }
        if let Some(every) = config.status_every {
            if last_status.elapsed() >= every {
                last_status = Instant::now();
                stats.elapsed = start.elapsed();
                stats.corpus = corpus.inputs.len();
                stats.features = corpus.features.len();
                println!("  {}", stats.summary(target));
            }
        }
    }
    drop(watchdog);
    stats.elapsed = start.elapsed();
    stats.corpus = corpus.inputs.len();
    stats.features = corpus.features.len();
    stats
}

/// A finding, its panicking input minimized, saved when the run keeps findings.
fn record(
    target: Target,
    config: &Config,
    kind_of: FindingKind,
    message: String,
    input: &[u8],
    execution: u64,
) -> Finding {
    let input = match kind_of {
        FindingKind::Panic => minimize(target, input, &message, 2_000),
        _ => input.to_vec(),
    };
    let saved = config
        .findings_dir
        .as_deref()
        .and_then(|dir| save(dir, target, kind_of.name(), &input).ok());
    let finding = Finding {
        kind: kind_of,
        message,
        input,
        execution,
        saved,
    };
    eprintln!(
        "zksim-fuzz {target}: finding at execution {}: {}: {}; saved to {}",
        finding.execution,
        kind_of.name(),
        finding.message,
        finding
            .saved
            .as_deref()
            .map_or("(not saved)".to_string(), |p| p.display().to_string())
    );
    finding
}

#[cfg(test)]
mod tests {
    use super::*;

    // A panic is caught with its message and place, and the panic hook stays quiet.
    #[test]
    fn panics_are_caught_with_their_place() {
        install_hook();
        CAUGHT.with(|c| *c.borrow_mut() = Some(None));
        let result = catch_unwind(|| panic!("boom {}", 7));
        assert!(result.is_err());
        let caught = CAUGHT.with(|c| c.borrow_mut().take()).flatten();
        let caught = caught.expect("the hook recorded the panic");
        assert!(caught.starts_with("boom 7 at "), "{caught}");
        assert!(caught.contains("engine.rs"), "{caught}");
    }

    // The same seed and corpus give the same run, whatever the time.
    #[test]
    fn a_run_is_a_function_of_its_seed() {
        let seeds = vec![b"[{:process 0, :type :invoke, :f :read, :value nil}]".to_vec()];
        let mut config = Config::new(11);
        config.executions = Some(300);
        let a = fuzz(Target::Edn, seeds.clone(), &config);
        let b = fuzz(Target::Edn, seeds, &config);
        assert_eq!(a.executions, 300);
        assert_eq!(a.corpus, b.corpus);
        assert_eq!(a.features, b.features);
    }
}
