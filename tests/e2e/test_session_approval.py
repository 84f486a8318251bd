"""`cordon approve ID --session`: the same action on the same target by the same agent session then passes
without asking; another target, or another session, still has to ask (issue 14 item 6: session grants are
scoped to their target, never any target)."""

from __future__ import annotations

from pathlib import Path

import anyio

from cordon_e2e import (
    Engine,
    PendingCall,
    cli_async,
    mentions,
    records_mentioning,
    result_summary,
    run,
    wait_for_approval,
)


async def expect_not_held(engine: Engine, call: PendingCall, target: Path) -> None:
    """The call must complete; if an approval for it shows up instead, deny it (unblocks) and fail."""
    while not call.done.is_set():
        held = [e for e in await cli_async(engine.approvals) if mentions(target)(e)]
        if held:
            await cli_async(engine.deny, held[0]["id"], "e2e: session approval was not honoured")
            raise AssertionError(f"second write in the approved session was held again: {held}")
        await anyio.sleep(0.1)


def test_session_approval_covers_the_same_action(shared_engine: Engine, files: Path) -> None:
    first, second, other = files / "first.txt", files / "second.txt", files / "other-session.txt"
    for path in (first, second, other):
        path.write_text("old\n")

    async def scenario() -> None:
        async with shared_engine.stdio() as session:
            async with anyio.create_task_group() as tg:
                call = PendingCall(session, "filesystem__write_file", {"path": str(first), "content": "new 1\n"})
                tg.start_soon(call.run)
                pending = await wait_for_approval(shared_engine, call, mentions(first))
                await cli_async(shared_engine.approve, pending["id"], session=True)
                result = await call.outcome()
                assert not result.is_error, result_summary(result)

            # The same file again: covered by the session approval.
            async with anyio.create_task_group() as tg:
                call = PendingCall(session, "filesystem__write_file", {"path": str(first), "content": "new 2\n"})
                tg.start_soon(call.run)
                await expect_not_held(shared_engine, call, first)
                result = await call.outcome()
                assert not result.is_error, result_summary(result)

            # Another file in the same session: held again (denied here).
            async with anyio.create_task_group() as tg:
                call = PendingCall(session, "filesystem__write_file", {"path": str(second), "content": "new 2\n"})
                tg.start_soon(call.run)
                pending = await wait_for_approval(shared_engine, call, mentions(second))
                await cli_async(shared_engine.deny, pending["id"], "e2e: another target")
                result = await call.outcome()
                assert result.is_error, result_summary(result)

        # A different agent session is not covered by that session approval.
        async with shared_engine.stdio() as session, anyio.create_task_group() as tg:
            call = PendingCall(session, "filesystem__write_file", {"path": str(other), "content": "new 3\n"})
            tg.start_soon(call.run)
            pending = await wait_for_approval(shared_engine, call, mentions(other))
            await cli_async(shared_engine.deny, pending["id"], "e2e: other session")
            result = await call.outcome()
            assert result.is_error, result_summary(result)

    run(scenario)
    assert first.read_text() == "new 2\n"
    assert second.read_text() == "old\n"
    assert other.read_text() == "old\n"
    log = shared_engine.log()
    outcomes = {p.name: [r["outcome"] for r in records_mentioning(log, p)] for p in (first, second, other)}
    assert outcomes == {
        "first.txt": ["approved", "approved"],
        "second.txt": ["rejected"],
        "other-session.txt": ["rejected"],
    }
    one, two = records_mentioning(log, first)
    assert [one.get("approval_channel"), two.get("approval_channel")] == ["cli-code", "session-grant/cli-code"]
    assert one["session_id"] and one["session_id"] == two["session_id"], (one, two)
    three = records_mentioning(log, other)[0]
    assert three["session_id"] != one["session_id"], (one, three)
