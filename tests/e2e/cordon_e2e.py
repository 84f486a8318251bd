"""Harness for Cordon's end-to-end tests: the real `cordon` binary, real MCP clients, real upstreams.

Black-box against /work/notes/gateway-contract.md: a temp config file, `cordon serve --config F` as a
subprocess, agents connecting through `cordon mcp --agent NAME --config F` (stdio, the official Python
SDK's stdio client) or Streamable HTTP with a bearer token, and the CLI (`cordon approvals`, `approve`,
`deny`, `log`) for the human side. Every wait is a poll with a bounded deadline that fails with the full
context (engine stderr, last observation); no assertion depends on how fast anything is.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pty
import queue
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import psutil
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

E2E = Path(__file__).resolve().parent
REPO = E2E.parents[1]
POLICIES = E2E / "policies"
EVERYTHING = E2E / "node_modules" / ".bin" / "mcp-server-everything"
FILESYSTEM = E2E / "node_modules" / ".bin" / "mcp-server-filesystem"
GIT = E2E / ".venv" / "bin" / "mcp-server-git"
GATED = E2E / "bin" / "gated"
ECHO_ENV = E2E / "bin" / "echo_env.py"
PYTHON = E2E / ".venv" / "bin" / "python"

# Hang guards, not speed assertions: generous bounds after which a wait has failed in any case.
READY_DEADLINE = 60.0  # engine socket up, upstream tools listed
POLL_DEADLINE = 30.0  # an approval to appear, a file to change
CALL_TIMEOUT = 100.0  # one MCP request (held approvals included); below pytest-timeout's 120 s
CLI_TIMEOUT = 30.0
HANG_GUARD = 30.0  # for calls that must be refused at once (engine or upstream gone): waiting = failing
POLL_INTERVAL = 0.05

STDIO_AGENT = "e2e-stdio"
HTTP_AGENT = "e2e-http"
REVIEWER = "e2e-reviewer@example.com"

# Every engine started in this process, so a failing test can print their stderr (see conftest.py).
ENGINES: list[Engine] = []


def cordon_bin() -> Path:
    """The binary under test: $CORDON_BIN, else $CARGO_TARGET_DIR/debug/cordon, else target/debug."""
    if os.environ.get("CORDON_BIN"):
        path = Path(os.environ["CORDON_BIN"])
    elif os.environ.get("CARGO_TARGET_DIR"):
        path = Path(os.environ["CARGO_TARGET_DIR"]) / "debug" / "cordon"
    else:
        path = REPO / "target" / "debug" / "cordon"
    assert path.is_file(), f"cordon binary not found at {path}: run `cargo build -p cordon-cli` or set CORDON_BIN"
    return path


def isolated_env(home: Path) -> dict[str, str]:
    """Environment for every cordon process: its own XDG dirs, so nothing touches the user's files."""
    env = dict(os.environ)
    for var, sub in (
        ("XDG_CONFIG_HOME", "xdg-config"),
        ("XDG_DATA_HOME", "xdg-data"),
        ("XDG_RUNTIME_DIR", "xdg-runtime"),
        ("XDG_STATE_HOME", "xdg-state"),
    ):
        path = home / sub
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        env[var] = str(path)
    env["CORDON_LOG"] = env.get("CORDON_LOG", "info")
    env.pop("CORDON_CONFIG", None)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_private(path: Path, text: str) -> None:
    """Writes `path` readable by the user alone (mode 0600), as a file holding secrets must be."""
    path.write_text(text)
    path.chmod(0o600)


