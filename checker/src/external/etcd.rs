//! Porcupine's Jepsen etcd logs (`porcupine-etcd`): a compare-and-set register.
//!
//! A line is `INFO  jepsen.util - PROCESS TYPE F VALUE`, split on whitespace. The semantics
//! follow porcupine's own parser (`parseJepsenLog` in its `porcupine_test.go`):
//! - the register starts as nil;
//! - `:ok :read` returns nil or an integer; `:ok`/`:fail :cas [a b]` says definitely that the
//!   CAS succeeded/failed;
//! - `:fail :read` (`:timed-out`) returns at once with an unknown value;
//! - `:info` leaves the operation open until the end of the history (it may or may not have
//!   taken effect), and so does an invocation that never completes.
//!
//! Porcupine ignores lines it does not recognise; here they are errors. The one completion
//! porcupine's parser has no rule for, `:fail :write`, is a write that did not happen, and
//! is dropped.

use super::builder::{HistoryBuilder, Parsed};
use super::error::ParseError;
use super::register::{RegisterInput, RegisterOutput};

/// Parses an etcd log; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Parsed<RegisterInput, RegisterOutput>, ParseError> {
    let mut history = HistoryBuilder::new(file);
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let tokens: Vec<&str> = raw.split_whitespace().collect();
        if tokens.is_empty() {
            continue;
        }
        parse_line(&mut history, line, &tokens)?;
    }
    Ok(history.finish(|_| RegisterOutput::Unknown))
}

fn parse_line(
    history: &mut HistoryBuilder<'_, RegisterInput, RegisterOutput>,
    line: usize,
    tokens: &[&str],
) -> Result<(), ParseError> {
    let [info, util, dash, process, kind, function, value @ ..] = tokens else {
        return Err(history.error(line, "expected `INFO jepsen.util - PROCESS TYPE F VALUE`"));
    };
    if (*info, *util, *dash) != ("INFO", "jepsen.util", "-") || value.is_empty() {
        return Err(history.error(line, "expected `INFO jepsen.util - PROCESS TYPE F VALUE`"));
    }
    let value = value.join(" ");
    let process: u64 = process
        .parse()
        .map_err(|_| history.error(line, format!("process `{process}` is not a number")))?;
    match *kind {
        ":invoke" => {
            let input = invocation(function, &value).map_err(|p| history.error(line, p))?;
            history.invoke(line, process, function, input)
        }
        ":ok" => {
            let invocation = history.complete(line, process, function)?;
            let output = ok_output(&invocation.input, &value).map_err(|problem| {
                let at = invocation.line;
                history.error(line, format!("{problem} (invoked on line {at})"))
            })?;
            history.push_completed(invocation, process, output, line);
            Ok(())
        }
        ":fail" => {
            let invocation = history.complete(line, process, function)?;
            match invocation.input {
                // porcupine: "timing out a read and then continuing operations is fine".
                RegisterInput::Read => {
                    history.push_completed(invocation, process, RegisterOutput::Unknown, line)
                }
                RegisterInput::Cas { .. } => {
                    history.push_completed(invocation, process, RegisterOutput::CasFailed, line)
                }
                RegisterInput::Write(_) => {}
            }
            Ok(())
        }
        ":info" => {
            let invocation = history.complete(line, process, function)?;
            history.push_open(invocation, process, RegisterOutput::Unknown);
            Ok(())
        }
        other => Err(history.error(
            line,
            format!("unknown type `{other}` (expected :invoke, :ok, :fail or :info)"),
        )),
    }
}

fn invocation(function: &str, value: &str) -> Result<RegisterInput, String> {
    match function {
        ":read" => Ok(RegisterInput::Read),
        ":write" => Ok(RegisterInput::Write(integer(value)?)),
        ":cas" => {
            let (expected, new) = pair(value)?;
            Ok(RegisterInput::Cas { expected, new })
        }
        other => Err(format!(
            "unknown function `{other}` (expected :read, :write or :cas)"
        )),
    }
}

fn ok_output(input: &RegisterInput, value: &str) -> Result<RegisterOutput, String> {
    match *input {
        RegisterInput::Read if value == "nil" => Ok(RegisterOutput::Read(None)),
        RegisterInput::Read => Ok(RegisterOutput::Read(Some(integer(value)?))),
        RegisterInput::Write(written) => {
            let acknowledged = integer(value)?;
            if acknowledged != written {
                return Err(format!(
                    "write of {acknowledged} completes a write of {written}"
                ));
            }
            Ok(RegisterOutput::Ok)
        }
        RegisterInput::Cas { expected, new } => {
            if pair(value)? != (expected, new) {
                return Err(format!("cas {value} completes a cas [{expected} {new}]"));
            }
            Ok(RegisterOutput::Ok)
        }
    }
}

