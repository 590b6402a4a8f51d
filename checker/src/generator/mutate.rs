//! Inject one violation of a chosen property into a valid history, the way a bug in the
//! service would show in what clients saw or what replicas applied. Each mutation is
//! small and local; it may break a neighbouring property too (a reply that lies about a
//! write is also a reply that differs from its txn), but always the one it is for.
//!
//! `nth` picks among the places a mutation fits, so one history yields several variants.

use std::collections::HashMap;

use zksim_core::acl::Id;
use zksim_core::request::{Reply, Request, Response};
use zksim_core::standalone::CLIENT_IP;
use zksim_core::stat::Zxid;
use zksim_core::tree::DataTree;
use zksim_core::txn::{Txn, TxnHeader};
use zksim_core::watch::EventType;

use crate::history::{Event, Outcome};
use crate::props::Property;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no place in this history to inject a {property} violation")]
pub struct NoPlace {
    pub property: Property,
}

/// Change `events` so that `property` no longer holds; says what was done.
pub fn inject(events: &mut Vec<Event>, property: Property, nth: usize) -> Result<String, NoPlace> {
    let done = match property {
        Property::LinearizableWrites => wrong_write_reply(events, nth),
        Property::FifoClientOrder => swap_replies(events, nth),
        Property::NoTimeTravel => stale_read(events, nth),
        Property::WatchBeforeLaterRead => late_notification(events, nth),
        Property::ReadsEqualState => wrong_read(events, nth),
        Property::ReadAfterSync => stale_sync(events, nth),
        Property::AcknowledgedWritesSurvive => lose_write(events, nth),
        Property::NoPhantomWrites => phantom_write(events, nth),
        Property::EphemeralsLiveWithSession => keep_ephemeral(events, nth),
        Property::SequentialNames => repeat_name(events, nth),
        Property::OneShotWatches => repeat_notification(events, nth),
        Property::ReplicaAgreement => skip_on_replica(events, nth),
        Property::Progress => unanswered(events, nth),
    };
    done.ok_or(NoPlace { property })
}

/// The `nth` (wrapping) of the positions where `fits` holds.
fn pick(events: &[Event], nth: usize, fits: impl Fn(usize, &Event) -> bool) -> Option<usize> {
    let places: Vec<usize> = (0..events.len()).filter(|&i| fits(i, &events[i])).collect();
    (!places.is_empty()).then(|| places[nth % places.len()])
}

fn reply_mut(e: &mut Event) -> Option<&mut Reply> {
    match e {
        Event::Complete {
            outcome: Outcome::Reply(reply),
            ..
        } => Some(reply),
        _ => None,
    }
}

fn reply_of(e: &Event) -> Option<&Reply> {
    match e {
        Event::Complete {
            outcome: Outcome::Reply(reply),
            ..
        } => Some(reply),
        _ => None,
    }
}

/// The request each (client, xid) invoked, and its session.
fn requests(events: &[Event]) -> HashMap<(u32, i32), (Option<i64>, &Request, usize)> {
    let mut out = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        if let Event::Invoke {
            client,
            xid,
            session,
            op,
            ..
        } = e
        {
            out.insert((*client, *xid), (*session, op, i));
        }
    }
    out
}

fn complete_key(e: &Event) -> Option<(u32, i32)> {
    match e {
        Event::Complete { client, xid, .. } => Some((*client, *xid)),
        _ => None,
    }
}

/// An acknowledged setData tells a version no order of writes can give.
fn wrong_write_reply(events: &mut [Event], nth: usize) -> Option<String> {
    let reqs = requests(events);
    let i = pick(events, nth, |_, e| {
        let is_set = complete_key(e)
            .and_then(|k| reqs.get(&k))
            .is_some_and(|r| matches!(r.1, Request::SetData { .. }));
        is_set && matches!(reply_of(e), Some(r) if r.err.is_ok())
    })?;
    let reply = reply_mut(&mut events[i])?;
    if let Response::Stat(stat) = &mut reply.response {
        stat.version += 1000;
    }
    Some(format!("line {}: setData reply version +1000", i + 1))
}

