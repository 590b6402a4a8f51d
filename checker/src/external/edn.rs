//! A small reader for EDN (github.com/edn-format/edn), the notation Jepsen and Knossos
//! write histories in. It reads everything those histories use (maps, vectors, lists, sets,
//! strings, keywords, integers, `nil`, comments, `#_` discards, tagged values) and reports
//! anything else as a problem on a line, never a panic.

use std::fmt;

/// An EDN value. Map entries keep their order of appearance.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Char(char),
    Keyword(String),
    Symbol(String),
    List(Vec<Edn>),
    Vector(Vec<Edn>),
    Set(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
    Tagged(String, Box<Edn>),
}

impl Edn {
    /// The value under keyword `:key` of a map.
    pub fn get(&self, key: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(name) if name == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_keyword(&self) -> Option<&str> {
        match self {
            Edn::Keyword(name) => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for Edn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(f: &mut fmt::Formatter<'_>, open: &str, items: &[Edn], close: &str) -> fmt::Result {
            f.write_str(open)?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{item}")?;
            }
            f.write_str(close)
        }
        match self {
            Edn::Nil => f.write_str("nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(n) => write!(f, "{n}"),
            Edn::Float(x) => write!(f, "{x}"),
            Edn::Str(s) => write!(f, "{s:?}"),
            Edn::Char(c) => write!(f, "\\{c}"),
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::Symbol(s) => f.write_str(s),
            Edn::List(items) => seq(f, "(", items, ")"),
            Edn::Vector(items) => seq(f, "[", items, "]"),
            Edn::Set(items) => seq(f, "#{", items, "}"),
            Edn::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
            Edn::Tagged(tag, value) => write!(f, "#{tag} {value}"),
        }
    }
}

/// A problem in EDN text, on a 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdnError {
    pub line: usize,
    pub problem: String,
}

/// Reads EDN forms from text, tracking the line.
pub struct Reader<'t> {
    text: &'t [u8],
    pos: usize,
    line: usize,
    /// How many forms are being read, one inside the other.
    depth: usize,
}

/// Forms nest at most this deep, so that a hostile file cannot exhaust the stack.
const MAX_DEPTH: usize = 256;

fn is_whitespace(b: u8) -> bool {
    b.is_ascii_whitespace() || b == b','
}

fn is_symbol_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b".*+!-_?$%&=<>/':#".contains(&b) || b >= 0x80
}

impl<'t> Reader<'t> {
    pub fn new(text: &'t str) -> Self {
        Self {
            text: text.as_bytes(),
            pos: 0,
            line: 1,
            depth: 0,
        }
    }

    /// The line the reader is on.
    pub fn line(&self) -> usize {
        self.line
    }

    fn error<T>(&self, problem: impl Into<String>) -> Result<T, EdnError> {
        Err(EdnError {
            line: self.line,
            problem: problem.into(),
        })
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        if b == b'\n' {
            self.line += 1;
        }
        Some(b)
    }

    /// Skips whitespace, commas, comments and `#_` discarded forms; returns the next byte.
    pub fn skip_ignorable(&mut self) -> Result<Option<u8>, EdnError> {
        loop {
            match self.peek() {
                Some(b) if is_whitespace(b) => {
                    self.bump();
                }
                Some(b';') => {
                    while let Some(b) = self.bump() {
                        if b == b'\n' {
                            break;
                        }
                    }
                }
                Some(b'#') if self.text.get(self.pos + 1) == Some(&b'_') => {
                    self.pos += 2;
                    self.read_form()?;
                }
                other => return Ok(other),
            }
        }
    }

    /// Reads the next form; `None` at the end of the text.
    pub fn next_form(&mut self) -> Result<Option<Edn>, EdnError> {
        if self.skip_ignorable()?.is_none() {
            return Ok(None);
        }
        self.read_form().map(Some)
    }

    /// Reads the opening bracket of a top-level list or vector, so that its elements can be
    /// read one by one with `next_element` (each with its own line).
    pub fn open_sequence(&mut self) -> Result<u8, EdnError> {
        match self.skip_ignorable()? {
            Some(b'[') => {
                self.bump();
                Ok(b']')
            }
            Some(b'(') => {
                self.bump();
                Ok(b')')
            }
            Some(b) => self.error(format!(
                "expected a list `(` or vector `[` of operations, found `{}`",
                char::from(b)
            )),
            None => self.error("expected a list `(` or vector `[` of operations, found nothing"),
        }
    }

    /// The next element of a sequence opened with `open_sequence` and the line it starts
    /// on; `None` after the closing bracket `close`.
    pub fn next_element(&mut self, close: u8) -> Result<Option<(usize, Edn)>, EdnError> {
        match self.skip_ignorable()? {
            Some(b) if b == close => {
                self.bump();
                Ok(None)
            }
            Some(_) => {
                let line = self.line;
                Ok(Some((line, self.read_form()?)))
            }
            None => self.error(format!("missing closing `{}`", char::from(close))),
        }
    }

