//! The model's state space as the search sees it: interned states and cached transitions.
//!
//! Each distinct state is stored once and named by a `u32`; each `(state, operation)`
//! transition is computed by the model once and then answered from a cache. The search
//! itself only ever handles `u32`s, so comparing and hashing states costs the same whether
//! the model's state is an integer or a long string.
//!
//! The cache is a dense table (one row per state, one entry per operation) while that
//! stays small, as it does for registers, and a hash table for the states beyond.

use super::history::Operation;
use super::model::Model;
use super::table::{IdTable, hash_of, mix64};

/// At most this many dense cache entries (8 bytes each) per partition.
const DENSE_ENTRIES_MAX: usize = 1 << 20;
/// A dense entry not computed yet.
const UNKNOWN: u64 = u64::MAX;

pub(crate) struct StateSpace<'a, M: Model> {
    model: &'a M,
    /// How many operations the partition has: the width of a dense row.
    ops: usize,
    /// `DENSE_ENTRIES_MAX`, or less in tests.
    dense_entries_max: usize,
    states: Vec<M::State>,
    state_index: IdTable,
    /// Cached transitions of the first states: `dense[state * ops + op]` is a packed range of
    /// `successors` (`start << 32 | len`), or `UNKNOWN`.
    dense: Vec<u64>,
    /// Cached transitions of the other states: key `(state << 32) | op`.
    sparse_index: IdTable,
    sparse_keys: Vec<u64>,
    sparse_ranges: Vec<u64>,
    successors: Vec<u32>,
    scratch: Vec<M::State>,
}

impl<'a, M: Model> StateSpace<'a, M> {
    pub(crate) fn new(model: &'a M, ops: usize) -> Self {
        Self::with_dense_limit(model, ops, DENSE_ENTRIES_MAX)
    }

    fn with_dense_limit(model: &'a M, ops: usize, dense_entries_max: usize) -> Self {
        Self {
            model,
            ops,
            dense_entries_max,
            states: Vec::new(),
            state_index: IdTable::new(),
            dense: Vec::new(),
            sparse_index: IdTable::new(),
            sparse_keys: Vec::new(),
            sparse_ranges: Vec::new(),
            successors: Vec::new(),
            scratch: Vec::new(),
        }
    }

    pub(crate) fn intern(&mut self, state: M::State) -> u32 {
        let hash = hash_of(&state);
        let states = &self.states;
        if let Some(id) = self
            .state_index
            .find(hash, |id| states[id as usize] == state)
        {
            return id;
        }
        let id = self.state_index.insert_new(hash);
        self.states.push(state);
        assert_eq!(self.states.len(), self.state_index.len());
        if self.is_dense(id) {
            assert_eq!(self.dense.len(), id as usize * self.ops);
            self.dense.resize(self.dense.len() + self.ops, UNKNOWN);
        }
        id
    }

    /// Whether `state` has a dense row (rows are handed out in order while they fit).
    #[inline]
    fn is_dense(&self, state: u32) -> bool {
        (state as usize + 1) * self.ops <= self.dense_entries_max
    }

