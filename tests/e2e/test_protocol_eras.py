"""Both MCP protocol eras on the agents' stdio path (`cordon mcp` → engine), with the official
Python SDK (issue 16): 2026-07-28 (no initialize handshake: `server/discover`, then requests that
name their version in `_meta`) and 2025-11-25 (the handshake). Each era: list, an allowed call, a
call held and approved with `cordon approve`, a refusal with Cordon's reason, evidence naming the
agent; in 2026-07-28 also an engine restart mid-session (no handshake to replay: the next request
is served by the new engine) and the refusing stand-in when no engine runs at all.
(Streamable HTTP serves both eras too: test_http_interop.py.)

Toward upstream servers Cordon negotiates: `server/discover` first, the 2025-11-25 handshake for a
server that does not know it; a 2026-07-28 upstream's tool changes reach Cordon on the
subscription it opens.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_types import CallToolResult, ElicitResult, InputRequiredResult

from cordon_e2e import (
    E2E,
    POLICIES,
    PYTHON,
    STDIO_AGENT,
    Engine,
    ServerSpec,
    PendingCall,
    cli_async,
    mentions,
    records_mentioning,
    result_summary,
    run,
    text_of,
    wait_for_approval,
    wait_for_tools,
)

ERA_SERVER = E2E / "bin" / "era_server.py"
MODERN = "2026-07-28"
LEGACY = "2025-11-25"
SECRET = "ERA_TOKEN=must-never-leak"
BEFORE = "one\ntwo\n"
AFTER = "one\nTWO-APPROVED\n"


@pytest.fixture(scope="module")
def engine(engine_factory: Callable[..., Engine]) -> Engine:
    return engine_factory(http=False)


def workflow(engine: Engine, era: str) -> None:
    """Discover or initialize, then the seed's workflow in miniature."""
    target = engine.files / f"held-{era}.txt"
    target.write_text(BEFORE)
    dotenv = engine.files / f"era-{era}" / ".env"
    dotenv.parent.mkdir(exist_ok=True)
    dotenv.write_text(SECRET + "\n")

    async def scenario() -> None:
        async with engine.stdio(initialize=False, wait_tools=False) as session, anyio.create_task_group() as tg:
            if era == MODERN:
                discovered = await session.discover()
                assert {MODERN, LEGACY} <= set(discovered.supported_versions), discovered
                assert session.initialize_result is None
            else:
                initialized = await session.initialize()
                assert initialized.protocol_version == LEGACY, initialized
            assert session.protocol_version == era, session.protocol_version
            await wait_for_tools(session, engine.expected_tools())
            echoed = await session.call_tool("everything__echo", {"message": f"era {era}"})
            assert text_of(echoed) == f"Echo: era {era}", result_summary(echoed)
            refused = await session.call_tool("filesystem__read_text_file", {"path": str(dotenv)})
            assert refused.is_error and "Cordon denied this call" in text_of(refused), result_summary(refused)
            assert SECRET not in text_of(refused)
            call = PendingCall(session, "filesystem__write_file", {"path": str(target), "content": AFTER})
            tg.start_soon(call.run)
            pending = await wait_for_approval(engine, call, mentions(target))
            assert pending["agent"] == STDIO_AGENT, pending
            await cli_async(engine.approve, pending["id"])
            result = await call.outcome()
            assert not result.is_error, result_summary(result)

    run(scenario)
    assert target.read_text() == AFTER
    records = engine.log()
    held = records_mentioning(records, target)
    assert [(r["agent"], r["outcome"]) for r in held] == [(STDIO_AGENT, "approved")], held
    denied = records_mentioning(records, dotenv)
    assert [(r["agent"], r["outcome"]) for r in denied] == [(STDIO_AGENT, "denied")], denied


@pytest.mark.parametrize("era", [MODERN, LEGACY])
def test_the_stdio_bridge_serves_both_protocol_eras(engine: Engine, era: str) -> None:
    workflow(engine, era)


def test_a_2026_session_survives_an_engine_restart_without_a_handshake(engine: Engine) -> None:
    async def scenario() -> None:
        async with engine.stdio(initialize=False, wait_tools=False) as session:
            await session.discover()
            await wait_for_tools(session, engine.expected_tools())
            before = await session.call_tool("everything__echo", {"message": "before"})
            assert text_of(before) == "Echo: before", result_summary(before)
            await anyio.to_thread.run_sync(engine.stop)
            down = await session.call_tool("everything__echo", {"message": "down"})
            assert down.is_error and "not running" in text_of(down), result_summary(down)
            await anyio.to_thread.run_sync(engine.start)
            after = await session.call_tool("everything__echo", {"message": "after"})
            assert text_of(after) == "Echo: after", result_summary(after)

    run(scenario)


