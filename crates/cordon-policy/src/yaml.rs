//! Stage 1 of loading: YAML text → a small node tree with positions (a CST).
//!
//! `yaml_serde` reports locations only for syntax errors, and a policy needs them for semantic
//! errors too (a bad regex on line 12, a duplicate rule id), so policies are read at the event
//! level with `saphyr-parser` and assembled here, non-recursively, under hard limits:
//! the file size, the nesting depth, and the number of nodes after alias expansion (a
//! "billion laughs" document is refused, not expanded). Duplicate keys in a mapping are errors:
//! YAML parsers disagree on which one wins, and a policy must mean one thing.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::diag::{DiagnosticKind, Pos, Severity, Sink};

/// Largest policy file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes a document may have once aliases are expanded.
pub const MAX_NODES: usize = 200_000;

/// A YAML node with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) pos: Pos,
    pub(crate) value: Value,
}

/// The shape of a node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A scalar; `plain` is true for unquoted scalars (which YAML resolves to null/bool/number).
    Scalar { text: String, plain: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order, keys unique (checked while building).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// Whether this is a plain `null`, `~` or empty scalar.
    pub(crate) fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if is_null_text(text))
    }

    /// A short description of the node's type, for "expected X, found Y" messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Scalar { .. } if self.is_null() => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The scalar's text, if this is a non-null scalar.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } if !self.is_null() => Some(text),
            _ => None,
        }
    }

    /// Converts to JSON with YAML 1.2 core-schema resolution of plain scalars.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Scalar { text, plain } => {
                if *plain {
                    resolve_plain(text)
                } else {
                    serde_json::Value::String(text.clone())
                }
            }
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (key_text(k), v.to_json()))
                    .collect(),
            ),
        }
    }
}

fn key_text(node: &Node) -> String {
    match &node.value {
        Value::Scalar { text, .. } => text.clone(),
        _ => String::new(),
    }
}

fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

fn resolve_plain(text: &str) -> serde_json::Value {
    if is_null_text(text) {
        return serde_json::Value::Null;
    }
    match text {
        "true" | "True" | "TRUE" => return serde_json::Value::Bool(true),
        "false" | "False" | "FALSE" => return serde_json::Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = text.parse::<i64>()
    {
        return serde_json::Value::from(i);
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return serde_json::Value::from(i);
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return serde_json::Value::from(i);
    }
    let looks_float = digits
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if looks_float
        && let Ok(f) = text.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return serde_json::Value::Number(n);
    }
    serde_json::Value::String(text.to_owned())
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: span.start.line().max(1),
        column: span.start.col() + 1,
    }
}

/// A container being built.
enum Open {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
    },
}

/// Parses one policy document. Returns `None` (with diagnostics) when the text is not usable;
/// `Some(None)` for an empty document (no content at all).
pub(crate) fn parse(file: &str, text: &str, sink: &mut Sink) -> Option<Option<Node>> {
    if text.len() > MAX_FILE_BYTES {
        sink.push(
            file,
            Pos::START,
            Severity::Error,
            DiagnosticKind::Limit,
            format!(
                "policy file is {} bytes; the limit is {MAX_FILE_BYTES} bytes",
                text.len()
            ),
            Some("split the policy into several files in one directory".into()),
        );
        return None;
    }
    let mut builder = Builder {
        file,
        sink,
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        root: None,
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_event() {
            None => break,
            Some(Err(error)) => {
                let mark = error.marker();
                let mut pos = Pos {
                    line: mark.line().max(1),
                    column: mark.col() + 1,
                };
                // The scanner reports a tab error just after the tab; point at the tab itself.
                if error.info().contains("tab") {
                    let tab = text
                        .lines()
                        .nth(pos.line - 1)
                        .and_then(|l| l.chars().position(|c| c == '\t'));
                    if let Some(col) = tab {
                        pos.column = col + 1;
                    }
                }
                builder.sink.push(
                    file,
                    pos,
                    Severity::Error,
                    DiagnosticKind::Syntax,
                    format!("invalid YAML: {}", error.info()),
                    text.contains('\t')
                        .then(|| "YAML does not allow tabs for indentation; use spaces".to_owned()),
                );
                return None;
            }
            Some(Ok((event, span))) => {
                if !builder.on_event(event, &span) {
                    return None;
                }
            }
        }
    }
    Some(builder.root)
}

