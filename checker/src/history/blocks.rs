//! Reading a history's lines on every core: the text comes in blocks that end at a line's
//! end, workers read the blocks' lines into events (`line::parse_line`), and the events are
//! put back together in the order of the text. Whoever makes the blocks (a whole text in
//! memory, or a file read one block at a time) only hands them over; what comes back is
//! what reading the lines one after the other gives, the same events and the same first
//! error, named by its line.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Mutex, PoisonError};

use super::io::HistoryError;
use super::line::parse_line;
use super::{Event, FORMAT, VERSION, VERSION_MIN};

/// The size a block is cut at (it runs on to the end of the line it cuts): large enough
/// that handing it over costs nothing next to reading it, small enough that a few in
/// flight take little memory and keep every core busy to the end.
pub const BLOCK_BYTES: usize = 1 << 20;

/// The events of one block, and the first line in it that is not an event.
#[derive(Default)]
struct Block {
    /// The lines read, counting blank ones: the next block's first line follows.
    lines: usize,
    events: Vec<Event>,
    /// Header events: (line within the block, counted from 0; index in `events`).
    headers: Vec<(usize, usize)>,
    /// The line (within the block) of the first event.
    first_event_line: usize,
    /// The first line (within the block) that is not an event, and why.
    error: Option<(usize, String)>,
}

/// Read a block's lines up to the first that is not an event.
fn parse_block(text: &str) -> Block {
    let mut block = Block {
        events: Vec::with_capacity(text.len() / 128),
        ..Block::default()
    };
    for (index, raw) in text.lines().enumerate() {
        block.lines = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        match parse_line(raw) {
            Ok(event) => {
                if block.events.is_empty() {
                    block.first_event_line = index;
                }
                if matches!(event, Event::Header { .. }) {
                    block.headers.push((index, block.events.len()));
                }
                block.events.push(event);
            }
            Err(e) => {
                block.error = Some((index, crate::history::errors::describe(raw, &e)));
                break;
            }
        }
    }
    block
}

/// Why a first event cannot begin a history this build reads.
fn header_problem(first: &Event) -> Option<String> {
    match first {
        Event::Header {
            format, version, ..
        } if format == FORMAT && (VERSION_MIN..=VERSION).contains(version) => None,
        Event::Header {
            format, version, ..
        } => Some(format!(
            "format {format:?} version {version}; this build reads {FORMAT:?} versions {VERSION_MIN} to {VERSION}"
        )),
        _ => Some("the first event must be the header".to_string()),
    }
}

/// Blocks put back together in order: the first non-blank line must be a supported
/// header, no other line may be one, and the first line that breaks a rule is the error.
#[derive(Default)]
struct Assembler {
    events: Vec<Event>,
    /// The number of the next block's first line.
    next_line: usize,
    error: Option<HistoryError>,
}

impl Assembler {
    fn new() -> Self {
        Assembler {
            next_line: 1,
            ..Assembler::default()
        }
    }

    fn push(&mut self, mut block: Block) {
        assert!(self.error.is_none(), "nothing is added after an error");
        let first_line = self.next_line;
        let mut problems = Vec::new();
        if self.events.is_empty() {
            if let Some(problem) = block.events.first().and_then(header_problem) {
                problems.push((block.first_event_line, problem));
            }
        }
        let start = self.events.is_empty();
        if let Some(&(line, _)) = block.headers.iter().find(|&&(_, i)| i > 0 || !start) {
            problems.push((line, "a second header".to_string()));
        }
        problems.extend(block.error.take());
        if let Some((line, message)) = problems.into_iter().min_by_key(|(line, _)| *line) {
            self.error = Some(HistoryError::Line {
                line: first_line + line,
                message,
            });
            return;
        }
        self.next_line += block.lines;
        self.events.append(&mut block.events);
    }

