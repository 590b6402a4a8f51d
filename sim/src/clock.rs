//! A server's two clocks, as ZooKeeper reads them (`org.apache.zookeeper.common.Time`):
//! the elapsed clock (`currentElapsedTime`, from `System.nanoTime`), by which every timeout
//! is measured, and the wall clock (`currentWallTime`, from `System.currentTimeMillis`), by
//! which txns are stamped (ctime, mtime) and TTLs are judged.
//!
//! Clock faults act as they do on a real host: a jump or a skew moves the wall clock only
//! (an NTP step, an operator's `date`); a rate (a slow or fast oscillator, a VM whose time
//! is dilated) moves both. The elapsed clock never goes back.

/// One server's clocks, as functions of true (simulated) time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerClock {
    /// True time (ns) and the elapsed clock's reading (ms) when the rate last changed.
    base_true_ns: u64,
    base_elapsed_ms: i64,
    /// How fast both clocks run, in percent of true time.
    rate_percent: u32,
    /// How far the wall clock is ahead of the elapsed clock.
    wall_offset_ms: i64,
}

impl Default for ServerClock {
    fn default() -> Self {
        ServerClock {
            base_true_ns: 0,
            base_elapsed_ms: 0,
            rate_percent: 100,
            wall_offset_ms: 0,
        }
    }
}

impl ServerClock {
    /// The elapsed clock at true time `true_ns`.
    pub fn elapsed_ms(&self, true_ns: u64) -> i64 {
        let since = i128::from(true_ns.saturating_sub(self.base_true_ns));
        let ms = since * i128::from(self.rate_percent) / 100 / 1_000_000;
        self.base_elapsed_ms + i64::try_from(ms).expect("elapsed time fits in i64")
    }

    /// How far the wall clock is ahead of the elapsed clock.
    pub fn wall_offset_ms(&self) -> i64 {
        self.wall_offset_ms
    }

    /// How fast both clocks run, in percent of true time.
    pub fn rate_percent(&self) -> u32 {
        self.rate_percent
    }

    /// The earliest true time at which the elapsed clock reads at least `elapsed_ms`.
    pub fn true_ns_at(&self, elapsed_ms: i64) -> u64 {
        let ahead = i128::from(elapsed_ms - self.base_elapsed_ms).max(0);
        let rate = i128::from(self.rate_percent);
        let ns = (ahead * 1_000_000 * 100 + rate - 1) / rate;
        self.base_true_ns
            .saturating_add(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// From true time `now_ns` on, both clocks run at `percent` of true time.
    pub fn set_rate(&mut self, now_ns: u64, percent: u32) {
        assert!(percent > 0, "a clock that stops is a pause, not a rate");
        let elapsed = self.elapsed_ms(now_ns);
        self.base_true_ns = now_ns;
        self.base_elapsed_ms = elapsed;
        self.rate_percent = percent;
    }

    /// The wall clock is set `offset_ms` away from true time, as the elapsed clock reads it.
    pub fn set_wall_offset(&mut self, offset_ms: i64) {
        self.wall_offset_ms = offset_ms;
    }

    /// The wall clock jumps by `delta_ms`.
    pub fn jump_wall(&mut self, delta_ms: i64) {
        self.wall_offset_ms += delta_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn at_the_true_rate_the_elapsed_clock_is_true_time() {
        let c = ServerClock::default();
        for t in [0, 1, MS - 1, MS, 1_500_000, 7 * MS] {
            assert_eq!(c.elapsed_ms(t), (t / MS) as i64);
        }
        assert_eq!(c.true_ns_at(5), 5 * MS);
        assert_eq!(c.true_ns_at(-3), 0);
    }

    #[test]
    fn a_rate_change_never_moves_the_elapsed_clock_back_and_deadlines_map_onto_it() {
        let mut c = ServerClock::default();
        c.set_rate(1_700_000, 10);
        assert_eq!(c.elapsed_ms(1_700_000), 1);
        assert_eq!(c.elapsed_ms(11_700_000), 2);
        c.set_rate(20 * MS, 250);
        let mut last = c.elapsed_ms(20 * MS);
        for t in (20 * MS..40 * MS).step_by(333_333) {
            let e = c.elapsed_ms(t);
            assert!(e >= last);
            last = e;
        }
        for deadline in [c.elapsed_ms(20 * MS), 3, 10, 57, 1000] {
            let t = c.true_ns_at(deadline);
            assert!(c.elapsed_ms(t) >= deadline, "deadline {deadline} at {t}");
            if t > 20 * MS {
                assert!(c.elapsed_ms(t - 1) < deadline, "deadline {deadline} at {t}");
            }
        }
    }

    #[test]
    fn jumps_and_skews_move_only_the_wall_clock() {
        let mut c = ServerClock::default();
        c.jump_wall(-10_000);
        assert_eq!(c.elapsed_ms(5 * MS), 5);
        assert_eq!(c.wall_offset_ms(), -10_000);
        c.set_wall_offset(300);
        c.jump_wall(200);
        assert_eq!(c.wall_offset_ms(), 500);
        assert_eq!(c.true_ns_at(9), 9 * MS);
    }
}
