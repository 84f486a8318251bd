"""Fixtures for Cordon's end-to-end tests (the harness itself is in cordon_e2e.py).

- `shared_engine` (session scope): one `cordon serve` with the everything + filesystem upstreams and
  HTTP, for the tests that do not disturb each other (each uses its own file names).
- `engine_factory` (module scope): starts a dedicated engine for a module that needs its own config or
  an evidence log of its own; stopped at the module's end.
On any failure, the config and the stderr of every engine and `cordon mcp` process still running are
attached to the report (STYLE.md item 8: full context on failure).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import cordon_e2e
from cordon_e2e import Engine


@pytest.fixture(scope="session")
def shared_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = Engine(tmp_path_factory.mktemp("shared"), label="shared engine")
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def engine_factory(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Callable[..., Engine]]:
    started: list[Engine] = []
    module = request.module.__name__.rsplit(".", 1)[-1]

    def start(**kwargs: Any) -> Engine:
        engine = Engine(tmp_path_factory.mktemp(module), label=f"{module} engine", **kwargs)
        started.append(engine)
        return engine

    try:
        yield start
    finally:
        for engine in started:
            engine.stop()


@pytest.fixture
def files(shared_engine: Engine, request: pytest.FixtureRequest) -> Path:
    """A directory inside the shared engine's filesystem root, unique to this test."""
    path = shared_engine.files / request.node.name.replace("[", "_").replace("]", "").replace("/", "_")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        for engine in list(cordon_e2e.ENGINES):
            report.sections.append((f"Cordon context: {engine.label}", engine.context()))
    return report
