//! file_read, file_write, file_edit, list_directory, search_files.

use std::fs;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::paths::in_git_dir;
use crate::{Args, MAX_SEARCH_RESULTS, OUTPUT_CAP, Op, ToolError, ToolOutput, Workspace};
use crate::{cap_text, display_path};

/// Largest file `file_write`/`file_edit` will diff and rewrite (32 MiB): bigger files are
/// not something a reviewer can check in a diff window.
const MAX_EDIT_BYTES: u64 = 32 * 1024 * 1024;
/// Largest file `search_files` reads for content.
const MAX_SEARCH_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Directory entries `search_files` visits before giving up (with a note).
const MAX_SEARCH_ENTRIES: usize = 200_000;
/// Entries `list_directory` returns.
const MAX_LIST_ENTRIES: usize = 10_000;
/// Longest line text shown in a content match.
const MAX_MATCH_LINE_CHARS: usize = 300;

#[derive(Debug, Clone)]
pub(crate) enum FileOp {
    Read(PathBuf),
    Write(WriteOp),
    List(PathBuf),
    Search(SearchOp),
}

impl FileOp {
    pub(crate) fn target(&self) -> &Path {
        match self {
            FileOp::Read(p) | FileOp::List(p) => p,
            FileOp::Write(w) => &w.path,
            FileOp::Search(s) => &s.root,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct WriteOp {
    /// The path as the agent gave it, re-resolved at execution.
    given: String,
    pub(crate) path: PathBuf,
    new_content: Vec<u8>,
    pub(crate) base_hash: Option<String>,
    pub(crate) dry_run: bool,
    diff: String,
}

#[derive(Debug, Clone)]
pub(crate) struct SearchOp {
    root: PathBuf,
    glob: Option<globset::GlobMatcher>,
    glob_on_path: bool,
    content: Option<regex::Regex>,
    max_results: usize,
    include_hidden: bool,
}

type Prep = (Op, Option<String>);

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn not_found(what: &str, path: &str) -> ToolError {
    ToolError::NotFound {
        what: format!("{what} `{path}`"),
    }
}

/// FIFOs, sockets and devices would block or never end: only regular files are read.
fn not_regular(given: &str) -> ToolError {
    ToolError::invalid(format!(
        "`{given}` is not a regular file (a FIFO, socket or device); only regular files can be \
         read or written"
    ))
}

/// The current content of a file about to be rewritten; `None` when it does not exist.
fn read_existing(path: &Path, given: &str) -> Result<Option<Vec<u8>>, ToolError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ToolError::io(given, e)),
    };
    if meta.is_dir() {
        return Err(ToolError::invalid(format!(
            "`{given}` is a directory, not a file"
        )));
    }
    if !meta.is_file() {
        return Err(not_regular(given));
    }
    if meta.len() > MAX_EDIT_BYTES {
        return Err(ToolError::invalid(format!(
            "`{given}` is {} bytes; files over {MAX_EDIT_BYTES} bytes cannot be rewritten by the \
             built-in tools",
            meta.len()
        )));
    }
    // Read what is opened, checked again (the path may have changed since the check above).
    let (file, _) = open_checked(path, given)?;
    let mut bytes = Vec::new();
    file.take(MAX_EDIT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ToolError::io(given, e))?;
    if bytes.len() as u64 > MAX_EDIT_BYTES {
        return Err(ToolError::invalid(format!(
            "`{given}` grew over {MAX_EDIT_BYTES} bytes; files that large cannot be rewritten by \
             the built-in tools"
        )));
    }
    Ok(Some(bytes))
}

/// Opens `path` (named `given` to the agent) for reading as a regular file, without waiting on
/// a FIFO or following a link swapped in since the path was checked (see
/// [`cordon_atomic::open_regular`]); with its length.
fn open_checked(path: &Path, given: &str) -> Result<(fs::File, u64), ToolError> {
    cordon_atomic::open_regular(path).map_err(|e| match e {
        cordon_atomic::RegularError::NotFound => not_found("file", given),
        cordon_atomic::RegularError::NotRegular => not_regular(given),
        cordon_atomic::RegularError::Io(e) => ToolError::io(given, e),
    })
}

