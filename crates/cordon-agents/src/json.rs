//! Minimal-change editing of JSON (and JSON with comments) configuration files.
//!
//! Agents' config files are edited by people and by the agents themselves; re-serializing them
//! would reorder keys, change indentation and drop comments. This module parses the text into a
//! tree that remembers where every value lies, and edits the text only where Cordon's entry
//! goes: everything else stays byte for byte.

use serde_json::{Map, Value};

use crate::AgentError;

/// Deepest nesting accepted (hostile files must not overflow the stack).
const MAX_DEPTH: usize = 128;

/// A parsed value and the byte range of its text.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

/// What a node is.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Object(Vec<Member>),
    Array(Vec<Node>),
    Scalar(Value),
}

/// One `"key": value` pair of an object.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub key: String,
    pub key_start: usize,
    pub value: Node,
}

impl Node {
    /// The member `key` of an object node.
    pub fn member(&self, key: &str) -> Option<&Member> {
        match &self.kind {
            Kind::Object(members) => members.iter().rev().find(|m| m.key == key),
            _ => None,
        }
    }

    /// The members, if this is an object.
    pub fn members(&self) -> Option<&[Member]> {
        match &self.kind {
            Kind::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The node as a plain JSON value.
    pub fn to_value(&self) -> Value {
        match &self.kind {
            Kind::Scalar(v) => v.clone(),
            Kind::Array(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Kind::Object(members) => {
                let mut map = Map::new();
                for m in members {
                    map.insert(m.key.clone(), m.value.to_value());
                }
                Value::Object(map)
            }
        }
    }
}

/// Parses `text`; `comments` allows `//` and `/* */` comments and trailing commas (JSONC).
pub(crate) fn parse(text: &str, comments: bool) -> Result<Node, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        comments,
    };
    p.ws()?;
    let node = p.value(0)?;
    p.ws()?;
    if p.i < p.s.len() {
        return Err(p.err("unexpected text after the JSON value"));
    }
    Ok(node)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    comments: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn err(&self, what: &str) -> String {
        let upto = self.s.get(..self.i).unwrap_or(self.s);
        let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
        let col = upto.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        format!("line {line}, column {col}: {what}")
    }

    fn ws(&mut self) -> Result<(), String> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.i += 1,
                Some(b'/') if self.comments => match self.s.get(self.i + 1) {
                    Some(b'/') => {
                        while let Some(c) = self.peek() {
                            if c == b'\n' {
                                break;
                            }
                            self.i += 1;
                        }
                    }
                    Some(b'*') => {
                        self.i += 2;
                        loop {
                            match self.peek() {
                                None => return Err(self.err("unterminated comment")),
                                Some(b'*') if self.s.get(self.i + 1) == Some(&b'/') => {
                                    self.i += 2;
                                    break;
                                }
                                Some(_) => self.i += 1,
                            }
                        }
                    }
                    _ => return Err(self.err("unexpected `/`")),
                },
                Some(b'/') => {
                    return Err(self.err("comments are not allowed in this file"));
                }
                _ => return Ok(()),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, String> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let start = self.i;
        let kind = match self.peek() {
            Some(b'{') => Kind::Object(self.object(depth)?),
            Some(b'[') => Kind::Array(self.array(depth)?),
            Some(b'"') => Kind::Scalar(Value::String(self.string()?)),
            Some(b't') => self.word("true", Value::Bool(true))?,
            Some(b'f') => self.word("false", Value::Bool(false))?,
            Some(b'n') => self.word("null", Value::Null)?,
            Some(b'-' | b'0'..=b'9') => Kind::Scalar(self.number()?),
            Some(_) => return Err(self.err("expected a JSON value")),
            None => return Err(self.err("unexpected end of file")),
        };
        Ok(Node {
            start,
            end: self.i,
            kind,
        })
    }

