//! Pairs each process's invocation with its completion while a history file is read.

use std::collections::HashMap;

use super::error::ParseError;
use crate::linearizability::Operation;

/// Where an operation's invocation and completion are in the file (1-based lines), for
/// reports; `ret` is `None` for an operation that never completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceLines {
    pub call: usize,
    pub ret: Option<usize>,
}

/// A history read from a file: its operations, whose times are the positions of their
/// events in the file, and the lines those events are on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed<I, O> {
    pub ops: Vec<Operation<I, O>>,
    pub lines: Vec<SourceLines>,
}

/// An invocation still waiting for its completion.
pub(crate) struct Invocation<I> {
    pub(crate) input: I,
    pub(crate) function: String,
    pub(crate) line: usize,
    /// Position of the invocation among the history's events.
    event: u64,
    /// Position of the completion, once `complete` has seen it.
    completion_event: u64,
}

/// Collects operations; an event's time is its position in the file, so several events
/// may share a line.
pub(crate) struct HistoryBuilder<'f, I, O> {
    file: &'f str,
    pending: HashMap<u64, Invocation<I>>,
    parsed: Parsed<I, O>,
    events: u64,
}

impl<'f, I, O> HistoryBuilder<'f, I, O> {
    pub(crate) fn new(file: &'f str) -> Self {
        let parsed = Parsed {
            ops: Vec::new(),
            lines: Vec::new(),
        };
        Self {
            file,
            pending: HashMap::new(),
            parsed,
            events: 0,
        }
    }

    pub(crate) fn error(&self, line: usize, problem: impl Into<String>) -> ParseError {
        ParseError::new(self.file, line, problem)
    }

    fn next_event(&mut self) -> u64 {
        self.events += 1;
        self.events
    }

    /// Records that `process` invoked `function` on `line`.
    pub(crate) fn invoke(
        &mut self,
        line: usize,
        process: u64,
        function: &str,
        input: I,
    ) -> Result<(), ParseError> {
        if let Some(earlier) = self.pending.get(&process) {
            let (f, at) = (&earlier.function, earlier.line);
            let problem = format!(
                "process {process} invokes {function} while its {f} from line {at} has not completed"
            );
            return Err(self.error(line, problem));
        }
        let event = self.next_event();
        let function = function.to_string();
        let invocation = Invocation {
            input,
            function,
            line,
            event,
            completion_event: 0,
        };
        self.pending.insert(process, invocation);
        Ok(())
    }

    /// Takes the invocation that a completion of `function` by `process` on `line` ends.
    pub(crate) fn complete(
        &mut self,
        line: usize,
        process: u64,
        function: &str,
    ) -> Result<Invocation<I>, ParseError> {
        let Some(mut invocation) = self.pending.remove(&process) else {
            let problem =
                format!("process {process} completes {function} but has no pending invocation");
            return Err(self.error(line, problem));
        };
        if invocation.function != function {
            let (f, at) = (&invocation.function, invocation.line);
            let problem =
                format!("process {process} completes {function} but invoked {f} on line {at}");
            return Err(self.error(line, problem));
        }
        invocation.completion_event = self.next_event();
        Ok(invocation)
    }

    /// An operation that returned `output` on `line`.
    pub(crate) fn push_completed(
        &mut self,
        invocation: Invocation<I>,
        process: u64,
        output: O,
        line: usize,
    ) {
        assert!(
            invocation.completion_event > invocation.event,
            "completed after invoked"
        );
        let (call, ret) = (invocation.event, invocation.completion_event);
        let op = Operation::completed(process, invocation.input, output, call, ret);
        self.parsed.ops.push(op);
        self.parsed.lines.push(SourceLines {
            call: invocation.line,
            ret: Some(line),
        });
    }

    /// An operation whose outcome is unknown: open until the end of the history.
    pub(crate) fn push_open(&mut self, invocation: Invocation<I>, process: u64, output: O) {
        let op = Operation::open(process, invocation.input, output, invocation.event);
        self.parsed.ops.push(op);
        self.parsed.lines.push(SourceLines {
            call: invocation.line,
            ret: None,
        });
    }

    /// The history; invocations never completed stay open with `unknown` as output.
    pub(crate) fn finish(mut self, unknown: impl Fn(&I) -> O) -> Parsed<I, O> {
        let mut open: Vec<(u64, Invocation<I>)> = self.pending.drain().collect();
        open.sort_by_key(|(_, invocation)| invocation.event);
        for (process, invocation) in open {
            let output = unknown(&invocation.input);
            self.push_open(invocation, process, output);
        }
        assert_eq!(self.parsed.ops.len(), self.parsed.lines.len());
        self.parsed
    }
}
