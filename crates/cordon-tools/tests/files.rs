//! file_read, file_write, file_edit, list_directory, search_files on real files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;

use common::{call, ok, plain};
use cordon_tools::ToolError;
use serde_json::json;

#[test]
fn write_then_read_round_trip_with_new_file_diff() {
    let (tmp, ws) = plain();
    let prepared = ws
        .prepare(
            "file_write",
            &json!({"path": "src/auth/login.ts", "content": "fixed\n"}),
        )
        .unwrap();
    let preview = prepared.preview().unwrap();
    assert!(preview.contains("new file: src/auth/login.ts"), "{preview}");
    assert!(preview.contains("creates directory: src/auth"), "{preview}");
    assert!(preview.contains("+fixed"), "{preview}");
    assert_eq!(prepared.base_hash(), None);
    assert!(
        !tmp.path().join("src").exists(),
        "prepare must not touch the disk"
    );
    let out = ws.execute(prepared).unwrap();
    assert!(!out.is_error);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("src/auth/login.ts")).unwrap(),
        "fixed\n"
    );
    let read = ok(&ws, "file_read", json!({"path": "src/auth/login.ts"}));
    assert_eq!(read.text, "fixed\n");
    let structured = read.structured.unwrap();
    assert_eq!(structured["size"], 6);
    // Agents that show the model only structuredContent must still see the contents.
    assert_eq!(structured["text"], "fixed\n");
}

