//! Mutations of an input: byte flips, inserts, deletes and splices as any fuzzer makes them,
//! and mutations that know the notations the parsers read: numbers replaced by the extremes
//! of the integer types the fields are read into, strings replaced by ZooKeeper paths that
//! PathUtils refuses, deep nesting, huge strings, lines duplicated, dropped or moved (the
//! order of a history's events is what its checks depend on), and JSON values replaced,
//! removed or moved inside the tree a line parses into.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::rng::Rng;

/// Numbers at the edges of the types fields are read into (i32 xids and versions, i64
/// session ids and times, u64 zxids, f64), and a few that are not JSON or EDN at all.
const NUMBERS: [&str; 44] = [
    "0",
    "-0",
    "1",
    "-1",
    "2",
    "3",
    "127",
    "128",
    "255",
    "256",
    "-129",
    "32767",
    "32768",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "4294967295",
    "4294967296",
    "4294967297",
    "9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "1e400",
    "-1e400",
    "1e-400",
    "0.5",
    "-0.5",
    "1.0",
    "1e3",
    "1E+2",
    "00",
    "01",
    "99999999999999999999999",
    "3600000",
    "3600001",
    "1N",
    "NaN",
];

/// String contents: paths ZooKeeper's PathUtils refuses or treats specially, escapes JSON
/// allows but UTF-8 does not, and names that mean something to one of the formats.
const STRINGS: [&str; 24] = [
    "",
    "/",
    "//",
    "/a/",
    "/a//b",
    "/.",
    "/..",
    "/a/./b",
    "/zookeeper",
    "/zookeeper/quota",
    "/a\\u0000b",
    "\\u0000",
    "\\ud800",
    "\\udfff\\ud800",
    "é",
    "\\u00ff\\u0100",
    "a b",
    "null",
    "-1",
    "Ok",
    "NoNode",
    "invoke",
    "header",
    "generic",
];

/// Sequences to open many times over.
const OPENERS: [&str; 8] = ["[", "{\"a\":", "{\"op\":", "(", "#{", "#_", "#t ", "{:a "];

/// Bytes that end or start tokens in JSON and EDN.
const BYTES: [u8; 20] = [
    0, 0xff, 0x80, 0xc3, b'"', b'\\', b'\n', b'\r', b'{', b'}', b'[', b']', b'(', b')', b':', b',',
    b'-', b'0', b'#', b' ',
];

/// How one target's inputs are mutated.
#[derive(Clone, Debug)]
pub struct Mutator {
    /// Tokens to splice in: the target's own words and those harvested from its seeds.
    pub dict: Vec<Vec<u8>>,
    /// The input is JSON (a document, or one per line): JSON-aware mutations apply.
    pub json: bool,
    /// The input is a list of lines (a history, a replay file, a log).
    pub lines: bool,
    /// No input grows past this many bytes.
    pub max_len: usize,
}

impl Mutator {
    /// A mutator whose dictionary is `words` and every quoted string and EDN keyword of
    /// `seeds` (in sorted order, so that a run depends only on its seed).
    pub fn new(words: &[&str], seeds: &[Vec<u8>], json: bool, lines: bool, max_len: usize) -> Self {
        let mut dict: BTreeSet<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        for seed in seeds {
            harvest(seed, &mut dict);
        }
        Mutator {
            dict: dict.into_iter().collect(),
            json,
            lines,
            max_len,
        }
    }

    /// A mutant of `input`: one to eight mutations stacked; `corpus` gives splices.
    pub fn mutate(&self, rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..rng.len_up_to(8) {
            self.once(rng, &mut out, corpus);
            out.truncate(self.max_len);
        }
        out
    }

