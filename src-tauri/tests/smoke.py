"""Headless smoke test of the real desktop app (run by `scripts/desktop smoke` inside
`xvfb-run -a dbus-run-session`): a notification daemon (dunst) and a D-Bus monitor on the session
bus, the app with a temp config hosting the engine, and an MCP client (the official Python SDK
through `cordon mcp`) whose `write_file` is held for approval.

Checks: the app stays up; the held write raises a real Notify call naming agent, action and target;
the notification's default action opens the approval window (screenshot); the `a` shortcut in the
window approves and the client's call completes with the file written; a second write denied with
`d` + a reason + Enter returns isError; a burst of three writes gives one grouped notification; SIGTERM (the
same path as the tray's Quit) with calls held refuses them and the app exits 0; the evidence log names the configured reviewer.
Every wait is a poll with a generous deadline; nothing depends on speed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
E2E = REPO / "tests" / "e2e"
APP = Path(os.environ["SMOKE_APP"])
CORDON = Path(os.environ["CORDON_BIN"])
OUT = Path(os.environ.get("SMOKE_OUT", REPO / "docs" / "screenshots"))
DEADLINE = 60.0
AGENT = "smoke-agent"

results: list[tuple[str, bool, str]] = []
procs: list[subprocess.Popen] = []


def check(name: str, ok: bool, detail: str = "") -> bool:
    results.append((name, ok, detail))
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else ""), flush=True)
    return ok


def wait_until(what: str, probe, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


def spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    procs.append(proc)
    return proc


def screenshot(name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=30)
    return path


def press(wid: str, *keys: str, text: str | None = None) -> None:
    """Focuses the window (no window manager under Xvfb: plain X input focus) and sends real
    key events through XTEST, as a person typing would."""
    subprocess.run(["xdotool", "windowfocus", "--sync", wid], check=False, timeout=30)
    if text is not None:
        subprocess.run(["xdotool", "type", "--delay", "20", text], check=False, timeout=30)
    if keys:
        subprocess.run(["xdotool", "key", *keys], check=False, timeout=30)


def window_ids(title_part: str) -> list[str]:
    out = subprocess.run(["xdotool", "search", "--name", title_part], capture_output=True, text=True)
    return out.stdout.split()


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="cdsmoke-", dir="/tmp"))
    files = root / "files"
    files.mkdir()
    env = dict(os.environ)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "XDG_STATE_HOME"):
        path = root / var.lower()
        path.mkdir(mode=0o700)
        env[var] = str(path)
    env.pop("CORDON_CONFIG", None)
    env["CORDON_LOG"] = "info"
    policy = root / "e2e.yaml"
    shutil.copyfile(E2E / "policies" / "e2e.yaml", policy)
    config = root / "cordon.yaml"
    config.write_text(
        f'socket: "{root}/c.sock"\npolicy: "{policy}"\nevidence: "{root}/evidence.db"\n'
        f'signing_key: "file:{root}/signing.key"\nkeychain_service: cordon-desktop-smoke\n'
        "approval_timeout: 120s\nreviewer: smoke-reviewer@example.com\n"
        "servers:\n  filesystem:\n"
        f'    command: "{E2E / "node_modules" / ".bin" / "mcp-server-filesystem"}"\n'
        f'    args: ["{files}"]\n'
        "workspace:\n  builtin_tools: false\n"
    )

    monitor_log = root / "dbus-monitor.log"
    spawn(["dbus-monitor", "--session", "interface='org.freedesktop.Notifications'"], monitor_log, env)
    spawn(["dunst"], root / "dunst.log", env)
    app_log = root / "app.log"
    app = spawn([str(APP), "--config", str(config)], app_log, env)

    try:
        wait_until("the engine's control socket", lambda: (root / "c.sock").exists() or app.poll() is not None)
        check("app starts and hosts the engine", app.poll() is None and (root / "c.sock").exists(), app_log.read_text())
        time.sleep(3)  # not a speed assertion: the app must simply still be running afterwards
        check("app stays up", app.poll() is None, app_log.read_text())
        anyio.run(scenario, root, files, config, env, monitor_log, app)
    except Exception as error:  # report, then fail
        check("scenario", False, f"{type(error).__name__}: {error}\n--- app log ---\n{app_log.read_text()}")
    finally:
        if app.poll() is None:
            app.send_signal(signal.SIGTERM)
            try:
                app.wait(20)
            except subprocess.TimeoutExpired:
                app.kill()
        for p in procs:
            if p.poll() is None:
                p.terminate()
    failed = [r for r in results if not r[1]]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        print(f"logs kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


async def scenario(
    root: Path, files: Path, config: Path, env: dict[str, str], monitor_log: Path, app: subprocess.Popen
) -> None:
    params = StdioServerParameters(
        command=str(CORDON),
        args=["mcp", "--agent", AGENT, "--config", str(config)],
        env={k: v for k, v in env.items() if k.startswith(("XDG_", "CORDON_"))},
        cwd=str(root),
    )
    target = files / "notes.txt"
    target.write_text("alpha\nbravo\ncharlie\n")
    with (root / "mcp.stderr").open("w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                await wait_tools(session)

                # 1. A held write: notification, approval window via its action, approve with `a`.
                outcome: dict[str, object] = {}

                async def write(path: Path, content: str, key: str) -> None:
                    outcome[key] = await session.call_tool(
                        "filesystem__write_file", {"path": str(path), "content": content}
                    )

                async with anyio.create_task_group() as tg:
                    tg.start_soon(write, target, "alpha\nBRAVO-APPROVED\ncharlie\n", "approved")
                    text = await anyio.to_thread.run_sync(
                        lambda: wait_until("a Notify call", lambda: notify_seen(monitor_log, "notes.txt"))
                    )
                    check(
                        "held write raises a Notify naming agent, action and target",
                        AGENT in text and "write" in text and "notes.txt" in text and "approve" in text,
                        text,
                    )
                    await anyio.sleep(1.5)  # let dunst draw the bubble before the screenshot
                    screenshot("notification.png")
                    check("file untouched while held", target.read_text() == "alpha\nbravo\ncharlie\n")
                    # The notification's default action (a click) opens the approval window.
                    subprocess.run(["dunstctl", "action", "0"], env=env, check=False)
                    ids = await anyio.to_thread.run_sync(lambda: wait_until("the approval window", lambda: window_ids("approval")))
                    check("notification action opens the approval window", bool(ids))
                    await anyio.sleep(3)  # the page loads and polls the pending list
                    shot = screenshot("approval-window.png")
                    check("approval window screenshot taken", shot.stat().st_size > 10_000, str(shot))
                    press(ids[-1], "a")
                    with anyio.fail_after(DEADLINE):
                        while "approved" not in outcome:
                            await anyio.sleep(0.2)
                result = outcome["approved"]
                check("`a` in the window approves: the call completes", is_error(result) is False, repr(result))
                check("the approved content was written", target.read_text() == "alpha\nBRAVO-APPROVED\ncharlie\n")

                # 2. A second write, denied from the window with `d`, a reason and Enter.
                other = files / "other.txt"
                async with anyio.create_task_group() as tg:
                    tg.start_soon(write, other, "never\n", "denied")
                    await anyio.to_thread.run_sync(
                        lambda: wait_until("the second Notify", lambda: notify_seen(monitor_log, "other.txt"))
                    )
                    await anyio.sleep(2)  # the open window picks it up on its next poll
                    wid = window_ids("approval")[-1]
                    press(wid, "d")
                    await anyio.sleep(0.5)  # the reason field appears and takes the focus
                    press(wid, "Return", text="not now")
                    with anyio.fail_after(DEADLINE):
                        while "denied" not in outcome:
                            await anyio.sleep(0.2)
                result = outcome["denied"]
                check("`d` + reason + Enter denies: the client gets isError", is_error(result) is True, repr(result))
                check("the denied file was not written", not other.exists())

                # 3. One instance per user: a second launch hands over to the first and exits.
                second = await anyio.to_thread.run_sync(
                    lambda: subprocess.run([str(APP), "--show-approvals"], env=env, capture_output=True, text=True, timeout=DEADLINE)
                )
                check(
                    "a second launch exits (code 0) and the first keeps running",
                    second.returncode == 0 and app.poll() is None,
                    f"code {second.returncode}: {second.stderr[-1000:]}",
                )

                # 4. A burst of three held writes: one grouped notification, not three bubbles.
                #    Then SIGTERM (the tray's Quit path) with them held: all refused, app exits 0.
                burst = [files / f"burst-{i}.txt" for i in range(3)]
                async with anyio.create_task_group() as tg:
                    for i, path in enumerate(burst):
                        tg.start_soon(write, path, "never\n", f"burst-{i}")
                    grouped = await anyio.to_thread.run_sync(
                        lambda: wait_until("a grouped Notify", lambda: notify_seen(monitor_log, "calls waiting"))
                    )
                    check("a burst raises one grouped notification", "3 calls waiting" in grouped or "2 calls waiting" in grouped, grouped)
                    singles = sum(1 for p in burst if notify_seen(monitor_log, p.name))
                    check("a burst does not flood (at most one call announced alone)", singles <= 1, f"{singles} single notifications")
                    app.send_signal(signal.SIGTERM)
                    with anyio.fail_after(DEADLINE):
                        while not all(f"burst-{i}" in outcome for i in range(3)):
                            await anyio.sleep(0.2)
                refused = [is_error(outcome[f"burst-{i}"]) for i in range(3)]
                check("quitting refuses every held call: each client gets isError", refused == [True] * 3, repr(outcome))
                code = await anyio.to_thread.run_sync(lambda: app.wait(DEADLINE))
                check("app exits cleanly (code 0) and removes its socket", code == 0 and not (root / "c.sock").exists(), f"code {code}")
                check("the refused files were not written", not any(p.exists() for p in burst))
    log = subprocess.run([str(CORDON), "log", "list", "--config", str(config), "--json"], capture_output=True, text=True, env=env)
    check("evidence names the desktop reviewer", "smoke-reviewer@example.com" in log.stdout, log.stdout[-2000:] + log.stderr)


def is_error(result: object) -> bool | None:
    """The result's isError flag (the SDK names the attribute `is_error`; older ones `isError`)."""
    for name in ("is_error", "isError"):
        value = getattr(result, name, None)
        if value is not None:
            return bool(value)
    return None


def notify_seen(log: Path, needle: str) -> str | None:
    """The text of the first Notify method call mentioning `needle`, from dbus-monitor's log."""
    text = log.read_text(errors="replace")
    for block in text.split("\nmethod call")[1:]:
        if "member=Notify" in block and needle in block:
            return block
    return None


async def wait_tools(session: ClientSession) -> None:
    with anyio.fail_after(DEADLINE):
        while True:
            tools = await session.list_tools()
            if any(t.name == "filesystem__write_file" for t in tools.tools):
                return
            await anyio.sleep(0.3)


if __name__ == "__main__":
    sys.exit(main())
