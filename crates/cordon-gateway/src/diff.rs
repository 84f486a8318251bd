//! The change a file write would make, as a unified diff, computed before anyone approves it.
//!
//! The reviewer approves what they saw: the same text is stored in the evidence record.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Files larger than this are not diffed (the reviewer gets a note instead).
pub const MAX_DIFF_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The unified diff a write/edit tool call would apply, or None when the call is not a file write.
///
/// Known shapes: `write_file`/`file_write` `{path, content}` and `edit_file`/`file_edit`
/// `{path, edits: [{oldText, newText}]}` (the reference filesystem server's tools and Cordon's
/// built-ins). Relative paths resolve against `base` (the upstream's working directory).
pub fn proposed_diff(tool: &str, args: &Value, base: Option<&Path>) -> Option<String> {
    let path = args.get("path")?.as_str()?;
    let full = resolve(path, base);
    match tool {
        "write_file" | "file_write" => {
            let content = args.get("content")?.as_str()?;
            Some(match read_current(&full) {
                Ok(current) => render(path, current.as_deref(), content),
                Err(note) => note,
            })
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
                Ok(proposed) => render(path, Some(&current), &proposed),
                Err(note) => note,
            })
        }
        _ => None,
    }
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
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("(cannot diff {display}: {e})")),
        Ok(meta) if !meta.is_file() => {
            return Err(format!("(cannot diff {display}: not a regular file)"));
        }
        Ok(meta) if meta.len() > MAX_DIFF_FILE_BYTES => {
            return Err(format!(
                "(cannot diff {display}: file larger than {MAX_DIFF_FILE_BYTES} bytes)"
            ));
        }
        Ok(_) => {}
    }
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| format!("(cannot diff {display}: not UTF-8 text)")),
        Err(e) => Err(format!("(cannot diff {display}: {e})")),
    }
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
