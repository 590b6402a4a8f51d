//! Judges recorded histories against ZooKeeper's guarantees, one file per property.
