"""Cordon over stdio vs over kept-alive Streamable HTTP, side by side in one run (issue 22).

Run by `scripts/bench-http` (which builds the release binary and installs what this needs); it is a
benchmark, not a test: it prints figures and checks the evidence, it asserts no speed.

One `cordon serve` with the shipped default policy (plus one classifier that teaches it that
server-everything's `echo` is a read, so the default's `allow-reads` lets it pass), evidence on disk,
the built-in tools on a small workspace, and server-everything as an upstream. Two governed calls:
`cordon__file_read` of a small file and `everything__echo`.

1. Latency, the official Python SDK as the client (what an agent runs), in interleaved rounds so
   drift hits every path alike: `echo` direct to server-everything (no Cordon) over stdio and over
   its own Streamable HTTP, and both calls through `cordon mcp` (stdio) and over one kept-alive HTTP
   connection (protocol 2025-11-25 with a session; and 2026-07-28, stateless). Cordon's added
   latency = through Cordon minus direct on the same transport (so the HTTP client's own cost,
   heavier than stdio's in Python, is not counted against Cordon).
   The official TypeScript SDK does the same over stdio (`echo` direct and through `cordon mcp`):
   Node starts its children on socket pairs, not pipes, as Claude Code and Gemini CLI start Cordon.
2. Throughput, wrk with 16 kept-alive connections (and 1 for latency), `cordon__file_read` over
   HTTP, on both protocols (2025-11-25: one session and one wrk thread per connection; 2026-07-28:
   as many wrk threads as CPUs); every answer checked (a result, not an error) in wrk's Lua, and the
   evidence records counted before and after: two per answered call (its intent and its outcome).

3. At an agent's pace: `echo` direct and through `cordon mcp`, alternately, one call every 50 ms
   (`--paced N` calls each; 0 skips it). An agent thinks between calls, so each of its calls finds
   every process asleep and the engine's evidence writer done with its idle work: this is the
   latency an agent lives with, which back-to-back calls do not show.

`--stdio-only` keeps only the stdio paths (`echo` direct and both calls through `cordon mcp`) and
skips wrk: the quick loop for work on the stdio latency goal.

4. The disk's floor: an intent is fsynced before its call runs, so no write-ahead design adds less
   than one flush of the disk holding the evidence. Before and after the latency rounds the bench
   times that flush itself (a 4 KiB write and `fdatasync` in the evidence's directory, like the
   intent's commit, one every 2 ms) and prints Cordon's added latency with and without it: what the
   disk costs and what Cordon's own work costs are told apart, on any machine. `--evidence-dir DIR`
   puts the evidence elsewhere (a tmpfs such as /dev/shm: no flush at all, Cordon's own share alone).

Usage: bench_http.py CORDON_BIN [--rounds N] [--batch N] [--seconds S] [--paced N] [--json FILE]
                     [--stdio-only] [--evidence-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[1]
E2E = REPO / "tests" / "e2e"
EVERYTHING = E2E / "node_modules" / ".bin" / "mcp-server-everything"
AGENT = "bench"
WRK_CONNECTIONS = 16
PACE_S = 0.05
PACED = f"one call per {PACE_S * 1000:.0f} ms"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bench:
    def __init__(self, binary: Path, root: Path, evidence_dir: Path | None = None) -> None:
        self.binary = binary
        self.root = root
        self.sock_dir = Path(tempfile.mkdtemp(prefix="cbench-", dir="/tmp"))
        self.port = free_port()
        self.token = secrets.token_urlsafe(24)
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.workspace = root / "ws"
        self.workspace.mkdir()
        self.file = self.workspace / "hello.txt"
        self.file.write_text("hello from the benchmark\n" * 4)
        self.evidence_dir = Path(tempfile.mkdtemp(prefix="cordon-bench-evidence-", dir=evidence_dir)) if evidence_dir else root
        self.evidence = self.evidence_dir / "evidence.db"
        policies = root / "policy"
        policies.mkdir()
        self.policy = policies
        shutil.copyfile(REPO / "policies" / "default.yaml", policies / "default.yaml")
        (policies / "zz-bench.yaml").write_text(
            "# The benchmark's only addition: server-everything's echo is a read (it has no side effects).\n"
            "version: v1\n"
            "classifiers:\n"
            '  - tool: "echo"\n'
            '    server: "everything"\n'
            "    topic: job.mcp-bridge.read.echo\n"
        )
        self.config = root / "cordon.yaml"
        self.config.write_text(
            "\n".join(
                [
                    f"listen: 127.0.0.1:{self.port}",
                    f"socket: {json.dumps(str(self.sock_dir / 'cordon.sock'))}",
                    f"policy: {json.dumps(str(policies))}",
                    f"evidence: {json.dumps(str(self.evidence))}",
                    f"signing_key: {json.dumps('file:' + str(root / 'signing.key'))}",
                    f"keychain_service: cordon-bench-{secrets.token_hex(4)}",
                    "agents:",
                    f"  {AGENT}:",
                    f"    token: {json.dumps(self.token)}",
                    "workspace:",
                    f"  roots: [{json.dumps(str(self.workspace))}]",
                    "servers:",
                    "  everything:",
                    f"    command: {json.dumps(str(EVERYTHING))}",
                    "    args: [stdio]",
                ]
            )
            + "\n"
        )
        self.config.chmod(0o600)  # it holds a token: the engine refuses it readable by others
        self.env = dict(os.environ)
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "XDG_STATE_HOME"):
            path = root / var.lower()
            path.mkdir(mode=0o700)
            self.env[var] = str(path)
        self.env["CORDON_LOG"] = "warn"
        self.env.pop("CORDON_CONFIG", None)
        self.proc: subprocess.Popen[bytes] | None = None

    def cordon(self, *args: str) -> str:
        out = subprocess.run(
            [str(self.binary), *args],
            capture_output=True, text=True, env=self.env, timeout=60, check=False,
        )
        if out.returncode != 0:
            raise SystemExit(f"cordon {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def start(self) -> None:
        for name, server, tool, args in (
            ("file_read", "cordon", "file_read", {"path": str(self.file)}),
            ("echo", "everything", "echo", {"message": "x"}),
        ):
            explained = json.loads(
                self.cordon(
                    "policy", "explain", "--policy", str(self.policy), "--tool", tool, "--server", server,
                    "--args", json.dumps(args), "--agent", AGENT,
                )
            )
            if explained.get("decision") != "allow":
                raise SystemExit(f"{name} is not allowed by the benchmark policy: {explained}")
        self.stderr = open(self.root / "serve.stderr", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--config", str(self.config)],
            stdin=subprocess.DEVNULL, stdout=self.stderr, stderr=self.stderr, env=self.env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("cordon serve did not listen within 60 s:\n" + (self.root / "serve.stderr").read_text())

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.stderr.close()
        shutil.rmtree(self.sock_dir, ignore_errors=True)
        if self.evidence_dir != self.root:
            shutil.rmtree(self.evidence_dir, ignore_errors=True)

    def records(self) -> int:
        db = sqlite3.connect(f"file:{self.evidence}?mode=ro", uri=True, timeout=30)
        try:
            # Folded records and those still in the journal (one read transaction: consistent).
            return int(db.execute("SELECT (SELECT COUNT(*) FROM records) + (SELECT COUNT(*) FROM journal)").fetchone()[0])
        finally:
            db.close()

    def file_read(self) -> tuple[str, dict[str, Any]]:
        return "cordon__file_read", {"path": str(self.file)}


# ---- latency with the official Python SDK ------------------------------------------------------


async def timed_calls(session: ClientSession, name: str, args: dict[str, Any], n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        result = await session.call_tool(name, args)
        times.append(time.perf_counter() - start)
        if result.is_error:
            raise SystemExit(f"{name} failed: {result.content}")
    return times


async def latency(bench: Bench, rounds: int, batch: int, paced: int, stdio_only: bool) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}
    headers = {"Authorization": f"Bearer {bench.token}"}
    file_read = bench.file_read()
    echo = ("everything__echo", {"message": "bench"})
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed at the end
    async with contextlib.AsyncExitStack() as stack:
        direct_rw = await stack.enter_async_context(
            stdio_client(StdioServerParameters(command=str(EVERYTHING), args=["stdio"]), errlog=devnull)
        )
        direct = await stack.enter_async_context(ClientSession(*direct_rw))
        await direct.initialize()
        stdio_rw = await stack.enter_async_context(
            stdio_client(
                StdioServerParameters(
                    command=str(bench.binary),
                    args=["mcp", "--agent", AGENT, "--config", str(bench.config)],
                    env={k: v for k, v in bench.env.items() if k.startswith(("XDG_", "CORDON_", "PATH"))},
                ),
                errlog=devnull,
            )
        )
        stdio = await stack.enter_async_context(ClientSession(*stdio_rw))
        await stdio.initialize()
        # Upstreams start asynchronously: wait until echo is served through Cordon.
        deadline = time.monotonic() + 60
        while "everything__echo" not in {t.name for t in (await stdio.list_tools()).tools}:
            if time.monotonic() > deadline:
                raise SystemExit("everything__echo never listed")
            await anyio.sleep(0.2)
        paths: list[tuple[str, ClientSession, str, dict[str, Any]]] = [
            ("echo direct (no Cordon)", direct, "echo", {"message": "bench"}),
            ("echo via cordon mcp (stdio)", stdio, *echo),
            ("file_read via cordon mcp (stdio)", stdio, *file_read),
        ]
        if not stdio_only:
            paths += await http_paths(bench, stack, headers, echo, file_read)
        for label, session, name, args in paths:  # warm-up
            await timed_calls(session, name, args, max(20, batch // 5))
        for _ in range(rounds):
            for label, session, name, args in paths:
                samples.setdefault(label, []).extend(await timed_calls(session, name, args, batch))
        for _ in range(paced):
            for label, session, name, args in paths[:2]:
                await anyio.sleep(PACE_S)
                samples.setdefault(f"{label}, {PACED}", []).extend(await timed_calls(session, name, args, 1))
    devnull.close()
    return samples


async def http_paths(
    bench: Bench,
    stack: contextlib.AsyncExitStack,
    headers: dict[str, str],
    echo: tuple[str, dict[str, Any]],
    file_read: tuple[str, dict[str, Any]],
) -> list[tuple[str, ClientSession, str, dict[str, Any]]]:
    """The HTTP paths: `echo` direct over server-everything's own Streamable HTTP, and both calls
    through Cordon over kept-alive HTTP on both protocols."""
    # The same upstream over Streamable HTTP, without Cordon: the HTTP client's own cost.
    port = free_port()
    upstream_http = subprocess.Popen(
        [str(EVERYTHING), "streamableHttp"], env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    stack.callback(upstream_http.kill)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("server-everything (streamableHttp) did not listen") from None
            await anyio.sleep(0.1)
    plain = await stack.enter_async_context(httpx2.AsyncClient(timeout=60))
    direct_http_rw = await stack.enter_async_context(
        streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=plain)
    )
    direct_http = await stack.enter_async_context(ClientSession(direct_http_rw[0], direct_http_rw[1]))
    await direct_http.initialize()
    sessions: dict[str, ClientSession] = {}
    for era in ("2025-11-25", "2026-07-28"):
        client = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=60))
        rw = await stack.enter_async_context(streamable_http_client(bench.url, http_client=client))
        session = await stack.enter_async_context(ClientSession(rw[0], rw[1]))
        if era == "2025-11-25":
            await session.initialize()
        else:
            await session.discover()
        sessions[era] = session
    return [
        ("echo direct over HTTP (no Cordon)", direct_http, "echo", {"message": "bench"}),
        ("echo via HTTP 2025-11-25", sessions["2025-11-25"], *echo),
        ("echo via HTTP 2026-07-28", sessions["2026-07-28"], *echo),
        ("file_read via HTTP 2025-11-25", sessions["2025-11-25"], *file_read),
        ("file_read via HTTP 2026-07-28", sessions["2026-07-28"], *file_read),
    ]


def flush_floor(directory: Path, n: int = 200) -> list[float]:
    """Times what an intent's durability costs the disk alone: a 4 KiB write over data already on
    disk (SQLite reuses its write-ahead log the same way) and `fdatasync`, one every 2 ms."""
    path = directory / "flush-floor.bin"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        page = os.urandom(4096)
        for i in range(64):
            os.pwrite(fd, page, i * 4096)
        os.fsync(fd)
        times = []
        for i in range(n):
            os.pwrite(fd, page, (i % 64) * 4096)
            start = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - start)
            time.sleep(0.002)
        return times
    finally:
        os.close(fd)
        path.unlink()


TS_DIRECT = "echo direct (no Cordon), TypeScript SDK"
TS_CORDON = "echo via cordon mcp (stdio), TypeScript SDK"


def ts_latency(bench: Bench, rounds: int, batch: int) -> dict[str, list[float]]:
    """The official TypeScript SDK over stdio (`tests/e2e/ts_stdio_bench.mjs`): Node starts its
    children on socket pairs, not pipes, as Claude Code and Gemini CLI start `cordon mcp`."""
    env = {k: v for k, v in bench.env.items() if k.startswith(("XDG_", "CORDON_", "PATH"))}
    spec = {
        "direct": {"command": str(EVERYTHING), "args": ["stdio"], "env": {"PATH": os.environ.get("PATH", "")}},
        "cordon": {
            "command": str(bench.binary),
            "args": ["mcp", "--agent", AGENT, "--config", str(bench.config)],
            "env": env,
        },
    }
    out = subprocess.run(
        ["node", str(E2E / "ts_stdio_bench.mjs"), str(rounds), str(batch), json.dumps(spec)],
        cwd=E2E, capture_output=True, text=True, timeout=1800, check=True,
    )
    seconds = json.loads(out.stdout.strip().splitlines()[-1])
    return {TS_DIRECT: seconds["direct"], TS_CORDON: seconds["cordon"]}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * p))] * 1000


# ---- throughput with wrk -----------------------------------------------------------------------

LUA = r"""
wrk.method = "POST"
wrk.body = [==[@BODY@]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Authorization"] = "Bearer @TOKEN@"
wrk.headers["Mcp-Protocol-Version"] = "@VERSION@"
@EXTRA@
bad = 0
local threads = {}
local sessions = {@SESSIONS@}
function setup(thread)
  table.insert(threads, thread)
  if #sessions > 0 then thread:set("session", sessions[#threads]) end
end
function init(args)
  if session then
    wrk.headers["Mcp-Session-Id"] = session
    req = wrk.format()
  end
end
function request() return req or wrk.format() end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"result"', 1, true) or string.find(body, '"isError":true', 1, true) then
    bad = bad + 1
  end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("CORDON requests=%d bad=%d p50_us=%d p99_us=%d\n",
    summary.requests, total, latency:percentile(50), latency:percentile(99)))
