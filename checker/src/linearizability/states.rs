//! The model's state space as the search sees it: interned states and cached transitions.
//!
//! Each distinct state is stored once and named by a `u32`; each `(state, operation)`
//! transition is computed by the model once and then answered from a flat cache. The search
//! itself only ever handles `u32`s, so comparing and hashing states costs the same whether
//! the model's state is an integer or a long string.

use super::history::Operation;
use super::model::Model;
use super::table::{IdTable, hash_of, mix64};

pub(crate) struct StateSpace<'a, M: Model> {
    model: &'a M,
    states: Vec<M::State>,
    state_index: IdTable,
    /// Cached transitions: key `(state << 32) | operation`, value a range of `successors`.
    transition_index: IdTable,
    transition_keys: Vec<u64>,
    transition_ranges: Vec<(u32, u32)>,
    successors: Vec<u32>,
    scratch: Vec<M::State>,
}

impl<'a, M: Model> StateSpace<'a, M> {
    pub(crate) fn new(model: &'a M) -> Self {
        Self {
            model,
            states: Vec::new(),
            state_index: IdTable::new(),
            transition_index: IdTable::new(),
            transition_keys: Vec::new(),
            transition_ranges: Vec::new(),
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
        id
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
        let key = (u64::from(state) << 32) | u64::from(op_id);
        let hash = mix64(key);
        let keys = &self.transition_keys;
        if let Some(t) = self
            .transition_index
            .find(hash, |t| keys[t as usize] == key)
        {
            return self.transition_ranges[t as usize];
        }
        self.compute(key, hash, state, op)
    }

    #[cold]
    fn compute(
        &mut self,
        key: u64,
        hash: u64,
        state: u32,
        op: &Operation<M::Input, M::Output>,
    ) -> (u32, u32) {
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
        let range = (
            u32::try_from(start).expect("fewer than 2^32 cached successors"),
            u32::try_from(self.successors.len() - start).expect("few successors per step"),
        );
        self.transition_index.insert_new(hash);
        self.transition_keys.push(key);
        self.transition_ranges.push(range);
        range
    }

    #[inline]
    pub(crate) fn successor(&self, index: u32) -> u32 {
        self.successors[index as usize]
    }
}