    fn read_form(&mut self) -> Result<Edn, EdnError> {
        if self.depth >= MAX_DEPTH {
            return self.error(format!("values nested more than {MAX_DEPTH} deep"));
        }
        self.depth += 1;
        let form = self.read_form_here();
        self.depth -= 1;
        form
    }

    fn read_form_here(&mut self) -> Result<Edn, EdnError> {
        let Some(b) = self.skip_ignorable()? else {
            return self.error("expected a value, found the end of the text");
        };
        match b {
            b'(' => {
                self.bump();
                Ok(Edn::List(self.read_items(b')')?))
            }
            b'[' => {
                self.bump();
                Ok(Edn::Vector(self.read_items(b']')?))
            }
            b'{' => {
                self.bump();
                self.read_map()
            }
            b'"' => {
                self.bump();
                self.read_string()
            }
            b'\\' => {
                self.bump();
                self.read_char()
            }
            b'#' => {
                self.bump();
                self.read_dispatch()
            }
            b')' | b']' | b'}' => self.error(format!("unexpected `{}`", char::from(b))),
            _ => self.read_atom(),
        }
    }

    fn read_items(&mut self, close: u8) -> Result<Vec<Edn>, EdnError> {
        let start = self.line;
        let mut items = Vec::new();
        loop {
            match self.skip_ignorable()? {
                Some(b) if b == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(_) => items.push(self.read_form()?),
                None => {
                    return self.error(format!(
                        "missing closing `{}` for the collection opened on line {start}",
                        char::from(close)
                    ));
                }
            }
        }
    }

    fn read_map(&mut self) -> Result<Edn, EdnError> {
        let start = self.line;
        let items = self.read_items(b'}')?;
        if items.len() % 2 != 0 {
            return Err(EdnError {
                line: start,
                problem: "a map needs an even number of forms (key value pairs)".into(),
            });
        }
        let mut entries = Vec::with_capacity(items.len() / 2);
        let mut items = items.into_iter();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            entries.push((k, v));
        }
        Ok(Edn::Map(entries))
    }

    fn read_dispatch(&mut self) -> Result<Edn, EdnError> {
        match self.peek() {
            Some(b'{') => {
                self.bump();
                Ok(Edn::Set(self.read_items(b'}')?))
            }
            Some(b) if b.is_ascii_alphabetic() => {
                let tag = self.read_token();
                let value = self.read_form()?;
                Ok(Edn::Tagged(tag, Box::new(value)))
            }
            _ => self.error("unsupported `#` form (expected `#{`, `#_` or a tag)"),
        }
    }

    fn read_token(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_symbol_byte) {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.text[start..self.pos]).into_owned()
    }

    fn read_string(&mut self) -> Result<Edn, EdnError> {
        let start = self.line;
        let mut bytes = Vec::new();
        loop {
            let Some(b) = self.bump() else {
                return Err(EdnError {
                    line: start,
                    problem: "string not terminated".into(),
                });
            };
            match b {
                b'"' => break,
                b'\\' => {
                    let escaped = match self.bump() {
                        Some(b'n') => '\n',
                        Some(b't') => '\t',
                        Some(b'r') => '\r',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'u') => self.read_unicode_escape()?,
                        Some(other) => {
                            return self.error(format!(
                                "unknown escape `\\{}` in a string",
                                char::from(other)
                            ));
                        }
                        None => return self.error("string not terminated"),
                    };
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(escaped.encode_utf8(&mut buf).as_bytes());
                }
                _ => bytes.push(b),
            }
        }
        match String::from_utf8(bytes) {
            Ok(s) => Ok(Edn::Str(s)),
            Err(_) => self.error("string is not valid UTF-8"),
        }
    }

    fn read_unicode_escape(&mut self) -> Result<char, EdnError> {
        let end = self.pos + 4;
        let digits = self
            .text
            .get(self.pos..end)
            .and_then(|d| std::str::from_utf8(d).ok());
        let code = digits
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .and_then(char::from_u32);
        match code {
            Some(c) => {
                self.pos = end;
                Ok(c)
            }
            None => self.error("bad `\\u` escape in a string (expected four hex digits)"),
        }
    }

    fn read_char(&mut self) -> Result<Edn, EdnError> {
        let token = self.read_token();
        let c = match token.as_str() {
            "newline" => '\n',
            "space" => ' ',
            "tab" => '\t',
            "return" => '\r',
            _ => {
                let mut chars = token.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => c,
                    _ => return self.error(format!("unknown character literal `\\{token}`")),
                }
            }
        };
        Ok(Edn::Char(c))
    }

    fn read_atom(&mut self) -> Result<Edn, EdnError> {
        let token = self.read_token();
        if token.is_empty() {
            let b = self.peek().map(char::from).unwrap_or(' ');
            return self.error(format!("unexpected character `{b}`"));
        }
        if let Some(name) = token.strip_prefix(':') {
            if name.is_empty() {
                return self.error("empty keyword `:`");
            }
            return Ok(Edn::Keyword(name.to_string()));
        }
        let bytes = token.as_bytes();
        let numeric = bytes[0].is_ascii_digit()
            || (bytes.len() > 1
                && (bytes[0] == b'-' || bytes[0] == b'+')
                && bytes[1].is_ascii_digit());
        if numeric {
            return self.read_number(&token);
        }
        Ok(match token.as_str() {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            _ => Edn::Symbol(token),
        })
    }

    fn read_number(&self, token: &str) -> Result<Edn, EdnError> {
        let integer = token.strip_suffix('N').unwrap_or(token);
        if let Ok(n) = integer.parse::<i64>() {
            return Ok(Edn::Int(n));
        }
        let float = token.strip_suffix('M').unwrap_or(token);
        if float.contains(['.', 'e', 'E']) {
            if let Ok(x) = float.parse::<f64>() {
                return Ok(Edn::Float(x));
            }
        }
        if integer.bytes().skip(1).all(|b| b.is_ascii_digit()) {
            return self.error(format!("integer `{token}` does not fit in 64 bits"));
        }
        self.error(format!("malformed number `{token}`"))
    }
}