def test_with_no_engine_a_2026_agent_discovers_a_server_that_refuses_everything(
    engine_factory: Callable[..., Engine], tmp_path: Path
) -> None:
    idle = engine_factory(http=False, start=False)

    async def scenario() -> None:
        async with idle.stdio(initialize=False, wait_tools=False) as session:
            discovered = await session.discover()
            assert MODERN in discovered.supported_versions, discovered
            assert "not running" in (discovered.instructions or ""), discovered
            assert (await session.list_tools()).tools == []
            refused = await session.call_tool("everything__echo", {"message": "x"})
            assert refused.is_error and "not running" in text_of(refused), result_summary(refused)

    run(scenario)


# ---- toward upstream servers: Cordon negotiates --------------------------------------------------


@pytest.fixture(scope="module")
def mixed(engine_factory: Callable[..., Engine]) -> Engine:
    """`everything` (the TypeScript SDK 1.32: 2025-11-25 only) beside `era` (the Python SDK 2.3:
    both eras)."""
    return engine_factory(
        servers=("everything",),
        extra_servers={"era": ServerSpec(PYTHON, [str(ERA_SERVER)])},
        policy=POLICIES / "eras.yaml",
    )


@pytest.mark.parametrize("agent_era", [MODERN, LEGACY])
def test_cordon_speaks_each_upstream_its_own_protocol(mixed: Engine, agent_era: str) -> None:
    async def scenario() -> None:
        async with mixed.stdio(initialize=False, wait_tools=False) as session:
            if agent_era == MODERN:
                await session.discover()
            else:
                await session.initialize()
            await wait_for_tools(session, {"everything__echo", "era__era"})
            spoken = await session.call_tool("era__era", {})
            assert text_of(spoken) == MODERN, result_summary(spoken)
            echoed = await session.call_tool("everything__echo", {"message": "legacy upstream"})
            assert text_of(echoed) == "Echo: legacy upstream", result_summary(echoed)

    run(scenario)
    log = mixed.stderr_path.read_text(errors="replace")
    assert "upstream connected server=era protocol=2026-07-28" in log, log[-3000:]
    assert "upstream connected server=everything protocol=2025-11-25" in log, log[-3000:]


def test_a_2026_upstreams_new_tool_is_seen_without_listing_again(mixed: Engine) -> None:
    """In 2026-07-28 list changes arrive only on a subscription: Cordon opens one, so a changed
    tool list is re-read (and checked against the pins) as in 2025."""

    async def scenario() -> None:
        async with mixed.stdio() as session:
            grown = await session.call_tool("era__grow", {"name": "fresh_tool"})
            assert not grown.is_error, result_summary(grown)
            await wait_for_tools(session, {"era__fresh_tool"})
            fresh = await session.call_tool("era__fresh_tool", {})
            assert text_of(fresh) == "fresh_tool is here", result_summary(fresh)

    run(scenario)


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_a_multi_round_trip_call_reaches_the_upstream_with_its_answers(mixed: Engine, transport: str) -> None:
    """2026-07-28's multi-round-trip flow through the gate: the upstream's `InputRequiredResult`
    reaches the agent as sent, and the agent's retry reaches the upstream with its
    `inputResponses` and `requestState` intact (each round governed and recorded like any call).
    Rebuilding the retry from the tool's name and arguments alone would ask the same question
    forever."""
    question = f"ship it over {transport}?"

    async def scenario() -> tuple[Any, Any]:
        connect = mixed.stdio if transport == "stdio" else mixed.http
        async with connect(initialize=False, wait_tools=False) as session:
            await session.discover()
            await wait_for_tools(session, {"era__confirm"})
            first = await session.call_tool("era__confirm", {"question": question}, allow_input_required=True)
            assert isinstance(first, InputRequiredResult), first
            answer = ElicitResult(action="accept", content={"ok": True})
            second = await session.call_tool(
                "era__confirm",
                {"question": question},
                input_responses={"answer": answer},
                request_state=first.request_state,
                allow_input_required=True,
            )
            return first, second

    first, second = run(scenario)
    assert first.request_state, first  # sealed by the upstream's SDK: opaque to everyone else
    assert first.input_requests is not None and set(first.input_requests) == {"answer"}, first
    assert first.input_requests["answer"].params.message == question, first
    assert isinstance(second, CallToolResult), second
    assert text_of(second) == f"confirmed=True state=asked:{question}", result_summary(second)
    rounds = [r for r in mixed.log(intents=True) if r["tool"] == "confirm" and question in json.dumps(r.get("args"))]
    assert [r.get("phase") for r in rounds] == ["intent", "outcome", "intent", "outcome"], rounds
    assert all(r["rule_id"] == "allow-era-server" for r in rounds), rounds
