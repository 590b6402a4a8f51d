//! The Wing–Gong–Lowe search for a linearization of one partition.
//!
//! Wing and Gong, "Testing and verifying concurrent objects" (1993): walk the history's
//! call and return events as a doubly linked list; repeatedly linearize an operation whose
//! call precedes the first remaining return (lift its two events out of the list), and
//! backtrack when a return is reached with nothing left to try. Lowe, "Testing for
//! linearizability" (2017): memoise configurations, since the rest of the search depends
//! only on the linearized set and the state. This is porcupine's `checkSingle` with these
//! changes, none of which gives up completeness:
//! - states are interned `u32`s and the linearized set is a bitset with an incrementally
//!   updated Zobrist hash, so the inner loop allocates nothing;
//! - a model may offer several next states, each an alternative to backtrack into;
//! - operations the model calls read-only are linearized greedily, as soon as they are
//!   enabled, with no alternatives (see `Model::is_read_only`);
//! - the other candidates are tried earliest return first (porcupine tries them in call
//!   order), so an operation that stays pending for long, or forever, is placed only once
//!   the operations that must come first are;
//! - the memo also prunes configurations dominated by a failed one, and free operations
//!   (unknown outcome, accepted in every state) are not tried where they cannot matter
//!   (see `Memo` and `free_op_is_pointless`);
//! - a model may say that a state can no longer lead to the next observation, and the
//!   search then does not enter it (see `Lookahead`).

use super::events::{EventList, NIL};
use super::history::Operation;
use super::lookahead::{self, Lookahead};
use super::memo::Memo;
use super::model::Model;
use super::states::StateSpace;
use super::table::zobrist_key;

/// `Frame::alt` of an operation linearized greedily, which has no alternatives.
const GREEDY: u32 = u32::MAX;
/// `Search::free_bit` of an operation that is not free.
const NOT_FREE: u8 = u8::MAX;
/// The memo tells apart at most this many free operations per partition; any beyond are
/// treated like operations with a known return, which only prunes less.
const MAX_FREE: usize = 64;

/// Where the scan of a configuration's candidates resumes: the configuration's candidate
/// list (`Search::candidates[list_start..][..list_len]`), the candidate at `index`, and its
/// next state number `alt_from`.
#[derive(Clone, Copy)]
struct Cursor {
    list_start: u32,
    list_len: u32,
    index: u32,
    alt_from: u32,
}

/// A linearized operation: its call node, the state before it, which of its next states
/// was taken, where the scan of the configuration before it stood, and the path marks to
/// restore when it is undone.
#[derive(Clone, Copy)]
struct Frame {
    node: u32,
    state: u32,
    alt: u32,
    cursor: Cursor,
    marks: Marks,
}

/// What the search tracks along the current path besides the linearized set.
#[derive(Clone, Copy)]
struct Marks {
    lookahead: lookahead::Mark,
    /// When the operations linearized last are free ones, the state before the first of
    /// them; otherwise `NIL`.
    run_start: u32,
}

pub(crate) enum Outcome {
    Linearizable,
    Violation(Stuck),
    BudgetExhausted,
}

/// The deepest point the search reached, in the partition's operation numbers.
pub(crate) struct Stuck {
    pub(crate) prefix: Vec<u32>,
    pub(crate) state: u32,
    pub(crate) stuck: u32,
    pub(crate) pending: Vec<u32>,
}

/// What opening a configuration did.
enum Opened {
    /// Linearized an enabled read-only operation.
    Greedy,
    /// An enabled read-only operation leads to a dead configuration, so this one is dead.
    Dead,
    /// Listed the candidates to try.
    Candidates(Cursor),
    OutOfBudget,
}

struct OutOfBudget;

pub(crate) struct Search<'a, M: Model> {
    /// The partition's operations; `ops[i]` is operation number `i`.
    ops: Vec<&'a Operation<M::Input, M::Output>>,
    pub(crate) space: StateSpace<'a, M>,
    init: u32,
    events: EventList,
    read_only: Vec<bool>,
    /// For each free operation (see `Memo`), its bit in `free`.
    free_bit: Vec<u8>,
    zobrist: Vec<u64>,
    /// The linearized operations that are not free, with their Zobrist hash.
    closed: Vec<u64>,
    closed_hash: u64,
    /// The linearized free operations.
    free: u64,
    memo: Memo,
    lookahead: Lookahead,
    marks: Marks,
    /// Operations not yet linearized that are not free.
    bound_left: usize,
    /// Configurations entered.
    entered: u64,
    stack: Vec<Frame>,
    /// The candidate lists of the configurations on the current path, each sorted by return
    /// time: `return node << 32 | call node`.
    candidates: Vec<u64>,
    best: Option<Stuck>,
    /// The lowest the stack has been since `best` was recorded: `best.prefix` agrees with
    /// the stack below this depth, so recording a deeper point copies only the rest.
    low_water: usize,
}

