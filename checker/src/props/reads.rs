//! Reads equal the state at their zxid. ZooKeeper's reads are not linearizable: a server
//! answers from its own applied state, which may lag ("ZooKeeper does not guarantee that
//! at every instance in time, two different clients will have identical views", ZooKeeper
//! Programmer's Guide, consistency guarantees; Hunt et al., ZooKeeper paper, §2.3 and §4.4:
//! "read requests are handled locally at each server ... tagged with a zxid that
//! corresponds to the last transaction seen by the server"). What a read does promise is
//! that it saw one committed state: the state after every txn up to its reply's zxid.
//!
//! The reference replay answers each read (exists, getData, getChildren, getACL,
//! getAllChildrenNumber, getEphemerals, multiRead, and watch requests) on the reference
//! tree at its reply's zxid, with the session's identities, and every answer must match
//! exactly: error code, data, every Stat field, the set of children, ACLs (with digests
//! hidden from sessions without ADMIN). A read may not reflect a zxid beyond the last
//! committed txn (state that was never committed; an epoch's first zxid, `e << 32`, which
//! no txn has, is allowed). The answer to removeWatches is not judged.

use super::describe::{difference, op as describe_op, zxid as z};
use super::{Findings, Outcome, Property};
use crate::index::History;
use crate::reference::Reference;

pub fn check(h: &History, r: &Reference) -> Outcome {
    let mut findings = Findings::new(Property::ReadsEqualState);
    for m in &r.read_mismatches {
        let reply = h.op(m.op).reply().expect("mismatches have replies");
        let empty = zksim_core::request::Response::Empty;
        let expected = match &m.expected {
            Ok(response) => (zksim_core::error::ErrorCode::Ok, response),
            Err(err) => (*err, &empty),
        };
        findings.add(
            format!(
                "{} was answered at zxid {} with {}: not the state at that zxid",
                describe_op(h, m.op),
                z(reply.zxid),
                difference((reply.err, &reply.response), expected)
            ),
            vec![m.op],
            Vec::new(),
            Vec::new(),
        );
    }
    for &op in &r.reads_beyond {
        let reply = h.op(op).reply().expect("reads have replies");
        findings.add(
            format!(
                "{} reflects zxid {}, beyond the last committed txn (zxid {}): it saw state that was never committed",
                describe_op(h, op),
                z(reply.zxid),
                z(h.last_zxid())
            ),
            vec![op],
            Vec::new(),
            Vec::new(),
        );
    }
    findings.outcome(r.reads_checked)
}
