"""Streamable HTTP with the official clients (issue 22) and HTTP sessions as a boundary (issue 15).

The official Python SDK (both protocol eras: the 2025-11-25 handshake and the 2026-07-28 stateless
envelope) and the official TypeScript SDK (`@modelcontextprotocol/sdk`, pinned in package.json, run
by `ts_client.mjs`): initialize or discover, list, call, a call held for approval and approved with
`cordon approve`, and a session close that neither side complains about (`DELETE` answers 204).
Raw HTTP: an unknown or closed session is 404 (so clients re-initialize); a session answers only the
agent whose token opened it; JSON-RPC ids come back exactly as sent; calls to unknown tools leave a
record.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import secrets
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from cordon_e2e import (
    CALL_TIMEOUT,
    E2E,
    HTTP_AGENT,
    STDIO_AGENT,
    Engine,
    PendingCall,
    cli_async,
    cordon_bin,
    mentions,
    records_mentioning,
    result_summary,
    run,
    text_of,
    wait_for_approval,
)

OTHER_AGENT = "e2e-other"
OTHER_TOKEN = secrets.token_urlsafe(32)
BEFORE = "one\ntwo\n"
AFTER = "one\nTWO-APPROVED\n"
LEGACY = "2025-11-25"
MODERN = "2026-07-28"
NODE_CLIENT = E2E / "ts_client.mjs"


@pytest.fixture(scope="module")
def engine(engine_factory: Callable[..., Engine]) -> Engine:
    return engine_factory(http_agents={OTHER_AGENT: OTHER_TOKEN})


class Raw:
    """A kept-alive HTTP/1.1 connection to /mcp speaking JSON-RPC by hand (bodies read whole)."""

    def __init__(self, engine: Engine, token: str) -> None:
        engine.wait_tcp()
        self.engine = engine
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=CALL_TIMEOUT)

    def close(self) -> None:
        self.conn.close()

    def send(
        self,
        method: str,
        body: Any = None,
        *,
        session: str | None = None,
        version: str | None = LEGACY,
        raw_body: bytes | None = None,
    ) -> tuple[int, dict[str, str], str]:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        if session is not None:
            headers["Mcp-Session-Id"] = session
        if version is not None:
            headers["Mcp-Protocol-Version"] = version
        data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
        if version == MODERN and data is not None:
            # 2026-07-28 requests name their method (and tool) in headers too.
            message = json.loads(data)
            headers["Mcp-Method"] = message["method"]
            if message["method"] == "tools/call":
                headers["Mcp-Name"] = message["params"]["name"]
        self.conn.request(method, "/mcp", body=data, headers=headers)
        resp = self.conn.getresponse()
        text = resp.read().decode(errors="replace")
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text

    def initialize(self) -> str:
        init = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "raw-e2e", "version": "0"}},
        }
        status, headers, text = self.send("POST", init, version=None)
        assert status == 200 and "mcp-session-id" in headers, f"initialize: {status} {headers} {text}"
        session = headers["mcp-session-id"]
        status, _, text = self.send(
            "POST", {"jsonrpc": "2.0", "method": "notifications/initialized"}, session=session
        )
        assert status == 202, f"notifications/initialized: {status} {text}"
        return session


def echo_body(message: str, request_id: Any = 7) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "everything__echo", "arguments": {"message": message}},
    }


def modern_body(message: str, request_id: Any = 7) -> dict[str, Any]:
    body = echo_body(message, request_id)
    body["params"]["_meta"] = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "raw-e2e", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return body


def messages_of(text: str) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a JSON or SSE body."""
    text = text.strip()
    if text.startswith("{"):
        return [json.loads(text)]
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:") and line[5:].strip()]


# ---- the official Python SDK ---------------------------------------------------------------------


