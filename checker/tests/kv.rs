//! Hand-built key-value histories (porcupine's kv semantics: get/put/append on strings, a
//! missing key reads "", checked per key).

mod common;

use common::{done, info};
use zksim_checker::external::KeyValue;
use zksim_checker::external::kv::{KvInput, KvOp, KvOutput};
use zksim_checker::linearizability::{Budget, Operation, Verdict, check};

type KvOperation = Operation<KvInput, KvOutput>;

fn get(key: &str) -> KvInput {
    KvInput {
        key: key.into(),
        op: KvOp::Get,
    }
}

fn put(key: &str, value: &str) -> KvInput {
    KvInput {
        key: key.into(),
        op: KvOp::Put(value.into()),
    }
}

fn append(key: &str, value: &str) -> KvInput {
    KvInput {
        key: key.into(),
        op: KvOp::Append(value.into()),
    }
}

fn value(v: &str) -> KvOutput {
    KvOutput::Value(v.into())
}

fn verdict(ops: &[KvOperation]) -> Verdict {
    check(&KeyValue, ops, Budget::default()).verdict
}

// Two concurrent appends may land in either order, but a get after both sees both.
#[test]
fn concurrent_appends_in_either_order() {
    for (seen, ok) in [
        ("ab", true),
        ("ba", true),
        ("a", false),
        ("bb", false),
        ("abb", false),
    ] {
        let ops = [
            done(0, append("k", "a"), KvOutput::Ok, 0, 10),
            done(1, append("k", "b"), KvOutput::Ok, 1, 11),
            done(2, get("k"), value(seen), 12, 13),
        ];
        let expected = if ok { "linearizable" } else { "a violation" };
        assert_eq!(
            verdict(&ops).is_linearizable(),
            ok,
            "get {seen:?} should be {expected}"
        );
    }
}

// A missing key reads ""; after a completed put it no longer does.
#[test]
fn missing_key_reads_empty() {
    let ops = [done(0, get("k"), value(""), 0, 1)];
    assert_eq!(verdict(&ops), Verdict::Linearizable);
    let ops = [
        done(0, put("k", "x"), KvOutput::Ok, 0, 1),
        done(1, get("k"), value(""), 2, 3),
    ];
    assert!(verdict(&ops).is_violation());
}

// A put replaces what appends built.
#[test]
fn put_replaces_the_value() {
    let ops = [
        done(0, append("k", "a"), KvOutput::Ok, 0, 1),
        done(0, put("k", "c"), KvOutput::Ok, 2, 3),
        done(0, append("k", "d"), KvOutput::Ok, 4, 5),
        done(1, get("k"), value("cd"), 6, 7),
    ];
    assert_eq!(verdict(&ops), Verdict::Linearizable);
}

// Lost append: a get after two completed appends sees only the first.
#[test]
fn lost_append_is_a_violation() {
    let ops = [
        done(0, append("k", "a"), KvOutput::Ok, 0, 1),
        done(0, append("k", "b"), KvOutput::Ok, 2, 3),
        done(1, get("k"), value("a"), 4, 5),
    ];
    assert!(verdict(&ops).is_violation());
}

// Keys are independent: each is its own partition, and the violation names its key.
#[test]
fn violation_names_its_key() {
    let ops = [
        done(0, put("x", "1"), KvOutput::Ok, 0, 1),
        done(1, put("y", "1"), KvOutput::Ok, 0, 1),
        done(0, get("x"), value("1"), 2, 3),
        done(1, get("y"), value("2"), 2, 3),
    ];
    let result = check(&KeyValue, &ops, Budget::default());
    assert_eq!(result.stats.partitions, 2);
    let Verdict::Violation(v) = result.verdict else {
        panic!("expected a violation")
    };
    assert_eq!(v.keys, vec!["\"y\"".to_string()]);
    assert_eq!(v.partition_len, 2);
    assert_eq!(v.stuck, 3);
}

// Only linearizable if the :info append took effect, late, before the get that shows it.
#[test]
fn info_append_may_take_effect_late() {
    let ops = [
        info(0, append("k", "a"), KvOutput::Unknown, 0),
        done(1, get("k"), value(""), 5, 6),
        done(2, append("k", "b"), KvOutput::Ok, 7, 8),
        done(3, get("k"), value("ba"), 9, 10),
    ];
    assert_eq!(verdict(&ops), Verdict::Linearizable);
    let mut ops = ops.to_vec();
    ops.push(done(4, get("k"), value("b"), 11, 12));
    assert!(verdict(&ops).is_violation(), "the append cannot be undone");
}

// A get far in the future prunes orders of appends that cannot lead to its value, and
// the search still finds the one order that does.
#[test]
fn many_concurrent_appends_one_observed_order() {
    let pieces = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    let mut ops: Vec<KvOperation> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| done(i as u64, append("k", p), KvOutput::Ok, i as u64, 100))
        .collect();
    ops.push(done(99, get("k"), value("jihgfedcba"), 101, 102));
    let result = check(&KeyValue, &ops, Budget::default());
    assert_eq!(result.verdict, Verdict::Linearizable);
    assert!(
        result.stats.steps < 1_000,
        "took {} steps",
        result.stats.steps
    );
}
