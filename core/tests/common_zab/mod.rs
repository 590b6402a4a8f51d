//! The ensembles the Zab phase tests start from.

#![allow(dead_code)]

use crate::net::Net;
use zksim_core::zab::ServerId;

pub fn three() -> Net {
    Net::new(&[1, 2, 3], &[], |_| {})
}

pub fn recorded(voters: &[ServerId], observers: &[ServerId], snap_count: usize) -> Net {
    let mut net = Net::new(voters, observers, move |c| c.snap_count = snap_count);
    net.record_messages = true;
    net
}