/// Unified diff of the file on disk vs the proposal; a new file is diffed from empty and
/// labelled as new.
fn unified_diff(label: &str, old: Option<&[u8]>, new: &[u8]) -> String {
    // The name is the agent's: a newline in it must not become a diff line of its own.
    let label = cordon_text::visible(label);
    let old_text = old.map(String::from_utf8_lossy).unwrap_or_default();
    let new_text = String::from_utf8_lossy(new);
    let mut out = String::new();
    if old.is_none() {
        out.push_str(&format!("new file: {label}\n"));
    } else if old == Some(new) {
        return format!("no changes: {label} already has this content\n");
    }
    if old.is_some_and(|o| std::str::from_utf8(o).is_err()) {
        out.push_str(
            "note: the existing file is not valid UTF-8; invalid bytes are shown as U+FFFD\n",
        );
    }
    let diff = similar::TextDiff::configure()
        .timeout(Duration::from_secs(2))
        .diff_lines(old_text.as_ref(), new_text.as_ref());
    let a = if old.is_none() {
        "/dev/null".to_owned()
    } else {
        format!("a/{label}")
    };
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&a, &format!("b/{label}"))
        .to_string();
    out.push_str(&text);
    if cap_text(&mut out, OUTPUT_CAP) {
        out.push_str("\n[diff truncated at 1 MiB]\n");
    }
    out
}

fn check_writable(ws: &Workspace, path: &Path, given: &str) -> Result<(), ToolError> {
    if in_git_dir(ws.roots(), path) {
        return Err(ToolError::invalid(format!(
            "`{given}` is inside a .git directory; writing there could plant hooks or config \
             that git runs, so it is refused (use git_commit and friends instead)"
        )));
    }
    if ws.roots().iter().any(|r| r == path) {
        return Err(ToolError::invalid(format!(
            "`{given}` is a workspace root directory, not a file"
        )));
    }
    Ok(())
}

fn write_op(
    ws: &Workspace,
    given: &str,
    path: PathBuf,
    base: Option<Vec<u8>>,
    new_content: Vec<u8>,
    dry_run: bool,
) -> Prep {
    let label = display_path(ws, &path);
    let mut diff = unified_diff(&label, base.as_deref(), &new_content);
    if let (None, Some(parent)) = (&base, path.parent())
        && !parent.exists()
    {
        diff = format!("creates directory: {}\n{diff}", display_path(ws, parent));
    }
    let base_hash = base.as_deref().map(sha256_hex);
    let preview = Some(diff.clone());
    (
        Op::File(FileOp::Write(WriteOp {
            given: given.to_owned(),
            path,
            new_content,
            base_hash,
            dry_run,
            diff,
        })),
        preview,
    )
}

pub(crate) fn prepare_read(ws: &Workspace, a: &Args<'_>) -> Result<Prep, ToolError> {
    a.only(&["path"])?;
    let given = a.req_str("path")?;
    let path = ws.resolve(given)?;
    let meta = fs::metadata(&path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => not_found("file", given),
        _ => ToolError::io(given, e),
    })?;
    if meta.is_dir() {
        return Err(ToolError::invalid(format!(
            "`{given}` is a directory; use list_directory"
        )));
    }
    if !meta.is_file() {
        return Err(not_regular(given));
    }
    Ok((Op::File(FileOp::Read(path)), None))
}

pub(crate) fn prepare_write(ws: &Workspace, a: &Args<'_>) -> Result<Prep, ToolError> {
    a.only(&["path", "content"])?;
    let given = a.req_str("path")?;
    let content = a.req_str("content")?;
    if content.len() as u64 > MAX_EDIT_BYTES {
        return Err(ToolError::invalid(format!(
            "file_write: content is {} bytes; at most {MAX_EDIT_BYTES} are accepted",
            content.len()
        )));
    }
    let path = ws.resolve(given)?;
    check_writable(ws, &path, given)?;
    let base = read_existing(&path, given)?;
    Ok(write_op(
        ws,
        given,
        path,
        base,
        content.as_bytes().to_vec(),
        false,
    ))
}

/// Positions where `needle` occurs, overlapping ones included, stopping after two.
fn count_matches(hay: &str, needle: &str) -> usize {
    let mut count = 0;
    let mut from = 0;
    while let Some(rest) = hay.get(from..) {
        let Some(pos) = rest.find(needle) else { break };
        count += 1;
        if count > 1 {
            break;
        }
        let start = from + pos;
        // Step one character forward so overlapping occurrences are counted too.
        from = start
            + rest
                .get(pos..)
                .and_then(|s| s.chars().next())
                .map_or(1, char::len_utf8);
    }
    count
}

