//! Words for a history line that does not parse: what is wrong with it, the field at fault
//! where the parser's message does not name it, and a long bad value cut short (a huge
//! value is named, never echoed whole).

use serde_json::Value;

/// Values quoted in an error longer than this are cut short.
const QUOTE_MAX: usize = 40;

/// Why `raw` is not a history event, given the parser's error.
pub fn describe(raw: &str, error: &serde_json::Error) -> String {
    if raw.starts_with('\u{feff}') {
        return "the line starts with a byte order mark (EF BB BF); save the history as UTF-8 without one".to_string();
    }
    let start = raw.trim_start();
    let shape = match start.chars().next() {
        Some('[') => Some("a JSON array"),
        Some('"') => Some("a JSON string"),
        Some(c) if c == '-' || c.is_ascii_digit() => Some("a JSON number"),
        Some('t' | 'f') if start.starts_with("true") || start.starts_with("false") => {
            Some("a JSON boolean")
        }
        Some('n') if start.starts_with("null") => Some("null"),
        _ => None,
    };
    if let Some(shape) = shape {
        return format!(
            "not a history event: an event is a JSON object with a \"type\", but this line is {shape}"
        );
    }
    let message = shorten_quoted(&error.to_string());
    match locate(raw, &message) {
        Some(path) => format!("not a history event: field `{path}`: {message}"),
        None => format!("not a history event: {message}"),
    }
}

/// `message` with every quoted value (between `"` or backticks) longer than `QUOTE_MAX`
/// characters cut short.
pub fn shorten_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = if rest[open..].starts_with('"') {
            '"'
        } else {
            '`'
        };
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let close = rest.find(quote).unwrap_or(rest.len());
        let value = &rest[..close];
        let chars = value.chars().count();
        if chars > QUOTE_MAX {
            out.extend(value.chars().take(QUOTE_MAX));
            out.push_str(&format!("... ({chars} characters)"));
        } else {
            out.push_str(value);
        }
        if close < rest.len() {
            out.push(quote);
            rest = &rest[close + 1..];
        } else {
            rest = "";
        }
    }
    out.push_str(rest);
    out
}

/// The path (`op.Create.data[2]`) of the value serde's message complains of, when the line
/// holds exactly one value like it. serde loses the path inside an event (its "type" tag is
/// read first, the rest buffered), so it is found again by the value the message quotes.
fn locate(raw: &str, message: &str) -> Option<String> {
    let wanted = wanted_value(message)?;
    let line: Value = serde_json::from_str(raw).ok()?;
    let mut found = Vec::new();
    walk(&line, &mut String::new(), &wanted, &mut found);
    (found.len() == 1).then(|| found.remove(0))
}

/// The value a serde message names: `invalid type: floating point `1.5``, `invalid value:
/// integer `300``, `invalid type: string "yy"`, `invalid type: boolean `true``.
#[derive(Debug, PartialEq)]
enum Wanted {
    Number(String),
    Text(String),
    /// A string's first characters and its length in characters.
    TextCut(String, usize),
    Bool(bool),
}

fn wanted_value(message: &str) -> Option<Wanted> {
    let rest = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))?;
    let quoted = |s: &str, q: char| -> Option<String> {
        let s = s.strip_prefix(q)?;
        Some(s[..s.find(q)?].to_string())
    };
    if let Some(r) = rest
        .strip_prefix("floating point ")
        .or_else(|| rest.strip_prefix("integer "))
    {
        return quoted(r, '`').map(Wanted::Number);
    }
    if let Some(r) = rest.strip_prefix("string ") {
        let text = quoted(r, '"')?;
        // A quote cut short: its first characters and its length.
        if let Some((prefix, count)) = text
            .strip_suffix(" characters)")
            .and_then(|t| t.rsplit_once("... ("))
        {
            return Some(Wanted::TextCut(prefix.to_string(), count.parse().ok()?));
        }
        return Some(Wanted::Text(text));
    }
    if let Some(r) = rest.strip_prefix("boolean ") {
        return quoted(r, '`').map(|b| Wanted::Bool(b == "true"));
    }
    None
}

fn walk(v: &Value, path: &mut String, wanted: &Wanted, found: &mut Vec<String>) {
    let here = match (v, wanted) {
        (Value::Number(n), Wanted::Number(w)) => {
            n.to_string() == *w || n.as_f64().is_some_and(|f| w.parse::<f64>() == Ok(f))
        }
        (Value::String(s), Wanted::Text(w)) => s == w,
        (Value::String(s), Wanted::TextCut(prefix, count)) => {
            s.starts_with(prefix.as_str()) && s.chars().count() == *count
        }
        (Value::Bool(b), Wanted::Bool(w)) => b == w,
        _ => false,
    };
    if here && !path.is_empty() {
        found.push(path.clone());
    }
    let len = path.len();
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                walk(x, path, wanted, found);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                walk(x, path, wanted, found);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(raw: &str) -> String {
        let e = serde_json::from_str::<crate::history::Event>(raw).expect_err("malformed");
        describe(raw, &e)
    }

    #[test]
    fn a_bad_line_is_named_with_its_field_and_cut_short() {
        let header = r#"{"type":"header","format":"zksim-history","version":2,"servers":[1],"observers":[],"bugs":[],"seed":1.5}"#;
        assert!(error_of(header).contains("field `seed`: invalid type: floating point `1.5`"));
        let data = r#"{"type":"invoke","t":1,"client":0,"xid":1,"op":{"Create":{"path":"/a","data":[1,2,300],"acl":[],"mode":"Persistent","ttl":null}}}"#;
        assert!(
            error_of(data).contains("field `op.Create.data[2]`"),
            "{}",
            error_of(data)
        );
        let huge = format!(
            r#"{{"type":"invoke","t":1,"client":"{}","xid":1,"op":{{"Sync":{{"path":"/"}}}}}}"#,
            "y".repeat(100_000)
        );
        let message = error_of(&huge);
        assert!(message.len() < 300, "{message}");
        assert!(message.contains("... (100000 characters)"), "{message}");
        assert!(message.contains("field `client`"), "{message}");
        assert!(error_of("[1, 2]").contains("this line is a JSON array"));
        assert!(error_of("\u{feff}{\"type\":\"header\"}").contains("byte order mark"));
    }
}
