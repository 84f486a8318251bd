"""The transports hold up (issue 15, item 4): idle HTTP sessions expire, a flood of idle TCP
connections does not cut the human off, and `cordon mcp` outlives an engine restart.

- `http.session_idle_timeout`: a session with nothing in flight and no request for that long is
  closed; its id is then 404 and a new session works (the resources are gone: the engine says so).
- 1,100 idle TCP connections (no token needed) against an engine started with a soft open-file
  limit of 1,024: a call held for approval is approved with `cordon approve` while they are open,
  the accept loop logs at most a line or two about it, and a new HTTP client is served again (while
  the flood's sockets are still open on the client side).
- A process with no token keeps every HTTP connection the engine allows (32 here) open and opens
  new ones without end: an agent is served during the flood, call after call, not once the header
  timeout (60 s) closes the idle ones, and its call held for approval meanwhile gets its answer. A
  newcomer evicts the connection that has waited longest for a request, never one busy with a
  request, and a kept-alive agent only after every connection that was never served. When every
  connection is busy (held calls), a newcomer reads a 503 saying why before it is closed.
- The engine is SIGKILLed and restarted under a Python SDK client connected through `cordon mcp`:
  the next call works, in the same client session.
- One token opening sessions without end (each costs the engine memory): beyond the per-agent limit
  (128) the least recently used are closed (404 afterwards, the log says why once), the newest
  all work, and the engine's memory stops growing.
- One `cordon mcp` connection sending requests without waiting for answers: at most 32 are in
  flight, every one beyond is answered at once with an error, no request goes unanswered, and the
  connection serves normally afterwards. Over HTTP one agent has at most 64 POSTs in flight:
  beyond, 429 before the body is read.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import resource
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from cordon_e2e import (
    POLICIES,
    POLL_DEADLINE,
    POLL_INTERVAL,
    Engine,
    PendingCall,
    STDIO_AGENT,
    RawBridge,
    cli_async,
    describe,
    make_repo,
    mentions,
    result_summary,
    rss_mib,
    run,
    text_of,
    wait_for_approval,
    yaml_str,
)

INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}
FLOOD = 1100
REPO = POLICIES.parents[2]


def post(engine: Engine, body: dict, session: str | None = None) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=30)
    try:
        headers = {
            "Authorization": f"Bearer {engine.token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        if session:
            headers |= {"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-11-25"}
        conn.request("POST", "/mcp", body=json.dumps(body).encode(), headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode(errors="replace")
    finally:
        conn.close()


def test_idle_http_sessions_expire(engine_factory: Callable[..., Engine]) -> None:
    engine = engine_factory(servers=(), extra_config="http:\n  session_idle_timeout: 1s\n")
    engine.wait_tcp()
    status, headers, text = post(engine, INIT)
    assert status == 200 and "mcp-session-id" in headers, f"{status} {text}"
    session = headers["mcp-session-id"]
    status, _, text = post(engine, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, session)
    assert status == 200, f"a fresh session was refused: {status} {text}"
    deadline = time.monotonic() + POLL_DEADLINE
    while True:
        log = engine.stderr_path.read_text(errors="replace")
        if "HTTP session expired" in log and session in log:
            break
        assert time.monotonic() < deadline, f"session {session} never expired\n{log[-3000:]}"
        time.sleep(POLL_INTERVAL * 4)
    status, _, text = post(engine, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, session)
    assert status == 404, f"an expired session was served: {status} {text}"
    status, headers, text = post(engine, INIT)
    assert status == 200 and headers.get("mcp-session-id") not in (None, session), f"{status} {headers} {text}"

SESSION_LIMIT = 128


def test_one_token_cannot_pile_up_sessions(engine_factory: Callable[..., Engine]) -> None:
    engine = engine_factory(servers=())
    engine.wait_tcp()

    def open_session() -> str:
        status, headers, text = post(engine, INIT)
        assert status == 200 and "mcp-session-id" in headers, f"initialize: {status} {text}"
        return headers["mcp-session-id"]

    def listed(session: str) -> int:
        return post(engine, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, session)[0]

    opened = [open_session() for _ in range(SESSION_LIMIT)]
    full = rss_mib(engine)
    # Six times as many again: a bounded engine holds the same number of sessions.
    opened += [open_session() for _ in range(6 * SESSION_LIMIT)]
    grown = rss_mib(engine) - full
    # Unbounded, those 768 sessions cost ~105 MiB (140 KiB each, measured on a release build;
    # more on a debug one). Bounded, the engine still grows a few MiB (thread heaps, 4-16 MiB
    # depending on the machine's load), which does not scale with the number of sessions.
    assert grown < 32, f"the engine grew {grown:.1f} MiB for sessions beyond the limit"
    for session in opened[: 2 * SESSION_LIMIT : 37]:
        assert listed(session) == 404, f"an evicted session {session} was served"
    for session in opened[-SESSION_LIMIT:][::17] + [opened[-1]]:
        assert listed(session) == 200, f"one of the newest sessions {session} was refused"
    # Said once, loud; the other evictions of the flood go to the debug level, not the log.
    log = engine.stderr_path.read_text(errors="replace")
    assert log.count("HTTP session closed: agent") == 1, log[-2000:]


IN_FLIGHT_LIMIT = 32


def test_requests_in_flight_on_one_connection_are_bounded_and_all_answered(
    engine_factory: Callable[..., Engine],
) -> None:
    # limits.yaml: the long-running tool times out upstream after 1 s, so the flood ends by itself.
    engine = engine_factory(servers=("everything",), http=False, policy=POLICIES / "limits.yaml")
    raw = RawBridge(engine)
    try:
        handshake(raw)
        flood = IN_FLIGHT_LIMIT + 8
        slow = {"name": "everything__trigger-long-running-operation", "arguments": {"duration": 20, "steps": 2}}
        # One write: the engine reads them all while the first are still running.
        raw.send(b"\n".join(
            json.dumps({"jsonrpc": "2.0", "id": 100 + n, "method": "tools/call", "params": slow}).encode()
            for n in range(flood)
        ))
        answers: dict[int, dict] = {}
        while len(answers) < flood:
            message = raw.receive()
            assert message["id"] not in answers, f"answered twice: {message}"
            answers[message["id"]] = message
        busy = sorted(i for i, m in answers.items() if m.get("error", {}).get("code") == -32000)
        assert len(busy) == flood - IN_FLIGHT_LIMIT, json.dumps(answers, indent=1)[:3000]
        assert all("too many requests in flight" in answers[i]["error"]["message"] for i in busy)
        # The connection serves normally once those are answered.
        raw.send(json.dumps({"jsonrpc": "2.0", "id": 999, "method": "tools/call",
                             "params": {"name": "everything__echo", "arguments": {"message": "after"}}}).encode())
        after = raw.receive()
        assert after["id"] == 999 and "after" in json.dumps(after.get("result")), after
    finally:
        raw.close()


BUILTIN_RUNNING_LIMIT = 32


def running(marker: str) -> int:
    """`sleep` processes given `marker` (not whatever starts them, which names it too)."""
    count = 0
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, ValueError):
            continue
        count += os.path.basename(argv[0]) == b"sleep" and marker.encode() in argv
    return count


def sleep_call(request_id: int, marker: str) -> bytes:
    """A `run_command` the default policy lets through unreviewed (`sleep` is a read)."""
    return json.dumps({
        "jsonrpc": "2.0", "id": request_id, "method": "tools/call",
        "params": {"name": "cordon__run_command", "arguments": {"command": f"sleep {marker}", "timeout_ms": 600_000}},
    }).encode()


def cancel(request_id: int) -> bytes:
    return json.dumps({
        "jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": request_id, "reason": "changed my mind"},
    }).encode()


def wait_running(marker: str, at_least: int) -> int:
    deadline = time.monotonic() + POLL_DEADLINE
    while (n := running(marker)) < at_least and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
    return n


def test_cancelled_commands_cannot_pile_up_in_the_engine(engine_factory: Callable[..., Engine]) -> None:
    # An attack chain on the default policy: `sleep` is a read, so it runs unreviewed, for as long
    # as the agent asks (up to 10 min). A cancelled call leaves the connection's in-flight bound,
    # so one connection could start commands, cancel them, and start more: before, each ran on to
    # its own time limit in the engine's blocking pool; 600 filled it, and every agent's built-in
    # calls waited behind them. And the in-flight bound is per connection: more connections ran
    # more at once.
    engine = engine_factory(servers=(), http=False, start=False, policy=REPO / "policies" / "default.yaml")
    ws = engine.files / "ws"
    ws.mkdir()
    (ws / "hello.txt").write_text("hello\n")
    start_with_workspace(engine, ws)
    marker = f"599.{secrets.randbelow(10**6):06d}"  # a duration only these commands name
    bridges = [RawBridge(engine), RawBridge(engine)]
    try:
        for raw in bridges:
            handshake(raw)
        first, second = bridges
        # 1. Cancelled commands are stopped: three rounds of start, then cancel.
        for round_ in range(3):
            ids = [1000 * (round_ + 1) + n for n in range(8)]
            first.send(b"\n".join(sleep_call(i, marker) for i in ids))
            assert wait_running(marker, 8) >= 8, f"round {round_}: the commands never started"
            first.send(b"\n".join(cancel(i) for i in ids))
            deadline = time.monotonic() + POLL_DEADLINE
            while running(marker) and time.monotonic() < deadline:
                time.sleep(POLL_INTERVAL)
            assert running(marker) == 0, f"round {round_}: {running(marker)} cancelled commands still run"
        # 2. One agent's running built-in calls are bounded across its connections: 32 on the
        # first connection, then 8 more on the second are refused for the limit, saying why.
        first.send(b"\n".join(sleep_call(5000 + n, marker) for n in range(BUILTIN_RUNNING_LIMIT)))
        assert wait_running(marker, BUILTIN_RUNNING_LIMIT) >= BUILTIN_RUNNING_LIMIT
        second.send(b"\n".join(sleep_call(6000 + n, marker) for n in range(8)))
        for _ in range(8):
            refused = second.receive()
            assert refused["result"]["isError"], refused
            assert "cordon:builtin-limit" in text_of_json(refused), refused
        assert running(marker) == BUILTIN_RUNNING_LIMIT
        # The first connection going away stops its commands; the agent is served again.
        first.close()
        deadline = time.monotonic() + POLL_DEADLINE
        while running(marker) and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
        assert running(marker) == 0, f"{running(marker)} commands outlived their connection"
        second.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "cordon__file_read", "arguments": {"path": str(ws / "hello.txt")}}}).encode())
        answer = second.receive()
        assert "hello" in json.dumps(answer.get("result")), answer
    finally:
        for raw in bridges:
            raw.close()


def text_of_json(message: dict) -> str:
    return " ".join(c.get("text", "") for c in message.get("result", {}).get("content", []))


POSTS_LIMIT = 64


def test_posts_in_flight_per_agent_over_http_are_bounded(engine_factory: Callable[..., Engine]) -> None:
    engine = engine_factory(servers=("everything",), policy=POLICIES / "limits.yaml")
    engine.wait_tcp()
    status, headers, text = post(engine, INIT)
    assert status == 200, f"{status} {text}"
    session = headers["mcp-session-id"]
    post(engine, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    slow = {"name": "everything__trigger-long-running-operation", "arguments": {"duration": 20, "steps": 2}}
    flood = POSTS_LIMIT + 6
    statuses: list[int] = []

    def one(n: int) -> None:
        statuses.append(post(engine, {"jsonrpc": "2.0", "id": 100 + n, "method": "tools/call", "params": slow}, session)[0])

    threads = [threading.Thread(target=one, args=(n,)) for n in range(flood)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(statuses) == flood, statuses
    # Each slow call times out upstream after 1 s (limits.yaml): all run at once, or are refused.
    assert statuses.count(429) >= flood - POSTS_LIMIT and statuses.count(200) >= POSTS_LIMIT - 8, sorted(statuses)
    assert set(statuses) <= {200, 429}, sorted(statuses)
    status, _, text = post(engine, {"jsonrpc": "2.0", "id": 999, "method": "tools/list"}, session)
    assert status == 200, f"the agent was not served again once its requests ended: {status} {text}"


def assert_succeeded(status: int, reply: str, request_id: int) -> None:
    """An HTTP answer (SSE) carries exactly the result of `request_id`, not an error."""
    answers = [json.loads(line[5:]) for line in reply.splitlines() if line.startswith("data:") and line[5:].strip()]
    assert status == 200 and [a.get("id") for a in answers] == [request_id], f"{status} {reply}"
    assert "error" not in answers[0] and not answers[0]["result"].get("isError"), f"{status} {reply}"


class RawHeldCall(PendingCall):
    """A tools/call POSTed on an HTTP connection of its own, in a thread: its result is the
    answer's status and text."""

    def __init__(self, engine: Engine, body: dict, session: str) -> None:
        super().__init__(None, body["params"]["name"], body["params"]["arguments"])
        self.engine = engine
        self.body = body
        self.http_session = session

    async def call(self) -> tuple[int, str]:
        status, _, text = await anyio.to_thread.run_sync(post, self.engine, self.body, self.http_session)
        return status, text


