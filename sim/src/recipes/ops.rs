//! Small helpers the recipes share: request builders (data given as text, the open ACL),
//! and reading replies.

use zksim_core::acl::Acl;
use zksim_core::client::Outcome;
use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, OpResult, Reply, Request, Response};
use zksim_core::stat::{Stat, Zxid};

/// `create(path, data, OPEN_ACL_UNSAFE, mode)`; a sequential mode appends the sequence
/// number to `path`.
pub fn create(path: &str, data: &str, mode: CreateMode) -> Request {
    Request::Create {
        path: path.to_string(),
        data: Some(data.as_bytes().to_vec()),
        acl: Acl::open_unsafe(),
        mode,
        ttl: None,
    }
}

/// `delete(path, version)`; version -1 matches any.
pub fn delete(path: &str, version: i32) -> Request {
    Request::Delete {
        path: path.to_string(),
        version,
    }
}

/// `getData(path, watch)`.
pub fn get_data(path: &str, watch: bool) -> Request {
    Request::GetData {
        path: path.to_string(),
        watch,
    }
}

/// `setData(path, data, version)`; version -1 matches any.
pub fn set_data(path: &str, data: &str, version: i32) -> Request {
    Request::SetData {
        path: path.to_string(),
        data: Some(data.as_bytes().to_vec()),
        version,
    }
}

/// `exists(path, watch)`: the watch is set whether or not the node exists.
pub fn exists(path: &str, watch: bool) -> Request {
    Request::Exists {
        path: path.to_string(),
        watch,
    }
}

/// `getChildren(path, watch)`.
pub fn get_children(path: &str, watch: bool) -> Request {
    Request::GetChildren {
        path: path.to_string(),
        watch,
    }
}

/// `sync(path)`: the server catches up with the leader before later reads.
pub fn sync(path: &str) -> Request {
    Request::Sync {
        path: path.to_string(),
    }
}

/// `check(path, version)`, an op of a multi: the multi fails unless the node exists (and
/// has the version, unless it is -1).
pub fn check(path: &str, version: i32) -> Request {
    Request::Check {
        path: path.to_string(),
        version,
    }
}

/// `multi(ops)`: the ops commit together or not at all (a failed multi's first error is
/// its [`Got::Err`]).
pub fn multi(ops: Vec<Request>) -> Request {
    Request::Multi(ops)
}

/// How a request ended, as the recipes branch on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got<'a> {
    /// The server answered OK.
    Ok(&'a Reply),
    /// The server answered with an error code (the request had no effect, except that a
    /// failed write still took a zxid).
    Err(ErrorCode, Zxid),
    /// No answer: the request may or may not have taken effect.
    Unknown,
}

/// How a request ended: [`Got::Ok`], [`Got::Err`] or [`Got::Unknown`].
pub fn got(outcome: &Outcome) -> Got<'_> {
    match outcome {
        Outcome::Reply(r) if r.err == ErrorCode::Ok => match &r.response {
            // A multi's header is OK even when an op failed; its first error decides.
            Response::Multi(results) => match results.iter().find(|o| o.err() != ErrorCode::Ok) {
                Some(failed) => Got::Err(failed.err(), r.zxid),
                None => Got::Ok(r),
            },
            _ => Got::Ok(r),
        },
        Outcome::Reply(r) => Got::Err(r.err, r.zxid),
        _ => Got::Unknown,
    }
}

/// A getData reply's data (as text) and stat.
pub fn data_of(reply: &Reply) -> (String, Stat) {
    match &reply.response {
        Response::GetData { data, stat } => (super::text(data), *stat),
        other => panic!("a getData reply carries data, not {other:?}"),
    }
}

/// A getChildren reply's children.
pub fn children_of(reply: &Reply) -> &[String] {
    match &reply.response {
        Response::GetChildren { children, .. } => children,
        other => panic!("a getChildren reply lists children, not {other:?}"),
    }
}

/// A create reply's path.
pub fn created_path(reply: &Reply) -> &str {
    let path = match &reply.response {
        Response::Create { path, .. } => Some(path.as_str()),
        Response::Multi(results) => results.iter().find_map(|r| match r {
            OpResult::Create { path, .. } => Some(path.as_str()),
            _ => None,
        }),
        _ => None,
    };
    path.expect("a create reply names its node")
}

/// The sequence number ZooKeeper appended to a sequential node's name (its last ten
/// digits), if the name has one.
pub fn sequence(name: &str) -> Option<u64> {
    let digits = name.get(name.len().checked_sub(10)?..)?;
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// Names in the order of the sequence numbers ZooKeeper appended to them.
pub fn in_sequence<'a>(names: impl Iterator<Item = &'a String>) -> Vec<&'a String> {
    let mut names: Vec<&String> = names.collect();
    names.sort_by_key(|c| sequence(c));
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_are_the_last_ten_digits() {
        // DataTree/PrepRequestProcessor: the name is the path plus "%010d" of cversion.
        assert_eq!(sequence("c3-1a-0000000012"), Some(12));
        assert_eq!(sequence("item-0000000000"), Some(0));
        assert_eq!(sequence("ready"), None);
        assert_eq!(sequence("x123456789"), None);
    }
}
