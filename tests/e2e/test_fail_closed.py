"""Fail closed: with no engine behind it, `cordon mcp` still speaks MCP but lets nothing through."""

from __future__ import annotations

import os
import signal

import anyio
import pytest

from mcp.shared.exceptions import MCPError

from cordon_e2e import HANG_GUARD, Engine, PendingCall, mentions, result_summary, run, text_of, wait_for_approval


@pytest.fixture(scope="module")
def no_engine(engine_factory) -> Engine:
    # A complete config whose engine is never started: the socket does not exist.
    return engine_factory(http=False, start=False)


def test_no_engine_initialize_works_and_calls_are_refused(no_engine: Engine) -> None:
    assert not no_engine.socket.exists()

    async def scenario() -> None:
        async with no_engine.stdio(wait_tools=False) as session:
            assert session.initialize_result is not None
            tools = await session.list_tools()
            assert tools.tools == [], [t.name for t in tools.tools]
            for name in ("everything__echo", "filesystem__read_text_file", "anything"):
                result = await session.call_tool(name, {"message": "x", "path": "/etc/hostname"})
                assert result.is_error, result_summary(result)
                assert "Cordon is not running" in text_of(result), text_of(result)

    run(scenario)


def test_stale_socket_file_is_not_trusted(no_engine: Engine) -> None:
    """A socket file left behind by a dead engine (nobody listening) is the same as no engine."""
    import socket as socketlib

    listener = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
    listener.bind(str(no_engine.socket))
    listener.close()  # the file stays, nobody accepts
    try:

        async def scenario() -> None:
            async with no_engine.stdio(wait_tools=False) as session:
                result = await session.call_tool("everything__echo", {"message": "x"})
                assert result.is_error, result_summary(result)
                assert "Cordon is not running" in text_of(result), text_of(result)

        run(scenario)
    finally:
        no_engine.socket.unlink(missing_ok=True)


def test_engine_killed_under_a_connected_client(engine_factory) -> None:
    engine = engine_factory(servers=("everything",), http=False)

    async def scenario() -> None:
        async with engine.stdio() as session:
            ok = await session.call_tool("everything__echo", {"message": "up"})
            assert not ok.is_error, result_summary(ok)
            assert engine.proc is not None
            os.killpg(engine.proc.pid, signal.SIGKILL)
            engine.proc.wait(timeout=30)
            # The read timeout is a hang guard: a bridge that lost its engine must answer, not wait.
            try:
                down = await session.call_tool("everything__echo", {"message": "down"}, read_timeout_seconds=HANG_GUARD)
            except MCPError as err:
                raise AssertionError(
                    f"after the engine died the call got a JSON-RPC error, not the contract's isError result: {err}"
                ) from None
            assert down.is_error, f"a call with the engine dead: {result_summary(down)}"
            assert "Echo: down" not in text_of(down)

    run(scenario)


def test_engine_stopped_while_a_call_is_held(engine_factory) -> None:
    """SIGTERM with a write waiting for approval: the held call is refused, nothing is written."""
    engine = engine_factory(servers=("filesystem",), http=False)
    target = engine.files / "held-at-shutdown.txt"
    target.write_text("before\n")

    async def scenario() -> None:
        async with engine.stdio() as session, anyio.create_task_group() as tg:
            call = PendingCall(session, "filesystem__write_file", {"path": str(target), "content": "after\n"})
            tg.start_soon(call.run)
            await wait_for_approval(engine, call, mentions(target))
            assert engine.proc is not None
            engine.proc.send_signal(signal.SIGTERM)
            with anyio.fail_after(HANG_GUARD):  # hang guard: the held call must be answered
                await call.done.wait()
            if call.error is not None:
                raise AssertionError(f"held call at shutdown: {call.describe()} (contract: an isError result)")
            assert call.result.is_error, result_summary(call.result)

    run(scenario)
    assert target.read_text() == "before\n"


@pytest.mark.parametrize("args", [("approvals", "--json"), ("approve", "some-id"), ("deny", "some-id", "--reason", "x")])
def test_approval_commands_without_engine_fail(no_engine: Engine, args: tuple[str, ...]) -> None:
    """With no engine, the reviewer's commands say so (exit 1), never report an empty queue as success."""
    proc = no_engine.cli(*args, check=False)
    assert proc.returncode == 1, f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert proc.stderr.strip(), f"{args}: no message on stderr"
