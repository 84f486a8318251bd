"""Harness for the desktop end-to-end tests: the real `cordon-desktop` tray app, driven through the W3C
WebDriver protocol (selenium → tauri-driver → WebKitWebDriver → the app's WebKitGTK webviews).

The engine config comes from tests/e2e's harness (`cordon_e2e.Engine(..., start=False)`: same
upstreams, policy and isolated XDG dirs), but the engine runs inside the desktop app, not in
`cordon serve`. Agents reach it as they would on a user's desktop: `cordon mcp --agent NAME`.
Notifications are real: dunst owns org.freedesktop.Notifications on the session bus and a
`dbus-monitor` records every Notify call. Every wait is a poll with a generous deadline.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import cordon_e2e  # noqa: E402
import psutil  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.options import ArgOptions  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402

APP = Path(os.environ.get("DESKTOP_APP", ""))
TAURI_DRIVER = Path(os.environ.get("TAURI_DRIVER", ""))
SCREENSHOTS = Path(os.environ.get("DESKTOP_SCREENSHOTS", REPO / "docs" / "screenshots"))
DEADLINE = 45.0  # hang guard for one UI wait: the window, a row, a notification

T = TypeVar("T")


def wait_until(what: str, probe: Callable[[], T | None], deadline: float = DEADLINE, context: Callable[[], str] | None = None) -> T:
    """Polls `probe` until it returns something truthy; fails naming `what` (and the context)."""
    end = time.monotonic() + deadline
    last_error: BaseException | None = None
    while time.monotonic() < end:
        try:
            value = probe()
            if value:
                return value
        except WebDriverException as err:  # element not there yet, window being created ...
            last_error = err
        time.sleep(0.15)
    extra = f"\nlast error: {last_error}" if last_error else ""
    raise AssertionError(f"timed out after {deadline}s waiting for {what}{extra}" + (f"\n{context()}" if context else ""))


class Notifications:
    """The Notify and CloseNotification calls made on the session bus, as recorded by dbus-monitor."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def _blocks(self) -> list[str]:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text.split("\nmethod call ")

    def calls(self) -> list[str]:
        return [b for b in self._blocks() if "member=Notify" in b]

    def closes(self) -> list[str]:
        """CloseNotification calls (a notification withdrawn by the app)."""
        return [b for b in self._blocks() if "member=CloseNotification" in b]

    @staticmethod
    def time_of(block: str) -> float:
        """The bus time (seconds since the epoch, as dbus-monitor prints it) of a recorded call."""
        for word in block.split():
            if word.startswith("time="):
                return float(word.removeprefix("time="))
        raise AssertionError(f"no time= in the recorded call: {block[:200]}")

    def find(self, *needles: str) -> str | None:
        for block in self.calls():
            if all(n in block for n in needles):
                return block
        return None

    def wait(self, *needles: str) -> str:
        return wait_until(f"a Notify call mentioning {needles}", lambda: self.find(*needles))


@contextlib.contextmanager
def notification_daemon(root: Path) -> Iterator[Notifications]:
    """dunst (the real daemon that draws the bubbles) plus a dbus-monitor recording Notify calls."""
    root.mkdir(parents=True, exist_ok=True)
    log = root / "notify-monitor.log"
    procs = []
    with open(root / "dunst.log", "w") as dunst_log, open(log, "w") as monitor_log:
        procs.append(subprocess.Popen(["dunst", "-config", str(HERE / "dunstrc")], stdout=dunst_log, stderr=subprocess.STDOUT))
        procs.append(
            subprocess.Popen(
                [
                    "dbus-monitor",
                    "--session",
                    "interface='org.freedesktop.Notifications',member='Notify'",
                    "interface='org.freedesktop.Notifications',member='CloseNotification'",
                ],
                stdout=monitor_log,
                stderr=subprocess.STDOUT,
            )
        )
        try:
            yield Notifications(log)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)


