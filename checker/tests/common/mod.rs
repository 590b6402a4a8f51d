//! Helpers shared by the checker's integration tests: compact history builders, a
//! brute-force linearizability checker to compare the engine against, and a seeded PRNG.

#![allow(dead_code)]

use zksim_checker::external::register::{RegisterInput, RegisterOutput};
use zksim_checker::linearizability::{Model, Operation};

pub type RegisterOp = Operation<RegisterInput, RegisterOutput>;

/// An operation that returned: process, input, output, call time, return time.
pub fn done<I, O>(process: u64, input: I, output: O, call: u64, ret: u64) -> Operation<I, O> {
    Operation::completed(process, input, output, call, ret)
}

/// An operation whose outcome is unknown (`:info`): open until the end.
pub fn info<I, O>(process: u64, input: I, output: O, call: u64) -> Operation<I, O> {
    Operation::open(process, input, output, call)
}

/// Whether some order of `ops` that respects real time is legal for `model`: tries every
/// order (exponential; for a handful of operations only).
pub fn brute_force<M: Model>(model: &M, ops: &[Operation<M::Input, M::Output>]) -> bool {
    let mut done = vec![false; ops.len()];
    extend(model, ops, &mut done, model.init(), ops.len())
}

fn extend<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    done: &mut [bool],
    state: M::State,
    left: usize,
) -> bool {
    if left == 0 {
        return true;
    }
    for i in 0..ops.len() {
        // `i` may come next unless a pending operation returned before `i` was called.
        let minimal = (0..ops.len())
            .all(|j| done[j] || j == i || ops[j].ret.is_none_or(|ret| ret >= ops[i].call));
        if done[i] || !minimal {
            continue;
        }
        let mut next = Vec::new();
        model.step(&state, &ops[i].input, &ops[i].output, &mut next);
        for state in next {
            done[i] = true;
            let found = extend(model, ops, done, state, left - 1);
            done[i] = false;
            if found {
                return true;
            }
        }
    }
    false
}

/// splitmix64: a small deterministic generator, so every case is reproducible by seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}
