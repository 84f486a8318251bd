"""The settings window's policy editor against the real engine: a broken edit is rejected with its line
and column and the policy in force stays; a valid edit is saved atomically and hot-reloaded."""

from __future__ import annotations

from selenium.webdriver.common.keys import Keys

import contextlib
from pathlib import Path

import cordon_e2e
from cordon_e2e import immutable, run, text_of
from desktop import Desktop, inner_text, wait_until

AGENT = "settings-agent"


def policy_versions(app: Desktop, target: str) -> list[str]:
    return [r["policy_version"] for r in app.engine.log() if r.get("target") == target]


def read(app: Desktop, path: str) -> object:
    async def call() -> object:
        async with app.engine.stdio(AGENT) as session:
            return await session.call_tool("filesystem__read_text_file", {"path": path})

    return run(call)


def editor_type_line_at_start(app: Desktop, line: str) -> None:
    """Types a new first line into the CodeMirror document, as a user would (Enter included)."""
    content = app.wait_css("#editor .cm-content")
    content.click()
    content.send_keys(Keys.CONTROL, Keys.HOME)
    content.send_keys(line, Keys.ENTER)


def test_broken_policy_is_rejected_with_line_and_column_and_the_old_one_stays(desktop_app) -> None:
    app: Desktop = desktop_app(show="settings")
    app.switch_to("settings")
    original = app.engine.policy.read_bytes()
    probe = app.engine.files / "probe.txt"
    probe.write_text("probe\n")
    first = read(app, str(probe))
    assert not first.is_error, text_of(first)
    [version] = policy_versions(app, str(probe))

    app.wait_css("#validity", "Valid")  # the loaded policy validates
    editor_type_line_at_start(app, "bogus_key: 1")
    app.wait_css("#validity", "error")
    problem = app.wait_css("#diagnostics li", "bogus_key")
    # The engine's diagnostic, at the line and column of the offending key.
    assert "1:1" in inner_text(problem), inner_text(problem)
    assert app.driver.find_element("css selector", "#editor .cm-lintRange-error, #editor .cm-lint-marker-error"), "no lint marker in the editor"
    app.screenshot("settings-policy-error")
    save = app.wait_css("#save")
    assert not save.is_enabled(), "Save must be disabled while the policy is invalid"
    app.wait_css("#editor .cm-content").send_keys(Keys.CONTROL, "s")  # the shortcut must refuse too

    # Nothing changed on disk, and the engine still judges with the old policy.
    assert app.engine.policy.read_bytes() == original
    again = read(app, str(probe))
    assert not again.is_error, text_of(again)
    assert policy_versions(app, str(probe)) == [version, version]


def test_valid_edit_is_saved_and_hot_reloaded(desktop_app) -> None:
    app: Desktop = desktop_app(show="settings")
    app.switch_to("settings")
    probe = app.engine.files / "probe2.txt"
    probe.write_text("probe\n")
    assert not read(app, str(probe)).is_error
    [old_version] = policy_versions(app, str(probe))

    app.wait_css("#validity", "Valid")
    editor_type_line_at_start(app, "# reviewed in the settings window")
    wait_until("the edit to validate", lambda: app.wait_css("#save").is_enabled())
    assert "Valid" in inner_text(app.wait_css("#validity"))
    app.screenshot("settings-window")
    app.click("#save")
    wait_until("the file to be saved", lambda: app.engine.policy.read_text().startswith("# reviewed in the settings window\n"))

    assert not read(app, str(probe)).is_error
    versions = policy_versions(app, str(probe))
    assert versions[0] == old_version and versions[1] != old_version, f"the saved policy was not hot-reloaded: {versions}"


def test_an_evidence_fault_shows_in_the_window_and_clears_by_itself(desktop_app) -> None:
    """While the evidence log cannot be written every call is refused: the window must say so
    (not "Running"), and go back to running once the log can be written again."""
    app: Desktop = desktop_app(show="settings")
    app.switch_to("settings")
    probe = app.engine.files / "probe.txt"
    probe.write_text("probe\n")
    assert not read(app, str(probe)).is_error
    app.wait_css("#engine.good", "Running")
    database = Path(str(app.engine.evidence))
    with immutable([database, Path(f"{database}-wal")]):
        refused = read(app, str(probe))
        assert refused.is_error and "evidence" in text_of(refused), text_of(refused)
        app.wait_css("#engine.bad", "Evidence log not writable: every call is refused")

    def passes() -> bool:
        return not read(app, str(probe)).is_error

    wait_until("a call to pass once the log is writable", passes)
    app.wait_css("#engine.good", "Running")


