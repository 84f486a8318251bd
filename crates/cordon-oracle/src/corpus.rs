//! Where candidate commands come from: the policies' own tests, the classifier's test cases and
//! the generator. Candidates are deduplicated; the first origin seen is kept.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::OracleError;

/// Where a candidate command came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A `tests:` entry of a policy file.
    PolicyTest {
        /// The policy file.
        file: String,
        /// The test's name.
        name: String,
    },
    /// A string literal in the classifier's tests.
    ClassifierCase {
        /// The Rust file.
        file: String,
        /// 1-based line of the literal.
        line: usize,
    },
    /// The seeded generator.
    Generated {
        /// The seed.
        seed: u64,
        /// Position in the stream.
        index: usize,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::PolicyTest { file, name } => write!(f, "policy test {file}: {name}"),
            Origin::ClassifierCase { file, line } => write!(f, "classifier case {file}:{line}"),
            Origin::Generated { seed, index } => write!(f, "generated (seed {seed}, #{index})"),
        }
    }
}

impl Origin {
    /// A short name of the source kind, for the figures.
    pub fn kind(&self) -> &'static str {
        match self {
            Origin::PolicyTest { .. } => "policy tests",
            Origin::ClassifierCase { .. } => "classifier cases",
            Origin::Generated { .. } => "generator",
        }
    }
}

/// A command to judge (and, if judged a read, to run).
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The shell command line, as given to `run_command {command}`.
    pub command: String,
    /// Where it came from.
    pub origin: Origin,
}

/// Collects candidates, dropping repeats (and commands no shell tool would accept).
#[derive(Debug, Default)]
pub struct Corpus {
    seen: HashSet<String>,
    /// The candidates in order of arrival.
    pub candidates: Vec<Candidate>,
}

impl Corpus {
    /// Adds a candidate unless the same command is already there; returns whether it was added.
    pub fn add(&mut self, command: &str, origin: Origin) -> bool {
        // `run_command` refuses empty commands and NUL bytes: nothing to run.
        if command.trim().is_empty() || command.contains('\0') || command.len() > 4096 {
            return false;
        }
        if !self.seen.insert(command.to_owned()) {
            return false;
        }
        self.candidates.push(Candidate {
            command: command.to_owned(),
            origin,
        });
        true
    }

    /// Adds the `run_command`-style calls of every policy file under `dir` (recursively).
    pub fn add_policy_tests(&mut self, dir: &Path) -> Result<usize, OracleError> {
        let mut files = Vec::new();
        walk(dir, &mut files, &|p| {
            p.extension().is_some_and(|e| e == "yaml" || e == "yml")
        })?;
        let mut added = 0;
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| OracleError::io(format!("read {}", file.display()), e))?;
            // A file that is not valid YAML (a deliberately broken example) has no tests to use.
            let Ok(doc) = yaml_serde::from_str::<Value>(&text) else {
                continue;
            };
            let Some(tests) = doc.get("tests").and_then(Value::as_array) else {
                continue;
            };
            for t in tests {
                let name = t
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("(unnamed)")
                    .to_owned();
                if let Some(cmd) = t.get("call").and_then(command_of_call)
                    && self.add(
                        &cmd,
                        Origin::PolicyTest {
                            file: file.display().to_string(),
                            name,
                        },
                    )
                {
                    added += 1;
                }
            }
        }
        Ok(added)
    }

    /// Adds every string literal of the Rust files under `dir` (recursively), and the
    /// `command` of literals that are JSON tool calls. Over-inclusion is harmless: a literal
    /// that is not a command is not judged a read, and is not run.
    pub fn add_rust_literals(&mut self, dir: &Path) -> Result<usize, OracleError> {
        let mut files = Vec::new();
        walk(dir, &mut files, &|p| {
            p.extension().is_some_and(|e| e == "rs")
        })?;
        let mut added = 0;
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| OracleError::io(format!("read {}", file.display()), e))?;
            for (line, lit) in string_literals(&text) {
                let origin = Origin::ClassifierCase {
                    file: file.display().to_string(),
                    line,
                };
                let cmd = match serde_json::from_str::<Value>(&lit) {
                    Ok(v) if v.is_object() => command_of_call(&v),
                    _ => Some(lit),
                };
                if let Some(cmd) = cmd
                    && self.add(&cmd, origin)
                {
                    added += 1;
                }
            }
        }
        Ok(added)
    }

    /// Adds the inputs of the classifier's case tables (`*.cases` under `dir`, recursively):
    /// lines `EXPECTED :: INPUT`, `#` comments; an input that is a JSON tool call gives its
    /// `command`.
    pub fn add_case_tables(&mut self, dir: &Path) -> Result<usize, OracleError> {
        let mut files = Vec::new();
        walk(dir, &mut files, &|p| {
            p.extension().is_some_and(|e| e == "cases")
        })?;
        let mut added = 0;
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| OracleError::io(format!("read {}", file.display()), e))?;
            for (i, line) in text.lines().enumerate() {
                if line.trim_start().starts_with('#') {
                    continue;
                }
                let Some((_, input)) = line.split_once(" :: ") else {
                    continue;
                };
                let input = input.trim();
                let cmd = match serde_json::from_str::<Value>(input) {
                    Ok(v) if v.is_object() => command_of_call(&v),
                    _ => Some(input.to_owned()),
                };
                let origin = Origin::ClassifierCase {
                    file: file.display().to_string(),
                    line: i + 1,
                };
                if let Some(cmd) = cmd
                    && self.add(&cmd, origin)
                {
                    added += 1;
                }
            }
        }
        Ok(added)
    }

    /// Adds `n` generated commands from the stream seeded with `seed`.
    pub fn add_generated(&mut self, seed: u64, n: usize) -> usize {
        let mut added = 0;
        for (index, cmd) in crate::generator::generate(seed, n).into_iter().enumerate() {
            if self.add(&cmd, Origin::Generated { seed, index }) {
                added += 1;
            }
        }
        added
    }
}

