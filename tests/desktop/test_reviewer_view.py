"""The reviewer's view on the real app (issue 19): a native `Write` held through `cordon hook
claude-code` is a diff in the window and in `cordon approvals --diff`, the notification says in words
what happens (with the rule's reason), and it is withdrawn from the screen when the call is decided
elsewhere (the CLI); a group bubble follows the count. The time from the hook call to the Notify on
the bus is printed (a figure for the notes, not an assertion). With no USER/LOGNAME, the app records
the OS account as the reviewer and says so."""

from __future__ import annotations

import json
import os
import pwd
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import cordon_e2e
from cordon_e2e import PendingCall, cordon_bin, run, text_of
from desktop import Desktop, Notifications, inner_text, js_text, wait_until

MINUS = "\u2212"


async def thread(fn, *args):  # noqa: ANN001, ANN202 - selenium is blocking: keep it off the event loop
    return await anyio.to_thread.run_sync(lambda: fn(*args))


def start_hook(engine: cordon_e2e.Engine, tool: str, tool_input: dict[str, Any], cwd: Path, session: str) -> subprocess.Popen[str]:
    """`cordon hook claude-code` as Claude Code runs it before a native tool (PreToolUse on stdin)."""
    payload = {
        "session_id": session,
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": tool_input,
        "cwd": str(cwd),
        "transcript_path": "",
        "tool_use_id": "t1",
    }
    proc = subprocess.Popen(
        [str(cordon_bin()), "hook", "claude-code", "--config", str(engine.config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=engine.env,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(payload))
    proc.stdin.close()
    proc.stdin = None  # sent: communicate() only reads the answer
    return proc


def hook_answer(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=60)
    answer = json.loads(out) if out.strip() else {}
    return answer.get("hookSpecificOutput", {}) | {"stderr": err}


def displayed() -> int:
    """How many bubbles dunst shows now."""
    out = subprocess.run(["dunstctl", "count", "displayed"], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def pending_matching(engine: cordon_e2e.Engine, needle: str) -> dict[str, Any]:
    return wait_until(
        f"a held call mentioning {needle}",
        lambda: next((p for p in engine.approvals() if needle in json.dumps(p)), None),
    )


def test_native_write_is_a_diff_in_words_and_withdrawn_when_denied_from_the_cli(desktop_app, notifications: Notifications) -> None:
    app: Desktop = desktop_app()
    engine = app.engine
    target = engine.files / "src" / "auth" / "login.ts"
    target.parent.mkdir(parents=True)
    target.write_text("export const a = 1;\nexport const check = () => false;\n")
    closes_before = len(notifications.closes())

    proc = start_hook(
        engine,
        "Write",
        {"file_path": str(target), "content": "export const a = 1;\nexport const check = () => true;\n"},
        engine.files,
        "review-write",
    )
    # In words, with the rule's reason; the taxonomy is not in the bubble.
    note = notifications.wait("Claude Code wants to change", f"login.ts (+1 {MINUS}1)")
    assert "File writes need developer review" in note, note
    assert "job.mcp-bridge" not in note and "native__Write" not in note, note
    held = pending_matching(engine, "login.ts")

    # The window shows the diff against the file on disk, not the JSON arguments.
    app.wait_css("#list li", "login.ts").click()
    app.wait_css("#headline", "Claude Code wants to change")
    diff = inner_text(app.wait_css("#effect .d2h-wrapper"))
    assert "() => false" in diff and "() => true" in diff, diff
    assert '"content"' not in js_text(app.driver, "#effect"), "raw JSON arguments instead of a diff"
    # Nothing beside the diff: the details box is only for a preview the diff leaves out.
    assert app.driver.execute_script("return document.getElementById('extra-box').hidden") is True
    app.screenshot("approval-native-write")

    # The CLI shows the same in words, and the diff with --diff.
    listing = engine.cli("approvals").stdout
    assert f"{held['id']}  Claude Code wants to change" in listing and "reason: File writes need developer review" in listing, listing
    assert "() => true" not in listing, listing
    with_diff = engine.cli("approvals", "--diff").stdout
    assert "-export const check = () => false;" in with_diff and "+export const check = () => true;" in with_diff, with_diff

    # The file changes under the reviewer: the window and the CLI say so.
    target.write_text("export const a = 1;\nexport const check = () => false;\n// edited meanwhile\n")
    app.wait_css("#changed", "changed on disk")
    assert "WARNING: the file changed on disk" in engine.cli("approvals").stdout

    # Denied from the terminal: the hook answers deny and the bubble is withdrawn from the screen.
    assert displayed() >= 1
    engine.deny(held["id"], "not now")
    answer = hook_answer(proc)
    assert answer.get("permissionDecision") == "deny", answer
    wait_until("a CloseNotification from the app", lambda: len(notifications.closes()) > closes_before)
    wait_until("no bubble left on screen", lambda: displayed() == 0)
    assert "edited meanwhile" in target.read_text(), "a denied write reached the file"


def test_words_for_commands_and_pushes_the_group_follows_decisions_and_latency(desktop_app, notifications: Notifications) -> None:
    app: Desktop = desktop_app()
    engine = app.engine
    repo = engine.files
    # One at a time (a second call within the burst window would be grouped): hook start to Notify.
    latencies: list[float] = []
    commands = [
        ("terraform apply", "Claude Code wants to run `terraform apply`"),
        ("git push origin fix/auth-bug", "Claude Code wants to push fix/auth-bug to origin"),
    ] * 3
    for i, (command, words) in enumerate(commands):
        before = len(notifications.calls())
        closes = len(notifications.closes())
        started = time.time()
        proc = start_hook(engine, "Bash", {"command": command}, repo, f"review-latency-{i}")
        note = wait_until(
            f"the notification for {command!r}",
            lambda words=words, before=before: next((c for c in notifications.calls()[before:] if words in c), None),
        )
        latencies.append(Notifications.time_of(note) - started)
        held = pending_matching(engine, command)
        engine.deny(held["id"], "latency probe")
        assert hook_answer(proc).get("permissionDecision") == "deny"
        wait_until("the bubble withdrawn", lambda closes=closes: len(notifications.closes()) > closes)
        time.sleep(1.2)  # past the burst window
    ms = sorted(round(x * 1000) for x in latencies)
    print(
        f"\nFIGURE hook call -> Notify on the bus (ms, includes starting `cordon hook`): "
        f"min {ms[0]} median {statistics.median(ms)} max {ms[-1]} all {ms}"
    )

    # A burst is one group bubble; it follows the count as calls are decided, then goes.
    burst = [engine.files / f"group-{i}.txt" for i in range(3)]

    async def scenario() -> None:
        async with engine.stdio("group-agent") as session:
            calls = [PendingCall(session, "filesystem__write_file", {"path": str(p), "content": "x\n"}) for p in burst]
            async with anyio.create_task_group() as tasks:
                for call in calls:
                    tasks.start_soon(call.run)
                await thread(notifications.wait, "3 calls waiting for approval")
                held = await thread(lambda: wait_until("3 held calls", lambda: [p for p in engine.approvals() if "group-" in json.dumps(p)] if len([p for p in engine.approvals() if "group-" in json.dumps(p)]) == 3 else None))
                closes = len(notifications.closes())
                await thread(engine.deny, held[0]["id"], "one")
                await thread(notifications.wait, "2 calls waiting for approval")
                for p in held[1:]:
                    await thread(engine.deny, p["id"], "rest")
                results = [await c.outcome() for c in calls]
                assert all(r.is_error for r in results), [text_of(r) for r in results]
                await thread(wait_until, "the group bubble withdrawn", lambda: len(notifications.closes()) > closes)
                await thread(wait_until, "no bubble left on screen", lambda: displayed() == 0)

    run(scenario)
    assert not any(p.exists() for p in burst)


def test_without_user_or_logname_the_app_records_the_os_account_and_says_so(tmp_path: Path, notifications: Notifications) -> None:
    subprocess.run(["dunstctl", "close-all"], check=False, capture_output=True)
    engine = cordon_e2e.Engine(tmp_path / "engine", label="reviewer fallback (desktop)", servers=("filesystem",), http=False, start=False)
    engine.write_config("\n".join(line for line in engine.config.read_text().splitlines() if not line.startswith("reviewer:")) + "\n")
    for key in ("USER", "USERNAME", "LOGNAME"):
        engine.env.pop(key, None)
    account = pwd.getpwuid(os.getuid()).pw_name
    app = Desktop(engine)
    try:
        target = engine.files / "who.txt"

        async def scenario() -> None:
            async with engine.stdio("who-agent") as session:
                call = PendingCall(session, "filesystem__write_file", {"path": str(target), "content": "me\n"})
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(call.run)
                    await thread(app.wait_css, "#list li", "who.txt")
                    await thread(app.click, "#list li")
                    await thread(app.click, "#approve")
                    assert not (await call.outcome()).is_error

        run(scenario)
        record = wait_until("the approved record", lambda: next((r for r in engine.log() if "who.txt" in (r.get("target") or "")), None))
        assert record["reviewer"] == account, record
        said = wait_until("the app saying which reviewer it records", lambda: "recorded as reviewer" in app.context() and app.context())
        assert f"`{account}`" in said and "OS account" in said, said[-2000:]
    finally:
        app.close()
        engine.stop()
