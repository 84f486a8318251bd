//! Minimal text edits of a YAML config file: replace, append or remove one top-level key's block,
//! or one entry of the `servers:` block, leaving every other byte (comments, blank lines, key
//! order, quoting) exactly as it was. yaml_serde would drop comments on a round trip, so the
//! caller edits text here and then validates the whole result with the gateway's own loader.

/// One line with its line ending.
fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// The line ending the file uses (CRLF files stay CRLF).
pub fn newline(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Blank or comment-only.
fn is_trivia(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The key of a `key: ...` line (plain or quoted), without the indentation.
fn key_of(line: &str) -> Option<String> {
    let t = line.trim_start_matches(' ');
    if t.starts_with('#') || t.starts_with('-') || t.starts_with("...") {
        return None;
    }
    if let Some(rest) = t.strip_prefix('"') {
        let end = rest.find('"')?;
        let after = rest.get(end + 1..)?;
        return after
            .trim_start()
            .starts_with(':')
            .then(|| rest.get(..end).unwrap_or_default().to_owned());
    }
    if let Some(rest) = t.strip_prefix('\'') {
        let end = rest.find('\'')?;
        let after = rest.get(end + 1..)?;
        return after
            .trim_start()
            .starts_with(':')
            .then(|| rest.get(..end).unwrap_or_default().to_owned());
    }
    let bytes = t.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes.get(i) == Some(&b':') {
            let next = bytes.get(i + 1).copied();
            if matches!(next, None | Some(b' ' | b'\t' | b'\r' | b'\n')) {
                return Some(t.get(..i)?.trim_end().to_owned());
            }
        }
        i += 1;
    }
    None
}

/// A run of lines `[start, end)` that belongs to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First line (the key's line).
    pub start: usize,
    /// One past the last line of the block (trailing blank lines and column-0 comments are not
    /// part of it: they introduce what follows).
    pub end: usize,
}

/// The block of top-level `key`, if present.
pub fn top_level(text: &str, key: &str) -> Option<Span> {
    let lines = lines(text);
    let start = lines
        .iter()
        .position(|l| indent(l) == 0 && !is_trivia(l) && key_of(l).as_deref() == Some(key))?;
    let mut end = start + 1;
    let mut last_content = start + 1;
    while let Some(line) = lines.get(end) {
        let starts_col0 = !line.starts_with(' ') && !line.starts_with('\t');
        if starts_col0 && !is_trivia(line) {
            break;
        }
        end += 1;
        // Indented comments stay in the block; column-0 comments and blanks belong to what follows.
        if !(line.trim().is_empty() || (starts_col0 && is_trivia(line))) {
            last_content = end;
        }
    }
    Some(Span {
        start,
        end: last_content,
    })
}

/// Replaces the top-level block of `key` by `block` (full lines, ending in a newline), or
/// appends `block` at the end of the file when the key is absent.
pub fn set_top_level(text: &str, key: &str, block: &str) -> String {
    let lines = lines(text);
    match top_level(text, key) {
        Some(span) => splice(&lines, span, block),
        None => {
            let mut out = text.to_owned();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(newline(text));
            }
            out.push_str(block);
            out
        }
    }
}

/// Removes the top-level block of `key` (no-op when absent).
pub fn remove_top_level(text: &str, key: &str) -> String {
    match top_level(text, key) {
        Some(span) => splice(&lines(text), span, ""),
        None => text.to_owned(),
    }
}

fn splice(lines: &[&str], span: Span, replacement: &str) -> String {
    let mut out = String::new();
    for line in lines.get(..span.start).unwrap_or_default() {
        out.push_str(line);
    }
    out.push_str(replacement);
    for line in lines.get(span.end..).unwrap_or_default() {
        out.push_str(line);
    }
    out
}

/// The entries of a block-style mapping under top-level `key`: their indentation and each
/// entry's name and span. None when the block is not a plain block mapping (flow style `{...}`,
/// anchors, odd indentation): the caller then rewrites the whole block.
pub fn entries(text: &str, key: &str) -> Option<(usize, Vec<(String, Span)>)> {
    let span = top_level(text, key)?;
    let lines = lines(text);
    let head = lines.get(span.start)?;
    let after_colon = head.split_once(':').map(|(_, rest)| rest.trim())?;
    if !(after_colon.is_empty() || after_colon.starts_with('#')) {
        return None;
    }
    let body: Vec<(usize, &str)> = (span.start + 1..span.end)
        .filter_map(|i| lines.get(i).map(|l| (i, *l)))
        .collect();
    let child = body
        .iter()
        .find(|(_, l)| !is_trivia(l))
        .map(|(_, l)| indent(l))?;
    if child == 0 {
        return None;
    }
    let mut out: Vec<(String, Span)> = Vec::new();
    for (i, line) in &body {
        if is_trivia(line) {
            continue;
        }
        let n = indent(line);
        if line.starts_with('\t') || n < child {
            return None;
        }
        if n == child {
            let name = key_of(line)?;
            if line.contains('&') || line.contains('*') || line.contains("<<") {
                return None;
            }
            if let Some((_, last)) = out.last_mut() {
                last.end = trim_end(&lines, last.start, *i, child);
            }
            out.push((
                name,
                Span {
                    start: *i,
                    end: span.end,
                },
            ));
        }
    }
    if let Some((_, last)) = out.last_mut() {
        last.end = trim_end(&lines, last.start, span.end, child);
    }
    Some((child, out))
}

