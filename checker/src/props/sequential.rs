//! Sequential names are unique and increasing per parent: "the counter used to store the
//! next sequence number is a signed int (4bytes) maintained by the parent node ... the
//! sequence number is a monotonically increasing counter" (ZooKeeper Programmer's Guide,
//! sequence nodes; ZooKeeper appends `%010d` of the parent's cversion,
//! `PrepRequestProcessor`). The lock, queue and leader-election recipes depend on it.
//!
//! Checked, per parent: the sequential creates that took effect (from the ground truth,
//! matched to their requests, multi sub-creates included) and the names clients were told
//! (replies), taken together in zxid order, have names that extend the requested path by
//! ten digits, strictly increasing; so no name is given twice, and one create has one name.

use crate::index::FastMap;

use zksim_core::request::{OpResult, Request, Response};
use zksim_core::stat::Zxid;
use zksim_core::txn::Txn;

use super::describe::zxid as z;
use super::{Findings, Outcome, Property};
use crate::index::{History, OpId, TxnId};

struct Named<'h> {
    zxid: Zxid,
    /// The sub-operation of a multi (0 otherwise): a multi may create several.
    sub: usize,
    name: &'h str,
    requested: &'h str,
    op: OpId,
    txn: Option<TxnId>,
}

pub fn check(h: &History) -> Outcome {
    let mut by_parent: FastMap<&str, Vec<Named>> = FastMap::default();
    collect(h, &mut by_parent);
    let mut findings = Findings::new(Property::SequentialNames);
    let mut checked = 0;
    let mut parents: Vec<_> = by_parent.into_iter().collect();
    parents.sort_by_key(|(p, _)| *p);
    for (parent, mut names) in parents {
        names.sort_by_key(|n| (n.zxid, n.sub, n.txn.is_none()));
        checked += names.len();
        check_parent(h, parent, &names, &mut findings);
    }
    findings.outcome(checked)
}

fn collect<'h>(h: &History<'h>, by_parent: &mut FastMap<&'h str, Vec<Named<'h>>>) {
    for (i, op) in h.ops.iter().enumerate() {
        let id = OpId::try_from(i).expect("fits");
        let requests: &[Request] = match op.request {
            Request::Multi(ops) if ops.iter().any(is_sequential_create) => ops,
            r @ Request::Create { .. } if is_sequential_create(r) => std::slice::from_ref(r),
            _ => continue,
        };
        let mut push = |k: usize, zxid: Zxid, name: &'h str, txn: Option<TxnId>| {
            if let Some(Request::Create { path, mode, .. }) = requests.get(k) {
                if mode.is_sequential() {
                    let parent = zksim_core::path::split_last(path).map_or("/", |(p, _)| p);
                    by_parent.entry(parent).or_default().push(Named {
                        zxid,
                        sub: k,
                        name,
                        requested: path,
                        op: id,
                        txn,
                    });
                }
            }
        };
        if let Some(t) = h.txn_of_op[i] {
            let rec = h.txn(t);
            for (k, name) in created(rec.txn) {
                push(k, rec.zxid, name, Some(t));
            }
        }
        if let Some(reply) = op.definite_reply() {
            for (k, name) in told(&reply.response) {
                push(k, reply.zxid, name, None);
            }
        }
    }
}

fn is_sequential_create(r: &Request) -> bool {
    matches!(r, Request::Create { mode, .. } if mode.is_sequential())
}

/// (sub-request index, created path) of a txn.
fn created(txn: &Txn) -> Vec<(usize, &str)> {
    match txn {
        Txn::Create { path, .. } => vec![(0, path.as_str())],
        // A failed multi creates nothing, though it lists the creates before the failure.
        Txn::Multi(txns) if txns.iter().any(Txn::is_error) => Vec::new(),
        Txn::Multi(txns) => txns
            .iter()
            .enumerate()
            .filter_map(|(k, t)| match t {
                Txn::Create { path, .. } => Some((k, path.as_str())),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// (sub-request index, created path) of a reply.
fn told(response: &Response) -> Vec<(usize, &str)> {
    match response {
        Response::Create { path, .. } => vec![(0, path.as_str())],
        Response::Multi(results) => results
            .iter()
            .enumerate()
            .filter_map(|(k, r)| match r {
                OpResult::Create { path, .. } => Some((k, path.as_str())),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The ten-digit counter a sequential name ends with.
fn counter(n: &Named) -> Option<i64> {
    let suffix = n.name.strip_prefix(n.requested)?;
    if suffix.len() != 10 {
        return None;
    }
    suffix.parse().ok()
}

fn check_parent(h: &History, parent: &str, names: &[Named], findings: &mut Findings) {
    let mut prev: Option<(&Named, i64)> = None;
    for n in names {
        let Some(c) = counter(n) else {
            findings.add(
                format!(
                    "{} was named {}, which is not {} followed by ten digits",
                    super::describe::op(h, n.op),
                    n.name,
                    n.requested
                ),
                vec![n.op],
                n.txn.into_iter().collect(),
                Vec::new(),
            );
            continue;
        };
        if let Some((p, pc)) = prev {
            let same_create = p.zxid == n.zxid && p.sub == n.sub;
            let problem = if same_create && p.name != n.name {
                Some(format!("one create at zxid {} has two names", z(n.zxid)))
            } else if !same_create && c <= pc {
                Some(format!(
                    "names under {parent} must increase, but zxid {} got a counter not above zxid {}'s",
                    z(n.zxid),
                    z(p.zxid)
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                findings.add(
                    format!("{problem}: {} then {}", p.name, n.name),
                    vec![p.op, n.op],
                    p.txn.into_iter().chain(n.txn).collect(),
                    Vec::new(),
                );
            }
        }
        prev = Some((n, c));
    }
}
