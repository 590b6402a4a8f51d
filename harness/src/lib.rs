//! What every driver of zksim-core servers shares, so that the madsim simulator and core's
//! deterministic protocol-test network run servers the same way: the disk model
//! ([`disk`]), the effect interpreter ([`effects`]) and the ground truth of what the
//! replicas applied ([`truth`]), which the checker's replica agreement judges. No clocks,
//! no threads, no randomness: a driver brings those.

pub mod disk;
pub mod effects;
pub mod truth;

pub use disk::ServerDisk;
pub use effects::{Host, ServerIo};
pub use truth::GroundTruth;
pub use zksim_checker::history::Micros;
