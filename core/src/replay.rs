//! The tree replay format (docs/tree-replay.md): JSON lines of client operations applied to
//! a fresh standalone server, one JSON line of result per operation.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::acl::Acl;
use crate::request::{CreateMode, OpResult, Reply, Request, Response, WatcherType};
use crate::standalone::Standalone;
use crate::stat::{SessionId, Stat};
use crate::watch::{WatchEvent, WatcherMode};

/// A malformed input line: its 1-based number and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ReplayError {
    pub line: usize,
    pub message: String,
}

/// One operation of a replay file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayOp {
    Connect {
        s: i64,
        timeout_ms: i32,
    },
    Close {
        s: i64,
    },
    AddAuth {
        s: i64,
        scheme: String,
        auth: String,
    },
    Request {
        s: i64,
        op: String,
        request: Request,
    },
    Reap {
        after_ms: i64,
    },
}

/// An operation with its line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub line: usize,
    pub op: ReplayOp,
}

/// The largest session handle: its session id, `0x0100_0000_0000 + s`, stays below the
/// next server id's.
pub const MAX_HANDLE: i64 = 0xFF_FFFF_FFFF;

/// How far the replay's clock may run (a century, in ms), so that session deadlines and
/// TTLs computed from it cannot overflow.
pub const MAX_CLOCK_MS: i64 = 100 * 365 * 24 * 3600 * 1000;

/// Parse a whole file. Sessions are checked too: every operation but `connect` and `reap`
/// must name an open session.
pub fn parse(text: &str) -> Result<Vec<Line>, ReplayError> {
    let mut lines = Vec::new();
    let mut open = std::collections::BTreeSet::new();
    // The clock `Replayer::step` will keep: 1 ms per operation, plus each reap's wait.
    let mut clock_ms: i64 = 0;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fail = |message: String| ReplayError { line, message };
        if trimmed.starts_with('\u{feff}') {
            return Err(fail(
                "the line starts with a byte order mark (EF BB BF); save the file as UTF-8 without one"
                    .to_string(),
            ));
        }
        let value: Value =
            serde_json::from_str(trimmed).map_err(|e| fail(format!("invalid JSON: {e}")))?;
        let op = parse_op(&value).map_err(fail)?;
        match &op {
            ReplayOp::Connect { s, .. } => {
                if !open.insert(*s) {
                    return Err(fail(format!("session {s} is already open")));
                }
            }
            ReplayOp::Close { s } => {
                if !open.remove(s) {
                    return Err(fail(format!("session {s} is not open")));
                }
            }
            ReplayOp::AddAuth { s, .. } | ReplayOp::Request { s, .. } => {
                if !open.contains(s) {
                    return Err(fail(format!("session {s} is not open (connect it first)")));
                }
            }
            ReplayOp::Reap { .. } => {}
        }
        let wait_ms = match &op {
            ReplayOp::Reap { after_ms } => *after_ms,
            _ => 0,
        };
        clock_ms = clock_ms.saturating_add(1).saturating_add(wait_ms);
        if clock_ms > MAX_CLOCK_MS {
            return Err(fail(format!(
                "the replay's clock passes {MAX_CLOCK_MS} ms (a century): the reaps' \"after_ms\" add up to too much"
            )));
        }
        lines.push(Line { line, op });
    }
    Ok(lines)
}

/// A JSON object's fields, consumed one by one so that leftovers are reported as unknown.
struct Fields<'a> {
    map: BTreeMap<&'a str, &'a Value>,
}

impl<'a> Fields<'a> {
    fn new(value: &'a Value) -> Result<Fields<'a>, String> {
        let obj = value.as_object().ok_or("expected a JSON object")?;
        Ok(Fields {
            map: obj.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        })
    }

    fn take(&mut self, name: &str) -> Option<&'a Value> {
        self.map.remove(name)
    }