    fn once(&self, rng: &mut Rng, out: &mut Vec<u8>, corpus: &[Vec<u8>]) {
        match rng.below(16) {
            0 => flip_bit(rng, out),
            1 => set_byte(rng, out),
            2 => insert_random(rng, out),
            3 => delete_range(rng, out),
            4 => duplicate_range(rng, out, self.max_len),
            5 => splice(rng, out, corpus),
            6 if !self.dict.is_empty() => {
                let token = rng.pick(&self.dict).clone();
                let at = rng.below(out.len() + 1);
                out.splice(at..at, token);
            }
            7 => replace_number(rng, out),
            8 => replace_string(rng, out, &self.dict, self.max_len),
            9 => nest(rng, out, self.max_len),
            10 => repeat(rng, out, self.max_len),
            11 | 12 if self.lines => line_op(rng, out, corpus, self.max_len),
            13 => {
                let at = rng.below(out.len() + 1);
                out.truncate(at);
            }
            _ if self.json => {
                if !json_op(rng, out, corpus, &self.dict, self.lines) {
                    replace_number(rng, out);
                }
            }
            _ => replace_string(rng, out, &self.dict, self.max_len),
        }
    }
}

/// Every `"..."` up to 64 bytes and every `:keyword` of a text, as tokens.
fn harvest(text: &[u8], into: &mut BTreeSet<Vec<u8>>) {
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                let end = text[i + 1..]
                    .iter()
                    .position(|&b| b == b'"')
                    .map(|p| i + 1 + p);
                let Some(end) = end else { return };
                if end - i <= 64 {
                    into.insert(text[i..=end].to_vec());
                }
                i = end + 1;
            }
            b':' if text.get(i + 1).is_some_and(u8::is_ascii_alphabetic) => {
                let len = text[i + 1..]
                    .iter()
                    .position(|b| !(b.is_ascii_alphanumeric() || b"-_?!".contains(b)))
                    .unwrap_or(text.len() - i - 1);
                into.insert(text[i..=i + len].to_vec());
                i += len + 1;
            }
            _ => i += 1,
        }
    }
}

fn flip_bit(rng: &mut Rng, out: &mut [u8]) {
    if out.is_empty() {
        return;
    }
    let at = rng.below(out.len());
    out[at] ^= 1 << rng.below(8);
}

fn set_byte(rng: &mut Rng, out: &mut [u8]) {
    if out.is_empty() {
        return;
    }
    let at = rng.below(out.len());
    out[at] = *rng.pick(&BYTES);
}

fn insert_random(rng: &mut Rng, out: &mut Vec<u8>) {
    let at = rng.below(out.len() + 1);
    let bytes: Vec<u8> = (0..rng.len_up_to(8))
        .map(|_| {
            if rng.one_in(2) {
                *rng.pick(&BYTES)
            } else {
                u8::try_from(rng.below(256)).expect("below 256")
            }
        })
        .collect();
    out.splice(at..at, bytes);
}

fn delete_range(rng: &mut Rng, out: &mut Vec<u8>) {
    if out.is_empty() {
        return;
    }
    let at = rng.below(out.len());
    let len = rng.len_up_to(out.len() - at);
    out.drain(at..at + len);
}

fn duplicate_range(rng: &mut Rng, out: &mut Vec<u8>, max_len: usize) {
    if out.is_empty() {
        return;
    }
    let from = rng.below(out.len());
    let len = rng.len_up_to(out.len() - from);
    if out.len() + len > max_len {
        return;
    }
    let chunk = out[from..from + len].to_vec();
    let at = rng.below(out.len() + 1);
    out.splice(at..at, chunk);
}

/// A chunk of another input inserted, or this input's head joined to another's tail.
fn splice(rng: &mut Rng, out: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    if corpus.is_empty() {
        return;
    }
    let other = rng.pick(corpus);
    if other.is_empty() {
        return;
    }
    let from = rng.below(other.len());
    if rng.one_in(2) {
        let len = rng.len_up_to(other.len() - from);
        let at = rng.below(out.len() + 1);
        out.splice(at..at, other[from..from + len].iter().copied());
    } else {
        let keep = rng.below(out.len() + 1);
        out.truncate(keep);
        out.extend_from_slice(&other[from..]);
    }
}

