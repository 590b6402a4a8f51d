//! Linearizable writes: "all requests that update the state of ZooKeeper are serializable
//! and respect precedence" (ZooKeeper Programmer's Guide, consistency guarantees; Hunt et
//! al., ZooKeeper paper, §2.3: "A-linearizability"), and writes are ordered by zxid: "ZooKeeper
//! stamps each update with a number that reflects the order of all ZooKeeper transactions"
//! (Programmer's Guide, ZooKeeper Stat Structure / zxid).
//!
//! The fast path verifies the order the zxids claim, which makes the check linear: the
//! ground truth replayed in zxid order on the reference tree is a witness linearization
//! when (1) every write's txn is what its request gives on the state before it, (2) every
//! reply is what that txn gives, (3) real-time precedence holds (a write that completed
//! before another was invoked has the smaller zxid), and (4) every acknowledged write is in
//! the ground truth. Unknown outcomes are settled by the ground truth (its txn exists or
//! not), which the witness is free to choose.
//!
//! When the claim fails, the system's word is set aside: the writes alone (requests,
//! replies, real times; no zxid, no ground truth) go to the Wing–Gong–Lowe search with
//! `ZkModel`, partitioned by znode path, from the start of the history to the last return
//! of an operation involved (later returns become unknown, which keeps the verdict sound:
//! a linearizable history's prefixes are linearizable with pending operations left open).
//! No order at all → a confirmed violation. A reply whose error differs from what its own
//! txn (same session and cxid) gives is confirmed without a search: no order mends it. Some other order → the writes are linearizable
//! but not in zxid order, which ZooKeeper promises too; the report says which it is. A
//! search that runs out of budget gives Unknown, never Holds.

use crate::index::{FastMap, FastSet};

use zksim_core::txn::Txn;

use super::describe::{difference, op as describe_op, zxid as z};
use super::{Findings, Options, Outcome, Property, Verdict};
use crate::index::{End, History, OpId, OpKind, TxnId};
use crate::linearizability::{self, Budget, Operation};
use crate::reference::Reference;
use crate::zkmodel::{ZkInput, ZkModel, ZkOutput, assign_keys, closes_and_reaps};

/// A way the zxid order fails to be a witness.
struct Claim {
    sentence: String,
    ops: Vec<OpId>,
    txns: Vec<TxnId>,
}

pub fn check(h: &History, r: &Reference, options: Options) -> Outcome {
    let mut claims = Vec::new();
    prep_claims(h, r, &mut claims);
    reply_claims(h, r, &mut claims);
    precedence_claims(h, &mut claims);
    missing_claims(h, &mut claims);
    let writes = h.ops.iter().filter(|o| o.kind == OpKind::Write).count();
    if claims.is_empty() {
        return Findings::new(Property::LinearizableWrites).outcome(writes);
    }
    if let Some(outcome) = contradicted_outcomes(h, r, writes) {
        return outcome;
    }
    confirm(h, claims, options, writes)
}

/// A write told it succeeded while its own txn (its session and cxid) failed, or told it
/// failed otherwise than its txn did: no order of the writes can mend that, since the txn
/// is what the replicas applied for that very request (ZooKeeper's FinalRequestProcessor
/// answers each request from the outcome of its own txn). Confirmed without a search.
fn contradicted_outcomes(h: &History, r: &Reference, writes: usize) -> Option<Outcome> {
    let mut findings = Findings::new(Property::LinearizableWrites);
    for m in &r.reply_mismatches {
        let reply = h.op(m.op).reply().expect("mismatches have replies");
        if reply.err == m.expected_err {
            continue;
        }
        let t = h.txn(m.txn);
        findings.add(
            format!(
                "{} was answered {} at zxid {}, but its own txn at zxid {} {}: a write's reply is the outcome of the txn made for it",
                describe_op(h, m.op),
                reply.err.name(),
                z(reply.zxid),
                z(t.zxid),
                if m.expected_err == zksim_core::error::ErrorCode::Ok {
                    "took effect".to_string()
                } else {
                    format!("failed with {}", m.expected_err.name())
                }
            ),
            vec![m.op],
            vec![m.txn],
            Vec::new(),
        );
    }
    (!findings.is_empty()).then(|| findings.outcome(writes))
}

