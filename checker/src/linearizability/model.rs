//! The sequential specification a history is checked against.

use std::fmt::Debug;
use std::hash::Hash;

/// A sequential object: the states it can be in and how one operation moves it.
///
/// The engine never looks inside a state; it interns each distinct state once (so `State`
/// may be large, such as a string that grows with every append) and caches every
/// `(state, operation)` transition it has computed, so `step` runs at most once per pair.
pub trait Model {
    /// What the object holds between operations.
    type State: Clone + Eq + Hash + Debug;
    /// What a client asked for.
    type Input: Debug;
    /// What the client was told. A model that accepts partial observations gives this type
    /// a variant for them (an unknown read value, an unknown CAS outcome) and lets `step`
    /// accept any state for it.
    type Output: Debug;
    /// A part of the state that operations touch independently of the others; see `keys`.
    type Key: Clone + Eq + Hash + Debug;

    /// The state before the first operation.
    fn init(&self) -> Self::State;

    /// Pushes onto `next` every state the object can be in after applying `input` in `state`
    /// and answering `output`. Nothing pushed means the answer is impossible in `state`; more
    /// than one state means the object chooses (the search tries each). `next` is empty on
    /// entry.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
        next: &mut Vec<Self::State>,
    );

    /// Pushes onto `keys` the parts of the state this operation reads or writes
    /// (P-compositionality, Herlihy and Wing §3.3: a history is linearizable iff each
    /// per-object subhistory is). The engine checks the operations of each connected group
    /// of keys on their own, starting from `init()`, so the state of a group must cover all
    /// of its keys. An operation that names several keys (a ZooKeeper `multi`) joins their
    /// groups; one that names none touches everything and joins all groups. The default
    /// names none, so the history is one group.
    fn keys(&self, input: &Self::Input, keys: &mut Vec<Self::Key>) {
        let _ = (input, keys);
    }

    /// True when the operation, with this answer, never changes the state: wherever `step`
    /// accepts it, it yields exactly the state it started in (a read, a CAS known to have
    /// failed). The search then linearizes such an operation as soon as it can and never
    /// tries it later, which is complete: moving an enabled operation that changes nothing
    /// to the front of any linearization of the rest keeps that linearization legal.
    fn is_read_only(&self, input: &Self::Input, output: &Self::Output) -> bool {
        let _ = (input, output);
        false
    }

    /// True when `step` accepts the operation, with this answer, in every state (pushes at
    /// least one next state), as it must for an answer that observed nothing (a write whose
    /// outcome is unknown). An open operation (`ret: None`) for which this holds is free to
    /// take effect at the very end, which lets the search prune far more (see its memo). The
    /// search asserts the promise each time it steps such an operation.
    fn accepts_every_state(&self, input: &Self::Input, output: &Self::Output) -> bool {
        let _ = (input, output);
        false
    }

    /// True when the operation, with this answer, only moves the state forward in the
    /// order `may_reach` reasons about: an append, but not a put, which can replace any
    /// value. The default is false, which turns the lookahead off.
    fn is_monotone(&self, input: &Self::Input, output: &Self::Output) -> bool {
        let _ = (input, output);
        false
    }

    /// False when no sequence of monotone operations can take `state` to one in which the
    /// read-only operation (`input`, `output`) is accepted: for appends, when the state is
    /// not a prefix of the value a get returned. The search then does not enter `state`
    /// while every operation that could still come before that get is monotone, instead of
    /// discovering the dead end once the get is reached. The default never prunes.
    fn may_reach(&self, state: &Self::State, input: &Self::Input, output: &Self::Output) -> bool {
        let _ = (state, input, output);
        true
    }

    /// A short human description of a state, for reports.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }

    /// A short human description of an operation and its answer, for reports.
    fn describe_operation(&self, input: &Self::Input, output: &Self::Output) -> String {
        format!("{input:?} -> {output:?}")
    }
}
