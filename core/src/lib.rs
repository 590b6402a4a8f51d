//! The ZooKeeper service as sans-IO state machines: data tree, sessions, watches, ZAB, log.
//!
//! Nothing here reads a clock, spawns a thread, touches a socket or a file, or draws a
//! random number: time arrives as `now`, effects leave as values.

pub mod acl;
pub mod bugs;
pub mod client;
pub mod error;
pub mod log;
pub mod path;
pub mod prep;
pub mod proto;
pub mod read;
pub mod replay;
pub mod request;
pub mod server;
pub mod standalone;
pub mod stat;
pub mod tree;
pub mod txn;
pub mod watch;
pub mod zab;

pub use error::ErrorCode;