impl<'a, M: Model> Search<'a, M> {
    pub(crate) fn new(model: &'a M, ops: Vec<&'a Operation<M::Input, M::Output>>) -> Self {
        let n = ops.len();
        assert!(n < (u32::MAX as usize) / 2, "partition too large");
        let mut space = StateSpace::new(model, n);
        let init = space.intern(model.init());
        let read_only: Vec<bool> = ops
            .iter()
            .map(|op| model.is_read_only(&op.input, &op.output))
            .collect();
        let free_bit = free_bits(model, &ops, &read_only);
        let events = EventList::new(&ops);
        let lookahead = Lookahead::new(model, &ops, &events, &read_only);
        let words = n.div_ceil(64);
        let bound_left = free_bit.iter().filter(|&&bit| bit == NOT_FREE).count();
        Self {
            bound_left,
            ops,
            space,
            init,
            events,
            read_only,
            free_bit,
            zobrist: (0..n).map(zobrist_key).collect(),
            closed: vec![0; words],
            closed_hash: 0,
            free: 0,
            memo: Memo::new(words, 4 * n),
            lookahead,
            marks: Marks {
                lookahead: lookahead::Mark::default(),
                run_start: NIL,
            },
            entered: 0,
            stack: Vec::with_capacity(n),
            candidates: Vec::with_capacity(4 * n),
            best: None,
            low_water: 0,
        }
    }

    /// Configurations entered.
    pub(crate) fn configurations(&self) -> u64 {
        self.entered
    }

    /// Runs the search, spending one unit of `steps_left` per attempt to linearize an
    /// operation in a state.
    pub(crate) fn run(&mut self, steps_left: &mut u64) -> Outcome {
        let mut state = self.init;
        // `None` when the configuration was just entered and its candidates not yet listed.
        let mut cursor = None;
        loop {
            // Free operations left over can all take effect at the very end.
            if self.bound_left == 0 {
                return Outcome::Linearizable;
            }
            let at = match cursor {
                Some(at) => at,
                None => match self.open(state, steps_left) {
                    Opened::Greedy => continue,
                    Opened::Candidates(at) => at,
                    Opened::OutOfBudget => return Outcome::BudgetExhausted,
                    Opened::Dead => {
                        match self.backtrack(state) {
                            Some((s, c)) => (state, cursor) = (s, Some(c)),
                            None => return self.violation(),
                        }
                        continue;
                    }
                },
            };
            match self.advance(state, at, steps_left) {
                Ok(Some(next)) => (state, cursor) = (next, None),
                Ok(None) => {
                    self.record_stuck(state);
                    match self.backtrack(state) {
                        Some((s, c)) => (state, cursor) = (s, Some(c)),
                        None => return self.violation(),
                    }
                }
                Err(OutOfBudget) => return Outcome::BudgetExhausted,
            }
        }
    }

    /// Opens the configuration just entered: linearizes an enabled read-only candidate if
    /// there is one, and otherwise lists the other candidates, earliest return first.
    fn open(&mut self, state: u32, steps_left: &mut u64) -> Opened {
        let list_start = self.candidates.len();
        let mut entry = self.events.first();
        loop {
            let node = self.events.node(entry);
            if !node.is_call() {
                break;
            }
            let op = node.op;
            if !self.read_only[op as usize] {
                self.candidates
                    .push((u64::from(node.partner) << 32) | u64::from(entry));
            } else if self.space.successors(state, op, self.ops[op as usize]).1 > 0 {
                self.candidates.truncate(list_start);
                return self.take_read_only(entry, state, steps_left);
            }
            entry = node.next;
        }
        self.candidates[list_start..].sort_unstable();
        let list_len = (self.candidates.len() - list_start) as u32;
        Opened::Candidates(Cursor {
            list_start: list_start as u32,
            list_len,
            index: 0,
            alt_from: 0,
        })
    }