#[cfg(unix)] // Unix modes, and sha256sum as the independent hash
#[test]
fn overwrite_shows_diff_and_base_hash_and_keeps_permissions() {
    let (tmp, ws) = plain();
    let path = tmp.path().join("run.sh");
    std::fs::write(&path, "echo old\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o751)).unwrap();
    let prepared = ws
        .prepare(
            "file_write",
            &json!({"path": "run.sh", "content": "echo new\n"}),
        )
        .unwrap();
    let preview = prepared.preview().unwrap();
    assert!(preview.contains("--- a/run.sh"), "{preview}");
    assert!(
        preview.contains("-echo old") && preview.contains("+echo new"),
        "{preview}"
    );
    // sha256("echo old\n")
    let expected = {
        use std::process::Command;
        let out = Command::new("sha256sum").arg(&path).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(prepared.base_hash(), Some(expected.as_str()));
    ws.execute(prepared).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "echo new\n");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o751);
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn write_refused_when_file_changed_since_review() {
    let (tmp, ws) = plain();
    let path = tmp.path().join("a.txt");
    std::fs::write(&path, "v1\n").unwrap();
    let prepared = ws
        .prepare(
            "file_write",
            &json!({"path": "a.txt", "content": "agent\n"}),
        )
        .unwrap();
    std::fs::write(&path, "edited by the user meanwhile\n").unwrap();
    match ws.execute(prepared) {
        Err(e @ ToolError::ChangedSinceReview { .. }) => {
            assert!(e.to_string().contains("call the tool again"), "{e}");
        }
        other => panic!("expected ChangedSinceReview, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "edited by the user meanwhile\n"
    );
}

#[test]
fn new_file_refused_if_created_meanwhile_and_edit_refused_if_deleted() {
    let (tmp, ws) = plain();
    let prepared = ws
        .prepare(
            "file_write",
            &json!({"path": "n.txt", "content": "agent\n"}),
        )
        .unwrap();
    std::fs::write(tmp.path().join("n.txt"), "someone else\n").unwrap();
    assert!(matches!(
        ws.execute(prepared),
        Err(ToolError::ChangedSinceReview { .. })
    ));

    std::fs::write(tmp.path().join("e.txt"), "abc\n").unwrap();
    let prepared = ws
        .prepare(
            "file_edit",
            &json!({"path": "e.txt", "edits": [{"oldText": "abc", "newText": "xyz"}]}),
        )
        .unwrap();
    std::fs::remove_file(tmp.path().join("e.txt")).unwrap();
    assert!(matches!(
        ws.execute(prepared),
        Err(ToolError::ChangedSinceReview { .. })
    ));
    assert!(!tmp.path().join("e.txt").exists());
}

#[test]
fn edit_applies_exact_replacements_in_order() {
    let (tmp, ws) = plain();
    let path = tmp.path().join("login.ts");
    std::fs::write(
        &path,
        "function login() {\n  return checkPassword(user);\n}\n",
    )
    .unwrap();
    let prepared = ws
        .prepare(
            "file_edit",
            &json!({"path": "login.ts", "edits": [
                {"oldText": "checkPassword(user)", "newText": "checkPassword(user, hash)"},
                {"oldText": "function login()", "newText": "export function login()"}
            ]}),
        )
        .unwrap();
    let diff = prepared.preview().unwrap().to_owned();
    assert!(
        diff.contains("+  return checkPassword(user, hash);"),
        "{diff}"
    );
    assert!(diff.contains("+export function login() {"), "{diff}");
    ws.execute(prepared).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "export function login() {\n  return checkPassword(user, hash);\n}\n"
    );
}

#[test]
fn edit_mismatch_errors_are_clear_and_write_nothing() {
    let (tmp, ws) = plain();
    let path = tmp.path().join("f.txt");
    std::fs::write(&path, "aaa\nfoo\nfoo\n").unwrap();
    let cases = [
        (
            json!([{"oldText": "missing", "newText": "x"}]),
            1,
            "not found",
        ),
        (
            json!([{"oldText": "foo", "newText": "x"}]),
            1,
            "more than once",
        ),
        // Overlapping occurrences count too.
        (
            json!([{"oldText": "aa", "newText": "x"}]),
            1,
            "more than once",
        ),
        (
            json!([{"oldText": "aaa", "newText": "b"}, {"oldText": "aaa", "newText": "c"}]),
            2,
            "not found",
        ),
        (json!([{"oldText": "", "newText": "c"}]), 1, "empty"),
    ];
    for (edits, index, needle) in cases {
        match call(&ws, "file_edit", json!({"path": "f.txt", "edits": edits})) {
            Err(e @ ToolError::EditMismatch { .. }) => {
                let ToolError::EditMismatch { index: got, .. } = &e else {
                    unreachable!()
                };
                assert_eq!(*got, index, "{e}");
                assert!(e.to_string().contains(needle), "{e}");
            }
            other => panic!("{edits}: expected EditMismatch, got {other:?}"),
        }
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "aaa\nfoo\nfoo\n");
}

#[test]
fn edit_dry_run_returns_diff_and_writes_nothing() {
    let (tmp, ws) = plain();
    let path = tmp.path().join("f.txt");
    std::fs::write(&path, "one\n").unwrap();
    let prepared = ws
        .prepare("file_edit", &json!({"path": "f.txt", "dryRun": true, "edits": [{"oldText": "one", "newText": "two"}]}))
        .unwrap();
    assert!(prepared.is_dry_run());
    let out = ws.execute(prepared).unwrap();
    assert!(
        out.text.contains("-one") && out.text.contains("+two"),
        "{}",
        out.text
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n");
}

#[test]
fn edit_requires_existing_utf8_file() {
    let (tmp, ws) = plain();
    let e = call(
        &ws,
        "file_edit",
        json!({"path": "nope.txt", "edits": [{"oldText": "a", "newText": "b"}]}),
    );
    assert!(matches!(e, Err(ToolError::NotFound { .. })), "{e:?}");
    std::fs::write(tmp.path().join("bin"), [0xff, 0xfe, 0x00]).unwrap();
    let e = call(
        &ws,
        "file_edit",
        json!({"path": "bin", "edits": [{"oldText": "a", "newText": "b"}]}),
    );
    assert!(matches!(e, Err(ToolError::InvalidArguments(_))), "{e:?}");
}

#[test]
fn writes_inside_dot_git_are_refused() {
    let (tmp, ws) = plain();
    std::fs::create_dir_all(tmp.path().join(".git/hooks")).unwrap();
    for p in [".git/hooks/pre-commit", ".git/config", "sub/.GIT/config"] {
        let e = ws.prepare(
            "file_write",
            &json!({"path": p, "content": "#!/bin/sh\nevil\n"}),
        );
        assert!(
            matches!(e, Err(ToolError::InvalidArguments(ref m)) if m.contains(".git")),
            "{p}: {e:?}"
        );
    }
    assert!(!tmp.path().join(".git/hooks/pre-commit").exists());
}

#[test]
fn argument_errors_are_clear() {
    let (_tmp, ws) = plain();
    let cases = [
        ("file_read", json!({}), "missing required argument `path`"),
        (
            "file_read",
            json!({"path": 3}),
            "`path` must be a string, got a number",
        ),
        (
            "file_read",
            json!({"path": "a", "extra": 1}),
            "unknown argument `extra`",
        ),
        ("file_read", json!([1]), "must be a JSON object"),
        (
            "file_write",
            json!({"path": "a"}),
            "missing required argument `content`",
        ),
        (
            "file_edit",
            json!({"path": "a", "edits": []}),
            "non-empty array",
        ),
        (
            "file_edit",
            json!({"path": "a", "edits": [{"oldText": "a"}]}),
            "missing `newText`",
        ),
        (
            "file_edit",
            json!({"path": "a", "edits": [{"oldText": "a", "newText": "b", "x": 1}]}),
            "unknown key `x`",
        ),
        ("search_files", json!({}), "give `pattern`"),
        ("search_files", json!({"pattern": "[", }), "bad glob"),
        (
            "search_files",
            json!({"content": "(", "regex": true}),
            "bad regex",
        ),
        (
            "search_files",
            json!({"content": "a", "max_results": 0}),
            "from 1 to 5000",
        ),
        ("no_such_tool", json!({}), "unknown built-in tool"),
    ];
    for (tool, args, needle) in cases {
        match ws.prepare(tool, &args) {
            Err(e @ ToolError::InvalidArguments(_)) => {
                assert!(e.to_string().contains(needle), "{tool} {args}: {e}")
            }
            other => panic!("{tool} {args}: expected InvalidArguments, got {other:?}"),
        }
    }
}

#[test]
fn read_caps_large_files_with_a_note() {
    let (tmp, ws) = plain();
    std::fs::write(
        tmp.path().join("big.txt"),
        "x".repeat(cordon_tools::OUTPUT_CAP + 10),
    )
    .unwrap();
    let out = ok(&ws, "file_read", json!({"path": "big.txt"}));
    assert!(
        out.text
            .contains("[truncated: showing the first 1048576 of 1048586 bytes]")
    );
    assert!(out.text.len() < cordon_tools::OUTPUT_CAP + 200);
    let e = call(&ws, "file_read", json!({"path": "missing.txt"}));
    assert!(matches!(e, Err(ToolError::NotFound { .. })), "{e:?}");
    let e = call(&ws, "file_read", json!({"path": "."}));
    assert!(
        matches!(e, Err(ToolError::InvalidArguments(ref m)) if m.contains("list_directory")),
        "{e:?}"
    );
}

#[cfg(unix)] // symlinks need a privilege on Windows
#[test]
fn list_directory_marks_kinds_sorted() {
    let (tmp, ws) = plain();
    std::fs::create_dir(tmp.path().join("dir")).unwrap();
    std::fs::write(tmp.path().join("b.txt"), "12345").unwrap();
    std::os::unix::fs::symlink("b.txt", tmp.path().join("c_link")).unwrap();
    let out = ok(&ws, "list_directory", json!({}));
    assert_eq!(
        out.text,
        "[FILE] b.txt (5 bytes)\n[LINK] c_link\n[DIR] dir\n"
    );
    let out = ok(&ws, "list_directory", json!({"path": "dir"}));
    assert_eq!(out.text, "(empty directory)\n");
    assert!(matches!(
        call(&ws, "list_directory", json!({"path": "nope"})),
        Err(ToolError::NotFound { .. })
    ));
}

#[test]
fn search_respects_gitignore_hidden_and_caps() {
    let (tmp, ws) = plain();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("src/auth")).unwrap();
    std::fs::create_dir_all(root.join("target")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join(".gitignore"), "target/\n*.log\n").unwrap();
    std::fs::write(
        root.join("src/auth/login.ts"),
        "const token = 1;\nTOKEN again\n",
    )
    .unwrap();
    std::fs::write(root.join("src/main.rs"), "fn main() { token(); }\n").unwrap();
    std::fs::write(root.join("target/out.ts"), "token\n").unwrap();
    std::fs::write(root.join("debug.log"), "token\n").unwrap();
    std::fs::write(root.join(".hidden.ts"), "token\n").unwrap();
    std::fs::write(root.join(".git/config.ts"), "token\n").unwrap();
    std::fs::write(root.join("bin.dat"), b"token\0\0").unwrap();

    let out = ok(&ws, "search_files", json!({"pattern": "*.ts"}));
    assert_eq!(out.text, "src/auth/login.ts\n");
    let out = ok(
        &ws,
        "search_files",
        json!({"pattern": "*.ts", "include_hidden": true}),
    );
    let mut lines: Vec<_> = out.text.lines().collect();
    lines.sort();
    assert_eq!(lines, [".hidden.ts", "src/auth/login.ts"]);
    let out = ok(&ws, "search_files", json!({"pattern": "src/**/*.ts"}));
    assert_eq!(out.text, "src/auth/login.ts\n");

    let out = ok(&ws, "search_files", json!({"content": "token"}));
    let mut lines: Vec<_> = out.text.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "src/auth/login.ts:1: const token = 1;",
            "src/main.rs:1: fn main() { token(); }"
        ]
    );

    let out = ok(
        &ws,
        "search_files",
        json!({"content": "token", "case_sensitive": false, "pattern": "*.ts"}),
    );
    assert_eq!(
        out.text,
        "src/auth/login.ts:1: const token = 1;\nsrc/auth/login.ts:2: TOKEN again\n"
    );
    let out = ok(
        &ws,
        "search_files",
        json!({"content": "^TOK.N", "regex": true}),
    );
    assert_eq!(out.text, "src/auth/login.ts:2: TOKEN again\n");
    // A literal search treats regex syntax literally.
    let out = ok(&ws, "search_files", json!({"content": "main()"}));
    assert_eq!(out.text, "src/main.rs:1: fn main() { token(); }\n");

    let out = ok(
        &ws,
        "search_files",
        json!({"content": "token", "case_sensitive": false, "max_results": 1}),
    );
    assert_eq!(
        out.text.lines().filter(|l| l.contains(':')).count(),
        1,
        "{}",
        out.text
    );
    assert!(out.text.contains("results capped"), "{}", out.text);
    assert_eq!(out.structured.unwrap()["truncated"], true);
}

