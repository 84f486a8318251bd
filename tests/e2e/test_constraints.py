"""Runtime constraints (issue 9) with the real binary: the kill switch mid-session for stdio and HTTP
agents (and the held call it denies), a call budget crossed by one with its evidence record, a slow
upstream cut at its timeout with a clear error, and writes outside the agent's workspace roots refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import mcp.types
import pytest

from cordon_e2e import (
    HTTP_AGENT,
    POLICIES,
    STDIO_AGENT,
    Engine,
    PendingCall,
    cli_async,
    result_summary,
    run,
    text_of,
    wait_for_approval,
)

import anyio


@pytest.fixture(scope="module")
def engine(engine_factory: Callable[..., Engine], tmp_path_factory: pytest.TempPathFactory) -> Engine:
    eng = engine_factory(policy=POLICIES / "limits.yaml", start=False)
    ws = eng.files / "ws"
    ws.mkdir(exist_ok=True)
    eng.agent_roots = {STDIO_AGENT: [ws], HTTP_AGENT: [ws]}
    eng.write_config()
    eng.start()
    return eng


def records_with(engine: Engine, rule: str) -> list[dict[str, Any]]:
    return [r for r in engine.log() if r.get("rule_id") == rule]


def pause_state(engine: Engine) -> dict[str, Any]:
    return engine.cli_json("pause", "--status", "--json")


def test_pause_and_resume_mid_session_for_stdio_and_http(engine: Engine) -> None:
    async def scenario() -> None:
        async with engine.stdio() as stdio, engine.http() as http:
            for session in (stdio, http):
                ok = await session.call_tool("everything__echo", {"message": "before"})
                assert not ok.is_error, result_summary(ok)
            # Pause one agent: only its calls are refused.
            await cli_async(engine.cli, "pause", "--agent", STDIO_AGENT)
            refused = await stdio.call_tool("everything__echo", {"message": "paused"})
            assert refused.is_error, result_summary(refused)
            assert "rule pause" in text_of(refused) and STDIO_AGENT in text_of(refused), text_of(refused)
            passed = await http.call_tool("everything__echo", {"message": "still on"})
            assert not passed.is_error, result_summary(passed)
            # Pause all (what the tray's "pause all agents" does): both refused, reads too.
            await cli_async(engine.cli, "pause")
            assert (await cli_async(pause_state, engine))["all"] is True
            for session in (stdio, http):
                refused = await session.call_tool("filesystem__list_directory", {"path": str(engine.files)})
                assert refused.is_error and "paused for all agents" in text_of(refused), text_of(refused)
            await cli_async(engine.resume)
            assert await cli_async(pause_state, engine) == {"all": False, "agents": []}
            for session in (stdio, http):
                ok = await session.call_tool("everything__echo", {"message": "after"})
                assert not ok.is_error, result_summary(ok)
        paused = records_with(engine, "pause")
        assert len(paused) == 3, paused
        assert {r["outcome"] for r in paused} == {"denied"}
        assert {r["agent"] for r in paused} == {STDIO_AGENT, HTTP_AGENT}

    run(scenario)


def test_pausing_denies_a_call_held_for_approval(engine: Engine) -> None:
    target = engine.files / "ws" / "held-dir"

    async def scenario() -> None:
        async with engine.stdio() as session:
            call = PendingCall(session, "filesystem__create_directory", {"path": str(target)})
            async with anyio.create_task_group() as tg:
                tg.start_soon(call.run)
                await wait_for_approval(engine, call, lambda e: e.get("tool") == "create_directory")
                await cli_async(engine.cli, "pause", "--agent", STDIO_AGENT)
                result = await call.outcome()
            assert result.is_error, result_summary(result)
            assert "Cordon was paused" in text_of(result), text_of(result)
            await cli_async(engine.resume, STDIO_AGENT)
        assert not target.exists()
        record = [r for r in engine.log() if r.get("tool") == "create_directory"][-1]
        assert record["outcome"] == "rejected", record
        assert record["reviewer"] == "kill-switch", record

    run(scenario)


def test_a_call_budget_is_crossed_by_one_with_its_evidence(engine: Engine) -> None:
    async def scenario() -> None:
        async with engine.stdio() as session:
            for i in range(3):
                ok = await session.call_tool("everything__echo", {"message": f"call {i}"})
                assert not ok.is_error, result_summary(ok)
            refused = await session.call_tool("everything__echo", {"message": "one too many"})
        assert refused.is_error, result_summary(refused)
        text = text_of(refused)
        assert "limit:max_tool_calls" in text and "3 of 3 tool calls already made in this session" in text, text
        record = records_with(engine, "limit:max_tool_calls")[-1]
        assert record["decision"] == "deny" and record["outcome"] == "denied", record
        assert "limit `echo-budget` max_tool_calls reached" in record["reason"], record

    run(scenario)


def test_a_slow_upstream_call_is_cut_at_its_timeout(engine: Engine) -> None:
    async def scenario() -> None:
        async with engine.http() as session:
            result = await session.call_tool(
                "everything__trigger-long-running-operation", {"duration": 20, "steps": 4}
            )
            assert result.is_error, result_summary(result)
            assert "did not answer within 1s" in text_of(result), text_of(result)
            # The session goes on.
            ok = await session.call_tool("everything__echo", {"message": "after the timeout"})
            assert not ok.is_error, result_summary(ok)
        record = [r for r in engine.log() if r.get("tool") == "trigger-long-running-operation"][-1]
        assert record["outcome"] == "error", record
        assert "upstream_timeout" in (record.get("error") or ""), record

    run(scenario)


@pytest.mark.parametrize("variant", ["inside", "outside", "dotdot", "symlink"])
def test_writes_outside_the_workspace_roots_are_refused(engine: Engine, variant: str) -> None:
    ws = engine.files / "ws"
    outside = engine.files / "outside"
    outside.mkdir(exist_ok=True)
    link = ws / "escape"
    if not link.exists():
        link.symlink_to(outside, target_is_directory=True)
    path = {
        "inside": ws / f"ok-{variant}.txt",
        "outside": outside / f"{variant}.txt",
        "dotdot": Path(f"{ws}/../outside/{variant}.txt"),
        "symlink": link / f"{variant}.txt",
    }[variant]

    async def scenario() -> None:
        async with engine.stdio() as session:
            result = await session.call_tool("filesystem__write_file", {"path": str(path), "content": "x\n"})
        if variant == "inside":
            assert not result.is_error, result_summary(result)
            assert path.read_text() == "x\n"
            return
        assert result.is_error, result_summary(result)
        assert "blast-radius:outside-roots" in text_of(result), text_of(result)
        assert not (outside / f"{variant}.txt").exists()
        record = records_with(engine, "blast-radius:outside-roots")[-1]
        assert record["outcome"] == "denied" and record["agent"] == STDIO_AGENT, record

    run(scenario)


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_the_clients_announced_roots_confine_its_writes(
    engine_factory: Callable[..., Engine], tmp_path_factory: pytest.TempPathFactory, transport: str
) -> None:
    # No roots in the config for these agents: the client's roots/list decides. Until the engine
    # has them, writes are refused outright (`unknown_roots: deny`), so the test can poll.
    policy_dir = tmp_path_factory.mktemp(f"roots-policy-{transport}")
    policy = policy_dir / "limits-client-roots.yaml"
    policy.write_text((POLICIES / "limits.yaml").read_text() + "blast_radius:\n  unknown_roots: deny\n")
    eng = engine_factory(policy=policy)
    ws = eng.files / f"client-ws-{transport}"
    ws.mkdir(exist_ok=True)
    outside = eng.files / f"elsewhere-{transport}"
    outside.mkdir(exist_ok=True)

    async def roots(_context: Any) -> mcp.types.ListRootsResult:
        return mcp.types.ListRootsResult(roots=[mcp.types.Root(uri=ws.as_uri(), name="ws")])

    async def scenario() -> None:
        opener = eng.stdio if transport == "stdio" else eng.http
        async with opener(list_roots_callback=roots) as session:
            # The engine asks for the roots once the session is initialized; poll until a write
            # inside them passes (before that, writes wait for a human: no roots known yet).
            inside = ws / "inside.txt"
            deadline = anyio.current_time() + 30
            while True:
                result = await session.call_tool(
                    "filesystem__write_file", {"path": str(inside), "content": "in\n"}
                )
                if not result.is_error:
                    break
                assert "blast-radius:unknown-roots" in text_of(result), text_of(result)
                assert anyio.current_time() < deadline, "the client's roots were never used"
                await anyio.sleep(0.2)
            refused = await session.call_tool(
                "filesystem__write_file", {"path": str(outside / "out.txt"), "content": "out\n"}
            )
            assert refused.is_error and "blast-radius:outside-roots" in text_of(refused), text_of(refused)
        assert inside.read_text() == "in\n"
        assert not (outside / "out.txt").exists()

    run(scenario)
