//! The `Replayer`: runs parsed operations on a fresh standalone server and renders one
//! JSON line of result per operation.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::ReplayOp;
use crate::acl::Acl;
use crate::request::{OpResult, Reply, Request, Response};
use crate::standalone::Standalone;
use crate::stat::{SessionId, Stat};
use crate::watch::WatchEvent;

/// Runs a parsed file on a fresh standalone server and renders results.
pub struct Replayer {
    server: Standalone,
    /// The session id given to each handle, and back.
    ids: BTreeMap<i64, SessionId>,
    handles: BTreeMap<SessionId, i64>,
    now_ms: i64,
}

impl Default for Replayer {
    fn default() -> Self {
        Replayer::new()
    }
}

/// One rendered result, and for bad arguments zksim's explanation (not part of the line).
pub struct Rendered {
    pub json: Value,
    pub message: Option<String>,
}

impl Replayer {
    pub fn new() -> Replayer {
        Replayer {
            server: Standalone::default(),
            ids: BTreeMap::new(),
            handles: BTreeMap::new(),
            now_ms: 0,
        }
    }

    pub fn server(&self) -> &Standalone {
        &self.server
    }

    /// Session ids look like a standalone ZooKeeper's: server id 0 in the high byte and a
    /// counter below; handle `s` gets id `0x0100_0000_0000 + s`.
    fn session_id(&mut self, s: i64) -> SessionId {
        let id = 0x0100_0000_0000 + s;
        self.ids.insert(s, id);
        self.handles.insert(id, s);
        id
    }

    /// Apply one operation and render its result line.
    pub fn step(&mut self, index: usize, op: &ReplayOp) -> Rendered {
        self.now_ms += 1;
        let mut events = Vec::new();
        let mut out = Map::new();
        out.insert("i".into(), json!(index));
        let mut message = None;
        match op {
            ReplayOp::Connect { s, timeout_ms } => {
                let id = self.session_id(*s);
                let negotiated = self.server.connect(self.now_ms, id, *timeout_ms);
                head(&mut out, Some(*s), "connect", "OK");
                out.insert("timeout_ms".into(), json!(negotiated));
            }
            ReplayOp::Close { s } => {
                let reply = self.server.close(self.now_ms, self.ids[s], &mut events);
                // A closing session's ephemerals go in hash-set order; the file lists each
                // session's events by path, then type.
                events.sort_by(|a, b| {
                    (a.watcher, &a.path, a.event_type).cmp(&(b.watcher, &b.path, b.event_type))
                });
                head(&mut out, Some(*s), "close", reply.err.name());
                out.insert("zxid".into(), json!(reply.zxid));
            }
            ReplayOp::AddAuth { s, scheme, auth } => {
                let reply = self.server.add_auth(self.ids[s], scheme, auth.as_bytes());
                head(&mut out, Some(*s), "add_auth", reply.err.name());
                out.insert("zxid".into(), json!(reply.zxid));
            }
            ReplayOp::Request { s, op, request } => {
                let reply = self
                    .server
                    .request(self.now_ms, self.ids[s], request, &mut events);
                head(&mut out, Some(*s), op, reply.err.name());
                out.insert("zxid".into(), json!(reply.zxid));
                self.render_reply(&mut out, &reply, request);
                message = reply.message;
            }
            ReplayOp::Reap { after_ms } => {
                self.now_ms += after_ms;
                self.server.reap(self.now_ms, &mut events);
                head(&mut out, None, "reap", "OK");
            }
        }
        out.insert("events".into(), self.render_events(&events));
        Rendered {
            json: Value::Object(out),
            message,
        }
    }

    fn render_reply(&self, out: &mut Map<String, Value>, reply: &Reply, request: &Request) {
        match &reply.response {
            Response::Empty => {}
            Response::Create { path, stat } => {
                out.insert("path".into(), json!(path));
                out.insert("stat".into(), self.stat(stat));
            }
            Response::Stat(stat) => {
                out.insert("stat".into(), self.stat(stat));
            }
            Response::GetData { data, stat } => {
                out.insert("stat".into(), self.stat(stat));
                out.insert("data".into(), data_json(data));
            }
            Response::GetChildren { children, stat } => {
                if let Some(stat) = stat {
                    out.insert("stat".into(), self.stat(stat));
                }
                out.insert("children".into(), json!(sorted(children)));
            }
            Response::Count(n) => {
                out.insert("count".into(), json!(n));
            }
            Response::Paths(paths) => {
                out.insert("paths".into(), json!(sorted(paths)));
            }
            Response::GetAcl { acl, stat } => {
                out.insert("stat".into(), self.stat(stat));
                out.insert("acl".into(), acl_json(acl));
            }
            Response::Sync { path } => {
                out.insert("path".into(), json!(path));
            }
            Response::Multi(results) => {
                let subs: &[Request] = match request {
                    Request::Multi(ops) | Request::MultiRead(ops) => ops,
                    _ => &[],
                };
                let rendered = results
                    .iter()
                    .enumerate()
                    .map(|(i, r)| self.op_result(subs.get(i).map_or("error", op_name), r));
                out.insert("results".into(), Value::Array(rendered.collect()));
            }
        }
    }