#[test]
fn definitions_are_complete_and_strict() {
    let defs = cordon_tools::definitions();
    let names: Vec<_> = defs.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, cordon_tools::TOOL_NAMES);
    for d in &defs {
        let s = &d.input_schema;
        assert_eq!(s["type"], "object", "{}", d.name);
        assert_eq!(s["additionalProperties"], false, "{}", d.name);
        for r in s["required"].as_array().unwrap() {
            assert!(
                s["properties"].get(r.as_str().unwrap()).is_some(),
                "{}: {r}",
                d.name
            );
        }
        let v = serde_json::to_value(d).unwrap();
        assert!(v.get("inputSchema").is_some() && v["annotations"].get("readOnlyHint").is_some());
        let read_only = d.annotations.read_only_hint;
        let expect_read_only = matches!(
            d.name.as_str(),
            "file_read" | "list_directory" | "search_files" | "git_status" | "git_diff" | "git_log"
        );
        assert_eq!(read_only, expect_read_only, "{}", d.name);
        // Every property the schema lists is accepted by prepare (no "unknown argument").
        for key in s["properties"].as_object().unwrap().keys() {
            let (_tmp, ws) = plain();
            if let Err(ToolError::InvalidArguments(m)) = ws.prepare(&d.name, &json!({ key: null }))
            {
                assert!(!m.contains("unknown argument"), "{}: {m}", d.name);
            }
        }
    }
    assert!(
        defs.iter()
            .find(|d| d.name == "git_push")
            .unwrap()
            .annotations
            .open_world_hint
    );
    assert!(
        defs.iter()
            .find(|d| d.name == "run_command")
            .unwrap()
            .annotations
            .destructive_hint
    );
}

