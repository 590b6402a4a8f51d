//! The data tree's answers, one ZooKeeper 3.8 rule per test: every error path of every
//! operation, stats, sequential names, multi, ACLs, watches and reaping. Each test is a
//! small replay file (docs/tree-replay.md) and the fields its answers must have.

use serde_json::Value;
use zksim_core::replay::replay_text;

/// Replay `ops` (one JSON object per line) and return the result lines.
fn run(ops: &str) -> Vec<Value> {
    replay_text(ops)
        .expect("valid replay input")
        .into_iter()
        .map(|r| r.json)
        .collect()
}

fn err(v: &Value) -> &str {
    v["err"].as_str().expect("err is a string")
}

/// The error codes of the results, in order.
fn errs(results: &[Value]) -> Vec<&str> {
    results.iter().map(err).collect()
}

const S1: &str = r#"{"s":1,"op":"connect"}"#;

fn with_session(body: &str) -> Vec<Value> {
    let results = run(&format!("{S1}\n{body}"));
    results[1..].to_vec()
}

#[test]
fn create_error_paths_in_zookeeper_order() {
    // PrepRequestProcessor.pRequest2TxnCreate checks, in order: path shape, ACL validity,
    // parent existence, CREATE permission, full path validity, existence, ephemeral parent.
    let r = with_session(
        r#"{"s":1,"op":"create","path":"a"}
{"s":1,"op":"create","path":"/a","acl":[]}
{"s":1,"op":"create","path":"/a","acl":[{"perms":31,"scheme":"world","id":"nobody"}]}
{"s":1,"op":"create","path":"/missing/b"}
{"s":1,"op":"create","path":"/a//b"}
{"s":1,"op":"create","path":"/ro","acl":[{"perms":1,"scheme":"world","id":"anyone"}]}
{"s":1,"op":"create","path":"/ro/child"}
{"s":1,"op":"create","path":"/a"}
{"s":1,"op":"create","path":"/a/"}
{"s":1,"op":"create","path":"/a"}
{"s":1,"op":"create","path":"/e","mode":"ephemeral"}
{"s":1,"op":"create","path":"/e/child"}
{"s":1,"op":"create","path":"/a\u0000b"}"#,
    );
    assert_eq!(
        errs(&r),
        [
            "BADARGUMENTS",
            "INVALIDACL",
            "INVALIDACL",
            "NONODE",
            "NONODE",
            "OK",
            "NOAUTH",
            "OK",
            "BADARGUMENTS",
            "NODEEXISTS",
            "OK",
            "NOCHILDRENFOREPHEMERALS",
            "BADARGUMENTS"
        ]
    );
}

#[test]
fn failed_writes_take_a_zxid_and_reads_do_not() {
    // Prep turns a failed write into an error txn with its own zxid.
    let r = run(&format!(
        "{S1}\n{}\n{}\n{}\n{}",
        r#"{"s":1,"op":"create","path":"/a"}"#,
        r#"{"s":1,"op":"create","path":"/a"}"#,
        r#"{"s":1,"op":"get_data","path":"/a"}"#,
        r#"{"s":1,"op":"set_data","path":"/a","data":"x"}"#
    ));
    let zxids: Vec<i64> = r[1..]
        .iter()
        .map(|v| v["zxid"].as_i64().expect("zxid"))
        .collect();
    assert_eq!(zxids, [2, 3, 3, 4]);
    assert_eq!(r[4]["stat"]["mzxid"], 4);
    assert_eq!(r[4]["stat"]["czxid"], 2);
}

#[test]
fn sequential_names_come_from_the_parents_cversion() {
    // The suffix is the parent's stored cversion (creations only) before the create,
    // formatted %010d; deletes do not reuse numbers.
    let r = with_session(
        r#"{"s":1,"op":"create","path":"/q"}
{"s":1,"op":"create","path":"/q/n-","mode":"persistent_sequential"}
{"s":1,"op":"create","path":"/q/x"}
{"s":1,"op":"delete","path":"/q/x"}
{"s":1,"op":"create","path":"/q/n-","mode":"ephemeral_sequential"}
{"s":1,"op":"get_children","path":"/q"}"#,
    );
    assert_eq!(r[1]["path"], "/q/n-0000000000");
    assert_eq!(r[4]["path"], "/q/n-0000000002");
    // Clients see cversion = 2 * creations - children: 3 creations, 2 children left.
    assert_eq!(r[5]["stat"]["cversion"], 4);
    assert_eq!(r[5]["stat"]["numChildren"], 2);
}

