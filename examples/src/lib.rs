//! Recipes of the kind applications build on ZooKeeper with Apache Curator, written and
//! tested with zksim's recipe API ([`zksim_sim::recipe_api`]) alone, each with a
//! realistic buggy variant that the tests catch:
//!
//! - [`mutex`]: `InterProcessMutex`, and a holder that ignores connection state (no
//!   `ConnectionStateListener`) and finishes its critical section after its session
//!   expired;
//! - [`latch`]: `LeaderLatch`, and a latch that on reconnecting trusts the node it
//!   remembers instead of verifying it.
//!
//! Both log what their clients did as holder or leader in [`sections::Sections`], judged
//! in zxid order. The tests in `tests/` sweep seeds of the `default` scenario; see
//! docs/your-recipe.md.

pub mod latch;
pub mod mutex;
pub mod sections;
