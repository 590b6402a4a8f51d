//! Knossos's register histories (`knossos-cas`): one EDN list or vector of operation maps,
//! `{:process 4, :type :ok, :f :cas, :value [2 1]}`.
//!
//! Semantics as Knossos's `cas-register` model and history preparation, which differ from
//! porcupine's etcd logs:
//! - the register starts at 0;
//! - a `:fail` operation never happened, and is dropped;
//! - an `:info` operation (and an invocation that never completes) stays pending forever;
//! - a read whose value is nil matches any state;
//! - `:process :nemesis` entries are skipped; `;` comments, `:time` and `:index` are ignored.

use super::builder::{HistoryBuilder, Parsed};
use super::edn::{Edn, Reader};
use super::error::ParseError;
use super::fields::{self, Process};
use super::register::{RegisterInput, RegisterOutput};

/// The register's value before the first operation, in Knossos.
pub const INITIAL_VALUE: i64 = 0;

/// Parses a Knossos history; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Parsed<RegisterInput, RegisterOutput>, ParseError> {
    let mut history = HistoryBuilder::new(file);
    let mut reader = Reader::new(text);
    let edn_error = |e: super::edn::EdnError| ParseError::new(file, e.line, e.problem);
    let close = reader.open_sequence().map_err(edn_error)?;
    while let Some((line, map)) = reader.next_element(close).map_err(edn_error)? {
        parse_map(&mut history, line, &map).map_err(|problem| history.error(line, problem))??;
    }
    if reader.skip_ignorable().map_err(edn_error)?.is_some() {
        let line = reader.line();
        return Err(ParseError::new(
            file,
            line,
            "unexpected text after the list of operations",
        ));
    }
    Ok(history.finish(|_| RegisterOutput::Unknown))
}

/// One operation map. The outer error is a problem with the map's fields; the inner one
/// comes from pairing it with its invocation.
fn parse_map(
    history: &mut HistoryBuilder<'_, RegisterInput, RegisterOutput>,
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
    let value = fields::value(map)?;
    Ok(match kind {
        "invoke" => {
            let input = match function {
                "read" => RegisterInput::Read,
                "write" => RegisterInput::Write(fields::int(value, "the value of a write")?),
                "cas" => {
                    let (expected, new) = fields::int_pair(value, "the value of a cas")?;
                    RegisterInput::Cas { expected, new }
                }
                other => {
                    return Err(format!(
                        "unknown function :{other} (expected :read, :write or :cas)"
                    ));
                }
            };
            history.invoke(line, process, function, input)
        }
        "ok" => {
            let output = match (function, value) {
                // Knossos: a read of nil tells nothing about the register.
                ("read", Edn::Nil) => RegisterOutput::Unknown,
                ("read", v) => {
                    RegisterOutput::Read(Some(fields::int(v, "the value a read returns")?))
                }
                _ => RegisterOutput::Ok,
            };
            complete(history, line, process, function, value).map(|invocation| {
                history.push_completed(invocation, process, output, line);
            })
        }
        "info" => complete(history, line, process, function, value).map(|invocation| {
            history.push_open(invocation, process, RegisterOutput::Unknown);
        }),
        "fail" => complete(history, line, process, function, value).map(|_| ()),
        other => {
            return Err(format!(
                "unknown :type :{other} (expected :invoke, :ok, :fail or :info)"
            ));
        }
    })
}