#[test]
fn delete_error_paths() {
    // getParentPathAndValidate, parent existence, DELETE permission on the parent, node
    // existence, version, children.
    let r = with_session(
        r#"{"s":1,"op":"create","path":"/p"}
{"s":1,"op":"create","path":"/p/c"}
{"s":1,"op":"delete","path":"/"}
{"s":1,"op":"delete","path":"/zookeeper"}
{"s":1,"op":"delete","path":"/zookeeper/config"}
{"s":1,"op":"delete","path":"nope"}
{"s":1,"op":"delete","path":"/missing/c"}
{"s":1,"op":"delete","path":"/p/missing"}
{"s":1,"op":"delete","path":"/p/c","version":5}
{"s":1,"op":"delete","path":"/p"}
{"s":1,"op":"set_acl","path":"/p","acl":[{"perms":23,"scheme":"world","id":"anyone"}]}
{"s":1,"op":"delete","path":"/p/c"}
{"s":1,"op":"delete","path":"/p/c","version":0}"#,
    );
    assert_eq!(
        errs(&r[2..]),
        [
            "BADARGUMENTS",
            "BADARGUMENTS",
            "BADARGUMENTS",
            "BADARGUMENTS",
            "NONODE",
            "NONODE",
            "BADVERSION",
            "NOTEMPTY",
            "OK",
            "NOAUTH",
            "NOAUTH"
        ]
    );
}

#[test]
fn set_data_and_versions() {
    // Version -1 matches anything; a match bumps the version and mzxid.
    let r = with_session(
        r#"{"s":1,"op":"create","path":"/v","data":"a"}
{"s":1,"op":"set_data","path":"/v","data":"bb","version":0}
{"s":1,"op":"set_data","path":"/v","data":"c","version":0}
{"s":1,"op":"set_data","path":"/v","data":null}
{"s":1,"op":"get_data","path":"/v"}
{"s":1,"op":"set_data","path":"/v/","data":""}
{"s":1,"op":"set_data","path":"/nope","data":""}
{"s":1,"op":"set_data","path":"/zookeeper/config","data":""}"#,
    );
    assert_eq!(
        errs(&r),
        [
            "OK",
            "OK",
            "BADVERSION",
            "OK",
            "OK",
            "BADARGUMENTS",
            "NONODE",
            "NOAUTH"
        ]
    );
    assert_eq!(r[1]["stat"]["version"], 1);
    assert_eq!(r[1]["stat"]["dataLength"], 2);
    assert_eq!(r[4]["data"], Value::Null);
    assert_eq!(r[4]["stat"]["version"], 2);
    assert_eq!(r[4]["stat"]["dataLength"], 0);
}

#[test]
fn data_over_one_megabyte_is_refused_with_a_reason() {
    // zksim's limit stands for ZooKeeper's jute.maxbuffer; the reply says what is wrong.
    let big = "x".repeat(1024 * 1024 + 1);
    let text = format!(
        "{S1}\n{{\"s\":1,\"op\":\"create\",\"path\":\"/big\",\"data\":\"{big}\"}}\n{{\"s\":1,\"op\":\"create\",\"path\":\"/ok\",\"data\":\"{}\"}}",
        &big[1..]
    );
    let results = replay_text(&text).expect("valid input");
    assert_eq!(results[1].json["err"], "BADARGUMENTS");
    let message = results[1].message.as_deref().expect("a reason");
    assert!(message.contains("1048577 bytes"), "{message}");
    assert_eq!(results[2].json["err"], "OK");
}

