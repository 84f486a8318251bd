//! The change a file write would make, as a unified diff, computed before anyone approves it.
//!
//! The reviewer approves what they saw: the same text is stored in the evidence record.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Files larger than this are not diffed (the reviewer gets a note instead).
pub const MAX_DIFF_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The unified diff a write/edit tool call would apply, or None when the call is not a file write.
///
/// Known shapes, by tool name:
/// - `write_file`/`file_write` `{path, content}` and `edit_file`/`file_edit`
///   `{path, edits: [{oldText, newText}]}`: the reference filesystem server's tools and Cordon's
///   built-ins;
/// - Claude Code's `Write {file_path, content}`, `Edit {file_path, old_string, new_string,
///   replace_all}`, `MultiEdit {file_path, edits}` and `NotebookEdit {notebook_path, cell_id,
///   new_source, edit_mode}`; the Gemini CLI's `write_file`/`replace` arrive under these names
///   (the hook adapter maps them; `expected_replacements` > 1 replaces every occurrence);
/// - Codex's `apply_patch` (`*** Begin Patch` … in `input`, `patch` or `command`).
///
/// Relative paths resolve against `base` (the upstream's or the agent's working directory). A
/// new file is all-added; a binary, huge or unreadable file is summarised in one line; a path
/// that is a symlink is said before the diff (the write lands on its target).
pub fn proposed_diff(tool: &str, args: &Value, base: Option<&Path>) -> Option<String> {
    match tool {
        "Write" | "Edit" | "MultiEdit" => return native_edit(tool, args, base),
        "NotebookEdit" => return notebook_edit(args, base),
        "apply_patch" => {
            let patch = ["input", "patch", "command"]
                .iter()
                .find_map(|k| args.get(*k).and_then(Value::as_str))?;
            return Some(apply_patch(patch, base));
        }
        _ => {}
    }
    let path = args.get("path")?.as_str()?;
    let full = resolve(path, base);
    match tool {
        "write_file" | "file_write" => {
            let content = args.get("content")?.as_str()?;
            Some(whole_file(path, &full, content))
        }
        "edit_file" | "file_edit" => {
            let edits = args.get("edits")?.as_array()?;
            let current = match read_current(&full) {
                Ok(Some(current)) => current,
                Ok(None) => {
                    let path = cordon_text::visible(path);
                    return Some(format!("(cannot diff: {path} does not exist)"));
                }
                Err(note) => return Some(note),
            };
            Some(match apply_edits(&current, edits) {
                Ok(proposed) => with_link_note(&full, render(path, Some(&current), &proposed)),
                Err(note) => note,
            })
        }
        _ => None,
    }
}

/// A whole-file write: against the file on disk, all-added when it is new.
fn whole_file(path: &str, full: &Path, content: &str) -> String {
    if let Some(note) = unshowable_content(content) {
        return note;
    }
    match read_current(full) {
        Ok(current) => with_link_note(full, render(path, current.as_deref(), content)),
        Err(note) => note,
    }
}

/// A one-line summary for content that is not shown as lines: binary or huge.
fn unshowable_content(content: &str) -> Option<String> {
    let len = content.len();
    if len as u64 > MAX_DIFF_FILE_BYTES {
        return Some(format!(
            "(new content of {len} bytes: larger than {MAX_DIFF_FILE_BYTES} bytes, not shown)"
        ));
    }
    if content.contains('\0') {
        return Some(format!("(binary content, {len} bytes: not shown)"));
    }
    None
}

/// Says so before the diff when the path is a symlink: the write changes the link's target.
fn with_link_note(full: &Path, diff: String) -> String {
    match std::fs::symlink_metadata(full) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let target = std::fs::read_link(full)
                .map(|t| t.display().to_string())
                .unwrap_or_else(|_| "(unreadable)".to_owned());
            format!(
                "(note: {} is a symlink to {}: the write changes that file)\n{diff}",
                cordon_text::visible(&full.display().to_string()),
                cordon_text::visible(&target)
            )
        }
        _ => diff,
    }
}

