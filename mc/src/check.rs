//! Running the checker: a search strategy over the model, and what it found.

use std::time::{Duration, Instant};

use stateright::{Checker, HasDiscoveries, Model, UniformChooser};

use crate::model::{Step, ZabModel};
use crate::props;

/// How the state space is searched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// Breadth first: a counterexample found is a shortest one.
    Bfs,
    /// Depth first.
    Dfs,
    /// Random walks from the initial state (stateright's simulation), from a seed.
    Random { seed: u64 },
}

/// What a search found.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// States generated, repeats included.
    pub states: usize,
    /// Distinct states (by fingerprint).
    pub unique: usize,
    /// The deepest path explored.
    pub depth: usize,
    pub elapsed: Duration,
    /// The first safety property found broken, with the steps that break it.
    pub violation: Option<(&'static str, Vec<Step>)>,
    /// The reachability checks that were met.
    pub reached: Vec<&'static str>,
    /// Whether the search ended by exhausting the bounded state space (not by a violation,
    /// the depth limit's cut or the time limit).
    pub exhausted: bool,
}

impl Outcome {
    pub fn states_per_second(&self) -> f64 {
        self.states as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Search `model`; stop at the first violation, at `max_depth`, or after `timeout`.
pub fn check(
    model: ZabModel,
    search: Search,
    max_depth: Option<usize>,
    timeout: Option<Duration>,
    threads: usize,
) -> Outcome {
    let always: Vec<&'static str> = model
        .properties()
        .iter()
        .filter(|p| p.expectation == stateright::Expectation::Always)
        .map(|p| p.name)
        .collect();
    let builder_stop = std::sync::Arc::clone(&model.stop);
    let first_violation = std::sync::Arc::clone(&model.first_violation);
    let mut builder = model
        .checker()
        .threads(threads.max(1))
        .finish_when(HasDiscoveries::AnyFailures);
    if let Some(d) = max_depth {
        builder = builder.target_max_depth(d);
    }
    if let (Search::Random { .. }, Some(t)) = (search, timeout) {
        // Random walks end by stateright's own timeout (each walk is short); the model's
        // stop would leave them walking empty paths forever.
        builder = builder.timeout(t);
    }
    let started = Instant::now();
    let stop = std::sync::Arc::clone(&builder_stop);
    let timer = timeout.map(|t| {
        let done = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let waker = std::sync::Arc::clone(&done);
        let handle = std::thread::spawn(move || {
            let (lock, cvar) = &*waker;
            let guard = lock.lock().expect("the timer's lock");
            let (finished, _) = cvar
                .wait_timeout_while(guard, t, |finished| !*finished)
                .expect("the timer's lock");
            if !*finished {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
        (done, handle)
    });
    let checker = match search {
        Search::Bfs => Box::new(builder.spawn_bfs().join()) as Box<dyn Finished>,
        Search::Dfs => Box::new(builder.spawn_dfs().join()),
        Search::Random { seed } => Box::new(builder.spawn_simulation(seed, UniformChooser).join()),
    };
    let elapsed = started.elapsed();
    let timed_out = builder_stop.load(std::sync::atomic::Ordering::Relaxed);
    if let Some((done, handle)) = timer {
        *done.0.lock().expect("the timer's lock") = true;
        done.1.notify_all();
        let _ = handle.join();
    }
    // Paths are rebuilt by re-running the model, which must step again.
    builder_stop.store(false, std::sync::atomic::Ordering::Relaxed);
    let discoveries = checker.found();
    let shortest = first_violation.lock().expect("not poisoned").clone();
    let violation = shortest.or_else(|| {
        always
            .iter()
            .find_map(|name| discoveries.iter().find(|(n, _)| n == name).cloned())
    });
    let reached = discoveries
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !always.contains(n))
        .collect();
    let (states, unique, depth) = checker.counts();
    let cut = max_depth.is_some_and(|d| depth >= d);
    Outcome {
        states,
        unique,
        depth,
        elapsed,
        exhausted: violation.is_none()
            && !timed_out
            && !cut
            && !matches!(search, Search::Random { .. }),
        violation,
        reached,
    }
}

/// What the report needs of a finished checker, whatever its strategy.
trait Finished {
    fn found(&self) -> Vec<(&'static str, Vec<Step>)>;
    fn counts(&self) -> (usize, usize, usize);
}

impl<C: Checker<ZabModel>> Finished for C {
    fn found(&self) -> Vec<(&'static str, Vec<Step>)> {
        let mut found: Vec<_> = self
            .discoveries()
            .into_iter()
            .map(|(name, path)| (name, path.into_actions()))
            .collect();
        found.sort_by_key(|(name, _)| *name);
        found
    }

    fn counts(&self) -> (usize, usize, usize) {
        (
            self.state_count(),
            self.unique_state_count(),
            self.max_depth(),
        )
    }
}

/// The names of the safety properties, in the order they are checked.
pub fn safety_properties() -> Vec<&'static str> {
    props::all()
        .into_iter()
        .filter(|p| p.expectation == stateright::Expectation::Always)
        .map(|p| p.name)
        .collect()
}

/// Silence the panic hook: a server's assertion failure inside a step is caught and
/// recorded as a finding (`no server assertion fails`), not printed by every thread.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}