class Complaints(logging.Handler):
    """Every warning or error the SDK logs (a clean close logs none)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


def engine_complaints(engine: Engine, since: int) -> list[str]:
    text = engine.stderr_path.read_text(errors="replace")[since:]
    return [line for line in text.splitlines() if " WARN " in line or " ERROR " in line]


def test_python_sdk_session_from_initialize_to_close(engine: Engine, tmp_path: Path) -> None:
    target = engine.files / "py-held.txt"
    target.write_text(BEFORE)
    complaints = Complaints()
    logging.getLogger().addHandler(complaints)
    since = len(engine.stderr_path.read_text(errors="replace"))

    async def scenario() -> None:
        async with engine.http() as session, anyio.create_task_group() as tg:
            assert session.initialize_result is not None
            assert session.initialize_result.protocol_version == LEGACY
            names = {t.name for t in (await session.list_tools()).tools}
            assert {"everything__echo", "filesystem__write_file"} <= names, names
            echoed = await session.call_tool("everything__echo", {"message": "py over http"})
            assert text_of(echoed) == "Echo: py over http", result_summary(echoed)
            call = PendingCall(session, "filesystem__write_file", {"path": str(target), "content": AFTER})
            tg.start_soon(call.run)
            pending = await wait_for_approval(engine, call, mentions(target))
            assert pending["agent"] == HTTP_AGENT, pending
            await cli_async(engine.approve, pending["id"])
            result = await call.outcome()
            assert not result.is_error, result_summary(result)

    try:
        run(scenario)
    finally:
        logging.getLogger().removeHandler(complaints)
    assert target.read_text() == AFTER
    assert complaints.records == [], complaints.records
    assert engine_complaints(engine, since) == []
    outcomes = [(r["agent"], r["outcome"]) for r in records_mentioning(engine.log(), target)]
    assert outcomes == [(HTTP_AGENT, "approved")], outcomes


def test_python_sdk_modern_protocol(engine: Engine) -> None:
    """2026-07-28: no handshake (`server/discover`), every request self-describing, answers as JSON."""
    target = engine.files / "py-modern-held.txt"
    target.write_text(BEFORE)

    async def scenario() -> None:
        async with engine.http(wait_tools=False, initialize=False) as session, anyio.create_task_group() as tg:
            await session.discover()
            assert session.discover_result is not None
            echoed = await session.call_tool("everything__echo", {"message": "py modern"})
            assert text_of(echoed) == "Echo: py modern", result_summary(echoed)
            call = PendingCall(session, "filesystem__write_file", {"path": str(target), "content": AFTER})
            tg.start_soon(call.run)
            pending = await wait_for_approval(engine, call, mentions(target))
            await cli_async(engine.approve, pending["id"])
            result = await call.outcome()
            assert not result.is_error, result_summary(result)

    run(scenario)
    assert target.read_text() == AFTER


# ---- the official TypeScript SDK -------------------------------------------------------------------


def test_typescript_sdk_session_from_initialize_to_close(engine: Engine) -> None:
    target = engine.files / "ts-held.txt"
    target.write_text(BEFORE)
    engine.wait_tcp()
    since = len(engine.stderr_path.read_text(errors="replace"))
    proc = subprocess.Popen(
        ["node", str(NODE_CLIENT), engine.url or "", engine.token, str(target), AFTER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=E2E,
    )

    class Exited:
        def is_set(self) -> bool:
            return proc.poll() is not None

    class NodeCall:
        name = "filesystem__write_file"
        arguments = {"path": str(target)}
        done = Exited()

        def describe(self) -> str:
            return f"ended: node exited with {proc.poll()}"

    async def approve_when_held() -> None:
        pending = await wait_for_approval(engine, NodeCall(), mentions(target))  # type: ignore[arg-type]
        assert pending["agent"] == HTTP_AGENT, pending
        await cli_async(engine.approve, pending["id"])

    try:
        run(approve_when_held)
        out, err = proc.communicate(timeout=CALL_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, f"ts client exited {proc.returncode}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    assert err.strip() == "", f"the TypeScript SDK complained:\n{err}"
    report = json.loads(out.strip().splitlines()[-1])
    # The SDK reports the abort of its own standing GET stream by `close()` as an error when the
    # stream's end (Cordon ends it as it answers the DELETE) is still in the SDK's read pipeline;
    # that, and only that, is tolerated (see test_delete_ends_the_standing_stream).
    assert all("AbortError" in e for e in report["abortedOnClose"]), report
    assert report["protocolVersion"] == LEGACY, report
    assert {"everything__echo", "filesystem__write_file"} <= set(report["tools"]), report
    assert report["echo"] == "Echo: ts over http", report
    assert report["held"]["isError"] is False, report
    assert report["sessionId"] and report["terminated"] is True, report
    assert target.read_text() == AFTER
    assert engine_complaints(engine, since) == []
    # The session is gone: its id is now 404, so a client knows to start again.
    raw = Raw(engine, engine.token)
    try:
        status, _, _ = raw.send("POST", echo_body("after close"), session=report["sessionId"])
    finally:
        raw.close()
    assert status == 404


# ---- sessions over raw HTTP ------------------------------------------------------------------------


def test_delete_answers_204_then_the_session_is_404(engine: Engine) -> None:
    raw = Raw(engine, engine.token)
    try:
        session = raw.initialize()
        status, _, text = raw.send("POST", echo_body("before delete"), session=session)
        assert status == 200 and "Echo: before delete" in text, f"{status} {text}"
        status, _, text = raw.send("DELETE", session=session)
        assert status == 204, f"DELETE: {status} {text}"
        for method, body in (("POST", echo_body("after delete")), ("GET", None), ("DELETE", None)):
            status, _, text = raw.send(method, body, session=session)
            assert status == 404, f"{method} on a closed session: {status} {text}"
    finally:
        raw.close()


def test_delete_ends_the_standing_stream(engine: Engine) -> None:
    """DELETE ends the session's standing GET stream cleanly (an ended SSE body, not a cut connection)."""
    raw = Raw(engine, engine.token)
    events: list[str] = []
    try:
        session = raw.initialize()
        listener = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=CALL_TIMEOUT)
        listener.request(
            "GET",
            "/mcp",
            headers={
                "Authorization": f"Bearer {engine.token}",
                "Accept": "text/event-stream",
                "Mcp-Session-Id": session,
                "Mcp-Protocol-Version": LEGACY,
            },
        )
        stream = listener.getresponse()
        assert stream.status == 200, stream.status

        async def scenario() -> None:
            async def listen() -> None:
                await anyio.to_thread.run_sync(stream.read)
                events.append("stream ended")

            async with anyio.create_task_group() as tg:
                tg.start_soon(listen)
                await anyio.sleep(0.2)
                status, _, text = await anyio.to_thread.run_sync(lambda: raw.send("DELETE", session=session))
                events.append(f"DELETE {status}")

        run(scenario)
        listener.close()
    finally:
        raw.close()
    assert sorted(events) == ["DELETE 204", "stream ended"], events


