//! Path confinement: every escape must be refused, through every tool that takes a path.
//! Unix only: most escapes here are symlinks, which Windows lets an unprivileged user create
//! only in Developer Mode (the CI runner's Windows tests cover the rest of the tools).
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::symlink;

use cordon_tools::{ToolError, Workspace};
use serde_json::json;

struct Fixture {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    outside: std::path::PathBuf,
    ws: Workspace,
}

/// tmp/root (the workspace, with hostile symlinks) and tmp/outside (a secret).
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "top secret\n").unwrap();
    std::fs::write(root.join("sub/inner.txt"), "inner\n").unwrap();
    symlink(outside.join("secret.txt"), root.join("link_file")).unwrap();
    symlink(&outside, root.join("link_dir")).unwrap();
    symlink(outside.join("missing.txt"), root.join("dangling")).unwrap();
    symlink(root.join("sub/inner.txt"), root.join("inner_link")).unwrap();
    symlink(root.join("loop_a"), root.join("loop_b")).unwrap();
    symlink(root.join("loop_b"), root.join("loop_a")).unwrap();
    // A sibling whose name starts like the root: prefix checks must compare components.
    std::fs::create_dir_all(tmp.path().join("rootx")).unwrap();
    let ws = Workspace::new(vec![root.clone()]).unwrap();
    let root = std::fs::canonicalize(root).unwrap();
    let outside = std::fs::canonicalize(outside).unwrap();
    Fixture {
        _tmp: tmp,
        root,
        outside,
        ws,
    }
}

/// Hostile path arguments, as data. Every one must be refused by `resolve`.
fn hostile(f: &Fixture) -> Vec<String> {
    let long_escape = format!("{}etc/passwd", "../".repeat(200));
    vec![
        "../x".into(),
        "../outside/secret.txt".into(),
        "/etc/passwd".into(),
        "a/../../x".into(),
        "sub/../../outside/secret.txt".into(),
        "./../root/../outside".into(),
        "link_file".into(),
        "link_dir/secret.txt".into(),
        "link_dir/new_file.txt".into(),
        "link_dir/newdir/deeper/file.txt".into(),
        "link_dir".into(),
        "dangling".into(),
        "loop_a".into(),
        "loop_a/x".into(),
        "missing_dir/../../x".into(),
        "sub/missing/../../../x".into(),
        "inner\0.txt".into(),
        "\0".into(),
        "".into(),
        "x".repeat(5000),
        long_escape,
        format!("{}/secret.txt", f.outside.display()),
        format!("{}x/file", f.root.display()),
        "/".into(),
        "//etc//passwd".into(),
    ]
}

#[test]
fn hostile_paths_are_refused_by_resolve() {
    let f = fixture();
    for p in hostile(&f) {
        match f.ws.resolve(&p) {
            Err(ToolError::OutsideRoots { path, .. }) => assert_eq!(path, p),
            Err(ToolError::InvalidArguments(_) | ToolError::Io { .. }) => {}
            other => panic!("path {p:?} was not refused: {other:?}"),
        }
    }
}

#[test]
fn escapes_name_the_path_and_say_outside_roots() {
    let f = fixture();
    for p in [
        "../x",
        "/etc/passwd",
        "link_file",
        "link_dir/secret.txt",
        "a/../../x",
        "dangling",
    ] {
        match f.ws.resolve(p) {
            Err(e @ ToolError::OutsideRoots { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(p), "{msg}");
                assert!(msg.contains("outside the workspace roots"), "{msg}");
            }
            other => panic!("{p:?}: expected OutsideRoots, got {other:?}"),
        }
    }
    assert!(matches!(
        f.ws.resolve("inner\0.txt"),
        Err(ToolError::InvalidArguments(_))
    ));
    assert!(matches!(
        f.ws.resolve(&"x".repeat(5000)),
        Err(ToolError::InvalidArguments(_))
    ));
}

#[test]
fn legitimate_paths_resolve_inside() {
    let f = fixture();
    let cases = [
        (".", f.root.clone()),
        ("sub/inner.txt", f.root.join("sub/inner.txt")),
        ("./sub/../sub/inner.txt", f.root.join("sub/inner.txt")),
        ("inner_link", f.root.join("sub/inner.txt")),
        ("new.txt", f.root.join("new.txt")),
        (
            "newdir/deeper/new.txt",
            f.root.join("newdir/deeper/new.txt"),
        ),
        ("sub/./new.txt", f.root.join("sub/new.txt")),
    ];
    for (p, want) in cases {
        assert_eq!(f.ws.resolve(p).unwrap(), want, "{p}");
    }
    let abs = f.root.join("sub/inner.txt");
    assert_eq!(f.ws.resolve(abs.to_str().unwrap()).unwrap(), abs);
}

