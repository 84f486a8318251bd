"""Cordon on Windows, end to end under Wine (tests/windows/run builds cordon.exe and sets the env).

One engine (`wine cordon.exe serve`) with no upstream servers: Cordon's built-in workspace tools
and the shipped default policy. An official-SDK MCP client (the Python SDK, on Linux) spawns
`wine cordon.exe mcp` as its stdio server, reads a file (allowed), writes one (held for approval),
and the human approves it with `cordon.exe approve` over the named pipe. Then `log verify` checks
the evidence chain, and `cordon.exe status` reads the pipe's security descriptor back: owned by
the current user, a DACL granting that user alone; so is the ACL of the evidence directory the
engine created. A second engine on the same pipe is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

# The e2e harness's pseudo-terminal runner (the human's terminal).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from cordon_e2e import run_on_pty  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
WINE = os.environ.get("CORDON_WINE", "")
EXE = os.environ.get("CORDON_EXE", "")
# Hang guards, not speed assertions: Wine starts slowly, so the bounds are generous.
START_DEADLINE = 120.0
POLL_DEADLINE = 60.0
CLI_TIMEOUT = 60.0
AGENT = "wine-agent"
REVIEWER = "wine-reviewer@example.com"

pytestmark = pytest.mark.skipif(not (WINE and EXE), reason="run through tests/windows/run (needs Wine and cordon.exe)")


def winpath(path: Path) -> str:
    """The Windows view of a Linux path under Wine (drive Z: is the Unix root)."""
    return "Z:" + str(path).replace("/", "\\")


def wine_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["WINEDEBUG"] = "-all"
    env["CORDON_LOG"] = "info"
    return env


class WineEngine:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ws = root / "ws"
        self.ws.mkdir()
        (self.ws / "notes.txt").write_text("alpha\nbravo\n")
        self.policy = root / "default.yaml"
        shutil.copyfile(REPO / "policies" / "default.yaml", self.policy)
        self.config = root / "cordon.yaml"
        self.config.write_text(
            "\n".join(
                [
                    f"socket: {json.dumps(winpath(root / 'cordon.sock'))}",
                    f"policy: {json.dumps(winpath(self.policy))}",
                    # A directory the engine creates: it must restrict it to the current user.
                    f"evidence: {json.dumps(winpath(root / 'data' / 'evidence.db'))}",
                    f"signing_key: {json.dumps('file:' + winpath(root / 'signing.key'))}",
                    "approval_timeout: 120s",
                    f"reviewer: {json.dumps(REVIEWER)}",
                    "agents:",
                    f"  {AGENT}:",
                    f"    roots: [{json.dumps(winpath(self.ws))}]",
                    "servers: {}",
                    "workspace:",
                    f"  roots: [{json.dumps(winpath(self.ws))}]",
                ]
            )
            + "\n"
        )
        self.stderr = root / "serve.stderr"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.stderr, "ab") as err:
            self.proc = subprocess.Popen(
                [WINE, EXE, "serve", "--config", winpath(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                env=wine_env(),
                cwd=self.root,
            )
        deadline = time.monotonic() + START_DEADLINE
        last = None
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"cordon.exe serve exited {self.proc.returncode}\n{self.context()}"
            last = self.cli("status", "--json", check=False)
            if last.returncode == 0:
                return
            time.sleep(0.5)
        raise AssertionError(f"the engine's pipe did not answer within {START_DEADLINE}s\n{last}\n{self.context()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=20)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=20)

    def context(self) -> str:
        return f"--- config ---\n{self.config.read_text()}\n--- serve stderr ---\n{self.stderr.read_text(errors='replace')[-8000:]}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [WINE, EXE, *args, "--config", winpath(self.config)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            text=True,
            env=wine_env(),
            cwd=self.root,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"cordon.exe {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}\n{self.context()}"
            )
        return proc

    def cli_json(self, *args: str) -> Any:
        proc = self.cli(*args)
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"cordon.exe {' '.join(args)} printed no JSON:\n{proc.stdout}\n{proc.stderr}") from None

    def approval_code(self, approval_id: str) -> str:
        """The one-time code the engine printed on its own stderr for this held call (the test
        plays the human watching the console that runs `cordon.exe serve`)."""
        pattern = re.compile(
            rf"cordon: approval {re.escape(approval_id)} waiting: .* type code ([0-9A-Z]{{4}}-[0-9A-Z]{{4}})"
        )
        deadline = time.monotonic() + CLI_TIMEOUT
        while time.monotonic() < deadline:
            found = pattern.findall(self.stderr.read_text(errors="replace"))
            if found:
                return str(found[-1])
            time.sleep(0.1)
        raise AssertionError(f"the engine showed no code for approval {approval_id}\n{self.context()}")

    def approve(self, approval_id: str) -> str:
        """The human's side: `cordon.exe approve ID --code CODE` at a terminal (a pty, which Wine
        presents to the program as its console), with the code the engine showed."""
        code = self.approval_code(approval_id)
        argv = [WINE, EXE, "approve", approval_id, "--code", code, "--config", winpath(self.config)]
        status, shown = run_on_pty(argv, wine_env(), self.root, check=False)
        if status != 0:
            raise AssertionError(f"cordon.exe approve on a terminal exited {status}:\n{shown}\n{self.context()}")
        return shown


@pytest.fixture(scope="module")
def engine() -> Iterator[WineEngine]:
    root = Path(tempfile.mkdtemp(prefix="cordon-wine-"))
    eng = WineEngine(root)
    eng.start()
    try:
        yield eng
    finally:
        eng.stop()
        if not os.environ.get("CORDON_WINE_KEEP"):
            shutil.rmtree(root, ignore_errors=True)


def text_of(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") or "" for block in result.content)


def test_pipe_admits_only_the_current_user(engine: WineEngine) -> None:
    status = engine.cli_json("status", "--json")
    assert status["running"] is True, status
    assert status["pipe"].startswith("\\\\.\\pipe\\cordon-"), status
    sddl = status["sddl"]
    owner = re.match(r"O:(S-1-[0-9-]+)", sddl)
    assert owner, f"no user SID owns the pipe: {sddl}"
    sid = owner.group(1)
    dacl = sddl[sddl.index("D:") :]
    aces = re.findall(r"\(([^)]*)\)", dacl)
    assert aces, f"no DACL entries (a NULL DACL admits everyone): {sddl}"
    trustees = [ace.split(";")[5] for ace in aces if ace.split(";")[0] == "A"]
    assert trustees == [sid], f"the DACL admits more than the current user: {sddl}"
    assert "P" in dacl.split("(")[0], f"the DACL is not protected (inherited entries could widen it): {sddl}"
    assert status["only_user"] is True, status


def test_data_directory_is_private(engine: WineEngine) -> None:
    """The directory the engine created for its evidence gets a protected DACL for the current
    user alone (the counterpart of Unix's 0700). Wine maps it to the Unix mode and reads it back
    with SYSTEM added; nobody else (Everyone, Users) may appear."""
    status = engine.cli_json("status", "--json")
    sddl = status["data_sddl"]
    pipe_owner = re.match(r"O:(S-1-[0-9-]+)", status["sddl"])
    assert pipe_owner, status
    sid = pipe_owner.group(1)
    dacl = sddl[sddl.index("D:") :]
    aces = [ace.split(";") for ace in re.findall(r"\(([^)]*)\)", dacl)]
    assert aces, f"no DACL entries (a NULL DACL admits everyone): {sddl}"
    trustees = {ace[5] for ace in aces if ace[0] == "A"}
    assert sid in trustees, f"the user lost access to the data directory: {sddl}"
    assert trustees <= {sid, "SY", "BA"}, f"the data directory admits other users: {sddl}"
    assert status["data_private"] is True, status
    assert (engine.root / "data" / "evidence.db").exists()
    # Under Wine the DACL becomes the Unix mode: nothing for others (Wine gives the user's
    # group what the user has).
    assert (engine.root / "data").stat().st_mode & 0o007 == 0, oct((engine.root / "data").stat().st_mode)


def test_second_engine_on_the_same_pipe_is_refused(engine: WineEngine) -> None:
    proc = subprocess.run(
        [WINE, EXE, "serve", "--config", winpath(engine.config)],
        capture_output=True,
        text=True,
        env=wine_env(),
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert proc.returncode != 0, f"a second engine started on the same pipe:\n{proc.stdout}\n{proc.stderr}"
    assert "already running" in proc.stderr, proc.stderr
    # The first one still answers.
    assert engine.cli_json("status", "--json")["running"] is True


def test_sdk_client_read_allowed_write_held_and_approved(engine: WineEngine) -> None:
    target = engine.ws / "notes.txt"
    params = StdioServerParameters(
        command=WINE,
        args=[EXE, "mcp", "--agent", AGENT, "--config", winpath(engine.config)],
        env=wine_env(),
        cwd=str(engine.root),
    )

    async def scenario() -> None:
        with open(engine.root / "mcp.stderr", "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=180.0) as session:
                    await session.initialize()
                    tools = {t.name for t in (await session.list_tools()).tools}
                    assert {"cordon__file_read", "cordon__file_write"} <= tools, sorted(tools)
                    # run_command is refused on Windows, with the reason.
                    shell = await session.call_tool("cordon__run_command", {"command": "dir"})
                    assert shell.is_error, text_of(shell)
                    assert "not available on Windows" in text_of(shell), text_of(shell)

                    read_result = await session.call_tool("cordon__file_read", {"path": "notes.txt"})
                    assert not read_result.is_error, text_of(read_result)
                    assert "bravo" in text_of(read_result)

                    outcome: dict[str, Any] = {}

                    async def write_call() -> None:
                        outcome["result"] = await session.call_tool(
                            "cordon__file_write", {"path": "notes.txt", "content": "alpha\nBRAVO\n"}
                        )

                    async with anyio.create_task_group() as tg:
                        tg.start_soon(write_call)
                        deadline = time.monotonic() + POLL_DEADLINE
                        pending: list[dict[str, Any]] = []
                        while time.monotonic() < deadline and not pending:
                            assert "result" not in outcome, f"the write was not held: {outcome}"
                            listing = await anyio.to_thread.run_sync(engine.cli_json, "approvals", "--json")
                            pending = [e for e in listing if e.get("tool") == "file_write" or "notes.txt" in json.dumps(e)]
                            if not pending:
                                await anyio.sleep(0.5)
                        assert pending, f"no approval appeared within {POLL_DEADLINE}s\n{engine.context()}"
                        assert target.read_text() == "alpha\nbravo\n", "the held write already happened"
                        assert "+BRAVO" in (pending[0].get("diff") or ""), pending[0]
                        await anyio.to_thread.run_sync(engine.approve, str(pending[0]["id"]))
                    result = outcome["result"]
                    assert not result.is_error, text_of(result)
        assert target.read_text() == "alpha\nBRAVO\n"

    anyio.run(scenario)

    verify = engine.cli("log", "verify")
    assert "ok" in verify.stdout.lower(), verify.stdout
    records = engine.cli_json("log", "list", "--json")
    writes = [r for r in records if "notes.txt" in json.dumps(r) and r.get("outcome") == "approved"]
    assert writes and writes[0].get("reviewer") == REVIEWER, json.dumps(records, indent=1)
