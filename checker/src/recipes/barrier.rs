//! `barrier`: the double barrier of ZooKeeper's recipes page ("Double Barriers"; the
//! ZooKeeper paper's "Double Barrier", Hunt et al., ATC 2010, §2.4), used round after round
//! by every client, with the round's barrier at /b/r<k>.
//!
//! Enter: exists(/b/r<k>/ready, watch); create the ephemeral /b/r<k>/c<client>;
//! getChildren(/b/r<k>); with all N clients' nodes there, create /b/r<k>/ready and go
//! through, else wait for the watch. Leave: getChildren; no process node left: done; only
//! our own: delete it, done; ours the lowest: wait on the highest; else delete ours and wait
//! on the lowest.
//!
//! Invariant `barrier-all-entered`: no client passes the enter phase of a round before all
//! N clients have entered it, judged from zxids: a client passes at the zxid of what let it
//! through (a read showing ready, the notification of ready's creation while it waited for
//! it, or an enter listing of all N nodes: the listing a session sends right after creating
//! its node), and every client's first create of its node in that round must have a zxid no
//! later than that. Sound: ready is created only after some client listed all N nodes, each
//! made by its own client's create. A create with an unknown outcome leaves that client's
//! entry zxid open, which skips it (weakens) unless a later acknowledged create bounds it.

use std::collections::BTreeMap;

use zksim_core::error::ErrorCode;
use zksim_core::request::Request;
use zksim_core::stat::Zxid;
use zksim_core::watch::EventType;

use super::reply::{Got, children_of, got, z};
use super::{Feed, InvariantFindings, Judged, Tell, Told};
use crate::history::ClientId;
use crate::index::OpId;

pub const RECIPE: &str = "barrier";
pub const INVARIANT: &str = "barrier-all-entered";

/// How a create of a client's node in a round ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attempt {
    Acked(Zxid, OpId),
    Unknown,
}

/// A client through the enter phase of a round.
#[derive(Clone, Debug)]
struct Pass {
    round: u64,
    client: u32,
    at: Zxid,
    how: &'static str,
    op: Option<OpId>,
    event: Option<usize>,
}

#[derive(Default)]
struct Entries {
    /// Creates that may have made a client's node, in order, by (round, client).
    creates: BTreeMap<(u64, u32), Vec<Attempt>>,
    passes: Vec<Pass>,
    rounds_done: u64,
    /// Sessions waiting for ready after an enter listing short of N, by round.
    waiting: BTreeMap<ClientId, u64>,
}

/// The parts of a barrier path: `/b/r<k>` (round k) and the child below it, if any.
fn parse(path: &str) -> Option<(u64, Option<&str>)> {
    let rest = path.strip_prefix("/b/r")?;
    let (round, child) = match rest.split_once('/') {
        Some((r, c)) => (r, Some(c)),
        None => (rest, None),
    };
    Some((round.parse().ok()?, child))
}

fn is_process(name: &str) -> bool {
    name != "ready"
}