    pub(crate) fn model(&self) -> &'a M {
        self.model
    }

    pub(crate) fn state(&self, id: u32) -> &M::State {
        &self.states[id as usize]
    }

    /// The states `op` (the partition's operation number `op_id`) can lead to from `state`,
    /// as a range of `successor`, without duplicates.
    #[inline]
    pub(crate) fn successors(
        &mut self,
        state: u32,
        op_id: u32,
        op: &Operation<M::Input, M::Output>,
    ) -> (u32, u32) {
        if self.is_dense(state) {
            let slot = state as usize * self.ops + op_id as usize;
            let packed = self.dense[slot];
            if packed != UNKNOWN {
                return unpack(packed);
            }
            let packed = self.compute(state, op);
            self.dense[slot] = packed;
            return unpack(packed);
        }
        let key = (u64::from(state) << 32) | u64::from(op_id);
        let hash = mix64(key);
        let keys = &self.sparse_keys;
        if let Some(t) = self.sparse_index.find(hash, |t| keys[t as usize] == key) {
            return unpack(self.sparse_ranges[t as usize]);
        }
        let packed = self.compute(state, op);
        self.sparse_index.insert_new(hash);
        self.sparse_keys.push(key);
        self.sparse_ranges.push(packed);
        unpack(packed)
    }

    /// Steps the model and interns the results; returns them as a packed range.
    #[cold]
    fn compute(&mut self, state: u32, op: &Operation<M::Input, M::Output>) -> u64 {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        self.model.step(
            &self.states[state as usize],
            &op.input,
            &op.output,
            &mut scratch,
        );
        let start = self.successors.len();
        for next in scratch.drain(..) {
            let id = self.intern(next);
            if !self.successors[start..].contains(&id) {
                self.successors.push(id);
            }
        }
        self.scratch = scratch;
        let start = u32::try_from(start).expect("fewer than 2^32 cached successors");
        let len = u32::try_from(self.successors.len()).expect("few successors") - start;
        (u64::from(start) << 32) | u64::from(len)
    }

    #[inline]
    pub(crate) fn successor(&self, index: u32) -> u32 {
        self.successors[index as usize]
    }
}

#[inline]
fn unpack(packed: u64) -> (u32, u32) {
    ((packed >> 32) as u32, packed as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter: `Add(n)` moves it by n, or by n and by 2n (two alternatives); `Expect(v)`
    /// accepts only v.
    struct Counter;

    #[derive(Debug)]
    enum CounterOp {
        Add(u32, bool),
        Expect(u32),
    }

    impl Model for Counter {
        type State = u32;
        type Input = CounterOp;
        type Output = ();
        type Key = ();

        fn init(&self) -> u32 {
            0
        }

        fn step(&self, state: &u32, input: &CounterOp, _: &(), next: &mut Vec<u32>) {
            match *input {
                CounterOp::Add(n, twice) => {
                    next.push(state + n);
                    if twice {
                        next.push(state + 2 * n);
                        next.push(state + n);
                    }
                }
                CounterOp::Expect(v) if v == *state => next.push(v),
                CounterOp::Expect(_) => {}
            }
        }
    }

    // Cached transitions answer what the model says, from dense rows and from the sparse
    // table beyond them alike, without duplicate successors.
    #[test]
    fn cached_transitions_match_the_model() {
        let ops = [
            Operation::completed(0, CounterOp::Add(1, false), (), 0, 1),
            Operation::completed(0, CounterOp::Add(3, true), (), 0, 1),
            Operation::completed(0, CounterOp::Expect(4), (), 0, 1),
        ];
        let mut space = StateSpace::with_dense_limit(&Counter, ops.len(), 3 * 5);
        let mut frontier = vec![space.intern(0)];
        for _ in 0..6 {
            let mut next_frontier = Vec::new();
            for &state in &frontier {
                for (id, op) in ops.iter().enumerate() {
                    for _ in 0..2 {
                        let (start, len) = space.successors(state, id as u32, op);
                        let got: Vec<u32> = (start..start + len)
                            .map(|i| *space.state(space.successor(i)))
                            .collect();
                        let mut expected = Vec::new();
                        Counter.step(space.state(state), &op.input, &(), &mut expected);
                        let mut unique = Vec::new();
                        for v in expected {
                            if !unique.contains(&v) {
                                unique.push(v);
                            }
                        }
                        let expected = unique;
                        assert_eq!(got, expected);
                        next_frontier.extend((start..start + len).map(|i| space.successor(i)));
                    }
                }
            }
            next_frontier.sort_unstable();
            next_frontier.dedup();
            frontier = next_frontier;
        }
        assert!(
            space.states.len() > 5,
            "some states live beyond the dense rows"
        );
        assert!(!space.sparse_keys.is_empty());
    }
}