#[test]
fn fifos_are_refused_instead_of_blocking() {
    let (tmp, ws) = plain();
    let status = std::process::Command::new("mkfifo")
        .arg(tmp.path().join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    for (tool, args) in [
        ("file_read", json!({"path": "pipe"})),
        ("file_write", json!({"path": "pipe", "content": "x"})),
        (
            "file_edit",
            json!({"path": "pipe", "edits": [{"oldText": "a", "newText": "b"}]}),
        ),
    ] {
        let e = ws.prepare(tool, &args);
        assert!(
            matches!(e, Err(ToolError::InvalidArguments(ref m)) if m.contains("not a regular file")),
            "{tool}: {e:?}"
        );
    }
}

#[cfg(unix)] // FIFOs, /dev/zero and unprivileged symlinks
#[test]
fn a_file_swapped_after_its_check_is_refused_not_waited_on_or_followed() {
    let (tmp, ws) = plain();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret");
    std::fs::write(&secret, "outside the workspace").unwrap();
    let path = tmp.path().join("f");
    for swap in ["fifo", "/dev/zero", "outside"] {
        std::fs::write(&path, "text").unwrap();
        let read = ws.prepare("file_read", &json!({"path": "f"})).unwrap();
        let write = ws
            .prepare("file_write", &json!({"path": "f", "content": "new"}))
            .unwrap();
        // Between the check and the use, something else is put at the path.
        std::fs::remove_file(&path).unwrap();
        match swap {
            "fifo" => assert!(
                std::process::Command::new("mkfifo")
                    .arg(&path)
                    .status()
                    .unwrap()
                    .success()
            ),
            "/dev/zero" => std::os::unix::fs::symlink("/dev/zero", &path).unwrap(),
            _ => std::os::unix::fs::symlink(&secret, &path).unwrap(),
        }
        // A blocking open of the FIFO (no writer ever comes) would hang here; /dev/zero would
        // never end.
        for (tool, prepared) in [("file_read", read), ("file_write", write)] {
            let e = ws.execute(prepared);
            // Refused as what it now is, or (resolved again) as leading outside the workspace.
            let refused = matches!(e, Err(ToolError::InvalidArguments(ref m)) if m.contains("not a regular file"))
                || matches!(e, Err(ToolError::OutsideRoots { .. }));
            assert!(refused, "{swap}, {tool}: {e:?}");
        }
        assert_eq!(
            std::fs::read_to_string(&secret).unwrap(),
            "outside the workspace"
        );
        std::fs::remove_file(&path).unwrap();
    }
}

#[cfg(target_os = "linux")] // openat2's RESOLVE_NO_SYMLINKS; elsewhere the last component only
#[test]
fn a_directory_swapped_for_a_link_after_the_check_is_not_followed_out() {
    let (tmp, ws) = plain();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("f"), "outside the workspace").unwrap();
    let sub = tmp.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("f"), "inside").unwrap();
    let read = ws.prepare("file_read", &json!({"path": "sub/f"})).unwrap();
    std::fs::rename(&sub, tmp.path().join("sub.old")).unwrap();
    std::os::unix::fs::symlink(outside.path(), &sub).unwrap();
    let e = ws.execute(read);
    assert!(
        matches!(e, Err(ToolError::InvalidArguments(ref m)) if m.contains("not a regular file")),
        "{e:?}"
    );
}

