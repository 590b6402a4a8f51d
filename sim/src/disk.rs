//! The madsim side of the disk model ([`zksim_harness::disk`]): every server's disk by
//! madsim node, registered as a madsim simulator plugin ([`DiskSim`]) in the runtimes zksim
//! builds, so that any node kill madsim performs drops the node's unsynced writes (madsim's
//! own file system keeps them across a kill).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use madsim::plugin::Simulator;
use madsim::rand::GlobalRng;
use madsim::task::NodeId;
use madsim::time::TimeHandle;
pub use zksim_harness::disk::{SNAPSHOTS_KEPT, ServerDisk};

/// Every server's disk, by madsim node.
#[derive(Debug, Default)]
pub struct Disks {
    pub by_node: BTreeMap<NodeId, ServerDisk>,
}

impl Disks {
    /// The disk of `node`, empty until it is first written.
    pub fn of(&mut self, node: NodeId) -> &mut ServerDisk {
        self.by_node.entry(node).or_default()
    }
}

/// The disks of the run on this thread (madsim runs a whole simulation on one thread).
pub type SharedDisks = Arc<Mutex<Disks>>;

thread_local! {
    static CURRENT: std::cell::RefCell<Option<SharedDisks>> = const { std::cell::RefCell::new(None) };
}

/// Make `disks` the ones [`DiskSim`] crashes when madsim resets a node.
pub fn install(disks: &SharedDisks) {
    CURRENT.with(|c| *c.borrow_mut() = Some(Arc::clone(disks)));
}

/// madsim plugin: a node reset (kill or restart) loses that node's unsynced writes.
pub struct DiskSim;

impl Simulator for DiskSim {
    fn new(_rand: &GlobalRng, _time: &TimeHandle, _config: &madsim::Config) -> Self {
        DiskSim
    }

    fn reset_node(&self, id: NodeId) {
        CURRENT.with(|c| {
            if let Some(disks) = c.borrow().as_ref() {
                if let Some(d) = disks.lock().expect("disk lock").by_node.get_mut(&id) {
                    d.crash(None);
                }
            }
        });
    }
}
