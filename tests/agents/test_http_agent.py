"""A cloud agent (Devin) over Streamable HTTP with its own bearer token, driven by a plain HTTP
client (urllib): the documented connection works, every call is judged and recorded as that
agent, and a missing or wrong token is refused."""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from agents_e2e import User

PROTOCOL = "2025-11-25"
MODERN = "2026-07-28"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, url: str, token: str | None, version: str = PROTOCOL) -> None:
        self.url, self.token, self.session, self.next_id, self.version = url, token, None, 1, version

    def post(self, message: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": self.version}
        if self.version == MODERN and "method" in message:
            # 2026-07-28: no session; each request names its method (and tool) in headers and its
            # version and client in `_meta`.
            headers["Mcp-Method"] = message["method"]
            if message["method"] == "tools/call":
                headers["Mcp-Name"] = message["params"]["name"]
            message = dict(message, params=dict(message.get("params") or {}, _meta={
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientInfo": {"name": "devin-like", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {},
            }))
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.session:
            headers["Mcp-Session-Id"] = self.session
        request = urllib.request.Request(self.url, data=json.dumps(message).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                body = response.read().decode()
                status = response.status
                reply_headers = {k.lower(): v for k, v in response.headers.items()}
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read().decode()
        if "text/event-stream" in reply_headers.get("content-type", ""):
            data = [line[5:].strip() for line in body.splitlines() if line.startswith("data:")]
            messages = [json.loads(d) for d in data if d]
            body = next((m for m in messages if "id" in m), messages[-1] if messages else None)
        elif body:
            body = json.loads(body)
        return status, reply_headers, body

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.next_id += 1
        status, headers, body = self.post(message)
        assert status == 200, f"{method}: HTTP {status}: {body}"
        if method == "initialize":
            self.session = headers.get("mcp-session-id")
            self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert "result" in body, f"{method}: {body}"
        return body["result"]


@pytest.fixture(scope="module")
def devin() -> Iterator[tuple[User, str, str]]:
    token = secrets.token_urlsafe(32)
    port = free_port()
    user = User("devin", extra_config=f"listen: 127.0.0.1:{port}\nagents:\n  devin: {{token: {json.dumps(token)}}}\n")
    try:
        user.start()
        url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"no HTTP listener\n{user.context()}"
                time.sleep(0.1)
        yield user, url, token
    finally:
        user.cleanup()


def text(result: dict[str, Any]) -> str:
    return "".join(c.get("text", "") for c in result.get("content", []))


def test_devin_connects_with_its_token_and_is_governed(devin: tuple[User, str, str]) -> None:
    user, url, token = devin
    client = Client(url, token)
    init = client.request("initialize", {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "devin", "version": "1"}})
    assert init["protocolVersion"] == PROTOCOL, init
    tools = {t["name"] for t in client.request("tools/list", {})["tools"]}
    assert {"cordon__file_read", "cordon__git_push"} <= tools, tools
    read = client.request("tools/call", {"name": "cordon__file_read", "arguments": {"path": "notes.txt"}})
    assert "PELICAN-42" in text(read) and not read.get("isError"), read
    assert "PELICAN-42" in json.dumps(read.get("structuredContent")), "structuredContent carries the text too"
    force = client.request("tools/call", {"name": "cordon__git_push", "arguments": {"remote": "origin", "branch": "main", "force": True}})
    assert force.get("isError") and "deny-force-push" in text(force), force
    records = user.outcomes()
    assert [r["agent"] for r in records] == ["devin", "devin"], records
    assert len({r["session_id"] for r in records}) == 1, records


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_a_missing_or_wrong_token_is_refused(devin: tuple[User, str, str], token: str | None) -> None:
    _, url, _ = devin
    status, _, body = Client(url, token).post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}})
    assert status == 401, (status, body)


def test_devin_on_the_2026_protocol_with_a_write_held_and_approved(devin: tuple[User, str, str]) -> None:
    """The same connection in the stateless 2026-07-28 protocol (no handshake), and the seed's
    write: held until the human approves it, then applied, recorded as agent `devin`."""
    user, url, token = devin
    client = Client(url, token, MODERN)
    discovered = client.request("server/discover", {})
    assert MODERN in discovered["supportedVersions"], discovered
    before = len(user.outcomes())
    answer: dict[str, Any] = {}

    def write() -> None:
        answer.update(client.request("tools/call", {"name": "cordon__file_write", "arguments": {"path": "devin.txt", "content": "from devin\n"}}))

    writer = threading.Thread(target=write)
    writer.start()
    deadline = time.monotonic() + 60
    pending: list[dict[str, Any]] = []
    while not pending:
        assert time.monotonic() < deadline and writer.is_alive(), f"the write was not held: {answer}\n{user.context()}"
        pending = [p for p in user.approvals() if "devin.txt" in json.dumps(p)]
        time.sleep(0.2)
    assert pending[0]["agent"] == "devin", pending
    user.approve(pending[0]["id"])
    writer.join(timeout=60)
    assert not answer.get("isError"), answer
    assert (user.ws / "devin.txt").read_text() == "from devin\n"
    records = user.outcomes()[before:]
    assert [(r["agent"], r["outcome"]) for r in records] == [("devin", "approved")], records