/// The first number at or after a random position, replaced by an extreme one.
fn replace_number(rng: &mut Rng, out: &mut Vec<u8>) {
    let start = rng.below(out.len() + 1);
    let Some(digit) = out[start..].iter().position(u8::is_ascii_digit) else {
        return;
    };
    let mut begin = start + digit;
    if begin > 0 && out[begin - 1] == b'-' {
        begin -= 1;
    }
    let mut end = start + digit;
    while end < out.len() && (out[end].is_ascii_digit() || b".eE+-".contains(&out[end])) {
        end += 1;
    }
    let number = rng.pick(&NUMBERS).as_bytes().to_vec();
    out.splice(begin..end, number);
}

/// The contents of the first `"..."` at or after a random position replaced: by a special
/// string, a dictionary word, a huge run of one character or a deep path.
fn replace_string(rng: &mut Rng, out: &mut Vec<u8>, dict: &[Vec<u8>], max_len: usize) {
    let start = rng.below(out.len() + 1);
    let Some(open) = out[start..]
        .iter()
        .position(|&b| b == b'"')
        .map(|p| start + p)
    else {
        return;
    };
    let Some(close) = out[open + 1..]
        .iter()
        .position(|&b| b == b'"')
        .map(|p| open + 1 + p)
    else {
        return;
    };
    let room = max_len.saturating_sub(out.len());
    let contents: Vec<u8> = match rng.below(5) {
        0 if !dict.is_empty() => {
            let word = rng.pick(dict);
            word.strip_prefix(b"\"")
                .and_then(|w| w.strip_suffix(b"\""))
                .unwrap_or(word)
                .to_vec()
        }
        1 => {
            let unit: &[u8] = if rng.one_in(2) { b"a" } else { b"/a" };
            let n = many(rng).min(room / unit.len());
            unit.repeat(n)
        }
        _ => rng.pick(&STRINGS).as_bytes().to_vec(),
    };
    out.splice(open + 1..close, contents);
}

/// Many openers at a random position, closed or not.
fn nest(rng: &mut Rng, out: &mut Vec<u8>, max_len: usize) {
    let opener = rng.pick(&OPENERS).as_bytes();
    let room = max_len.saturating_sub(out.len()) / (opener.len() + 1);
    let n = many(rng).min(room);
    let mut chunk = opener.repeat(n);
    if rng.one_in(2) {
        let closer: &[u8] = match opener.first() {
            Some(b'[') => b"]",
            Some(b'(') => b")",
            Some(b'#') if opener == b"#{" => b"}",
            Some(b'#') => b"",
            _ => b"1}",
        };
        chunk.extend(closer.repeat(n));
    }
    let at = rng.below(out.len() + 1);
    out.splice(at..at, chunk);
}

/// A short chunk of the input repeated many times in place.
fn repeat(rng: &mut Rng, out: &mut Vec<u8>, max_len: usize) {
    if out.is_empty() {
        return;
    }
    let from = rng.below(out.len());
    let len = rng.len_up_to(16.min(out.len() - from));
    let room = max_len.saturating_sub(out.len()) / len;
    let n = many(rng).min(room);
    let chunk = out[from..from + len].repeat(n);
    out.splice(from..from, chunk);
}

/// How many times to repeat or nest: usually up to a few hundred, one time in sixteen up to
/// a hundred thousand (huge inputs are slow to run, and most of what they find a few
/// hundred find too).
fn many(rng: &mut Rng) -> usize {
    if rng.one_in(16) {
        rng.len_up_to(100_000)
    } else {
        rng.len_up_to(300)
    }
}

/// The spans of an input's lines, without their ends.
fn line_spans(text: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        if b == b'\n' {
            spans.push((start, i));
            start = i + 1;
        }
    }
    if start < text.len() {
        spans.push((start, text.len()));
    }
    spans
}