/// Takes the invocation a completion ends; a write's or CAS's completion must carry the
/// value it was invoked with.
fn complete(
    history: &mut HistoryBuilder<'_, RegisterInput, RegisterOutput>,
    line: usize,
    process: u64,
    function: &str,
    value: &Edn,
) -> Result<super::builder::Invocation<RegisterInput>, ParseError> {
    let invocation = history.complete(line, process, function)?;
    let consistent = match (invocation.input, value) {
        (RegisterInput::Read, _) | (_, Edn::Nil) => true,
        (RegisterInput::Write(v), value) => *value == Edn::Int(v),
        (RegisterInput::Cas { expected, new }, value) => {
            fields::int_pair(value, "").is_ok_and(|pair| pair == (expected, new))
        }
    };
    if !consistent {
        let at = invocation.line;
        return Err(history.error(
            line,
            format!("process {process} completes {function} {value}, which differs from its invocation on line {at}"),
        ));
    }
    Ok(invocation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::external::builder::SourceLines;
    use crate::linearizability::Operation;

    // Comments, nemesis entries and :fail operations vanish; :info stays open; nil reads are
    // unknown.
    #[test]
    fn parses_knossos_semantics() {
        let text = r#"; a comment
({:process 0, :type :invoke, :f :write, :value 1, :time 10}
 {:process :nemesis, :type :info, :f :start, :value nil}
 {:process 1, :type :invoke, :f :cas, :value [1 2]}
 {:process 0, :type :ok, :f :write, :value 1, :index 3}
 {:process 1, :type :fail, :f :cas, :value [1 2]}
 {:process 2, :type :invoke, :f :read, :value nil}
 {:process 2, :type :ok, :f :read, :value nil}
 {:process 3, :type :invoke, :f :write, :value 5}
 {:process 3, :type :info, :f :write, :value 5})
"#;
        let parsed = parse(text, "h.edn").expect("valid history");
        use RegisterInput as I;
        use RegisterOutput as O;
        // Times are positions among the events (nemesis entries are none); reports use lines.
        assert_eq!(
            parsed.ops,
            vec![
                Operation::completed(0, I::Write(1), O::Ok, 1, 3),
                Operation::completed(2, I::Read, O::Unknown, 5, 6),
                Operation::open(3, I::Write(5), O::Unknown, 7),
            ]
        );
        let lines = |call, ret| SourceLines { call, ret };
        assert_eq!(
            parsed.lines,
            vec![lines(2, Some(5)), lines(7, Some(8)), lines(9, None)]
        );
    }

    // Several operations may share a line: their order in the line is their order in time.
    #[test]
    fn operations_may_share_a_line() {
        let text = "[{:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}]";
        let parsed = parse(text, "one-line.edn").expect("valid history");
        assert_eq!(
            parsed.ops,
            vec![Operation::completed(
                0,
                RegisterInput::Write(1),
                RegisterOutput::Ok,
                1,
                2
            )]
        );
        assert_eq!(
            parsed.lines,
            vec![SourceLines {
                call: 1,
                ret: Some(1)
            }]
        );
    }

    // Malformed histories are errors naming the file and line.
    #[test]
    fn malformed_histories_name_file_and_line() {
        let cases = [
            ("{:a 1}", 1, "expected a list `(` or vector `[`"),
            (
                "[{:process 1, :type :invoke, :f :read, :value nil}",
                1,
                "missing closing `]`",
            ),
            ("[\n 3]", 2, "expected an operation map"),
            (
                "[\n {:process 1, :type :invoke, :f :read}]",
                2,
                "missing field :value",
            ),
            (
                "[\n {:process 1, :type :invoke, :f :lock, :value nil}]",
                2,
                "unknown function :lock",
            ),
            (
                "[\n {:process \"p\", :type :invoke, :f :read, :value nil}]",
                2,
                "field :process",
            ),
            (
                "[\n {:process 1, :type :invoke, :f :cas, :value [1]}]",
                2,
                "pair",
            ),
            (
                "[\n {:process 1, :type :ok, :f :read, :value 1}]",
                2,
                "no pending invocation",
            ),
            (
                "[\n {:process 1, :type :invoke, :f :write, :value 1}\n {:process 1, :type :ok, :f :write, :value 2}]",
                3,
                "differs from its invocation on line 2",
            ),
            ("[] []", 1, "unexpected text after"),
        ];
        for (text, line, problem) in cases {
            let err = parse(text, "h.edn").expect_err(text);
            assert_eq!((err.file.as_str(), err.line), ("h.edn", line), "{text}");
            assert!(err.problem.contains(problem), "{text}: {}", err.problem);
        }
    }
}
