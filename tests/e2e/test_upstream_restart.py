"""An upstream killed mid-session: its calls fail with a clear error (no hang), Cordon restarts it, and
the same client session works again.

The everything server runs behind bin/gated: while the gate file exists, a (re)start waits. The test
closes the gate before the SIGKILL, so the "upstream down" window lasts until the test opens it,
whatever the engine's restart backoff is.
"""

from __future__ import annotations

import signal
import time

import anyio
import psutil
import pytest

from cordon_e2e import HANG_GUARD, POLL_DEADLINE, READY_DEADLINE, Engine, everything_pids, result_summary, run, text_of


@pytest.fixture(scope="module")
def engine(engine_factory) -> Engine:
    return engine_factory(servers=("everything", "filesystem"), gated=True, http=False)


def test_killed_upstream_fails_fast_then_recovers(engine: Engine) -> None:
    async def scenario() -> None:
        async with engine.stdio() as session:
            before = await session.call_tool("everything__echo", {"message": "before"})
            assert not before.is_error, result_summary(before)

            pids = everything_pids(engine)
            assert len(pids) == 1, f"expected one everything upstream under cordon serve, found {pids}"
            engine.gate.touch()
            victim = psutil.Process(pids[0])
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)

            # Down: refused with a message, not a hang (the client's read timeout is only a guard).
            down = await session.call_tool("everything__echo", {"message": "while-down"}, read_timeout_seconds=HANG_GUARD)
            assert down.is_error, f"call to a killed upstream: {result_summary(down)}"
            assert text_of(down).strip(), "the refusal carries no message"

            # Other upstreams are unaffected.
            listing = await session.call_tool("filesystem__list_directory", {"path": str(engine.files)})
            assert not listing.is_error, result_summary(listing)

            engine.gate.unlink()
            deadline = time.monotonic() + READY_DEADLINE + POLL_DEADLINE
            attempts = []
            while True:
                after = await session.call_tool("everything__echo", {"message": "after"})
                attempts.append(result_summary(after))
                if not after.is_error:
                    break
                assert time.monotonic() < deadline, f"upstream never came back; last results {attempts[-3:]}"
                await anyio.sleep(0.2)
            assert text_of(after) == "Echo: after", result_summary(after)
            new_pids = everything_pids(engine)
            assert len(new_pids) == 1 and new_pids != pids, (pids, new_pids)

    try:
        run(scenario)
    finally:
        engine.gate.unlink(missing_ok=True)
    records = [r for r in engine.log() if "while-down" in str(r.get("args"))]
    assert [r["outcome"] for r in records] == ["error"], records
