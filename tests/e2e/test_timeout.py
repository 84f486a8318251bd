"""An approval nobody answers expires after `approval_timeout` and the call is refused (fail closed)."""

from __future__ import annotations

import re

import anyio
import pytest

from cordon_e2e import Engine, PendingCall, cli_async, mentions, records_mentioning, result_summary, run, text_of


@pytest.fixture(scope="module")
def engine(engine_factory) -> Engine:
    return engine_factory(servers=("filesystem",), http=False, approval_timeout="2s")


def test_unanswered_approval_times_out(engine: Engine) -> None:
    target = engine.files / "timeout.txt"
    target.write_text("original\n")

    async def scenario() -> None:
        seen: list[dict] = []
        async with engine.stdio() as session, anyio.create_task_group() as tg:
            call = PendingCall(session, "filesystem__write_file", {"path": str(target), "content": "changed\n"})
            tg.start_soon(call.run)
            # Nobody answers. Meanwhile note the pending entry (not required: on a very slow machine the
            # 2 s may pass before the first listing; the evidence below proves the call was held).
            while not call.done.is_set():
                seen += [e for e in await cli_async(engine.approvals) if mentions(target)(e)]
                await anyio.sleep(0.1)
            result = await call.outcome()
        assert result.is_error, result_summary(result)
        assert re.search(r"time[ds]?[ -]?out|expired", text_of(result), re.IGNORECASE), text_of(result)
        listing = await cli_async(engine.approvals)
        assert not [e for e in listing if mentions(target)(e)], f"expired approval still listed: {listing}"
        for pending in seen[:1]:
            assert pending["expires_at"] > pending["created_at"], pending
            # Even the human with the right code cannot release it any more.
            code = await cli_async(engine.approval_code, pending["id"])
            status, shown = await cli_async(engine.cli_tty, "approve", str(pending["id"]), "--code", code, check=False)
            assert status == 1 and "no pending approval" in shown, f"approving an expired call: exit {status}\n{shown}"

    run(scenario)
    assert target.read_text() == "original\n"
    records = records_mentioning(engine.log(), target)
    assert [r["outcome"] for r in records] == ["timed_out"], records