/// A line duplicated, dropped, moved, repeated, or taken from another input.
fn line_op(rng: &mut Rng, out: &mut Vec<u8>, corpus: &[Vec<u8>], max_len: usize) {
    let spans = line_spans(out);
    if spans.is_empty() {
        return;
    }
    let mut lines: Vec<Vec<u8>> = spans.iter().map(|&(a, b)| out[a..b].to_vec()).collect();
    let i = rng.below(lines.len());
    match rng.below(5) {
        0 => {
            let line = lines[i].clone();
            lines.insert(rng.below(lines.len() + 1), line);
        }
        1 => {
            lines.remove(i);
        }
        2 => {
            let j = rng.below(lines.len());
            lines.swap(i, j);
        }
        3 => {
            let n = rng.len_up_to(1000).min(max_len / (lines[i].len() + 1));
            let line = lines[i].clone();
            lines.splice(i..i, std::iter::repeat_n(line, n));
        }
        _ => {
            let Some(other) = (!corpus.is_empty()).then(|| rng.pick(corpus)) else {
                return;
            };
            let other_spans = line_spans(other);
            if other_spans.is_empty() {
                return;
            }
            let (a, b) = *rng.pick(&other_spans);
            lines.insert(rng.below(lines.len() + 1), other[a..b].to_vec());
        }
    }
    *out = lines.join(&b'\n');
    out.push(b'\n');
}

/// A JSON-aware mutation of one line (or the whole document): a value replaced, removed,
/// duplicated, wrapped, renamed, or taken from another input. False when the chosen span
/// is not JSON.
fn json_op(
    rng: &mut Rng,
    out: &mut Vec<u8>,
    corpus: &[Vec<u8>],
    dict: &[Vec<u8>],
    lines: bool,
) -> bool {
    let (a, b) = if lines {
        let spans = line_spans(out);
        if spans.is_empty() {
            return false;
        }
        *rng.pick(&spans)
    } else {
        (0, out.len())
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&out[a..b]) else {
        return false;
    };
    let donor = donor(rng, corpus, lines);
    let target = rng.below(count(&value));
    let mut seen = 0;
    edit(&mut value, target, &mut seen, &mut |v| {
        mutate_value(rng, v, donor.as_ref(), dict)
    });
    let text = serde_json::to_vec(&value).expect("a JSON value serializes");
    out.splice(a..b, text);
    true
}

/// A value from somewhere in another input, to put in place of one of this input's.
fn donor(rng: &mut Rng, corpus: &[Vec<u8>], lines: bool) -> Option<Value> {
    let other = (!corpus.is_empty()).then(|| rng.pick(corpus))?;
    let (a, b) = if lines {
        let spans = line_spans(other);
        *(!spans.is_empty()).then(|| rng.pick(&spans))?
    } else {
        (0, other.len())
    };
    let value = serde_json::from_slice::<Value>(&other[a..b]).ok()?;
    let target = rng.below(count(&value));
    let mut seen = 0;
    let mut found = None;
    edit(&mut value.clone(), target, &mut seen, &mut |v| {
        found = Some(v.clone())
    });
    found
}

/// The number of values in a tree, the root included.
fn count(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count).sum(),
        Value::Object(map) => map.values().map(count).sum(),
        _ => 0,
    }
}

/// Apply `f` to the `target`-th value in pre-order.
fn edit(value: &mut Value, target: usize, seen: &mut usize, f: &mut dyn FnMut(&mut Value)) {
    if *seen == target {
        f(value);
        *seen += 1;
        return;
    }
    *seen += 1;
    match value {
        Value::Array(items) => {
            for item in items {
                if *seen > target {
                    return;
                }
                edit(item, target, seen, f);
            }
        }
        Value::Object(map) => {
            for (_, item) in map.iter_mut() {
                if *seen > target {
                    return;
                }
                edit(item, target, seen, f);
            }
        }
        _ => {}
    }
}