    fn word(&mut self, word: &str, value: Value) -> Result<Kind, String> {
        if self.s.get(self.i..self.i + word.len()) == Some(word.as_bytes()) {
            self.i += word.len();
            Ok(Kind::Scalar(value))
        } else {
            Err(self.err("expected a JSON value"))
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                self.i += 1;
            } else {
                break;
            }
        }
        let text = std::str::from_utf8(self.s.get(start..self.i).unwrap_or_default())
            .map_err(|_| self.err("bad number"))?;
        serde_json::from_str::<Value>(text).map_err(|_| self.err("bad number"))
    }

    fn string(&mut self) -> Result<String, String> {
        let start = self.i;
        self.i += 1;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => self.i += 2,
                Some(c) if c < 0x20 => return Err(self.err("control character in a string")),
                Some(_) => self.i += 1,
            }
        }
        let raw = self.s.get(start..self.i).unwrap_or_default();
        serde_json::from_slice::<String>(raw).map_err(|_| self.err("bad string"))
    }

    fn object(&mut self, depth: usize) -> Result<Vec<Member>, String> {
        self.i += 1;
        let mut members = Vec::new();
        self.ws()?;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(members);
        }
        loop {
            self.ws()?;
            if self.comments && self.peek() == Some(b'}') && !members.is_empty() {
                self.i += 1;
                return Ok(members);
            }
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a quoted key"));
            }
            let key_start = self.i;
            let key = self.string()?;
            self.ws()?;
            if self.peek() != Some(b':') {
                return Err(self.err("expected `:`"));
            }
            self.i += 1;
            self.ws()?;
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_start,
                value,
            });
            self.ws()?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(members);
                }
                _ => return Err(self.err("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Vec<Node>, String> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws()?;
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(items);
        }
        loop {
            self.ws()?;
            if self.comments && self.peek() == Some(b']') && !items.is_empty() {
                self.i += 1;
                return Ok(items);
            }
            items.push(self.value(depth + 1)?);
            self.ws()?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(items);
                }
                _ => return Err(self.err("expected `,` or `]`")),
            }
        }
    }
}

/// A JSON document being edited: the text and its parse, re-parsed after every edit.
pub(crate) struct Doc {
    pub text: String,
    pub root: Node,
    comments: bool,
    /// One indentation level, as the file uses it.
    unit: String,
}

impl Doc {
    /// Parses a document whose root must be an object; an empty (or blank) text is `{}`.
    pub fn parse(text: &str, comments: bool, what: &str) -> Result<Doc, AgentError> {
        let text = if text.trim().is_empty() {
            "{}\n".to_owned()
        } else {
            text.to_owned()
        };
        let root = parse(&text, comments).map_err(|e| AgentError::Malformed {
            what: what.to_owned(),
            reason: e,
        })?;
        if !matches!(root.kind, Kind::Object(_)) {
            return Err(AgentError::Malformed {
                what: what.to_owned(),
                reason: "the top level is not a JSON object".to_owned(),
            });
        }
        let unit = detect_unit(&text, &root);
        Ok(Doc {
            text,
            root,
            comments,
            unit,
        })
    }

    fn reparse(&mut self) -> Result<(), AgentError> {
        self.root = parse(&self.text, self.comments)
            .map_err(|e| AgentError::Internal(format!("an edit produced invalid JSON ({e})")))?;
        Ok(())
    }

    /// The node at `path` (object keys), if every step exists.
    pub fn get(&self, path: &[&str]) -> Option<&Node> {
        let mut node = &self.root;
        for key in path {
            node = &node.member(key)?.value;
        }
        Some(node)
    }

