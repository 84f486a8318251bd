"""A held write, end to end on the desktop: the MCP client's call raises a real notification, the
approval window shows the diff, a click decides, the client gets the result, and the evidence viewer
lists the record with the reviewer."""

from __future__ import annotations

import subprocess

import anyio
import anyio.to_thread
from selenium.webdriver.common.keys import Keys

from cordon_e2e import REVIEWER, PendingCall, run, text_of
from desktop import SCREENSHOTS, Desktop, Notifications, inner_text

AGENT = "desk-agent"


async def thread(fn, *args):  # noqa: ANN001, ANN202 - selenium is blocking: keep it off the event loop
    return await anyio.to_thread.run_sync(lambda: fn(*args))


def test_approve_in_window_completes_the_call_and_is_in_the_evidence(desktop_app, notifications: Notifications) -> None:
    app: Desktop = desktop_app()
    target = app.engine.files / "approved-notes.txt"
    target.write_text("first line\nold line\n")

    async def scenario() -> None:
        async with app.engine.stdio(AGENT) as session:
            call = PendingCall(session, "filesystem__write_file", {"path": str(target), "content": "first line\nnew line\n"})
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(call.run)
                # The notification says in words who wants what, and the rule's reason.
                note = await thread(notifications.wait, AGENT, "approved-notes.txt")
                assert f"{AGENT} wants to change" in note and "(+1 \u2212" in note, note
                assert "File writes need developer review" in note, note
                # The approval window lists it and shows the real diff (diff2html), old and new line.
                await thread(app.wait_css, "#list li", "approved-notes.txt")
                await thread(app.click, "#list li")
                await thread(app.wait_css, "#headline", "approved-notes.txt")
                diff = await thread(app.wait_css, "#effect .d2h-wrapper")
                assert "old line" in inner_text(diff) and "new line" in inner_text(diff), inner_text(diff)
                await thread(app.screenshot, "approval-window")
                assert not call.done.is_set(), "the write ran before anyone approved it"
                await thread(app.click, "#approve")
                result = await call.outcome()
            assert not result.is_error, text_of(result)
            assert target.read_text() == "first line\nnew line\n"

    run(scenario)

    # The evidence viewer lists the call as approved by the configured reviewer.
    app.show("evidence", "evidence")
    row = app.wait_css("tbody tr", "approved-notes.txt")
    assert "approved" in inner_text(row), inner_text(row)
    row.find_element("css selector", "td:nth-child(3)").click()  # the tool cell
    details = app.wait_css("#detail", REVIEWER)
    assert "new line" in inner_text(details), "the approved diff is shown with the record"
    app.screenshot("evidence-viewer")


def screenshot_notification(name: str) -> None:
    """The notification bubble as dunst draws it (top right of the virtual screen)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    full = SCREENSHOTS / f"{name}-full.png"
    subprocess.run(["import", "-window", "root", str(full)], check=True)
    subprocess.run(
        ["convert", str(full), "-gravity", "NorthEast", "-crop", "470x200+0+30", "+repage", str(SCREENSHOTS / f"{name}.png")],
        check=True,
    )
    full.unlink()


def test_deny_from_the_notification_returns_is_error_with_the_reason(desktop_app, notifications: Notifications) -> None:
    # No approval window at start: the notification's own action must open it.
    app: Desktop = desktop_app(show="evidence")
    target = app.engine.files / "denied-notes.txt"

    async def scenario() -> None:
        async with app.engine.stdio(AGENT) as session:
            call = PendingCall(session, "filesystem__write_file", {"path": str(target), "content": "nope\n"})
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(call.run)
                await thread(notifications.wait, AGENT, "denied-notes.txt")
                await anyio.sleep(1.0)  # let dunst draw the bubble before the screenshot
                await thread(screenshot_notification, "notification")
                # The notification's default action ("View") opens the approval window on the call.
                await thread(lambda: subprocess.run(["dunstctl", "action", "0"], check=True))
                await thread(app.switch_to, "approval")
                await thread(app.wait_css, "#headline", "denied-notes.txt")
                # Keyboard only: `d` opens the reason, Enter denies.
                body = await thread(app.wait_css, "body")
                await thread(body.send_keys, "d")
                reason = await thread(app.wait_css, "#reason")
                await thread(reason.send_keys, "not in this sprint", Keys.ENTER)
                result = await call.outcome()
            assert result.is_error, f"a denied call must come back as isError: {text_of(result)}"
            assert "not in this sprint" in text_of(result)
            assert not target.exists(), "a denied write must not reach the upstream"

    run(scenario)
    records = [r for r in app.engine.log() if r.get("target") and "denied-notes.txt" in r["target"]]
    assert [r["outcome"] for r in records] == ["rejected"], records
    assert records[0]["reviewer"] == REVIEWER
