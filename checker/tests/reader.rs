//! The history reader (`history::parse` and `history::read`) gives exactly what serde's
//! general path gives line after line: the same events, and for a bad line the same error
//! on the same line. Histories large enough to be read in many blocks on every core, and
//! lines edited by hand (keys in another order, whitespace, fields the format does not
//! have, broken lines).

use std::io::{Cursor, Read};

use zksim_checker::generator::{GenConfig, generate};
use zksim_checker::history::{
    Event, HistoryError, ReadError, describe_bad_line, parse, read, to_jsonl,
};

/// Every line on serde's general path (`Event`'s derived, internally tagged reading).
fn general(text: &str) -> Vec<Event> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn read_bytes(bytes: &[u8]) -> Result<Vec<Event>, ReadError> {
    read(Cursor::new(bytes.to_vec()))
}

/// A history with `ops` operations as JSON lines.
fn history(seed: u64, ops: usize) -> String {
    to_jsonl(&generate(seed, &GenConfig::new(ops)))
}

// Generated histories of several megabytes (many blocks) read back as the events written,
// from text and from a stream alike.
#[test]
fn generated_histories_read_back_exactly() {
    for (seed, ops) in [(1, 12_000), (2, 3_000), (9, 40)] {
        let events = generate(seed, &GenConfig::new(ops));
        let text = to_jsonl(&events);
        assert_eq!(general(&text), events, "seed {seed}");
        assert_eq!(parse(&text).expect("parses"), events, "seed {seed}");
        let streamed = read_bytes(text.as_bytes()).expect("reads");
        assert_eq!(streamed, events, "seed {seed}");
    }
}

/// Rewrite a JSON object line with its keys in reverse order and spaces around them.
fn reordered(line: &str) -> String {
    let value: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(line).expect("an object");
    let mut parts: Vec<String> = value
        .iter()
        .map(|(k, v)| format!(" {} : {v} ", serde_json::Value::from(k.as_str())))
        .collect();
    parts.reverse();
    format!(" {{{}}}\t", parts.join(","))
}

// Lines edited by hand read as serde's general path reads them: keys in any order, with
// whitespace, and with fields the format does not have (ignored, as serde does).
#[test]
fn hand_edited_lines_read_as_the_general_path_does() {
    let text = history(3, 400);
    let mut edited = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = match i % 4 {
            1 => reordered(line),
            2 if line.ends_with('}') => {
                format!(
                    "{},\"note\":{{\"by\":[1,\"x\",null]}}}}",
                    &line[..line.len() - 1]
                )
            }
            3 => format!("  {line}  "),
            _ => line.to_string(),
        };
        edited.push_str(&line);
        edited.push('\n');
    }
    let expected = general(&edited);
    assert_eq!(expected, general(&text), "the edits change no event");
    assert_eq!(parse(&edited).expect("parses"), expected);
    assert_eq!(read_bytes(edited.as_bytes()).expect("reads"), expected);
}

/// The text with line `n` (1-based) replaced by `with`.
fn with_line(text: &str, n: usize, with: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines[n - 1] = with;
    lines.join("\n") + "\n"
}

// A bad line is named by its number, with serde's general path's words, wherever it falls
// in a long history; the first of two bad lines is the one named.
#[test]
fn bad_lines_are_named_as_before() {
    let text = history(5, 12_000);
    let n = text.lines().count();
    let line = |k: usize| text.lines().nth(k - 1).expect("a line").to_string();
    let cases = [
        (2, line(2).replacen("\"t\":", "\"t\":\"zero\",\"x\":", 1)),
        (
            n / 3,
            line(n / 3).replacen("\"type\":\"", "\"type\":\"not-", 1),
        ),
        (
            n / 2,
            format!("{},\"type\":\"ping\"}}", line(n / 2).trim_end_matches('}')),
        ),
        (n - 1, line(n - 1)[..20].to_string()),
        (n, "[]".to_string()),
    ];
    for (at, bad) in cases {
        let broken = with_line(&text, at, &bad);
        let expected = serde_json::from_str::<Event>(&bad).expect_err("a bad line");
        let message = describe_bad_line(&bad, &expected);
        let want = HistoryError::Line { line: at, message };
        assert_eq!(parse(&broken), Err(want.clone()), "line {at}: {bad:.120}");
        match read_bytes(broken.as_bytes()) {
            Err(ReadError::History(e)) => assert_eq!(e, want),
            other => panic!("line {at}: {other:?}"),
        }
        let other = if at < n / 2 { n - 2 } else { 3 };
        let twice = with_line(&broken, other, "{");
        let first = at.min(other);
        assert!(matches!(parse(&twice), Err(HistoryError::Line { line, .. }) if line == first));
    }
    let header = line(1);
    let second = with_line(&text, n / 2, &header);
    let want = HistoryError::Line {
        line: n / 2,
        message: "a second header".to_string(),
    };
    assert_eq!(parse(&second), Err(want));
}

// From a stream, text that is not UTF-8 is refused as reading it whole refuses it, even
// after a bad line; so is a stream that fails part way.
#[test]
fn stream_errors_come_first() {
    let text = history(6, 6_000);
    let mut bytes = with_line(&text, 3, "{").into_bytes();
    let end = bytes.len() - 10;
    bytes[end] = 0xff;
    let whole = std::io::read_to_string(Cursor::new(bytes.clone())).expect_err("not UTF-8");
    match read_bytes(&bytes) {
        Err(ReadError::Io(e)) => {
            assert_eq!(e.kind(), whole.kind());
            assert_eq!(e.to_string(), whole.to_string());
        }
        other => panic!("{other:?}"),
    }

    /// Gives `left` bytes of the text, then fails.
    struct Failing<'a> {
        text: &'a [u8],
        left: usize,
    }
    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::Error::other("the disk went away"));
            }
            let n = buf.len().min(self.left).min(self.text.len());
            buf[..n].copy_from_slice(&self.text[..n]);
            self.text = &self.text[n..];
            self.left -= n;
            Ok(n)
        }
    }
    let source = Failing {
        text: text.as_bytes(),
        left: text.len() / 2,
    };
    match read(source) {
        Err(ReadError::Io(e)) => assert_eq!(e.to_string(), "the disk went away"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read_bytes(b""),
        Err(ReadError::History(HistoryError::Empty))
    ));
}