/// Claude Code's `Write`, `Edit` and `MultiEdit` (and the Gemini CLI's, mapped to them).
fn native_edit(tool: &str, args: &Value, base: Option<&Path>) -> Option<String> {
    let path = args.get("file_path")?.as_str()?;
    let full = resolve(path, base);
    if tool == "Write" {
        let content = args.get("content")?.as_str()?;
        return Some(whole_file(path, &full, content));
    }
    let edits: Vec<&Value> = if tool == "MultiEdit" {
        args.get("edits")?.as_array()?.iter().collect()
    } else {
        vec![args]
    };
    let current = match read_current(&full) {
        Ok(Some(text)) => text,
        Ok(None) => {
            // Claude Code creates a file with an Edit whose old_string is empty.
            let first_creates = edits
                .first()
                .and_then(|e| e.get("old_string"))
                .and_then(Value::as_str)
                == Some("");
            if !first_creates {
                let path = cordon_text::visible(path);
                return Some(format!("(cannot diff: {path} does not exist)"));
            }
            String::new()
        }
        Err(note) => return Some(note),
    };
    let mut text = current.clone();
    for (index, edit) in edits.iter().enumerate() {
        text = match apply_string_edit(&text, edit, index) {
            Ok(next) => next,
            Err(note) => return Some(note),
        };
    }
    let old = if current.is_empty() && !full.exists() {
        None
    } else {
        Some(current.as_str())
    };
    Some(with_link_note(&full, render(path, old, &text)))
}

/// One `{old_string, new_string, replace_all | expected_replacements}` edit.
fn apply_string_edit(current: &str, edit: &Value, index: usize) -> Result<String, String> {
    let old = edit.get("old_string").and_then(Value::as_str);
    let new = edit.get("new_string").and_then(Value::as_str);
    let (Some(old), Some(new)) = (old, new) else {
        return Err(format!(
            "(cannot diff: edit {index} lacks old_string/new_string)"
        ));
    };
    if old.is_empty() {
        return if current.is_empty() {
            Ok(new.to_owned())
        } else {
            Err(format!(
                "(cannot diff: edit {index} has an empty old_string)"
            ))
        };
    }
    if !current.contains(old) {
        return Err(format!(
            "(cannot diff: edit {index}: old_string not found in the file)"
        ));
    }
    let all = edit.get("replace_all").and_then(Value::as_bool) == Some(true)
        || edit
            .get("expected_replacements")
            .and_then(Value::as_u64)
            .is_some_and(|n| n > 1);
    Ok(if all {
        current.replace(old, new)
    } else {
        current.replacen(old, new, 1)
    })
}

/// Claude Code's `NotebookEdit`: the cell's source before and after, labelled with the cell.
fn notebook_edit(args: &Value, base: Option<&Path>) -> Option<String> {
    let path = args.get("notebook_path")?.as_str()?;
    let full = resolve(path, base);
    let new_source = args.get("new_source").and_then(Value::as_str).unwrap_or("");
    let mode = args
        .get("edit_mode")
        .and_then(Value::as_str)
        .unwrap_or("replace");
    let cell_id = args.get("cell_id").and_then(Value::as_str);
    let notebook = match read_current(&full) {
        Ok(Some(text)) => text,
        Ok(None) => {
            let path = cordon_text::visible(path);
            return Some(format!("(cannot diff: {path} does not exist)"));
        }
        Err(note) => return Some(note),
    };
    let Ok(notebook) = serde_json::from_str::<Value>(&notebook) else {
        let path = cordon_text::visible(path);
        return Some(format!("(cannot diff: {path} is not a notebook)"));
    };
    let cells = notebook
        .get("cells")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let find = |id: &str| {
        cells.iter().enumerate().find_map(|(i, c)| {
            let matches = c.get("id").and_then(Value::as_str) == Some(id)
                || id.strip_prefix("cell-").and_then(|n| n.parse().ok()) == Some(i)
                || id.parse::<usize>().ok() == Some(i);
            matches.then_some(c)
        })
    };
    let source_of = |cell: &Value| match cell.get("source") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(lines)) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    };
    let label = format!("{path} (cell {})", cell_id.unwrap_or("new"));
    let (old, new) = match mode {
        "insert" => (None, new_source.to_owned()),
        other => {
            let Some(cell) = cell_id.and_then(find) else {
                return Some(format!(
                    "(cannot diff: no cell {} in {})",
                    cordon_text::visible(cell_id.unwrap_or("(none given)")),
                    cordon_text::visible(path)
                ));
            };
            let old = source_of(cell);
            let new = if other == "delete" {
                String::new()
            } else {
                new_source.to_owned()
            };
            (Some(old), new)
        }
    };
    let (old, new) = (
        ensure_newline(old),
        ensure_newline(Some(new)).unwrap_or_default(),
    );
    Some(render(&label, old.as_deref(), &new))
}

