"""The settings window's Secrets and Agents pages against the real keychain (the test session's Secret
Service) and real agent configuration files (in the test's own HOME): a secret is stored without its
value ever coming back to the page; Claude Code is put under Cordon and taken out again, its file
restored byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cordon_e2e import cordon_bin
from desktop import Desktop, inner_text, wait_until

SECRET_VALUE = "desk-s3cret-value-7f3a9c"


def needs_keychain() -> None:
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        pytest.fail("no D-Bus session: run through scripts/test (it starts a Secret Service)")


def test_secrets_page_stores_a_secret_it_never_shows(desktop_app) -> None:
    needs_keychain()
    app: Desktop = desktop_app(show="settings")
    app.switch_to("settings")
    app.click("#tab-secrets")
    app.wait_css("#sc-name").send_keys("desk-token")
    app.wait_css("#sc-value").send_keys(SECRET_VALUE)
    app.click("#secret-form button[type=submit]")
    app.wait_css("#secrets", "desk-token")
    wait_until("the secret listed as stored", lambda: "stored" in inner_text(app.wait_css("#secrets")))
    assert app.wait_css("#sc-value").get_property("value") == "", "the value must not stay in the form"
    page = app.driver.execute_script("return document.documentElement.outerHTML")
    assert SECRET_VALUE not in page, "the secret's value reached the page"

    listed = subprocess.run(
        [str(cordon_bin()), "secret", "list", "--json", "--config", str(app.engine.config)],
        capture_output=True, text=True, env=app.engine.env, timeout=30, check=True,
    )
    names = [entry.get("name") for entry in json.loads(listed.stdout)]
    assert "desk-token" in names, listed.stdout
    assert SECRET_VALUE not in listed.stdout


def test_agents_page_installs_and_uninstalls_claude_code(desktop_app) -> None:
    app: Desktop = desktop_app(show="settings")
    home = Path(app.env["HOME"])
    claude = home / ".claude.json"
    original = '{\n  "theme": "dark",\n  "mcpServers": {\n    "notes": {"command": "notes-mcp", "args": []}\n  }\n}\n'
    claude.write_text(original)

    app.switch_to("settings")
    app.click("#tab-agents")
    app.wait_css("#agents", "Claude Code")
    app.click('button[aria-label="Install Cordon into Claude Code"]')
    installed = wait_until("Cordon in Claude Code's config", lambda: '"cordon"' in claude.read_text() and claude.read_text())
    config = json.loads(installed)
    assert config["theme"] == "dark" and "notes" in config["mcpServers"], "unrelated settings must survive"
    assert config["mcpServers"]["cordon"]["args"][:3] == ["mcp", "--agent", "claude-code"], config["mcpServers"]["cordon"]
    app.screenshot("settings-agents")

    row = app.wait_css("#agents tr, #agents li, #agents .row", "Claude Code")
    row.find_element("xpath", ".//button[normalize-space()='Uninstall']").click()
    confirm = app.wait_css("#agents button.danger", "Uninstall")
    confirm.click()
    wait_until("the original file back", lambda: claude.read_text() == original)


def test_start_at_login_is_off_by_default_and_toggles_the_autostart_entry(desktop_app) -> None:
    app: Desktop = desktop_app(show="settings")
    autostart_dir = Path(app.env["HOME"]) / ".config" / "autostart"
    app.switch_to("settings")
    app.click("#tab-general")
    box = app.wait_css("#autostart")
    wait_until("the engine status to load", lambda: "Running" in inner_text(app.wait_css("#engine")))
    assert not box.is_selected() and not list(autostart_dir.glob("*.desktop")), "start at login must be off by default"

    app.click("label.switch:has(#autostart)")
    entry = wait_until("the autostart entry", lambda: next(iter(autostart_dir.glob("*.desktop")), None))
    assert "cordon-desktop" in entry.read_text(), entry.read_text()

    app.click("label.switch:has(#autostart)")
    wait_until("the autostart entry removed", lambda: not list(autostart_dir.glob("*.desktop")))
