//! `zksim mc`: model-check the real servers with stateright within bounds (servers,
//! writes, crashes, link breaks, timer firings), and replay a counterexample it saved.
//! See docs/model-checking.md.

use crate::output::{errln, outln};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use zksim_mc::model::{ElectionMode, Start};
use zksim_mc::trace::{Counterexample, validate};
use zksim_mc::{Bounds, Search, ZabModel};

use crate::run_cmd::parse_bugs;

#[derive(clap::Args)]
pub struct McArgs {
    /// Voters in the ensemble (3 or 5).
    #[arg(long, default_value_t = 3)]
    pub servers: usize,
    /// Client writes submitted to established leaders.
    #[arg(long, default_value_t = 1)]
    pub writes: u8,
    /// Server crashes (each may be followed by a restart).
    #[arg(long, default_value_t = 1)]
    pub crashes: u8,
    /// Link breaks (a broken link loses what is in flight on it).
    #[arg(long, default_value_t = 0)]
    pub partitions: u8,
    /// Timer firings, over all servers.
    #[arg(long, default_value_t = 3)]
    pub timers: u8,
    /// States with more messages than this in flight on one link are not explored further.
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,
    /// States where a server accepted a higher epoch than this are not explored further.
    #[arg(long, default_value_t = 3)]
    pub epochs: u32,
    /// Start from an established ensemble (leader elected, every server synced, by one
    /// fixed run) instead of empty servers looking for a leader.
    #[arg(long)]
    pub established: bool,
    /// Deliver every election notification as its own step, instead of running each
    /// election among a chosen quorum as one step.
    #[arg(long)]
    pub election_messages: bool,
    /// Re-create a known mistake in the service (repeatable); see `zksim bugs`.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Check only this safety property (repeatable; by default all are checked), e.g.
    /// "an acknowledged write is in every later leader's history" to look past the
    /// durability invariant for the violation a client would see.
    #[arg(long = "property", value_name = "NAME")]
    pub properties: Vec<String>,
    /// Breadth-first search (the default): a counterexample is a shortest one.
    #[arg(long, conflicts_with_all = ["dfs", "random"])]
    pub bfs: bool,
    /// Depth-first search.
    #[arg(long, conflicts_with = "random")]
    pub dfs: bool,
    /// Random walks (stateright's simulation) from `--seed`.
    #[arg(long)]
    pub random: bool,
    /// The seed of `--random`.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Explore no deeper than this many steps.
    #[arg(long, value_name = "D")]
    pub max_depth: Option<usize>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Checker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Where a counterexample is saved.
    #[arg(long, value_name = "FILE", default_value = "mc-counterexample.json")]
    pub out: PathBuf,
    /// Replay a saved counterexample step by step instead of searching.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
}

