"""The governed workflow with NO upstream servers: Cordon's built-in workspace tools (issue 5).

A temporary git repository (with a local bare remote as `origin`) is the only workspace root; the
policy is the shipped default (policies/default.yaml). A real MCP client (the official Python SDK,
through `cordon mcp`) reads src/auth/login.ts (allowed at once), writes a fix (held; the approval
shows the unified diff; approved; the file changes on disk), commits (allowed), pushes
fix/auth-bug (held, approved, the commit is in the bare remote), force-pushes (denied by rule
deny-force-push); the evidence log lists them with the reviewer, and `cordon log session` shows the
trail. Paths outside the root (`..`, an absolute path elsewhere, a symlink pointing out) are refused.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from cordon_e2e import (
    CLI_TIMEOUT,
    REPO,
    REVIEWER,
    Engine,
    PendingCall,
    cli_async,
    result_summary,
    run,
    text_of,
    wait_for_approval,
    yaml_str,
)

BUGGY = (
    "export function login(user: string, password: string): boolean {\n"
    "  // BUG: any password is accepted\n"
    "  return user.length > 0;\n"
    "}\n"
)
FIXED = (
    "export function login(user: string, password: string): boolean {\n"
    "  return user.length > 0 && checkPassword(user, password);\n"
    "}\n"
)
BRANCH = "fix/auth-bug"
IDENTITY = ("Cordon Agent", "agent@example.com")


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False
    )
    assert proc.returncode == 0, f"git {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


def make_workspace(root: Path) -> tuple[Path, Path, Path]:
    """repo (on branch fix/auth-bug, one commit), its bare origin, and a secret file outside it."""
    bare = root / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True, timeout=CLI_TIMEOUT)
    repo = root / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "commit.gpgsign", "false")
    (repo / "src" / "auth").mkdir(parents=True)
    (repo / "src" / "auth" / "login.ts").write_text(BUGGY)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", "initial")
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    git(repo, "checkout", "-q", "-b", BRANCH)
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for agents\n")
    (repo / "link-out").symlink_to(outside / "secret.txt")
    return repo, bare, outside


@pytest.fixture(scope="module")
def workflow(engine_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Path, Path, Path]:
    root = tmp_path_factory.mktemp("builtin-ws")
    repo, bare, outside = make_workspace(root)
    extra = (
        "workspace:\n"
        f"  roots: [{yaml_str(str(repo))}]\n"
        f"  identity: {{name: {yaml_str(IDENTITY[0])}, email: {yaml_str(IDENTITY[1])}}}\n"
    )
    engine = engine_factory(
        servers=(), http=False, policy=REPO / "policies" / "default.yaml", extra_config=extra
    )
    return engine, repo, bare, outside


def approve_when_held(engine: Engine, call: PendingCall, tool: str) -> Any:
    async def go() -> dict[str, Any]:
        return await wait_for_approval(engine, call, lambda e: e["server"] == "cordon" and e["tool"] == tool)

    return go


def test_builtin_tools_are_listed_with_annotations(workflow: tuple[Engine, Path, Path, Path]) -> None:
    engine, _, _, _ = workflow

    async def scenario() -> None:
        async with engine.stdio() as session:
            tools = {t.name: t for t in (await session.list_tools()).tools}
            for name in ("file_read", "file_write", "file_edit", "list_directory", "search_files", "git_status",
                         "git_diff", "git_log", "git_commit", "git_push", "run_command"):
                assert f"cordon__{name}" in tools, sorted(tools)
            read = tools["cordon__file_read"].model_dump(by_alias=True, mode="json")
            assert (read.get("annotations") or {}).get("readOnlyHint") is True, read
            push = tools["cordon__git_push"].model_dump(by_alias=True, mode="json")
            assert (push.get("annotations") or {}).get("readOnlyHint") is False, push
            assert (push.get("annotations") or {}).get("destructiveHint") is not None, push
            assert push["inputSchema"].get("properties", {}).get("force"), push

    run(scenario)


def test_read_write_commit_push_force_push_and_evidence(workflow: tuple[Engine, Path, Path, Path]) -> None:
    engine, repo, bare, _ = workflow
    login = repo / "src" / "auth" / "login.ts"

    async def scenario() -> None:
        async with engine.stdio() as session, anyio.create_task_group() as tg:
            # 1. Read: allowed at once.
            read = await session.call_tool("cordon__file_read", {"path": "src/auth/login.ts"})
            assert not read.is_error, result_summary(read)
            assert "any password is accepted" in text_of(read), result_summary(read)

            # 2. Write: held with its diff, approved, applied.
            write = PendingCall(session, "cordon__file_write", {"path": "src/auth/login.ts", "content": FIXED})
            tg.start_soon(write.run)
            pending = await approve_when_held(engine, write, "file_write")()
            assert login.read_text() == BUGGY, "the write was applied before approval"
            diff = pending.get("diff")
            assert isinstance(diff, str), pending
            lines = diff.splitlines()
            assert "-  // BUG: any password is accepted" in lines, diff
            assert "+  return user.length > 0 && checkPassword(user, password);" in lines, diff
            assert any(line.startswith("@@") for line in lines), diff
            assert pending["action"] == "job.mcp-bridge.write.file", pending
            assert pending["rule_id"] == "approve-file-changes", pending
            await cli_async(engine.approve, pending["id"])
            written = await write.outcome()
            assert not written.is_error, result_summary(written)
            assert login.read_text() == FIXED

            # 3. Commit: allowed under the default policy.
            commit = await session.call_tool(
                "cordon__git_commit", {"message": "Fix login password check", "paths": ["src/auth/login.ts"]}
            )
            assert not commit.is_error, result_summary(commit)
            head = git(repo, "rev-parse", "HEAD").strip()
            author = git(repo, "log", "-1", "--format=%an <%ae>").strip()
            assert author == f"{IDENTITY[0]} <{IDENTITY[1]}>", author

            # 4. Push: held with the push preview, approved, the commit is in the bare remote.
            push = PendingCall(session, "cordon__git_push", {"remote": "origin", "branch": BRANCH})
            tg.start_soon(push.run)
            pending = await approve_when_held(engine, push, "git_push")()
            assert pending["action"] == "job.mcp-bridge.git.push", pending
            assert pending["rule_id"] == "approve-push", pending
            preview = pending.get("preview") or pending.get("diff") or ""
            assert f"git push origin {BRANCH}" in preview, pending
            await cli_async(engine.approve, pending["id"])
            pushed = await push.outcome()
            assert not pushed.is_error, result_summary(pushed)
            remote_head = git(bare, "log", "-1", "--format=%H", BRANCH).strip()
            assert remote_head == head, f"remote {BRANCH} is at {remote_head}, local commit {head}"

            # 5. Force push: denied at once, naming the rule.
            forced = await session.call_tool("cordon__git_push", {"remote": "origin", "branch": BRANCH, "force": True})
            assert forced.is_error, result_summary(forced)
            assert text_of(forced).startswith("Cordon denied this call: rule deny-force-push"), text_of(forced)

            # run_command goes through the shell classifier: a listing passes, an env dump is refused.
            listing = await session.call_tool("cordon__run_command", {"command": "ls src"})
            assert not listing.is_error, result_summary(listing)
            assert "auth" in text_of(listing), result_summary(listing)
            dump = await session.call_tool("cordon__run_command", {"command": "env"})
            assert dump.is_error, result_summary(dump)
            assert "deny-secrets" in text_of(dump), text_of(dump)

    run(scenario)

    records = [r for r in engine.log() if r.get("server") == "cordon"]
    by_tool = [(r["tool"], r["outcome"]) for r in records]
    assert ("file_read", "allowed") in by_tool, by_tool
    assert ("file_write", "approved") in by_tool, by_tool
    assert ("git_commit", "allowed") in by_tool, by_tool
    assert ("git_push", "approved") in by_tool, by_tool
    assert ("git_push", "denied") in by_tool, by_tool
    for record in records:
        if record["outcome"] == "approved":
            assert record.get("reviewer") == REVIEWER, record
    write_record = next(r for r in records if r["tool"] == "file_write")
    assert "checkPassword" in (write_record.get("diff") or ""), "the reviewed diff is not in the evidence"
    denied = next(r for r in records if r["outcome"] == "denied")
    assert denied.get("rule_id") == "deny-force-push", denied

    session_id = records[0]["session_id"]
    trail = engine.cli("log", "session", session_id).stdout
    assert "login.ts" in trail, trail
    assert REVIEWER in trail, trail
    assert "deny-force-push" in trail, trail


@pytest.mark.parametrize(
    "path_of",
    [
        pytest.param(lambda repo, outside: "../outside/secret.txt", id="dotdot"),
        pytest.param(lambda repo, outside: str(outside / "secret.txt"), id="absolute-elsewhere"),
        pytest.param(lambda repo, outside: "link-out", id="symlink-out"),
    ],
)
def test_paths_outside_the_roots_are_refused(workflow: tuple[Engine, Path, Path, Path], path_of: Any) -> None:
    engine, repo, _, outside = workflow
    path = path_of(repo, outside)

    async def scenario() -> None:
        async with engine.stdio() as session:
            result = await session.call_tool("cordon__file_read", {"path": path})
            assert result.is_error, result_summary(result)
            assert "not for agents" not in text_of(result), "a file outside the roots was read"
            assert "outside the workspace roots" in text_of(result), text_of(result)

    run(scenario)
    records = [r for r in engine.log() if r.get("server") == "cordon" and r.get("args", {}).get("path") == path]
    assert [r["outcome"] for r in records][-1:] == ["error"], records