fn mutate_value(rng: &mut Rng, v: &mut Value, donor: Option<&Value>, dict: &[Vec<u8>]) {
    match rng.below(12) {
        0 => *v = extreme_number(rng),
        1 => *v = Value::Null,
        2 => *v = Value::Bool(rng.one_in(2)),
        3 => *v = Value::String(rng.pick(&STRINGS).replace("\\u0000", "\0")),
        4 => {
            *v = if rng.one_in(2) {
                json_array()
            } else {
                json_object()
            }
        }
        5 => {
            if let Some(d) = donor {
                *v = d.clone();
            }
        }
        6 => *v = Value::Array(vec![v.take()]),
        7 => {
            let key = dict_key(rng, dict);
            let mut map = serde_json::Map::new();
            map.insert(key, v.take());
            *v = Value::Object(map);
        }
        _ => mutate_container(rng, v, donor, dict),
    }
}

fn json_array() -> Value {
    Value::Array(Vec::new())
}

fn json_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A key removed, renamed or added; an element removed, duplicated or emptied out.
fn mutate_container(rng: &mut Rng, v: &mut Value, donor: Option<&Value>, dict: &[Vec<u8>]) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            let i = rng.below(map.len());
            let key = map
                .keys()
                .nth(i)
                .expect("an index below the length")
                .clone();
            match rng.below(3) {
                0 => {
                    map.shift_remove(&key);
                }
                1 => {
                    let item = map.shift_remove(&key).expect("the key is there");
                    map.insert(dict_key(rng, dict), item);
                }
                _ => {
                    let item = donor.cloned().unwrap_or(Value::Null);
                    map.insert(dict_key(rng, dict), item);
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.below(items.len());
            match rng.below(3) {
                0 => {
                    items.remove(i);
                }
                1 => {
                    let item = items[i].clone();
                    items.insert(i, item);
                }
                _ => items.clear(),
            }
        }
        _ => *v = extreme_number(rng),
    }
}

/// A key from the dictionary's quoted strings, or a made-up one.
fn dict_key(rng: &mut Rng, dict: &[Vec<u8>]) -> String {
    for _ in 0..4 {
        if dict.is_empty() {
            break;
        }
        let word = rng.pick(dict);
        if let Some(inner) = word.strip_prefix(b"\"").and_then(|w| w.strip_suffix(b"\"")) {
            if let Ok(key) = std::str::from_utf8(inner) {
                return key.to_string();
            }
        }
    }
    "x".to_string()
}

fn extreme_number(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => Value::from(i64::MAX),
        1 => Value::from(i64::MIN),
        2 => Value::from(u64::MAX),
        3 => Value::from(-1),
        4 => Value::from(0),
        5 => Value::from(i64::from(i32::MAX) + 1),
        6 => Value::from(i64::from(i32::MIN)),
        7 => Value::from(0.5),
        8 => Value::from(1e300),
        _ => Value::from(u64::from(u32::MAX) + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Mutants stay within the length bound, and the same seed makes the same mutants.
    #[test]
    fn mutants_are_bounded_and_reproducible() {
        let seeds = vec![
            b"{\"type\":\"invoke\",\"t\":5,\"op\":{\"GetData\":{\"path\":\"/a\"}}}\n".to_vec(),
            b"[{:process 0, :type :invoke, :f :write, :value 1}]".to_vec(),
        ];
        let mutator = Mutator::new(&["\"Create\""], &seeds, true, true, 4096);
        assert!(mutator.dict.contains(&b"\"GetData\"".to_vec()));
        assert!(mutator.dict.contains(&b":invoke".to_vec()));
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..500)
                .map(|i| mutator.mutate(&mut rng, &seeds[i % 2], &seeds))
                .collect::<Vec<_>>()
        };
        let mutants = run(3);
        assert!(mutants.iter().all(|m| m.len() <= 4096));
        assert_eq!(mutants, run(3));
    }
}