    fn string(&mut self, name: &str) -> Result<String, String> {
        match self.take(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("field {name:?}: expected a string")),
            None => Err(format!("missing field {name:?}")),
        }
    }

    fn string_or(&mut self, name: &str, default: &str) -> Result<String, String> {
        if self.map.contains_key(name) {
            self.string(name)
        } else {
            Ok(default.to_string())
        }
    }

    fn int(&mut self, name: &str) -> Result<Option<i64>, String> {
        match self.take(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("field {name:?}: expected an integer")),
        }
    }

    fn int32_or(&mut self, name: &str, default: i32) -> Result<i32, String> {
        match self.int(name)? {
            None => Ok(default),
            Some(v) => {
                i32::try_from(v).map_err(|_| format!("field {name:?}: {v} does not fit in 32 bits"))
            }
        }
    }

    fn bool_or(&mut self, name: &str, default: bool) -> Result<bool, String> {
        match self.take(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("field {name:?}: expected true or false")),
        }
    }

    fn data(&mut self, name: &str, required: bool) -> Result<Option<Vec<u8>>, String> {
        match self.take(name) {
            None if required => Err(format!("missing field {name:?}")),
            None => Ok(Some(Vec::new())),
            Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_bytes().to_vec())),
            Some(_) => Err(format!("field {name:?}: expected a string or null")),
        }
    }

    fn acl(&mut self, name: &str, required: bool) -> Result<Vec<Acl>, String> {
        let Some(value) = self.take(name) else {
            return if required {
                Err(format!("missing field {name:?}"))
            } else {
                Ok(Acl::open_unsafe())
            };
        };
        let list = value
            .as_array()
            .ok_or_else(|| format!("field {name:?}: expected a list of ACL entries"))?;
        list.iter()
            .enumerate()
            .map(|(i, entry)| {
                let ctx = |m: String| format!("field {name:?} entry {i}: {m}");
                let mut f = Fields::new(entry).map_err(|m| ctx(m.to_string()))?;
                let perms = f
                    .int("perms")
                    .map_err(ctx)?
                    .ok_or_else(|| ctx("missing field \"perms\"".into()))?;
                let perms = i32::try_from(perms)
                    .map_err(|_| ctx(format!("perms {perms} does not fit in 32 bits")))?;
                let acl = Acl {
                    perms,
                    scheme: f.string("scheme").map_err(ctx)?,
                    id: f.string("id").map_err(ctx)?,
                };
                f.finish().map_err(ctx)?;
                Ok(acl)
            })
            .collect()
    }

    fn finish(self) -> Result<(), String> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(format!("unknown field {k:?}")),
        }
    }
}

fn parse_op(value: &Value) -> Result<ReplayOp, String> {
    let mut f = Fields::new(value)?;
    let op = f.string("op")?;
    if op == "reap" {
        let after_ms = f.int("after_ms")?.unwrap_or(10_000);
        if after_ms < 0 {
            return Err(format!("field \"after_ms\": {after_ms} is negative"));
        }
        f.finish()?;
        return Ok(ReplayOp::Reap { after_ms });
    }
    let s = f.int("s")?.ok_or("missing field \"s\" (the session)")?;
    if s < 1 {
        return Err(format!("field \"s\": session handles start at 1, got {s}"));
    }
    // Handle `s` becomes session id `0x0100_0000_0000 + s` (`Replayer::session_id`): a
    // larger handle would reach into the server id's byte, or past i64.
    if s > MAX_HANDLE {
        return Err(format!(
            "field \"s\": session handles are at most {MAX_HANDLE}, got {s}"
        ));
    }
    let parsed = match op.as_str() {
        "connect" => ReplayOp::Connect {
            s,
            timeout_ms: f.int32_or("timeout_ms", 30_000)?,
        },
        "close" => ReplayOp::Close { s },
        "add_auth" => ReplayOp::AddAuth {
            s,
            scheme: f.string("scheme")?,
            auth: f.string("auth")?,
        },
        _ => ReplayOp::Request {
            s,
            request: parse_request(&op, &mut f, false)?,
            op,
        },
    };
    f.finish()?;
    Ok(parsed)
}