fn ensure_newline(text: Option<String>) -> Option<String> {
    text.map(|mut t| {
        if !t.is_empty() && !t.ends_with('\n') {
            t.push('\n');
        }
        t
    })
}

/// The files a Codex patch (`*** Add File: P`, `*** Update File: P`, `*** Delete File: P`)
/// names, in order.
pub fn patch_files(patch: &str) -> Vec<String> {
    patch
        .lines()
        .filter_map(|l| {
            ["*** Add File: ", "*** Update File: ", "*** Delete File: "]
                .iter()
                .find_map(|p| l.strip_prefix(p))
        })
        .map(|p| p.trim().to_owned())
        .collect()
}

/// Codex's `apply_patch`: every file of the patch as a diff against the file on disk (each
/// update's hunks applied to the current text; a hunk that does not apply is said).
fn apply_patch(patch: &str, base: Option<&Path>) -> String {
    // The patch may arrive as a shell heredoc (`apply_patch <<'EOF' …`): take the patch body.
    let body = match patch.find("*** Begin Patch") {
        Some(at) => patch.get(at..).unwrap_or(patch),
        None => return "(cannot diff: not an apply_patch patch)".to_owned(),
    };
    let mut out = String::new();
    let mut lines = body.lines().peekable();
    while let Some(line) = lines.next() {
        let (kind, path) = if let Some(p) = line.strip_prefix("*** Add File: ") {
            ("add", p.trim())
        } else if let Some(p) = line.strip_prefix("*** Update File: ") {
            ("update", p.trim())
        } else if let Some(p) = line.strip_prefix("*** Delete File: ") {
            ("delete", p.trim())
        } else {
            continue;
        };
        let mut section: Vec<&str> = Vec::new();
        while let Some(next) = lines.peek() {
            if next.starts_with("*** ") && !next.starts_with("*** End of File") {
                break;
            }
            section.push(next);
            lines.next();
        }
        let mut target = path;
        if let Some(moved) = section
            .first()
            .and_then(|l| l.strip_prefix("*** Move to: "))
        {
            out.push_str(&format!(
                "(note: {} is moved to {})\n",
                cordon_text::visible(path),
                cordon_text::visible(moved.trim())
            ));
            target = moved.trim();
        }
        let full = resolve(path, base);
        let shown = match kind {
            "add" => {
                let content: String = section
                    .iter()
                    .filter_map(|l| l.strip_prefix('+'))
                    .map(|l| format!("{l}\n"))
                    .collect();
                whole_file(path, &full, &content)
            }
            "delete" => match read_current(&full) {
                Ok(Some(current)) => render(path, Some(&current), "").replace(
                    &format!("+++ b/{}", cordon_text::visible(path)),
                    "+++ /dev/null",
                ),
                Ok(None) => format!(
                    "(cannot diff: {} does not exist)",
                    cordon_text::visible(path)
                ),
                Err(note) => note,
            },
            _ => match read_current(&full) {
                Ok(Some(current)) => match apply_hunks(&current, &section) {
                    Ok(new) => with_link_note(&full, render(target, Some(&current), &new)),
                    Err(note) => format!("{note} in {}", cordon_text::visible(path)),
                },
                Ok(None) => format!(
                    "(cannot diff: {} does not exist)",
                    cordon_text::visible(path)
                ),
                Err(note) => note,
            },
        };
        out.push_str(&shown);
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    if out.is_empty() {
        "(cannot diff: the patch names no file)".to_owned()
    } else {
        out
    }
}

/// Applies Codex update hunks (`@@ …` then ` `/`-`/`+` lines) in order to `current`.
fn apply_hunks(current: &str, section: &[&str]) -> Result<String, String> {
    let mut text = current.to_owned();
    let mut from = 0;
    let mut hunks: Vec<Vec<&str>> = vec![Vec::new()];
    for line in section {
        if line.starts_with("@@") {
            hunks.push(Vec::new());
        } else if !line.starts_with("*** End of File")
            && let Some(h) = hunks.last_mut()
        {
            h.push(line);
        }
    }
    for hunk in hunks.into_iter().filter(|h| !h.is_empty()) {
        let mut old = String::new();
        let mut new = String::new();
        for line in hunk {
            let (sign, rest) = line.split_at(line.chars().next().map_or(0, char::len_utf8));
            match sign {
                "+" => new.push_str(&format!("{rest}\n")),
                "-" => old.push_str(&format!("{rest}\n")),
                _ => {
                    let rest = if sign == " " { rest } else { line };
                    old.push_str(&format!("{rest}\n"));
                    new.push_str(&format!("{rest}\n"));
                }
            }
        }
        let tail = text.get(from..).unwrap_or("");
        let at = if old.is_empty() {
            Some(tail.len())
        } else {
            tail.find(&old)
        };
        let Some(at) = at else {
            return Err(
                "(cannot diff: a hunk of the patch does not match the file on disk)".into(),
            );
        };
        let at = from + at;
        text.replace_range(at..at + old.len(), &new);
        from = at + new.len();
    }
    Ok(text)
}

/// Whether the file a held write would change is still what the reviewer is shown: the diff is
/// computed again and compared with the one computed when the call was held. Some(note) when it
/// changed (the reviewer must know the approval would write over something they did not see).
/// None when it did not, when the call is not a write, or when the paths cannot be resolved the
/// same way (relative paths of a call whose working directory is not known).
pub fn changed_since_hold(
    tool: &str,
    args: &Value,
    held_diff: Option<&str>,
    base: Option<&Path>,
) -> Option<String> {
    let held_diff = held_diff?;
    if base.is_none() {
        let named = ["file_path", "path", "notebook_path"]
            .iter()
            .find_map(|k| args.get(*k).and_then(Value::as_str));
        if !named.is_some_and(|p| Path::new(p).is_absolute()) {
            return None;
        }
    }
    let now = proposed_diff(tool, args, base)?;
    (now != held_diff).then(|| {
        "the file changed on disk since this call was held: the diff shown is what the agent \
         proposed then; approving writes the agent's content over the file as it is now"
            .to_owned()
    })
}

fn resolve(path: &str, base: Option<&Path>) -> PathBuf {
    let path = Path::new(path);
    match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path.to_path_buf(),
    }
}

