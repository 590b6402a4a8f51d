//! The madsim harness: a ZooKeeper ensemble and its clients under injected faults.
