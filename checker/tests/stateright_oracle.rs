//! The ZooKeeper write model against an independent oracle: `ZkModel` as stateright's
//! `SequentialSpec`, and small random histories of concurrent creates, deletes, setData and
//! multis (some answers corrupted, some operations left in flight) on which our search and
//! stateright's `LinearizabilityTester` must reach the same verdict.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};

use zksim_checker::linearizability::{self, Budget, Operation, Verdict};
use zksim_checker::zkmodel::{ZkInput, ZkModel, ZkOutput, ZkState, assign_keys};
use zksim_core::acl::Acl;
use zksim_core::request::{CreateMode, Request};

/// The model as a reference object: a state, and every write applied to it in turn.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Spec(ZkState);

impl SequentialSpec for Spec {
    type Op = ZkInput;
    type Ret = ZkOutput;

    fn invoke(&mut self, op: &ZkInput) -> ZkOutput {
        let (next, told) = ZkModel.run(&self.0, op, &[]);
        self.0 = next;
        told
    }
}

fn random_request(rng: &mut ChaCha8Rng) -> Request {
    let path = ["/a", "/b", "/a/c"][rng.gen_range(0..3)].to_string();
    let simple = |rng: &mut ChaCha8Rng, path: String| match rng.gen_range(0..4) {
        0 => Request::Create {
            path,
            data: Some(vec![rng.gen_range(0..3)]),
            acl: Acl::open_unsafe(),
            mode: if rng.gen_bool(0.2) {
                CreateMode::Ephemeral
            } else {
                CreateMode::Persistent
            },
            ttl: None,
        },
        1 => Request::Delete { path, version: -1 },
        2 => Request::SetData {
            path,
            data: Some(vec![rng.gen_range(0..3)]),
            version: if rng.gen_bool(0.5) {
                -1
            } else {
                rng.gen_range(0..2)
            },
        },
        _ => Request::Create {
            path: "/q".to_string(),
            data: None,
            acl: Acl::open_unsafe(),
            mode: CreateMode::PersistentSequential,
            ttl: None,
        },
    };
    if rng.gen_bool(0.15) {
        let second = ["/a", "/b"][rng.gen_range(0..2)].to_string();
        Request::Multi(vec![simple(rng, path), simple(rng, second)])
    } else {
        simple(rng, path)
    }
}

struct Generated {
    ops: Vec<Operation<ZkInput, ZkOutput>>,
    tester: LinearizabilityTester<u64, Spec>,
}

/// A concurrent run against the model itself (so it is linearizable), then some answers
/// corrupted.
fn random_history(seed: u64) -> Generated {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let threads = rng.gen_range(1..=3u64);
    let mut truth = Spec(ZkState::initial());
    let mut tester = LinearizabilityTester::new(Spec(ZkState::initial()));
    let mut ops: Vec<Operation<ZkInput, ZkOutput>> = Vec::new();
    // Per thread: ops left, and the op in flight (index, applied answer).
    let mut left: Vec<u32> = (0..threads).map(|_| rng.gen_range(1..=3)).collect();
    let mut flight: Vec<Option<(usize, Option<ZkOutput>)>> = vec![None; threads as usize];
    let mut time = 0u64;
    loop {
        let live: Vec<usize> = (0..threads as usize)
            .filter(|&t| left[t] > 0 || flight[t].is_some())
            .collect();
        if live.is_empty() {
            break;
        }
        let t = live[rng.gen_range(0..live.len())];
        time += 1;
        match flight[t].take() {
            None => {
                left[t] -= 1;
                let input = ZkInput::write(
                    0x10 + t as i64,
                    1,
                    random_request(&mut rng),
                    Some(&[]),
                    None,
                );
                tester
                    .on_invoke(t as u64, input.clone())
                    .expect("one op per thread");
                ops.push(Operation::open(t as u64, input, ZkOutput::Unknown, time));
                flight[t] = Some((ops.len() - 1, None));
            }
            Some((i, None)) => {
                let told = truth.invoke(&ops[i].input);
                flight[t] = Some((i, Some(told)));
            }
            Some((i, Some(mut told))) => {
                // Some operations stay in flight for good (their last op only).
                if left[t] == 0 && rng.gen_bool(0.2) {
                    continue;
                }
                if rng.gen_bool(0.25) {
                    told = ZkModel.run(&ZkState::initial(), &ops[i].input, &[]).1;
                }
                tester.on_return(t as u64, told.clone()).expect("in flight");
                ops[i].output = told;
                ops[i].ret = Some(time);
            }
        }
    }
    let mut inputs: Vec<ZkInput> = ops.iter().map(|o| o.input.clone()).collect();
    assign_keys(&mut inputs);
    for (op, input) in ops.iter_mut().zip(inputs) {
        op.input = input;
    }
    Generated { ops, tester }
}

// Our search and stateright's tester agree on every random history, both ways.
#[test]
fn search_agrees_with_stateright() {
    let (mut linearizable, mut not) = (0, 0);
    for seed in 0..400 {
        let g = random_history(seed);
        let ours = linearizability::check(&ZkModel, &g.ops, Budget::steps(1_000_000)).verdict;
        let theirs = g.tester.is_consistent();
        match ours {
            Verdict::Linearizable => {
                assert!(
                    theirs,
                    "seed {seed}: we say linearizable, stateright does not: {:#?}",
                    g.ops
                );
                linearizable += 1;
            }
            Verdict::Violation(_) => {
                assert!(
                    !theirs,
                    "seed {seed}: we find a violation, stateright does not: {:#?}",
                    g.ops
                );
                not += 1;
            }
            Verdict::Unknown(why) => panic!("seed {seed}: {why}"),
        }
    }
    // Both verdicts are well represented.
    assert!(linearizable > 100, "{linearizable} linearizable");
    assert!(not > 50, "{not} not linearizable");
}
