//! Hand-built histories of a compare-and-set register, each a small story that must or
//! must not be linearizable (porcupine's etcd semantics: the register starts as nil).

mod common;

use common::{RegisterOp, done, info};
use zksim_checker::external::CasRegister;
use zksim_checker::external::register::{RegisterInput as In, RegisterOutput as Out};
use zksim_checker::linearizability::{Budget, Verdict, Violation, check};

const NIL_START: CasRegister = CasRegister { initial: None };

fn verdict(ops: &[RegisterOp]) -> Verdict {
    check(&NIL_START, ops, Budget::default()).verdict
}

fn violation(ops: &[RegisterOp]) -> Violation {
    match verdict(ops) {
        Verdict::Violation(violation) => violation,
        other => panic!("expected a violation, got {other:?}"),
    }
}

fn read(value: i64) -> Out {
    Out::Read(Some(value))
}

fn cas(expected: i64, new: i64) -> In {
    In::Cas { expected, new }
}

// A write followed by a read of the written value is linearizable.
#[test]
fn sequential_write_then_read() {
    let ops = [
        done(0, In::Write(1), Out::Ok, 0, 1),
        done(1, In::Read, read(1), 2, 3),
    ];
    assert_eq!(verdict(&ops), Verdict::Linearizable);
}

// A read concurrent with a write may see the old value or the new one.
#[test]
fn concurrent_read_sees_old_or_new() {
    for seen in [Out::Read(None), read(1)] {
        let ops = [
            done(0, In::Write(1), Out::Ok, 0, 10),
            done(1, In::Read, seen, 2, 3),
        ];
        assert_eq!(verdict(&ops), Verdict::Linearizable, "{seen:?}");
    }
}

// Stale read: after write 2 completed, a read returns the older 1. The report names the
// read and the state the prefix leaves.
#[test]
fn stale_read_is_a_violation() {
    let ops = [
        done(0, In::Write(1), Out::Ok, 0, 1),
        done(0, In::Write(2), Out::Ok, 2, 3),
        done(1, In::Read, read(1), 4, 5),
    ];
    let v = violation(&ops);
    assert_eq!(v.stuck, 2);
    assert_eq!(v.prefix, vec![0, 1]);
    assert_eq!(v.state_after_prefix, "2");
    assert!(v.pending.is_empty());
}

// Lost write: a read of nil after a completed write (nil only before any write).
#[test]
fn lost_write_is_a_violation() {
    let ops = [
        done(0, In::Write(3), Out::Ok, 0, 1),
        done(1, In::Read, Out::Read(None), 2, 3),
    ];
    assert_eq!(violation(&ops).stuck, 1);
}

// CAS double success: two CAS from 0 both succeed with no write of 0 between them.
#[test]
fn cas_double_success_is_a_violation() {
    let ops = [
        done(0, In::Write(0), Out::Ok, 0, 1),
        done(1, cas(0, 1), Out::Ok, 2, 10),
        done(2, cas(0, 2), Out::Ok, 3, 11),
    ];
    assert!(verdict(&ops).is_violation());
    // With a concurrent write of 0, both can succeed.
    let mut ops = ops.to_vec();
    ops.push(done(3, In::Write(0), Out::Ok, 4, 9));
    assert_eq!(verdict(&ops), Verdict::Linearizable);
}

// A CAS that failed although the register held its expected value is a violation.
#[test]
fn cas_failing_on_a_match_is_a_violation() {
    let ops = [
        done(0, In::Write(1), Out::Ok, 0, 1),
        done(1, cas(1, 2), Out::CasFailed, 2, 3),
    ];
    assert!(verdict(&ops).is_violation());
}

// Only linearizable if the :info write took effect late: after a read of nil that came
// after its invocation, and before a later read of its value.
#[test]
fn info_write_may_take_effect_late() {
    let ops = [
        info(0, In::Write(7), Out::Unknown, 0),
        done(1, In::Read, Out::Read(None), 5, 6),
        done(2, In::Read, read(7), 10, 11),
    ];
    assert_eq!(verdict(&ops), Verdict::Linearizable);
}

// ... and the same write may never take effect at all.
#[test]
fn info_write_may_never_take_effect() {
    let ops = [
        info(0, In::Write(7), Out::Unknown, 0),
        done(1, In::Read, Out::Read(None), 20, 21),
    ];
    assert_eq!(verdict(&ops), Verdict::Linearizable);
}

// ... but it takes effect once: nil after its value was read is a violation.
#[test]
fn info_write_takes_effect_at_most_once() {
    let ops = [
        info(0, In::Write(7), Out::Unknown, 0),
        done(1, In::Read, read(7), 10, 11),
        done(2, In::Read, Out::Read(None), 12, 13),
    ];
    assert!(verdict(&ops).is_violation());
}

// An :info CAS applies only if the register held its expected value when it took effect.
#[test]
fn info_cas_applies_only_on_a_match() {
    let base = [
        done(0, In::Write(1), Out::Ok, 0, 1),
        info(1, cas(1, 5), Out::Unknown, 2),
        done(2, In::Write(2), Out::Ok, 3, 4),
    ];
    let mut ops = base.to_vec();
    ops.push(done(3, In::Read, read(5), 10, 11));
    assert!(
        verdict(&ops).is_violation(),
        "the CAS must see 1, so 5 precedes write 2"
    );
    let mut ops = base.to_vec();
    ops.push(done(3, In::Read, read(2), 10, 11));
    assert_eq!(verdict(&ops), Verdict::Linearizable);
}

// A timed-out read (unknown value) is accepted in any state.
#[test]
fn timed_out_read_matches_anything() {
    let ops = [
        done(0, In::Write(1), Out::Ok, 0, 1),
        done(1, In::Read, Out::Unknown, 2, 3),
    ];
    assert_eq!(verdict(&ops), Verdict::Linearizable);
}

// Knossos semantics differ: the register starts at 0, so reading 0 first is fine there and
// a violation under porcupine's nil start.
#[test]
fn initial_value_depends_on_the_format() {
    let ops = [done(0, In::Read, read(0), 0, 1)];
    let knossos = CasRegister { initial: Some(0) };
    assert_eq!(
        check(&knossos, &ops, Budget::default()).verdict,
        Verdict::Linearizable
    );
    assert!(verdict(&ops).is_violation());
}

// The pending operations of a violation are those concurrent with the stuck one that the
// longest prefix could not take in.
#[test]
fn violation_lists_pending_operations() {
    let ops = [
        done(0, In::Write(1), Out::Ok, 0, 1),
        done(1, cas(5, 6), Out::Ok, 2, 20),
        done(2, In::Read, read(3), 3, 4),
    ];
    let v = violation(&ops);
    assert_eq!(v.stuck, 2);
    assert_eq!(v.pending, vec![1]);
    assert_eq!(v.prefix, vec![0]);
    assert_eq!(v.state_after_prefix, "1");
}
