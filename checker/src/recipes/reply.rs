//! How a recipe's request ended, as the recipes branch on it, and the few parts of replies
//! and names they read.

use zksim_core::error::ErrorCode;
use zksim_core::request::{OpResult, Reply, Response};
use zksim_core::stat::{Stat, Zxid};

use crate::index::{End, Op};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Got<'h> {
    /// The server answered OK.
    Ok(&'h Reply),
    /// The server answered with an error code (the request had no effect, except that a
    /// failed write still took a zxid).
    Err(ErrorCode, Zxid),
    /// No answer: the request may or may not have taken effect.
    Unknown,
}

pub fn got<'h>(op: &Op<'h>) -> Got<'h> {
    let End::Reply { reply, .. } = op.end else {
        return Got::Unknown;
    };
    if reply.err != ErrorCode::Ok {
        return Got::Err(reply.err, reply.zxid);
    }
    match &reply.response {
        // A multi's header is OK even when an op failed; its first error decides.
        Response::Multi(results) => match results.iter().find(|o| o.err() != ErrorCode::Ok) {
            Some(failed) => Got::Err(failed.err(), reply.zxid),
            None => Got::Ok(reply),
        },
        _ => Got::Ok(reply),
    }
}

/// A znode's data as text (recipes store small decimal or tagged values).
pub fn text(data: &Option<Vec<u8>>) -> String {
    data.as_deref()
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .unwrap_or_default()
}

/// A getData reply's data (as text) and stat.
pub fn data_of(reply: &Reply) -> Option<(String, Stat)> {
    match &reply.response {
        Response::GetData { data, stat } => Some((text(data), *stat)),
        _ => None,
    }
}

/// A getChildren reply's children.
pub fn children_of(reply: &Reply) -> Option<&[String]> {
    match &reply.response {
        Response::GetChildren { children, .. } => Some(children),
        _ => None,
    }
}

/// A create reply's path (a multi's first create's).
pub fn created_path(reply: &Reply) -> Option<&str> {
    match &reply.response {
        Response::Create { path, .. } => Some(path),
        Response::Multi(results) => results.iter().find_map(|r| match r {
            OpResult::Create { path, .. } => Some(path.as_str()),
            _ => None,
        }),
        _ => None,
    }
}

/// The sequence number ZooKeeper appended to a sequential node's name (its last ten
/// digits; DataTree/PrepRequestProcessor use "%010d" of the parent's cversion), if the name
/// has one.
pub fn sequence(name: &str) -> Option<u64> {
    let digits = name.get(name.len().checked_sub(10)?..)?;
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// A zxid as the recipes' sentences print it.
pub fn z(zxid: Zxid) -> String {
    format!("{zxid:#x}")
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
