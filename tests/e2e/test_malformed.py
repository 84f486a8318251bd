"""Hostile input on the agent side: garbage lines on `cordon mcp`'s stdin get JSON-RPC errors, the
bridge and the engine keep serving (the same pipe and a concurrently connected SDK client), and calls to
unknown tools are errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from cordon_e2e import Engine, PendingCall, RawBridge, cli_async, result_summary, rss_mib, run


@pytest.fixture
def bridge(shared_engine: Engine):
    raw = RawBridge(shared_engine)
    yield raw
    raw.close()


INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw-e2e", "version": "0"}},
}


def assert_error(message: dict[str, Any], code: int) -> None:
    assert message.get("jsonrpc") == "2.0", message
    assert "result" not in message, message
    assert isinstance(message.get("error"), dict), message
    assert message["error"].get("code") == code, message


def test_garbage_lines_get_json_rpc_errors_and_the_pipe_keeps_working(bridge: RawBridge) -> None:
    bridge.send(b"this is not json {")
    assert_error(bridge.receive(skip_notifications=False), -32700)  # Parse error
    bridge.send(b'{"hello": "world"}')
    assert_error(bridge.receive(skip_notifications=False), -32600)  # Invalid Request
    bridge.send(b'{"jsonrpc": "2.0", "id": 7, "method": 42}')
    answer = bridge.receive(skip_notifications=False)
    assert_error(answer, -32600)
    assert answer.get("id") in (7, None), answer

    bridge.send(json.dumps(INIT).encode())
    answer = bridge.receive()
    assert answer.get("id") == 1 and "protocolVersion" in answer.get("result", {}), answer
    bridge.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode())
    bridge.send(b'{"jsonrpc": "2.0", "id": 2, "method": "no/such/method"}')
    assert_error(bridge.receive(), -32601)  # Method not found
    bridge.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                            "params": {"name": "everything__echo", "arguments": {"message": "raw ok"}}}).encode())
    answer = bridge.receive()
    assert answer.get("id") == 3, answer
    assert answer.get("result", {}).get("content") == [{"type": "text", "text": "Echo: raw ok"}], answer


def test_a_flood_of_initialized_notifications_costs_nothing(engine_factory: Callable[..., Engine]) -> None:
    """`notifications/initialized` is sent once; each used to start a task for the session's
    lifetime (and a roots request): 100,000 took the engine from 47 to 545 MiB."""
    engine = engine_factory(servers=("everything",), http=False)
    raw = RawBridge(engine)
    try:
        init = json.loads(json.dumps(INIT))
        init["params"]["capabilities"] = {"roots": {"listChanged": True}}
        raw.send(json.dumps(init).encode())
        assert "result" in raw.receive()
        note = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
        raw.send(note)

        def pinged(n: int) -> None:
            raw.send(b'{"jsonrpc":"2.0","id":%d,"method":"ping"}' % n)
            # The engine's own requests to this client (roots/list) go unanswered here.
            while "method" in (answer := raw.receive()):
                pass
            assert answer.get("id") == n and "result" in answer, answer

        pinged(2)
        before = rss_mib(engine)
        for _ in range(20):
            raw.send(b"\n".join([note] * 1000))
        pinged(3)
        grown = rss_mib(engine) - before
        assert grown < 20, f"20,000 repeated notifications/initialized grew the engine {grown:.0f} MiB"
    finally:
        raw.close()


def test_other_client_keeps_working_while_garbage_arrives(shared_engine: Engine, bridge: RawBridge) -> None:
    async def scenario() -> None:
        async with shared_engine.stdio() as session:
            first = await session.call_tool("everything__echo", {"message": "one"})
            assert not first.is_error, result_summary(first)
            bridge.send(b"\x00\xff not json at all")
            assert "error" in bridge.receive(skip_notifications=False)
            bridge.send(b"[]")
            assert "error" in json.dumps(bridge.receive(skip_notifications=False))
            second = await session.call_tool("everything__echo", {"message": "two"})
            assert not second.is_error, result_summary(second)
            assert second.content[0].text == "Echo: two"

    run(scenario)


@pytest.mark.parametrize(
    "name",
    ["everything__no_such_tool", "nosuchserver__echo", "echo", "everything__", "__echo", "everything__echo__x"],
)
def test_unknown_tool_is_an_error(shared_engine: Engine, name: str) -> None:
    """Refused at once: an unknown tool is never forwarded, nor held for a human to approve."""

    async def scenario() -> None:
        async with shared_engine.stdio() as session:
            async with anyio.create_task_group() as tg:
                call = PendingCall(session, name, {"message": "x"})
                tg.start_soon(call.run)
                while not call.done.is_set():
                    held = [e for e in await cli_async(shared_engine.approvals) if e.get("tool") and name.endswith(str(e["tool"]))
                            and str(e.get("server", "")) in name]
                    if held:
                        await cli_async(shared_engine.deny, held[0]["id"], "e2e: unknown tool")
                        raise AssertionError(f"a call to unknown tool {name!r} was held for approval: {held}")
                    await anyio.sleep(0.1)
            if call.error is None:
                assert call.result.is_error, f"unknown tool {name!r} returned {result_summary(call.result)}"
            else:
                assert isinstance(call.error, MCPError), call.describe()
            # The session is still usable after the error.
            ok = await session.call_tool("everything__echo", {"message": "still here"})
            assert not ok.is_error, result_summary(ok)

    run(scenario)
