//! `config`: a configuration changed through a ready znode, as in the ZooKeeper paper
//! (Hunt et al., ATC 2010), §2.3 "ZooKeeper guarantees": a new leader deletes `ready`,
//! changes the configuration znodes, and creates `ready` again; "if a process sees the ready
//! znode, it must also see all the configuration changes made by the new leader", because
//! of FIFO client order and because a client that watches `ready` is notified of its
//! deletion before it can read any state after it.
//!
//! Client 0 writes (pipelined, in order): delete /ready, set /cfg/a and /cfg/b to version
//! v, create /ready with data v. Every other client reads (pipelined) in rounds:
//! getData(/ready, watch), getData(/cfg/a), getData(/cfg/b).
//!
//! Invariant `config-no-mixed-versions`: a reader that got no watch event for /ready
//! between the /ready reply and a config reply sees in that reply the version /ready named.
//! Sound: the config reads come after the /ready read on the same connection (FIFO, no time
//! travel), so they reflect a state at or after the /ready read's; a change of /cfg/a or
//! /cfg/b after that state comes after the deletion of /ready (the writer's order), and the
//! watch set by the /ready read is delivered before any reply reflecting that deletion. A
//! round with an error or unknown outcome is not judged further.

use std::collections::BTreeMap;

use zksim_core::error::ErrorCode;
use zksim_core::request::Request;
use zksim_core::stat::Zxid;

use super::reply::{Got, data_of, got, z};
use super::{Feed, InvariantFindings, Judged, Told};
use crate::index::OpId;

pub const RECIPE: &str = "config";
pub const INVARIANT: &str = "config-no-mixed-versions";

const READY: &str = "/ready";
const CFG: &str = "/cfg";
/// The run's client that writes the configuration; the others read it.
const WRITER: u32 = 0;

/// One reader round: the /ready reply and whether a /ready event came after it.
#[derive(Clone, Debug, Default)]
struct Round {
    /// The /ready version, the read's zxid and the read, once answered OK.
    ready: Option<(String, Zxid, OpId)>,
    /// A watch event for /ready arrived after the /ready reply.
    event_after_ready: bool,
    /// The round failed (unknown outcome or an error): the rest is not judged.
    void: bool,
}

pub fn judge(feed: &Feed) -> Judged {
    let mut findings = InvariantFindings::new(RECIPE, INVARIANT);
    let mut rounds: BTreeMap<u32, Round> = BTreeMap::new();
    let mut reads_checked = 0;
    for tell in &feed.tells {
        if tell.run_client == WRITER {
            continue;
        }
        let round = rounds.entry(tell.run_client).or_default();
        match tell.told {
            // A round begins with its /ready read.
            Told::Sent(id) if is_ready_read(feed.op(id).request) => *round = Round::default(),
            Told::Ended(id) => {
                if let Some(checked) = on_reader_reply(feed, round, id, &mut findings) {
                    reads_checked += u64::from(checked);
                }
            }
            Told::Notified(n) if n.path == READY && round.ready.is_some() => {
                round.event_after_ready = true;
            }
            _ => {}
        }
    }
    Judged {
        outcomes: vec![findings.outcome()],
        counts: vec![
            ("config versions written", versions_written(feed)),
            ("config reads checked", reads_checked),
        ],
    }
}

fn is_ready_read(request: &Request) -> bool {
    matches!(request, Request::GetData { path, .. } if path == READY)
}

/// A reader's reply: Some(true) when a config read was judged.
fn on_reader_reply(
    feed: &Feed,
    round: &mut Round,
    id: OpId,
    findings: &mut InvariantFindings,
) -> Option<bool> {
    let op = feed.op(id);
    let path = op.request.path().unwrap_or("");
    let Got::Ok(reply) = got(op) else {
        round.void = true;
        return None;
    };
    let (value, _) = data_of(reply)?;
    if path == READY {
        round.ready = Some((value, reply.zxid, id));
        return None;
    }
    let (ready, ready_zxid, ready_op) = round.ready.clone()?;
    if round.void || round.event_after_ready {
        return Some(false);
    }
    if value != ready {
        findings.add(
            format!(
                "client {} read /ready = {ready} at zxid {}, then {path} = {value} at zxid {} \
                 with no watch event for /ready in between",
                feed.run_client(op.client),
                z(ready_zxid),
                z(reply.zxid)
            ),
            vec![ready_op, id],
            Vec::new(),
        );
    }
    Some(true)
}

/// How many versions the writer wrote completely: batches of delete /ready, set /cfg/a, set
/// /cfg/b, create /ready that all went as hoped (the delete may find /ready gone already,
/// after an earlier attempt of the same version). The first batch sets up /cfg.
fn versions_written(feed: &Feed) -> u64 {
    let (mut written, mut setup_done) = (0, false);
    let (mut left, mut ok) = (0usize, true);
    for tell in feed.tells.iter().filter(|t| t.run_client == WRITER) {
        match tell.told {
            Told::Sent(id) => {
                let request = feed.op(id).request;
                let first = match request {
                    Request::Delete { path, .. } => path == READY,
                    Request::Create { path, .. } => path == CFG,
                    _ => false,
                };
                if first {
                    (left, ok) = (4, true);
                }
            }
            Told::Ended(id) => {
                let op = feed.op(id);
                ok &= match (got(op), op.request) {
                    (Got::Ok(_), _) => true,
                    (Got::Err(ErrorCode::NodeExists, _), Request::Create { .. }) => !setup_done,
                    (Got::Err(ErrorCode::NoNode, _), Request::Delete { .. }) => true,
                    _ => false,
                };
                left = left.saturating_sub(1);
                if left == 0 && ok {
                    written += u64::from(setup_done);
                    setup_done = true;
                }
            }
            _ => {}
        }
    }
    written
}