#[test]
fn ttl_and_container_validation() {
    // EphemeralType.validateTTL: TTL modes need 0 < ttl <= max; other modes refuse a ttl.
    let r = with_session(
        r#"{"s":1,"op":"create","path":"/t0","mode":"persistent_with_ttl","ttl":0}
{"s":1,"op":"create","path":"/t1","mode":"persistent_with_ttl","ttl":-5}
{"s":1,"op":"create","path":"/t2","mode":"persistent_with_ttl","ttl":1099511627776}
{"s":1,"op":"create","path":"/t3","mode":"persistent","ttl":100}
{"s":1,"op":"create","path":"/t4","mode":"persistent_with_ttl"}
{"s":1,"op":"create","path":"/t5","mode":"persistent_with_ttl","ttl":100}
{"s":1,"op":"create","path":"/t6-","mode":"persistent_sequential_with_ttl","ttl":1099511627775}
{"s":1,"op":"create","path":"/c","mode":"container"}"#,
    );
    assert_eq!(
        errs(&r),
        [
            "BADARGUMENTS",
            "BADARGUMENTS",
            "BADARGUMENTS",
            "BADARGUMENTS",
            "BADARGUMENTS",
            "OK",
            "OK",
            "OK"
        ]
    );
    // Containers and TTL nodes show owner 0 to clients (DataNode.copyStat).
    assert_eq!(r[5]["stat"]["ephemeralOwner"], 0);
    assert_eq!(r[7]["stat"]["ephemeralOwner"], 0);
}