/// Reads exactly one form from `text`.
pub fn read_one(text: &str) -> Result<Edn, EdnError> {
    let mut reader = Reader::new(text);
    let Some(form) = reader.next_form()? else {
        return Err(EdnError {
            line: 1,
            problem: "expected a value, found nothing".into(),
        });
    };
    if reader.skip_ignorable()?.is_some() {
        return reader.error("unexpected text after the value");
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(name: &str) -> Edn {
        Edn::Keyword(name.into())
    }

    // A Jepsen operation map reads with its keys in order.
    #[test]
    fn reads_an_operation_map() {
        let form =
            read_one(r#"{:process 6, :type :invoke, :f :append, :key "0", :value "x 6 0 y"}"#)
                .expect("valid EDN");
        assert_eq!(form.get("process"), Some(&Edn::Int(6)));
        assert_eq!(form.get("type"), Some(&kw("invoke")));
        assert_eq!(form.get("key"), Some(&Edn::Str("0".into())));
        assert_eq!(form.get("missing"), None);
    }

    // Comments, commas, discards, sets, tags, escapes, negative and big-suffixed numbers.
    #[test]
    fn reads_the_rest_of_the_notation() {
        let text =
            "; a comment\n[1, -2 3N #_ 4 #{:a} #inst \"2020\" \"q\\\"\\u0041\" \\c nil true 1.5]";
        let form = read_one(text).expect("valid EDN");
        let Edn::Vector(items) = form else {
            panic!("a vector")
        };
        assert_eq!(items[0], Edn::Int(1));
        assert_eq!(items[1], Edn::Int(-2));
        assert_eq!(items[2], Edn::Int(3));
        assert_eq!(items[3], Edn::Set(vec![kw("a")]));
        assert_eq!(
            items[4],
            Edn::Tagged("inst".into(), Box::new(Edn::Str("2020".into())))
        );
        assert_eq!(items[5], Edn::Str("q\"A".into()));
        assert_eq!(items[6], Edn::Char('c'));
        assert_eq!(items[7], Edn::Nil);
        assert_eq!(items[8], Edn::Bool(true));
        assert_eq!(items[9], Edn::Float(1.5));
    }

    // Elements of a top-level sequence carry the line they start on.
    #[test]
    fn sequence_elements_carry_their_line() {
        let mut reader = Reader::new("(\n{:a 1}\n; note\n{:b\n 2})");
        let close = reader.open_sequence().expect("a list");
        let first = reader.next_element(close).expect("ok").expect("an element");
        let second = reader.next_element(close).expect("ok").expect("an element");
        assert_eq!(first.0, 2);
        assert_eq!(second.0, 4);
        assert!(reader.next_element(close).expect("ok").is_none());
    }

    // Malformed text is an error naming the line, never a panic.
    #[test]
    fn malformed_text_names_the_line() {
        let cases = [
            ("[1 2", 1, "missing closing `]`"),
            ("\n\n{:a}", 3, "even number"),
            ("\"abc", 1, "not terminated"),
            ("\n)", 2, "unexpected `)`"),
            ("99999999999999999999", 1, "does not fit"),
            ("1 2", 1, "after the value"),
            ("#?", 1, "unsupported `#`"),
            ("\"\\q\"", 1, "unknown escape"),
        ];
        for (text, line, problem) in cases {
            let err = read_one(text).expect_err(text);
            assert_eq!(err.line, line, "{text}");
            assert!(err.problem.contains(problem), "{text}: {}", err.problem);
        }
    }

    // Deep nesting is refused before it can exhaust the stack.
    #[test]
    fn deep_nesting_is_an_error() {
        for text in [
            "[".repeat(100_000),
            "#_".repeat(100_000),
            "#t ".repeat(100_000),
        ] {
            let err = read_one(&text).expect_err("too deep");
            assert!(
                err.problem.contains("nested more than 256 deep"),
                "{}",
                err.problem
            );
        }
    }
}
