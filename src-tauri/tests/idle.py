"""Idle figures of the real app (run by `scripts/desktop idle` under Xvfb + a D-Bus session):
resident memory of the app and its WebKit processes, and CPU used over an idle period, first with
no window open (the tray alone), then with the approval window open.

Prints figures; it asserts nothing about speed (the issue's goal: < 120 MB RSS, ~0% CPU idle).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

APP = Path(os.environ["DESKTOP_APP"])
IDLE = float(os.environ.get("IDLE_SECONDS", "30"))


def family(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def measure(pid: int, label: str) -> None:
    procs = family(pid)
    cpu0 = {p.pid: sum(p.cpu_times()[:2]) for p in procs}
    time.sleep(IDLE)
    procs = family(pid)
    rss = 0
    pss = 0
    cpu = 0.0
    rows = []
    for p in procs:
        try:
            mem = p.memory_full_info()  # PSS: shared libraries counted once across processes
            r, ps = mem.rss, mem.pss
            c = sum(p.cpu_times()[:2]) - cpu0.get(p.pid, 0.0)
        except psutil.NoSuchProcess:
            continue
        rss += r
        pss += ps
        cpu += c
        rows.append(f"    {p.name():<22} pid {p.pid:<7} rss {r / 2**20:7.1f} MiB  pss {ps / 2**20:7.1f} MiB  cpu {c:6.2f} s")
    print(f"{label}: {len(rows)} processes, total RSS {rss / 2**20:.1f} MiB (PSS {pss / 2**20:.1f} MiB), "
          f"CPU {cpu:.2f} s over {IDLE:.0f} s = {100 * cpu / IDLE:.2f}% of one core")
    print("\n".join(rows), flush=True)


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="cdidle-", dir="/tmp"))
    env = dict(os.environ)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "XDG_STATE_HOME"):
        (root / var.lower()).mkdir(mode=0o700)
        env[var] = str(root / var.lower())
    env.pop("CORDON_CONFIG", None)
    config = root / "cordon.yaml"
    config.write_text(
        f'socket: "{root}/c.sock"\nevidence: "{root}/evidence.db"\n'
        f'signing_key: "file:{root}/signing.key"\nworkspace:\n  builtin_tools: false\n'
    )
    dunst = subprocess.Popen(["dunst"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    app = subprocess.Popen([str(APP), "--config", str(config)], stderr=(root / "app.log").open("w"), env=env)
    try:
        end = time.monotonic() + 60
        while not (root / "c.sock").exists() and time.monotonic() < end and app.poll() is None:
            time.sleep(0.2)
        if app.poll() is not None:
            print((root / "app.log").read_text())
            return 1
        time.sleep(5)  # settle after start
        measure(app.pid, "idle, tray only")
        subprocess.run([str(APP), "--show-approvals"], env=env, timeout=30, check=False)
        time.sleep(5)  # let the window load
        measure(app.pid, "idle, approval window open")
        return 0
    finally:
        app.send_signal(signal.SIGTERM)
        try:
            app.wait(20)
        except subprocess.TimeoutExpired:
            app.kill()
        dunst.terminate()


if __name__ == "__main__":
    sys.exit(main())