/// A request's fields; inside a multi (`sub`) there is no `watch`.
fn parse_request(op: &str, f: &mut Fields<'_>, sub: bool) -> Result<Request, String> {
    let watch = |f: &mut Fields<'_>| {
        if sub {
            Ok(false)
        } else {
            f.bool_or("watch", false)
        }
    };
    Ok(match op {
        "create" => {
            let path = f.string("path")?;
            let data = f.data("data", false)?;
            let acl = f.acl("acl", false)?;
            let mode_name = f.string_or("mode", "persistent")?;
            let mode = CreateMode::from_name(&mode_name)
                .ok_or_else(|| format!("field \"mode\": unknown create mode {mode_name:?}"))?;
            Request::Create {
                path,
                data,
                acl,
                mode,
                ttl: f.int("ttl")?,
            }
        }
        "delete" => Request::Delete {
            path: f.string("path")?,
            version: f.int32_or("version", -1)?,
        },
        "exists" => Request::Exists {
            path: f.string("path")?,
            watch: watch(f)?,
        },
        "get_data" => Request::GetData {
            path: f.string("path")?,
            watch: watch(f)?,
        },
        "set_data" => Request::SetData {
            path: f.string("path")?,
            data: f.data("data", true)?,
            version: f.int32_or("version", -1)?,
        },
        "get_children" => Request::GetChildren {
            path: f.string("path")?,
            watch: watch(f)?,
        },
        "get_all_children_number" => Request::GetAllChildrenNumber {
            path: f.string("path")?,
        },
        "get_ephemerals" => Request::GetEphemerals {
            prefix: f.string_or("path", "/")?,
        },
        "get_acl" => Request::GetAcl {
            path: f.string("path")?,
        },
        "set_acl" => Request::SetAcl {
            path: f.string("path")?,
            acl: f.acl("acl", true)?,
            version: f.int32_or("version", -1)?,
        },
        "sync" => Request::Sync {
            path: f.string("path")?,
        },
        "check" if sub => Request::Check {
            path: f.string("path")?,
            version: f.int32_or("version", -1)?,
        },
        "multi" if !sub => {
            Request::Multi(parse_subops(f, &["create", "delete", "set_data", "check"])?)
        }
        "multi_read" if !sub => Request::MultiRead(parse_subops(f, &["get_data", "get_children"])?),
        "add_watch" => {
            let mode = match f.string_or("mode", "persistent")?.as_str() {
                "persistent" => WatcherMode::Persistent,
                "persistent_recursive" => WatcherMode::PersistentRecursive,
                other => {
                    return Err(format!(
                        "field \"mode\": expected persistent or persistent_recursive, got {other:?}"
                    ));
                }
            };
            Request::AddWatch {
                path: f.string("path")?,
                mode,
            }
        }
        "remove_watches" => {
            let watcher_type = match f.string_or("type", "any")?.as_str() {
                "any" => WatcherType::Any,
                "data" => WatcherType::Data,
                "children" => WatcherType::Children,
                other => {
                    return Err(format!(
                        "field \"type\": expected any, data or children, got {other:?}"
                    ));
                }
            };
            Request::RemoveWatches {
                path: f.string("path")?,
                watcher_type,
            }
        }
        other => return Err(format!("unknown operation {other:?}")),
    })
}

fn parse_subops(f: &mut Fields<'_>, allowed: &[&str]) -> Result<Vec<Request>, String> {
    let ops = f.take("ops").ok_or("missing field \"ops\"")?;
    let list = ops.as_array().ok_or("field \"ops\": expected a list")?;
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            let ctx = |m: String| format!("ops[{i}]: {m}");
            let mut sub = Fields::new(v).map_err(|m| ctx(m.to_string()))?;
            let op = sub.string("op").map_err(ctx)?;
            if !allowed.contains(&op.as_str()) {
                return Err(ctx(format!(
                    "operation {op:?} is not allowed here (allowed: {})",
                    allowed.join(", ")
                )));
            }
            let request = parse_request(&op, &mut sub, true).map_err(ctx)?;
            sub.finish().map_err(ctx)?;
            Ok(request)
        })
        .collect()
}

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

/// Replay a whole file's text: every result line, or the first input error.
pub fn replay_text(text: &str) -> Result<Vec<Rendered>, ReplayError> {
    let mut results = Vec::new();
    replay_each(text, |r| {
        results.push(r);
        true
    })?;
    Ok(results)
}

/// Replay a whole file's text, handing each result to `sink` as it is made (a read's
/// result can be far larger than its line: a getData of a 1 MB node, repeated, would
/// otherwise pile up), until `sink` says stop. Every line is parsed first: input with an
/// error anywhere is refused before any result.
pub fn replay_each(text: &str, mut sink: impl FnMut(Rendered) -> bool) -> Result<(), ReplayError> {
    let lines = parse(text)?;
    let mut replayer = Replayer::new();
    for (i, l) in lines.iter().enumerate() {
        if !sink(replayer.step(i, &l.op)) {
            break;
        }
    }
    Ok(())
}
