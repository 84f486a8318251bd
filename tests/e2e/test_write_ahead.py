"""Write-ahead evidence and evidence faults (issue 15), on the real binary.

A counting upstream (`bin/counting.py`) appends one line per call it performs. The tests compare
those side effects with the evidence: no side effect without an intent record (written before the
call is forwarded), no acknowledged call without its outcome record; a full disk refuses calls
(nothing runs unrecorded), the engine keeps running, reports the fault on its control socket and
recovers by itself; `kill -9` under load leaves intents that the next start closes as
`interrupted`, and `cordon log verify` passes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from cordon_e2e import (
    CLI_TIMEOUT,
    E2E,
    POLICIES,
    POLL_DEADLINE,
    POLL_INTERVAL,
    PYTHON,
    Engine,
    ServerSpec,
    immutable,
    run,
    socket_request,
    text_of,
    wait_for_tools,
)

COUNTING = E2E / "bin" / "counting.py"
POLICY = POLICIES / "write-ahead.yaml"
TOOL = "counting__touch"


def counting(effects: Path) -> dict[str, ServerSpec]:
    return {"counting": ServerSpec(PYTHON, [str(COUNTING)], {"E2E_SIDE_EFFECTS": str(effects)})}


def side_effects(effects: Path) -> list[str]:
    return effects.read_text().split() if effects.exists() else []


def ping(engine: Engine) -> dict[str, Any]:
    """`{"op":"ping"}` on the control socket: the engine's answer, with its evidence health."""
    return socket_request(engine, {"op": "ping"})