    fn finish(self) -> Result<Vec<Event>, HistoryError> {
        match self.error {
            Some(error) => Err(error),
            None if self.events.is_empty() => Err(HistoryError::Empty),
            None => Ok(self.events),
        }
    }
}

/// Read the events of consecutive blocks of a text, each ending at a line's end (the last
/// may end without one). A block the source fails to give ends the reading with the
/// source's error, which comes first even after a bad line, as it would had the text been
/// read whole before any line was parsed: the source is read to its end regardless.
pub fn parse_blocks<T, E>(
    blocks: impl Iterator<Item = Result<T, E>>,
) -> Result<Result<Vec<Event>, HistoryError>, E>
where
    T: AsRef<str> + Send,
{
    let mut blocks = blocks.peekable();
    let Some(first) = blocks.next() else {
        return Ok(Assembler::new().finish());
    };
    let first = first?;
    if blocks.peek().is_none() {
        // One block: no thread is worth starting.
        let mut assembler = Assembler::new();
        assembler.push(parse_block(first.as_ref()));
        return Ok(assembler.finish());
    }
    let workers = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let (job_tx, job_rx) = sync_channel::<(usize, T)>(workers);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = channel();
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (job_rx, stop) = (&job_rx, &stop);
            scope.spawn(move || work(job_rx, &done_tx, stop));
        }
        drop(done_tx);
        let mut order = InOrder::new(done_rx);
        let mut source_error = None;
        for block in std::iter::once(Ok(first)).chain(blocks) {
            match block {
                Err(e) => {
                    source_error = Some(e);
                    break;
                }
                Ok(text) if !order.failed() => order.send(&job_tx, text),
                Ok(_) => {}
            }
            order.collect(false);
            if order.failed() {
                stop.store(true, Ordering::Relaxed);
            }
        }
        drop(job_tx);
        if let Some(e) = source_error {
            stop.store(true, Ordering::Relaxed);
            return Err(e);
        }
        order.collect(true);
        Ok(order.assembler.finish())
    })
}

/// A worker: read blocks until there are none, or only skip them once an error is found.
fn work<T: AsRef<str>>(
    jobs: &Mutex<Receiver<(usize, T)>>,
    done: &Sender<(usize, Block)>,
    stop: &AtomicBool,
) {
    loop {
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((seq, text)) = job else {
            return;
        };
        let block = if stop.load(Ordering::Relaxed) {
            Block::default()
        } else {
            parse_block(text.as_ref())
        };
        drop(text);
        if done.send((seq, block)).is_err() {
            return;
        }
    }
}

/// Blocks handed out by number and put back in that order as workers return them.
struct InOrder {
    done: Receiver<(usize, Block)>,
    /// Returned ahead of their turn.
    waiting: BTreeMap<usize, Block>,
    sent: usize,
    received: usize,
    /// The number of the next block to add.
    turn: usize,
    assembler: Assembler,
}

impl InOrder {
    fn new(done: Receiver<(usize, Block)>) -> Self {
        InOrder {
            done,
            waiting: BTreeMap::new(),
            sent: 0,
            received: 0,
            turn: 0,
            assembler: Assembler::new(),
        }
    }

    fn failed(&self) -> bool {
        self.assembler.error.is_some()
    }

    fn send<T>(&mut self, jobs: &SyncSender<(usize, T)>, text: T) {
        jobs.send((self.sent, text))
            .expect("the workers wait for blocks while the sender lives");
        self.sent += 1;
    }

    /// Take the blocks workers have returned (with `wait`, all that were sent) and add
    /// those whose turn has come.
    fn collect(&mut self, wait: bool) {
        while self.received < self.sent {
            let next = if wait {
                self.done.recv().ok()
            } else {
                self.done.try_recv().ok()
            };
            let Some((seq, block)) = next else {
                break;
            };
            self.received += 1;
            self.waiting.insert(seq, block);
        }
        while let Some(block) = self.waiting.remove(&self.turn) {
            if !self.failed() {
                self.assembler.push(block);
            }
            self.turn += 1;
        }
        if wait {
            assert_eq!(self.received, self.sent, "every block comes back");
        }
    }
}