def yaml_str(value: str) -> str:
    """A YAML scalar for any string (JSON strings are valid YAML flow scalars)."""
    return json.dumps(value)


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return (
        f"command: {' '.join(map(str, proc.args))}\nexit code: {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )


def leaves(exc: BaseException) -> list[BaseException]:
    """The real errors inside nested exception groups (task groups wrap every failure)."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def run(fn: Callable[..., Any], *args: Any) -> Any:
    """anyio.run, re-raising the first real error out of exception groups for a readable failure."""
    try:
        return anyio.run(fn, *args)
    except BaseExceptionGroup as group:
        real = [e for e in leaves(group) if not isinstance(e, asyncio.CancelledError)]
        if not real:
            raise
        first = real[0]
        if len(real) > 1:
            first.add_note("further errors: " + "; ".join(f"{type(e).__name__}: {e}" for e in real[1:]))
        raise first from None


def text_of(result: Any) -> str:
    """All text content of a CallToolResult, joined."""
    return "\n".join(getattr(block, "text", "") or "" for block in result.content)


def result_summary(result: Any) -> dict[str, Any]:
    """What 'an identical result' means: content, isError and structuredContent, as JSON."""
    dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return {key: dumped.get(key) for key in ("content", "isError", "structuredContent")}


@dataclass
class ServerSpec:
    """One upstream in the generated config."""

    command: Path
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def yaml(self, name: str) -> str:
        lines = [f"  {name}:", f"    command: {yaml_str(str(self.command))}"]
        lines.append(f"    args: [{', '.join(yaml_str(a) for a in self.args)}]")
        if self.env:
            lines.append("    env: {" + ", ".join(f"{k}: {yaml_str(v)}" for k, v in self.env.items()) + "}")
        return "\n".join(lines)


class Engine:
    """A `cordon serve` subprocess with its own config, socket, evidence db, files and repo."""

    def __init__(
        self,
        root: Path,
        *,
        label: str,
        servers: Iterable[str] = ("everything", "filesystem"),
        gated: bool = False,
        http: bool = True,
        approval_timeout: str = "60s",
        policy: Path = POLICIES / "e2e.yaml",
        start: bool = True,
        extra_config: str = "",
        remote: dict[str, str] | None = None,
        builtin_tools: bool = False,
        extra_servers: dict[str, ServerSpec] | None = None,
        agent_roots: dict[str, list[Path]] | None = None,
        evidence: Path | None = None,
        http_agents: dict[str, str] | None = None,
        nofile: int | None = None,
    ) -> None:
        self.label = label
        # More HTTP agents (name -> token) beside HTTP_AGENT, e.g. to try one's token on another's session.
        self.http_agents = dict(http_agents or {})
        # A soft open-file limit for `cordon serve` (the engine raises it to the hard limit itself).
        self.nofile = nofile
        # Workspace roots per agent (`agents.<name>.roots`): the blast radius of their writes.
        self.agent_roots = dict(agent_roots or {})
        self.extra_config = extra_config  # YAML appended to the generated config (e.g. `workspace:`)
        self.remote = dict(remote or {})  # Streamable HTTP upstreams: name -> url
        # Cordon's built-in `cordon__*` tools are listed by default; the tests written for upstream
        # tools only switch them off unless they configure a `workspace:` themselves.
        self.builtin_tools = builtin_tools
        self.approval_timeout = approval_timeout  # a contract duration string, e.g. "2s"
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        # Unix socket paths are limited to ~100 bytes: keep the socket in a short private dir.
        self.sock_dir = Path(tempfile.mkdtemp(prefix="ce2e-", dir="/tmp"))
        self.socket = self.sock_dir / "cordon.sock"
        self.evidence = evidence or root / "evidence.db"  # e.g. on a small tmpfs (write-ahead tests)
        self.files = root / "files"
        self.files.mkdir(exist_ok=True)
        self.repo = root / "repo"
        self.gate = root / "upstream.gate"
        self.policy = root / policy.name  # same file name: the policy version hashes it too
        shutil.copyfile(policy, self.policy)
        self.token = secrets.token_urlsafe(32)
        self.port = free_port() if http else None
        self.url = f"http://127.0.0.1:{self.port}/mcp" if http else None
        self.env = isolated_env(root)
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_path = root / "serve.stderr"
        self._stderr_counter = 0

        self.servers: dict[str, ServerSpec] = {}
        for name in servers:
            if name == "everything":
                spec = ServerSpec(EVERYTHING, ["stdio"])
                if gated:
                    spec = ServerSpec(GATED, [str(EVERYTHING), "stdio"], {"CORDON_E2E_GATE": str(self.gate)})
                self.servers[name] = spec
            elif name == "filesystem":
                self.servers[name] = ServerSpec(FILESYSTEM, [str(self.files)])
            elif name == "git":
                make_repo(self.repo)
                self.servers[name] = ServerSpec(GIT, ["--repository", str(self.repo)])
            else:
                raise ValueError(f"unknown upstream {name}")
        self.servers.update(extra_servers or {})

        self.config = root / "cordon.yaml"
        self.write_config()
        ENGINES.append(self)
        if start:
            self.start()

    def write_config(self, text: str | None = None) -> None:
        """Writes the config (`text`, or the one `config_text` makes) as the user's alone: it holds
        agents' tokens, and the engine refuses a config with tokens other users can read."""
        write_private(self.config, self.config_text() if text is None else text)

    def config_text(self) -> str:
        lines = [
            f"# generated by tests/e2e for {self.label}",
            f"socket: {yaml_str(str(self.socket))}",
            f"policy: {yaml_str(str(self.policy))}",
            f"evidence: {yaml_str(str(self.evidence))}",
            f"signing_key: {yaml_str('file:' + str(self.root / 'signing.key'))}",
            f"keychain_service: {yaml_str('cordon-e2e-' + secrets.token_hex(4))}",
            f"approval_timeout: {self.approval_timeout}",
            f"reviewer: {yaml_str(REVIEWER)}",
            "agents:",
            f"  {HTTP_AGENT}:",
            f"    token: {yaml_str(self.token)}",
        ]

        def roots_line(agent: str) -> str:
            return f"    roots: [{', '.join(yaml_str(str(r)) for r in self.agent_roots[agent])}]"

        if HTTP_AGENT in self.agent_roots:
            lines.append(roots_line(HTTP_AGENT))
        for agent, token in self.http_agents.items():
            lines += [f"  {agent}:", f"    token: {yaml_str(token)}"]
        for agent in self.agent_roots:
            if agent != HTTP_AGENT and agent not in self.http_agents:
                lines += [f"  {agent}:", roots_line(agent)]
        if self.port is not None:
            lines.insert(1, f"listen: 127.0.0.1:{self.port}")
        lines.append("servers:" if self.servers or self.remote else "servers: {}")
        lines += [spec.yaml(name) for name, spec in self.servers.items()]
        lines += [f"  {name}:\n    url: {yaml_str(url)}" for name, url in self.remote.items()]
        text = "\n".join(lines) + "\n"
        if self.extra_config:
            text += self.extra_config.rstrip("\n") + "\n"
        if not self.builtin_tools and "workspace:" not in self.extra_config:
            text += "workspace:\n  builtin_tools: false\n"
        return text

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self.start_process()
        if self.expected_tools():
            run(self._wait_upstreams)

    def start_process(self) -> None:
        """`cordon serve` up to its control socket accepting (upstreams may still be starting)."""
        binary = cordon_bin()
        self._stderr_file = open(self.stderr_path, "ab")  # noqa: SIM115 - closed in stop()
        nofile = self.nofile

        def limit_files() -> None:
            if nofile is not None:
                import resource

                _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

        self.proc = subprocess.Popen(
            [str(binary), "serve", "--config", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=self._stderr_file,
            stderr=self._stderr_file,
            env=self.env,
            cwd=self.root,
            start_new_session=True,
            preexec_fn=limit_files if nofile is not None else None,
        )
        self.wait_socket()

    async def _wait_upstreams(self) -> None:
        """Upstreams start asynchronously: wait until an agent sees every one's tools."""
        async with self.stdio():
            pass

    def _fail_start(self, what: str) -> None:
        message = f"{self.label}: {what}\n{self.context()}"
        self.stop()  # no leftovers; the message carries the context the report hook would have added
        raise AssertionError(message)

    def wait_socket(self) -> None:
        deadline = time.monotonic() + READY_DEADLINE
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                self._fail_start(f"`cordon serve` exited with code {self.proc.returncode} before its socket accepted")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(str(self.socket))
                    return
            except OSError as err:
                last = err
            time.sleep(POLL_INTERVAL)
        self._fail_start(f"control socket {self.socket} did not accept within {READY_DEADLINE}s (last error: {last})")

    def wait_tcp(self) -> None:
        """HTTP is checked only by the tests that use it, so a broken listener fails those alone."""
        assert self.port is not None, "this engine has no HTTP listener"
        deadline = time.monotonic() + READY_DEADLINE
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, f"`cordon serve` exited ({self.proc and self.proc.poll()})"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(POLL_INTERVAL)
        raise AssertionError(f"HTTP listener 127.0.0.1:{self.port} did not accept within {READY_DEADLINE}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.proc is not None:
            # Upstreams are in the engine's process group; leave none behind, even after a crash.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if hasattr(self, "_stderr_file"):
            self._stderr_file.close()
        shutil.rmtree(self.sock_dir, ignore_errors=True)
        if self in ENGINES:
            ENGINES.remove(self)

    def kill(self) -> None:
        """SIGKILL the engine and its upstreams (a crash); `start()` brings up a new one on the same files."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._stderr_file.close()

    def stderr_files(self) -> list[Path]:
        return sorted(self.root.glob("*.stderr"))

    def context(self, tail: int = 12000) -> str:
        """Everything needed to understand a failure: config, and the tail of every stderr file."""
        parts = [f"=== {self.label}: config {self.config} ===\n{self.config.read_text()}"]
        if self.proc is not None:
            parts.append(f"cordon serve pid {self.proc.pid}, exit code {self.proc.poll()}")
        for path in self.stderr_files():
            text = path.read_text(errors="replace")
            if len(text) > tail:
                text = "...\n" + text[-tail:]
            parts.append(f"=== {path.name} ===\n{text}")
        return "\n".join(parts)

    # ---- CLI ---------------------------------------------------------------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`cordon ARGS --config F`; with check, a non-zero exit fails with the full context."""
        proc = subprocess.run(
            [str(cordon_bin()), *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.root,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"cordon CLI failed\n{describe(proc)}")
        return proc

    def cli_json(self, *args: str) -> Any:
        proc = self.cli(*args)
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError as err:
            raise AssertionError(f"cordon printed no JSON ({err})\n{describe(proc)}") from None

    def approvals(self) -> list[dict[str, Any]]:
        data = self.cli_json("approvals", "--json")
        assert isinstance(data, list), f"`cordon approvals --json` is not a JSON array: {data!r}"
        return data

    def approval_code(self, approval_id: str) -> str:
        """The one-time code the engine printed on its own stderr for this held call: the test
        plays the human watching the terminal that runs `cordon serve`."""
        pattern = re.compile(
            rf"cordon: approval {re.escape(str(approval_id))} waiting: .* type code ([0-9A-Z]{{4}}-[0-9A-Z]{{4}})"
        )
        deadline = time.monotonic() + POLL_DEADLINE
        while True:
            found = pattern.findall(self.stderr_path.read_text(errors="replace"))
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"the engine showed no code for approval {approval_id}\n{self.context()}")
            time.sleep(POLL_INTERVAL)

    def challenge_code(self, action: str, after: int) -> str:
        """The one-time code the engine printed for a guarded action (resume, tool approval),
        looking only at stderr written after byte offset `after`."""
        pattern = re.compile(rf"cordon: one-time code ([0-9A-Z]{{4}}-[0-9A-Z]{{4}}) for: {re.escape(action)} \(")
        deadline = time.monotonic() + POLL_DEADLINE
        while True:
            found = pattern.findall(self.stderr_path.read_bytes()[after:].decode(errors="replace"))
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"the engine showed no code for {action!r}\n{self.context()}")
            time.sleep(POLL_INTERVAL)

    def cli_tty(self, *args: str, typed: str = "", check: bool = True) -> tuple[int, str]:
        """`cordon ARGS --config F` on a fresh pseudo-terminal that is its controlling terminal
        (stdin, stdout, stderr and /dev/tty), as a human at a terminal runs it; `typed` is what
        the human types. Returns (exit code, everything the terminal showed)."""
        return run_on_pty(
            [str(cordon_bin()), *args, "--config", str(self.config)], self.env, self.root, typed, check
        )

    def approve(
        self, approval_id: str, *, session: bool = False, prefix: str | None = None, code: str | None = None
    ) -> None:
        """Approve as the human does: on a terminal, with the code the engine showed."""
        code = code or self.approval_code(approval_id)
        scope = ["--session"] if session else []
        if prefix is not None:
            scope = ["--session-prefix", prefix]
        run_on_pty_interactive(
            [str(cordon_bin()), "approve", str(approval_id), *scope, "--config", str(self.config)],
            self.env,
            self.root,
            lambda: code + "\n",
        )

    def guarded_cli(self, *args: str, action: str, check: bool = True) -> tuple[int, str]:
        """A command that loosens governance (`resume`, `tools approve`) as the human runs it: on
        a terminal it asks the engine for a one-time code; the human reads it on the engine's
        own stderr and types it. Returns (exit code, what the terminal showed)."""
        offset = self.stderr_path.stat().st_size
        return run_on_pty_interactive(
            [str(cordon_bin()), *args, "--config", str(self.config)],
            self.env,
            self.root,
            lambda: self.challenge_code(action, offset) + "\n",
            check=check,
        )

    def resume(self, agent: str | None = None) -> None:
        """`cordon resume [--agent A]` with the code the engine shows."""
        if agent is None:
            self.guarded_cli("resume", action="resume all agents")
        else:
            self.guarded_cli("resume", "--agent", agent, action=f"resume agent {agent}")

    def deny(self, approval_id: str, reason: str) -> None:
        self.cli("deny", str(approval_id), "--reason", reason)

    def log(self, *, intents: bool = False) -> list[dict[str, Any]]:
        """One record per call, oldest first: the record that says how it ended (write-ahead
        evidence writes an intent before a call runs and an outcome after; the outcome carries
        every field of its intent). An intent nothing closes yet (a call in flight or held) stands
        for its call. `intents=True`: every record as stored."""
        data = self.cli_json("log", "list", "--json", "--limit", "1000000")
        assert isinstance(data, list), f"`cordon log list --json` is not a JSON array: {data!r}"
        data = sorted(data, key=lambda r: r.get("seq", 0))
        if intents:
            return data
        closed = {r["intent_id"] for r in data if r.get("intent_id")}
        return [r for r in data if not (r.get("phase") == "intent" and r["id"] in closed)]

    # ---- MCP clients -------------------------------------------------------------------------------

    def expected_tools(self) -> set[str]:
        probes = {"everything": "echo", "filesystem": "write_file", "git": "git_status"}
        return {f"{name}__{probes[name]}" for name in self.servers if name in probes}

    def stdio_params(self, agent: str = STDIO_AGENT) -> StdioServerParameters:
        return StdioServerParameters(
            command=str(cordon_bin()),
            args=["mcp", "--agent", agent, "--config", str(self.config)],
            env={k: v for k, v in self.env.items() if k.startswith(("XDG_", "CORDON_"))},
            cwd=str(self.root),
        )

    def new_stderr(self, kind: str) -> Path:
        self._stderr_counter += 1
        return self.root / f"{kind}-{self._stderr_counter}.stderr"

    @contextlib.asynccontextmanager
    async def stdio(
        self, agent: str = STDIO_AGENT, *, wait_tools: bool = True, initialize: bool = True, **session_options: Any
    ) -> AsyncIterator[ClientSession]:
        """An initialized SDK session through `cordon mcp --agent AGENT` (stderr kept for failures).
        `session_options` go to the SDK's ClientSession (e.g. `list_roots_callback`). With
        initialize=False the session is left for the test to negotiate (e.g. `discover()`)."""
        with open(self.new_stderr(f"mcp-{agent}"), "w") as errlog:
            async with stdio_client(self.stdio_params(agent), errlog=errlog) as (read, write):
                async with ClientSession(
                    read, write, read_timeout_seconds=CALL_TIMEOUT, **session_options
                ) as session:
                    if initialize:
                        await session.initialize()
                    if wait_tools:
                        await wait_for_tools(session, self.expected_tools())
                    yield session

    @contextlib.asynccontextmanager
    async def http(
        self, token: str | None = None, *, wait_tools: bool = True, initialize: bool = True, **session_options: Any
    ) -> AsyncIterator[ClientSession]:
        """An initialized SDK session over Streamable HTTP with `Authorization: Bearer TOKEN`.
        `session_options` go to the SDK's ClientSession (e.g. `list_roots_callback`). With
        initialize=False the session is left for the test to negotiate (e.g. `discover()`)."""
        assert self.url is not None, "this engine has no HTTP listener"
        await anyio.to_thread.run_sync(self.wait_tcp)
        headers = {"Authorization": f"Bearer {token or self.token}"}
        timeout = httpx2.Timeout(30.0, read=CALL_TIMEOUT)
        async with httpx2.AsyncClient(headers=headers, timeout=timeout) as client:
            async with streamable_http_client(self.url, http_client=client) as (read, write):
                async with ClientSession(
                    read, write, read_timeout_seconds=CALL_TIMEOUT, **session_options
                ) as session:
                    if initialize:
                        await session.initialize()
                    if wait_tools:
                        await wait_for_tools(session, self.expected_tools())
                    yield session


def make_repo(repo: Path) -> None:
    """A small git repository with one commit and a local identity (for git_commit)."""
    repo.mkdir(parents=True, exist_ok=True)

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=CLI_TIMEOUT)

    git("init", "-q", "-b", "main")
    git("config", "user.name", "Cordon E2E")
    git("config", "user.email", "e2e@example.com")
    git("config", "commit.gpgsign", "false")
    (repo / "README.md").write_text("# e2e repo\n")
    git("add", "README.md")
    git("commit", "-q", "-m", "initial commit for e2e")


async def wait_for_tools(session: ClientSession, names: set[str]) -> list[Any]:
    """Poll tools/list until every name is there (upstreams start asynchronously)."""
    deadline = time.monotonic() + READY_DEADLINE
    seen: list[str] = []
    while True:
        tools = (await session.list_tools()).tools
        seen = [t.name for t in tools]
        if names <= set(seen):
            return tools
        if time.monotonic() > deadline:
            raise AssertionError(f"tools {sorted(names - set(seen))} never listed; tools/list gave {seen}")
        await anyio.sleep(0.1)


@contextlib.asynccontextmanager
async def direct(command: Path, args: list[str], errlog_path: Path) -> AsyncIterator[ClientSession]:
    """An SDK session straight to an upstream (no Cordon): the baseline for 'identical results'."""
    with open(errlog_path, "w") as errlog:
        async with stdio_client(StdioServerParameters(command=str(command), args=args), errlog=errlog) as (r, w):
            async with ClientSession(r, w, read_timeout_seconds=CALL_TIMEOUT) as session:
                await session.initialize()
                yield session


class PendingCall:
    """A tools/call running in the background, so a test can act while Cordon holds it."""

    def __init__(self, session: ClientSession | None, name: str, arguments: dict[str, Any]) -> None:
        self.session = session
        self.name = name
        self.arguments = arguments
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = anyio.Event()

    async def run(self) -> None:
        try:
            self.result = await self.call()
        except Exception as err:  # the test inspects it
            self.error = err
        finally:
            self.done.set()

    async def call(self) -> Any:
        """The request itself (a subclass may send it another way, without an SDK session)."""
        assert self.session is not None
        return await self.session.call_tool(self.name, self.arguments, read_timeout_seconds=CALL_TIMEOUT)

    def describe(self) -> str:
        if self.error is not None:
            return f"raised {type(self.error).__name__}: {self.error}"
        if self.result is not None:
            shown = result_summary(self.result) if hasattr(self.result, "model_dump") else self.result
            return f"returned {shown}"
        return "still running"

    async def outcome(self) -> Any:
        """Wait for the call (bounded by CALL_TIMEOUT in the client) and return its result."""
        await self.done.wait()
        if self.error is not None:
            raise AssertionError(f"{self.name} {self.describe()}")
        return self.result


def _readable(fd: int, timeout: float) -> bool:
    """Whether `fd` has data within `timeout` seconds. poll, not select: select() refuses
    descriptors above 1024, which a test holding many sockets open (the connection flood) has."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(int(timeout * 1000)))


def _pty_child_setup() -> None:
    """In the child: a new session whose controlling terminal is the pty on fd 0."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _read_pty(master: int, proc: subprocess.Popen[bytes], deadline: float) -> bytes:
    out = b""
    while True:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"command on a pty did not finish; it showed:\n{out.decode(errors='replace')}")
        ready = _readable(master, 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out


def run_on_pty(
    argv: list[str], env: dict[str, str], cwd: Path, typed: str = "", check: bool = True
) -> tuple[int, str]:
    """Runs argv with a fresh pseudo-terminal as stdin/stdout/stderr and controlling terminal."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, preexec_fn=_pty_child_setup
        )
    finally:
        os.close(slave)
    try:
        if typed:
            os.write(master, typed.encode())
        out = _read_pty(master, proc, time.monotonic() + CLI_TIMEOUT)
        code = proc.wait(timeout=CLI_TIMEOUT)
    finally:
        os.close(master)
    shown = out.decode(errors="replace")
    if check and code != 0:
        raise AssertionError(f"`{' '.join(argv)}` on a terminal exited {code}:\n{shown}")
    return code, shown


def run_on_pty_interactive(
    argv: list[str], env: dict[str, str], cwd: Path, answer: Callable[[], str], check: bool = True
) -> tuple[int, str]:
    """Like run_on_pty, but types `answer()` once the command has asked for a code."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, preexec_fn=_pty_child_setup
        )
    finally:
        os.close(slave)
    try:
        shown = b""
        deadline = time.monotonic() + CLI_TIMEOUT
        while b"Code:" not in shown:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"`{' '.join(argv)}` never asked for a code:\n{shown.decode(errors='replace')}")
            ready = _readable(master, 0.2)
            if ready:
                shown += os.read(master, 4096)
        os.write(master, answer().encode())
        shown += _read_pty(master, proc, deadline)
        code = proc.wait(timeout=CLI_TIMEOUT)
    finally:
        os.close(master)
    text = shown.decode(errors="replace")
    if check and code != 0:
        raise AssertionError(f"`{' '.join(argv)}` on a terminal exited {code}:\n{text}")
    return code, text


