//! Porcupine's key-value logs (`porcupine-kv`): one EDN map per line,
//! `{:process 6, :type :invoke, :f :append, :key "0", :value "x 6 0 y"}`.
//!
//! Semantics as porcupine's `kv_test.go`: `get`, `put` and `append` on string values; a
//! missing key reads as ""; the history is checked per key. Porcupine's files hold only
//! `:invoke` and `:ok`; beyond them, `:info` (and an invocation that never completes) leaves
//! the operation open until the end, `:fail` means it did not happen, and an `:ok :get` of
//! `nil` reads "".

use super::builder::{HistoryBuilder, Parsed};
use super::edn::{self, Edn};
use super::error::ParseError;
use super::fields::{self, Process};
use super::kv::{KvInput, KvOp, KvOutput};

/// Parses a key-value log; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Parsed<KvInput, KvOutput>, ParseError> {
    let mut history = HistoryBuilder::new(file);
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() || raw.trim_start().starts_with(';') {
            continue;
        }
        let map = edn::read_one(raw).map_err(|e| history.error(line, e.problem))?;
        parse_map(&mut history, line, &map).map_err(|problem| history.error(line, problem))??;
    }
    Ok(history.finish(|_| KvOutput::Unknown))
}

/// One operation map. The outer error is a problem with the map's fields; the inner one
/// comes from pairing it with its invocation.
fn parse_map(
    history: &mut HistoryBuilder<'_, KvInput, KvOutput>,
    line: usize,
    map: &Edn,
) -> Result<Result<(), ParseError>, String> {
    if !matches!(map, Edn::Map(_)) {
        return Err(format!(
            "expected an operation map {{:process .., :type .., ..}}, not {map}"
        ));
    }
    let process = match fields::process(map)? {
        Process::Client(p) => p,
        Process::Nemesis => return Ok(Ok(())),
    };
    let kind = fields::keyword(map, "type")?;
    let function = fields::keyword(map, "f")?;
    let key = fields::string(map.get("key").ok_or("missing field :key")?, "field :key")?;
    let value = fields::value(map)?;
    Ok(match kind {
        "invoke" => {
            let op = match function {
                "get" => KvOp::Get,
                "put" => KvOp::Put(fields::string(value, "the value of a put")?.to_string()),
                "append" => {
                    KvOp::Append(fields::string(value, "the value of an append")?.to_string())
                }
                other => {
                    return Err(format!(
                        "unknown function :{other} (expected :get, :put or :append)"
                    ));
                }
            };
            history.invoke(
                line,
                process,
                function,
                KvInput {
                    key: key.to_string(),
                    op,
                },
            )
        }
        "ok" => {
            let output = match function {
                "get" => match value {
                    Edn::Nil => KvOutput::Value(String::new()),
                    v => KvOutput::Value(fields::string(v, "the value a get returns")?.to_string()),
                },
                _ => KvOutput::Ok,
            };
            complete(history, line, process, function, key).map(|invocation| {
                history.push_completed(invocation, process, output, line);
            })
        }
        "info" => complete(history, line, process, function, key).map(|invocation| {
            history.push_open(invocation, process, KvOutput::Unknown);
        }),
        "fail" => complete(history, line, process, function, key).map(|_| ()),
        other => {
            return Err(format!(
                "unknown :type :{other} (expected :invoke, :ok, :fail or :info)"
            ));
        }
    })
}

fn complete(
    history: &mut HistoryBuilder<'_, KvInput, KvOutput>,
    line: usize,
    process: u64,
    function: &str,
    key: &str,
) -> Result<super::builder::Invocation<KvInput>, ParseError> {
    let invocation = history.complete(line, process, function)?;
    if invocation.input.key != key {
        let (invoked, at) = (&invocation.input.key, invocation.line);
        return Err(history.error(
            line,
            format!("completion for key {key:?} but process {process} invoked key {invoked:?} on line {at}"),
        ));
    }
    Ok(invocation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::external::builder::SourceLines;
    use crate::linearizability::Operation;

    // Invocations pair with completions per process; nemesis lines are skipped.
    #[test]
    fn parses_gets_puts_and_appends() {
        let text = r#"{:process 1, :type :invoke, :f :put, :key "a", :value "x"}
{:process 2, :type :invoke, :f :get, :key "a", :value nil}
{:process :nemesis, :type :info, :f :start, :value nil}
{:process 1, :type :ok, :f :put, :key "a", :value "x"}
{:process 2, :type :ok, :f :get, :key "a", :value "x"}

{:process 3, :type :invoke, :f :append, :key "b", :value "y"}
"#;
        let parsed = parse(text, "kv.txt").expect("valid log");
        let input = |key: &str, op| KvInput {
            key: key.into(),
            op,
        };
        // Times are positions among the events (the nemesis line is none); reports use lines.
        assert_eq!(
            parsed.ops,
            vec![
                Operation::completed(1, input("a", KvOp::Put("x".into())), KvOutput::Ok, 1, 3),
                Operation::completed(2, input("a", KvOp::Get), KvOutput::Value("x".into()), 2, 4),
                Operation::open(
                    3,
                    input("b", KvOp::Append("y".into())),
                    KvOutput::Unknown,
                    5
                ),
            ]
        );
        let lines = |call, ret| SourceLines { call, ret };
        assert_eq!(
            parsed.lines,
            vec![lines(1, Some(4)), lines(2, Some(5)), lines(7, None)]
        );
    }

    // Malformed lines are errors naming the file and line.
    #[test]
    fn malformed_lines_name_file_and_line() {
        let cases = [
            (
                r#"{:process 1, :type :invoke, :f :get, :key "a""#,
                "missing closing",
            ),
            (r#"[1 2]"#, "expected an operation map"),
            (
                r#"{:type :invoke, :f :get, :key "a", :value nil}"#,
                "missing field :process",
            ),
            (
                r#"{:process 1, :type :invoke, :f :get, :value nil}"#,
                "missing field :key",
            ),
            (
                r#"{:process 1, :type :invoke, :f :cas, :key "a", :value nil}"#,
                "unknown function",
            ),
            (
                r#"{:process 1, :type :invoke, :f :put, :key "a", :value 3}"#,
                "must be a string",
            ),
            (
                r#"{:process 1, :type :ok, :f :get, :key "a", :value ""}"#,
                "no pending invocation",
            ),
            (
                r#"{:process 2, :type :ok, :f :get, :key "b", :value ""}"#,
                "invoked key \"a\"",
            ),
        ];
        for (line, problem) in cases {
            let text =
                format!("{{:process 2, :type :invoke, :f :get, :key \"a\", :value nil}}\n{line}\n");
            let err = parse(&text, "kv.txt").expect_err(line);
            assert_eq!((err.file.as_str(), err.line), ("kv.txt", 2), "{line}");
            assert!(err.problem.contains(problem), "{line}: {}", err.problem);
        }
    }
}