    fn take_read_only(&mut self, entry: u32, state: u32, steps_left: &mut u64) -> Opened {
        let op = self.events.node(entry).op;
        let (start, len) = self.space.successors(state, op, self.ops[op as usize]);
        // A read-only operation can only stay where it is.
        assert_eq!(len, 1);
        assert_eq!(self.space.successor(start), state);
        if *steps_left == 0 {
            return Opened::OutOfBudget;
        }
        *steps_left -= 1;
        if !self.enter(op, state) {
            return Opened::Dead;
        }
        let list_start = self.candidates.len() as u32;
        let cursor = Cursor {
            list_start,
            list_len: 0,
            index: 0,
            alt_from: 0,
        };
        self.push(entry, state, GREEDY, cursor);
        if !self.may_reach_next_observation(state) {
            return Opened::Dead;
        }
        Opened::Greedy
    }

    /// Tries the configuration's candidates from the cursor on and linearizes the first
    /// that leads to a configuration worth entering, returning the new state; `None` when
    /// none does.
    fn advance(
        &mut self,
        state: u32,
        at: Cursor,
        steps_left: &mut u64,
    ) -> Result<Option<u32>, OutOfBudget> {
        let mut alt_from = at.alt_from;
        for index in at.index..at.list_len {
            let entry = self.candidates[(at.list_start + index) as usize] as u32;
            let op = self.events.node(entry).op;
            let free = self.free_bit[op as usize] != NOT_FREE;
            let (start, len) = self.space.successors(state, op, self.ops[op as usize]);
            // Model::accepts_every_state: the memo's pruning relies on it.
            assert!(len > 0 || !free, "the model rejected a free operation");
            for alt in alt_from..len {
                if *steps_left == 0 {
                    return Err(OutOfBudget);
                }
                *steps_left -= 1;
                let next = self.space.successor(start + alt);
                if next != state && !self.may_reach_next_observation(next) {
                    continue;
                }
                if free && self.free_op_is_pointless(op, state, next) {
                    continue;
                }
                if self.enter(op, next) {
                    self.push(entry, state, alt, Cursor { index, ..at });
                    return Ok(Some(next));
                }
            }
            alt_from = 0;
        }
        Ok(None)
    }

    /// Completes the linearization of the operation whose call is `entry`, entered with
    /// `enter`: records how to undo it and moves the path marks.
    fn push(&mut self, entry: u32, state: u32, alt: u32, cursor: Cursor) {
        let op = self.events.node(entry).op;
        self.stack.push(Frame {
            node: entry,
            state,
            alt,
            cursor,
            marks: self.marks,
        });
        self.events.lift(entry);
        let (free_bit, closed, free) = (&self.free_bit, &self.closed, self.free);
        let linearized = |op: u32| is_linearized(free_bit, closed, free, op);
        self.marks.lookahead = self.lookahead.advance(self.marks.lookahead, linearized);
        let free = self.free_bit[op as usize] != NOT_FREE;
        self.marks.run_start = match self.marks.run_start {
            _ if !free => NIL,
            NIL => state,
            run_start => run_start,
        };
    }

    /// Undoes linearizations up to the most recent one that has an alternative left,
    /// recording each configuration it leaves (starting with the current one, in `state`)
    /// as failed, and returns where to resume: the state and the cursor. Greedy frames are
    /// undone without resuming: the configuration before one fails as a whole.
    fn backtrack(&mut self, mut state: u32) -> Option<(u32, Cursor)> {
        while let Some(frame) = self.stack.pop() {
            self.memo
                .record_failure(&self.closed, self.closed_hash, state, self.free);
            self.low_water = self.low_water.min(self.stack.len());
            self.events.unlift(frame.node);
            self.toggle(self.events.node(frame.node).op);
            state = frame.state;
            self.marks = frame.marks;
            let Cursor {
                list_start,
                list_len,
                ..
            } = frame.cursor;
            self.candidates.truncate((list_start + list_len) as usize);
            if frame.alt != GREEDY {
                return Some((
                    state,
                    Cursor {
                        alt_from: frame.alt + 1,
                        ..frame.cursor
                    },
                ));
            }
        }
        None
    }