fn prep_claims(h: &History, r: &Reference, claims: &mut Vec<Claim>) {
    for m in &r.prep_mismatches {
        let t = h.txn(m.txn);
        claims.push(Claim {
            sentence: format!(
                "{} took effect at zxid {} as {}, but on the state before it that request gives {}",
                describe_op(h, m.op),
                z(t.zxid),
                txn_words(t.txn),
                txn_words(&m.expected)
            ),
            ops: vec![m.op],
            txns: vec![m.txn],
        });
    }
}

fn reply_claims(h: &History, r: &Reference, claims: &mut Vec<Claim>) {
    for m in &r.reply_mismatches {
        let t = h.txn(m.txn);
        let reply = h.op(m.op).reply().expect("mismatches have replies");
        claims.push(Claim {
            sentence: format!(
                "{} was answered at zxid {} with {}: not what its txn at zxid {} gives",
                describe_op(h, m.op),
                z(reply.zxid),
                difference((reply.err, &reply.response), (m.expected_err, &m.expected)),
                z(t.zxid)
            ),
            ops: vec![m.op],
            txns: vec![m.txn],
        });
    }
}

/// A write that completed before another was invoked must have the smaller zxid. Ops are
/// in invocation order; completions are swept alongside, keeping the largest zxid of the
/// writes completed so far.
fn precedence_claims(h: &History, claims: &mut Vec<Claim>) {
    let mut done: Vec<(usize, OpId)> = h
        .ops
        .iter()
        .enumerate()
        .filter(|(i, o)| {
            o.kind == OpKind::Write && h.effect_zxid(OpId::try_from(*i).expect("fits")).is_some()
        })
        .filter_map(|(i, o)| match o.end {
            End::Reply { at, .. } => Some((at, OpId::try_from(i).expect("fits"))),
            _ => None,
        })
        .collect();
    done.sort_unstable();
    let mut next = 0;
    let mut max: Option<(i64, OpId)> = None;
    for (i, op) in h.ops.iter().enumerate() {
        while next < done.len() && done[next].0 < op.invoke_at {
            let a = done[next].1;
            let za = h.effect_zxid(a).expect("filtered on txn");
            if max.is_none_or(|(m, _)| za > m) {
                max = Some((za, a));
            }
            next += 1;
        }
        let b = OpId::try_from(i).expect("fits");
        let (Some(zb), Some((za, a))) = (h.effect_zxid(b), max) else {
            continue;
        };
        if op.kind == OpKind::Write && zb < za {
            claims.push(Claim {
                sentence: format!(
                    "{} completed (event {}) before {} was invoked, yet took effect later: zxid {} > {}",
                    describe_op(h, a),
                    h.op(a).end_at().map_or(0, |at| at + 1),
                    describe_op(h, b),
                    z(za),
                    z(zb)
                ),
                ops: vec![a, b],
                txns: [h.txn_of_op[a as usize], h.txn_of_op[b as usize]]
                    .into_iter()
                    .flatten()
                    .collect(),
            });
        }
    }
}

/// An acknowledged write that the ground truth lacks has no place in the zxid order.
fn missing_claims(h: &History, claims: &mut Vec<Claim>) {
    for (i, op) in h.ops.iter().enumerate() {
        if op.kind != OpKind::Write || h.txn_of_op[i].is_some() {
            continue;
        }
        let Some(reply) = op.definite_reply() else {
            continue;
        };
        let id = OpId::try_from(i).expect("fits");
        claims.push(Claim {
            sentence: format!(
                "{} was answered {} at zxid {}, but no txn of its session and xid exists",
                describe_op(h, id),
                reply.err,
                z(reply.zxid)
            ),
            ops: vec![id],
            txns: Vec::new(),
        });
    }
}