@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
def test_unknown_session_is_404(engine: Engine, method: str) -> None:
    raw = Raw(engine, engine.token)
    try:
        body = echo_body("nobody's session") if method == "POST" else None
        status, _, text = raw.send(method, body, session="sess-that-never-was-" + secrets.token_hex(8))
    finally:
        raw.close()
    assert status == 404, f"{method}: {status} {text}"


def test_a_session_answers_only_the_agent_that_opened_it(engine: Engine) -> None:
    owner, intruder = Raw(engine, engine.token), Raw(engine, OTHER_TOKEN)
    marker = "intruder-" + secrets.token_hex(6)
    try:
        session = owner.initialize()
        status, _, text = intruder.send("POST", echo_body(marker), session=session)
        assert status == 404, f"another agent's token was served on the session: {status} {text}"
        status, _, text = intruder.send("DELETE", session=session)
        assert status == 404, f"another agent's token closed the session: {status} {text}"
        status, _, text = intruder.send("GET", session=session)
        assert status == 404, f"another agent's token listened on the session: {status} {text}"
        # The owner's session is untouched, and its own calls are recorded under its own name.
        status, _, text = owner.send("POST", echo_body(marker + "-owner"), session=session)
        assert status == 200 and f"Echo: {marker}-owner" in text, f"{status} {text}"
        # The other agent is served on a session of its own.
        mine = intruder.initialize()
        status, _, text = intruder.send("POST", echo_body(marker + "-own"), session=mine)
        assert status == 200 and f"Echo: {marker}-own" in text, f"{status} {text}"
    finally:
        owner.close()
        intruder.close()
    records = records_mentioning(engine.log(), marker)
    seen = sorted((r["agent"], r["args"]["message"]) for r in records)
    assert seen == sorted([(HTTP_AGENT, marker + "-owner"), (OTHER_AGENT, marker + "-own")]), records


# Beyond what rmcp carries: fractions, -0, integers past 64 bits, an exponent past any float
# (1E400), a string whose escape comes back otherwise ("\u0041" is "A") or not at all (a lone
# surrogate).
IDS = [
    "1.5",
    "12345678901234567890123",
    "-9223372036854775809",
    "1e3",
    '"a string id"',
    "-4",
    "0",
    "-0",
    "1.0",
    "1E400",
    '"\\u0041"',
    '"\\ud800"',
]


@pytest.mark.parametrize("raw_id", IDS)
@pytest.mark.parametrize("era", [LEGACY, MODERN])
def test_json_rpc_ids_come_back_as_sent_over_http(engine: Engine, raw_id: str, era: str) -> None:
    raw = Raw(engine, engine.token)
    try:
        if era == LEGACY:
            session: str | None = raw.initialize()
            template = echo_body("id check", "@ID@")
        else:
            session = None
            template = modern_body("id check", "@ID@")
        body = json.dumps(template).replace('"@ID@"', raw_id).encode()
        status, _, text = raw.send("POST", session=session, raw_body=body, version=era)
    finally:
        raw.close()
    assert status == 200, f"{status} {text}"
    assert f'"id":{raw_id}' in text.replace('"id": ', '"id":'), f"id {raw_id} not answered as sent: {text}"
    answer = [m for m in messages_of(text) if "result" in m or "error" in m]
    assert len(answer) == 1 and "Echo: id check" in json.dumps(answer[0].get("result")), text


