//! The run's trace: one line per event, `<microseconds> <event>`, and a hash over the lines
//! (FNV-1a), so two runs of the same seed can be compared byte for byte.

#[derive(Debug)]
pub struct Trace {
    enabled: bool,
    keep: bool,
    lines: Vec<String>,
    hash: u64,
    count: u64,
}

impl Trace {
    /// `enabled`: lines are formatted and hashed; `keep`: they are also kept for a file.
    pub fn new(enabled: bool, keep: bool) -> Trace {
        Trace {
            enabled,
            keep: enabled && keep,
            lines: Vec::new(),
            hash: 0xcbf2_9ce4_8422_2325,
            count: 0,
        }
    }

    pub fn on(&self) -> bool {
        self.enabled
    }

    pub fn line(&mut self, t_us: u64, event: &str) {
        if !self.enabled {
            return;
        }
        let line = format!("{t_us:>12} {event}");
        for b in line.bytes().chain(std::iter::once(b'\n')) {
            self.hash ^= u64::from(b);
            self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.count += 1;
        if self.keep {
            self.lines.push(line);
        }
    }

    pub fn hash(&self) -> u64 {
        self.hash
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn take_lines(&mut self) -> Vec<String> {
        std::mem::take(&mut self.lines)
    }
}