pub(crate) fn prepare_edit(ws: &Workspace, a: &Args<'_>) -> Result<Prep, ToolError> {
    a.only(&["path", "edits", "dryRun"])?;
    let given = a.req_str("path")?;
    let dry_run = a.opt_bool("dryRun")?.unwrap_or(false);
    let edits = match a.raw("edits") {
        None => {
            return Err(ToolError::invalid(
                "file_edit: missing required argument `edits`",
            ));
        }
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(_) => {
            return Err(ToolError::invalid(
                "file_edit: `edits` must be a non-empty array of {oldText, newText} objects",
            ));
        }
    };
    let mut pairs = Vec::with_capacity(edits.len());
    for (i, e) in edits.iter().enumerate() {
        let obj = e.as_object().ok_or_else(|| {
            ToolError::invalid(format!("file_edit: edits[{i}] must be an object"))
        })?;
        if let Some(k) = obj.keys().find(|k| *k != "oldText" && *k != "newText") {
            return Err(ToolError::invalid(format!(
                "file_edit: edits[{i}] has unknown key `{k}`; accepted: oldText, newText"
            )));
        }
        let get = |k: &str| match obj.get(k) {
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(ToolError::invalid(format!(
                "file_edit: edits[{i}].{k} must be a string"
            ))),
            None => Err(ToolError::invalid(format!(
                "file_edit: edits[{i}] is missing `{k}`"
            ))),
        };
        pairs.push((get("oldText")?, get("newText")?));
    }
    let path = ws.resolve(given)?;
    check_writable(ws, &path, given)?;
    let base = read_existing(&path, given)?.ok_or_else(|| not_found("file", given))?;
    let mut text = String::from_utf8(base.clone()).map_err(|_| {
        ToolError::invalid(format!(
            "`{given}` is not valid UTF-8 text; file_edit only edits text files (use file_write)"
        ))
    })?;
    for (i, (old, new)) in pairs.iter().enumerate() {
        let mismatch = |message: String| ToolError::EditMismatch {
            path: given.to_owned(),
            index: i + 1,
            message,
        };
        if old.is_empty() {
            return Err(mismatch(
                "oldText is empty; give the exact text to replace".into(),
            ));
        }
        match count_matches(&text, old) {
            0 => {
                return Err(mismatch(
                    "oldText was not found; it must match exactly, including whitespace and \
                     indentation (copy it from file_read; earlier edits in the list are applied \
                     first)"
                        .into(),
                ));
            }
            1 => text = text.replacen(old, new, 1),
            _ => {
                return Err(mismatch(
                    "oldText matches more than once; include more surrounding lines so it \
                     matches exactly once"
                        .into(),
                ));
            }
        }
    }
    Ok(write_op(
        ws,
        given,
        path,
        Some(base),
        text.into_bytes(),
        dry_run,
    ))
}

pub(crate) fn prepare_list(ws: &Workspace, a: &Args<'_>) -> Result<Prep, ToolError> {
    a.only(&["path"])?;
    let given = a.opt_str("path")?.unwrap_or(".");
    let path = ws.resolve(given)?;
    if !path.is_dir() {
        return Err(if path.exists() {
            ToolError::invalid(format!("`{given}` is not a directory; use file_read"))
        } else {
            not_found("directory", given)
        });
    }
    Ok((Op::File(FileOp::List(path)), None))
}

pub(crate) fn prepare_search(ws: &Workspace, a: &Args<'_>) -> Result<Prep, ToolError> {
    a.only(&[
        "path",
        "pattern",
        "content",
        "regex",
        "case_sensitive",
        "include_hidden",
        "max_results",
    ])?;
    let given = a.opt_str("path")?.unwrap_or(".");
    let pattern = a.opt_str("pattern")?.filter(|s| !s.is_empty());
    let content = a.opt_str("content")?.filter(|s| !s.is_empty());
    let is_regex = a.opt_bool("regex")?.unwrap_or(false);
    let case_sensitive = a.opt_bool("case_sensitive")?.unwrap_or(true);
    let include_hidden = a.opt_bool("include_hidden")?.unwrap_or(false);
    let max_results = a
        .opt_u64("max_results", 1, MAX_SEARCH_RESULTS)?
        .unwrap_or(200);
    if pattern.is_none() && content.is_none() {
        return Err(ToolError::invalid(
            "search_files: give `pattern` (a glob on names), `content` (text to find), or both",
        ));
    }
    let root = ws.resolve(given)?;
    if !root.is_dir() {
        return Err(not_found("directory", given));
    }
    let glob_on_path = pattern.is_some_and(|p| p.contains('/'));
    let glob = pattern
        .map(|p| {
            globset::GlobBuilder::new(p)
                .literal_separator(true)
                .case_insensitive(!case_sensitive)
                .build()
                .map(|g| g.compile_matcher())
                .map_err(|e| ToolError::invalid(format!("search_files: bad glob `{p}`: {e}")))
        })
        .transpose()?;
    let content = content
        .map(|c| {
            let source = if is_regex {
                c.to_owned()
            } else {
                regex::escape(c)
            };
            regex::RegexBuilder::new(&source)
                .case_insensitive(!case_sensitive)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| ToolError::invalid(format!("search_files: bad regex: {e}")))
        })
        .transpose()?;
    Ok((
        Op::File(FileOp::Search(SearchOp {
            root,
            glob,
            glob_on_path,
            content,
            max_results: usize::try_from(max_results).unwrap_or(200),
            include_hidden,
        })),
        None,
    ))
}