def test_json_rpc_ids_come_back_as_sent_over_stdio(engine: Engine) -> None:
    lines = [
        '{"jsonrpc":"2.0","id":1.5,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
        '"capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}',
        '{"jsonrpc":"2.0","method":"notifications/initialized"}',
        '{"jsonrpc":"2.0","id":12345678901234567890123,"method":"tools/call",'
        '"params":{"name":"everything__echo","arguments":{"message":"big id"}}}',
        '{"jsonrpc":"2.0","id":"s-1","method":"ping"}',
        '{"jsonrpc":"2.0","id":-4,"method":"tools/list"}',
        '{"jsonrpc":"2.0","id":-0,"method":"tools/call",'
        '"params":{"name":"everything__echo","arguments":{"message":"minus zero"}}}',
        '{"jsonrpc":"2.0","id":1E400,"method":"tools/call",'
        '"params":{"name":"everything__echo","arguments":{"message":"huge exponent"}}}',
        '{"jsonrpc":"2.0","id":"\\u0041","method":"ping"}',
        '{"jsonrpc":"2.0","id":"\\ud800","method":"tools/list"}',
    ]
    proc = subprocess.Popen(
        [str(cordon_bin()), "mcp", "--agent", STDIO_AGENT, "--config", str(engine.config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=engine.env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    replies: list[str] = []
    try:
        for line in lines:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            if '"id"' in line:
                replies.append(proc.stdout.readline())
    finally:
        proc.kill()
        proc.communicate()
    joined = "\n".join(replies)
    for raw_id in ("1.5", "12345678901234567890123", '"s-1"', "-4", "-0", "1E400", '"\\u0041"', '"\\ud800"'):
        assert any(r.startswith("{") and f'"id":{raw_id},' in r for r in replies), f"id {raw_id}: {joined}"
    for echoed in ("big id", "minus zero", "huge exponent"):
        assert f"Echo: {echoed}" in joined, joined


def test_cordon_mcp_reads_and_writes_node_s_socket_pairs_itself(engine: Engine) -> None:
    # Node (libuv) starts its children with a stream socket pair per stdio slot, not pipes: that
    # is how Claude Code and Gemini CLI start `cordon mcp`. The bridge drives those on its one
    # runtime thread, like pipes; before, it handed every read and write to blocking threads
    # (two thread switches per message each way, about 0.06-0.1 ms per call measured with the
    # TypeScript SDK).
    agent_in, bridge_in = socket.socketpair()
    bridge_out, agent_out = socket.socketpair()
    proc = subprocess.Popen(
        [str(cordon_bin()), "mcp", "--agent", STDIO_AGENT, "--config", str(engine.config)],
        stdin=bridge_in,
        stdout=bridge_out,
        stderr=subprocess.DEVNULL,
        env=engine.env,
    )
    bridge_in.close()
    bridge_out.close()
    agent_out.settimeout(CALL_TIMEOUT)
    reader = agent_out.makefile("rb")
    try:
        agent_in.sendall(
            b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
            b'"capabilities":{},"clientInfo":{"name":"node-like","version":"0"}}}\n'
            b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
            b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"everything__echo",'
            b'"arguments":{"message":"over a socket pair"}}}\n'
        )
        replies = [json.loads(reader.readline()) for _ in range(2)]
        assert replies[0]["id"] == 1 and "result" in replies[0], replies
        assert replies[1]["id"] == 2 and "Echo: over a socket pair" in json.dumps(replies[1]), replies
        threads = len(os.listdir(f"/proc/{proc.pid}/task"))
        assert threads == 1, f"cordon mcp runs {threads} threads: its stdio went through blocking threads"
        # The agent closing its side ends the bridge.
        agent_in.shutdown(socket.SHUT_WR)
        assert proc.wait(timeout=CALL_TIMEOUT) == 0
    finally:
        proc.kill()
        proc.wait()
        reader.close()
        agent_in.close()
        agent_out.close()


@pytest.mark.parametrize(
    "name, server, tool",
    [("everything__no_such_tool", "everything", "no_such_tool"), ("nosuchserver__echo", "nosuchserver", "echo")],
)
def test_calls_to_unknown_tools_are_recorded(engine: Engine, name: str, server: str, tool: str) -> None:
    marker = "probe-" + secrets.token_hex(6)

    async def scenario() -> None:
        async with engine.http() as session:
            try:
                result = await session.call_tool(name, {"message": marker})
            except Exception:  # an MCP error is the expected answer
                return
            assert result.is_error, result_summary(result)

    run(scenario)
    records = records_mentioning(engine.log(), marker)
    assert [(r["agent"], r["server"], r["tool"], r["outcome"]) for r in records] == [
        (HTTP_AGENT, server, tool, "error")
    ], records