/// Two consecutive replies of one client arrive in the opposite order.
fn swap_replies(events: &mut [Event], nth: usize) -> Option<String> {
    let i = pick(events, nth, |i, e| {
        let (Some((c, _)), Some(Some((d, _)))) =
            (complete_key(e), events.get(i + 1).map(complete_key))
        else {
            return false;
        };
        c == d
    })?;
    let (t0, t1) = (events[i].time(), events[i + 1].time());
    events.swap(i, i + 1);
    for (k, t) in [(i, t0), (i + 1, t1)] {
        if let (Event::Complete { t: slot, .. }, Some(t)) = (&mut events[k], t) {
            *slot = t;
        }
    }
    Some(format!("lines {} and {}: replies swapped", i + 1, i + 2))
}

fn ground_truth(events: &[Event]) -> Vec<(TxnHeader, &Txn)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Txn {
                zxid,
                session,
                cxid,
                time,
                txn,
                ..
            } => Some((
                TxnHeader {
                    session_id: *session,
                    cxid: *cxid,
                    zxid: *zxid,
                    time: *time,
                },
                txn,
            )),
            _ => None,
        })
        .collect()
}

/// The answer a read gets on the committed state at `zxid`.
fn answer_at(events: &[Event], zxid: Zxid, session: i64, request: &Request) -> Reply {
    let mut tree = DataTree::new();
    for (hdr, txn) in ground_truth(events) {
        if hdr.zxid > zxid {
            break;
        }
        tree.apply(&hdr, txn, &mut Vec::new());
    }
    let ids = [Id::new("ip", CLIENT_IP)];
    let answer = zksim_core::read::serve_read(&mut tree, session, &ids, request, &mut Vec::new());
    Reply::of_read(answer, zxid)
}

fn is_plain_read(r: &Request) -> bool {
    matches!(
        r,
        Request::GetData { watch: false, .. }
            | Request::Exists { watch: false, .. }
            | Request::GetChildren { watch: false, .. }
    )
}

/// A read, answered after the session saw a later zxid, shows an older committed state
/// (one at or after the session's own acknowledged writes, so only the view goes back).
fn stale_read(events: &mut [Event], nth: usize) -> Option<String> {
    let reqs = requests(events);
    let mut seen: HashMap<i64, (Zxid, Zxid, bool)> = HashMap::new();
    let mut places = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let (Some(key), Some(reply)) = (complete_key(e), reply_of(e)) else {
            continue;
        };
        let Some(&(Some(session), request, _)) = reqs.get(&key) else {
            continue;
        };
        let entry = seen.entry(session).or_insert((0, 0, false));
        let floor = entry.1.max(1);
        if is_plain_read(request) && reply.err.is_ok() && !entry.2 && entry.0 > floor {
            places.push((i, session, floor, entry.0));
        }
        if request.is_write() {
            entry.1 = entry.1.max(reply.zxid);
        }
        entry.2 |= matches!(request, Request::Sync { .. });
        entry.0 = entry.0.max(reply.zxid);
    }
    let &(i, session, floor, max) = places.get(nth % places.len().max(1))?;
    // The newest committed zxid below what the session saw, not below its writes.
    let older = ground_truth(events)
        .iter()
        .map(|(h, _)| h.zxid)
        .filter(|&z| z >= floor && z < max)
        .max()?;
    let key = complete_key(&events[i])?;
    let request = reqs.get(&key)?.1.clone();
    let reply = answer_at(events, older, session, &request);
    *reply_mut(&mut events[i])? = reply;
    Some(format!(
        "line {}: read answered from zxid {older:#x}",
        i + 1
    ))
}

