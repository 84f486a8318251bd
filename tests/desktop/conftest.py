"""Fixtures for the desktop tests (the harness is desktop.py; the engine config comes from tests/e2e).

- `notifications` (session scope): dunst + a dbus-monitor recording Notify calls.
- `desktop` (per test): a factory starting the real app through tauri-driver with a fresh engine config;
  every app it started is closed at the test's end, and on failure the app's log and the engine's
  context are attached to the report.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import desktop
from desktop import Desktop, Notifications, notification_daemon

import cordon_e2e  # noqa: E402 (put on sys.path by desktop.py)

STARTED: list[Desktop] = []


@pytest.fixture(scope="session")
def notifications(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Notifications]:
    with notification_daemon(tmp_path_factory.mktemp("notify")) as recorded:
        yield recorded


@pytest.fixture
def desktop_app(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Callable[..., Desktop]]:
    started: list[Desktop] = []

    def start(
        *, show: str = "approvals", before: Callable[[cordon_e2e.Engine], None] | None = None, engine_starts: bool = True, **engine_kwargs: Any
    ) -> Desktop:
        # Bubbles of an earlier test's app would answer `dunstctl action 0` instead of ours.
        subprocess.run(["dunstctl", "close-all"], check=False, capture_output=True)
        engine_kwargs.setdefault("servers", ("filesystem",))
        engine_kwargs.setdefault("http", False)
        engine = cordon_e2e.Engine(
            tmp_path_factory.mktemp(request.node.name[:40]), label=f"{request.node.name} (desktop)", start=False, **engine_kwargs
        )
        if before is not None:
            before(engine)  # e.g. a fault the app must find at launch
        app = Desktop(engine, show=show, engine_starts=engine_starts)
        started.append(app)
        STARTED.append(app)
        return app

    try:
        yield start
    finally:
        for app in started:
            app.close()
            app.engine.stop()
            STARTED.remove(app)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        for app in STARTED:
            report.sections.append((f"desktop app: {app.engine.label}", app.context()))
            report.sections.append((f"engine config: {app.engine.label}", app.engine.config.read_text()))
    return report


__all__ = ["desktop"]
