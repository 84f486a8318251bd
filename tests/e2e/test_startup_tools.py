"""An agent that connects while the engine is still starting its upstreams sees their tools: its
first `tools/list` waits (bounded) until the upstreams are up instead of answering without them.
Agents list tools once per session, so an early empty answer would hide the upstream for good.

The everything server runs behind bin/gated: it cannot start while the gate file exists, so the
test decides exactly when the upstream comes up (no race with a fast start).
"""

from __future__ import annotations

import anyio

from cordon_e2e import Engine, run


def test_tools_list_during_startup_waits_for_the_upstreams(engine_factory) -> None:
    engine: Engine = engine_factory(servers=("everything",), gated=True, http=False, start=False)
    engine.gate.touch()
    # Start `cordon serve` by hand: the harness's own start waits for the upstreams.
    engine.start_process()

    async def scenario() -> None:
        async with engine.stdio(wait_tools=False) as session:
            listed: list[str] = []

            async def list_tools() -> None:
                result = await session.list_tools()
                listed.extend(t.name for t in result.tools)

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(list_tools)
                # The list is pending while the upstream cannot start...
                await anyio.sleep(1.0)
                assert not listed, f"tools/list answered before the upstream was up: {listed}"
                # ...and answers with its tools once it is up.
                engine.gate.unlink()
            assert "everything__echo" in listed, listed

    run(scenario)
