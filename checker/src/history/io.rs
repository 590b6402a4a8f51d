//! Reading and writing histories as JSON lines, with errors that name the line.

use std::convert::Infallible;
use std::io::Read;

use super::Event;
use super::blocks::{self, BLOCK_BYTES};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("the history is empty: expected a header line")]
    Empty,
}

/// Parse a whole history. The first non-blank line must be a header of this format and
/// version; blank lines are skipped. A long text is read on every core (`blocks`).
pub fn parse(text: &str) -> Result<Vec<Event>, HistoryError> {
    match blocks::parse_blocks(blocks::split(text, BLOCK_BYTES).map(Ok::<_, Infallible>)) {
        Ok(result) => result,
        Err(never) => match never {},
    }
}

/// Why a history could not be read from a file or stream.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading failed, or the text is not UTF-8 (`std::io::read_to_string`'s error).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The text is not a history: as [`parse`] says.
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// Read a history from a file or stream, as [`parse`] reads its text, one block at a time:
/// the whole text is never held, only the events. A read error, or text that is not UTF-8,
/// is the answer even when a line before it is not an event, as when the text is read
/// whole first.
pub fn read(source: impl Read) -> Result<Vec<Event>, ReadError> {
    let text = TextBlocks {
        source,
        carry: Vec::new(),
        done: false,
    };
    Ok(blocks::parse_blocks(text)??)
}

/// A stream's text in blocks of about `BLOCK_BYTES` that end at a line's end.
struct TextBlocks<R> {
    source: R,
    /// The start of a line the last block did not finish.
    carry: Vec<u8>,
    done: bool,
}

impl<R: Read> Iterator for TextBlocks<R> {
    type Item = std::io::Result<String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut buf = std::mem::take(&mut self.carry);
        loop {
            buf.reserve(BLOCK_BYTES);
            let limit = u64::try_from(BLOCK_BYTES).expect("a block size fits in u64");
            match (&mut self.source).take(limit).read_to_end(&mut buf) {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(0) => {
                    self.done = true;
                    return (!buf.is_empty()).then(|| utf8(buf));
                }
                Ok(_) => {}
            }
            // A line longer than a block makes the block longer.
            if let Some(end) = buf.iter().rposition(|&b| b == b'\n') {
                self.carry = buf.split_off(end + 1);
                return Some(utf8(buf));
            }
        }
    }
}

/// A block's text. Blocks end at a newline, which no UTF-8 sequence contains, so the text
/// is UTF-8 exactly when every block is.
fn utf8(bytes: Vec<u8>) -> std::io::Result<String> {
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// Render events as JSON lines.
pub fn to_jsonl(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        out.push_str(&serde_json::to_string(e).expect("events always serialize"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Outcome, SessionEvent};
    use zksim_core::error::ErrorCode;
    use zksim_core::request::{Reply, Request, Response};

    #[test]
    fn histories_round_trip_and_bad_lines_are_named() {
        let events = vec![
            Event::header(
                Some(7),
                Some("default".into()),
                vec![1, 2, 3],
                vec![],
                None,
                vec![],
            ),
            Event::Session {
                t: 5,
                client: 0,
                session: 9,
                event: SessionEvent::Connected {
                    server: 2,
                    timeout_ms: 4000,
                },
            },
            Event::Invoke {
                t: 10,
                client: 0,
                session: Some(9),
                xid: 1,
                op: Request::Exists {
                    path: "/a".into(),
                    watch: false,
                },
            },
            Event::Complete {
                t: 20,
                client: 0,
                xid: 1,
                outcome: Outcome::Reply(Reply {
                    err: ErrorCode::NoNode,
                    zxid: 4,
                    response: Response::Empty,
                    message: None,
                }),
            },
        ];
        let text = to_jsonl(&events);
        assert_eq!(parse(&text), Ok(events));
        let broken = text.replacen("\"client\":0", "\"client\":\"zero\"", 1);
        assert!(matches!(
            parse(&broken),
            Err(HistoryError::Line { line: 2, .. })
        ));
        assert_eq!(parse("\n\n"), Err(HistoryError::Empty));
        let no_header = text.lines().skip(1).collect::<Vec<_>>().join("\n");
        assert!(matches!(
            parse(&no_header),
            Err(HistoryError::Line { line: 1, .. })
        ));
    }
}