class Desktop:
    """One running app (started by tauri-driver) and the WebDriver session attached to its windows."""

    def __init__(self, engine: cordon_e2e.Engine, show: str = "approvals", engine_starts: bool = True) -> None:
        assert APP.is_file(), f"DESKTOP_APP={APP} is not the built cordon-desktop"
        assert TAURI_DRIVER.is_file(), f"TAURI_DRIVER={TAURI_DRIVER} is not tauri-driver"
        self.engine = engine
        self.env = dict(engine.env)
        # The app writes its autostart entry and settings under the isolated HOME, never the user's.
        self.env["HOME"] = str(engine.root / "home")
        Path(self.env["HOME"]).mkdir(exist_ok=True)
        # Agents launch `cordon` by name: the app finds the one on PATH when it installs them.
        self.env["PATH"] = f"{cordon_e2e.cordon_bin().parent}{os.pathsep}{self.env.get('PATH', '')}"
        self.port = cordon_e2e.free_port()
        native = cordon_e2e.free_port()
        self.driver_log = engine.root / "tauri-driver.log"
        self._driver_log = open(self.driver_log, "w")  # noqa: SIM115 - closed in close()
        self.tauri_driver = subprocess.Popen(
            [str(TAURI_DRIVER), "--port", str(self.port), "--native-port", str(native)],
            stdout=self._driver_log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        wait_until("tauri-driver to listen", lambda: _port_open(self.port), context=self.context)
        # tauri-driver starts WebKitWebDriver on the native port and proxies to it; a session
        # requested before that one listens is refused (seen under load).
        wait_until("WebKitWebDriver to listen", lambda: _port_open(native), context=self.context)
        options = ArgOptions()
        options.set_capability("browserName", "wry")
        options.set_capability(
            "tauri:options",
            {"application": str(APP), "args": ["--config", str(engine.config), "--show", show]},
        )
        try:
            self.driver = webdriver.Remote(f"http://127.0.0.1:{self.port}", options=options)
        except WebDriverException as err:
            self.close_driver()
            raise AssertionError(f"no WebDriver session with the app: {err}\n{self.context()}") from None
        except Exception as err:  # urllib3's connection errors: tauri-driver or the app died
            self.close_driver()
            raise AssertionError(f"no WebDriver session with the app: {err!r}\n{self.context()}") from None
        self.driver.implicitly_wait(0)
        if engine_starts:
            engine.wait_socket()
        self.process = self._find_process()

    # ---- windows ---------------------------------------------------------------------------------

    def show(self, page: str, title_part: str) -> None:
        """Opens a window the way a user's second launch does (forwarded to the running app) and
        switches WebDriver to it."""
        subprocess.run(
            [str(APP), "--show", page],
            env=self.env,
            check=True,
            timeout=30,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.switch_to(title_part)

    def switch_to(self, title_part: str) -> None:
        def find() -> bool:
            for handle in self.driver.window_handles:
                self.driver.switch_to.window(handle)
                if title_part.lower() in self.driver.title.lower():
                    return True
            return False

        wait_until(f"a window titled like {title_part!r}", find, context=self.context)

    def wait_css(self, css: str, text: str | None = None) -> WebElement:
        def probe() -> WebElement | None:
            for element in self.driver.find_elements(By.CSS_SELECTOR, css):
                if element.is_displayed() and (text is None or text in inner_text(element)):
                    return element
            return None

        return wait_until(f"{css!r}" + (f" showing {text!r}" if text else ""), probe, context=self.context)

    def click(self, css: str) -> None:
        self.wait_css(css).click()

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def context(self) -> str:
        parts = [f"--- tauri-driver + app log ({self.driver_log})"]
        with contextlib.suppress(OSError):
            parts.append(self.driver_log.read_text(errors="replace")[-8000:])
        return "\n".join(parts)

    def close_driver(self) -> None:
        self.tauri_driver.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.tauri_driver.wait(timeout=10)

    def _find_process(self) -> psutil.Process | None:
        """The app tauri-driver started (found by its config path)."""
        for proc in psutil.process_iter(["name", "cmdline"]):
            if proc.info.get("name") == "cordon-desktop" and str(self.engine.config) in (proc.info.get("cmdline") or []):
                return proc
        return None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.driver.quit()
        self.tauri_driver.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.tauri_driver.wait(timeout=10)
        # One instance per user: the next test's app would hand over to this one and exit if it
        # were still shutting down. Wait for it to be gone (it refuses held calls on the way out).
        if self.process is not None:
            with contextlib.suppress(psutil.Error):
                self.process.terminate()
                try:
                    self.process.wait(timeout=20)
                except psutil.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
        self._driver_log.close()


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def inner_text(element: WebElement) -> str:
    """The text as rendered (`innerText`): WebKitWebDriver's element text leaves out the cells
    of tables whose columns clip their content."""
    return str(element.get_property("innerText") or "")


def js_text(driver: Any, css: str) -> str:
    """All text inside `css` (including hidden overflow), for assertions on long content."""
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", css)
