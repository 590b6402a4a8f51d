//! The `zksim` command line: simulate, check, replay and benchmark.

mod bench_cmd;
mod check_cmd;
mod fuzz_cmd;
mod hunt_cmd;
mod judge;
mod logging;
mod mc_cmd;
mod memory;
mod output;
mod replay_cmd;
mod run_cmd;
mod shrink_cmd;
mod sweep_cmd;
mod tree_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Deterministic simulation testbed for a ZooKeeper-style coordination service.
#[derive(Parser)]
#[command(name = "zksim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines are written (to stderr); `RUST_LOG` picks which, e.g.
    /// `RUST_LOG=zksim_core::zab=debug`. Without `RUST_LOG` nothing is logged.
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Work with a single server's data tree.
    #[command(subcommand)]
    Tree(tree_cmd::TreeCommand),
    /// Check a recorded history against ZooKeeper's guarantees.
    Check(check_cmd::CheckArgs),
    /// Simulate one run of a scenario with a seed and summarize it.
    Run(run_cmd::RunArgs),
    /// Rerun one seed with the full trace; write its history and HTML report.
    Replay(replay_cmd::ReplayArgs),
    /// Run many seeds in parallel and summarize what failed.
    Sweep(sweep_cmd::SweepArgs),
    /// Reduce a failing run to a small scenario file that fails the same way.
    Shrink(shrink_cmd::ShrinkArgs),
    /// Run swarm seeds for a time budget; keep each failing case (shrunk) in a corpus.
    Fuzz(fuzz_cmd::FuzzArgs),
    /// Count the seeds it takes to find a bug, over several seed ranges.
    Hunt(hunt_cmd::HuntArgs),
    /// List the bug knobs that re-create known mistakes in the service.
    Bugs,
    /// Model-check the servers within bounds with stateright, or replay a counterexample.
    Mc(mc_cmd::McArgs),
    /// Measure the simulator's speed (client operations and messages per wall second).
    Bench(bench_cmd::BenchArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help, the version, or a usage error, written as our own output is (a closed
        // pipe ends quietly, a full disk is one line).
        Err(e) => {
            use std::io::IsTerminal;
            let terminal = if e.use_stderr() {
                std::io::stderr().is_terminal()
            } else {
                std::io::stdout().is_terminal()
            };
            let rendered = e.render();
            let text = if terminal {
                rendered.ansi().to_string()
            } else {
                rendered.to_string()
            };
            if e.use_stderr() {
                output::errln!("{}", text.trim_end());
            } else {
                output::outln!("{}", text.trim_end());
            }
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    if let Err(e) = logging::init(cli.log_format) {
        output::errln!("zksim: {e}");
        return ExitCode::from(2);
    }
    match cli.command {
        Command::Tree(cmd) => tree_cmd::run(cmd),
        Command::Check(args) => check_cmd::run(args),
        Command::Run(args) => run_cmd::run_cmd(args),
        Command::Replay(args) => replay_cmd::run(args),
        Command::Sweep(args) => sweep_cmd::run(args),
        Command::Bench(args) => bench_cmd::run(args),
        Command::Shrink(args) => shrink_cmd::run(args),
        Command::Fuzz(args) => fuzz_cmd::run(args),
        Command::Hunt(args) => hunt_cmd::run(args),
        Command::Mc(args) => mc_cmd::run(args),
        Command::Bugs => {
            run_cmd::print_bugs();
            ExitCode::SUCCESS
        }
    }
}