fn integer(value: &str) -> Result<i64, String> {
    value
        .parse()
        .map_err(|_| format!("value `{value}` is not an integer"))
}

fn pair(value: &str) -> Result<(i64, i64), String> {
    let inner = value.strip_prefix('[').and_then(|v| v.strip_suffix(']'));
    let mut parts = inner.map(|v| v.split_whitespace());
    match parts.as_mut().map(|p| (p.next(), p.next(), p.next())) {
        Some((Some(a), Some(b), None)) => Ok((integer(a)?, integer(b)?)),
        _ => Err(format!("value `{value}` is not a pair [expected new]")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::external::builder::SourceLines;
    use crate::linearizability::Operation;

    fn log(lines: &[&str]) -> String {
        lines
            .iter()
            .map(|l| format!("INFO  jepsen.util - {l}\n"))
            .collect()
    }

    // Every kind of line becomes the operation porcupine's parser makes of it.
    #[test]
    fn parses_each_kind_of_line() {
        let text = log(&[
            "0\t:invoke\t:read\tnil",
            "1\t:invoke\t:write\t4",
            "2\t:invoke\t:cas\t[4 1]",
            "3\t:invoke\t:read\tnil",
            "0\t:ok\t:read\tnil",
            "1\t:info\t:write\t:timed-out",
            "2\t:fail\t:cas\t[4 1]",
            "3\t:fail\t:read\t:timed-out",
            "4\t:invoke\t:write\t7",
        ]);
        let parsed = parse(&text, "t.log").expect("valid log");
        let expect = |process, input, output, call, ret| Operation {
            process,
            input,
            output,
            call,
            ret,
        };
        use RegisterInput as I;
        use RegisterOutput as O;
        assert_eq!(
            parsed.ops,
            vec![
                expect(0, I::Read, O::Read(None), 1, Some(5)),
                expect(1, I::Write(4), O::Unknown, 2, None),
                expect(
                    2,
                    I::Cas {
                        expected: 4,
                        new: 1
                    },
                    O::CasFailed,
                    3,
                    Some(7)
                ),
                expect(3, I::Read, O::Unknown, 4, Some(8)),
                expect(4, I::Write(7), O::Unknown, 9, None),
            ]
        );
        // One event per line: positions and lines agree.
        assert_eq!(
            parsed.lines[2],
            SourceLines {
                call: 3,
                ret: Some(7)
            }
        );
        assert_eq!(parsed.lines[4], SourceLines { call: 9, ret: None });
    }

    // Malformed lines are errors naming the file and line.
    #[test]
    fn malformed_lines_name_file_and_line() {
        let cases = [
            ("garbage", "expected `INFO jepsen.util"),
            (
                "INFO  jepsen.util - x\t:invoke\t:read\tnil",
                "process `x` is not a number",
            ),
            (
                "INFO  jepsen.util - 1\t:invoke\t:frob\tnil",
                "unknown function `:frob`",
            ),
            (
                "INFO  jepsen.util - 1\t:invoke\t:write\tx",
                "value `x` is not an integer",
            ),
            ("INFO  jepsen.util - 1\t:invoke\t:cas\t[1]", "is not a pair"),
            (
                "INFO  jepsen.util - 1\t:ok\t:read\t3",
                "has no pending invocation",
            ),
            (
                "INFO  jepsen.util - 1\t:maybe\t:read\t3",
                "unknown type `:maybe`",
            ),
        ];
        for (line, problem) in cases {
            let text = format!("INFO  jepsen.util - 9\t:invoke\t:read\tnil\n{line}\n");
            let err = parse(&text, "bad.log").expect_err(line);
            assert_eq!((err.file.as_str(), err.line), ("bad.log", 2), "{line}");
            assert!(err.problem.contains(problem), "{line}: {}", err.problem);
        }
    }

    // A completion that contradicts its invocation, or a second invocation, is an error.
    #[test]
    fn inconsistent_pairs_are_errors() {
        let text = log(&["1\t:invoke\t:write\t3", "1\t:ok\t:write\t4"]);
        let err = parse(&text, "t.log").expect_err("mismatched write");
        assert!(
            err.problem.contains("write of 4 completes a write of 3"),
            "{}",
            err.problem
        );
        let text = log(&["1\t:invoke\t:write\t3", "1\t:invoke\t:read\tnil"]);
        let err = parse(&text, "t.log").expect_err("double invocation");
        assert!(err.problem.contains("has not completed"), "{}", err.problem);
        let text = log(&["1\t:invoke\t:write\t3", "1\t:ok\t:read\t3"]);
        let err = parse(&text, "t.log").expect_err("different function");
        assert!(
            err.problem.contains("but invoked :write on line 1"),
            "{}",
            err.problem
        );
    }
}
