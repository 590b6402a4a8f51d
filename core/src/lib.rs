//! The ZooKeeper service as sans-IO state machines: data tree, sessions, watches, ZAB, log.