/// Set the zxid claim aside and search for any linearization of the writes involved.
fn confirm(h: &History, claims: Vec<Claim>, options: Options, writes: usize) -> Outcome {
    let suspects: Vec<OpId> = claims.iter().flat_map(|c| c.ops.iter().copied()).collect();
    let (result, ids) = search(h, Some(&suspects), options.max_steps);
    let mut findings = Findings::new(Property::LinearizableWrites);
    match result.verdict {
        linearizability::Verdict::Unknown(reason) => {
            return Outcome {
                property: Property::LinearizableWrites,
                verdict: Verdict::Unknown(format!(
                    "the zxid order does not explain the writes ({}), and the search for another order could not decide: {reason}",
                    claims[0].sentence
                )),
                checked: writes,
            };
        }
        linearizability::Verdict::Violation(v) => {
            let stuck = ids[v.stuck];
            let involved: Vec<OpId> = std::iter::once(stuck)
                .chain(v.pending.iter().filter_map(|&i| ids.get(i).copied()))
                .filter(|&id| id != NO_OP)
                .take(6)
                .collect();
            findings.add(
                format!(
                    "No order of the writes explains their replies: {} cannot take effect in \
                     any order consistent with real time (searched {} steps over znodes {}). \
                     The zxid order fails first here: {}",
                    describe_op(h, stuck),
                    result.stats.steps,
                    v.keys
                        .iter()
                        .map(|k| k.trim_matches('"'))
                        .collect::<Vec<_>>()
                        .join(", "),
                    claims[0].sentence
                ),
                involved,
                claims[0].txns.clone(),
                Vec::new(),
            );
        }
        linearizability::Verdict::Linearizable => {
            for c in claims {
                findings.add(
                    format!(
                        "{}. Some other order explains every reply, so the writes are \
                         linearizable, but not in the order their zxids claim.",
                        c.sentence
                    ),
                    c.ops,
                    c.txns,
                    Vec::new(),
                );
            }
        }
    }
    findings.outcome(writes)
}

/// Search for a linearization of the writes alone (requests, replies and real times; no
/// zxid, no ground truth): all of them, or those sharing znodes with `focus` up to the last
/// return among `focus`. Returns the verdict and, for each searched operation, its op
/// (`OpId::MAX` for a session close or a container reap the search may place).
pub fn search(
    h: &History,
    focus: Option<&[OpId]>,
    max_steps: u64,
) -> (linearizability::CheckResult, Vec<OpId>) {
    let (ops, ids) = search_history(h, focus);
    (
        linearizability::check(&ZkModel, &ops, Budget::steps(max_steps)),
        ids,
    )
}

/// Marks a search operation that is not a client op (a session close, a container reap).
const NO_OP: OpId = OpId::MAX;

/// One operation for the search, before partitions are chosen.
struct Candidate {
    input: ZkInput,
    output: ZkOutput,
    call: u64,
    ret: Option<u64>,
    process: u64,
    id: OpId,
}