/// A notification is sent after the next reply that reflects its change.
fn late_notification(events: &mut Vec<Event>, nth: usize) -> Option<String> {
    let reqs = requests(events);
    let reconnected: Vec<i64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Session {
                session,
                event: crate::history::SessionEvent::Disconnected,
                ..
            } => Some(*session),
            _ => None,
        })
        .collect();
    let mut places = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let Event::Watch {
            client,
            session,
            zxid,
            ..
        } = e
        else {
            continue;
        };
        if reconnected.contains(session) {
            continue;
        }
        let later = events[i + 1..].iter().position(|f| {
            complete_key(f).is_some_and(|(c, x)| {
                c == *client && reqs.get(&(c, x)).is_some_and(|r| r.0 == Some(*session))
            }) && reply_of(f).is_some_and(|r| r.zxid >= *zxid)
        });
        if let Some(k) = later {
            places.push((i, i + 1 + k));
        }
    }
    let &(i, j) = places.get(nth % places.len().max(1))?;
    let mut note = events.remove(i);
    if let (Event::Watch { t, .. }, Some(after)) = (&mut note, events[j - 1].time()) {
        *t = after;
    }
    events.insert(j, note);
    Some(format!(
        "line {}: notification moved after line {}",
        i + 1,
        j
    ))
}

/// A getData answer carries data the node never had.
fn wrong_read(events: &mut [Event], nth: usize) -> Option<String> {
    let i = pick(
        events,
        nth,
        |_, e| matches!(reply_of(e), Some(r) if r.err.is_ok() && matches!(r.response, Response::GetData { .. })),
    )?;
    let reply = reply_mut(&mut events[i])?;
    if let Response::GetData { data, .. } = &mut reply.response {
        data.get_or_insert_with(Vec::new).extend_from_slice(b"!");
    }
    Some(format!("line {}: getData data changed", i + 1))
}

/// A sync is answered from a state that lacks a write acknowledged before it was sent.
fn stale_sync(events: &mut [Event], nth: usize) -> Option<String> {
    let reqs = requests(events);
    let mut acked: Zxid = 0;
    let mut places = Vec::new();
    let mut floor_at_invoke: HashMap<(u32, i32), Zxid> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        if let Event::Invoke {
            client, xid, op, ..
        } = e
        {
            if matches!(op, Request::Sync { .. }) {
                floor_at_invoke.insert((*client, *xid), acked);
            }
        }
        let (Some(key), Some(reply)) = (complete_key(e), reply_of(e)) else {
            continue;
        };
        let Some(&(_, request, _)) = reqs.get(&key) else {
            continue;
        };
        if request.is_write() && reply.err.is_ok() {
            acked = acked.max(reply.zxid);
        }
        if let Some(&floor) = floor_at_invoke.get(&key) {
            if floor > 1 && reply.err.is_ok() {
                places.push((i, floor));
            }
        }
    }
    let &(i, floor) = places.get(nth % places.len().max(1))?;
    reply_mut(&mut events[i])?.zxid = floor - 1;
    Some(format!(
        "line {}: sync answered at zxid {:#x}",
        i + 1,
        floor - 1
    ))
}

/// The ground truth loses an acknowledged write (and every replica forgets it).
fn lose_write(events: &mut Vec<Event>, nth: usize) -> Option<String> {
    let reqs = requests(events);
    let acked: Vec<(i64, i32)> = events
        .iter()
        .filter_map(|e| {
            let key = complete_key(e)?;
            let reply = reply_of(e)?;
            let &(session, request, _) = reqs.get(&key)?;
            (request.is_write() && reply.err.is_ok()).then_some((session?, key.1))
        })
        .collect();
    let i = pick(
        events,
        nth,
        |_, e| matches!(e, Event::Txn { session, cxid, .. } if acked.contains(&(*session, *cxid))),
    )?;
    let Event::Txn { zxid, .. } = events.remove(i) else {
        return None;
    };
    for e in events.iter_mut() {
        if let Event::Replica { segments, .. } = e {
            for s in segments {
                s.zxids.retain(|z| *z != zxid);
            }
        }
    }
    Some(format!("line {}: txn {zxid:#x} removed", i + 1))
}

/// A setData txn names a request its session never sent (a cxid no write of the
/// session had): a change no client asked for.
fn phantom_write(events: &mut [Event], nth: usize) -> Option<String> {
    let i = pick(events, nth, |_, e| {
        matches!(
            e,
            Event::Txn {
                txn: Txn::SetData { .. },
                ..
            }
        )
    })?;
    let Event::Txn { zxid, cxid, .. } = &mut events[i] else {
        return None;
    };
    *cxid = cxid.checked_add(1_000_000)?;
    Some(format!("line {}: txn {zxid:#x} given cxid {cxid}", i + 1))
}

