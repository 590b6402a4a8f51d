//! The tree replay format (docs/tree-replay.md): JSON lines of client operations applied to
//! a fresh standalone server, one JSON line of result per operation.
//! `op` parses one line into an operation; `render` runs operations and renders results.

mod op;
mod render;

use serde_json::Value;

use crate::request::Request;

use op::parse_op;
pub use render::{Rendered, Replayer, data_json};

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
