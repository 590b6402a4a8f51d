//! `ClientConfig`: what a client session is told when it is created (the servers it may use,
//! where to start, the session timeout it asks for, and its reconnect delays).

use serde::{Deserialize, Serialize};

/// The fixed wait before every connection attempt but the first. ZooKeeper 3.8's
/// `SendThread.startConnect` sleeps a random 0..1000 ms there; this is that range's middle,
/// without the randomness (a driver wanting jitter gives each client its own value).
pub const RECONNECT_DELAY_MS_DEFAULT: i64 = 500;

/// `ClientCnxn`'s `hostProvider.next(1000)`: the extra wait once every server was tried.
pub const SPIN_DELAY_MS_DEFAULT: i64 = 1000;

/// A client session's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConfig {
    /// How many servers the client can connect to; it names them by index `0..servers`.
    pub servers: usize,
    /// The server of the first connection attempt (the driver picks it, as ZooKeeper's
    /// `StaticHostProvider` shuffles its list); later attempts rotate from there.
    pub first_server: usize,
    /// The session timeout the client asks for; the server negotiates the real one.
    pub session_timeout_ms: i32,
    /// A fixed identity that only appears in messages (protocol violations, panics).
    pub client_id: Option<u64>,
    /// The wait before each reconnect attempt.
    pub reconnect_delay_ms: i64,
    /// The extra wait when the rotation comes back to the server of the last session.
    pub spin_delay_ms: i64,
}

impl ClientConfig {
    /// A configuration with the default reconnect delays and no identity.
    pub fn new(servers: usize, first_server: usize, session_timeout_ms: i32) -> ClientConfig {
        ClientConfig {
            servers,
            first_server,
            session_timeout_ms,
            client_id: None,
            reconnect_delay_ms: RECONNECT_DELAY_MS_DEFAULT,
            spin_delay_ms: SPIN_DELAY_MS_DEFAULT,
        }
    }

    /// Panics, with the field's name, when the configuration cannot drive a session.
    pub(crate) fn assert_valid(&self) {
        assert!(
            self.servers > 0,
            "client config: servers must be at least 1"
        );
        assert!(
            self.first_server < self.servers,
            "client config: first_server {} out of 0..{}",
            self.first_server,
            self.servers
        );
        assert!(
            self.session_timeout_ms > 0,
            "client config: session_timeout_ms must be positive, got {}",
            self.session_timeout_ms
        );
        assert!(
            self.reconnect_delay_ms >= 0,
            "client config: reconnect_delay_ms must not be negative"
        );
        assert!(
            self.spin_delay_ms >= 0,
            "client config: spin_delay_ms must not be negative"
        );
    }
}