def raise_own_file_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"this test needs {need} open files; the hard limit here is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def test_idle_connection_flood_does_not_cut_the_human_off(engine_factory: Callable[..., Engine]) -> None:
    raise_own_file_limit(FLOOD + 512)
    engine = engine_factory(nofile=1024, extra_config="http:\n  header_timeout: 3s\n")
    engine.wait_tcp()
    target = engine.files / "flood-held.txt"
    target.write_text("before\n")
    flood: list[socket.socket] = []

    async def scenario() -> None:
        async with engine.stdio() as session, anyio.create_task_group() as tg:
            call = PendingCall(session, "filesystem__write_file", {"path": str(target), "content": "after\n"})
            tg.start_soon(call.run)
            await wait_for_approval(engine, call, mentions(target))
            for _ in range(FLOOD):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                try:
                    s.connect(("127.0.0.1", engine.port))
                except BlockingIOError:
                    pass
                flood.append(s)
            await anyio.sleep(0.5)
            # The human is not cut off: the control socket answers, and the approval goes through.
            pending = await wait_for_approval(engine, call, mentions(target))
            await cli_async(engine.approve, pending["id"])
            result = await call.outcome()
            assert not result.is_error, result_summary(result)
            assert engine.proc is not None and engine.proc.poll() is None, "the engine died under the flood"
            # HTTP serves again (newcomers evict the idle connections, or the header timeout does).
            deadline = time.monotonic() + POLL_DEADLINE
            while True:
                try:
                    with anyio.fail_after(10):
                        async with engine.http() as agent:
                            echoed = await agent.call_tool("everything__echo", {"message": "after the flood"})
                    break
                except Exception as err:  # noqa: BLE001 - refused while the idle connections hold the slots
                    if time.monotonic() > deadline:
                        raise AssertionError(f"HTTP never served again after the flood: {err!r}") from err
                    await anyio.sleep(0.5)
            assert text_of(echoed) == "Echo: after the flood", result_summary(echoed)

    try:
        run(scenario)
    finally:
        for s in flood:
            s.close()
    assert target.read_text() == "after\n"
    log = engine.stderr_path.read_text(errors="replace")
    accept_lines = [line for line in log.splitlines() if "accept" in line.lower() or "connection limit" in line]
    assert len(accept_lines) <= 6, "the accept loop is noisy under a flood:\n" + "\n".join(accept_lines[:20])


