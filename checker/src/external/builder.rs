//! Pairs each process's invocation with its completion while a history file is read.

use std::collections::HashMap;

use super::error::ParseError;
use crate::linearizability::Operation;

/// An invocation still waiting for its completion.
pub(crate) struct Invocation<I> {
    pub(crate) input: I,
    pub(crate) function: String,
    pub(crate) line: usize,
}

/// Collects operations; times are line numbers, so reports can point into the file.
pub(crate) struct HistoryBuilder<'f, I, O> {
    file: &'f str,
    pending: HashMap<u64, Invocation<I>>,
    ops: Vec<Operation<I, O>>,
}

impl<'f, I, O> HistoryBuilder<'f, I, O> {
    pub(crate) fn new(file: &'f str) -> Self {
        Self {
            file,
            pending: HashMap::new(),
            ops: Vec::new(),
        }
    }

    pub(crate) fn error(&self, line: usize, problem: impl Into<String>) -> ParseError {
        ParseError::new(self.file, line, problem)
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
            return Err(self.error(
                line,
                format!(
                    "process {process} invokes {function} while its {} from line {} has not \
                     completed",
                    earlier.function, earlier.line
                ),
            ));
        }
        let function = function.to_string();
        self.pending.insert(
            process,
            Invocation {
                input,
                function,
                line,
            },
        );
        Ok(())
    }

    /// Takes the invocation that a completion of `function` by `process` on `line` ends.
    pub(crate) fn complete(
        &mut self,
        line: usize,
        process: u64,
        function: &str,
    ) -> Result<Invocation<I>, ParseError> {
        let Some(invocation) = self.pending.remove(&process) else {
            return Err(self.error(
                line,
                format!("process {process} completes {function} but has no pending invocation"),
            ));
        };
        if invocation.function != function {
            return Err(self.error(
                line,
                format!(
                    "process {process} completes {function} but invoked {} on line {}",
                    invocation.function, invocation.line
                ),
            ));
        }
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
            line > invocation.line,
            "a completion follows its invocation"
        );
        let (call, ret) = (invocation.line as u64, line as u64);
        self.ops.push(Operation::completed(
            process,
            invocation.input,
            output,
            call,
            ret,
        ));
    }

    /// An operation whose outcome is unknown: open until the end of the history.
    pub(crate) fn push_open(&mut self, invocation: Invocation<I>, process: u64, output: O) {
        let call = invocation.line as u64;
        self.ops
            .push(Operation::open(process, invocation.input, output, call));
    }

    /// The operations; invocations never completed stay open with `unknown` as output.
    pub(crate) fn finish(mut self, unknown: impl Fn(&I) -> O) -> Vec<Operation<I, O>> {
        let mut open: Vec<(u64, Invocation<I>)> = self.pending.drain().collect();
        open.sort_by_key(|(_, invocation)| invocation.line);
        for (process, invocation) in open {
            let output = unknown(&invocation.input);
            self.push_open(invocation, process, output);
        }
        self.ops
    }
}
