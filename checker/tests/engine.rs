//! The engine's contract, independent of any one model: budgets end in Unknown, malformed
//! histories are refused, models may offer several next states, and operations that touch
//! several keys join their keys' partitions (as a ZooKeeper `multi` will).

mod common;

use std::collections::BTreeMap;

use common::{RegisterOp, done, info};
use zksim_checker::external::CasRegister;
use zksim_checker::external::register::{RegisterInput as In, RegisterOutput as Out};
use zksim_checker::linearizability::{Budget, Model, UnknownReason, Verdict, check};

const NIL_START: CasRegister = CasRegister { initial: None };

/// A register history that is linearizable but takes the search some steps.
fn busy_history() -> Vec<RegisterOp> {
    vec![
        done(0, In::Write(1), Out::Ok, 0, 10),
        done(1, In::Write(2), Out::Ok, 1, 11),
        done(
            2,
            In::Cas {
                expected: 2,
                new: 3,
            },
            Out::Ok,
            2,
            12,
        ),
        info(3, In::Write(4), Out::Unknown, 3),
        done(4, In::Read, Out::Read(Some(1)), 13, 14),
        done(5, In::Read, Out::Read(Some(4)), 15, 16),
    ]
}

// Any budget smaller than the work needed gives Unknown, never Linearizable; enough budget
// gives the verdict.
#[test]
fn tiny_budget_gives_unknown_not_linearizable() {
    let ops = busy_history();
    let full = check(&NIL_START, &ops, Budget::default());
    assert_eq!(full.verdict, Verdict::Linearizable);
    assert!(full.stats.steps > 2, "the history should need a few steps");
    for max_steps in 0..full.stats.steps {
        let verdict = check(&NIL_START, &ops, Budget::steps(max_steps)).verdict;
        let Verdict::Unknown(UnknownReason::BudgetExhausted {
            partitions_checked, ..
        }) = verdict
        else {
            panic!("budget {max_steps}: expected Unknown, got {verdict:?}");
        };
        assert_eq!(partitions_checked, 0);
    }
    let exact = check(&NIL_START, &ops, Budget::steps(full.stats.steps));
    assert_eq!(exact.verdict, Verdict::Linearizable);
}

// A violating history with a small budget is Unknown or a Violation, never Linearizable.
#[test]
fn tiny_budget_never_clears_a_violation() {
    let mut ops = busy_history();
    ops.push(done(6, In::Read, Out::Read(Some(2)), 17, 18));
    let full = check(&NIL_START, &ops, Budget::default());
    assert!(full.verdict.is_violation());
    for max_steps in 0..=full.stats.steps {
        let verdict = check(&NIL_START, &ops, Budget::steps(max_steps)).verdict;
        assert!(!verdict.is_linearizable(), "budget {max_steps}");
    }
}

// An operation that returns before it is invoked makes the history malformed.
#[test]
fn return_before_call_is_malformed() {
    let ops = [
        done(0, In::Write(1), Out::Ok, 0, 1),
        done(1, In::Read, Out::Read(None), 5, 4),
    ];
    let verdict = check(&NIL_START, &ops, Budget::default()).verdict;
    assert!(matches!(
        verdict,
        Verdict::Unknown(UnknownReason::MalformedHistory { operation: 1, .. })
    ));
}

// The empty history is linearizable and has no partitions.
#[test]
fn empty_history_is_linearizable() {
    let result = check(&NIL_START, &[], Budget::default());
    assert_eq!(result.verdict, Verdict::Linearizable);
    assert_eq!(result.stats.partitions, 0);
}

/// A coin: `Flip` lands on 1 or 2, the model does not say which; `Look` sees the face.
struct Coin;

#[derive(Debug)]
enum CoinOp {
    Flip,
    Look(u8),
}

impl Model for Coin {
    type State = u8;
    type Input = CoinOp;
    type Output = ();
    type Key = ();

    fn init(&self) -> u8 {
        0
    }

    fn step(&self, state: &u8, input: &CoinOp, _: &(), next: &mut Vec<u8>) {
        match input {
            CoinOp::Flip => next.extend([1, 2]),
            CoinOp::Look(face) if face == state => next.push(*state),
            CoinOp::Look(_) => {}
        }
    }
}