#[test]
fn multi_is_all_or_nothing() {
    // One zxid for the whole multi; OK before the failing op, its error, then
    // RUNTIMEINCONSISTENCY; the header says OK and nothing is applied.
    let r = with_session(
        r#"{"s":1,"op":"multi","ops":[{"op":"create","path":"/m"},{"op":"create","path":"/m/a"},{"op":"check","path":"/m","version":3},{"op":"delete","path":"/m/a"}]}
{"s":1,"op":"exists","path":"/m"}
{"s":1,"op":"multi","ops":[{"op":"create","path":"/m"},{"op":"create","path":"/m/s-","mode":"persistent_sequential"},{"op":"set_data","path":"/m","data":"d","version":0},{"op":"check","path":"/m","version":1}]}
{"s":1,"op":"multi","ops":[]}"#,
    );
    assert_eq!(err(&r[0]), "OK");
    let subs: Vec<&str> = r[0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(err)
        .collect();
    assert_eq!(subs, ["OK", "OK", "BADVERSION", "RUNTIMEINCONSISTENCY"]);
    assert_eq!(r[0]["zxid"], 2);
    assert_eq!(err(&r[1]), "NONODE");
    assert_eq!(r[1]["zxid"], 2);
    let ok = r[2]["results"].as_array().expect("results");
    assert!(ok.iter().all(|o| o["err"] == "OK"));
    assert_eq!(ok[1]["path"], "/m/s-0000000000");
    // A plain create inside a multi answers with its path only (Op.create is opcode
    // create, not create2); every sub-op shares the multi's zxid.
    assert!(ok[0].get("stat").is_none());
    assert_eq!(ok[2]["stat"]["mzxid"], 3);
    assert_eq!(r[3]["results"], Value::Array(vec![]));
    // A TTL mode without a ttl cannot be unmarshalled: the whole multi fails, zxid taken.
    let bad = with_session(
        r#"{"s":1,"op":"multi","ops":[{"op":"create","path":"/t","mode":"persistent_with_ttl"}]}"#,
    );
    assert_eq!(err(&bad[0]), "MARSHALLINGERROR");
    assert_eq!(bad[0]["zxid"], 2);
    assert!(bad[0].get("results").is_none());
}

#[test]
fn acl_enforcement_and_digest_redaction() {
    // NOAUTH for reads and writes without the right permission; getACL needs READ or
    // ADMIN and hides digest hashes without ADMIN.
    let r = run(r#"{"s":1,"op":"connect"}
{"s":2,"op":"connect"}
{"s":1,"op":"add_auth","scheme":"digest","auth":"alice:secret"}
{"s":1,"op":"create","path":"/private","acl":[{"perms":31,"scheme":"auth","id":""}]}
{"s":1,"op":"get_acl","path":"/private"}
{"s":2,"op":"get_data","path":"/private"}
{"s":2,"op":"get_children","path":"/private"}
{"s":2,"op":"get_acl","path":"/private"}
{"s":2,"op":"set_data","path":"/private","data":"x"}
{"s":2,"op":"exists","path":"/private"}
{"s":1,"op":"set_acl","path":"/private","acl":[{"perms":1,"scheme":"digest","id":"alice:hash"},{"perms":1,"scheme":"world","id":"anyone"}]}
{"s":2,"op":"get_acl","path":"/private"}
{"s":2,"op":"set_acl","path":"/private","acl":[{"perms":31,"scheme":"world","id":"anyone"}]}
{"s":2,"op":"create","path":"/a2","acl":[{"perms":31,"scheme":"auth","id":""}]}
{"s":2,"op":"add_auth","scheme":"nosuch","auth":"x"}"#);
    assert_eq!(
        errs(&r[2..]),
        [
            "OK",
            "OK",
            "OK",
            "NOAUTH",
            "NOAUTH",
            "NOAUTH",
            "NOAUTH",
            "OK",
            "OK",
            "OK",
            "NOAUTH",
            "INVALIDACL",
            "AUTHFAILED"
        ]
    );
    let id = r[4]["acl"][0]["id"].as_str().expect("digest id");
    assert!(id.starts_with("alice:") && id.len() > 10, "{id}");
    assert_eq!(r[11]["acl"][0]["id"], "alice:x");
    assert_eq!(r[11]["stat"]["aversion"], 1);
    // add_auth replies carry zxid 0.
    assert_eq!(r[2]["zxid"], 0);
}

#[test]
fn watches_fire_with_zookeeper_event_types() {
    // exists on a missing node -> NodeCreated; getData -> NodeDataChanged/NodeDeleted;
    // getChildren -> NodeChildrenChanged on the parent, NodeDeleted on the node itself.
    // One-shot watches fire once.
    let r = run(r#"{"s":1,"op":"connect"}
{"s":2,"op":"connect"}
{"s":2,"op":"exists","path":"/w","watch":true}
{"s":2,"op":"get_children","path":"/","watch":true}
{"s":1,"op":"create","path":"/w","data":"1"}
{"s":2,"op":"get_data","path":"/w","watch":true}
{"s":2,"op":"get_children","path":"/w","watch":true}
{"s":1,"op":"set_data","path":"/w","data":"2"}
{"s":1,"op":"set_data","path":"/w","data":"3"}
{"s":2,"op":"get_data","path":"/w","watch":true}
{"s":1,"op":"delete","path":"/w"}"#);
    let ev = |i: usize| -> Vec<(String, String)> {
        r[i]["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap_or("").to_string(),
                    e["path"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        ev(4),
        [
            ("NodeCreated".into(), "/w".into()),
            ("NodeChildrenChanged".into(), "/".into())
        ]
    );
    assert_eq!(ev(7), [("NodeDataChanged".to_string(), "/w".to_string())]);
    assert!(ev(8).is_empty());
    // The data watch and the child watch on /w both see NodeDeleted, once.
    assert_eq!(ev(10), [("NodeDeleted".to_string(), "/w".to_string())]);
}

#[test]
fn persistent_and_recursive_watches() {
    // addWatch PERSISTENT fires every time at its path, children changes included;
    // PERSISTENT_RECURSIVE fires for descendants but never NodeChildrenChanged.
    let r = run(r#"{"s":1,"op":"connect"}
{"s":2,"op":"connect"}
{"s":2,"op":"add_watch","path":"/p","mode":"persistent"}
{"s":2,"op":"add_watch","path":"/r","mode":"persistent_recursive"}
{"s":1,"op":"create","path":"/p"}
{"s":1,"op":"create","path":"/p/c"}
{"s":1,"op":"create","path":"/r"}
{"s":1,"op":"create","path":"/r/a"}
{"s":1,"op":"set_data","path":"/r/a","data":"x"}
{"s":2,"op":"remove_watches","path":"/r","type":"data"}
{"s":1,"op":"set_data","path":"/r/a","data":"y"}
{"s":2,"op":"remove_watches","path":"/r","type":"data"}
{"s":2,"op":"remove_watches","path":"/r","type":"children"}
{"s":2,"op":"remove_watches","path":"/nowatch","type":"any"}"#);
    let count = |i: usize| r[i]["events"].as_array().expect("events").len();
    assert_eq!(count(4), 1);
    assert_eq!(r[5]["events"][0]["type"], "NodeChildrenChanged");
    assert_eq!(r[6]["events"][0]["type"], "NodeCreated");
    assert_eq!(r[7]["events"][0]["path"], "/r/a");
    assert_eq!(count(7), 1);
    assert_eq!(count(8), 1);
    assert_eq!(err(&r[9]), "OK");
    // Only the data table carries data changes, so with its half removed nothing fires;
    // the child-table half is still there to remove.
    assert_eq!(count(10), 0);
    assert_eq!(errs(&r[11..]), ["NOWATCHER", "OK", "NOWATCHER"]);
}

#[test]
fn closing_a_session_deletes_its_ephemerals() {
    // closeSession deletes every ephemeral of the session at the close's zxid; watchers
    // of those nodes hear NodeDeleted; get_ephemerals lists a session's own ephemerals.
    let r = run(r#"{"s":1,"op":"connect"}
{"s":2,"op":"connect"}
{"s":1,"op":"create","path":"/e1","mode":"ephemeral"}
{"s":1,"op":"create","path":"/e2","mode":"ephemeral"}
{"s":1,"op":"get_ephemerals","path":"/"}
{"s":1,"op":"get_ephemerals","path":"/e2"}
{"s":2,"op":"get_ephemerals"}
{"s":2,"op":"exists","path":"/e1","watch":true}
{"s":1,"op":"close"}
{"s":2,"op":"exists","path":"/e2"}
{"s":2,"op":"get_data","path":"/"}"#);
    assert_eq!(r[4]["paths"], serde_json::json!(["/e1", "/e2"]));
    assert_eq!(r[5]["paths"], serde_json::json!(["/e2"]));
    assert_eq!(r[6]["paths"], serde_json::json!([]));
    assert_eq!(r[8]["events"][0]["type"], "NodeDeleted");
    assert_eq!(err(&r[9]), "NONODE");
    assert_eq!(r[10]["stat"]["pzxid"], r[8]["zxid"]);
}

#[test]
fn reaping_containers_and_ttl_nodes() {
    // ContainerManager: a container is reaped once it has had a child and has none; a TTL
    // node once it has no children and its TTL has passed since its last change.
    let r = with_session(
        r#"{"s":1,"op":"create","path":"/c","mode":"container"}
{"s":1,"op":"create","path":"/fresh","mode":"container"}
{"s":1,"op":"create","path":"/c/x"}
{"s":1,"op":"create","path":"/t","mode":"persistent_with_ttl","ttl":1}
{"s":1,"op":"create","path":"/long","mode":"persistent_with_ttl","ttl":3600000}
{"op":"reap"}
{"s":1,"op":"delete","path":"/c/x"}
{"op":"reap"}
{"s":1,"op":"exists","path":"/c"}
{"s":1,"op":"exists","path":"/t"}
{"s":1,"op":"exists","path":"/fresh"}
{"s":1,"op":"exists","path":"/long"}
{"s":1,"op":"get_all_children_number","path":"/"}"#,
    );
    // The first reap removes /t only; the second removes /c; each takes a zxid.
    assert_eq!(r[8]["zxid"].as_i64(), r[6]["zxid"].as_i64().map(|z| z + 1));
    assert_eq!(errs(&r[8..12]), ["NONODE", "NONODE", "OK", "OK"]);
    // /zookeeper, /zookeeper/quota, /zookeeper/config, /fresh, /long.
    assert_eq!(r[12]["count"], 5);
}

#[test]
fn reads_without_validation_and_the_root_alias() {
    // Reads look paths up without PathUtils; "" is the root's alias; exists refuses NUL.
    let r = with_session(
        r#"{"s":1,"op":"get_data","path":"a"}
{"s":1,"op":"get_data","path":""}
{"s":1,"op":"exists","path":"/a\u0000"}
{"s":1,"op":"get_children","path":"/"}
{"s":1,"op":"get_acl","path":"/zookeeper/config"}
{"s":1,"op":"sync","path":"/anything"}
{"s":1,"op":"multi_read","ops":[{"op":"get_data","path":"/zookeeper"},{"op":"get_children","path":"/nope"},{"op":"get_children","path":"/zookeeper"}]}"#,
    );
    assert_eq!(
        errs(&r),
        ["NONODE", "OK", "BADARGUMENTS", "OK", "OK", "OK", "OK"]
    );
    assert_eq!(r[3]["children"], serde_json::json!(["zookeeper"]));
    assert_eq!(
        r[4]["acl"],
        serde_json::json!([{"perms": 1, "scheme": "world", "id": "anyone"}])
    );
    assert_eq!(r[5]["path"], "/anything");
    let subs: Vec<&str> = r[6]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(err)
        .collect();
    assert_eq!(subs, ["OK", "NONODE", "OK"]);
    assert_eq!(
        r[6]["results"][2]["children"],
        serde_json::json!(["config", "quota"])
    );
}

#[test]
fn malformed_replay_input_names_the_line() {
    // Bad input is an error naming the line and the problem, never a panic.
    let cases = [
        (
            "{\"s\":1,\"op\":\"connect\"}\nnot json",
            "line 2: invalid JSON",
        ),
        (
            "{\"s\":1,\"op\":\"connect\"}\n{\"s\":1,\"op\":\"fly\"}",
            "line 2: unknown operation \"fly\"",
        ),
        (
            "{\"s\":1,\"op\":\"get_data\",\"path\":\"/\"}",
            "line 1: session 1 is not open",
        ),
        (
            "{\"s\":1,\"op\":\"connect\",\"colour\":1}",
            "line 1: unknown field \"colour\"",
        ),
        (
            "{\"s\":1,\"op\":\"connect\"}\n{\"s\":1,\"op\":\"delete\",\"path\":\"/\",\"version\":\"x\"}",
            "line 2: field \"version\": expected an integer",
        ),
        (
            "{\"s\":1,\"op\":\"connect\"}\n{\"s\":1,\"op\":\"create\",\"path\":\"/\",\"mode\":\"forever\"}",
            "unknown create mode",
        ),
        (
            "{\"s\":1,\"op\":\"connect\"}\n{\"s\":1,\"op\":\"multi\",\"ops\":[{\"op\":\"get_data\",\"path\":\"/\"}]}",
            "ops[0]: operation \"get_data\" is not allowed here",
        ),
        ("{\"s\":0,\"op\":\"connect\"}", "session handles start at 1"),
        // Found by fuzzing: the handle's session id overflowed i64.
        (
            "{\"s\":9223372036854775807,\"op\":\"connect\"}",
            "line 1: field \"s\": session handles are at most 1099511627775",
        ),
        // Found by fuzzing: the replay's clock overflowed i64 after a long reap.
        (
            "{\"op\":\"reap\",\"after_ms\":9223372036854775807}",
            "line 1: the replay's clock passes",
        ),
        (
            "{\"op\":\"reap\",\"after_ms\":3000000000000}\n{\"op\":\"reap\",\"after_ms\":153600000000}",
            "line 2: the replay's clock passes",
        ),
        ("[1,2]", "expected a JSON object"),
    ];
    for (input, expected) in cases {
        let e = replay_text(input)
            .err()
            .unwrap_or_else(|| panic!("{input:?} must be refused"));
        assert!(
            e.to_string().contains(expected),
            "{input:?}: got {e}, expected {expected}"
        );
    }
}