    /// Sets `path[..n-1]` object's member `path[n-1]` to `value`, creating missing objects on
    /// the way. An existing equal value is left untouched (text included).
    pub fn set(&mut self, path: &[&str], value: &Value) -> Result<(), AgentError> {
        let Some((last, parents)) = path.split_last() else {
            return Err(AgentError::Internal("empty JSON path".into()));
        };
        // Walk down as far as the objects exist.
        let mut node = &self.root;
        let mut depth = 0;
        for key in parents {
            match node.member(key) {
                Some(m) => {
                    if !matches!(m.value.kind, Kind::Object(_)) {
                        return Err(AgentError::Malformed {
                            what: path_name(path),
                            reason: format!("`{key}` is not a JSON object"),
                        });
                    }
                    node = &m.value;
                    depth += 1;
                }
                None => break,
            }
        }
        if depth == parents.len()
            && let Some(existing) = node.member(last)
        {
            if existing.value.to_value() == *value {
                return Ok(());
            }
            let (start, end) = (existing.value.start, existing.value.end);
            let indent = line_indent(&self.text, existing.key_start);
            let compact = !self.multiline(node);
            let text = render(value, &indent, &self.unit, compact);
            self.text.replace_range(start..end, &text);
            return self.reparse();
        }
        // Build the missing part as one nested value and insert it as a member of `node`.
        let mut nested = value.clone();
        for key in path.iter().skip(depth + 1).rev() {
            let mut map = Map::new();
            map.insert((*key).to_owned(), nested);
            nested = Value::Object(map);
        }
        let key = path.get(depth).copied().unwrap_or(last);
        let node = node.clone();
        self.insert(&node, Some(key), &nested)
    }

    /// Appends `value` to the array at `path` (which must exist).
    pub fn push(&mut self, path: &[&str], value: &Value) -> Result<(), AgentError> {
        let Some(node) = self.get(path).cloned() else {
            return Err(AgentError::Internal("array to append to is missing".into()));
        };
        if !matches!(node.kind, Kind::Array(_)) {
            return Err(AgentError::Malformed {
                what: path_name(path),
                reason: "not a JSON array".into(),
            });
        }
        self.insert(&node, None, value)
    }

    /// Removes member `key` of the object at `path`; false when there was none.
    pub fn remove(&mut self, path: &[&str], key: &str) -> Result<bool, AgentError> {
        let Some(node) = self.get(path).cloned() else {
            return Ok(false);
        };
        let Kind::Object(members) = &node.kind else {
            return Ok(false);
        };
        let Some(index) = members.iter().rposition(|m| m.key == key) else {
            return Ok(false);
        };
        let spans: Vec<(usize, usize)> =
            members.iter().map(|m| (m.key_start, m.value.end)).collect();
        self.remove_span(&node, &spans, index)
    }

    /// Removes element `index` of the array at `path`.
    pub fn remove_item(&mut self, path: &[&str], index: usize) -> Result<bool, AgentError> {
        let Some(node) = self.get(path).cloned() else {
            return Ok(false);
        };
        let Kind::Array(items) = &node.kind else {
            return Ok(false);
        };
        let spans: Vec<(usize, usize)> = items.iter().map(|n| (n.start, n.end)).collect();
        self.remove_span(&node, &spans, index)
    }

    fn remove_span(
        &mut self,
        container: &Node,
        spans: &[(usize, usize)],
        index: usize,
    ) -> Result<bool, AgentError> {
        let Some(&(start, end)) = spans.get(index) else {
            return Ok(false);
        };
        let range = if spans.len() == 1 {
            // The only entry: leave an empty container (`{}` / `[]`).
            (container.start + 1)..(container.end - 1)
        } else if let Some(&(_, prev_end)) = index.checked_sub(1).and_then(|i| spans.get(i)) {
            // Not the first: remove from the end of the previous entry (its comma included).
            prev_end..end
        } else if let Some(&(next_start, _)) = spans.get(index + 1) {
            start..next_start
        } else {
            start..end
        };
        self.text.replace_range(range, "");
        self.reparse()?;
        Ok(true)
    }

    fn multiline(&self, container: &Node) -> bool {
        let inner = self
            .text
            .get(container.start..container.end)
            .unwrap_or_default();
        inner.contains('\n')
    }

