//! The ensemble the recovery tests start from, and what they require of it after a fault.

use crate::net::Net;

pub fn three(snap_count: usize) -> Net {
    Net::new(&[1, 2, 3], &[], move |c| c.snap_count = snap_count)
}

/// Every up server holds every path in `acked`, all agree, and applied sequences agree.
pub fn assert_intact(net: &Net, acked: &[String], what: &str) {
    for (id, node) in &net.nodes {
        let Some(s) = &node.server else { continue };
        for p in acked {
            assert!(s.tree().get(p).is_some(), "{what}: server {id} lost {p}");
        }
    }
    net.assert_converged();
    net.assert_replicas_agree();
}
