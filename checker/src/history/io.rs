//! Reading and writing histories as JSON lines, with errors that name the line.

use super::{Event, FORMAT, VERSION, VERSION_MIN};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("the history is empty: expected a header line")]
    Empty,
}

/// Parse a whole history. The first non-blank line must be a header of this format and
/// version; blank lines are skipped.
pub fn parse(text: &str) -> Result<Vec<Event>, HistoryError> {
    let mut events = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(raw).map_err(|e| HistoryError::Line {
            line,
            message: format!("not a history event: {e}"),
        })?;
        if events.is_empty() {
            match &event {
                Event::Header {
                    format, version, ..
                } if format == FORMAT && (VERSION_MIN..=VERSION).contains(version) => {}
                Event::Header {
                    format, version, ..
                } => {
                    return Err(HistoryError::Line {
                        line,
                        message: format!(
                            "format {format:?} version {version}; this build reads {FORMAT:?} versions {VERSION_MIN} to {VERSION}"
                        ),
                    });
                }
                _ => {
                    return Err(HistoryError::Line {
                        line,
                        message: "the first event must be the header".to_string(),
                    });
                }
            }
        } else if matches!(event, Event::Header { .. }) {
            return Err(HistoryError::Line {
                line,
                message: "a second header".to_string(),
            });
        }
        events.push(event);
    }
    if events.is_empty() {
        return Err(HistoryError::Empty);
    }
    Ok(events)
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
