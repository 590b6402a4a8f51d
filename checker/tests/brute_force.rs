//! The engine agrees with a brute-force search over every order of small random
//! histories. The engine prunes hard (greedy reads, dominance among operations of unknown
//! outcome, lookahead to the next observation); a brute-force search does none of that, so
//! any pruning that loses a linearization shows up here. Every case is reproducible from
//! its seed.

mod common;

use common::{Rng, brute_force};
use zksim_checker::external::kv::{KvInput, KvOp, KvOutput};
use zksim_checker::external::register::{RegisterInput, RegisterOutput};
use zksim_checker::external::{CasRegister, KeyValue};
use zksim_checker::linearizability::{Budget, Model, Operation, check};

const CASES: u64 = 20_000;

/// Call and return times for one random operation; `None` return for an unknown outcome.
fn times(rng: &mut Rng, open_one_in: u64) -> (u64, Option<u64>) {
    let call = rng.below(16);
    let ret = (!rng.one_in(open_one_in)).then(|| call + rng.below(8));
    (call, ret)
}

fn assert_agrees<M: Model>(model: &M, ops: &[Operation<M::Input, M::Output>], seed: u64)
where
    M::Input: Clone,
    M::Output: Clone,
{
    let expected = brute_force(model, ops);
    let got = check(model, ops, Budget::default()).verdict;
    assert_eq!(
        got.is_linearizable(),
        expected,
        "seed {seed}: engine says {got:?}\n{ops:#?}"
    );
    assert_eq!(got.is_violation(), !expected, "seed {seed}: {got:?}");
}

fn random_register_op(rng: &mut Rng) -> Operation<RegisterInput, RegisterOutput> {
    use RegisterInput as I;
    use RegisterOutput as O;
    let (call, ret) = times(rng, 3);
    let value = rng.below(3) as i64;
    let input = match rng.below(3) {
        0 => I::Read,
        1 => I::Write(value),
        _ => I::Cas {
            expected: rng.below(3) as i64,
            new: value,
        },
    };
    let output = match (ret, input) {
        (None, _) => O::Unknown,
        (Some(_), I::Read) if rng.one_in(6) => O::Unknown,
        (Some(_), I::Read) if rng.one_in(4) => O::Read(None),
        (Some(_), I::Read) => O::Read(Some(rng.below(3) as i64)),
        (Some(_), I::Write(_)) => O::Ok,
        (Some(_), I::Cas { .. }) if rng.one_in(2) => O::Ok,
        (Some(_), I::Cas { .. }) => O::CasFailed,
    };
    Operation {
        process: 0,
        input,
        output,
        call,
        ret,
    }
}

// Registers starting at nil (porcupine) and at 0 (Knossos), with :info operations.
#[test]
fn register_agrees_with_brute_force() {
    for seed in 0..CASES {
        let mut rng = Rng::new(seed);
        let model = CasRegister {
            initial: if rng.one_in(2) { None } else { Some(0) },
        };
        let n = 1 + rng.below(7) as usize;
        let ops: Vec<_> = (0..n).map(|_| random_register_op(&mut rng)).collect();
        assert_agrees(&model, &ops, seed);
    }
}

fn random_kv_op(rng: &mut Rng) -> Operation<KvInput, KvOutput> {
    let (call, ret) = times(rng, 5);
    let key = if rng.one_in(4) { "k2" } else { "k" }.to_string();
    let piece = ["a", "b"][rng.below(2) as usize].to_string();
    let op = match rng.below(4) {
        0 => KvOp::Get,
        1 => KvOp::Put(piece),
        _ => KvOp::Append(piece),
    };
    let output = match (ret, &op) {
        (None, _) => KvOutput::Unknown,
        (Some(_), KvOp::Get) => {
            KvOutput::Value(["", "a", "b", "ab", "ba", "aab"][rng.below(6) as usize].to_string())
        }
        (Some(_), _) => KvOutput::Ok,
    };
    Operation {
        process: 0,
        input: KvInput { key, op },
        output,
        call,
        ret,
    }
}

// Key-value stores with puts, appends and gets on two keys (the brute force checks each key
// on its own, as the model requires).
#[test]
fn kv_agrees_with_brute_force() {
    for seed in 0..CASES {
        let mut rng = Rng::new(seed);
        let n = 1 + rng.below(8) as usize;
        let ops: Vec<_> = (0..n).map(|_| random_kv_op(&mut rng)).collect();
        let expected = ["k", "k2"].iter().all(|key| {
            let part: Vec<_> = ops
                .iter()
                .filter(|op| op.input.key == *key)
                .cloned()
                .collect();
            brute_force(&KeyValue, &part)
        });
        let got = check(&KeyValue, &ops, Budget::default()).verdict;
        assert_eq!(
            got.is_linearizable(),
            expected,
            "seed {seed}: {got:?}\n{ops:#?}"
        );
    }
}

/// A model whose writes may be lost: `Write(v)` leaves the old value or stores `v`, so every
/// step offers alternatives.
struct LossyRegister;

#[derive(Clone, Debug)]
enum Lossy {
    Write(u8),
    Read(u8),
}

impl Model for LossyRegister {
    type State = u8;
    type Input = Lossy;
    type Output = ();
    type Key = ();

    fn init(&self) -> u8 {
        0
    }

    fn step(&self, state: &u8, input: &Lossy, _: &(), next: &mut Vec<u8>) {
        match input {
            Lossy::Write(v) => next.extend([*v, *state]),
            Lossy::Read(v) if v == state => next.push(*state),
            Lossy::Read(_) => {}
        }
    }

    fn is_read_only(&self, input: &Lossy, _: &()) -> bool {
        matches!(input, Lossy::Read(_))
    }

    fn accepts_every_state(&self, input: &Lossy, _: &()) -> bool {
        matches!(input, Lossy::Write(_))
    }
}

// Nondeterministic steps, open operations and greedy reads together.
#[test]
fn nondeterministic_model_agrees_with_brute_force() {
    for seed in 0..CASES {
        let mut rng = Rng::new(seed);
        let n = 1 + rng.below(7) as usize;
        let ops: Vec<_> = (0..n)
            .map(|_| {
                let (call, ret) = times(&mut rng, 3);
                let v = rng.below(3) as u8;
                let read = ret.is_some() && rng.one_in(2);
                let input = if read {
                    Lossy::Read(v)
                } else {
                    Lossy::Write(v)
                };
                Operation {
                    process: 0,
                    input,
                    output: (),
                    call,
                    ret,
                }
            })
            .collect();
        assert_agrees(&LossyRegister, &ops, seed);
    }
}
