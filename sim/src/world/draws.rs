//! The harness's own random draws, each from a ChaCha stream of the run's seed
//! (`zksim_scenarios::rng::stream`): message latency per link, message loss, fsync latency
//! per server, where a torn write tears, which bit a corruption flips. A draw added in one
//! stream never shifts another, so a new kind of draw leaves every other timing of a seed
//! as it was; madsim's own generator is left to madsim's scheduler.
//!
//! BUGGIFY (FoundationDB's simulator): rare behaviours a real deployment shows now and
//! then, each legal for ZooKeeper's environment, each off unless the run turns it on. A
//! scenario with `buggify` on draws, from a stream of its own, which sites this seed
//! enables (about half); an enabled site then misbehaves at a small rate each time the run
//! passes it. Every misbehaviour is a fault line in the trace (`buggify_*`) and a coverage
//! point, so a replay shows it and fuzzing can tell runs apart by it.

use std::collections::BTreeMap;

use rand::Rng;
use zksim_core::zab::ServerId;
use zksim_scenarios::{Stream, stream};

/// A place where the harness can misbehave, rarely, when the seed says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Site {
    /// An fsync takes 20 to 400 ms (a disk shared with a compaction, a busy SAN).
    SlowFsync,
    /// A due timer fires 20 to 500 ms late (a GC pause, a starved scheduler thread).
    LateTimer,
    /// A server link is reset as it carries a sync-phase message (DIFF, TRUNC, SNAP,
    /// NEWLEADER, UPTODATE, their ACKs): the connection drops mid-recovery.
    SyncReset,
    /// A server closes a client's connection after a reply (a load balancer, an idle
    /// timeout, `zookeeper.maxCnxns`): the client reconnects, maybe elsewhere, with the
    /// last zxid it has seen.
    ClientReset,
    /// An election notification is sent twice (a server re-sends its vote when it
    /// reconnects or its `finalizeWait` runs out: FastLeaderElection's `sendNotifications`).
    DuplicateVote,
}

impl Site {
    pub const ALL: [Site; 5] = [
        Site::SlowFsync,
        Site::LateTimer,
        Site::SyncReset,
        Site::ClientReset,
        Site::DuplicateVote,
    ];

    /// The fault kind its misbehaviour is traced and covered as.
    pub fn fault_kind(self) -> &'static str {
        match self {
            Site::SlowFsync => "buggify_slow_fsync",
            Site::LateTimer => "buggify_late_timer",
            Site::SyncReset => "buggify_sync_reset",
            Site::ClientReset => "buggify_client_reset",
            Site::DuplicateVote => "buggify_duplicate_vote",
        }
    }

    /// How often an enabled site misbehaves each time the run passes it.
    fn per_mille(self) -> u32 {
        match self {
            Site::SlowFsync => 20,
            Site::LateTimer => 10,
            Site::SyncReset => 50,
            Site::ClientReset => 3,
            Site::DuplicateVote => 100,
        }
    }
}

/// The run's random draws.
pub struct Draws {
    seed: u64,
    links: BTreeMap<(ServerId, ServerId), Stream>,
    clients: Stream,
    loss: Stream,
    fsync: BTreeMap<ServerId, Stream>,
    tear: Stream,
    corrupt: Stream,
    buggify: Stream,
    /// The BUGGIFY sites this run enabled.
    enabled: Vec<Site>,
}

impl Draws {
    /// The draws of `seed`; with `buggify`, the sites the seed enables are drawn too.
    pub fn new(seed: u64, buggify: bool) -> Draws {
        let mut enabled = Vec::new();
        if buggify {
            let mut sites = stream(seed, "buggify-sites");
            enabled = Site::ALL
                .into_iter()
                .filter(|_| sites.gen_bool(0.5))
                .collect();
        }
        Draws {
            seed,
            links: BTreeMap::new(),
            clients: stream(seed, "net-clients"),
            loss: stream(seed, "net-loss"),
            fsync: BTreeMap::new(),
            tear: stream(seed, "disk-tear"),
            corrupt: stream(seed, "disk-corrupt"),
            buggify: stream(seed, "buggify"),
            enabled,
        }
    }

