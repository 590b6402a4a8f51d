//! One line of a replay file: a JSON object's fields parsed into a `ReplayOp`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{MAX_HANDLE, ReplayOp};
use crate::acl::Acl;
use crate::request::{CreateMode, Request, WatcherType};
use crate::watch::WatcherMode;

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

pub(super) fn parse_op(value: &Value) -> Result<ReplayOp, String> {
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