#[test]
fn second_root_is_allowed_and_relative_paths_use_the_first() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    std::fs::write(b.path().join("f.txt"), "b\n").unwrap();
    let ws = Workspace::new(vec![a.path().into(), b.path().into()]).unwrap();
    let in_b = std::fs::canonicalize(b.path()).unwrap().join("f.txt");
    assert_eq!(ws.resolve(in_b.to_str().unwrap()).unwrap(), in_b);
    assert_eq!(
        ws.resolve("f.txt").unwrap(),
        std::fs::canonicalize(a.path()).unwrap().join("f.txt")
    );
}

#[test]
fn workspace_roots_must_exist_and_be_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert!(matches!(
        Workspace::new(vec![]),
        Err(ToolError::InvalidArguments(_))
    ));
    assert!(matches!(
        Workspace::new(vec![tmp.path().join("missing")]),
        Err(ToolError::NotFound { .. })
    ));
    assert!(matches!(
        Workspace::new(vec![file]),
        Err(ToolError::InvalidArguments(_))
    ));
}

/// The escapes must be refused by the tools themselves, not only by `resolve`, and nothing
/// outside may change.
#[test]
fn every_path_tool_refuses_escapes() {
    let f = fixture();
    for p in [
        "../outside/secret.txt",
        "link_file",
        "link_dir/secret.txt",
        "/etc/passwd",
        "link_dir/new.txt",
        "dangling",
    ] {
        let calls = [
            ("file_read", json!({"path": p})),
            ("file_write", json!({"path": p, "content": "pwned"})),
            (
                "file_edit",
                json!({"path": p, "edits": [{"oldText": "top", "newText": "pwned"}]}),
            ),
            ("list_directory", json!({"path": p})),
            ("search_files", json!({"path": p, "content": "secret"})),
            ("run_command", json!({"command": ["true"], "cwd": p})),
            ("git_status", json!({"path": p})),
        ];
        for (tool, args) in calls {
            match f.ws.prepare(tool, &args) {
                Err(ToolError::OutsideRoots { .. }) => {}
                other => panic!("{tool} {args}: expected OutsideRoots, got {other:?}"),
            }
        }
    }
    assert_eq!(
        std::fs::read_to_string(f.outside.join("secret.txt")).unwrap(),
        "top secret\n"
    );
    assert!(!f.outside.join("new.txt").exists());
    assert!(!f.outside.join("missing.txt").exists());
}

#[test]
fn search_does_not_follow_symlinks_out_of_the_root() {
    let f = fixture();
    let out = common::ok(&f.ws, "search_files", json!({"content": "secret"}));
    assert!(!out.text.contains("top secret"), "{}", out.text);
    let out = common::ok(&f.ws, "search_files", json!({"pattern": "secret*"}));
    assert!(out.text.contains("no matches"), "{}", out.text);
}

#[test]
fn symlink_swapped_in_after_review_is_refused() {
    let f = fixture();
    std::fs::create_dir(f.root.join("d")).unwrap();
    let prepared =
        f.ws.prepare("file_write", &json!({"path": "d/new.txt", "content": "x"}))
            .unwrap();
    // Between review and execution the directory becomes a symlink to the outside.
    std::fs::remove_dir(f.root.join("d")).unwrap();
    symlink(&f.outside, f.root.join("d")).unwrap();
    match f.ws.execute(prepared) {
        Err(ToolError::OutsideRoots { .. } | ToolError::ChangedSinceReview { .. }) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!f.outside.join("new.txt").exists());
}

/// Every combination of up to four hostile and harmless components: whatever `resolve`
/// accepts lies inside the root and, when it exists, is exactly what the OS resolves.
#[test]
fn exhaustive_component_combinations_never_escape() {
    let f = fixture();
    let tokens = [
        "..",
        ".",
        "sub",
        "link_dir",
        "link_file",
        "inner_link",
        "new",
        "dangling",
        "loop_a",
    ];
    let mut paths: Vec<String> = vec![];
    let mut frontier: Vec<Vec<&str>> = vec![vec![]];
    for _ in 0..4 {
        let mut next = vec![];
        for p in &frontier {
            for t in tokens {
                let mut q = p.clone();
                q.push(t);
                paths.push(q.join("/"));
                next.push(q);
            }
        }
        frontier = next;
    }
    let mut accepted = 0;
    for p in &paths {
        if let Ok(real) = f.ws.resolve(p) {
            accepted += 1;
            assert!(real.starts_with(&f.root), "{p} -> {}", real.display());
            assert!(!real.starts_with(&f.outside), "{p} -> {}", real.display());
            if let Ok(os) = std::fs::canonicalize(f.root.join(p)) {
                assert_eq!(os, real, "{p}");
            }
        }
    }
    assert!(
        accepted > 100 && accepted < paths.len(),
        "{accepted} of {}",
        paths.len()
    );
}