    /// The BUGGIFY sites this run enabled.
    pub fn enabled(&self) -> &[Site] {
        &self.enabled
    }

    /// The latency of the next message on the link `from -> to`.
    pub fn link_latency_ns(&mut self, from: ServerId, to: ServerId) -> u64 {
        let seed = self.seed;
        self.links
            .entry((from, to))
            .or_insert_with(|| stream(seed, &format!("net-link-{from}-{to}")))
            .gen_range(200_000..2_000_000)
    }

    /// The latency of the next message between a client and a server.
    pub fn client_latency_ns(&mut self) -> u64 {
        self.clients.gen_range(200_000..2_000_000)
    }

    /// Whether the next message is lost, at a loss rate of `per_mille`.
    pub fn lost(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && self.loss.gen_range(0..1000) < per_mille
    }

    /// How long the next fsync of `server`'s disk takes.
    pub fn fsync_ns(&mut self, server: ServerId) -> u64 {
        let seed = self.seed;
        self.fsync
            .entry(server)
            .or_insert_with(|| stream(seed, &format!("disk-fsync-{server}")))
            .gen_range(100_000..1_500_000)
    }

    /// Where a torn write tears the unsynced tail: the fraction of it that survives.
    pub fn tear_fraction(&mut self) -> f64 {
        self.tear.gen_range(0.05..0.95)
    }

    /// Which byte (as a fraction of the durable bytes) and bit a corruption flips.
    pub fn corruption(&mut self) -> (f64, u8) {
        (
            self.corrupt.gen_range(0.0..1.0),
            self.corrupt.gen_range(0..8u8),
        )
    }

    /// Whether `site` misbehaves this time: never unless the run enabled it.
    pub fn buggify(&mut self, site: Site) -> bool {
        self.enabled.contains(&site) && self.buggify.gen_range(0..1000) < site.per_mille()
    }

    /// A duration drawn from the BUGGIFY stream, in `[lo_ms, hi_ms)` milliseconds, in ns.
    pub fn buggify_ms(&mut self, lo_ms: u64, hi_ms: u64) -> u64 {
        assert!(lo_ms < hi_ms, "an empty range of BUGGIFY delays");
        self.buggify.gen_range(lo_ms..hi_ms) * 1_000_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_reproducible_and_streams_independent() {
        let mut a = Draws::new(7, false);
        let mut b = Draws::new(7, false);
        // Drawing on one link does not shift another's latencies.
        let _ = a.link_latency_ns(1, 2);
        assert_eq!(a.link_latency_ns(2, 1), b.link_latency_ns(2, 1));
        assert_eq!(a.fsync_ns(3), b.fsync_ns(3));
        assert_ne!(
            Draws::new(8, false).link_latency_ns(1, 2),
            Draws::new(7, false).link_latency_ns(1, 2)
        );
    }

    #[test]
    fn buggify_is_off_unless_the_run_turns_it_on() {
        let mut off = Draws::new(3, false);
        assert!(off.enabled().is_empty());
        assert!((0..10_000).all(|_| Site::ALL.into_iter().all(|s| !off.buggify(s))));
        // On, each seed enables some sites (about half), and an enabled site misbehaves
        // at its rate: rarely, but not never.
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..64 {
            let mut d = Draws::new(seed, true);
            for site in d.enabled().to_vec() {
                seen.insert(site);
                let fired = (0..10_000).filter(|_| d.buggify(site)).count();
                let expected = site.per_mille() as usize * 10;
                assert!(
                    fired > expected / 2 && fired < expected * 2,
                    "{site:?} fired {fired} times in 10,000, expected about {expected}"
                );
            }
        }
        assert_eq!(
            seen.len(),
            Site::ALL.len(),
            "every site is enabled by some seed"
        );
    }
}