def test_idle_connections_at_the_http_limit_give_way_to_agents(engine_factory: Callable[..., Engine]) -> None:
    cap = 32
    engine = engine_factory(extra_config=f"http:\n  max_connections: {cap}\n  header_timeout: 60s\n")
    engine.wait_tcp()
    stop = threading.Event()
    opened = [0]

    def flood() -> None:
        held: list[socket.socket] = []
        try:
            while not stop.is_set():
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", engine.port))
                held.append(s)
                opened[0] += 1
                if len(held) > 4 * cap:
                    held.pop(0).close()
                time.sleep(0.002)
        finally:
            for s in held:
                s.close()

    # The cap is full of idle connections before the agent comes, and new ones keep coming.
    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    deadline = time.monotonic() + POLL_DEADLINE
    while opened[0] < 2 * cap:
        assert time.monotonic() < deadline, "the flood never got going"
        time.sleep(POLL_INTERVAL)

    target = engine.files / "held-over-http.txt"
    target.write_text("before\n")
    status, headers, text = post(engine, INIT)
    assert status == 200, f"{status} {text}"
    session = headers["mcp-session-id"]
    post(engine, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    write = {"name": "filesystem__write_file", "arguments": {"path": str(target), "content": "after\n"}}
    held = RawHeldCall(engine, {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": write}, session)

    async def scenario() -> None:
        # Served during the flood, not once the header timeout (60 s) has closed the idle ones,
        # and the agent's kept-alive connection outlives the flood between its calls. The call
        # held for approval is the first request of its own connection (never served, as the
        # flood's): busy, it is never evicted, and its answer arrives.
        with anyio.fail_after(60):
            async with engine.http() as agent, anyio.create_task_group() as tg:
                tg.start_soon(held.run)
                pending = await wait_for_approval(engine, held, mentions(target))
                for i in range(20):
                    echoed = await agent.call_tool("everything__echo", {"message": f"during the flood {i}"})
                    assert text_of(echoed) == f"Echo: during the flood {i}", result_summary(echoed)
                    await anyio.sleep(0.05)
                # Held for longer than an evicted connection may take to finish (1 s).
                await anyio.sleep(1.5)
                await cli_async(engine.approve, pending["id"])
                status, reply = await held.outcome()
                assert_succeeded(status, reply, 7)

    try:
        run(scenario)
    finally:
        stop.set()
        thread.join()
    assert opened[0] > 4 * cap, f"the flood opened only {opened[0]} connections"
    assert engine.proc is not None and engine.proc.poll() is None, "the engine died under the flood"
    assert target.read_text() == "after\n"
    log = engine.stderr_path.read_text(errors="replace")
    noise = [line for line in log.splitlines() if "connection limit" in line or "fit again" in line]
    assert len(noise) <= 2, "the flood is logged more than once:\n" + "\n".join(noise[:20])


def test_a_connection_busy_with_a_held_call_is_never_evicted(engine_factory: Callable[..., Engine]) -> None:
    engine = engine_factory(extra_config="http:\n  max_connections: 3\n  header_timeout: 60s\n")
    engine.wait_tcp()
    target = engine.files / "held-busy.txt"
    target.write_text("before\n")
    status, headers, text = post(engine, INIT)
    assert status == 200, f"{status} {text}"
    session = headers["mcp-session-id"]
    post(engine, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    write = {"name": "filesystem__write_file", "arguments": {"path": str(target), "content": "after\n"}}
    held = RawHeldCall(engine, {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": write}, session)
    kept: list[http.client.HTTPConnection] = []

    def served_then_idle(n: int) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=30)
        conn.request(
            "POST", "/mcp", body=json.dumps({"jsonrpc": "2.0", "id": 100 + n, "method": "tools/list"}).encode(),
            headers={
                "Authorization": f"Bearer {engine.token}", "Accept": "application/json, text/event-stream",
                "Content-Type": "application/json", "Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-11-25",
            },
        )
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, resp.status
        return conn

    async def scenario() -> None:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(held.run)
                pending = await wait_for_approval(engine, held, mentions(target))
                # Every other place is taken by kept-alive agent connections, now waiting: the
                # newcomer must evict one of them, the oldest waiting, never the older busy one.
                kept.extend([served_then_idle(1), served_then_idle(2)])
                newcomer = socket.create_connection(("127.0.0.1", engine.port))
                try:
                    await anyio.sleep(1.5)  # longer than an evicted connection may take to finish
                    await cli_async(engine.approve, pending["id"])
                    status, reply = await held.outcome()
                finally:
                    newcomer.close()
                assert_succeeded(status, reply, 7)

    try:
        run(scenario)
    finally:
        for conn in kept:
            conn.close()
    assert target.read_text() == "after\n"


def test_a_newcomer_finding_every_http_connection_busy_is_told_why(engine_factory: Callable[..., Engine]) -> None:
    engine = engine_factory(extra_config="http:\n  max_connections: 2\n  header_timeout: 60s\n")
    engine.wait_tcp()
    status, headers, text = post(engine, INIT)
    assert status == 200, f"{status} {text}"
    session = headers["mcp-session-id"]
    post(engine, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    targets = [engine.files / f"busy-{n}.txt" for n in (1, 2)]
    held = []
    for n, target in enumerate(targets, start=1):
        target.write_text("before\n")
        write = {"name": "filesystem__write_file", "arguments": {"path": str(target), "content": "after\n"}}
        held.append(RawHeldCall(engine, {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": write}, session))

    async def scenario() -> None:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                pending = []
                for call, target in zip(held, targets):
                    tg.start_soon(call.run)
                    pending.append(await wait_for_approval(engine, call, mentions(target)))
                # Both places are busy with held calls: the newcomer is refused, saying why.
                with socket.create_connection(("127.0.0.1", engine.port), timeout=10) as s:
                    answer = b""
                    while chunk := s.recv(4096):
                        answer += chunk
                text = answer.decode(errors="replace")
                assert text.startswith("HTTP/1.1 503") and "connections are busy" in text, text
                for entry in pending:
                    await cli_async(engine.approve, entry["id"])
                for n, call in enumerate(held, start=1):
                    status, reply = await call.outcome()
                    assert_succeeded(status, reply, n)

    run(scenario)
    assert all(target.read_text() == "after\n" for target in targets)


def test_cordon_mcp_reconnects_to_a_restarted_engine(engine_factory: Callable[..., Engine]) -> None:
    engine = engine_factory(servers=("everything",), http=False)

    async def scenario() -> None:
        async with engine.stdio() as session:
            first = await session.call_tool("everything__echo", {"message": "before the restart"})
            assert text_of(first) == "Echo: before the restart", result_summary(first)
            engine.kill()
            down = await session.call_tool("everything__echo", {"message": "while down"})
            assert down.is_error and "Cordon is not running" in text_of(down), result_summary(down)
            await anyio.to_thread.run_sync(engine.start)
            again = await session.call_tool("everything__echo", {"message": "after the restart"})
            assert text_of(again) == "Echo: after the restart", result_summary(again)
            tools = {t.name for t in (await session.list_tools()).tools}
            assert "everything__echo" in tools, tools

    run(scenario)
    records = [r for r in engine.log() if "the restart" in json.dumps(r.get("args"))]
    assert [r["outcome"] for r in records] == ["allowed", "allowed"], records


def test_a_config_whose_tokens_other_users_can_read_is_refused(engine_factory: Callable[..., Engine]) -> None:
    """The config holds the HTTP agents' tokens, and the engine's port is on loopback, which every
    local user reaches: a config they can read (a plain `umask 022` write) would let them call the
    user's tools as that agent. `cordon serve` refuses it, saying which file and the fix, before
    it touches the log; once the file is the user's alone the same config serves its token."""
    engine = engine_factory(servers=(), start=False)
    engine.config.chmod(0o644)
    serve = engine.cli("serve", check=False)
    assert serve.returncode != 0, describe(serve)
    assert str(engine.config) in serve.stderr and "every user can read it" in serve.stderr, describe(serve)
    assert "chmod 600" in serve.stderr, describe(serve)
    assert not engine.evidence.exists(), "the log was touched"
    engine.write_config()
    engine.start()
    engine.wait_tcp()
    status, _, text = post(engine, INIT)
    assert status == 200, f"initialize: {status} {text}"


def test_a_removed_control_socket_is_bound_again(engine_factory: Callable[..., Engine]) -> None:
    """Any process of the user can remove the control socket file: the engine would go on
    listening where nobody can connect (every bridge refusing its agent's calls, `cordon
    approvals` unable to reach a held call) until a restart. It binds the socket again, private
    as before, and a new agent session is served."""
    engine = engine_factory(servers=("everything",), http=False)
    engine.socket.unlink()

    def answers() -> bool:
        proc = engine.cli("approvals", check=False)
        return proc.returncode == 0

    deadline = time.monotonic() + POLL_DEADLINE
    while not answers():
        assert time.monotonic() < deadline, "the removed control socket was not bound again"
        time.sleep(POLL_INTERVAL)
    assert engine.socket.stat().st_mode & 0o077 == 0, oct(engine.socket.stat().st_mode)

    async def scenario() -> None:
        async with engine.stdio() as session:
            echoed = await session.call_tool("everything__echo", {"message": "socket back"})
            assert text_of(echoed) == "Echo: socket back", result_summary(echoed)

    run(scenario)


# Ids rmcp cannot carry: they travel to the engine under a token of Cordon's own.
SWAPPED_IDS = ["1.5", "-0", "1E400", '"\\u0041"', "12345678901234567890123"]


def with_id(message: bytes, member: bytes, raw_id: str) -> bytes:
    """`message` (json.dumps output naming id 0 in `member`) naming `raw_id` instead, as written."""
    assert member + b": 0" in message
    return message.replace(member + b": 0", member + b": " + raw_id.encode(), 1)


def http_post(
    engine: Engine, body: bytes, session: str | None, version: str = "2025-11-25"
) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=POLL_DEADLINE + 30)
    headers = {
        "Authorization": f"Bearer {engine.token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Mcp-Protocol-Version": version,
    }
    if session:
        headers["Mcp-Session-Id"] = session
    if version != "2025-11-25":
        # 2026-07-28 names the method in a header too (routing without parsing the body).
        headers["Mcp-Method"] = json.loads(body)["method"]
    try:
        conn.request("POST", "/mcp", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode(errors="replace")
    finally:
        conn.close()


def start_with_workspace(engine: Engine, root: Path, extra: str = "") -> None:
    """Starts `engine` (made with `start=False`) with Cordon's built-in tools confined to `root`,
    `extra` config lines before them."""
    engine.extra_config = f"{extra}workspace:\n  roots: [{yaml_str(str(root))}]\n"
    engine.write_config()
    engine.start()


def handshake(raw: RawBridge) -> None:
    """The MCP handshake on a raw bridge: initialize, then initialized."""
    raw.send(json.dumps(INIT).encode())
    assert "result" in raw.receive()
    raw.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')


def wait_none_running(marker: str) -> int:
    deadline = time.monotonic() + POLL_DEADLINE
    while running(marker) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
    return running(marker)


PAD = "x" * (9 * 1024 * 1024)


def padded_sleep(request_id: int, marker: str) -> bytes:
    """A command the default policy runs unreviewed, carrying 9 MiB the engine must hold."""
    message = json.loads(sleep_call(request_id, marker))
    message["params"]["_meta"] = {"pad": PAD}
    return json.dumps(message).encode()


def padded_init() -> bytes:
    """An HTTP `initialize` carrying 9 MiB."""
    return json.dumps({**INIT, "params": {**INIT["params"], "_meta": {"pad": PAD}}}).encode()


@contextlib.contextmanager
def one_request_held(
    engine_factory: Callable[..., Engine], budget_mib: int
) -> Iterator[tuple[Engine, str, RawBridge, RawBridge]]:
    """An engine with a request budget of `budget_mib` MiB and two raw bridges of one agent, the
    first holding 9 MiB (its `sleep` runs). Once the body is done, the first request ends and
    its room must come back: the second bridge's 9 MiB request then runs."""
    engine = engine_factory(servers=(), start=False, policy=REPO / "policies" / "default.yaml")
    ws = engine.files / "ws"
    ws.mkdir()
    start_with_workspace(engine, ws, extra=f"requests_in_flight_mib: {budget_mib}\n")
    marker = f"599.{secrets.randbelow(10**6):06d}"
    first, second = RawBridge(engine), RawBridge(engine)
    try:
        for raw in (first, second):
            handshake(raw)
        first.send(padded_sleep(1, marker))
        assert wait_running(marker, 1) == 1, "the first padded command never started"
        yield engine, marker, first, second
        first.send(cancel(1))
        assert wait_none_running(marker) == 0
        second.send(padded_sleep(90, marker))
        assert wait_running(marker, 1) == 1, "the room of an ended request never came back"
        second.send(cancel(90))
        assert wait_none_running(marker) == 0
    finally:
        first.close()
        second.close()


def test_the_bytes_of_requests_held_are_bounded_across_connections_and_transports(
    engine_factory: Callable[..., Engine],
) -> None:
    # Each connection bounds its own requests in flight, but connections are many: 512 control
    # connections of 32 requests of 16 MiB each is 256 GiB, so any local process could make the
    # engine run out of memory and be killed. One budget bounds them all (17 MiB here, the least
    # a config may set): a request that does not fit is refused at once, saying why; small ones
    # still pass; the room comes back when a request ends.
    with one_request_held(engine_factory, 17) as (engine, marker, _, second):
        # Another connection's 9 MiB does not fit beside it: refused at once, naming the limit.
        second.send(padded_sleep(2, marker))
        refused = second.receive()
        assert refused.get("id") == 2 and "requests_in_flight_mib" in json.dumps(refused.get("error")), refused
        assert running(marker) == 1
        # A small request still fits.
        second.send(b'{"jsonrpc":"2.0","id":3,"method":"ping"}')
        assert "result" in second.receive()
        # Over HTTP alike (the budget is the engine's, not a transport's).
        status, _, text = http_post(engine, padded_init(), None)
        assert status == 503 and "requests_in_flight_mib" in text, f"{status} {text[:300]}"


def test_one_agent_holds_at_most_half_of_the_request_budget(engine_factory: Callable[..., Engine]) -> None:
    # One agent could take the whole budget (16 calls held for approval of 16 MiB each are 256
    # MiB, the default), and every other agent's calls were refused until they were answered.
    # An agent now holds at most half (17 MiB of 34 here): its own next request is refused,
    # naming its share, while another agent's request of the same size is served.
    with one_request_held(engine_factory, 34) as (engine, marker, _, second):
        # The same agent on another connection: beyond its share, refused at once.
        second.send(padded_sleep(2, marker))
        refused = second.receive()
        why = json.dumps(refused.get("error"))
        assert refused.get("id") == 2 and f"agent {STDIO_AGENT}'s" in why and "17 MiB" in why, refused
        assert running(marker) == 1
        # Another agent (over HTTP, its token) still has room for as much.
        status, _, text = http_post(engine, padded_init(), None)
        assert status == 200, f"{status} {text[:300]}"


def test_a_cancelled_git_commit_is_stopped_and_leaves_the_repository_usable(
    engine_factory: Callable[..., Engine],
) -> None:
    # git ran on after its agent cancelled, and a time limit ended it with SIGKILL: a git killed
    # while staging leaves `.git/index.lock`, and every later git call in the repository fails
    # on it. The user's repository stages `*.bin` through a slow clean filter (as git-lfs does);
    # the agent cancels its commit while git holds the lock.
    engine = engine_factory(servers=(), http=False, start=False, policy=REPO / "policies" / "default.yaml")
    repo = engine.files / "repo"
    make_repo(repo)
    started = engine.files / "filter-started"
    subprocess.run(["git", "-C", str(repo), "config", "filter.slow.clean", f"touch '{started}'; sleep 120; cat"],
                   check=True, timeout=30)
    (repo / ".gitattributes").write_text("*.bin filter=slow\n")
    (repo / "data.bin").write_text("data\n")
    start_with_workspace(engine, repo)
    commit = {"name": "cordon__git_commit", "arguments": {"message": "add data", "paths": ["data.bin", ".gitattributes"]}}
    raw = RawBridge(engine)
    try:
        handshake(raw)
        raw.send(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": commit}).encode())
        deadline = time.monotonic() + POLL_DEADLINE
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
        assert started.exists(), "git never ran the clean filter"
        assert (repo / ".git" / "index.lock").exists(), "git was not holding its index lock"
        raw.send(cancel(7))
        deadline = time.monotonic() + POLL_DEADLINE
        while (repo / ".git" / "index.lock").exists() and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
        assert not (repo / ".git" / "index.lock").exists(), "the cancelled git left .git/index.lock behind"
        # The repository works: the same commit, once the filter is quick, goes through.
        subprocess.run(["git", "-C", str(repo), "config", "filter.slow.clean", "cat"], check=True, timeout=30)
        raw.send(json.dumps({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": commit}).encode())
        answer = raw.receive()
        while answer.get("id") != 8:
            answer = raw.receive()
        assert not answer["result"].get("isError"), answer
        assert "committed" in text_of_json(answer), answer
    finally:
        raw.close()
    records = [r for r in engine.log() if r.get("tool") == "git_commit" and r.get("phase") != "intent"]
    assert len(records) == 2, records
    assert "cancelled" in (records[0].get("error") or ""), records[0]


def test_a_request_is_cancelled_by_the_id_the_agent_gave_it(engine_factory: Callable[..., Engine]) -> None:
    # The agent cancels a request by its own id; the engine knows one it could not carry only by
    # its token. Untranslated, the cancellation named no request and the command ran on to its
    # time limit (up to 10 min), over stdio and over an HTTP session alike.
    engine = engine_factory(servers=(), start=False, policy=REPO / "policies" / "default.yaml")
    ws = engine.files / "ws"
    ws.mkdir()
    start_with_workspace(engine, ws)
    marker = f"599.{secrets.randbelow(10**6):06d}"
    bridge = RawBridge(engine)
    try:
        handshake(bridge)
        for raw_id in SWAPPED_IDS:
            bridge.send(with_id(sleep_call(0, marker), b'"id"', raw_id))
        assert wait_running(marker, len(SWAPPED_IDS)) == len(SWAPPED_IDS), "the commands never started"
        for raw_id in SWAPPED_IDS:
            bridge.send(with_id(cancel(0), b'"requestId"', raw_id))
        assert wait_none_running(marker) == 0, f"stdio: {running(marker)} cancelled commands still run"
        # Cancelling what no longer runs is a notification like any: nothing comes back (before,
        # a cancellation naming an id rmcp cannot parse drew an "Invalid request" error).
        for raw_id in SWAPPED_IDS:
            bridge.send(with_id(cancel(0), b'"requestId"', raw_id))
        bridge.send(b'{"jsonrpc":"2.0","id":99,"method":"ping"}')
        answer = bridge.receive()
        assert answer.get("id") == 99 and "result" in answer, f"a stale cancellation was answered: {answer}"
    finally:
        bridge.close()

    status, headers, text = http_post(engine, json.dumps(INIT).encode(), None)
    assert status == 200 and "mcp-session-id" in headers, f"{status} {text}"
    session = headers["mcp-session-id"]
    status, _, text = http_post(engine, b'{"jsonrpc":"2.0","method":"notifications/initialized"}', session)
    assert status == 202, f"{status} {text}"
    calls = [
        threading.Thread(target=http_post, args=(engine, with_id(sleep_call(0, marker), b'"id"', raw_id), session), daemon=True)
        for raw_id in SWAPPED_IDS
    ]
    for call in calls:
        call.start()
    assert wait_running(marker, len(SWAPPED_IDS)) == len(SWAPPED_IDS), "the HTTP commands never started"
    for raw_id in SWAPPED_IDS:
        status, _, text = http_post(engine, with_id(cancel(0), b'"requestId"', raw_id), session)
        assert status == 202, f"{status} {text}"
    assert wait_none_running(marker) == 0, f"HTTP: {running(marker)} cancelled commands still run"
    # Again, now that nothing runs, and without a session (2026-07-28, stateless): accepted and
    # ignored, never 415.
    for raw_id in SWAPPED_IDS:
        stale = with_id(cancel(0), b'"requestId"', raw_id)
        status, _, text = http_post(engine, stale, session)
        assert status == 202, f"session, {raw_id}: {status} {text}"
        status, _, text = http_post(engine, stale, None, version="2026-07-28")
        assert status == 202, f"stateless, {raw_id}: {status} {text}"
