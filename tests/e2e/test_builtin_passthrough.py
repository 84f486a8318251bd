"""MCP pass-through gaps of issue 4, against the real reference server (server-everything):

- prompts/get is judged by the policy (Cordon classifies it as the read topic
  job.mcp-bridge.read.prompt) and recorded; completion/complete too (job.mcp-bridge.read.completion)
  and it reaches the upstream that owns the prompt; unknown prompts and resources are refused and
  recorded; progress notifications of a long-running upstream call reach the agent;
- a remote upstream over Streamable HTTP (server-everything `streamableHttp` on loopback);
- `cordon mcp` with an invalid config file still speaks MCP and refuses every call, naming the error.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

from cordon_e2e import (
    CALL_TIMEOUT,
    EVERYTHING,
    READY_DEADLINE,
    Engine,
    cordon_bin,
    free_port,
    isolated_env,
    result_summary,
    run,
    text_of,
    wait_for_tools,
)

POLICY = """\
version: passthrough-1
default_decision: deny
rules:
  - id: allow-reads
    match:
      topics: ["job.mcp-bridge.read.*"]
    decision: allow
    reason: "reads pass"
  - id: allow-reference-tools
    match:
      topics: ["job.mcp-bridge.tool.>"]
    decision: allow
    reason: "the reference server's tools are harmless"