struct Builder<'a> {
    file: &'a str,
    sink: &'a mut Sink,
    stack: Vec<Open>,
    /// Anchored nodes with their node count and height, for bounded alias expansion.
    anchors: HashMap<usize, (Node, usize, usize)>,
    nodes: usize,
    root: Option<Node>,
    documents: usize,
}

impl Builder<'_> {
    fn error(&mut self, pos: Pos, kind: DiagnosticKind, message: String, help: Option<String>) {
        self.sink
            .push(self.file, pos, Severity::Error, kind, message, help);
    }

    fn count(&mut self, n: usize, pos: Pos) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            self.error(
                pos,
                DiagnosticKind::Limit,
                format!("document has more than {MAX_NODES} nodes (after expanding aliases)"),
                Some("policies do not need this many values; check anchors and aliases".into()),
            );
            return false;
        }
        true
    }

    /// Handles one event; false stops parsing (an error was reported).
    fn on_event(&mut self, event: Event<'_>, span: &Span) -> bool {
        let pos = pos_of(span);
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => true,
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    self.error(
                        pos,
                        DiagnosticKind::Syntax,
                        "a policy file holds one YAML document; found a second one".into(),
                        Some("remove the `---` separator or split into several files".into()),
                    );
                    return false;
                }
                true
            }
            Event::Alias(id) => {
                let Some((node, count, height)) = self.anchors.get(&id).cloned() else {
                    self.error(pos, DiagnosticKind::Syntax, "unknown alias".into(), None);
                    return false;
                };
                if self.stack.len() + height > MAX_DEPTH {
                    self.depth_error(pos);
                    return false;
                }
                if !self.count(count, pos) {
                    return false;
                }
                let mut node = node;
                relocate(&mut node, pos);
                self.complete(node, 0, count, height)
            }
            Event::Scalar(text, style, anchor, tag) => {
                if !self.check_tag(tag.as_deref(), pos) || !self.count(1, pos) {
                    return false;
                }
                let plain = matches!(style, ScalarStyle::Plain)
                    && tag.as_deref().is_none_or(|t| t.suffix != "str");
                let node = Node {
                    pos,
                    value: Value::Scalar {
                        text: Cow::into_owned(text),
                        plain,
                    },
                };
                self.complete(node, anchor, 1, 0)
            }
            Event::SequenceStart(anchor, tag) => {
                if !self.check_tag(tag.as_deref(), pos) || !self.count(1, pos) {
                    return false;
                }
                if self.stack.len() >= MAX_DEPTH {
                    self.depth_error(pos);
                    return false;
                }
                self.stack.push(Open::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                });
                true
            }
            Event::MappingStart(anchor, tag) => {
                if !self.check_tag(tag.as_deref(), pos) || !self.count(1, pos) {
                    return false;
                }
                if self.stack.len() >= MAX_DEPTH {
                    self.depth_error(pos);
                    return false;
                }
                self.stack.push(Open::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    pending_key: None,
                });
                true
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = self.stack.pop() else {
                    self.error(pos, DiagnosticKind::Syntax, "unbalanced YAML".into(), None);
                    return false;
                };
                let (node, anchor) = match open {
                    Open::Seq { pos, anchor, items } => (
                        Node {
                            pos,
                            value: Value::Seq(items),
                        },
                        anchor,
                    ),
                    Open::Map {
                        pos,
                        anchor,
                        entries,
                        ..
                    } => (
                        Node {
                            pos,
                            value: Value::Map(entries),
                        },
                        anchor,
                    ),
                };
                let (count, height) = measure(&node);
                self.complete(node, anchor, count, height)
            }
        }
    }

    fn depth_error(&mut self, pos: Pos) {
        self.error(
            pos,
            DiagnosticKind::Limit,
            format!("nesting deeper than {MAX_DEPTH} levels"),
            None,
        );
    }

    fn check_tag(&mut self, tag: Option<&saphyr_parser::Tag>, pos: Pos) -> bool {
        match tag {
            None => true,
            Some(t)
                if t.is_yaml_core_schema()
                    && matches!(t.suffix.as_str(), "str" | "map" | "seq") =>
            {
                true
            }
            Some(t) => {
                self.error(
                    pos,
                    DiagnosticKind::Syntax,
                    format!("YAML tag `{t}` is not supported in policies"),
                    Some("remove the tag; quote the value if it must be a string".into()),
                );
                false
            }
        }
    }

    /// Attaches a finished node to its parent (or makes it the root).
    fn complete(&mut self, node: Node, anchor: usize, count: usize, height: usize) -> bool {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), count, height));
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                true
            }
            Some(Open::Seq { items, .. }) => {
                items.push(node);
                true
            }
            Some(Open::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    *pending_key = Some(node);
                    true
                }
                Some(key) => {
                    let key_name = match &key.value {
                        Value::Scalar { text, .. } => text.clone(),
                        _ => {
                            let pos = key.pos;
                            self.error(
                                pos,
                                DiagnosticKind::BadType,
                                "mapping keys must be plain strings".into(),
                                None,
                            );
                            return false;
                        }
                    };
                    let first = entries
                        .iter()
                        .find(|(k, _)| matches!(&k.value, Value::Scalar { text, .. } if *text == key_name))
                        .map(|(k, _)| k.pos);
                    if let Some(first) = first {
                        let pos = key.pos;
                        self.error(
                            pos,
                            DiagnosticKind::DuplicateKey,
                            format!(
                                "duplicate key `{key_name}` (first at line {}, column {})",
                                first.line, first.column
                            ),
                            Some("a key may appear once per mapping; merge or remove one".into()),
                        );
                        // Keep going: later diagnostics are still useful.
                        return true;
                    }
                    entries.push((key, node));
                    true
                }
            },
        }
    }
}