#[cfg(any(target_os = "linux", target_os = "macos"))]
#[test]
fn a_directory_flipped_to_a_link_while_writes_run_never_lets_one_out() {
    // The attack chain: another process of the user keeps swapping `sub` between the directory
    // the writes were checked against and a link to elsewhere, while approved writes run. Each
    // write is checked and then written; the swap can land between the two.
    let (tmp, ws) = plain();
    let outside = tempfile::tempdir().unwrap();
    let sub = tmp.path().join("sub");
    let other = tmp.path().join("sub.other");
    std::fs::create_dir(&sub).unwrap();
    std::os::unix::fs::symlink(outside.path(), &other).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (mut written, mut refused) = (0, 0);
    std::thread::scope(|s| {
        s.spawn(|| {
            use rustix::fs::{CWD, RenameFlags, renameat_with};
            // Atomic exchanges: `sub` is always there, a directory or a link.
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                renameat_with(CWD, &sub, CWD, &other, RenameFlags::EXCHANGE).unwrap();
            }
        });
        for i in 0..3000 {
            let args = json!({"path": format!("sub/d{}/f{i}", i % 3), "content": "x"});
            let Ok(prepared) = ws.prepare("file_write", &args) else {
                continue; // checked while `sub` was a link: refused before any write
            };
            match ws.execute(prepared) {
                Ok(_) => written += 1,
                Err(_) => refused += 1,
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let escaped: Vec<_> = walk(outside.path());
    assert!(
        escaped.is_empty(),
        "writes escaped the workspace: {escaped:?}"
    );
    assert!(
        written > 0,
        "the test raced nothing: {written} written, {refused} refused"
    );
}

#[cfg(any(target_os = "linux", target_os = "macos"))]
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

#[test]
fn types_can_cross_threads_for_spawn_blocking() {
    fn send_sync_static<T: Send + Sync + 'static>() {}
    send_sync_static::<cordon_tools::Workspace>();
    send_sync_static::<cordon_tools::Prepared>();
    send_sync_static::<cordon_tools::ToolOutput>();
    send_sync_static::<ToolError>();
}
