//! Reading the fields of a Jepsen operation map (`{:process 3, :type :ok, :f :read, ...}`),
//! with errors that say which field is wrong.

use super::edn::Edn;

/// The process of an operation: a client number, or the nemesis (`:process :nemesis`).
pub(crate) enum Process {
    Client(u64),
    Nemesis,
}

pub(crate) fn process(map: &Edn) -> Result<Process, String> {
    match map.get("process") {
        Some(Edn::Int(n)) => u64::try_from(*n)
            .map(Process::Client)
            .map_err(|_| format!("field :process is negative ({n})")),
        Some(Edn::Keyword(k)) if k == "nemesis" => Ok(Process::Nemesis),
        Some(other) => Err(format!(
            "field :process must be an integer or :nemesis, not {other}"
        )),
        None => Err("missing field :process".into()),
    }
}

/// A field whose value must be a keyword, without its colon.
pub(crate) fn keyword<'m>(map: &'m Edn, field: &str) -> Result<&'m str, String> {
    match map.get(field) {
        Some(Edn::Keyword(k)) => Ok(k),
        Some(other) => Err(format!("field :{field} must be a keyword, not {other}")),
        None => Err(format!("missing field :{field}")),
    }
}

pub(crate) fn value(map: &Edn) -> Result<&Edn, String> {
    map.get("value")
        .ok_or_else(|| "missing field :value".to_string())
}

pub(crate) fn int(value: &Edn, what: &str) -> Result<i64, String> {
    match value {
        Edn::Int(n) => Ok(*n),
        other => Err(format!("{what} must be an integer, not {other}")),
    }
}

/// A `[expected new]` pair of integers, as a CAS carries.
pub(crate) fn int_pair(value: &Edn, what: &str) -> Result<(i64, i64), String> {
    match value {
        Edn::Vector(items) | Edn::List(items) if items.len() == 2 => {
            Ok((int(&items[0], what)?, int(&items[1], what)?))
        }
        other => Err(format!(
            "{what} must be a pair [expected new] of integers, not {other}"
        )),
    }
}

pub(crate) fn string<'m>(value: &'m Edn, what: &str) -> Result<&'m str, String> {
    match value {
        Edn::Str(s) => Ok(s),
        other => Err(format!("{what} must be a string, not {other}")),
    }
}
