//! A key-value store of strings with get, put and append: the object of porcupine's `kv`
//! histories.

use crate::linearizability::Model;

/// A key-value store where a missing key reads as "". Every operation touches one key, so
/// the engine checks each key on its own and the state is that one key's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyValue;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvInput {
    pub key: String,
    pub op: KvOp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOp {
    Get,
    Put(String),
    Append(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOutput {
    /// A get returned this value.
    Value(String),
    /// A put or append was acknowledged.
    Ok,
    /// Not observed: the operation may or may not have taken effect.
    Unknown,
}

impl Model for KeyValue {
    type State = String;
    type Input = KvInput;
    type Output = KvOutput;
    type Key = String;

    fn init(&self) -> String {
        String::new()
    }

    fn step(&self, state: &String, input: &KvInput, output: &KvOutput, next: &mut Vec<String>) {
        match (&input.op, output) {
            (KvOp::Get, KvOutput::Value(value)) if value == state => next.push(state.clone()),
            (KvOp::Get, KvOutput::Unknown) => next.push(state.clone()),
            (KvOp::Put(value), KvOutput::Ok | KvOutput::Unknown) => next.push(value.clone()),
            (KvOp::Append(value), KvOutput::Ok | KvOutput::Unknown) => {
                let mut after = String::with_capacity(state.len() + value.len());
                after.push_str(state);
                after.push_str(value);
                next.push(after);
            }
            _ => {}
        }
    }

    fn keys(&self, input: &KvInput, keys: &mut Vec<String>) {
        keys.push(input.key.clone());
    }

    fn is_read_only(&self, input: &KvInput, _: &KvOutput) -> bool {
        input.op == KvOp::Get
    }

    fn accepts_every_state(&self, _: &KvInput, output: &KvOutput) -> bool {
        *output == KvOutput::Unknown
    }

    fn is_monotone(&self, input: &KvInput, _: &KvOutput) -> bool {
        matches!(input.op, KvOp::Get | KvOp::Append(_))
    }

    fn may_reach(&self, state: &String, _: &KvInput, output: &KvOutput) -> bool {
        match output {
            KvOutput::Value(value) => value.starts_with(state.as_str()),
            _ => true,
        }
    }

    fn describe_state(&self, state: &String) -> String {
        abbreviate(state)
    }

    fn describe_operation(&self, input: &KvInput, output: &KvOutput) -> String {
        let unknown = if *output == KvOutput::Unknown {
            " (outcome unknown)"
        } else {
            ""
        };
        match (&input.op, output) {
            (KvOp::Get, KvOutput::Value(value)) => format!("get -> {}", abbreviate(value)),
            (KvOp::Get, _) => format!("get -> ?{unknown}"),
            (KvOp::Put(value), _) => format!("put {}{unknown}", abbreviate(value)),
            (KvOp::Append(value), _) => format!("append {}{unknown}", abbreviate(value)),
        }
    }
}

/// A string for a report: quoted, and cut in the middle when long (values grow with every
/// append).
fn abbreviate(value: &str) -> String {
    const KEEP: usize = 32;
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 2 * KEEP + 10 {
        return format!("{value:?}");
    }
    let head: String = chars[..KEEP].iter().collect();
    let tail: String = chars[chars.len() - KEEP..].iter().collect();
    format!("{head:?}…{tail:?} ({} chars)", chars.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(state: &str, op: KvOp, output: KvOutput) -> Vec<String> {
        let mut next = Vec::new();
        let input = KvInput {
            key: "k".into(),
            op,
        };
        KeyValue.step(&state.to_string(), &input, &output, &mut next);
        next
    }

    // The store's sequential specification for one key.
    #[test]
    fn sequential_specification() {
        let value = |s: &str| KvOutput::Value(s.into());
        assert_eq!(step("", KvOp::Get, value("")), vec![""]);
        assert_eq!(step("a", KvOp::Get, value("")), Vec::<String>::new());
        assert_eq!(step("a", KvOp::Get, KvOutput::Unknown), vec!["a"]);
        assert_eq!(step("a", KvOp::Put("b".into()), KvOutput::Ok), vec!["b"]);
        assert_eq!(
            step("a", KvOp::Append("b".into()), KvOutput::Ok),
            vec!["ab"]
        );
        assert_eq!(
            step("a", KvOp::Append("b".into()), value("x")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn long_values_are_abbreviated() {
        let long = "x".repeat(100);
        let shown = abbreviate(&long);
        assert!(shown.contains("(100 chars)"));
        assert_eq!(abbreviate("ab"), "\"ab\"");
    }
}
