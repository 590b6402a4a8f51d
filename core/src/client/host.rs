//! `HostProvider`: which server to try next and how long to wait first, as ZooKeeper 3.8's
//! `StaticHostProvider` with `SendThread.startConnect`'s sleep, minus the randomness.

use super::config::ClientConfig;

/// Server rotation over `0..servers`, starting at the configured first server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostProvider {
    servers: usize,
    current: usize,
    /// `StaticHostProvider.lastIndex`: the server of the last established session (the first
    /// server before any). Coming back round to it means every server failed since.
    last_connected: usize,
    reconnect_delay_ms: i64,
    spin_delay_ms: i64,
}

impl HostProvider {
    pub(crate) fn new(config: &ClientConfig) -> HostProvider {
        assert!(config.first_server < config.servers);
        HostProvider {
            servers: config.servers,
            current: config.first_server,
            last_connected: config.first_server,
            reconnect_delay_ms: config.reconnect_delay_ms,
            spin_delay_ms: config.spin_delay_ms,
        }
    }

    /// The server of the first attempt, or of the latest.
    pub(crate) fn current(&self) -> usize {
        self.current
    }

    /// `StaticHostProvider.next(spinDelay)`: the next server in the rotation, and how long to
    /// wait before connecting to it (the reconnect delay, plus the spin delay when every
    /// server has been tried since the last session was established).
    pub(crate) fn next(&mut self) -> (usize, i64) {
        self.current = (self.current + 1) % self.servers;
        let mut delay_ms = self.reconnect_delay_ms;
        if self.current == self.last_connected {
            delay_ms += self.spin_delay_ms;
        }
        assert!(self.current < self.servers);
        assert!(delay_ms >= 0);
        (self.current, delay_ms)
    }

    /// `StaticHostProvider.onConnected`: a session was established on the current server.
    pub(crate) fn on_connected(&mut self) {
        self.last_connected = self.current;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_spins_after_a_full_round() {
        // StaticHostProvider.next: round-robin, sleeping spinDelay on returning to lastIndex.
        let mut hosts = HostProvider::new(&ClientConfig::new(3, 1, 3000));
        assert_eq!(hosts.current(), 1);
        assert_eq!(hosts.next(), (2, 500));
        assert_eq!(hosts.next(), (0, 500));
        assert_eq!(hosts.next(), (1, 1500));
        hosts.next();
        hosts.on_connected();
        assert_eq!(hosts.next(), (0, 500));
        assert_eq!(hosts.next(), (1, 500));
        assert_eq!(hosts.next(), (2, 1500));
    }

    #[test]
    fn a_single_server_always_spins() {
        // With one server, every reconnect comes back to the last one.
        let mut hosts = HostProvider::new(&ClientConfig::new(1, 0, 3000));
        assert_eq!(hosts.next(), (0, 1500));
        assert_eq!(hosts.next(), (0, 1500));
    }
}