    /// Inserts a member (`key`) or an array element (`None`) at the end of `container`.
    fn insert(
        &mut self,
        container: &Node,
        key: Option<&str>,
        value: &Value,
    ) -> Result<(), AgentError> {
        let entries: Vec<(usize, usize)> = match &container.kind {
            Kind::Object(members) => members.iter().map(|m| (m.key_start, m.value.end)).collect(),
            Kind::Array(items) => items.iter().map(|n| (n.start, n.end)).collect(),
            Kind::Scalar(_) => return Err(AgentError::Internal("insert into a scalar".into())),
        };
        let prefix = match key {
            Some(k) => format!("{}: ", Value::String(k.to_owned())),
            None => String::new(),
        };
        let close_indent = line_indent(&self.text, container.start);
        match entries.last() {
            None => {
                let multiline = self.multiline(&self.root) || container.start == self.root.start;
                let (open, close) = (container.start + 1, container.end - 1);
                let text = if multiline {
                    let indent = format!("{close_indent}{}", self.unit);
                    format!(
                        "\n{indent}{prefix}{}\n{close_indent}",
                        render(value, &indent, &self.unit, false)
                    )
                } else {
                    format!("{prefix}{}", render(value, "", &self.unit, true))
                };
                self.text.replace_range(open..close, &text);
            }
            Some(&(first_start, _)) => {
                let (_, last_end) = entries.last().copied().unwrap_or_default();
                let first = entries.first().map_or(first_start, |e| e.0);
                let compact = !self.multiline(container);
                // A trailing comma (JSONC) after the last entry: insert after it.
                let after = self
                    .text
                    .get(last_end..container.end - 1)
                    .unwrap_or_default();
                let trailing_comma = after.trim_start().starts_with(',');
                let at = if trailing_comma {
                    last_end + after.find(',').unwrap_or(0) + 1
                } else {
                    last_end
                };
                let text = if compact {
                    format!(", {prefix}{}", render(value, "", &self.unit, true))
                } else {
                    let indent = line_indent(&self.text, first);
                    let body = render(value, &indent, &self.unit, false);
                    if trailing_comma {
                        format!("\n{indent}{prefix}{body},")
                    } else {
                        format!(",\n{indent}{prefix}{body}")
                    }
                };
                self.text.insert_str(at, &text);
            }
        }
        self.reparse()
    }
}

fn path_name(path: &[&str]) -> String {
    path.join(".")
}

