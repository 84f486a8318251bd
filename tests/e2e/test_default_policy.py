"""The shipped policy (policies/default.yaml) through the gateway: for each call, the engine does exactly
what `cordon policy explain` says that policy decides (allow → forwarded, deny → refused with the rule,
require_approval → held until approved), and the evidence names the same rule and policy version.

Unlike the other modules this one does not fix the expected decisions: the default policy may change;
the gateway must follow it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from cordon_e2e import (
    CLI_TIMEOUT,
    REPO,
    Engine,
    PendingCall,
    cli_async,
    cordon_bin,
    describe,
    result_summary,
    run,
    text_of,
    wait_for_approval,
)

DEFAULT = REPO / "policies" / "default.yaml"


@pytest.fixture(scope="module")
def engine(engine_factory) -> Engine:
    return engine_factory(servers=("everything", "filesystem", "git"), http=False, policy=DEFAULT)


def explain(server: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [str(cordon_bin()), "policy", "explain", "--policy", str(DEFAULT), "--server", server, "--tool", tool,
         "--args", json.dumps(args)],
        capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False,
    )
    assert proc.returncode == 0, describe(proc)
    return json.loads(proc.stdout)


def script(engine: Engine) -> list[tuple[str, str, dict[str, Any], Path | None]]:
    """(server, tool, args, marker) in order; the marker identifies the call in approvals/evidence."""
    files, repo = engine.files, engine.repo
    (files / "notes.txt").write_text("notes\n")
    (files / ".env").write_text("TOKEN=hunter2-default-policy\n")
    (repo / "staged.txt").write_text("to be staged\n")
    return [
        ("everything", "echo", {"message": "default-policy echo"}, None),
        ("filesystem", "read_text_file", {"path": str(files / "notes.txt")}, files / "notes.txt"),
        ("filesystem", "read_text_file", {"path": str(files / ".env")}, files / ".env"),
        ("filesystem", "write_file", {"path": str(files / "written.txt"), "content": "written\n"}, files / "written.txt"),
        ("git", "git_status", {"repo_path": str(repo)}, None),
        ("git", "git_log", {"repo_path": str(repo)}, None),
        ("git", "git_add", {"repo_path": str(repo), "files": ["staged.txt"]}, None),
        ("git", "git_commit", {"repo_path": str(repo), "message": "e2e default-policy commit"}, None),
    ]


def test_gateway_follows_policy_explain(engine: Engine) -> None:
    steps = script(engine)
    expected = [explain(server, tool, args) for server, tool, args, _ in steps]
    observed: list[str] = []

    async def scenario() -> None:
        async with engine.stdio() as session:
            for (server, tool, args, _marker), want in zip(steps, expected):
                name = f"{server}__{tool}"
                async with anyio.create_task_group() as tg:
                    call = PendingCall(session, name, args)
                    tg.start_soon(call.run)
                    if want["decision"] == "require_approval":
                        pending = await wait_for_approval(
                            engine, call, lambda e, s=server, t=tool: e.get("server") == s and str(e.get("tool")).endswith(t)
                        )
                        assert pending["rule_id"] == want["rule"], (name, pending, want)
                        await cli_async(engine.approve, pending["id"])
                    result = await call.outcome()
                text = text_of(result)
                if want["decision"] == "deny":
                    assert result.is_error and text.startswith("Cordon denied this call:"), (name, text)
                    assert want["rule"] in text, (name, text, want)
                    assert "hunter2" not in str(result_summary(result))
                else:
                    assert not text.startswith("Cordon denied"), (name, text)
                    assert not result.is_error, (name, want, result_summary(result))
                observed.append(want["decision"])

    run(scenario)
    log = engine.log()
    assert len(log) == len(steps), json.dumps(log, indent=1)
    outcome_for = {"allow": "allowed", "deny": "denied", "require_approval": "approved"}
    for record, (server, tool, _args, _m), want in zip(log, steps, expected):
        assert (record["server"], str(record["tool"]).split("__")[-1]) == (server, tool), record
        assert record["outcome"] == outcome_for[want["decision"]], (record, want)
        assert record["rule_id"] == want["rule"], (record, want)
        assert record["action"] == want["topic"], (record, want)
        assert record["policy_version"] == want["policy_version"], (record, want)
    # The effects on disk match the decisions.
    git_decisions = dict(zip([t for _, t, _, _ in steps], observed))
    head_log = subprocess.run(["git", "-C", str(engine.repo), "log", "--format=%s"], capture_output=True, text=True,
                              check=True, timeout=CLI_TIMEOUT).stdout
    assert ("e2e default-policy commit" in head_log) == (git_decisions["git_commit"] != "deny"), head_log
    written = engine.files / "written.txt"
    assert written.exists() == (git_decisions["write_file"] != "deny")
