//! A single compare-and-set register: the object of Jepsen's etcd test and Knossos's
//! `cas-register` histories.

use crate::linearizability::Model;

/// A register holding an integer, or nothing (`nil`) before its first write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CasRegister {
    /// The value before the first operation: `None` (nil) for porcupine's etcd histories,
    /// `Some(0)` for Knossos's.
    pub initial: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterInput {
    Read,
    Write(i64),
    Cas { expected: i64, new: i64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterOutput {
    /// A read returned this value; `None` is nil, which only a never-written register holds.
    Read(Option<i64>),
    /// A write was acknowledged, or a CAS succeeded.
    Ok,
    /// A CAS definitely did not apply because the register did not hold `expected`.
    CasFailed,
    /// Not observed: a read whose value is unknown, or an operation that may or may not
    /// have taken effect.
    Unknown,
}

impl Model for CasRegister {
    type State = Option<i64>;
    type Input = RegisterInput;
    type Output = RegisterOutput;
    type Key = ();

    fn init(&self) -> Option<i64> {
        self.initial
    }

    fn step(
        &self,
        state: &Option<i64>,
        input: &RegisterInput,
        output: &RegisterOutput,
        next: &mut Vec<Option<i64>>,
    ) {
        use RegisterInput as I;
        use RegisterOutput as O;
        let state = *state;
        let after = match (*input, *output) {
            (I::Read, O::Read(value)) if value == state => state,
            (I::Read, O::Unknown) => state,
            (I::Write(value), O::Ok | O::Unknown) => Some(value),
            (I::Cas { expected, new }, O::Ok) if state == Some(expected) => Some(new),
            (I::Cas { expected, .. }, O::CasFailed) if state != Some(expected) => state,
            (I::Cas { expected, new }, O::Unknown) => {
                if state == Some(expected) {
                    Some(new)
                } else {
                    state
                }
            }
            _ => return,
        };
        next.push(after);
    }

    fn is_read_only(&self, input: &RegisterInput, output: &RegisterOutput) -> bool {
        matches!(
            (input, output),
            (RegisterInput::Read, _) | (RegisterInput::Cas { .. }, RegisterOutput::CasFailed)
        )
    }

    fn accepts_every_state(&self, _: &RegisterInput, output: &RegisterOutput) -> bool {
        *output == RegisterOutput::Unknown
    }

    fn describe_state(&self, state: &Option<i64>) -> String {
        describe_value(*state)
    }

    fn describe_operation(&self, input: &RegisterInput, output: &RegisterOutput) -> String {
        use RegisterInput as I;
        use RegisterOutput as O;
        match (input, output) {
            (I::Read, O::Read(value)) => format!("read -> {}", describe_value(*value)),
            (I::Read, O::Unknown) => "read -> (unknown)".to_string(),
            (I::Write(value), O::Unknown) => format!("write {value} (outcome unknown)"),
            (I::Write(value), _) => format!("write {value}"),
            (I::Cas { expected, new }, O::Ok) => format!("cas {expected}->{new} succeeded"),
            (I::Cas { expected, new }, O::CasFailed) => format!("cas {expected}->{new} failed"),
            (I::Cas { expected, new }, O::Unknown) => {
                format!("cas {expected}->{new} (outcome unknown)")
            }
            (input, output) => format!("{input:?} -> {output:?}"),
        }
    }
}

fn describe_value(value: Option<i64>) -> String {
    value.map_or_else(|| "nil".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(state: Option<i64>, input: RegisterInput, output: RegisterOutput) -> Vec<Option<i64>> {
        let mut next = Vec::new();
        CasRegister { initial: None }.step(&state, &input, &output, &mut next);
        next
    }

    // The register's sequential specification, case by case.
    #[test]
    fn sequential_specification() {
        use RegisterInput as I;
        use RegisterOutput as O;
        assert_eq!(step(None, I::Read, O::Read(None)), vec![None]);
        assert_eq!(step(Some(1), I::Read, O::Read(None)), vec![]);
        assert_eq!(step(Some(1), I::Read, O::Read(Some(1))), vec![Some(1)]);
        assert_eq!(step(Some(1), I::Read, O::Unknown), vec![Some(1)]);
        assert_eq!(step(None, I::Write(4), O::Ok), vec![Some(4)]);
        assert_eq!(step(None, I::Write(4), O::Unknown), vec![Some(4)]);
        let cas = I::Cas {
            expected: 1,
            new: 2,
        };
        assert_eq!(step(Some(1), cas, O::Ok), vec![Some(2)]);
        assert_eq!(step(Some(3), cas, O::Ok), vec![]);
        assert_eq!(step(Some(3), cas, O::CasFailed), vec![Some(3)]);
        assert_eq!(step(Some(1), cas, O::CasFailed), vec![]);
        assert_eq!(step(Some(1), cas, O::Unknown), vec![Some(2)]);
        assert_eq!(step(None, cas, O::Unknown), vec![None]);
        assert_eq!(step(None, I::Read, O::Ok), vec![]);
    }
}