/// The whitespace that starts the line holding byte `at`.
fn line_indent(text: &str, at: usize) -> String {
    let before = text.get(..at).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    text.get(line_start..at)
        .unwrap_or_default()
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

/// The file's indentation unit: the indent of the root's first member, else two spaces.
fn detect_unit(text: &str, root: &Node) -> String {
    if let Some(first) = root.members().and_then(|m| m.first()) {
        let before = text.get(root.start..first.key_start).unwrap_or_default();
        if before.contains('\n') {
            let indent = line_indent(text, first.key_start);
            if !indent.is_empty() {
                return indent;
            }
        }
    }
    "  ".to_owned()
}

/// Renders `value` for insertion at a line indented by `indent`: objects one member per line,
/// arrays of scalars on one line; `compact` keeps everything on one line.
pub(crate) fn render(value: &Value, indent: &str, unit: &str, compact: bool) -> String {
    match value {
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        Value::Object(map) if compact => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}: {}",
                        Value::String(k.clone()),
                        render(v, indent, unit, true)
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Object(map) => {
            let inner = format!("{indent}{unit}");
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{inner}{}: {}",
                        Value::String(k.clone()),
                        render(v, &inner, unit, false)
                    )
                })
                .collect();
            format!("{{\n{}\n{indent}}}", parts.join(",\n"))
        }
        Value::Array(items) if items.is_empty() => "[]".to_owned(),
        Value::Array(items) if compact || items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            let parts: Vec<String> = items
                .iter()
                .map(|v| render(v, indent, unit, true))
                .collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Array(items) => {
            let inner = format!("{indent}{unit}");
            let parts: Vec<String> = items
                .iter()
                .map(|v| format!("{inner}{}", render(v, &inner, unit, false)))
                .collect();
            format!("[\n{}\n{indent}]", parts.join(",\n"))
        }
        scalar => scalar.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(text: &str) -> Doc {
        Doc::parse(text, true, "test").unwrap()
    }

    #[test]
    fn inserts_into_existing_object_keeping_other_text() {
        let mut d = doc(
            "{\n    \"a\": 1,\n    \"mcpServers\": {\n        \"x\": {\"command\": \"x\"}\n    }\n}\n",
        );
        d.set(
            &["mcpServers", "cordon"],
            &json!({"command": "c", "args": ["mcp"]}),
        )
        .unwrap();
        assert_eq!(
            d.text,
            "{\n    \"a\": 1,\n    \"mcpServers\": {\n        \"x\": {\"command\": \"x\"},\n        \"cordon\": {\n            \"command\": \"c\",\n            \"args\": [\"mcp\"]\n        }\n    }\n}\n"
        );
    }

    #[test]
    fn creates_missing_objects_and_handles_empty_ones() {
        let mut d = doc("{\n  \"a\": true\n}");
        d.set(&["mcpServers", "cordon"], &json!({"command": "c"}))
            .unwrap();
        assert_eq!(
            d.text,
            "{\n  \"a\": true,\n  \"mcpServers\": {\n    \"cordon\": {\n      \"command\": \"c\"\n    }\n  }\n}"
        );
        let mut d = doc("{}");
        d.set(&["servers", "cordon"], &json!({"command": "c"}))
            .unwrap();
        assert_eq!(
            d.text,
            "{\n  \"servers\": {\n    \"cordon\": {\n      \"command\": \"c\"\n    }\n  }\n}"
        );
    }

    #[test]
    fn removal_restores_the_text() {
        let original = "{\n  \"mcpServers\": {\n    \"x\": {}\n  } // keep\n}";
        let mut d = doc(original);
        d.set(&["mcpServers", "cordon"], &json!({"command": "c"}))
            .unwrap();
        assert!(d.remove(&["mcpServers"], "cordon").unwrap());
        assert_eq!(d.text, original);
        assert!(d.remove(&["mcpServers"], "x").unwrap());
        assert_eq!(d.text, "{\n  \"mcpServers\": {} // keep\n}");
    }

    #[test]
    fn equal_value_is_a_no_op_and_comments_are_kept() {
        let text = "{\n  // comment\n  \"servers\": {\"cordon\": {\"command\": \"c\"},}\n}";
        let mut d = doc(text);
        d.set(&["servers", "cordon"], &json!({"command": "c"}))
            .unwrap();
        assert_eq!(d.text, text);
    }

    #[test]
    fn malformed_and_hostile_inputs_are_errors() {
        for bad in [
            "{",
            "{\"a\" 1}",
            "[1]",
            "{\"a\": tru}",
            "{\"a\":1,}",
            "{/*}",
            "\"x\"",
        ] {
            assert!(Doc::parse(bad, false, "t").is_err(), "{bad}");
        }
        assert!(Doc::parse("{// c\n}", false, "t").is_err());
        let deep = "[".repeat(10_000);
        assert!(parse(&deep, false).is_err());
    }

    #[test]
    fn arrays_append() {
        let mut d = doc("{\"hooks\": {\"PreToolUse\": []}}");
        d.push(&["hooks", "PreToolUse"], &json!({"matcher": "Bash"}))
            .unwrap();
        assert_eq!(
            d.text,
            "{\"hooks\": {\"PreToolUse\": [{\"matcher\": \"Bash\"}]}}"
        );
        d.push(&["hooks", "PreToolUse"], &json!(1)).unwrap();
        assert_eq!(
            d.text,
            "{\"hooks\": {\"PreToolUse\": [{\"matcher\": \"Bash\"}, 1]}}"
        );
        assert!(d.remove_item(&["hooks", "PreToolUse"], 1).unwrap());
        assert_eq!(
            d.text,
            "{\"hooks\": {\"PreToolUse\": [{\"matcher\": \"Bash\"}]}}"
        );
    }
}