def records(engine: Engine) -> list[dict[str, Any]]:
    """Every record with its args (`cordon log export --format jsonl`, the config's database)."""
    out = engine.cli("log", "export", "--format", "jsonl").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def by_call(recs: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Intents of `touch` calls by the call's id argument, and the intent ids outcomes close."""
    intents = {
        r["args"]["id"]: r for r in recs if r.get("phase") == "intent" and r["tool"] == "touch"
    }
    closed = {r["intent_id"] for r in recs if r.get("phase") == "outcome"}
    return intents, closed


def verify(engine: Engine) -> dict[str, Any]:
    proc = engine.cli("log", "verify", "--json", check=False)
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["ok"], f"verify failed: {proc.stdout}\n{proc.stderr}"
    return report


async def call(session: Any, call_id: str, pad: str = "") -> tuple[bool, str]:
    result = await session.call_tool(TOOL, {"id": call_id, "pad": pad})
    return (not result.is_error, text_of(result))


def caller(
    engine: Engine, answered: list[str], refused: list[str] | None = None, withheld: list[str] | None = None
) -> Any:
    """`calls(n, pad=0)`: n calls of the counting tool in one session; answered call ids go to
    `answered`; calls refused because their intent could not be recorded (so never run) to
    `refused`; calls that ran but whose outcome could not be recorded (the result withheld from
    the agent) to `withheld`, when given (else they count as refused: a test that does not expect
    them fails). Every refusal must name the evidence fault."""

    async def calls(n: int, pad: int = 0) -> None:
        async with engine.stdio(wait_tools=False) as session:
            await wait_for_tools(session, {TOOL})
            for _ in range(n):
                call_id = uuid.uuid4().hex
                # Unique padding: every record carries new text the database must store.
                ok, text = await call(session, call_id, call_id * (pad // 32))
                if ok:
                    answered.append(call_id)
                elif refused is not None:
                    assert "evidence" in text, text
                    if withheld is not None and "result is withheld" in text:
                        withheld.append(call_id)
                    else:
                        assert "nothing was run" in text, text
                        refused.append(call_id)

    return calls


def test_allowed_call_leaves_an_intent_before_and_an_outcome_after(engine_factory: Any, tmp_path: Path) -> None:
    effects = tmp_path / "effects"
    engine = engine_factory(servers=(), http=False, policy=POLICY, extra_servers=counting(effects))
    call_id = uuid.uuid4().hex

    async def go() -> tuple[bool, str]:
        async with engine.stdio(wait_tools=False) as session:
            await wait_for_tools(session, {TOOL})
            return await call(session, call_id)

    ok, text = run(go)
    assert ok and text == f"done {call_id}", text
    assert side_effects(effects) == [call_id]
    recs = [r for r in records(engine) if r["tool"] == "touch"]
    assert [r.get("phase") for r in recs] == ["intent", "outcome"], recs
    intent, outcome = recs
    assert intent["outcome"] == "allowed" and intent["rule_id"] == "allow-touch"
    assert intent["agent"] == "e2e-stdio" and intent["args"]["id"] == call_id
    assert outcome["intent_id"] == intent["id"] and outcome["outcome"] == "allowed"
    assert outcome["seq"] > intent["seq"]
    report = verify(engine)
    assert report["intents"] >= 1 and report["open_intents"] == 0


def test_kill_9_under_load_no_side_effect_without_intent_no_answer_without_outcome(
    engine_factory: Any, tmp_path: Path
) -> None:
    effects = tmp_path / "effects"
    engine = engine_factory(servers=(), http=False, policy=POLICY, extra_servers=counting(effects))
    acknowledged: list[str] = []
    killed = anyio.Event()

    async def worker(n: int) -> None:
        with contextlib.suppress(Exception):
            async with engine.stdio(wait_tools=False) as session:
                await wait_for_tools(session, {TOOL})
                while not killed.is_set():
                    call_id = f"w{n}-{uuid.uuid4().hex}"
                    with anyio.move_on_after(10):
                        ok, _ = await call(session, call_id)
                        if ok:
                            acknowledged.append(call_id)
                        continue
                    return  # no answer after the kill

    async def killer() -> None:
        deadline = time.monotonic() + 60
        while len(acknowledged) < 60 and time.monotonic() < deadline:
            await anyio.sleep(POLL_INTERVAL)
        assert engine.proc is not None
        os.kill(engine.proc.pid, signal.SIGKILL)
        engine.proc.wait(timeout=10)
        killed.set()

    async def go() -> None:
        async with anyio.create_task_group() as tg:
            for n in range(4):
                tg.start_soon(worker, n)
            tg.start_soon(killer)

    run(go)
    assert len(acknowledged) >= 60, f"only {len(acknowledged)} calls answered before the kill"
    # The engine is dead: read what it left (the CLI opens the database read-only).
    effected = side_effects(effects)
    intents, closed = by_call(records(engine))
    unrecorded = [c for c in effected if c not in intents]
    assert not unrecorded, f"{len(unrecorded)} side effects without an intent record: {unrecorded[:5]}"
    unclosed = [c for c in acknowledged if intents.get(c, {}).get("id") not in closed]
    assert not unclosed, f"{len(unclosed)} answered calls without an outcome record: {unclosed[:5]}"
    open_before = {r["id"] for r in intents.values()} - closed
    # The next start closes what the kill left open as `interrupted`, and the chain verifies.
    engine.start()
    recs = records(engine)
    interrupted = {r["intent_id"] for r in recs if r.get("outcome") == "interrupted"}
    assert interrupted == open_before
    report = verify(engine)
    assert report["open_intents"] == 0, report


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs (the evidence's disk), unmounted afterwards. Needs root (CI runs as root)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def fill(disk: Path) -> Path:
    """Fills the disk up to the last byte; returns the filler file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size) > 0:
                    pass
    finally:
        os.close(fd)
    return filler


def poll(what: str, check: Any) -> Any:
    deadline = time.monotonic() + POLL_DEADLINE
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {POLL_DEADLINE}s")
        time.sleep(POLL_INTERVAL)


def answered_twice(engine_factory: Any, tmp_path: Path) -> tuple[Engine, Path, Any, list[str], list[str]]:
    """An engine in front of the counting upstream that has answered two calls: the engine, the
    side-effects file, `calls` (see `caller`, refusals counted) and the answered and refused call
    ids."""
    effects = tmp_path / "effects"
    engine = engine_factory(servers=(), http=False, policy=POLICY, extra_servers=counting(effects))
    refused: list[str] = []
    answered: list[str] = []
    calls = caller(engine, answered, refused)
    run(calls, 2)
    assert len(answered) == 2
    return engine, effects, calls, answered, refused


def assert_faulted(engine: Engine, refused: list[str], effects: Path) -> dict[str, Any]:
    """While the log cannot be written: the engine is up, says so, and no refused call ran."""
    assert engine.proc is not None and engine.proc.poll() is None, "the engine died"
    health = ping(engine)["evidence"]
    assert health["ok"] is False and health["error"], health
    assert not set(refused) & set(side_effects(effects)), "a refused call ran upstream"
    return health


def assert_recovers(engine: Engine, calls: Any, answered: list[str], effects: Path, n: int = 2) -> None:
    """Once the fault is gone: the health clears by itself, `n` more calls pass, every side effect
    has its intent, every answered call its outcome, and the chain verifies."""
    poll("the evidence health to clear", lambda: ping(engine)["evidence"]["ok"])
    before = len(answered)
    run(calls, n)
    assert len(answered) == before + n, "calls still refused once the fault cleared"
    intents, closed = by_call(records(engine))
    assert all(c in intents for c in side_effects(effects)), "a side effect without an intent"
    assert all(intents[c]["id"] in closed for c in answered), "an answered call without outcome"
    verify(engine)


def test_full_disk_refuses_calls_keeps_running_reports_and_recovers(
    engine_factory: Any, tmp_path: Path, small_disk: Path
) -> None:
    effects = tmp_path / "effects"
    engine = engine_factory(
        servers=(),
        http=False,
        policy=POLICY,
        extra_servers=counting(effects),
        evidence=small_disk / "evidence.db",
    )
    refused: list[str] = []
    answered: list[str] = []
    # A call whose intent fitted and whose outcome did not has run: its result is withheld from
    # the agent, and its intent (durable before it ran) is its record.
    withheld: list[str] = []
    calls = caller(engine, answered, refused, withheld)

    run(calls, 3, 0)
    assert len(answered) == 3 and ping(engine)["evidence"]["ok"] is True
    filler = fill(small_disk)
    run(calls, 20, 48 * 1024)
    assert refused, "no call was refused on a full disk"
    health = assert_faulted(engine, refused, effects)
    assert health["failed_appends"] >= 1, health
    # The fault clears by itself once the disk has room again.
    filler.unlink()
    assert_recovers(engine, calls, answered, effects, n=3)
    intents, _ = by_call(records(engine))
    assert all(c in intents for c in withheld), "a withheld call ran without its intent"


@pytest.mark.parametrize("fault", ["full disk", "read-only database"])
def test_an_engine_started_on_an_unwritable_log_stands_by_and_serves_once_it_can_write(
    engine_factory: Any, tmp_path: Path, request: pytest.FixtureRequest, fault: str
) -> None:
    """A start (a login, a restart) that finds the evidence's disk full or its database read-only
    used to exit ("disk I/O error"): no engine to ask why, and nobody to start it again. It must
    stand by on its socket: `ping` and `cordon status` say why; a call through the bridge, a
    native hook call and an approval are refused with that reason, and nothing runs upstream;
    once the log can be written the engine starts by itself, the same bridge session's next call
    passes, and the chain verifies."""
    effects = tmp_path / "effects"
    disk = request.getfixturevalue("small_disk") if fault == "full disk" else None
    engine = engine_factory(
        servers=(),
        http=True,
        policy=POLICY,
        extra_servers=counting(effects),
        **({"evidence": disk / "evidence.db"} if disk else {}),
    )
    answered: list[str] = []
    run(caller(engine, answered), 2)
    assert len(answered) == 2
    engine.stop()
    # A stop may leave SQLite's -wal and -shm behind (already allocated: on a full disk the next
    # start could then write into them). Fold them away, as the last connection closing does, so
    # the start has to allocate, and fails, as after a clean shutdown.
    folder = sqlite3.connect(str(engine.evidence))
    folder.execute("SELECT count(*) FROM sqlite_master").fetchall()  # opens the files for real
    folder.close()
    assert not Path(f"{engine.evidence}-wal").exists() and not Path(f"{engine.evidence}-shm").exists()
    faults = contextlib.ExitStack()
    if disk:
        faults.callback(fill(disk).unlink)
    else:
        faults.enter_context(immutable([Path(str(engine.evidence))]))
    with faults:
        engine.start_process()
        # The reason names the fault, not only SQLite's "disk I/O error".
        standby_with(engine, effects, faults.close, "is full" if disk else "readonly")
    intents, closed = by_call(records(engine))
    assert "during-standby" not in intents
    assert all(c in intents for c in side_effects(effects)), "a side effect without an intent"
    assert all(r["id"] in closed for r in intents.values()), "an intent left open"
    verify(engine)


class SessionKeychain:
    """A D-Bus session bus and gnome-keyring of the test's own for `engine`, whose config is made
    to keep its signing key in the keychain: `start()` brings both up (the bus's log, where
    service activations are written, in `log`), `close()` ends them."""

    def __init__(self, engine: Engine, root: Path) -> None:
        for tool in ("dbus-daemon", "gnome-keyring-daemon", "gdbus"):
            if shutil.which(tool) is None:
                pytest.skip(f"{tool} is missing (scripts/install-deps installs it)")
        text = engine.config.read_text()
        key_line = next(line for line in text.splitlines() if line.startswith("signing_key:"))
        engine.write_config(text.replace(key_line, "signing_key: keychain"))
        self.bus = root / "bus"
        self.log = root / "bus.log"
        self.home = root / "keyring-home"
        self.home.mkdir(mode=0o700)
        engine.env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={self.bus}"
        engine.env["XDG_DATA_HOME"] = str(self.home)
        self.env = engine.env
        self.helpers: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        with open(self.log, "wb") as log:
            self.helpers.append(subprocess.Popen(
                ["dbus-daemon", "--session", "--nofork", f"--address=unix:path={self.bus}"],
                env=self.env, stdout=subprocess.DEVNULL, stderr=log,
            ))
        poll("the session bus", self.bus.exists)
        keyring = subprocess.run(
            ["gnome-keyring-daemon", "--unlock", "--components=secrets"],
            input=b"cordon-test", env=self.env, capture_output=True, check=False,
        )
        assert keyring.returncode == 0, keyring.stderr

    def lock(self) -> None:
        """Locks the login collection, as a screen lock or a login without the password does."""
        locked = subprocess.run(
            ["gdbus", "call", "--session", "--dest", "org.freedesktop.secrets", "--object-path",
             "/org/freedesktop/secrets", "--method", "org.freedesktop.Secret.Service.Lock",
             "['/org/freedesktop/secrets/collection/login']"],
            env=self.env, capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False,
        )
        assert locked.returncode == 0, locked.stderr

    def prompts(self) -> int:
        """How often gnome-keyring has asked for its prompter (one activation per prompt)."""
        return self.log.read_text(errors="replace").count("name='org.gnome.keyring.SystemPrompter'")

    def close(self) -> None:
        for helper in self.helpers:
            helper.terminate()
            helper.wait(timeout=10)
        subprocess.run(["pkill", "-f", f"gnome-keyring-daemon.*{self.home}"], check=False)


def test_an_engine_started_before_the_keychain_stands_by_until_it_is_there(
    engine_factory: Any, tmp_path: Path
) -> None:
    """At a login the tray app may start before the Secret Service that holds the evidence
    signing key: the engine used to exit ("no OS keychain reachable") and stay gone. It must
    stand by, refusing everything with that reason, and start once a keychain answers on its
    D-Bus session (here: a session bus and gnome-keyring started after the engine)."""
    effects = tmp_path / "effects"
    engine = engine_factory(servers=(), http=False, policy=POLICY, extra_servers=counting(effects))
    engine.stop()
    keychain = SessionKeychain(engine, tmp_path)
    engine.start_process()
    try:
        standby_with(engine, effects, keychain.start, "no OS keychain reachable")
    finally:
        engine.stop()
        keychain.close()


def test_a_locked_keychain_is_tried_again_slowly_so_its_prompt_does_not_come_back_every_second(
    engine_factory: Any, tmp_path: Path
) -> None:
    """A keychain that is there but locked (its unlock prompt dismissed, or none can be shown) is
    a standby too, but each try asks the keychain to prompt again: retried every second, a user
    who dismissed the prompt got it back every second. The engine must say the keychain is
    locked (not "no keychain reachable") and try again every minute, so gnome-keyring is asked
    for its prompter once in this test's seconds, not once a second."""
    engine = engine_factory(servers=(), http=False, start=False)
    keychain = SessionKeychain(engine, tmp_path)
    try:
        keychain.start()
        # Unlocked: the engine makes its signing key there and serves.
        engine.start_process()
        assert "standby" not in ping(engine), ping(engine)
        engine.stop()
        keychain.lock()
        prompts_before = keychain.prompts()
        engine.start_process()
        why = ping(engine).get("standby", "")
        assert "locked" in why and "every minute" in why, why
        assert "no OS keychain reachable" not in why, why
        time.sleep(6)
        prompts = keychain.prompts() - prompts_before
        # It fails at once here, with no display: a dismissed prompt. The first try asked; none
        # since.
        assert 1 <= prompts <= 2, f"the keychain was asked to prompt {prompts} times in 6 s\n{keychain.log.read_text()}"
        hook = socket_request(engine, {"op": "hook", "agent": "claude-code", "session_id": "s1", "tool": "Bash",
                                "args": {"command": "touch /tmp/never"}, "cwd": str(engine.root)})
        assert hook["decision"] == "deny" and "locked" in hook["reason"], hook
    finally:
        engine.stop()
        keychain.close()


def http_post_raw(url: str, token: str) -> tuple[int, dict[str, Any]]:
    """One JSON-RPC `ping` POSTed to `url`: the status and the JSON body."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url,
        data=b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "Accept": "application/json, text/event-stream"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def standby_with(engine: Engine, effects: Path, clear: Any, named: str) -> None:
    """The engine just started on a log it cannot write: it stands by and says why, refuses a
    hook, an approval and a bridge call with that reason; `clear()` ends the fault, and the same
    bridge session's calls pass once the engine has started by itself."""

    standby = ping(engine)
    assert standby["ok"] is True and standby["evidence"]["ok"] is False, standby
    why = standby["standby"]
    assert "cannot record evidence" in why and named in why, standby
    status = engine.cli("status", check=False)
    assert status.returncode != 0 and "STANDING BY" in status.stdout, status.stdout
    hook = socket_request(engine, {"op": "hook", "agent": "claude-code", "session_id": "s1", "tool": "Bash",
                            "args": {"command": "touch /tmp/never"}, "cwd": str(engine.root)})
    assert hook["ok"] is True and hook["decision"] == "deny" and why in hook["reason"], hook
    approve = socket_request(engine, {"op": "approve", "id": "a1", "code": "123456"})
    assert approve["ok"] is False and why in approve["error"], approve
    if engine.url:
        # HTTP answers 503 with a JSON-RPC error, without details (no token is checked yet).
        status, body = http_post_raw(engine.url, engine.token)
        assert status == 503 and "cannot record evidence" in body["error"]["message"], (status, body)
        assert "evidence.db" not in json.dumps(body), body

    async def standby_then_served() -> list[tuple[bool, str]]:
        results: list[tuple[bool, str]] = []
        async with engine.stdio(wait_tools=False) as session:
            results.append(await call(session, "during-standby"))
            clear()
            deadline = time.monotonic() + POLL_DEADLINE
            while time.monotonic() < deadline:
                ok, text = await call(session, uuid.uuid4().hex)
                results.append((ok, text))
                if ok:
                    break
                await anyio.sleep(POLL_INTERVAL)
        return results

    results = run(standby_then_served)
    ok, text = results[0]
    assert not ok and why in text, f"a call during the standby was not refused with its reason: {text}"
    assert "during-standby" not in side_effects(effects), "a call ran upstream during the standby"
    assert results[-1][0], f"the engine never served once the disk had room: {results[-1][1]}"
    assert "standby" not in ping(engine) and ping(engine)["evidence"]["ok"] is True
    if engine.url:
        # The port the standby held now serves MCP.

        async def over_http() -> bool:
            async with engine.http(wait_tools=False) as session:
                await wait_for_tools(session, {TOOL})
                return (await call(session, uuid.uuid4().hex))[0]

        assert run(over_http), "a call over HTTP failed once the engine ran"


def test_truncated_shm_does_not_crash_the_engine(engine_factory: Any, tmp_path: Path) -> None:
    """Another process truncating `evidence.db-shm` (or making it unusable) must not kill the engine
    (it used to with SIGBUS): calls are answered or refused, and the engine stays up."""
    effects = tmp_path / "effects"
    engine = engine_factory(servers=(), http=False, policy=POLICY, extra_servers=counting(effects))
    answered: list[str] = []
    calls = caller(engine, answered)

    run(calls, 2)
    shm = Path(str(engine.evidence) + "-shm")
    if shm.exists():
        os.truncate(shm, 0)
    run(calls, 5)
    assert engine.proc is not None and engine.proc.poll() is None, "the engine died"
    assert ping(engine)["ok"] is True
    intents, _ = by_call(records(engine))
    assert all(c in intents for c in side_effects(effects)), "a side effect without an intent"


def test_a_process_locking_the_log_refuses_calls_until_it_lets_go(engine_factory: Any, tmp_path: Path) -> None:
    """Any process of the agent's user can open the evidence database and hold a write lock on it
    (here: Python's sqlite3 with `BEGIN EXCLUSIVE`, as an agent's script would). While it does, no
    call may run unrecorded: every call is refused with the evidence fault, nothing reaches the
    upstream, the engine stays up and says so; once the lock is released, calls pass again and the
    chain verifies."""

    engine, effects, calls, answered, refused = answered_twice(engine_factory, tmp_path)
    locker = sqlite3.connect(str(engine.evidence), timeout=30, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        run(calls, 3)
        assert len(refused) == 3, f"calls passed while the log was locked: {answered[2:]}"
        assert_faulted(engine, refused, effects)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert_recovers(engine, calls, answered, effects)


def test_a_read_only_database_refuses_calls_from_two_clients_and_recovers(
    engine_factory: Any, tmp_path: Path
) -> None:
    """The issue's measurement: with the database made read-only while two clients call an
    allowed tool, every call ran upstream and none was recorded. Now: no call runs unrecorded
    (every call is refused with the evidence fault, nothing reaches the upstream), the engine stays
    up and reports the fault, and recovers by itself once the files are writable again."""
    engine, effects, calls, answered, refused = answered_twice(engine_factory, tmp_path)
    database = Path(str(engine.evidence))
    # The database and its write-ahead log (the `-shm` index is memory the engine maps: it stays).
    with immutable([database, Path(str(database) + "-wal")]):

        async def two_clients() -> None:
            async with anyio.create_task_group() as group:
                group.start_soon(calls, 10)
                group.start_soon(calls, 10)

        run(two_clients)
        assert len(refused) == 20, f"calls passed while the log was read-only: {answered[2:]}"
        assert_faulted(engine, refused, effects)
    assert_recovers(engine, calls, answered, effects)


LOG_FILES = ("", "-wal")


def displace(database: Path, how: str) -> None:
    """What any process of the agent's user can do to the log's files while the engine runs."""
    if how == "removed":  # `rm evidence.db*`
        for suffix in (*LOG_FILES, "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    elif how == "moved":  # the files moved aside, to come back later
        for suffix in LOG_FILES:
            os.rename(f"{database}{suffix}", f"{database}.aside{suffix}")
    elif how == "replaced":  # a copy renamed over the original (an editor's save, or a forger)
        copy = database.with_name("forged.db")
        with sqlite3.connect(str(database)) as src, sqlite3.connect(str(copy)) as dst:
            src.backup(dst)
        os.rename(copy, database)
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["removed", "moved", "replaced"])
def test_a_log_removed_moved_or_replaced_under_the_engine_refuses_calls(
    engine_factory: Any, tmp_path: Path, how: str
) -> None:
    """SQLite goes on writing to the files it has open: with the log removed, moved or replaced
    under a running engine, records would land where `cordon log` never reads (and vanish with
    the files), so calls would run unrecorded. Every call is refused with the evidence fault
    instead, nothing reaches the upstream, the engine stays up and names the file; a log moved
    aside and put back clears the fault by itself."""
    engine, effects, calls, answered, refused = answered_twice(engine_factory, tmp_path)
    database = Path(str(engine.evidence))
    displace(database, how)
    run(calls, 3)
    assert len(refused) == 3, f"calls passed with the log {how}: {answered[2:]}"
    health = assert_faulted(engine, refused, effects)
    assert str(database) in health["error"] and how.rstrip("d") in health["error"], health
    if how == "moved":
        for suffix in LOG_FILES:
            os.rename(f"{database}.aside{suffix}", f"{database}{suffix}")
        assert_recovers(engine, calls, answered, effects)