pub fn run(args: McArgs) -> ExitCode {
    if let Some(file) = &args.replay {
        return replay(file);
    }
    let bounds = Bounds {
        servers: args.servers,
        writes: args.writes,
        crashes: args.crashes,
        partitions: args.partitions,
        timers: args.timers,
        in_flight: args.in_flight,
        epochs: args.epochs,
        election: if args.election_messages {
            ElectionMode::Messages
        } else {
            ElectionMode::Atomic
        },
        start: if args.established {
            Start::Established
        } else {
            Start::Empty
        },
    };
    let bugs = match (validate(&bounds), parse_bugs(&args.bugs)) {
        (Ok(()), Ok(b)) => b,
        (Err(e), _) => {
            errln!("zksim mc: {e}");
            return ExitCode::from(2);
        }
        (_, Err(e)) => {
            errln!("zksim mc: {e}");
            return ExitCode::from(2);
        }
    };
    let search = if args.dfs {
        Search::Dfs
    } else if args.random {
        Search::Random { seed: args.seed }
    } else {
        Search::Bfs
    };
    let names = bugs.names();
    outln!(
        "zksim mc: {}{}{} servers, {} writes, {} crashes, {} link breaks, {} timer firings, at most {} in flight per link, epochs up to {}, bugs: {}, search: {}{}",
        if args.established {
            "from established, "
        } else {
            ""
        },
        if args.election_messages {
            "elections message by message, "
        } else {
            "atomic elections, "
        },
        bounds.servers,
        bounds.writes,
        bounds.crashes,
        bounds.partitions,
        bounds.timers,
        bounds.in_flight,
        bounds.epochs,
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        },
        match search {
            Search::Bfs => "bfs".to_string(),
            Search::Dfs => "dfs".to_string(),
            Search::Random { seed } => format!("random (seed {seed})"),
        },
        args.max_depth
            .map_or(String::new(), |d| format!(", max depth {d}"))
    );
    let mut model = ZabModel::new(bounds, bugs);
    if !args.properties.is_empty() {
        let known = zksim_mc::check::safety_properties();
        let mut only = Vec::new();
        for name in &args.properties {
            match known.iter().find(|k| **k == name.as_str()) {
                Some(k) => only.push(*k),
                None => {
                    errln!(
                        "zksim mc: unknown property {name:?}; known: {}",
                        known
                            .iter()
                            .map(|k| format!("{k:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    return ExitCode::from(2);
                }
            }
        }
        outln!("checking only: {}", only.join("; "));
        model.only = Some(only);
    }
    zksim_mc::check::quiet_panics();
    let outcome = zksim_mc::check(
        model.clone(),
        search,
        args.max_depth,
        args.timeout.map(Duration::from_secs),
        args.threads,
    );
    outln!(
        "states explored {}, unique {}, depth reached {}, {:.1} s, {:.0} states/s",
        outcome.states,
        outcome.unique,
        outcome.depth,
        outcome.elapsed.as_secs_f64(),
        outcome.states_per_second()
    );
    outln!(
        "reached: {}",
        if outcome.reached.is_empty() {
            "nothing".to_string()
        } else {
            outcome.reached.join("; ")
        }
    );
    let Some((property, steps)) = outcome.violation else {
        outln!(
            "no violation{}",
            if outcome.exhausted {
                " (every state within the bounds explored)"
            } else {
                " found before the search stopped (depth or time limit)"
            }
        );
        return ExitCode::SUCCESS;
    };
    outln!(
        "VIOLATION: {property}, after {} steps{}:",
        steps.len(),
        if search == Search::Bfs {
            " (a shortest path)"
        } else {
            ""
        }
    );
    let found = Counterexample::new(&model, property, steps);
    match found.replay() {
        Ok(r) => {
            for (i, (step, _)) in r.lines.iter().enumerate() {
                outln!("{:>4}. {step}", i + 1);
            }
            for (name, why) in &r.violations {
                outln!("  {name}: {why}");
            }
        }
        Err(e) => {
            for (i, step) in found.steps.iter().enumerate() {
                outln!("{:>4}. {step}", i + 1);
            }
            errln!("zksim mc: the counterexample does not replay: {e}");
        }
    }
    match found.save(&args.out) {
        Ok(()) => outln!(
            "saved to {}; replay with: zksim mc --replay {}",
            args.out.display(),
            args.out.display()
        ),
        Err(e) => errln!("zksim mc: {e}"),
    }
    ExitCode::from(1)
}

fn replay(file: &std::path::Path) -> ExitCode {
    let found = match Counterexample::load(file) {
        Ok(c) => c,
        Err(e) => {
            errln!("zksim mc: {e}");
            return ExitCode::from(2);
        }
    };
    zksim_mc::check::quiet_panics();
    let replay = match found.replay() {
        Ok(r) => r,
        Err(e) => {
            errln!("zksim mc: {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let b = found.bounds;
    outln!(
        "zksim mc --replay {}: {} servers, bugs: {}, {} steps, found breaking: {}",
        file.display(),
        b.servers,
        if found.bugs.is_empty() {
            "none".to_string()
        } else {
            found.bugs.join(", ")
        },
        found.steps.len(),
        found.property
    );
    for line in &replay.initial {
        outln!("      {line}");
    }
    for (i, (step, changes)) in replay.lines.iter().enumerate() {
        outln!("{:>4}. {step}", i + 1);
        for c in changes {
            outln!("      {c}");
        }
    }
    for b in &replay.breaches {
        outln!("breach: {b}");
    }
    if replay.violations.is_empty() {
        outln!("no property is broken at the end");
        return ExitCode::SUCCESS;
    }
    for (name, why) in &replay.violations {
        outln!("VIOLATION: {name}: {why}");
    }
    ExitCode::from(1)
}