/// The writes sharing znodes with the suspects, up to the last suspect's return; ops that
/// return later stay open. Returns the search history and each entry's op.
fn search_history(
    h: &History,
    focus: Option<&[OpId]>,
) -> (Vec<Operation<ZkInput, ZkOutput>>, Vec<OpId>) {
    let cut = focus.map_or(usize::MAX, |f| {
        f.iter()
            .filter_map(|&s| h.op(s).end_at())
            .max()
            .unwrap_or(usize::MAX)
    });
    let mut candidates = Vec::new();
    for (i, op) in h.ops.iter().enumerate() {
        if op.kind != OpKind::Write || op.invoke_at > cut {
            continue;
        }
        let Some(session) = op.session else { continue };
        let output = match op.end {
            End::Reply { at, reply, .. } if at <= cut => ZkOutput::from_reply(reply),
            _ => None,
        };
        let ret = output.as_ref().and(op.end_at()).map(|at| at as u64);
        let input = ZkInput::write(
            session,
            op.xid,
            op.request.clone(),
            h.auth(op.auth),
            output.as_ref(),
        );
        candidates.push(Candidate {
            input,
            output: output.unwrap_or(ZkOutput::Unknown),
            call: op.invoke_at as u64,
            ret,
            process: u64::from(op.client),
            id: OpId::try_from(i).expect("fits"),
        });
    }
    for (input, call) in closes_and_reaps(h) {
        candidates.push(Candidate {
            input,
            output: ZkOutput::Unknown,
            call: call.min(cut as u64),
            ret: None,
            process: u64::MAX,
            id: NO_OP,
        });
    }
    let mut inputs: Vec<ZkInput> = candidates.iter().map(|c| c.input.clone()).collect();
    assign_keys(&mut inputs);
    for (c, input) in candidates.iter_mut().zip(inputs) {
        c.input = input;
    }
    let keep = match focus {
        Some(suspects) => component_of(&candidates, suspects),
        None => vec![true; candidates.len()],
    };
    let mut ops = Vec::new();
    let mut ids = Vec::new();
    for (c, keep) in candidates.into_iter().zip(keep) {
        if keep {
            ops.push(Operation {
                process: c.process,
                input: c.input,
                output: c.output,
                call: c.call,
                ret: c.ret,
            });
            ids.push(c.id);
        }
    }
    (ops, ids)
}

/// Which candidates share a connected group of znodes with a suspect (union-find on keys).
fn component_of(candidates: &[Candidate], suspects: &[OpId]) -> Vec<bool> {
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let suspects: FastSet<OpId> = suspects.iter().copied().collect();
    let mut parent: Vec<usize> = Vec::new();
    let mut key_id: FastMap<&str, usize> = FastMap::default();
    let mut first_key: Vec<Option<usize>> = Vec::with_capacity(candidates.len());
    for c in candidates {
        let mut first = None;
        for key in c.input.keys() {
            let next = parent.len();
            let k = *key_id.entry(key.as_str()).or_insert(next);
            if k == next {
                parent.push(next);
            }
            match first {
                None => first = Some(k),
                Some(f) => {
                    let (a, b) = (find(&mut parent, f), find(&mut parent, k));
                    parent[a] = b;
                }
            }
        }
        first_key.push(first);
    }
    let mut wanted = vec![false; parent.len()];
    for (c, first) in candidates.iter().zip(&first_key) {
        if let (true, Some(f)) = (suspects.contains(&c.id), first) {
            let root = find(&mut parent, *f);
            wanted[root] = true;
        }
    }
    first_key
        .iter()
        .map(|f| f.is_some_and(|f| wanted[find(&mut parent, f)]))
        .collect()
}

/// A txn in a few words.
fn txn_words(txn: &Txn) -> String {
    match txn {
        Txn::Create {
            path,
            parent_cversion,
            ephemeral_owner,
            ..
        } => {
            format!("create {path} (parent cversion {parent_cversion}, owner {ephemeral_owner:#x})")
        }
        Txn::Delete { path } | Txn::DeleteContainer { path } => format!("delete {path}"),
        Txn::SetData { path, version, .. } => format!("setData {path} (version {version})"),
        Txn::SetAcl { path, version, .. } => format!("setACL {path} (aversion {version})"),
        Txn::Check { path, version } => format!("check {path} (version {version})"),
        Txn::Error { err } => format!("error {err}"),
        Txn::Multi(txns) => {
            let inner: Vec<String> = txns.iter().map(txn_words).collect();
            format!("multi [{}]", inner.join(", "))
        }
        Txn::CreateSession { .. } => "createSession".to_string(),
        Txn::CloseSession { .. } => "closeSession".to_string(),
    }
}