/// The file's text, None when it does not exist, or a note why it cannot be diffed.
fn read_current(path: &Path) -> Result<Option<String>, String> {
    let shown = path.display().to_string();
    let display = cordon_text::visible(&shown);
    // Links resolved now, so the open below can refuse one swapped in after this; the checks are
    // made on the file as opened (a FIFO would block this thread for good, a link to a device
    // never end).
    let path = match std::fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("(cannot diff {display}: {e})")),
    };
    let (file, len) = match cordon_atomic::open_regular(&path) {
        Ok(opened) => opened,
        Err(cordon_atomic::RegularError::NotFound) => return Ok(None),
        Err(e) => return Err(format!("(cannot diff {display}: {e})")),
    };
    let too_large = |len: u64| {
        format!(
            "(cannot diff {display}: file of {len} bytes, larger than {MAX_DIFF_FILE_BYTES} bytes)"
        )
    };
    if len > MAX_DIFF_FILE_BYTES {
        return Err(too_large(len));
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_DIFF_FILE_BYTES + 1),
        &mut bytes,
    )
    .map_err(|e| format!("(cannot diff {display}: {e})"))?;
    if bytes.len() as u64 > MAX_DIFF_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    if bytes.contains(&0) {
        return Err(format!(
            "(cannot diff {display}: binary file of {} bytes, not UTF-8 text)",
            bytes.len()
        ));
    }
    let len = bytes.len();
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| format!("(cannot diff {display}: binary file of {len} bytes, not UTF-8 text)"))
}

