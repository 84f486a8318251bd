"""The tray, clicked as a user would: a real system tray host (trayer) embeds the app's icon, xdotool
clicks it, the menu is driven with the keyboard. "Pause all agents" refuses every call until it is
unchecked; "Settings…" opens the settings window."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cordon_e2e import run, text_of
from desktop import SCREENSHOTS, Desktop, wait_until

AGENT = "tray-agent"
# Menu order (separators are skipped by keyboard navigation): pending, pause, evidence, settings, quit.
MENU = ["pending", "pause", "evidence", "settings", "quit"]


@pytest.fixture
def tray_host(tmp_path: Path) -> Iterator[None]:
    """trayer: a freedesktop system tray (XEmbed) in the top right corner of the virtual screen."""
    if shutil.which("trayer") is None or shutil.which("xdotool") is None:
        pytest.fail("trayer and xdotool are needed (scripts/install-deps --test --desktop installs them)")
    log = open(tmp_path / "trayer.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        ["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel", "--width", "160", "--height", "28",
         "--transparent", "false", "--tint", "0x334155", "--SetDockType", "true"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def tray_icon_center() -> tuple[int, int] | None:
    """Where the app's tray icon is drawn, from the X window tree (the icon window is the app's)."""
    tree = subprocess.run(["xwininfo", "-root", "-tree"], capture_output=True, text=True, check=False).stdout
    for line in tree.splitlines():
        if '"tray-icon tray app' in line:
            match = re.search(r"(\d+)x(\d+)\+-?\d+\+-?\d+\s+\+(-?\d+)\+(-?\d+)", line)
            if match:
                w, h, x, y = map(int, match.groups())
                if x >= 0 and y >= 0:
                    return x + w // 2, y + h // 2
    return None


def menu(item: str) -> None:
    """Opens the tray menu with a click on the icon and activates `item` with the keyboard."""
    x, y = wait_until("the tray icon embedded in the tray host", tray_icon_center)
    subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"], check=True)
    time.sleep(0.8)  # the menu maps asynchronously; keys sent before it maps are lost
    keys = ["Down"] * (MENU.index(item) + 1) + ["Return"]
    subprocess.run(["xdotool", "key", "--delay", "120", *keys], check=True)


def screenshot_menu(name: str) -> Path:
    """A screenshot of the whole screen with the tray menu open (the menu is a native GTK window)."""
    x, y = wait_until("the tray icon", tray_icon_center)
    subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"], check=True)
    time.sleep(1.0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    full = SCREENSHOTS / f"{name}-full.png"
    path = SCREENSHOTS / f"{name}.png"
    subprocess.run(["import", "-window", "root", str(full)], check=True)
    # The top right corner: the tray and its menu.
    subprocess.run(["convert", str(full), "-gravity", "NorthEast", "-crop", "420x260+0+0", "+repage", str(path)], check=True)
    full.unlink()
    subprocess.run(["xdotool", "key", "Escape"], check=True)
    return path


def test_tray_menu_pauses_and_resumes_every_agent(tray_host: None, desktop_app) -> None:
    app: Desktop = desktop_app(show="approvals")
    readme = app.engine.files / "readme.txt"
    readme.write_text("hello\n")
    screenshot_menu("tray-menu")

    async def read() -> object:
        async with app.engine.stdio(AGENT) as session:
            return await session.call_tool("filesystem__read_text_file", {"path": str(readme)})

    before = run(read)
    assert not before.is_error, text_of(before)

    menu("pause")
    paused = run(read)
    assert paused.is_error, f"a paused engine let a call through: {text_of(paused)}"
    assert "pause" in text_of(paused).lower(), text_of(paused)

    menu("pause")  # unchecks it
    after = run(read)
    assert not after.is_error, f"resume did not resume: {text_of(after)}"

    outcomes = [r["outcome"] for r in app.engine.log() if r.get("target") == str(readme)]
    assert outcomes == ["allowed", "denied", "allowed"], outcomes


def test_tray_menu_opens_settings(tray_host: None, desktop_app) -> None:
    app: Desktop = desktop_app(show="approvals")
    menu("settings")
    app.switch_to("settings")
