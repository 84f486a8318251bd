"""Streamable HTTP: bearer tokens and the Origin check (DNS rebinding), raw and with the SDK client."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from cordon_e2e import EVERYTHING, HTTP_AGENT, Engine, direct, records_mentioning, result_summary, run

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw-e2e", "version": "0"}},
}


def post(engine: Engine, body: bytes, headers: dict[str, str], method: str = "POST") -> tuple[int, str]:
    """One raw request to /mcp; reads the body only until the JSON-RPC answer (an SSE stream may stay open)."""
    engine.wait_tcp()
    conn = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=30)
    try:
        base = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        conn.request(method, "/mcp", body=body if method == "POST" else None, headers=base | headers)
        resp = conn.getresponse()
        if resp.status != 200:
            return resp.status, resp.read(65536).decode(errors="replace")
        text = ""
        while True:
            line = resp.readline(1 << 20)
            if not line:
                break
            text += line.decode(errors="replace")
            if '"jsonrpc"' in line.decode(errors="replace"):
                break
        return resp.status, text
    finally:
        conn.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def init_body() -> bytes:
    return json.dumps(INIT).encode()


def test_correct_token_without_origin_is_served(shared_engine: Engine) -> None:
    status, body = post(shared_engine, init_body(), bearer(shared_engine.token))
    assert status == 200, body
    assert "protocolVersion" in body, body


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic ZTJlOmUyZQ=="},
        "prefix",
        "suffix",
    ],
    ids=["none", "wrong", "empty", "basic", "token-prefix", "token-plus-suffix"],
)
def test_missing_or_wrong_token_is_401(shared_engine: Engine, headers: Any) -> None:
    if headers == "prefix":
        headers = bearer(shared_engine.token[:-1])
    elif headers == "suffix":
        headers = bearer(shared_engine.token + "x")
    status, body = post(shared_engine, init_body(), headers)
    assert status == 401, f"{headers}: {status} {body}"


def test_get_without_token_is_401(shared_engine: Engine) -> None:
    status, body = post(shared_engine, b"", {}, method="GET")
    assert status == 401, f"{status} {body}"


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://evil.example:443",
        "http://localhost.evil.example",
        "http://127.0.0.1.evil.example",
        "null",
    ],
)
def test_foreign_origin_is_403(shared_engine: Engine, origin: str) -> None:
    status, body = post(shared_engine, init_body(), bearer(shared_engine.token) | {"Origin": origin})
    assert status == 403, f"Origin {origin}: {status} {body}"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_local_origin_is_served(shared_engine: Engine, host: str) -> None:
    origin = f"http://{host}:{shared_engine.port}"
    status, body = post(shared_engine, init_body(), bearer(shared_engine.token) | {"Origin": origin})
    assert status == 200, f"Origin {origin}: {status} {body}"


def test_oversized_body_is_refused_and_engine_keeps_serving(shared_engine: Engine) -> None:
    big = dict(INIT)
    big["params"] = dict(INIT["params"], clientInfo={"name": "x" * (17 * 1024 * 1024), "version": "0"})
    try:
        status, body = post(shared_engine, json.dumps(big).encode(), bearer(shared_engine.token))
    except (ConnectionResetError, BrokenPipeError):
        status, body = 0, "connection closed while sending (refused)"
    refused = status == 413 or status == 0 or ('"error"' in body and "protocolVersion" not in body)
    assert refused, f"a 17 MiB message was accepted: {status} {body[:300]}"
    status, body = post(shared_engine, init_body(), bearer(shared_engine.token))
    assert status == 200, body


def test_sdk_session_over_http_matches_direct(shared_engine: Engine) -> None:
    args = {"message": "over http"}

    async def scenario() -> None:
        async with direct(EVERYTHING, ["stdio"], shared_engine.new_stderr("direct-everything")) as upstream:
            expected = await upstream.call_tool("echo", args)
        async with shared_engine.http() as session:
            got = await session.call_tool("everything__echo", args)
        assert result_summary(got) == result_summary(expected)

    run(scenario)
    records = records_mentioning(shared_engine.log(), "over http")
    assert [(r["agent"], r["outcome"]) for r in records] == [(HTTP_AGENT, "allowed")], records
