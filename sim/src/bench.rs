//! `zksim bench`: how fast the simulator runs, measured in one process. A run of the
//! default scenario (every client kept busy) gives simulated client operations and
//! messages per wall second and the sim/wall time ratio; a raw madsim ping-pong between two
//! nodes gives the baseline message rate of madsim itself.

use std::time::Instant as WallInstant;

use madsim::net::Endpoint;
use madsim::runtime::Runtime;
use zksim_scenarios::Scenario;

use crate::{RunOptions, run};

/// The figures `zksim bench` prints.
#[derive(Clone, Debug)]
pub struct BenchFigures {
    pub ops_per_wall_s: f64,
    pub msgs_per_wall_s: f64,
    pub peer_msgs_per_wall_s: f64,
    pub raw_msgs_per_wall_s: f64,
    pub sim_wall_ratio: f64,
    pub ops: u64,
    pub msgs: u64,
    pub wall_s: f64,
    pub sim_s: f64,
}

/// Messages exchanged by two madsim nodes over madsim's own network (`Endpoint`), one at a
/// time in each direction, per wall second.
pub fn raw_ping_pong(messages: u64) -> f64 {
    let rt = Runtime::with_seed_and_config(1, madsim::Config::default());
    let wall = WallInstant::now();
    rt.block_on(async move {
        let handle = madsim::runtime::Handle::current();
        let a = handle
            .create_node()
            .ip("10.1.0.1".parse().expect("ip"))
            .build();
        let b = handle
            .create_node()
            .ip("10.1.0.2".parse().expect("ip"))
            .build();
        let rounds = messages / 2;
        let server = b.spawn(async move {
            let ep = Endpoint::bind("10.1.0.2:1").await.expect("bind");
            for _ in 0..rounds {
                let (msg, from) = ep.recv_from_raw(0).await.expect("recv");
                ep.send_to_raw(from, 0, msg).await.expect("send");
            }
        });
        let client = a.spawn(async move {
            let ep = Endpoint::bind("10.1.0.1:1").await.expect("bind");
            let to = "10.1.0.2:1".parse().expect("address");
            for i in 0..rounds {
                ep.send_to_raw(to, 0, Box::new(i)).await.expect("send");
                ep.recv_from_raw(0).await.expect("recv");
            }
        });
        client.await.expect("ping side");
        server.await.expect("pong side");
    });
    messages as f64 / wall.elapsed().as_secs_f64()
}

/// Run `scenario` once with `seed` and measure it, and the raw baseline in the same process.
pub fn measure(scenario: &Scenario, seed: u64) -> BenchFigures {
    let raw = raw_ping_pong(200_000);
    let report = run(
        scenario,
        &RunOptions {
            seed,
            ..RunOptions::default()
        },
    );
    let wall_s = report.wall.as_secs_f64();
    let ops = report.clients.ops_completed + report.clients.ops_unknown;
    let msgs = report.stats.peer_messages + report.stats.client_messages;
    let sim_s = report.sim_ms as f64 / 1000.0;
    BenchFigures {
        ops_per_wall_s: ops as f64 / wall_s,
        msgs_per_wall_s: msgs as f64 / wall_s,
        peer_msgs_per_wall_s: report.stats.peer_messages as f64 / wall_s,
        raw_msgs_per_wall_s: raw,
        sim_wall_ratio: sim_s / wall_s,
        ops,
        msgs,
        wall_s,
        sim_s,
    }
}