/// A closeSession txn leaves one of the session's ephemerals behind (ZOOKEEPER-2355).
fn keep_ephemeral(events: &mut [Event], nth: usize) -> Option<String> {
    let i = pick(
        events,
        nth,
        |_, e| matches!(e, Event::Txn { txn: Txn::CloseSession { paths }, .. } if !paths.is_empty()),
    )?;
    let Event::Txn {
        txn: Txn::CloseSession { paths },
        ..
    } = &mut events[i]
    else {
        return None;
    };
    let kept = paths.remove(0);
    Some(format!("line {}: closeSession keeps {kept}", i + 1))
}

/// A sequential create is told the name an earlier one got.
fn repeat_name(events: &mut [Event], nth: usize) -> Option<String> {
    let created: Vec<(usize, String)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match reply_of(e) {
            Some(Reply {
                response: Response::Create { path, .. },
                ..
            }) if path.len() > 10
                && path[path.len() - 10..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some((i, path.clone()))
            }
            _ => None,
        })
        .collect();
    let pairs: Vec<(usize, String)> = created
        .windows(2)
        .filter(|w| w[0].1[..w[0].1.len() - 10] == w[1].1[..w[1].1.len() - 10])
        .map(|w| (w[1].0, w[0].1.clone()))
        .collect();
    let (i, name) = pairs.get(nth % pairs.len().max(1))?.clone();
    if let Some(Reply {
        response: Response::Create { path, .. },
        ..
    }) = reply_mut(&mut events[i])
    {
        *path = name.clone();
    }
    Some(format!("line {}: create told {name} again", i + 1))
}

/// A one-shot watch's notification arrives twice.
fn repeat_notification(events: &mut Vec<Event>, nth: usize) -> Option<String> {
    let reqs = requests(events);
    let persistent: Vec<i64> = reqs
        .values()
        .filter(|(_, r, _)| matches!(r, Request::AddWatch { .. }))
        .filter_map(|(s, _, _)| *s)
        .collect();
    let i = pick(events, nth, |_, e| {
        matches!(e, Event::Watch { session, event_type, .. }
            if !persistent.contains(session) && *event_type != EventType::None)
    })?;
    let copy = events[i].clone();
    events.insert(i + 1, copy);
    Some(format!("line {}: notification repeated", i + 1))
}

/// A request is never answered though its connection stays up, in a history whose
/// liveness phase (marked at its end) holds the service to answering.
fn unanswered(events: &mut Vec<Event>, nth: usize) -> Option<String> {
    let end = events.iter().filter_map(Event::time).max()?;
    let first_truth = events
        .iter()
        .position(|e| matches!(e, Event::Txn { .. } | Event::Replica { .. }))
        .unwrap_or(events.len());
    // A client's last completion, so that nothing after it on the client is disturbed.
    let mut last: HashMap<u32, usize> = HashMap::new();
    for (i, e) in events[..first_truth].iter().enumerate() {
        if let Event::Complete { client, xid, .. } = e {
            if *xid > 0 {
                last.insert(*client, i);
            }
        }
    }
    let mut places: Vec<usize> = last.into_values().collect();
    places.sort_unstable();
    let i = *places.get(nth % places.len().max(1))?;
    events.remove(i);
    let truth = first_truth - 1;
    events.insert(
        truth,
        Event::Phase {
            t: end,
            phase: crate::history::Phase::Liveness,
        },
    );
    Some(format!("line {}: a completion removed", i + 1))
}

/// A replica skips a committed txn.
fn skip_on_replica(events: &mut [Event], nth: usize) -> Option<String> {
    let i = pick(
        events,
        nth,
        |_, e| matches!(e, Event::Replica { segments, .. } if segments.iter().any(|s| s.zxids.len() > 2)),
    )?;
    let Event::Replica { server, segments } = &mut events[i] else {
        return None;
    };
    let seg = segments.iter_mut().find(|s| s.zxids.len() > 2)?;
    let gone = seg.zxids.remove(seg.zxids.len() / 2);
    Some(format!("server {server} skips zxid {gone:#x}"))
}
