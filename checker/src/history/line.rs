//! One line of a history into one [`Event`], without the detour serde takes for an
//! internally tagged enum.
//!
//! `#[serde(tag = "type")]` makes serde read every line into its generic `Content` tree
//! first (the tag may come last), then read the variant out of that tree: most of the
//! cost of reading a history. zksim's writer always puts `"type"` first, so a line that
//! starts `{"type":"NAME"` names its variant before anything else: it is read straight
//! into that variant's fields (a struct per variant below, the same field types with the
//! same serde attributes, whose `type` key is skipped). Anything else (another key order,
//! whitespace before the tag, an escape in it, the header, a variant without a struct
//! here) takes serde's general path, and so does every line the fast path refuses: an
//! error always comes from the general path, word for word what it was before. Both paths
//! run the same derived `Deserialize` of every field type, so a line both accept gives the
//! same event (`tests` and checker/tests/reader.rs hold them to that).

use serde::Deserialize;
use serde::de::IgnoredAny;
use zksim_core::acl::Id;
use zksim_core::request::Request;
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::txn::Txn;
use zksim_core::watch::EventType;
use zksim_core::zab::PeerState;

use super::{ClientId, Event, Micros, Outcome, Segment, SessionEvent};

/// Read one non-blank line. The error is serde's general path's.
pub fn parse_line(raw: &str) -> Result<Event, serde_json::Error> {
    if let Some(event) = tag_of(raw).and_then(|tag| fast(tag, raw)) {
        return Ok(event);
    }
    serde_json::from_str(raw)
}

