//! `zksim bench`: the simulator's speed, measured and printed, never asserted.

use crate::output::{errln, outln};
use std::process::ExitCode;

use crate::run_cmd::load_scenario;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// The scenario to run (it should keep every client busy).
    #[arg(long, default_value = "default")]
    pub scenario: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(args: BenchArgs) -> ExitCode {
    let scenario = match load_scenario(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            errln!("zksim bench: {e}");
            return ExitCode::from(2);
        }
    };
    outln!(
        "zksim bench: scenario {}, seed {}, one thread",
        scenario.name,
        args.seed
    );
    let f = zksim_sim::bench::measure(&scenario, args.seed);
    outln!(
        "  {} client operations and {} messages in {:.2} s of wall time for {:.2} s simulated",
        f.ops,
        f.msgs,
        f.wall_s,
        f.sim_s
    );
    outln!(
        "  server-to-server messages: {:.0} per wall second",
        f.peer_msgs_per_wall_s
    );
    outln!("ops_per_wall_s: {:.0}", f.ops_per_wall_s);
    outln!("msgs_per_wall_s: {:.0}", f.msgs_per_wall_s);
    outln!("raw_msgs_per_wall_s: {:.0}", f.raw_msgs_per_wall_s);
    outln!("sim_wall_ratio: {:.1}", f.sim_wall_ratio);
    ExitCode::SUCCESS
}