/// Moves `end` back over blank lines and comments indented at most `child`: they lead into the
/// next entry rather than closing this one.
fn trim_end(lines: &[&str], start: usize, mut end: usize, child: usize) -> usize {
    while end > start + 1 {
        match lines.get(end - 1) {
            Some(l) if l.trim().is_empty() || (is_trivia(l) && indent(l) <= child) => end -= 1,
            _ => break,
        }
    }
    end
}

/// Replaces the lines of `span` by `replacement` (full lines).
pub fn replace_span(text: &str, span: Span, replacement: &str) -> String {
    splice(&lines(text), span, replacement)
}

/// Inserts `insertion` (full lines) after line `after` (exclusive end of a span).
pub fn insert_at(text: &str, at: usize, insertion: &str) -> String {
    let lines = lines(text);
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i == at {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(newline(text));
            }
            out.push_str(insertion);
        }
        out.push_str(line);
    }
    if at >= lines.len() {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(newline(text));
        }
        out.push_str(insertion);
    }
    out
}

/// A YAML scalar that reads back as exactly `value`: a JSON string is a valid YAML
/// double-quoted scalar, and every control character is escaped (no line can be injected).
pub fn quote(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A mapping key: plain when it cannot be read as anything but this string, quoted otherwise.
pub fn key(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !name.starts_with(|c: char| c.is_ascii_digit() || c == '-')
        && ![
            "null", "true", "false", "yes", "no", "on", "off", "y", "n", "nan", "inf",
        ]
        .contains(&name.to_ascii_lowercase().as_str());
    if plain { name.to_owned() } else { quote(name) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TEXT: &str = "# Cordon config\nsocket: ./c.sock   # keep me\n\nservers:\n  # the first one\n  a:\n    command: x\n    args: [1]\n\n  # b is next\n  b:\n    url: http://h/mcp\n  # trailing indented\n\n# about reviewer\nreviewer: me\n";

    #[test]
    fn finds_top_level_blocks_without_their_trailing_comments() {
        let span = top_level(TEXT, "servers").unwrap();
        let lines: Vec<&str> = TEXT.split_inclusive('\n').collect();
        assert_eq!(lines[span.start], "servers:\n");
        assert_eq!(lines[span.end - 1], "  # trailing indented\n");
        assert_eq!(lines[span.end], "\n");
        assert!(top_level(TEXT, "nope").is_none());
        assert!(top_level("servers_x: 1\n", "servers").is_none());
    }

    #[test]
    fn entries_have_names_and_spans() {
        let (indent, list) = entries(TEXT, "servers").unwrap();
        assert_eq!(indent, 2);
        let names: Vec<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let lines: Vec<&str> = TEXT.split_inclusive('\n').collect();
        let a = list[0].1;
        assert_eq!(lines[a.start], "  a:\n");
        assert_eq!(lines[a.end - 1], "    args: [1]\n");
        assert!(entries("servers: {a: {command: x}}\n", "servers").is_none());
    }

    #[test]
    fn set_replaces_or_appends_and_keeps_the_rest() {
        let out = set_top_level(TEXT, "reviewer", "reviewer: \"you\"\n");
        assert_eq!(out, TEXT.replace("reviewer: me\n", "reviewer: \"you\"\n"));
        let out = set_top_level("a: 1", "b", "b: 2\n");
        assert_eq!(out, "a: 1\nb: 2\n");
        let out = remove_top_level(TEXT, "socket");
        assert_eq!(out, TEXT.replace("socket: ./c.sock   # keep me\n", ""));
    }

    #[test]
    fn crlf_files_stay_crlf() {
        assert_eq!(newline("a: 1\r\nb: 2\r\n"), "\r\n");
        assert_eq!(newline("a: 1\n"), "\n");
    }

    #[test]
    fn quoting_cannot_inject_lines() {
        assert_eq!(quote("a\nb: c"), "\"a\\nb: c\"");
        assert_eq!(key("github"), "github");
        assert_eq!(key("null"), "\"null\"");
        assert_eq!(key("123"), "\"123\"");
        assert_eq!(key("A B"), "\"A B\"");
    }
}