/// The shell command of a tool call given as JSON: `{tool, args: {command}}` for a shell tool,
/// `{command}` alone, or an argv array joined with spaces when every element is a plain word.
fn command_of_call(call: &Value) -> Option<String> {
    let args = call.get("args").unwrap_or(call);
    match args.get("command")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let words: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            let words = words?;
            let plain = words.iter().all(|w| {
                !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
            });
            plain.then(|| words.join(" "))
        }
        _ => None,
    }
}

/// Files under `dir` (recursively, sorted) accepted by `keep`.
fn walk(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    keep: &dyn Fn(&Path) -> bool,
) -> Result<(), OracleError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| OracleError::io(format!("read directory {}", dir.display()), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            walk(&path, out, keep)?;
        } else if meta.is_file() && keep(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// The string literals of a Rust source file (`"…"` with escapes, `r"…"`, `r#"…"#`), with
/// their 1-based line. Comments and char literals are skipped; byte strings are not commands
/// and are skipped too.
pub fn string_literals(src: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0usize;
    let mut line = 1usize;
    let at = |k: usize| chars.get(k).copied();
    while let Some(c) = at(i) {
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            '/' if at(i + 1) == Some('/') => {
                while let Some(c) = at(i) {
                    if c == '\n' {
                        break;
                    }
                    i += 1;
                }
            }
            '/' if at(i + 1) == Some('*') => {
                i += 2;
                while let Some(c) = at(i) {
                    if c == '*' && at(i + 1) == Some('/') {
                        i += 2;
                        break;
                    }
                    if c == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
            '\'' => {
                // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
                if at(i + 1) == Some('\\') {
                    i += 2;
                    while let Some(c) = at(i) {
                        i += 1;
                        if c == '\'' {
                            break;
                        }
                    }
                } else if at(i + 2) == Some('\'') {
                    i += 3;
                } else {
                    i += 1;
                }
            }
            'r' | 'b' if !prev_is_ident(&chars, i) => {
                // r"..", r#".."#, br"..", b".." (skipped: bytes are not commands).
                let mut k = i;
                let byte = at(k) == Some('b');
                if byte {
                    k += 1;
                }
                if at(k) == Some('r') {
                    let mut hashes = 0usize;
                    let mut j = k + 1;
                    while at(j) == Some('#') {
                        hashes += 1;
                        j += 1;
                    }
                    if at(j) == Some('"') {
                        let start_line = line;
                        let mut s = String::new();
                        j += 1;
                        loop {
                            match at(j) {
                                None => break,
                                Some('"') if (1..=hashes).all(|h| at(j + h) == Some('#')) => {
                                    j += 1 + hashes;
                                    break;
                                }
                                Some(ch) => {
                                    if ch == '\n' {
                                        line += 1;
                                    }
                                    s.push(ch);
                                    j += 1;
                                }
                            }
                        }
                        if !byte {
                            out.push((start_line, s));
                        }
                        i = j;
                        continue;
                    }
                } else if byte && at(k) == Some('"') {
                    let (_, next, lines) = cooked(&chars, k);
                    line += lines;
                    i = next;
                    continue;
                }
                i += 1;
            }
            '"' => {
                let start_line = line;
                let (s, next, lines) = cooked(&chars, i);
                line += lines;
                out.push((start_line, s));
                i = next;
            }
            _ => i += 1,
        }
    }
    out
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    i.checked_sub(1)
        .and_then(|k| chars.get(k))
        .is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// A `"…"` literal starting at `start` (the quote): its value, the index after it, and the
/// number of newlines it spans.
fn cooked(chars: &[char], start: usize) -> (String, usize, usize) {
    let mut s = String::new();
    let mut j = start + 1;
    let mut lines = 0usize;
    while let Some(&c) = chars.get(j) {
        match c {
            '"' => return (s, j + 1, lines),
            '\\' => {
                let e = chars.get(j + 1).copied();
                j += 2;
                match e {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some('0') => s.push('\0'),
                    Some('\\') => s.push('\\'),
                    Some('"') => s.push('"'),
                    Some('\'') => s.push('\''),
                    Some('\n') => {
                        // A line continuation: the newline and the next line's indentation go.
                        lines += 1;
                        while chars.get(j).is_some_and(|c| c.is_whitespace()) {
                            if chars.get(j) == Some(&'\n') {
                                lines += 1;
                            }
                            j += 1;
                        }
                    }
                    Some('x') => {
                        let hex: String = chars.iter().skip(j).take(2).collect();
                        if let Some(ch) =
                            u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                        {
                            s.push(ch);
                        }
                        j += 2;
                    }
                    Some('u') => {
                        // \u{XXXX}
                        let mut hex = String::new();
                        if chars.get(j) == Some(&'{') {
                            j += 1;
                            while let Some(&h) = chars.get(j) {
                                j += 1;
                                if h == '}' {
                                    break;
                                }
                                hex.push(h);
                            }
                        }
                        if let Some(ch) =
                            u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                        {
                            s.push(ch);
                        }
                    }
                    Some(other) => s.push(other),
                    None => {}
                }
            }
            '\n' => {
                lines += 1;
                s.push(c);
                j += 1;
            }
            _ => {
                s.push(c);
                j += 1;
            }
        }
    }
    (s, j, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_of_every_kind_are_found() {
        let src = "fn t() {\n    check(\"git log --output=x\", 'a', '\\'', b\"bytes\");\n    // \"comment\"\n    let j = r#\"{\"tool\":\"run_command\",\"args\":{\"command\":\"sort -o y\"}}\"#;\n    let e = \"a\\\"b\\n\\u{41}\";\n}\n";
        let lits = string_literals(src);
        let values: Vec<&str> = lits.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(
            values,
            vec![
                "git log --output=x",
                "{\"tool\":\"run_command\",\"args\":{\"command\":\"sort -o y\"}}",
                "a\"b\nA"
            ]
        );
        assert_eq!(lits.first().map(|l| l.0), Some(2));
        assert_eq!(lits.get(1).map(|l| l.0), Some(4));
    }

    #[test]
    fn json_calls_give_their_command() {
        let mut c = Corpus::default();
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { return };
        let file = dir.path().join("t.rs");
        let written = std::fs::write(
            &file,
            "check(r#\"{\"tool\":\"run_command\",\"args\":{\"command\":\"uniq a b\"}}\"#);\ncheck(r#\"{\"tool\":\"Bash\",\"args\":{\"command\":[\"ls\",\"-la\"]}}\"#);",
        );
        assert!(written.is_ok());
        assert!(c.add_rust_literals(dir.path()).is_ok());
        let cmds: Vec<&str> = c.candidates.iter().map(|c| c.command.as_str()).collect();
        assert_eq!(cmds, vec!["uniq a b", "ls -la"]);
    }

    #[test]
    fn repeats_and_unrunnable_commands_are_dropped() {
        let mut c = Corpus::default();
        assert!(c.add("ls", Origin::Generated { seed: 0, index: 0 }));
        assert!(!c.add("ls", Origin::Generated { seed: 0, index: 1 }));
        assert!(!c.add("  ", Origin::Generated { seed: 0, index: 2 }));
        assert!(!c.add("a\0b", Origin::Generated { seed: 0, index: 3 }));
        assert_eq!(c.candidates.len(), 1);
    }
}