pub fn judge(feed: &Feed) -> Judged {
    let n = feed.clients;
    assert!(n > 0, "a barrier run has clients");
    let mut e = Entries::default();
    for tell in &feed.tells {
        match tell.told {
            Told::Sent(_) => {
                e.waiting.remove(&tell.client);
            }
            Told::Ended(id) => e.on_complete(feed, tell, id, n),
            Told::Notified(note) if note.event_type == EventType::NodeCreated => {
                let waited = e.waiting.get(&tell.client).copied();
                let round = parse(note.path).and_then(|(r, c)| (c == Some("ready")).then_some(r));
                if let (Some(round), Some(w)) = (round, waited) {
                    if round == w {
                        e.waiting.remove(&tell.client);
                        e.passes.push(Pass {
                            round,
                            client: tell.run_client,
                            at: note.zxid,
                            how: "it was notified of ready",
                            op: None,
                            event: Some(note.at),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Judged {
        outcomes: vec![e.check(n).outcome()],
        counts: vec![
            ("barrier passes", e.passes.len() as u64),
            ("barrier rounds completed", e.rounds_done),
        ],
    }
}

impl Entries {
    fn on_complete(&mut self, feed: &Feed, tell: &Tell, id: OpId, n: u32) {
        let op = feed.op(id);
        let me = format!("c{}", tell.run_client);
        let g = got(op);
        match op.request {
            Request::Create { path, .. } => {
                let Some((round, Some(child))) = parse(path) else {
                    return;
                };
                let attempt = match g {
                    _ if child != me => None,
                    Got::Ok(reply) => Some(Attempt::Acked(reply.zxid, id)),
                    Got::Unknown => Some(Attempt::Unknown),
                    Got::Err(..) => None,
                };
                if let Some(a) = attempt {
                    let key = (round, tell.run_client);
                    self.creates.entry(key).or_default().push(a);
                }
            }
            Request::Exists { path, .. } => {
                let (Some((round, Some("ready"))), Got::Ok(reply)) = (parse(path), g) else {
                    return;
                };
                self.pass(round, tell.run_client, reply.zxid, "it read ready", id);
            }
            Request::GetChildren { path, .. } => {
                let (Some((round, None)), Got::Ok(reply)) = (parse(path), g) else {
                    return;
                };
                let children = children_of(reply).unwrap_or_default();
                let process = children.iter().filter(|c| is_process(c)).count();
                if !is_enter_listing(feed, id, path, &me) {
                    // A leave listing: the round is over for this client when none is left.
                    self.rounds_done += u64::from(process == 0);
                } else if children.contains(&me) && process >= n as usize {
                    let how = "it listed every client's node";
                    self.pass(round, tell.run_client, reply.zxid, how, id);
                } else if children.contains(&me) {
                    self.waiting.insert(tell.client, round);
                }
            }
            _ => {}
        }
    }

    fn pass(&mut self, round: u64, client: u32, at: Zxid, how: &'static str, op: OpId) {
        self.passes.push(Pass {
            round,
            client,
            at,
            how,
            op: Some(op),
            event: None,
        });
    }

    /// Whether `client`'s entry into `round` is known to be after `at`: how, if so.
    fn entered_after(&self, round: u64, client: u32, at: Zxid) -> Option<(String, Option<OpId>)> {
        let Some(attempts) = self.creates.get(&(round, client)) else {
            return Some(("never created its node".to_string(), None));
        };
        match attempts.first() {
            Some(Attempt::Acked(c, op)) if *c > at => {
                Some((format!("created its node at zxid {}", z(*c)), Some(*op)))
            }
            _ => None,
        }
    }

    fn check(&self, n: u32) -> InvariantFindings {
        let mut findings = InvariantFindings::new(RECIPE, INVARIANT);
        for p in &self.passes {
            for j in 0..n {
                let Some((late, create)) = self.entered_after(p.round, j, p.at) else {
                    continue;
                };
                findings.add(
                    format!(
                        "client {} passed the round-{} barrier at zxid {} ({}), but client {j} \
                         {late}",
                        p.client,
                        p.round,
                        z(p.at),
                        p.how
                    ),
                    p.op.into_iter().chain(create).collect(),
                    p.event.into_iter().collect(),
                );
            }
        }
        findings
    }
}

/// Whether a listing of a round's barrier is the enter phase's: the session sent it right
/// after creating its node there, and the create succeeded or found the node made.
fn is_enter_listing(feed: &Feed, id: OpId, dir: &str, me: &str) -> bool {
    let Some((_, create)) = feed.previous(id) else {
        return false;
    };
    let Request::Create { path, .. } = create.request else {
        return false;
    };
    let made = matches!(got(create), Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _));
    made && path.strip_prefix(dir).and_then(|c| c.strip_prefix('/')) == Some(me)
}
