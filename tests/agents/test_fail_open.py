"""Where an agent cannot be made fail closed, measured with the pinned CLIs (issue 16).

Cordon's own hook never crashes on purpose: it answers deny on every error and before the agent's
timeout. What the agent does when the hook *process* fails anyway (killed, its binary gone, over
its timeout) is the agent's choice, and these tests pin down what each pinned CLI does with exactly
the hook entry `cordon agents install` wrote (its `onFailure`, matcher and the rest kept), only the
command swapped for one that crashes or hangs. Today every one runs the tool (Claude Code 2.1.197
ignores the installed `onFailure: "block"`, honoured from 2.1.295), wherever the agent's own
permissions would let it (Claude Code in bypass mode; Codex and the Gemini CLI with their own
approvals off, as the main suite runs them). README and `cordon agents list` say so; when a CLI
upgrade starts failing closed, these tests fail: update both (and `Agent::fail_open`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents_e2e import User, run_agent
from test_real_agents import AGENTS, Agent

CRASH = "sh -c 'kill -9 $$'"
HANG = "sleep 60"


def hooks_file(agent: Agent, user: User) -> tuple[Path, str]:
    return {
        "claude-code": (user.home / ".claude" / "settings.json", "PreToolUse"),
        "codex": (user.home / ".codex" / "hooks.json", "PreToolUse"),
        "gemini": (user.home / ".gemini" / "settings.json", "BeforeTool"),
    }[agent.name]


def swap_hook_command(agent: Agent, user: User, command: str, timeout: int | None) -> dict[str, Any]:
    """Replaces the command of the hook Cordon installed (everything else kept); returns it."""
    path, event = hooks_file(agent, user)
    doc = json.loads(path.read_text())
    ours = [h for entry in doc["hooks"][event] for h in entry["hooks"] if "cordon" in h.get("command", "") and " hook " in h["command"]]
    assert len(ours) == 1, f"Cordon's hook entry not found in {path}: {doc}"
    hook = ours[0]
    hook["command"] = command
    if timeout is not None:
        hook["timeout"] = timeout
    path.write_text(json.dumps(doc, indent=2))
    return hook


def no_approvals(pending: dict[str, Any]) -> tuple[str, str]:
    return "deny", f"nothing should be held in this test: {pending.get('tool')}"


@pytest.fixture(params=list(AGENTS))
def installed(request: pytest.FixtureRequest) -> Iterator[tuple[Agent, User]]:
    agent = AGENTS[request.param]
    user = User(f"{agent.name}-fail-open")
    try:
        user.start()
        agent.prepare(user)
        installed = user.cli("agents", "install", agent.name)
        assert "fail-open limit" in installed.stdout, installed.stdout
        yield agent, user
    finally:
        user.cleanup()


def argv_with_own_permissions_off(agent: Agent) -> list[str]:
    argv = agent.argv()
    if agent.name == "claude-code":
        # The user's own permission prompts off (bypass mode): only the hook stands in the way.
        argv = [*argv, "--dangerously-skip-permissions"]
    return argv


@pytest.mark.parametrize(("how", "command"), [("crashes", CRASH), ("hangs past its timeout", HANG)])
def test_a_failing_hook_process_lets_the_tool_run_as_documented(installed: tuple[Agent, User], how: str, command: str) -> None:
    agent, user = installed
    listed = user.cli("agents", "list").stdout
    lines = listed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{agent.name} "))
    block = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        block.append(line)
    assert any("fail-open limit" in line for line in block), f"`cordon agents list` does not say {agent.name} fails open:\n{listed}"
    # Gemini's timeout is in ms, Claude Code's and Codex's in s.
    timeout = None if command == CRASH else (2000 if agent.name == "gemini" else 2)
    hook = swap_hook_command(agent, user, command, timeout)
    marker = user.ws / "ran-although-the-hook-failed"
    steps = [agent.native_shell(f"touch {marker}"), {"text": "done"}]
    env = agent.env() | ({"IS_SANDBOX": "1"} if agent.name == "claude-code" else {})
    run = run_agent(user, argv_with_own_permissions_off(agent), env, steps, no_approvals, f"fail-open-{agent.name}")
    assert run.proc.returncode == 0, run.describe()
    assert marker.exists(), (
        f"{agent.name} now refuses the tool when its hook {how} (hook entry {hook}): it fails closed. "
        "Update README's fail-open table, `Agent::fail_open` and this test.\n" + run.describe()
    )
