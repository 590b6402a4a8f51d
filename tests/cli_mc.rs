//! `zksim mc` end to end: a knob is found with its shortest path, the path is saved and
//! replays step by step to the same violation, and the default build passes its bound.

mod common;

use common::{TempDir, stdout, zksim};

#[test]
fn a_knob_is_found_saved_and_replayed() {
    let dir = TempDir::new("mc");
    let out = dir.path("cx.json");
    let bounds = [
        "mc",
        "--established",
        "--writes",
        "1",
        "--crashes",
        "0",
        "--timers",
        "0",
        "--epochs",
        "2",
    ];
    let mut args = bounds.to_vec();
    args.extend(["--bug", "ack-before-fsync", "--out", &out]);
    let o = zksim(&args);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(text.contains("states explored"), "{text}");
    assert!(
        text.contains("VIOLATION: a committed txn is durable on a quorum, after 4 steps"),
        "{text}"
    );
    assert!(text.contains("   2. deliver S3 -> S1 (PROPOSAL)"), "{text}");
    let replay = zksim(&["mc", "--replay", &out]);
    assert_eq!(replay.status.code(), Some(1));
    let text = stdout(&replay);
    assert!(text.contains("   4. fsync S3"), "{text}");
    assert!(
        text.contains("VIOLATION: a committed txn is durable on a quorum"),
        "{text}"
    );
    // The same bounds without the knob: explored whole, nothing broken.
    let clean = zksim(&bounds);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    assert!(stdout(&clean).contains("every state within the bounds explored"));
}