/// Cut a text into blocks of about `size` bytes that end at a line's end.
pub fn split(text: &str, size: usize) -> impl Iterator<Item = &str> {
    assert!(size > 0);
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = match rest.as_bytes().get(size..) {
            None => rest.len(),
            Some(tail) => tail
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| size + i + 1),
        };
        let (block, tail) = rest.split_at(cut);
        rest = tail;
        Some(block)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{GenConfig, generate};
    use crate::history::to_jsonl;

    /// The reading this module must match: line after line, on serde's general path.
    fn one_by_one(text: &str) -> Result<Vec<Event>, HistoryError> {
        let mut events = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let event: Event = serde_json::from_str(raw).map_err(|e| HistoryError::Line {
                line,
                message: crate::history::errors::describe(raw, &e),
            })?;
            let problem = if events.is_empty() {
                header_problem(&event)
            } else if matches!(event, Event::Header { .. }) {
                Some("a second header".to_string())
            } else {
                None
            };
            if let Some(message) = problem {
                return Err(HistoryError::Line { line, message });
            }
            events.push(event);
        }
        if events.is_empty() {
            return Err(HistoryError::Empty);
        }
        Ok(events)
    }

    fn in_blocks(text: &str, size: usize) -> Result<Vec<Event>, HistoryError> {
        match parse_blocks(split(text, size).map(Ok::<_, ()>)) {
            Ok(result) => result,
            Err(()) => unreachable!("the text is in memory"),
        }
    }

    /// The text with line `n` (0-based) replaced by `with`.
    fn replace_line(text: &str, n: usize, with: &str) -> String {
        let mut lines: Vec<&str> = text.lines().collect();
        lines[n] = with;
        lines.join("\n") + "\n"
    }

    // Cut anywhere, into blocks of any size, a text reads as it does line after line:
    // the same events, or the same first error on the same line.
    #[test]
    fn blocks_read_as_lines_do() {
        let text = to_jsonl(&generate(4, &GenConfig::new(120)));
        let header = text.lines().next().expect("a header").to_string();
        let n = text.lines().count();
        let mut texts = vec![
            text.clone(),
            String::new(),
            "\n \n\t\n".to_string(),
            format!("\n\n{text}\n\n"),
            text.replace('\n', "\r\n"),
            text.trim_end().to_string(),
            text.lines().skip(1).collect::<Vec<_>>().join("\n"),
            replace_line(&text, 0, &header.replace("\"version\":2", "\"version\":9")),
            replace_line(&text, 0, "not json"),
        ];
        for at in [1, 2, n / 2, n - 1] {
            texts.push(replace_line(&text, at, &header));
            texts.push(replace_line(&text, at, "{\"type\":\"invoke\",\"t\":1"));
            texts.push(replace_line(&text, at, "   "));
            let mut two = replace_line(&text, at, &header);
            two = replace_line(&two, n - 1, "{}");
            texts.push(two);
        }
        for text in &texts {
            let expected = one_by_one(text);
            for size in [1, 7, 64, 700, 1 << 20] {
                assert_eq!(
                    in_blocks(text, size),
                    expected,
                    "blocks of {size}: {text:.200}"
                );
            }
        }
    }

    // Blocks end at a line's end and together are the text.
    #[test]
    fn split_cuts_after_newlines() {
        let text = "ab\ncdef\n\ng\nhij";
        for size in 1..20 {
            let blocks: Vec<&str> = split(text, size).collect();
            assert_eq!(blocks.concat(), text);
            for b in &blocks[..blocks.len() - 1] {
                assert!(b.ends_with('\n'), "{blocks:?}");
            }
        }
        assert_eq!(split("", 4).count(), 0);
    }
}