    /// True when linearizing the free operation `op`, taking `state` to `next`, cannot lead
    /// anywhere that a configuration the search explores anyway does not. Both rules rest
    /// on the memo's dominance (a free operation may as well take effect at the very end):
    /// - `next == state`: the new configuration is dominated by the current one;
    /// - `op` erases the run of free operations just before it (it could have taken the
    ///   state before the run to `next` directly): the new configuration is dominated by
    ///   the one where `op` alone replaces the run, which the search tries from the run's
    ///   first configuration.
    fn free_op_is_pointless(&mut self, op: u32, state: u32, next: u32) -> bool {
        if next == state {
            return true;
        }
        let run_start = self.marks.run_start;
        if run_start == NIL {
            return false;
        }
        let (start, len) = self.space.successors(run_start, op, self.ops[op as usize]);
        (start..start + len).any(|i| self.space.successor(i) == next)
    }

    /// False when the model rules out that `state` leads to the next observation, which
    /// only monotone operations can still precede.
    #[inline]
    fn may_reach_next_observation(&self, state: u32) -> bool {
        let Some(observation) = self.lookahead.next_observation(self.marks.lookahead) else {
            return true;
        };
        let op = self.ops[observation as usize];
        self.space
            .model()
            .may_reach(self.space.state(state), &op.input, &op.output)
    }

    /// Adds `op` to the linearized set with state `state`; false (and no change) when a
    /// recorded failure dominates that configuration.
    #[inline]
    fn enter(&mut self, op: u32, state: u32) -> bool {
        self.toggle(op);
        if self
            .memo
            .is_dominated(&self.closed, self.closed_hash, state, self.free)
        {
            self.toggle(op);
            return false;
        }
        self.entered += 1;
        true
    }

    #[inline]
    fn toggle(&mut self, op: u32) {
        let op = op as usize;
        match self.free_bit[op] {
            NOT_FREE => {
                let word = &mut self.closed[op / 64];
                *word ^= 1 << (op % 64);
                if *word & (1 << (op % 64)) != 0 {
                    self.bound_left -= 1;
                } else {
                    self.bound_left += 1;
                }
                self.closed_hash ^= self.zobrist[op];
            }
            bit => self.free ^= 1 << bit,
        }
    }

    /// Remembers the current point, where no candidate leads on, if it is deeper than any
    /// before: the prefix, the state, the first remaining return and the other pending
    /// operations.
    fn record_stuck(&mut self, state: u32) {
        let depth = self.stack.len();
        if self
            .best
            .as_ref()
            .is_some_and(|best| best.prefix.len() >= depth)
        {
            return;
        }
        let empty = Stuck {
            prefix: Vec::new(),
            state,
            stuck: 0,
            pending: Vec::new(),
        };
        let mut best = self.best.take().unwrap_or(empty);
        best.prefix.truncate(self.low_water);
        let events = &self.events;
        best.prefix.extend(
            self.stack[self.low_water..]
                .iter()
                .map(|f| events.node(f.node).op),
        );
        self.low_water = depth;
        best.state = state;
        best.pending.clear();
        let mut entry = self.events.first();
        while self.events.node(entry).is_call() {
            best.pending.push(self.events.node(entry).op);
            entry = self.events.node(entry).next;
        }
        best.stuck = self.events.node(entry).op;
        best.pending.retain(|&op| op != best.stuck);
        self.best = Some(best);
    }

    fn violation(&mut self) -> Outcome {
        let best = self
            .best
            .take()
            .expect("a failed search reached a return at least once");
        assert!(best.prefix.len() < self.ops.len());
        Outcome::Violation(best)
    }
}

#[inline]
fn is_linearized(free_bit: &[u8], closed: &[u64], free: u64, op: u32) -> bool {
    let op = op as usize;
    match free_bit[op] {
        NOT_FREE => closed[op / 64] & (1 << (op % 64)) != 0,
        bit => free & (1 << bit) != 0,
    }
}

/// Numbers the free operations: open (unknown outcome), accepted in every state, and not
/// read-only (those are linearized greedily anyway).
fn free_bits<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    read_only: &[bool],
) -> Vec<u8> {
    let mut count = 0;
    ops.iter()
        .zip(read_only)
        .map(|(op, &read_only)| {
            let free = op.ret.is_none()
                && !read_only
                && count < MAX_FREE
                && model.accepts_every_state(&op.input, &op.output);
            if !free {
                return NOT_FREE;
            }
            count += 1;
            (count - 1) as u8
        })
        .collect()
}