    /// One sub-result, named after the sub-operation it answers.
    fn op_result(&self, op: &str, result: &OpResult) -> Value {
        let mut m = Map::new();
        m.insert("op".into(), json!(op));
        m.insert("err".into(), json!(result.err().name()));
        match result {
            OpResult::Create { path, stat } => {
                m.insert("path".into(), json!(path));
                if let Some(stat) = stat {
                    m.insert("stat".into(), self.stat(stat));
                }
            }
            OpResult::SetData { stat } => {
                m.insert("stat".into(), self.stat(stat));
            }
            OpResult::GetData { data, stat } => {
                m.insert("stat".into(), self.stat(stat));
                m.insert("data".into(), data_json(data));
            }
            OpResult::GetChildren { children } => {
                m.insert("children".into(), json!(sorted(children)));
            }
            _ => {}
        }
        Value::Object(m)
    }

    fn stat(&self, stat: &Stat) -> Value {
        let owner = self
            .handles
            .get(&stat.ephemeral_owner)
            .copied()
            .unwrap_or(stat.ephemeral_owner);
        json!({
            "czxid": stat.czxid,
            "mzxid": stat.mzxid,
            "pzxid": stat.pzxid,
            "version": stat.version,
            "cversion": stat.cversion,
            "aversion": stat.aversion,
            "ephemeralOwner": owner,
            "dataLength": stat.data_length,
            "numChildren": stat.num_children,
        })
    }

    /// Events grouped by session handle, in delivery order within each session.
    fn render_events(&self, events: &[WatchEvent]) -> Value {
        let mut by_session: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
        for e in events {
            let s = self.handles.get(&e.watcher).copied().unwrap_or(e.watcher);
            by_session.entry(s).or_default().push(json!({
                "s": s,
                "type": e.event_type.name(),
                "state": "SyncConnected",
                "path": e.path,
            }));
        }
        Value::Array(by_session.into_values().flatten().collect())
    }
}

/// The file's name for a request.
fn op_name(request: &Request) -> &'static str {
    match request {
        Request::Create { .. } => "create",
        Request::Delete { .. } => "delete",
        Request::Exists { .. } => "exists",
        Request::GetData { .. } => "get_data",
        Request::SetData { .. } => "set_data",
        Request::GetChildren { .. } => "get_children",
        Request::GetAllChildrenNumber { .. } => "get_all_children_number",
        Request::GetEphemerals { .. } => "get_ephemerals",
        Request::GetAcl { .. } => "get_acl",
        Request::SetAcl { .. } => "set_acl",
        Request::Sync { .. } => "sync",
        Request::Check { .. } => "check",
        Request::Multi(_) => "multi",
        Request::MultiRead(_) => "multi_read",
        Request::AddWatch { .. } => "add_watch",
        Request::RemoveWatches { .. } => "remove_watches",
        Request::SetWatches { .. } => "set_watches",
    }
}

fn head(out: &mut Map<String, Value>, s: Option<i64>, op: &str, err: &str) {
    if let Some(s) = s {
        out.insert("s".into(), json!(s));
    }
    out.insert("op".into(), json!(op));
    out.insert("err".into(), json!(err));
}

fn sorted(items: &[String]) -> Vec<&String> {
    let mut v: Vec<&String> = items.iter().collect();
    v.sort();
    v
}

/// Data as a string when it is UTF-8, `{"b64": ...}` otherwise, `null` for a null buffer.
pub fn data_json(data: &Option<Vec<u8>>) -> Value {
    match data {
        None => Value::Null,
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(s) => json!(s),
            Err(_) => json!({ "b64": base64::engine::general_purpose::STANDARD.encode(bytes) }),
        },
    }
}

fn acl_json(acl: &[Acl]) -> Value {
    Value::Array(
        acl.iter()
            .map(|a| json!({ "perms": a.perms, "scheme": a.scheme, "id": a.id }))
            .collect(),
    )
}