/// The tag of a line that starts `{"type":"NAME"`, when NAME has no escape.
fn tag_of(raw: &str) -> Option<&str> {
    let rest = raw.strip_prefix(r#"{"type":""#)?;
    let end = rest.find(['"', '\\'])?;
    (rest.as_bytes()[end] == b'"').then(|| &rest[..end])
}

/// The line read straight into the variant `tag` names; `None` when the fast path does
/// not know the tag or cannot read the line (the general path decides then).
fn fast(tag: &str, raw: &str) -> Option<Event> {
    fn read<'a, T: Deserialize<'a> + Into<Event>>(raw: &'a str) -> Option<Event> {
        serde_json::from_str::<T>(raw).ok().map(Into::into)
    }
    match tag {
        "invoke" => read::<InvokeLine>(raw),
        "complete" => read::<CompleteLine>(raw),
        "txn" => read::<TxnLine>(raw),
        "watch" => read::<WatchLine>(raw),
        "session" => read::<SessionLine>(raw),
        "auth" => read::<AuthLine>(raw),
        "ping" => read::<PingLine>(raw),
        "close" => read::<CloseLine>(raw),
        "role" => read::<RoleLine>(raw),
        "fault" => read::<FaultLine>(raw),
        "replica" => read::<ReplicaLine>(raw),
        _ => None,
    }
}

// One struct per variant, field for field as `Event` declares it. The `type` key is a
// field of its own, so that a line naming its type twice is refused here as the general
// path refuses it ("duplicate field `type`"). A field added to a variant of `Event` stops
// the `From` below from compiling until it is added here too.

#[derive(Deserialize)]
struct InvokeLine {
    #[serde(rename = "type")]
    _tag: IgnoredAny,
    t: Micros,
    client: ClientId,
    session: Option<SessionId>,
    xid: i32,
    op: Request,
}

impl From<InvokeLine> for Event {
    fn from(l: InvokeLine) -> Event {
        Event::Invoke {
            t: l.t,
            client: l.client,
            session: l.session,
            xid: l.xid,
            op: l.op,
        }
    }
}

#[derive(Deserialize)]
struct CloseLine {
    #[serde(rename = "type")]
    _tag: IgnoredAny,
    t: Micros,
    client: ClientId,
    session: Option<SessionId>,
    xid: i32,
}

impl From<CloseLine> for Event {
    fn from(l: CloseLine) -> Event {
        Event::Close {
            t: l.t,
            client: l.client,
            session: l.session,
            xid: l.xid,
        }
    }
}

#[derive(Deserialize)]
struct CompleteLine {
    #[serde(rename = "type")]
    _tag: IgnoredAny,
    t: Micros,
    client: ClientId,
    xid: i32,
    outcome: Outcome,
}

impl From<CompleteLine> for Event {
    fn from(l: CompleteLine) -> Event {
        Event::Complete {
            t: l.t,
            client: l.client,
            xid: l.xid,
            outcome: l.outcome,
        }
    }
}

#[derive(Deserialize)]
struct WatchLine {
    #[serde(rename = "type")]
    _tag: IgnoredAny,
    t: Micros,
    client: ClientId,
    session: SessionId,
    event_type: EventType,
    path: String,
    zxid: Zxid,
}

impl From<WatchLine> for Event {
    fn from(l: WatchLine) -> Event {
        Event::Watch {
            t: l.t,
            client: l.client,
            session: l.session,
            event_type: l.event_type,
            path: l.path,
            zxid: l.zxid,
        }
    }
}

#[derive(Deserialize)]
struct SessionLine {
    #[serde(rename = "type")]
    _tag: IgnoredAny,
    t: Micros,
    client: ClientId,
    session: SessionId,
    event: SessionEvent,
}

impl From<SessionLine> for Event {
    fn from(l: SessionLine) -> Event {
        Event::Session {
            t: l.t,
            client: l.client,
            session: l.session,
            event: l.event,
        }
    }
}

#[derive(Deserialize)]
struct AuthLine {
    #[serde(rename = "type")]
    _tag: IgnoredAny,
    t: Micros,
    client: ClientId,
    ids: Vec<Id>,
}

impl From<AuthLine> for Event {
    fn from(l: AuthLine) -> Event {
        Event::Auth {
            t: l.t,
            client: l.client,
            ids: l.ids,
        }
    }
}

#[derive(Deserialize)]
struct PingLine {
    #[serde(rename = "type")]
    _tag: IgnoredAny,
    t: Micros,
    client: ClientId,
    session: SessionId,
    #[serde(default)]
    sent_t: Option<Micros>,
}

impl From<PingLine> for Event {
    fn from(l: PingLine) -> Event {
        Event::Ping {
            t: l.t,
            client: l.client,
            session: l.session,
            sent_t: l.sent_t,
        }
    }
}

#[derive(Deserialize)]
struct RoleLine {
    #[serde(rename = "type")]
    _tag: IgnoredAny,
    t: Micros,
    server: u64,
    state: PeerState,
    epoch: u32,
    leader: Option<u64>,
}

impl From<RoleLine> for Event {
    fn from(l: RoleLine) -> Event {
        Event::Role {
            t: l.t,
            server: l.server,
            state: l.state,
            epoch: l.epoch,
            leader: l.leader,
        }
    }
}

#[derive(Deserialize)]
struct FaultLine {
    #[serde(rename = "type")]
    _tag: IgnoredAny,
    t: Micros,
    kind: String,
    detail: String,
}

impl From<FaultLine> for Event {
    fn from(l: FaultLine) -> Event {
        Event::Fault {
            t: l.t,
            kind: l.kind,
            detail: l.detail,
        }
    }
}

#[derive(Deserialize)]
struct TxnLine {
    #[serde(rename = "type")]
    _tag: IgnoredAny,
    zxid: Zxid,
    session: SessionId,
    cxid: i32,
    time: i64,
    txn: Txn,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    applied_t: Option<Micros>,
}

impl From<TxnLine> for Event {
    fn from(l: TxnLine) -> Event {
        Event::Txn {
            zxid: l.zxid,
            session: l.session,
            cxid: l.cxid,
            time: l.time,
            txn: l.txn,
            applied_t: l.applied_t,
        }
    }
}

#[derive(Deserialize)]
struct ReplicaLine {
    #[serde(rename = "type")]
    _tag: IgnoredAny,
    server: u64,
    segments: Vec<Segment>,
}

impl From<ReplicaLine> for Event {
    fn from(l: ReplicaLine) -> Event {
        Event::Replica {
            server: l.server,
            segments: l.segments,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn general(raw: &str) -> Result<Event, String> {
        serde_json::from_str::<Event>(raw).map_err(|e| e.to_string())
    }

    // The tag is found only where the writer puts it, and without escapes.
    #[test]
    fn the_tag_is_read_only_from_the_writers_prefix() {
        assert_eq!(tag_of(r#"{"type":"invoke","t":1}"#), Some("invoke"));
        assert_eq!(tag_of(r#"{"t":1,"type":"invoke"}"#), None);
        assert_eq!(tag_of(r#" {"type":"invoke"}"#), None);
        assert_eq!(tag_of(r#"{"type": "invoke"}"#), None);
        assert_eq!(tag_of(r#"{"type":"inv\u006fke"}"#), None);
        assert_eq!(tag_of(r#"{"type":"invoke"#), None);
    }

    // Lines the fast path reads give the general path's event; lines it does not, the
    // general path's answer, error included.
    #[test]
    fn both_paths_agree_line_by_line() {
        let lines = [
            r#"{"type":"ping","t":5,"client":1,"session":7}"#,
            r#"{"type":"ping","t":5,"client":1,"session":7,"sent_t":3}"#,
            r#"{"type":"ping","session":7,"client":1,"t":5}"#,
            r#"{"type":"ping","t":5,"client":1,"session":7,"extra":[1,{"a":null}]}"#,
            r#"{"type":"ping","t":5,"client":1,"session":7,"type":"ping"}"#,
            r#"{"type":"ping","t":5,"client":1}"#,
            r#"{"type":"ping","t":-5,"client":1,"session":7}"#,
            r#"{"type":"ping","t":5,"client":1,"session":7} x"#,
            r#"{"type":"pong","t":5,"client":1,"session":7}"#,
            r#"{"type":"close","t":5,"client":1,"session":null,"xid":3}"#,
            r#"{"type":"phase","t":5,"phase":"liveness"}"#,
            r#"{"type":"txn","zxid":4294967297,"session":9,"cxid":1,"time":3,"txn":{"kind":"error","err":"NONODE"},"applied_t":40}"#,
            r#"{"type":"txn","zxid":4294967297,"session":9,"cxid":1,"time":3,"txn":{"kind":"error","err":"NONODE"}}"#,
            r#"{"type":"session","t":1,"client":0,"session":9,"event":{"kind":"expired"}}"#,
            r#"{"type":"session","t":1,"client":0,"session":9,"event":{"server":2,"timeout_ms":5,"kind":"connected"}}"#,
        ];
        for raw in lines {
            let fast = parse_line(raw).map_err(|e| e.to_string());
            assert_eq!(fast, general(raw), "{raw}");
        }
    }
}
