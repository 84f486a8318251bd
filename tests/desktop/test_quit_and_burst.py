"""A burst of held calls raises one grouped notification, not one bubble each; quitting the app
(SIGTERM takes the same path as the tray's Quit) with calls held refuses every one of them, recorded."""

from __future__ import annotations

import signal

import anyio
import anyio.to_thread
from cordon_e2e import PendingCall, run, text_of
from desktop import Desktop, Notifications, wait_until

AGENT = "burst-agent"


def test_burst_is_grouped_and_quit_refuses_held_calls(desktop_app, notifications: Notifications) -> None:
    app: Desktop = desktop_app()
    burst = [app.engine.files / f"burst-{i}.txt" for i in range(3)]
    process = app.process
    assert process is not None, f"no cordon-desktop process runs with --config {app.engine.config}"

    async def scenario() -> list[object]:
        async with app.engine.stdio(AGENT) as session:
            calls = [PendingCall(session, "filesystem__write_file", {"path": str(p), "content": "never\n"}) for p in burst]
            async with anyio.create_task_group() as tasks:
                for call in calls:
                    tasks.start_soon(call.run)
                grouped = await anyio.to_thread.run_sync(lambda: notifications.wait("calls waiting for approval"))
                assert "3 calls waiting" in grouped or "2 calls waiting" in grouped, grouped
                singles = sum(1 for p in burst if notifications.find(p.name))
                assert singles <= 1, f"a burst must not flood the desktop: {singles} single notifications"
                assert not any(c.done.is_set() for c in calls), "a held call returned before anyone decided"
                process.send_signal(signal.SIGTERM)
                return [await c.outcome() for c in calls]

    results = run(scenario)
    assert all(r.is_error for r in results), [text_of(r) for r in results]
    process.wait(timeout=30)  # not our child: psutil cannot give its exit code, only that it ended
    assert not process.is_running(), "the app must exit after refusing what was held"
    assert not app.engine.socket.exists(), "a clean exit removes the control socket"
    assert not any(p.exists() for p in burst), "a refused write reached the upstream"
    records = wait_until(
        "one evidence record per refused call",
        lambda: [r for r in app.engine.log() if any(p.name in (r.get("target") or "") for p in burst)] or None,
    )
    assert len(records) == 3 and all(r["outcome"] != "approved" for r in records), records
