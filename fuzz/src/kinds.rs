//! Error messages as features. A parser's error names a field or a rule in words of its
//! source code and echoes the input's values; two inputs that break the same rule should
//! give the same feature whatever the values, or every misspelling would join the corpus.
//! So a message keeps only the words its parsers' sources (and serde_json's messages) use,
//! numbers become `N` and everything else `_`.

use std::collections::BTreeSet;
use std::sync::OnceLock;

/// The sources whose messages the targets report: their words are the vocabulary.
const SOURCES: [&str; 21] = [
    include_str!("../../scenarios/src/scenario.rs"),
    include_str!("../../scenarios/src/fault.rs"),
    include_str!("../../checker/src/history/mod.rs"),
    include_str!("../../checker/src/history/io.rs"),
    include_str!("../../checker/src/history/blocks.rs"),
    include_str!("../../checker/src/index.rs"),
    include_str!("../../checker/src/recipes/mod.rs"),
    include_str!("../../checker/src/linearizability/verdict.rs"),
    include_str!("../../checker/src/external/mod.rs"),
    include_str!("../../checker/src/external/builder.rs"),
    include_str!("../../checker/src/external/edn.rs"),
    include_str!("../../checker/src/external/error.rs"),
    include_str!("../../checker/src/external/etcd.rs"),
    include_str!("../../checker/src/external/fields.rs"),
    include_str!("../../checker/src/external/knossos.rs"),
    include_str!("../../checker/src/external/kv.rs"),
    include_str!("../../checker/src/external/porcupine_kv.rs"),
    include_str!("../../checker/src/external/register.rs"),
    include_str!("../../core/src/replay/mod.rs"),
    include_str!("../../core/src/replay/op.rs"),
    include_str!("../../core/src/replay/render.rs"),
];

/// The words of serde_json's and serde's error messages.
const SERDE: &str = "EOF while parsing a list object string value expected ident invalid escape \
    number out of range unicode code point control character found key must be trailing comma \
    characters unexpected end of hex lone leading surrogate recursion limit exceeded type \
    length variant unknown missing duplicate field at line column one of or integer floating \
    point map sequence boolean null unit struct enum newtype tuple internally tagged u8 u16 \
    u32 u64 i8 i16 i32 i64 f64 char bytes option borrowed usize isize fewer elements in array";

fn vocabulary() -> &'static BTreeSet<&'static str> {
    static WORDS: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| {
        SOURCES
            .iter()
            .chain([&SERDE])
            .flat_map(|text| text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
            .filter(|w| w.len() >= 2)
            .collect()
    })
}

/// An error message as a feature: cut before the value it quotes (`, not ...`, `found ...`,
/// `got ...`), quoted text (`"..."` and `` `...` ``) blanked out, numbers written `N`, words
/// the sources do not use or that `input` holds (so may be an echoed value) written `_` (a
/// run of such values as one), at most 12 words.
pub fn kind(prefix: &str, message: &str, input: &[u8]) -> String {
    let cut = [", not ", " found ", " got "]
        .iter()
        .filter_map(|marker| message.find(marker))
        .min()
        .unwrap_or(message.len());
    let mut blanked = String::with_capacity(cut);
    let mut quote = None;
    for c in message[..cut].chars() {
        if quote == Some(c) {
            quote = None;
            blanked.push(c);
        } else if quote.is_some() {
            continue;
        } else {
            if c == '"' || c == '`' {
                quote = Some(c);
            }
            blanked.push(c);
        }
    }
    let mut words: Vec<&str> = Vec::new();
    for word in blanked.split_whitespace() {
        let core = word.trim_matches(|c: char| ",;:.()[]".contains(c));
        let numeric = !core.is_empty() && core.bytes().all(|b| b.is_ascii_digit());
        if core.is_empty() {
            continue;
        }
        let known = core == "``"
            || core == "\"\""
            || (vocabulary().contains(core) && !contains(input, core.as_bytes()));
        let word = match (numeric, known) {
            (true, _) => "N",
            (false, true) => core,
            (false, false) => "_",
        };
        // A run of values (an echoed input whose quotes did not pair up) is one `_`.
        let value = |w: &str| ["_", "N", "``", "\"\""].contains(&w);
        if value(word) && words.last().is_some_and(|last| *last == "_") {
            continue;
        }
        if value(word) && words.last().is_some_and(|last| value(last)) {
            *words.last_mut().expect("not empty") = "_";
            continue;
        }
        words.push(word);
        if words.len() == 12 {
            break;
        }
    }
    std::iter::once(prefix)
        .chain(words)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `haystack` holds `needle`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A panic's message as a kind, with its place kept whole: the same message at another
/// place is another bug.
pub fn panic_kind(message: &str) -> String {
    match message.rsplit_once(" at ") {
        Some((what, place)) => format!("{} at {place}", kind("", what, b"")),
        None => kind("", message, b""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Kinds keep the words of the rule and drop the values and misspellings.
    #[test]
    fn kinds_keep_the_rule_and_drop_the_values() {
        assert_eq!(
            kind(
                "error",
                "line 12: field \"version\": expected an integer",
                b""
            ),
            "error line N field \"\" expected an integer"
        );
        assert_eq!(
            kind(
                "error",
                "unknown field `clientz`, expected `a` or \"b`c\"",
                b""
            ),
            "error unknown field `` expected `` or \"\""
        );
        assert_eq!(
            kind("error", "expected an operation map, not z:c:c:c", b""),
            "error expected an operation map"
        );
        assert_eq!(
            kind(
                "error",
                "process 3 completes wrote but has no pending invocation",
                b":wrote"
            ),
            "error process N completes _ but has no pending invocation"
        );
        assert_eq!(
            kind("error", "value `a`b` c` is not an integer", b""),
            "error value _ is not an integer"
        );
        assert_eq!(
            panic_kind("attempt to add with overflow at core/src/replay.rs:406"),
            " attempt to add with overflow at core/src/replay.rs:406"
        );
    }
}