/// Applies `[{oldText, newText}]` edits in order, each to its first exact occurrence.
fn apply_edits(current: &str, edits: &[Value]) -> Result<String, String> {
    let mut text = current.to_owned();
    for (index, edit) in edits.iter().enumerate() {
        let old = edit.get("oldText").and_then(Value::as_str);
        let new = edit.get("newText").and_then(Value::as_str);
        let (Some(old), Some(new)) = (old, new) else {
            return Err(format!("(cannot diff: edit {index} lacks oldText/newText)"));
        };
        if old.is_empty() {
            return Err(format!("(cannot diff: edit {index} has an empty oldText)"));
        }
        let Some(at) = text.find(old) else {
            return Err(format!(
                "(cannot diff: edit {index}: oldText not found in the file)"
            ));
        };
        text.replace_range(at..at + old.len(), new);
    }
    Ok(text)
}

fn render(path: &str, old: Option<&str>, new: &str) -> String {
    // The name is the agent's: a newline in it must not become a diff line of its own.
    let path = cordon_text::visible(path);
    let before = old.unwrap_or("");
    let from = if old.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".to_owned()
    };
    let to = format!("b/{path}");
    similar::TextDiff::from_lines(before, new)
        .unified_diff()
        .context_radius(3)
        .header(&from, &to)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_file_name_with_newlines_cannot_add_diff_lines() {
        let dir = tempfile::tempdir().unwrap();
        let name = "x\n+++ b/README.md\n@@ -0,0 +1 @@\n+harmless\x1b[8m";
        let path = dir.path().join(name);
        let diff = proposed_diff(
            "write_file",
            &json!({"path": path.to_str().unwrap(), "content": "payload\n"}),
            None,
        )
        .unwrap();
        let headers: Vec<&str> = diff.lines().filter(|l| l.starts_with("+++")).collect();
        assert_eq!(headers.len(), 1, "{diff}");
        assert!(headers[0].contains("x\\n+++ b/README.md\\n@@"), "{diff}");
        assert!(!diff.contains('\u{1b}'), "{diff}");
        assert_eq!(
            diff.lines().filter(|l| l.starts_with('+')).count(),
            2,
            "{diff}"
        );
    }

    #[test]
    fn native_write_of_an_existing_file_is_a_diff_and_a_new_one_all_added() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("login.ts");
        std::fs::write(&file, "a\nb\nc\n").unwrap();
        let path = file.to_str().unwrap();
        let diff = proposed_diff(
            "Write",
            &json!({"file_path": path, "content": "a\nB\nc\n"}),
            None,
        )
        .unwrap();
        assert!(diff.contains("-b\n+B\n"), "{diff}");
        assert!(!diff.contains("content"), "{diff}");
        let diff = proposed_diff(
            "Write",
            &json!({"file_path": "new.ts", "content": "x\ny\n"}),
            Some(dir.path()),
        )
        .unwrap();
        assert!(diff.starts_with("--- /dev/null\n+++ b/new.ts\n"), "{diff}");
        assert!(diff.contains("+x\n+y\n"), "{diff}");
    }

    #[test]
    fn gemini_replace_with_expected_replacements_replaces_all() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "a\na\n").unwrap();
        let diff = proposed_diff(
            "Edit",
            &json!({"file_path": "f", "old_string": "a", "new_string": "z", "expected_replacements": 2}),
            Some(dir.path()),
        )
        .unwrap();
        assert!(diff.contains("-a\n-a\n+z\n+z\n"), "{diff}");
    }

    #[test]
    fn notebook_edits_show_the_cell_source() {
        let dir = tempfile::tempdir().unwrap();
        let nb = json!({"cells": [
            {"id": "c1", "cell_type": "code", "source": ["x = 1\n", "print(x)"]},
            {"id": "c2", "cell_type": "markdown", "source": "# title"}
        ], "nbformat": 4});
        std::fs::write(dir.path().join("n.ipynb"), nb.to_string()).unwrap();
        let diff = proposed_diff(
            "NotebookEdit",
            &json!({"notebook_path": "n.ipynb", "cell_id": "c1", "new_source": "x = 2\nprint(x)"}),
            Some(dir.path()),
        )
        .unwrap();
        assert!(diff.contains("--- a/n.ipynb (cell c1)"), "{diff}");
        assert!(diff.contains("-x = 1\n+x = 2\n"), "{diff}");
        let diff = proposed_diff(
            "NotebookEdit",
            &json!({"notebook_path": "n.ipynb", "cell_id": "c2", "new_source": "", "edit_mode": "delete"}),
            Some(dir.path()),
        )
        .unwrap();
        assert!(diff.contains("-# title\n"), "{diff}");
        let note = proposed_diff(
            "NotebookEdit",
            &json!({"notebook_path": "n.ipynb", "cell_id": "zz", "new_source": "y"}),
            Some(dir.path()),
        )
        .unwrap();
        assert!(note.contains("no cell zz"), "{note}");
    }

    #[test]
    fn codex_apply_patch_is_diffed_file_by_file_against_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.py"),
            "def f():\n    return 1\n\nprint(f())\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("old.txt"), "bye\n").unwrap();
        let patch = "*** Begin Patch\n*** Update File: a.py\n@@ def f():\n-    return 1\n+    return 2\n*** Add File: b.txt\n+hello\n*** Delete File: old.txt\n*** End Patch\n";
        let diff =
            proposed_diff("apply_patch", &json!({"input": patch}), Some(dir.path())).unwrap();
        assert!(diff.contains("--- a/a.py\n+++ b/a.py\n"), "{diff}");
        assert!(diff.contains("-    return 1\n+    return 2\n"), "{diff}");
        assert!(diff.contains("--- /dev/null\n+++ b/b.txt\n"), "{diff}");
        assert!(diff.contains("+hello\n"), "{diff}");
        assert!(diff.contains("--- a/old.txt\n+++ /dev/null\n"), "{diff}");
        assert_eq!(patch_files(patch), ["a.py", "b.txt", "old.txt"]);
        let stale = "*** Begin Patch\n*** Update File: a.py\n@@\n-    return 9\n+    return 2\n*** End Patch";
        let note =
            proposed_diff("apply_patch", &json!({"input": stale}), Some(dir.path())).unwrap();
        assert!(note.contains("does not match the file on disk"), "{note}");
    }

    #[test]
    fn binary_and_huge_new_content_is_summarised_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        let note = proposed_diff(
            "Write",
            &json!({"file_path": "img.png", "content": "\u{0}PNG\u{0}"}),
            Some(dir.path()),
        )
        .unwrap();
        assert_eq!(note, "(binary content, 5 bytes: not shown)");
        let big = "x".repeat(usize::try_from(MAX_DIFF_FILE_BYTES).unwrap() + 1);
        let note = proposed_diff(
            "write_file",
            &json!({"path": "big", "content": big}),
            Some(dir.path()),
        )
        .unwrap();
        assert!(note.contains("not shown"), "{}", note.len());
        std::fs::write(dir.path().join("bin"), b"\x00\x01\x02").unwrap();
        let note = proposed_diff(
            "Write",
            &json!({"file_path": "bin", "content": "text\n"}),
            Some(dir.path()),
        )
        .unwrap();
        assert!(note.contains("binary file of 3 bytes"), "{note}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_said_and_the_diff_is_against_its_target() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("real"), "one\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
        let diff = proposed_diff(
            "Write",
            &json!({"file_path": "link", "content": "two\n"}),
            Some(dir.path()),
        )
        .unwrap();
        assert!(diff.starts_with("(note: "), "{diff}");
        assert!(diff.contains("is a symlink to"), "{diff}");
        assert!(diff.contains("-one\n+two\n"), "{diff}");
    }

    #[test]
    fn a_file_changed_after_the_hold_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "one\n").unwrap();
        let args = json!({"file_path": file.to_str().unwrap(), "content": "two\n"});
        let held = proposed_diff("Write", &args, None);
        assert_eq!(
            changed_since_hold("Write", &args, held.as_deref(), None),
            None
        );
        std::fs::write(&file, "one\nsneaked in\n").unwrap();
        let note = changed_since_hold("Write", &args, held.as_deref(), None).unwrap();
        assert!(note.contains("changed on disk"), "{note}");
        // Relative paths without a known working directory are not guessed at.
        let rel = json!({"file_path": "f", "content": "two\n"});
        assert_eq!(changed_since_hold("Write", &rel, Some("x"), None), None);
    }

    #[test]
    fn new_file_diffs_against_dev_null() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.txt");
        let diff = proposed_diff(
            "write_file",
            &json!({"path": path.to_str().unwrap(), "content": "hello\nworld\n"}),
            None,
        )
        .unwrap();
        assert!(diff.starts_with("--- /dev/null\n"), "{diff}");
        assert!(diff.contains("+hello\n+world\n"), "{diff}");
    }

    #[test]
    fn overwrite_shows_removed_and_added_lines() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.txt"), "one\ntwo\nthree\n").unwrap();
        let diff = proposed_diff(
            "write_file",
            &json!({"path": "f.txt", "content": "one\n2\nthree\n"}),
            Some(dir.path()),
        )
        .unwrap();
        assert!(diff.contains("--- a/f.txt\n+++ b/f.txt\n"), "{diff}");
        assert!(diff.contains("-two\n+2\n"), "{diff}");
    }

    #[test]
    fn edit_file_applies_edits_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.rs"), "fn a() {}\nfn b() {}\n").unwrap();
        let diff = proposed_diff(
            "edit_file",
            &json!({"path": "f.rs", "edits": [
                {"oldText": "fn a() {}", "newText": "fn a2() {}"},
                {"oldText": "fn a2() {}\nfn b", "newText": "fn a3() {}\nfn b"}
            ], "dryRun": false}),
            Some(dir.path()),
        )
        .unwrap();
        assert!(diff.contains("-fn a() {}\n+fn a3() {}\n"), "{diff}");
    }

    #[test]
    fn edit_file_with_missing_text_or_file_gives_a_note() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "x\n").unwrap();
        let note = proposed_diff(
            "edit_file",
            &json!({"path": "f", "edits": [{"oldText": "nope", "newText": "y"}]}),
            Some(dir.path()),
        )
        .unwrap();
        assert!(note.contains("oldText not found"), "{note}");
        let note = proposed_diff(
            "edit_file",
            &json!({"path": "missing", "edits": []}),
            Some(dir.path()),
        )
        .unwrap();
        assert!(note.contains("does not exist"), "{note}");
    }

    #[test]
    fn non_writes_and_bad_shapes_have_no_diff() {
        assert_eq!(
            proposed_diff("read_file", &json!({"path": "/etc/hosts"}), None),
            None
        );
        assert_eq!(
            proposed_diff("write_file", &json!({"path": 3, "content": "x"}), None),
            None
        );
        assert_eq!(proposed_diff("write_file", &json!("x"), None), None);
    }

    #[test]
    fn binary_and_directories_are_not_diffed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b"), [0xff, 0xfe, 0x00]).unwrap();
        let note = proposed_diff(
            "write_file",
            &json!({"path": "b", "content": "x"}),
            Some(dir.path()),
        )
        .unwrap();
        assert!(note.contains("not UTF-8"), "{note}");
        let note = proposed_diff(
            "write_file",
            &json!({"path": ".", "content": "x"}),
            Some(dir.path()),
        )
        .unwrap();
        assert!(note.contains("not a regular file"), "{note}");
    }
}