def call_without_engine(app: Desktop) -> tuple[Path, str]:
    """An agent's call while the app runs no engine: it must be refused and leave no record.
    Returns the file it asked to read and the refusal's text."""
    probe = app.engine.files / "probe.txt"
    probe.write_text("probe\n")

    async def refused_call() -> object:
        async with app.engine.stdio(AGENT, wait_tools=False) as session:
            return await session.call_tool("filesystem__read_text_file", {"path": str(probe)})

    refused = run(refused_call)
    assert refused.is_error, text_of(refused)
    assert not app.engine.evidence.exists(), "something was recorded without an engine"
    return probe, text_of(refused)


def test_a_config_file_that_does_not_load_is_said_and_restart_reads_it_again(desktop_app) -> None:
    """A config file broken by hand (a YAML slip) made the app exit before it had a window: at a
    login, no tray and nothing saying why, while every agent's call is refused. The app must come
    up, say which file and where, refuse calls meanwhile, and run the engine of that very file
    once it is fixed and Restart is pressed."""
    texts: dict[str, str] = {}

    def break_yaml(engine: cordon_e2e.Engine) -> None:
        texts["good"] = engine.config.read_text()
        engine.config.write_text("servers: [\n" + texts["good"])

    app: Desktop = desktop_app(show="settings", before=break_yaml, engine_starts=False)
    app.switch_to("settings")
    header = app.wait_css("#engine.bad", "Cannot start:")
    assert str(app.engine.config) in inner_text(header), inner_text(header)
    assert app.process is not None and app.process.is_running(), "the app exited"
    # The agent's `cordon mcp` reads the same broken file: it refuses every call, saying so.
    probe, refused = call_without_engine(app)
    assert "config file is invalid" in refused, refused
    # Restart while still broken: still said, still no engine.
    app.click("#tab-general")
    app.click("#restart-general")
    app.wait_css("#engine.bad", "Cannot start:")
    assert not app.engine.evidence.exists()
    app.engine.config.write_text(texts["good"])
    app.click("#restart-general")
    app.wait_css("#engine.good", "Running")
    assert not read(app, str(probe)).is_error


def test_the_app_stands_by_while_its_evidence_cannot_be_written_and_runs_once_it_can(desktop_app, tmp_path: Path) -> None:
    """A launch whose evidence log cannot be written at all (here: its directory is immutable; at a
    login, a full disk) used to fail the app: no tray, nothing to say why. The tray and the window
    must come up and say the engine stands by, and the engine must run once the log can be
    written, with no restart."""
    store = tmp_path / "evidence"
    store.mkdir(mode=0o700)
    with contextlib.ExitStack() as fault:
        fault.enter_context(immutable([store]))
        app: Desktop = desktop_app(show="settings", evidence=store / "evidence.db")
        app.switch_to("settings")
        app.wait_css("#engine.bad", "Standing by: Cordon cannot record evidence")
    app.wait_css("#engine.good", "Running")
    probe = app.engine.files / "probe.txt"
    probe.write_text("probe\n")
    assert not read(app, str(probe)).is_error


def test_an_engine_that_cannot_start_is_said_and_restart_runs_it_once_the_cause_is_fixed(desktop_app) -> None:
    """A launch whose engine cannot start (here: its config holds an agent's token and other users
    can read it) used to make the app exit: at a login, no tray and nothing saying why, while
    every agent's call is refused. The app must come up and say why, refuse calls meanwhile, and
    run the engine once the file is fixed and Restart is pressed."""
    app: Desktop = desktop_app(show="settings", before=lambda engine: engine.config.chmod(0o644), engine_starts=False)
    app.switch_to("settings")
    header = app.wait_css("#engine.bad", "Cannot start:")
    assert "every user can read it" in inner_text(header) and "chmod 600" in inner_text(header), inner_text(header)
    assert app.process is not None and app.process.is_running(), "the app exited"
    # No engine: `cordon mcp` initializes and refuses every call, saying why.
    probe, refused = call_without_engine(app)
    assert "not running" in refused, refused
    app.engine.config.chmod(0o600)
    app.click("#tab-general")
    app.click("#restart-general")
    app.wait_css("#engine.good", "Running")
    assert not read(app, str(probe)).is_error
