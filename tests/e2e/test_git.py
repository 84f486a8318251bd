"""mcp-server-git (PyPI) behind Cordon: reads pass unchanged, staging and committing wait for a human."""

from __future__ import annotations

import subprocess

import anyio
import pytest

from cordon_e2e import (
    GIT,
    Engine,
    PendingCall,
    cli_async,
    direct,
    records_mentioning,
    result_summary,
    run,
    wait_for_approval,
)


@pytest.fixture(scope="module")
def engine(engine_factory) -> Engine:
    return engine_factory(servers=("git",), http=False)


def git(engine: Engine, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(engine.repo), *args], check=True, capture_output=True, text=True, timeout=30
    ).stdout


def is_git_call(tool: str):
    return lambda entry: entry.get("server") == "git" and str(entry.get("tool", "")).endswith(tool)


def test_status_and_log_identical_to_direct(engine: Engine) -> None:
    (engine.repo / "untracked.txt").write_text("new\n")
    calls = [("git_status", {"repo_path": str(engine.repo)}), ("git_log", {"repo_path": str(engine.repo)})]

    async def scenario() -> None:
        async with direct(GIT, ["--repository", str(engine.repo)], engine.new_stderr("direct-git")) as upstream:
            expected = [await upstream.call_tool(name, args) for name, args in calls]
        async with engine.stdio() as session:
            got = [await session.call_tool(f"git__{name}", args) for name, args in calls]
        assert "untracked.txt" in str(result_summary(expected[0]))
        assert "initial commit for e2e" in str(result_summary(expected[1]))
        for (name, _), want, have in zip(calls, expected, got):
            assert not want.is_error, (name, result_summary(want))
            assert result_summary(have) == result_summary(want), name

    run(scenario)
    log = engine.log()
    reads = [r for r in log if str(r.get("tool", "")).endswith(("git_status", "git_log"))]
    assert [r["outcome"] for r in reads] == ["allowed", "allowed"], log
    assert all(r["action"] == "job.mcp-bridge.read.git" for r in reads), reads


def test_add_is_held_and_approved_then_commit_is_held_and_denied(engine: Engine) -> None:
    (engine.repo / "feature.txt").write_text("feature\n")
    head_before = git(engine, "rev-parse", "HEAD").strip()

    async def scenario() -> None:
        async with engine.stdio() as session:
            async with anyio.create_task_group() as tg:
                call = PendingCall(session, "git__git_add", {"repo_path": str(engine.repo), "files": ["feature.txt"]})
                tg.start_soon(call.run)
                pending = await wait_for_approval(engine, call, is_git_call("git_add"))
                assert git(engine, "diff", "--cached", "--name-only").strip() == "", "staged before approval"
                await cli_async(engine.approve, pending["id"])
                result = await call.outcome()
                assert not result.is_error, result_summary(result)
            assert git(engine, "diff", "--cached", "--name-only").split() == ["feature.txt"]

            async with anyio.create_task_group() as tg:
                args = {"repo_path": str(engine.repo), "message": "e2e: must not land"}
                call = PendingCall(session, "git__git_commit", args)
                tg.start_soon(call.run)
                pending = await wait_for_approval(engine, call, is_git_call("git_commit"))
                await cli_async(engine.deny, pending["id"], "e2e: no commits today")
                result = await call.outcome()
                assert result.is_error, result_summary(result)

    run(scenario)
    assert git(engine, "rev-parse", "HEAD").strip() == head_before, "the denied commit landed"
    log = engine.log()
    assert [r["outcome"] for r in log if str(r.get("tool", "")).endswith("git_add")] == ["approved"], log
    assert [r["outcome"] for r in records_mentioning(log, "e2e: must not land")] == ["rejected"], log