pub(crate) fn execute(ws: &Workspace, op: FileOp) -> Result<ToolOutput, ToolError> {
    match op {
        FileOp::Read(path) => read(ws, &path),
        FileOp::Write(w) => write(ws, w),
        FileOp::List(path) => list(ws, &path),
        FileOp::Search(s) => search(ws, &s),
    }
}

fn read(ws: &Workspace, path: &Path) -> Result<ToolOutput, ToolError> {
    let label = display_path(ws, path);
    let (file, size) = open_checked(path, &label)?;
    let mut bytes = Vec::new();
    file.take(OUTPUT_CAP as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ToolError::io(&label, e))?;
    let truncated = bytes.len() > OUTPUT_CAP;
    bytes.truncate(OUTPUT_CAP);
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if truncated {
        text.push_str(&format!(
            "\n[truncated: showing the first {OUTPUT_CAP} of {size} bytes]"
        ));
    }
    Ok(ToolOutput {
        text,
        is_error: false,
        structured: Some(json!({"path": label, "size": size, "truncated": truncated})),
    })
}

fn write(ws: &Workspace, w: WriteOp) -> Result<ToolOutput, ToolError> {
    let label = display_path(ws, &w.path);
    if w.dry_run {
        return Ok(ToolOutput {
            text: format!("dry run, nothing written:\n{}", w.diff),
            is_error: false,
            structured: Some(json!({"path": label, "dryRun": true, "diff": w.diff})),
        });
    }
    // The path must still resolve to the same place (no symlink swapped in since review).
    let again = ws.resolve(&w.given)?;
    if again != w.path {
        return Err(ToolError::ChangedSinceReview { path: w.given });
    }
    let current = read_existing(&w.path, &w.given)?;
    if current.as_deref().map(sha256_hex) != w.base_hash {
        return Err(ToolError::ChangedSinceReview { path: w.given });
    }
    // Atomic (readers see the old or the new content, never a mix), an existing file's
    // permissions kept (a script stays executable), missing directories created, and no link
    // followed on the way: the directories were checked when the path was resolved.
    cordon_atomic::write_resolved(
        &w.path,
        &w.new_content,
        cordon_atomic::Permissions::KeepOrDefault,
    )
    .map_err(|e| {
        if e.is_link_refusal() {
            // A directory on the way became a link (or a file) after the check above.
            ToolError::ChangedSinceReview {
                path: w.given.clone(),
            }
        } else {
            ToolError::io(&label, e.source)
        }
    })?;
    let created = w.base_hash.is_none();
    Ok(ToolOutput {
        text: format!(
            "{} {label} ({} bytes)",
            if created { "created" } else { "wrote" },
            w.new_content.len()
        ),
        is_error: false,
        structured: Some(json!({
            "path": label,
            "bytes": w.new_content.len(),
            "created": created,
            "sha256": sha256_hex(&w.new_content),
        })),
    })
}