end
"""


def legacy_session(bench: Bench) -> str:
    headers = {"Authorization": f"Bearer {bench.token}", "Accept": "application/json, text/event-stream"}
    init = {
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "wrk", "version": "0"}},
    }
    with httpx2.Client(headers=headers, timeout=30) as client:
        resp = client.post(bench.url, json=init)
        resp.raise_for_status()
        session = resp.headers["mcp-session-id"]
        resp = client.post(
            bench.url,
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers={"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-11-25"},
        )
        resp.raise_for_status()
    return session


def wrk(bench: Bench, era: str, connections: int, seconds: int) -> dict[str, Any]:
    name, args = bench.file_read()
    params: dict[str, Any] = {"name": name, "arguments": args}
    extra = ""
    sessions: list[str] = []
    if era == "2025-11-25":
        # One session per connection (each wrk thread drives one), as 16 agents would have.
        sessions = [legacy_session(bench) for _ in range(connections)]
    else:
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": era,
            "io.modelcontextprotocol/clientInfo": {"name": "wrk", "version": "0"},
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        extra = f'wrk.headers["Mcp-Method"] = "tools/call"\nwrk.headers["Mcp-Name"] = "{name}"'
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
    script = bench.root / f"wrk-{era}-{connections}.lua"
    script.write_text(
        LUA.replace("@BODY@", body)
        .replace("@TOKEN@", bench.token)
        .replace("@VERSION@", era)
        .replace("@EXTRA@", extra)
        .replace("@SESSIONS@", ", ".join(json.dumps(sid) for sid in sessions))
    )
    before = bench.records()
    # With sessions, one wrk thread per connection (wrk's Lua knows threads, not connections), so
    # each connection is its own agent session. Stateless: as many threads as CPUs, wrk's own advice:
    # more threads than cores only take CPU from the server being measured.
    threads = connections if sessions else min(connections, os.cpu_count() or 1)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "-s", str(script), bench.url],
        capture_output=True, text=True, timeout=seconds + 120, check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"wrk failed:\n{out.stdout}\n{out.stderr}")
    match = re.search(r"CORDON requests=(\d+) bad=(\d+) p50_us=(\d+) p99_us=(\d+)", out.stdout)
    if not match:
        raise SystemExit(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")
    requests, bad, p50, p99 = (int(g) for g in match.groups())
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    # Calls in flight when wrk stopped are still answered and recorded by the engine.
    time.sleep(1.0)
    after = bench.records()
    errors = re.search(r"Socket errors: (.*)", out.stdout)
    return {
        "protocol": era,
        "connections": connections,
        "threads": threads,
        "seconds": seconds,
        "answered": requests,
        "bad_answers": bad,
        "calls_per_s": float(rate.group(1)) if rate else requests / seconds,
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
        "records_added": after - before,
        "socket_errors": errors.group(1) if errors else "none",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary", type=Path)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--paced", type=int, default=100, help="calls per path at an agent's pace (0: none)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--stdio-only", action="store_true", help="only the stdio paths; no HTTP, no wrk")
    parser.add_argument("--evidence-dir", type=Path, help="where the evidence log goes (default: beside the rest, on disk)")
    opts = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cordon-bench-"))
    bench = Bench(opts.binary.resolve(), root, opts.evidence_dir)
    report: dict[str, Any] = {"machine": f"{os.cpu_count()} CPUs", "latency": {}, "throughput": []}
    try:
        bench.start()
        floor = flush_floor(bench.evidence_dir)
        samples = anyio.run(latency, bench, opts.rounds, opts.batch, opts.paced, opts.stdio_only)
        samples.update(ts_latency(bench, opts.rounds, opts.batch))
        floor += flush_floor(bench.evidence_dir)
        samples["the disk's flush (4 KiB write, fdatasync), where the evidence is"] = floor
        for label, values in samples.items():
            report["latency"][label] = {
                "calls": len(values), "p50_ms": pct(values, 0.5), "p99_ms": pct(values, 0.99),
                "mean_ms": statistics.fmean(values) * 1000,
            }
        if not opts.stdio_only:
            for era in ("2025-11-25", "2026-07-28"):
                for connections in (1, WRK_CONNECTIONS):
                    report["throughput"].append(wrk(bench, era, connections, opts.seconds))
    finally:
        bench.stop()
    lat = report["latency"]
    direct = lat["echo direct (no Cordon)"]["p50_ms"]
    direct_http = lat.get("echo direct over HTTP (no Cordon)", {}).get("p50_ms", 0.0)
    print(f"\nLatency, official Python SDK (and the TypeScript SDK where named), {opts.rounds} rounds x {opts.batch} calls per path (ms):")
    print("| path | p50 | p99 | added p50 by Cordon (vs direct on the same transport) |")
    print("|---|---|---|---|")
    for label, row in lat.items():
        added = ""
        if label.startswith("echo") and "direct" not in label:
            base = direct_http if "HTTP" in label else direct
            if PACED in label:
                base = lat[f"echo direct (no Cordon), {PACED}"]["p50_ms"]
            if label == TS_CORDON:
                base = lat[TS_DIRECT]["p50_ms"]
            added = f"{row['p50_ms'] - base:+.3f}"
        print(f"| {label} | {row['p50_ms']:.3f} | {row['p99_ms']:.3f} | {added} |")
    added_stdio = lat["echo via cordon mcp (stdio)"]["p50_ms"] - direct
    tail = lat["echo via cordon mcp (stdio)"]["p99_ms"] - lat["echo direct (no Cordon)"]["p99_ms"]
    flush = lat["the disk's flush (4 KiB write, fdatasync), where the evidence is"]["p50_ms"]
    report["added_stdio_ms"] = {"p50": added_stdio, "p99": tail, "disk_flush_p50": flush}
    print(
        f"echo: Cordon's added latency over stdio (cordon mcp), p50: {added_stdio:+.3f} ms (goal: at most "
        f"0.5); p99 through Cordon minus p99 direct: {tail:+.3f} ms (goal: at most 2)"
    )
    print(
        f"  of which the disk's flush of the intent (p50 {flush:.3f} ms, measured beside it): Cordon's own "
        f"share {added_stdio - flush:+.3f} ms"
    )
    ts_added = lat[TS_CORDON]["p50_ms"] - lat[TS_DIRECT]["p50_ms"]
    report["added_stdio_typescript_ms"] = {"p50": ts_added}
    print(f"echo, TypeScript SDK (Node's socket pairs): Cordon's added latency over stdio, p50: {ts_added:+.3f} ms")
    if opts.paced:
        paced = lat[f"echo via cordon mcp (stdio), {PACED}"]["p50_ms"] - lat[f"echo direct (no Cordon), {PACED}"]["p50_ms"]
        report["added_stdio_paced_ms"] = {"p50": paced}
        print(f"echo at an agent's pace ({PACED}): Cordon's added latency over stdio, p50: {paced:+.3f} ms")
    if opts.stdio_only:
        finish(report, opts.json, root)
        return
    for era in ("2025-11-25", "2026-07-28"):
        added_http = lat[f"echo via HTTP {era}"]["p50_ms"] - direct_http
        report.setdefault("added_http_minus_added_stdio_p50_ms", {})[era] = added_http - added_stdio
        print(
            f"echo: Cordon's added latency over HTTP {era} minus over stdio, p50: "
            f"{added_http - added_stdio:+.3f} ms (goal: at most +0.3)"
        )
    for call in ("echo", "file_read"):
        stdio = lat[f"{call} via cordon mcp (stdio)"]["p50_ms"]
        for era in ("2025-11-25", "2026-07-28"):
            http = lat[f"{call} via HTTP {era}"]["p50_ms"]
            report.setdefault("http_minus_stdio_p50_ms", {})[f"{call} {era}"] = http - stdio
            print(f"{call}: through Cordon, HTTP {era} minus stdio, p50: {http - stdio:+.3f} ms (includes the HTTP client's own cost)")
    print(f"\nThroughput, wrk, cordon__file_read over kept-alive HTTP, {opts.seconds} s per run:")
    print("| protocol | connections (wrk threads) | calls/s | p50 ms | p99 ms | answered | bad answers | records added |")
    print("|---|---|---|---|---|---|---|---|")
    for row in report["throughput"]:
        print(
            f"| {row['protocol']} | {row['connections']} ({row['threads']}) | {row['calls_per_s']:.0f} | "
            f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['answered']} | {row['bad_answers']} | "
            f"{row['records_added']} |"
        )
        # Write-ahead: every answered call has its intent and its outcome.
        if row["records_added"] < 2 * row["answered"]:
            print(f"  !! {2 * row['answered'] - row['records_added']} records missing: an answered call lacks its intent or outcome")
    finish(report, opts.json, root)


def finish(report: dict[str, Any], json_path: Path | None, root: Path) -> None:
    """Writes the figures as JSON if asked, and removes the bench's files."""
    if json_path:
        json_path.write_text(json.dumps(report, indent=1))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