"""


@pytest.fixture(scope="module")
def remote_everything(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """server-everything serving Streamable HTTP on a free loopback port."""
    port = free_port()
    log = tmp_path_factory.mktemp("remote-everything") / "everything-http.stderr"
    with open(log, "wb") as errlog:
        proc = subprocess.Popen(
            [str(EVERYTHING), "streamableHttp"],
            env={**os.environ, "PORT": str(port)},
            stdin=subprocess.DEVNULL,
            stdout=errlog,
            stderr=errlog,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + READY_DEADLINE
            while True:
                assert proc.poll() is None, f"server-everything streamableHttp exited: {log.read_text()}"
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    assert time.monotonic() < deadline, f"server-everything never listened: {log.read_text()}"
                    time.sleep(0.05)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def engine(engine_factory: Any, tmp_path_factory: pytest.TempPathFactory, remote_everything: str) -> Engine:
    policy = tmp_path_factory.mktemp("passthrough-policy") / "passthrough.yaml"
    policy.write_text(POLICY)
    return engine_factory(servers=("everything",), http=False, policy=policy, remote={"remote": remote_everything})


def refused_over_stdio(engine: Engine, request: Callable[[Any], Awaitable[Any]], why: str) -> None:
    """One request through `cordon mcp` that must fail with an MCP error saying `why`."""

    async def scenario() -> None:
        async with engine.stdio() as session:
            with pytest.raises(MCPError) as refused:
                await request(session)
            assert why in str(refused.value), refused.value

    run(scenario)


def test_prompts_get_is_judged_and_recorded_and_completion_reaches_the_upstream(engine: Engine) -> None:
    async def scenario() -> None:
        async with engine.stdio() as session:
            prompts = [p.name for p in (await session.list_prompts()).prompts]
            assert "everything__simple-prompt" in prompts, prompts
            got = await session.get_prompt("everything__simple-prompt")
            assert got.messages, got
            done = await session.complete(
                types.PromptReference(type="ref/prompt", name="everything__completable-prompt"),
                {"name": "department", "value": "Eng"},
            )
            assert done.completion.values == ["Engineering"], done
            # An unknown prompt is an error, not forwarded somewhere else.
            with pytest.raises(Exception):
                await session.get_prompt("nosuchserver__simple-prompt")

    run(scenario)
    records = [r for r in engine.log() if r.get("tool") == "prompts/get" and r["server"] == "everything"]
    assert len(records) == 1, records
    record = records[0]
    assert record["action"] == "job.mcp-bridge.read.prompt", record
    assert record["outcome"] == "allowed", record
    assert record["rule_id"] == "allow-reads", record
    # The completion is judged and recorded too: the value typed went to the upstream.
    completions = [r for r in engine.log() if r.get("tool") == "completion/complete"]
    assert [(r["server"], r["action"], r["outcome"], r["target"]) for r in completions] == [
        ("everything", "job.mcp-bridge.read.completion", "allowed", "everything/completable-prompt")
    ], completions
    assert completions[0]["args"]["argument"] == {"name": "department", "value": "Eng"}, completions[0]


@pytest.mark.parametrize(
    "name, server, prompt",
    [("nosuchserver__probe-@M@", "nosuchserver", "probe-@M@"), ("probe-@M@", "", "probe-@M@")],
)
def test_prompts_get_of_an_unknown_prompt_is_refused_and_recorded(
    engine: Engine, name: str, server: str, prompt: str
) -> None:
    marker = "m" + secrets.token_hex(6)
    name, prompt = name.replace("@M@", marker), prompt.replace("@M@", marker)

    refused_over_stdio(engine, lambda session: session.get_prompt(name), "unknown prompt")
    records = [r for r in engine.log() if marker in json.dumps(r.get("args"))]
    assert [(r["server"], r["tool"], r["args"]["name"], r["outcome"]) for r in records] == [
        (server, "prompts/get", prompt, "error")
    ], records


def test_resources_read_is_judged_routed_to_its_server_and_recorded(engine: Engine) -> None:
    got: dict[str, Any] = {}

    async def scenario() -> None:
        async with engine.stdio() as session:
            listed = (await session.list_resources()).resources
            assert listed, "server-everything lists resources"
            got["uri"] = str(listed[0].uri)
            got["read"] = await session.read_resource(got["uri"])

    run(scenario)
    assert got["read"].contents and str(got["read"].contents[0].uri) == got["uri"], got
    records = [r for r in engine.log() if r.get("tool") == "resources/read" and r["args"].get("uri") == got["uri"]]
    assert [(r["server"] in ("everything", "remote"), r["outcome"]) for r in records] == [(True, "allowed")], records


def test_resources_read_of_an_unknown_resource_is_refused_and_recorded(engine: Engine) -> None:
    # Two upstreams serve resources here (the local and the remote server-everything), so a URI
    # neither listed has no server to go to: refused before any upstream sees it, and recorded.
    uri = "probe://m" + secrets.token_hex(6)

    refused_over_stdio(engine, lambda session: session.read_resource(uri), "unknown resource")
    records = [r for r in engine.log() if uri in json.dumps(r.get("args"))]
    assert [(r["server"], r["tool"], r["outcome"]) for r in records] == [("", "resources/read", "error")], records


def test_progress_of_an_upstream_call_reaches_the_agent(engine: Engine) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async def scenario() -> None:
        async with engine.stdio() as session:
            result = await session.call_tool(
                "everything__trigger-long-running-operation",
                {"duration": 0.3, "steps": 3},
                read_timeout_seconds=CALL_TIMEOUT,
                progress_callback=on_progress,
            )
            assert not result.is_error, result_summary(result)

    run(scenario)
    assert sorted(seen) == [1, 2, 3], seen


def test_a_remote_streamable_http_upstream_is_served_and_governed(engine: Engine) -> None:
    async def scenario() -> None:
        async with engine.stdio() as session:
            await wait_for_tools(session, {"remote__echo"})
            result = await session.call_tool("remote__echo", {"message": "over http"})
            assert not result.is_error, result_summary(result)
            assert "over http" in text_of(result), result_summary(result)

    run(scenario)
    records = [r for r in engine.log() if r.get("server") == "remote"]
    assert [r["outcome"] for r in records] == ["allowed"], records


def test_cordon_mcp_with_an_invalid_config_refuses_every_call(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("socket: /tmp/x.sock\nlisten_addr: 1\n")
    env = isolated_env(tmp_path)

    async def scenario() -> None:
        params = StdioServerParameters(
            command=str(cordon_bin()),
            args=["mcp", "--agent", "e2e-stdio", "--config", str(config)],
            env={k: v for k, v in env.items() if k.startswith(("XDG_", "CORDON_", "PATH"))},
        )
        with open(tmp_path / "mcp.stderr", "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=CALL_TIMEOUT) as session:
                    await session.initialize()
                    assert (await session.list_tools()).tools == []
                    result = await session.call_tool("cordon__file_read", {"path": "x"})
                    assert result.is_error, result_summary(result)
                    text = text_of(result)
                    assert "config" in text and "broken.yaml:2:1" in text, text

    run(scenario)
