//! The next observation a state must still be able to reach (see `Model::may_reach`).
//!
//! At any point of the search, the first unlinearized read-only operation in return order
//! is the next observation. If every state-changing operation that could still be
//! linearized before it is monotone, a state the model says cannot reach it is a dead end,
//! however far away the observation is in the list of events.

use super::events::EventList;
use super::history::Operation;
use super::model::Model;

/// Where the lookahead stands on the current path: the first unlinearized observation and
/// the first unlinearized reset (state-changing, not monotone) operation.
#[derive(Clone, Copy, Default)]
pub(crate) struct Mark {
    observation: u32,
    reset: u32,
}

pub(crate) struct Lookahead {
    /// Read-only operations in return order.
    observations: Vec<u32>,
    /// For each observation, how many of `resets` are called before it returns.
    resets_before: Vec<u32>,
    /// Operations that change the state and are not monotone, in call order.
    resets: Vec<u32>,
}

impl Lookahead {
    /// The tables for a partition; empty, which turns the lookahead off, when the model
    /// calls no operation monotone.
    pub(crate) fn new<M: Model>(
        model: &M,
        ops: &[&Operation<M::Input, M::Output>],
        events: &EventList,
        read_only: &[bool],
    ) -> Self {
        let monotone: Vec<bool> = ops
            .iter()
            .map(|op| model.is_monotone(&op.input, &op.output))
            .collect();
        if !monotone.contains(&true) {
            return Self {
                observations: Vec::new(),
                resets_before: Vec::new(),
                resets: Vec::new(),
            };
        }
        let (calls, returns) = events.call_and_return_nodes(ops.len());
        let all = 0..ops.len() as u32;
        let mut observations: Vec<u32> = all.clone().filter(|&op| read_only[op as usize]).collect();
        observations.sort_unstable_by_key(|&op| returns[op as usize]);
        let mut resets: Vec<u32> = all
            .filter(|&op| !read_only[op as usize] && !monotone[op as usize])
            .collect();
        resets.sort_unstable_by_key(|&op| calls[op as usize]);
        let resets_before = observations
            .iter()
            .map(|&op| {
                let ret = returns[op as usize];
                resets.partition_point(|&r| calls[r as usize] < ret) as u32
            })
            .collect();
        Self {
            observations,
            resets_before,
            resets,
        }
    }

    /// The mark moved past the operations `is_linearized` now reports.
    #[inline]
    pub(crate) fn advance(&self, mark: Mark, is_linearized: impl Fn(u32) -> bool) -> Mark {
        let Mark {
            mut observation,
            mut reset,
        } = mark;
        while (observation as usize) < self.observations.len()
            && is_linearized(self.observations[observation as usize])
        {
            observation += 1;
        }
        while (reset as usize) < self.resets.len() && is_linearized(self.resets[reset as usize]) {
            reset += 1;
        }
        Mark { observation, reset }
    }

    /// The observation the current state must be able to reach through monotone
    /// operations alone, if there is one and no reset can still come before it.
    #[inline]
    pub(crate) fn next_observation(&self, mark: Mark) -> Option<u32> {
        let index = mark.observation as usize;
        let &observation = self.observations.get(index)?;
        (mark.reset >= self.resets_before[index]).then_some(observation)
    }
}