fn list(ws: &Workspace, path: &Path) -> Result<ToolOutput, ToolError> {
    let label = display_path(ws, path);
    let mut entries = Vec::new();
    let mut truncated = false;
    for entry in fs::read_dir(path).map_err(|e| ToolError::io(&label, e))? {
        let entry = entry.map_err(|e| ToolError::io(&label, e))?;
        if entries.len() >= MAX_LIST_ENTRIES {
            truncated = true;
            break;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let (kind, size) = match entry.file_type() {
            Ok(t) if t.is_symlink() => ("link", None),
            Ok(t) if t.is_dir() => ("dir", None),
            Ok(_) => ("file", entry.metadata().ok().map(|m| m.len())),
            Err(_) => ("unknown", None),
        };
        entries.push((name, kind, size));
    }
    entries.sort();
    let mut text = String::new();
    for (name, kind, size) in &entries {
        match (kind, size) {
            (&"file", Some(s)) => text.push_str(&format!("[FILE] {name} ({s} bytes)\n")),
            _ => text.push_str(&format!("[{}] {name}\n", kind.to_uppercase())),
        }
    }
    if entries.is_empty() {
        text.push_str("(empty directory)\n");
    }
    if truncated {
        text.push_str(&format!("[truncated after {MAX_LIST_ENTRIES} entries]\n"));
    }
    let items: Vec<Value> = entries
        .iter()
        .map(|(name, kind, size)| json!({"name": name, "type": kind, "size": size}))
        .collect();
    Ok(ToolOutput {
        text,
        is_error: false,
        structured: Some(json!({"path": label, "entries": items, "truncated": truncated})),
    })
}

fn search(ws: &Workspace, s: &SearchOp) -> Result<ToolOutput, ToolError> {
    let mut walk = ignore::WalkBuilder::new(&s.root);
    walk.hidden(!s.include_hidden)
        .git_ignore(true)
        .git_exclude(true)
        .ignore(true)
        .parents(true)
        .require_git(false)
        .follow_links(false)
        .filter_entry(|e| e.file_name() != ".git");
    let mut results: Vec<Value> = Vec::new();
    let mut text = String::new();
    let mut capped = false;
    let mut visited = 0usize;
    'walk: for entry in walk.build() {
        let Ok(entry) = entry else { continue };
        visited += 1;
        if visited > MAX_SEARCH_ENTRIES {
            capped = true;
            break;
        }
        // Only regular files: symlinks are not followed, so nothing outside is read.
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(&s.root)
            .unwrap_or(entry.path())
            .to_path_buf();
        let rel_text = rel.display().to_string();
        if let Some(glob) = &s.glob {
            let hit = if s.glob_on_path {
                glob.is_match(&rel)
            } else {
                glob.is_match(entry.file_name())
            };
            if !hit {
                continue;
            }
        }
        let Some(re) = &s.content else {
            if results.len() >= s.max_results {
                capped = true;
                break;
            }
            text.push_str(&rel_text);
            text.push('\n');
            results.push(json!({"path": rel_text}));
            continue;
        };
        // Opened as it is now (a FIFO or link swapped in since the walk saw a file is skipped).
        let Ok((file, len)) = cordon_atomic::open_regular(entry.path()) else {
            continue;
        };
        if len > MAX_SEARCH_FILE_BYTES {
            continue;
        }
        let mut bytes = Vec::new();
        if file
            .take(MAX_SEARCH_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .is_err()
            || bytes.len() as u64 > MAX_SEARCH_FILE_BYTES
        {
            continue;
        }
        if bytes.iter().take(8192).any(|b| *b == 0) {
            continue; // binary
        }
        let body = String::from_utf8_lossy(&bytes);
        for (n, line) in body.lines().enumerate() {
            if !re.is_match(line) {
                continue;
            }
            if results.len() >= s.max_results {
                capped = true;
                break 'walk;
            }
            let shown: String = line.chars().take(MAX_MATCH_LINE_CHARS).collect();
            text.push_str(&format!("{rel_text}:{}: {shown}\n", n + 1));
            results.push(json!({"path": rel_text, "line": n + 1, "text": shown}));
        }
    }
    if results.is_empty() {
        text.push_str("no matches\n");
    }
    if capped {
        text.push_str(&format!(
            "[results capped at {} (max_results) or {MAX_SEARCH_ENTRIES} entries visited; narrow the search]\n",
            s.max_results
        ));
    }
    cap_text(&mut text, OUTPUT_CAP);
    Ok(ToolOutput {
        text,
        is_error: false,
        structured: Some(json!({
            "root": display_path(ws, &s.root),
            "matches": results,
            "truncated": capped,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::count_matches;

    #[test]
    fn counts_overlapping_and_multibyte_matches() {
        let cases = [
            ("abc", "b", 1),
            ("abc", "x", 0),
            ("aaa", "aa", 2),
            ("ééé", "éé", 2),
            ("αβγ", "γ", 1),
            ("foo foo", "foo", 2),
        ];
        for (hay, needle, want) in cases {
            assert_eq!(count_matches(hay, needle), want, "{hay} / {needle}");
        }
    }
}