// Each next state of a nondeterministic step is an alternative: the second face is found
// when the first leads nowhere, and no face explains two different looks without a flip.
#[test]
fn nondeterministic_steps_are_alternatives() {
    let flip_then = |faces: &[u8]| {
        let mut ops = vec![done(0, CoinOp::Flip, (), 0, 1)];
        for (i, &face) in faces.iter().enumerate() {
            ops.push(done(
                1,
                CoinOp::Look(face),
                (),
                2 + 2 * i as u64,
                3 + 2 * i as u64,
            ));
        }
        check(&Coin, &ops, Budget::default()).verdict
    };
    assert_eq!(flip_then(&[2, 2]), Verdict::Linearizable);
    assert_eq!(flip_then(&[1]), Verdict::Linearizable);
    assert!(flip_then(&[1, 2]).is_violation());
    // A second, concurrent flip explains the change.
    let ops = [
        done(0, CoinOp::Flip, (), 0, 1),
        done(2, CoinOp::Flip, (), 2, 9),
        done(1, CoinOp::Look(1), (), 3, 4),
        done(1, CoinOp::Look(2), (), 5, 6),
    ];
    assert_eq!(
        check(&Coin, &ops, Budget::default()).verdict,
        Verdict::Linearizable
    );
}

/// Integer cells read and written singly or atomically in pairs, like ZooKeeper's `multi`.
struct Cells;

#[derive(Debug)]
enum CellOp {
    Write(char, i64),
    WriteBoth((char, i64), (char, i64)),
    ReadBoth(char, char),
}

#[derive(Debug)]
enum CellOut {
    Ok,
    Values(i64, i64),
}

impl Model for Cells {
    type State = BTreeMap<char, i64>;
    type Input = CellOp;
    type Output = CellOut;
    type Key = char;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn step(
        &self,
        state: &Self::State,
        input: &CellOp,
        output: &CellOut,
        next: &mut Vec<Self::State>,
    ) {
        let get = |cell: &char| state.get(cell).copied().unwrap_or(0);
        let mut after = state.clone();
        match (input, output) {
            (CellOp::Write(cell, v), CellOut::Ok) => {
                after.insert(*cell, *v);
            }
            (CellOp::WriteBoth((a, x), (b, y)), CellOut::Ok) => {
                after.insert(*a, *x);
                after.insert(*b, *y);
            }
            (CellOp::ReadBoth(a, b), CellOut::Values(x, y)) if (get(a), get(b)) == (*x, *y) => {}
            _ => return,
        }
        next.push(after);
    }

    fn keys(&self, input: &CellOp, keys: &mut Vec<char>) {
        match input {
            CellOp::Write(cell, _) => keys.push(*cell),
            CellOp::WriteBoth((a, _), (b, _)) | CellOp::ReadBoth(a, b) => keys.extend([*a, *b]),
        }
    }
}

// Single-key operations on different cells are checked as separate partitions.
#[test]
fn independent_keys_are_separate_partitions() {
    let ops = [
        done(0, CellOp::Write('x', 1), CellOut::Ok, 0, 1),
        done(1, CellOp::Write('y', 1), CellOut::Ok, 0, 1),
    ];
    let result = check(&Cells, &ops, Budget::default());
    assert_eq!(result.verdict, Verdict::Linearizable);
    assert_eq!(result.stats.partitions, 2);
}

// A torn read of an atomic two-cell write is a violation only visible when both cells are
// checked together; the multi-key operations join them into one partition.
#[test]
fn multi_key_operations_join_partitions() {
    let ops = [
        done(0, CellOp::Write('x', 5), CellOut::Ok, 0, 1),
        done(1, CellOp::Write('z', 5), CellOut::Ok, 0, 1),
        done(0, CellOp::WriteBoth(('x', 1), ('y', 1)), CellOut::Ok, 2, 10),
        done(1, CellOp::ReadBoth('x', 'y'), CellOut::Values(1, 0), 3, 4),
    ];
    let result = check(&Cells, &ops, Budget::default());
    assert_eq!(result.stats.partitions, 2, "x and y joined, z alone");
    let Verdict::Violation(v) = result.verdict else {
        panic!("expected a violation")
    };
    assert_eq!(v.keys, vec!["'x'".to_string(), "'y'".to_string()]);
    assert_eq!(v.stuck, 3);
    // The same read after the write completed, seeing both cells, is fine.
    let ops = [
        done(0, CellOp::WriteBoth(('x', 1), ('y', 1)), CellOut::Ok, 2, 10),
        done(1, CellOp::ReadBoth('x', 'y'), CellOut::Values(1, 1), 11, 12),
    ];
    assert_eq!(
        check(&Cells, &ops, Budget::default()).verdict,
        Verdict::Linearizable
    );
}
