//! The ZooKeeper client session as a sans-IO state machine: ZooKeeper 3.8's `ClientCnxn`
//! (connect, session establishment, pipelined requests completed in order, pings, timeouts,
//! reconnect with the same session), `ZKWatchManager` (client-side watches re-registered
//! after a reconnect) and `StaticHostProvider` (server rotation).
//!
//! # Driving a session
//!
//! Every input takes `now_ms` and an out-list of [`ClientEffect`]s:
//! - [`ClientSession::start`] once, then call [`ClientSession::on_tick`] at
//!   [`ClientSession::next_deadline`] (or any time; early ticks do nothing).
//! - On `Connect { server }`, open a transport to that server and answer with
//!   `on_connected` or `on_connect_failed`. While it is up, deliver the server's messages
//!   with `on_message` and its breaking with `on_disconnected`; write `Send`'s messages on it.
//! - On `Close`, drop the transport and deliver nothing more from it (a driver that queues
//!   transport events tags them with the connection they came from, e.g. by counting
//!   `Connect` effects, and drops stale ones). There is at most one transport at a time.
//! - A terminal session (closed, expired, auth failed) ignores transport inputs.
//!
//! # Where it departs from ZooKeeper, and why
//!
//! - Reconnect backoff is fixed, not random: `reconnect_delay_ms` before every attempt but
//!   the first (ZooKeeper sleeps a random 0..1000 ms), plus `spin_delay_ms` when the
//!   rotation returns to the server of the last session (`StaticHostProvider`'s spin).
//! - A request gets its xid when submitted, not when written; both orders are the same.
//! - `SessionEvent::Disconnected` is emitted only when a connection with an established
//!   session is lost, not after every failed attempt (ZooKeeper emits one each time).
//! - `add_auth` while disconnected only remembers the auth; ZooKeeper also queues a copy
//!   and so sends it twice after the reconnect.
//! - SetWatches is always one request (ZooKeeper splits it past 128 KB of paths).

mod config;
mod effect;
mod host;
mod session;
mod watches;

pub use config::{ClientConfig, RECONNECT_DELAY_MS_DEFAULT, SPIN_DELAY_MS_DEFAULT};
pub use effect::{ClientEffect, Outcome, SessionEvent};
pub use session::{ClientSession, ClientState, SET_WATCHES_XID, ping_idle_ms};
pub use watches::ClientWatches;
