"""Harness of the real-agents suite: a scratch user (HOME) with Cordon at its default config
location, `cordon agents install`, the real agent CLI driven by a scripted fake model, and a
reviewer that answers the held calls through the CLI (`cordon approvals/approve/deny`).

Nothing here imitates an agent: the CLIs are the pinned npm packages in ./node_modules, launched
as a user would, with only what `cordon agents install` wrote into their configuration.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fakemodel

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NODE_BIN = HERE / "node_modules" / ".bin"
REVIEWER = "agents-e2e@example.com"
# Hang guards, not speed assertions.
READY_DEADLINE = 60.0
AGENT_DEADLINE = 240.0
CLI_TIMEOUT = 60.0


def cordon_bin() -> Path:
    """The binary under test: $CORDON_BIN, else $CARGO_TARGET_DIR/debug/cordon, else target/debug."""
    if os.environ.get("CORDON_BIN"):
        path = Path(os.environ["CORDON_BIN"])
    elif os.environ.get("CARGO_TARGET_DIR"):
        path = Path(os.environ["CARGO_TARGET_DIR"]) / "debug" / "cordon"
    else:
        path = REPO / "target" / "debug" / "cordon"
    assert path.is_file(), f"cordon binary not found at {path}: run `cargo build -p cordon-cli` or set CORDON_BIN"
    return path.resolve()


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"$ {' '.join(map(str, proc.args))}\nexit {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"


class User:
    """A scratch user: HOME with a git workspace (and a bare `origin`), Cordon's config at
    `~/.config/cordon/config.yaml` and `cordon serve` running with the user's environment."""

    def __init__(self, label: str, extra_config: str = "") -> None:
        self.label = label
        self.extra_config = extra_config
        # Short: the control socket lives under it (Unix socket paths are limited to ~100 bytes).
        self.home = Path(tempfile.mkdtemp(prefix="cag-", dir="/tmp"))
        self.ws = self.home / "work"
        self.origin = self.home / "origin.git"
        self.serve: subprocess.Popen[bytes] | None = None
        self.serve_log = self.home / "serve.log"
        self.make_workspace()
        self.write_config()

    # ---- environment ---------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The user's environment: HOME is the scratch dir, no XDG overrides (the defaults apply),
        no CORDON_CONFIG, and Cordon is *not* on PATH (agents must use the absolute path)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "CORDON_", "ANTHROPIC_", "OPENAI_", "GEMINI_", "GOOGLE_", "CLAUDE"))}
        env["HOME"] = str(self.home)
        env["PATH"] = f"{NODE_BIN}:/usr/local/bin:/usr/bin:/bin"
        env["CORDON_LOG"] = "info"
        env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "E2E"
        env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "e2e@example.com"
        return env

    def make_workspace(self) -> None:
        self.ws.mkdir()
        (self.ws / "notes.txt").write_text("The launch code word is PELICAN-42.\n")
        (self.ws / ".env").write_text("AWS_SECRET_ACCESS_KEY=never-leaves-this-file\n")
        git = lambda *a, cwd=self.ws: subprocess.run(["git", *a], cwd=cwd, check=True, capture_output=True, env=self.env())  # noqa: E731
        subprocess.run(["git", "init", "--bare", "-b", "main", str(self.origin)], check=True, capture_output=True)
        git("init", "-b", "main")
        # `.env` stays untracked and not ignored (the Gemini CLI refuses ignored files itself,
        # before its hook: the suite wants Cordon's refusal).
        git("add", "notes.txt")
        git("commit", "-m", "seed")
        git("remote", "add", "origin", str(self.origin))
        git("push", "origin", "main")

    def write_config(self) -> None:
        config = self.home / ".config" / "cordon" / "config.yaml"
        config.parent.mkdir(parents=True)
        config.write_text(
            "\n".join(
                [
                    f"# the scratch user of tests/agents ({self.label})",
                    # No D-Bus keychain in every test environment: the signing key in a file.
                    f"signing_key: {json.dumps('file:' + str(self.home / 'signing.key'))}",
                    "approval_timeout: 180s",
                    f"reviewer: {json.dumps(REVIEWER)}",
                    "workspace:",
                    f"  roots: [{json.dumps(str(self.ws))}]",
                    "  identity: {name: E2E, email: e2e@example.com}",
                    "servers: {}",
                    self.extra_config,
                ]
            )
        )
        # The user's alone, as a config holding an HTTP agent's token must be (the engine refuses
        # one other users can read).
        config.chmod(0o600)

    @property
    def socket(self) -> Path:
        return self.home / ".local" / "share" / "cordon" / "cordon.sock"

    # ---- Cordon --------------------------------------------------------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(cordon_bin()), *args], capture_output=True, text=True, env=self.env(), cwd=self.home, timeout=CLI_TIMEOUT, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"cordon CLI failed\n{describe(proc)}\n{self.context()}")
        return proc

    def approve(self, approval_id: str) -> None:
        """Approves as a human must (issue 14): on a terminal (`script` gives `cordon approve` a
        pty) with the one-time code `cordon serve` printed on its own stderr for this call."""
        pattern = re.compile(rf"cordon: approval {re.escape(approval_id)} waiting: .* type code (\S+)$", re.M)
        deadline = time.monotonic() + 30
        while not (found := pattern.findall(self.serve_log.read_text(errors="replace"))):
            assert time.monotonic() < deadline, f"no code shown for approval {approval_id}\n{self.context()}"
            time.sleep(0.05)
        command = shlex.join([str(cordon_bin()), "approve", approval_id, "--code", found[-1]])
        proc = subprocess.run(
            ["script", "-qec", command, "/dev/null"], capture_output=True, text=True, env=self.env(), cwd=self.home, timeout=60, check=False
        )
        assert proc.returncode == 0, describe(proc)

    def cli_json(self, *args: str) -> Any:
        proc = self.cli(*args)
        return json.loads(proc.stdout)

    def start(self) -> None:
        log = open(self.serve_log, "ab")  # noqa: SIM115 - the child keeps it
        self.serve = subprocess.Popen([str(cordon_bin()), "serve"], stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env(), cwd=self.home, start_new_session=True)
        deadline = time.monotonic() + READY_DEADLINE
        while time.monotonic() < deadline:
            assert self.serve.poll() is None, f"`cordon serve` exited early\n{self.context()}"
            if self.socket.exists():
                try:
                    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                        s.connect(str(self.socket))
                    return
                except OSError:
                    pass
            time.sleep(0.1)
        raise AssertionError(f"no engine socket at {self.socket}\n{self.context()}")

    def stop(self) -> None:
        if self.serve is not None and self.serve.poll() is None:
            os.killpg(self.serve.pid, signal.SIGTERM)
            try:
                self.serve.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.serve.pid, signal.SIGKILL)
                self.serve.wait(timeout=10)

    def cleanup(self) -> None:
        self.stop()
        if os.environ.get("CORDON_AGENTS_KEEP"):
            print(f"kept {self.home}")  # noqa: T201 - debugging aid
            return
        shutil.rmtree(self.home, ignore_errors=True)

    def context(self) -> str:
        text = self.serve_log.read_text(errors="replace") if self.serve_log.exists() else ""
        return f"--- cordon serve ({self.serve_log})\n{text[-8000:]}"

    def approvals(self) -> list[dict[str, Any]]:
        return self.cli_json("approvals", "--json")

    def log(self) -> list[dict[str, Any]]:
        return sorted(self.cli_json("log", "list", "--json"), key=lambda r: r.get("seq", 0))

    def outcomes(self) -> list[dict[str, Any]]:
        """One record per call: its outcome (the write-ahead intent record left out)."""
        return [r for r in self.log() if r.get("phase") != "intent"]