async def cli_async(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))


async def wait_for_approval(
    engine: Engine, call: PendingCall, match: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Poll `cordon approvals --json` until an entry matches; fail if the call returns first (not held)."""
    deadline = time.monotonic() + POLL_DEADLINE
    listing: list[dict[str, Any]] = []
    while True:
        if call.done.is_set():
            raise AssertionError(
                f"{call.name}({call.arguments}) was not held for approval: it {call.describe()}\n"
                f"last approvals listing: {json.dumps(listing, indent=1)}"
            )
        listing = await cli_async(engine.approvals)
        found = [entry for entry in listing if match(entry)]
        if found:
            assert len(found) == 1, f"expected one pending approval for the call, got {json.dumps(found, indent=1)}"
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no pending approval for {call.name}({call.arguments}) within {POLL_DEADLINE}s\n"
                f"last listing: {json.dumps(listing, indent=1)}"
            )
        await anyio.sleep(POLL_INTERVAL * 2)


def mentions(path_or_text: Path | str) -> Callable[[dict[str, Any]], bool]:
    """An approvals matcher: the entry mentions this file (paths are unique per test)."""
    needle = str(path_or_text)
    return lambda entry: needle in json.dumps(entry)


def records_mentioning(records: list[dict[str, Any]], path: Path | str) -> list[dict[str, Any]]:
    """The evidence records whose args or target name this file (paths are unique per test)."""
    needle = str(path)
    return [r for r in records if needle in json.dumps(r.get("args")) or needle in str(r.get("target"))]


def rss_mib(engine: Engine) -> float:
    """The engine's resident memory now, in MiB (tests that bound what a flood can make it hold)."""
    assert engine.proc is not None
    return psutil.Process(engine.proc.pid).memory_info().rss / (1024 * 1024)


def everything_pids(engine: Engine) -> list[int]:
    """PIDs of the everything upstream (node) under this engine, found by command line."""
    assert engine.proc is not None
    found = []
    for child in psutil.Process(engine.proc.pid).children(recursive=True):
        try:
            cmdline = child.cmdline()
        except psutil.Error:
            continue
        if any("mcp-server-everything" in part for part in cmdline) and "node" in child.name():
            found.append(child.pid)
    return found


if sys.version_info < (3, 11):  # BaseExceptionGroup is builtin from 3.11
    raise RuntimeError("the e2e suite needs Python 3.11+")


class RawBridge:
    """`cordon mcp` driven by hand: lines in, parsed lines out, every read bounded."""

    def __init__(self, engine: Engine) -> None:
        self.stderr_path = engine.new_stderr("mcp-raw")
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [str(cordon_bin()), "mcp", "--agent", STDIO_AGENT, "--config", str(engine.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=engine.env,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(b"")

    def send(self, raw: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(raw + b"\n")
        self.proc.stdin.flush()

    def receive(self, *, skip_notifications: bool = True) -> dict[str, Any]:
        deadline = time.monotonic() + CALL_TIMEOUT
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no answer from cordon mcp within {CALL_TIMEOUT}s\n{self.stderr()}") from None
            if line == b"":
                raise AssertionError(f"cordon mcp closed stdout (exit {self.proc.poll()})\n{self.stderr()}")
            message = json.loads(line)
            if skip_notifications and "id" not in message:
                continue
            return message

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


@contextlib.contextmanager
def immutable(paths: list[Path]) -> Iterator[None]:
    """Makes `paths` unwritable even for root and even through descriptors already open
    (`chattr +i`: CI runs as root, which file modes do not stop); undone afterwards."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr (e2fsprogs) is missing")
    done: list[Path] = []
    try:
        for path in paths:
            proc = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                pytest.skip(f"cannot make {path.name} immutable here: {proc.stderr.strip()}")
            done.append(path)
        yield
    finally:
        for path in done:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)


def socket_request(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """One control request straight on the engine's socket (as `cordon` or a hostile process of the
    user sends it), and its one-line answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(CLI_TIMEOUT)
        sock.connect(str(engine.socket))
        sock.sendall((json.dumps(request) + "\n").encode())
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return json.loads(reply)
