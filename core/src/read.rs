//! Serving reads and watch requests from a replica's applied tree (ZooKeeper's
//! `FinalRequestProcessor` for requests that are not txns).

use crate::acl::{self, Id};
use crate::error::ErrorCode;
use crate::request::{OpResult, Request, Response, WatcherType};
use crate::tree::DataTree;
use crate::watch::{WatchEvent, WatcherId};

/// Answer a read (or watch registration) for `watcher`'s session with its `auth`.
/// Events that `setWatches` fires at once are pushed to `events`.
pub fn serve_read(
    tree: &mut DataTree,
    watcher: WatcherId,
    auth: &[Id],
    request: &Request,
    events: &mut Vec<WatchEvent>,
) -> Result<Response, ErrorCode> {
    let watch_by = |watch: bool| watch.then_some(watcher);
    match request {
        Request::Exists { path, watch } => {
            if path.contains('\0') {
                return Err(ErrorCode::BadArguments);
            }
            tree.stat_node(path, watch_by(*watch)).map(Response::Stat)
        }
        Request::GetData { path, watch } => {
            readable(tree, path, auth)?;
            let (data, stat) = tree.get_data(path, watch_by(*watch))?;
            Ok(Response::GetData { data, stat })
        }
        Request::GetChildren { path, watch } => {
            readable(tree, path, auth)?;
            let (children, stat) = tree.get_children(path, watch_by(*watch))?;
            Ok(Response::GetChildren {
                children,
                stat: Some(stat),
            })
        }
        Request::GetAllChildrenNumber { path } => {
            readable(tree, path, auth)?;
            let count = tree.all_children_number(path);
            Ok(Response::Count(
                i32::try_from(count).expect("node count fits in i32"),
            ))
        }
        Request::GetEphemerals { prefix } => Ok(Response::Paths(ephemerals(tree, watcher, prefix))),
        Request::GetAcl { path } => get_acl(tree, path, auth),
        Request::Sync { path } => Ok(Response::Sync { path: path.clone() }),
        Request::MultiRead(ops) => Ok(Response::Multi(
            ops.iter()
                .map(|op| multi_read_op(tree, watcher, auth, op))
                .collect(),
        )),
        Request::AddWatch { path, mode } => {
            tree.add_watch(path, watcher, *mode);
            Ok(Response::Empty)
        }
        Request::RemoveWatches { path, watcher_type } => {
            let (data, child) = match watcher_type {
                WatcherType::Data => (true, false),
                WatcherType::Children => (false, true),
                WatcherType::Any => (true, true),
            };
            if tree.remove_watch(path, watcher, data, child) {
                Ok(Response::Empty)
            } else {
                Err(ErrorCode::NoWatcher)
            }
        }
        Request::SetWatches {
            relative_zxid,
            data,
            exist,
            child,
            persistent,
            persistent_recursive,
        } => {
            tree.set_watches(
                *relative_zxid,
                data,
                exist,
                child,
                persistent,
                persistent_recursive,
                watcher,
                events,
            );
            Ok(Response::Empty)
        }
        other => panic!("serve_read of a write: {other:?}"),
    }
}

/// The node must exist and grant READ to the session.
fn readable(tree: &DataTree, path: &str, auth: &[Id]) -> Result<(), ErrorCode> {
    let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
    acl::check_acl(&node.acl, acl::PERM_READ, auth)
}

/// getACL needs READ or ADMIN; without ADMIN, digest hashes are hidden (ZOOKEEPER-1392).
fn get_acl(tree: &DataTree, path: &str, auth: &[Id]) -> Result<Response, ErrorCode> {
    let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
    acl::check_acl(&node.acl, acl::PERM_READ | acl::PERM_ADMIN, auth)?;
    let stat = node.client_stat();
    let acl = match acl::check_acl(&node.acl, acl::PERM_ADMIN, auth) {
        Ok(()) => node.acl.as_ref().clone(),
        Err(_) => acl::redact_digest(&node.acl),
    };
    Ok(Response::GetAcl { acl, stat })
}

/// getEphemerals: the session's ephemerals whose path starts with `prefix` (all of them
/// for a blank prefix or "/"), in ZooKeeper's iteration order.
fn ephemerals(tree: &DataTree, session: WatcherId, prefix: &str) -> Vec<String> {
    let Some(set) = tree.ephemerals_of(session) else {
        return Vec::new();
    };
    // Java's String.trim() strips every character up to and including ' '.
    let trimmed = prefix.trim_matches(|c: char| c <= ' ');
    let all = trimmed.is_empty() || trimmed == "/";
    set.iter()
        .filter(|p| all || p.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

fn multi_read_op(tree: &mut DataTree, watcher: WatcherId, auth: &[Id], op: &Request) -> OpResult {
    let result = match op {
        Request::GetData { path, watch } => readable(tree, path, auth)
            .and_then(|()| tree.get_data(path, watch.then_some(watcher)))
            .map(|(data, stat)| OpResult::GetData { data, stat }),
        Request::GetChildren { path, watch } => readable(tree, path, auth)
            .and_then(|()| tree.get_children(path, watch.then_some(watcher)))
            .map(|(children, _)| OpResult::GetChildren { children }),
        _ => Err(ErrorCode::BadArguments),
    };
    result.unwrap_or_else(OpResult::Error)
}