Reviewer = Callable[[dict[str, Any]], tuple[str, str]]
"""Decides one held call: ("approve", "") or ("deny", reason)."""


class Run:
    """One agent session: its output, the model's requests and the approvals answered."""

    def __init__(self, proc: subprocess.CompletedProcess[str], requests: list[dict[str, Any]], answered: list[tuple[dict[str, Any], str]]) -> None:
        self.proc = proc
        self.requests = requests
        self.answered = answered

    def main_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("step") is not None]

    def result_of(self, step: int) -> str:
        """What the agent sent the model after step `step`'s tool call: the text of the request
        that consumed the next step (it carries the tool's result), as JSON text."""
        for r in self.main_requests():
            if r["step"] == step + 1:
                return json.dumps(r["body"])
        raise AssertionError(f"the model never received a request after step {step}\n{self.describe()}")

    def fresh_result_of(self, step: int) -> str:
        """The part of the request after step `step` that was not in the one before it: the tool
        result of that step (and nothing the model had already seen)."""
        after = self.result_of(step)
        before = next(json.dumps(r["body"]) for r in self.main_requests() if r["step"] == step)
        # Agents resend the whole history: what is new sits after the common prefix's content.
        i = 0
        limit = min(len(after), len(before))
        while i < limit and after[i] == before[i]:
            i += 1
        return after[max(0, i - 200):]

    def describe(self) -> str:
        steps = [(r["step"], r["path"]) for r in self.requests]
        return f"{describe(self.proc)}\nrequests (step, path): {steps}\nanswered: {[(a.get('tool'), a.get('target'), d) for a, d in self.answered]}"


def run_agent(user: User, argv: list[str], extra_env: dict[str, str], steps: list[dict[str, Any]], reviewer: Reviewer, tag: str) -> Run:
    """Runs `argv` (an agent CLI) in the workspace with the fake model serving `steps`, answering
    every held call with `reviewer` until the agent exits."""
    log = user.home / f"model-{tag}.jsonl"
    server, scenario = fakemodel.serve(steps, log)
    port = server.server_address[1]
    env = user.env() | {k: v.replace("{port}", str(port)) for k, v in extra_env.items()}
    argv = [a.replace("{port}", str(port)) for a in argv]
    out_path, err_path = user.home / f"{tag}.stdout", user.home / f"{tag}.stderr"
    answered: list[tuple[dict[str, Any], str]] = []
    seen: set[str] = set()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(argv, cwd=user.ws, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        deadline = time.monotonic() + AGENT_DEADLINE
        try:
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{tag}: the agent did not finish within {AGENT_DEADLINE}s")
                for pending in user.approvals():
                    if pending["id"] in seen:
                        continue
                    seen.add(pending["id"])
                    verdict, reason = reviewer(pending)
                    if verdict == "approve":
                        user.approve(pending["id"])
                    else:
                        user.cli("deny", pending["id"], "--reason", reason)
                    answered.append((pending, verdict))
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            server.shutdown()
    completed = subprocess.CompletedProcess(argv, proc.returncode, out_path.read_text(errors="replace"), err_path.read_text(errors="replace"))
    return Run(completed, scenario.requests(), answered)