/// Node count and height of a finished node.
fn measure(node: &Node) -> (usize, usize) {
    let mut count = 0usize;
    let mut height = 0usize;
    let mut stack = vec![(node, 0usize)];
    while let Some((n, depth)) = stack.pop() {
        count = count.saturating_add(1);
        height = height.max(depth);
        match &n.value {
            Value::Scalar { .. } => {}
            Value::Seq(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            Value::Map(entries) => {
                for (k, v) in entries {
                    stack.push((k, depth + 1));
                    stack.push((v, depth + 1));
                }
            }
        }
    }
    (count, height)
}

/// An expanded alias is reported at the alias's position, not the anchor's.
fn relocate(node: &mut Node, pos: Pos) {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        n.pos = pos;
        match &mut n.value {
            Value::Scalar { .. } => {}
            Value::Seq(items) => stack.extend(items.iter_mut()),
            Value::Map(entries) => {
                for (k, v) in entries.iter_mut() {
                    stack.push(k);
                    stack.push(v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Node {
        let mut sink = Sink::default();
        let node = parse("t.yaml", text, &mut sink);
        assert!(sink.diagnostics.is_empty(), "{:?}", sink.diagnostics);
        node.flatten().expect("a document")
    }

    fn parse_err(text: &str) -> Vec<crate::Diagnostic> {
        let mut sink = Sink::default();
        let _ = parse("t.yaml", text, &mut sink);
        assert!(sink.has_errors(), "expected an error for {text:?}");
        sink.diagnostics
    }

    #[test]
    fn positions_are_one_based() {
        let node = parse_ok("a: 1\nb:\n  - x\n  - \"y\"\n");
        let Value::Map(entries) = &node.value else {
            panic!("map expected")
        };
        let (k, v) = &entries[1];
        assert_eq!(k.pos, Pos { line: 2, column: 1 });
        let Value::Seq(items) = &v.value else {
            panic!("seq expected")
        };
        assert_eq!(items[1].pos, Pos { line: 4, column: 5 });
        assert_eq!(items[1].as_str(), Some("y"));
    }

    #[test]
    fn empty_document_is_none() {
        let mut sink = Sink::default();
        assert_eq!(parse("t.yaml", "# only a comment\n", &mut sink), Some(None));
        assert!(sink.diagnostics.is_empty());
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let d = parse_err("a: 1\nb: 2\na: 3\n");
        assert_eq!(d[0].kind, DiagnosticKind::DuplicateKey);
        assert_eq!((d[0].line, d[0].column), (3, 1));
    }

    #[test]
    fn tabs_are_syntax_errors_with_help() {
        let d = parse_err("a:\n\t- b\n");
        assert_eq!(d[0].kind, DiagnosticKind::Syntax);
        assert!(d[0].help.as_deref().unwrap_or("").contains("tabs"));
        assert_eq!((d[0].line, d[0].column), (2, 1));
    }

    #[test]
    fn billion_laughs_is_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let d = parse_err(&text);
        assert_eq!(d[0].kind, DiagnosticKind::Limit);
    }

    #[test]
    fn small_aliases_expand() {
        let node = parse_ok("a: &x [1, 2]\nb: *x\n");
        let json = node.to_json();
        assert_eq!(json["b"], serde_json::json!([1, 2]));
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let mut sink = Sink::default();
        let _ = parse("t.yaml", &text, &mut sink);
        assert!(sink.has_errors());
    }

    #[test]
    fn deep_block_nesting_hits_our_limit() {
        let mut text = String::new();
        for depth in 0..(MAX_DEPTH + 5) {
            text.push_str(&" ".repeat(depth));
            text.push_str(&format!("k{depth}:\n"));
        }
        let d = parse_err(&text);
        assert_eq!(d[0].kind, DiagnosticKind::Limit);
        assert_eq!(d[0].line, MAX_DEPTH + 1);
        // Exactly at the limit is fine.
        let mut text = String::new();
        for depth in 0..MAX_DEPTH {
            text.push_str(&" ".repeat(depth));
            text.push_str(&format!("k{depth}:\n"));
        }
        parse_ok(&text);
    }

    #[test]
    fn aliases_cannot_smuggle_depth() {
        let mut text = String::from("a: &a ");
        text.push_str(&"[".repeat(40));
        text.push_str(&"]".repeat(40));
        text.push_str("\nb: ");
        text.push_str(&"[".repeat(40));
        text.push_str("*a");
        text.push_str(&"]".repeat(40));
        text.push('\n');
        let d = parse_err(&text);
        assert_eq!(d[0].kind, DiagnosticKind::Limit);
    }

    #[test]
    fn complex_keys_are_refused() {
        let d = parse_err("? [a, b]\n: c\n");
        assert_eq!(d[0].kind, DiagnosticKind::BadType);
    }

    #[test]
    fn oversized_file_is_refused() {
        let text = "#".repeat(MAX_FILE_BYTES + 1);
        let d = parse_err(&text);
        assert_eq!(d[0].kind, DiagnosticKind::Limit);
    }

    #[test]
    fn second_document_is_refused() {
        let d = parse_err("a: 1\n---\nb: 2\n");
        assert_eq!(d[0].kind, DiagnosticKind::Syntax);
    }

    #[test]
    fn unsupported_tags_are_refused() {
        let d = parse_err("a: !!binary aGVsbG8=\n");
        assert_eq!(d[0].kind, DiagnosticKind::Syntax);
        let node = parse_ok("a: !!str 12\n");
        assert_eq!(node.to_json()["a"], serde_json::json!("12"));
    }

    #[test]
    fn core_schema_resolution() {
        let node = parse_ok("a: 1\nb: true\nc: ~\nd: '1'\ne: 1.5\nf: abc\ng: 0x1f\n");
        assert_eq!(
            node.to_json(),
            serde_json::json!({"a": 1, "b": true, "c": null, "d": "1", "e": 1.5, "f": "abc", "g": 31})
        );
    }
}
