//! The three external parsers turn any text into operations or an error naming a line;
//! they never panic. Random mutations of valid histories probe the corners.

mod common;

use common::Rng;
use zksim_checker::external::{ExternalHistory, Format};

const ETCD: &str = "INFO  jepsen.util - 4\t:invoke\t:read\tnil
INFO  jepsen.util - 4\t:ok\t:read\tnil
INFO  jepsen.util - 1\t:invoke\t:cas\t[2 4]
INFO  jepsen.util - 1\t:fail\t:cas\t[2 4]
INFO  jepsen.util - 2\t:invoke\t:write\t3
INFO  jepsen.util - 2\t:info\t:write\t:timed-out
INFO  jepsen.util - 3\t:invoke\t:read\tnil
INFO  jepsen.util - 3\t:fail\t:read\t:timed-out
";

const KV: &str = r#"{:process 6, :type :invoke, :f :append, :key "0", :value "x 6 0 y"}
{:process 8, :type :invoke, :f :get, :key "0", :value nil}
{:process 6, :type :ok, :f :append, :key "0", :value "x 6 0 y"}
{:process 8, :type :ok, :f :get, :key "0", :value "x 6 0 y"}
"#;

const KNOSSOS: &str = r#"; a comment
[{:process 0, :type :invoke, :f :write, :value 1, :time 5}
 {:process :nemesis, :type :info, :f :start, :value "Cut off [:n3 #[:n4]]"}
 {:process 1, :type :invoke, :f :cas, :value [1 2]}
 {:process 0, :type :ok, :f :write, :value 1}
 {:process 1, :type :info, :f :cas, :value [1 2]}
 {:process 2, :type :invoke, :f :read, :value nil}
 {:process 2, :type :ok, :f :read, :value 2}]
"#;

/// Pieces that mean something to one of the parsers, to splice into the text.
const PIECES: [&str; 16] = [
    "[", "]", "(", ")", "{", "}", "#{", "#_", "\"", "\\", ";", ":ok", ":invoke", "nil", "-9", "\n",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() as u64 + 1) as usize;
        match rng.below(3) {
            0 if at < bytes.len() => {
                bytes.remove(at);
            }
            1 => {
                let piece = PIECES[rng.below(PIECES.len() as u64) as usize];
                bytes.splice(at..at, piece.bytes());
            }
            _ => bytes.insert(at, rng.below(256) as u8),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

// Mutated histories parse or fail with a line inside the text; checking what parses
// terminates with a verdict.
#[test]
fn mutated_histories_never_panic() {
    for seed in 0..3_000 {
        let mut rng = Rng::new(seed);
        for (format, valid) in [
            (Format::PorcupineEtcd, ETCD),
            (Format::PorcupineKv, KV),
            (Format::KnossosCas, KNOSSOS),
        ] {
            let text = mutate(&mut rng, valid);
            match ExternalHistory::parse(format, &text, "mutant") {
                Ok(history) => {
                    let _ = history.check(Default::default());
                }
                Err(err) => {
                    assert_eq!(err.file, "mutant");
                    let lines = text.lines().count().max(1);
                    assert!(
                        (1..=lines + 1).contains(&err.line),
                        "seed {seed}: {err} in {text:?}"
                    );
                }
            }
        }
    }
}

// The valid snippets themselves parse.
#[test]
fn valid_snippets_parse() {
    for (format, text, ops) in [
        (Format::PorcupineEtcd, ETCD, 4),
        (Format::PorcupineKv, KV, 2),
        (Format::KnossosCas, KNOSSOS, 3),
    ] {
        let history = ExternalHistory::parse(format, text, "valid").expect("valid");
        assert_eq!(history.len(), ops, "{format}");
    }
}
