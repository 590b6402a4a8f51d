//! One operation of a concurrent history: what a process asked, what it was told, and when.

/// An operation as a client saw it. Times are any increasing clock (simulated nanoseconds,
/// line numbers of a log); only their order matters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// The client that issued it; for reports only.
    pub process: u64,
    pub input: I,
    /// The answer. For an operation whose outcome is unknown, the model's "unknown" answer.
    pub output: O,
    /// When it was invoked.
    pub call: u64,
    /// When it returned; `None` when the outcome is unknown (a timeout, a lost connection):
    /// such an operation stays open until after every other operation, so it may have taken
    /// effect at any point after its call, or not at all.
    pub ret: Option<u64>,
}

impl<I, O> Operation<I, O> {
    /// An operation that returned at `ret`.
    pub fn completed(process: u64, input: I, output: O, call: u64, ret: u64) -> Self {
        Self {
            process,
            input,
            output,
            call,
            ret: Some(ret),
        }
    }

    /// An operation whose outcome is unknown: it stays open until the end of the history.
    pub fn open(process: u64, input: I, output: O, call: u64) -> Self {
        Self {
            process,
            input,
            output,
            call,
            ret: None,
        }
    }
}
