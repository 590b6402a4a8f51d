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

/// ChaCha8 (rand_chacha) from the seed, the generator every seeded part of zksim uses, so
/// every case is reproducible by seed.
pub struct Rng(rand_chacha::ChaCha8Rng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        use rand::SeedableRng;
        Self(rand_chacha::ChaCha8Rng::seed_from_u64(seed))
    }

    pub fn next(&mut self) -> u64 {
        rand::RngCore::next_u64(&mut self.0)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        use rand::Rng as _;
        self.0.gen_range(0..n)
    }

    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}
