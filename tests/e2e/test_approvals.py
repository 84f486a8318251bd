"""require_approval: a file write is held until a human decides with `cordon approve` / `cordon deny`.

While held: the call has not returned, the file is untouched, and `cordon approvals --json` lists the
call with a unified diff of the proposed change.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from collections.abc import Callable

from cordon_e2e import (
    POLL_DEADLINE,
    REVIEWER,
    STDIO_AGENT,
    Engine,
    PendingCall,
    cli_async,
    mentions,
    records_mentioning,
    result_summary,
    run,
    text_of,
    wait_for_approval,
)

BEFORE = "alpha\nbravo\ncharlie\n"
AFTER = "alpha\nBRAVO-CHANGED\ncharlie\n"


def write_args(path: Path) -> dict[str, str]:
    return {"path": str(path), "content": AFTER}


def test_write_is_held_then_approved(shared_engine: Engine, files: Path) -> None:
    target = files / "approved.txt"
    target.write_text(BEFORE)

    async def scenario() -> None:
        async with shared_engine.stdio() as session, anyio.create_task_group() as tg:
            call = PendingCall(session, "filesystem__write_file", write_args(target))
            tg.start_soon(call.run)
            pending = await wait_for_approval(shared_engine, call, mentions(target))

            # Held: not returned, nothing written, and the listing carries what the reviewer needs.
            assert not call.done.is_set(), call.describe()
            assert target.read_text() == BEFORE
            for key in ("id", "agent", "session_id", "server", "tool", "action", "target", "risk_tags",
                        "rule_id", "reason", "diff", "created_at", "expires_at"):
                assert key in pending, f"approval entry lacks {key!r}: {json.dumps(pending, indent=1)}"
            assert pending["agent"] == STDIO_AGENT, pending
            assert pending["server"] == "filesystem", pending
            assert pending["rule_id"] == "approve-code-write", pending
            assert pending["action"] == "job.mcp-bridge.write.file", pending
            diff = pending["diff"]
            assert isinstance(diff, str), pending
            assert "-bravo" in diff.splitlines(), diff
            assert "+BRAVO-CHANGED" in diff.splitlines(), diff
            assert any(line.startswith("@@") for line in diff.splitlines()), diff
            assert any(line.startswith("---") for line in diff.splitlines()), diff

            code = await cli_async(shared_engine.approval_code, pending["id"])
            await cli_async(shared_engine.approve, pending["id"])
            result = await call.outcome()
            assert not result.is_error, result_summary(result)
            assert target.read_text() == AFTER
            # Used once: it is gone from the queue, and approving it again is an error.
            listing = await cli_async(shared_engine.approvals)
            assert not [e for e in listing if e["id"] == pending["id"]], listing
            status, shown = await cli_async(
                shared_engine.cli_tty, "approve", str(pending["id"]), "--code", code, check=False
            )
            assert status == 1 and "no pending approval" in shown, f"approving twice: exit {status}\n{shown}"

    run(scenario)
    records = records_mentioning(shared_engine.log(), target)
    assert [r["outcome"] for r in records] == ["approved"], records
    assert records[0]["reviewer"] == REVIEWER, records[0]
    assert "+BRAVO-CHANGED" in (records[0].get("diff") or ""), "the diff the reviewer saw is not in the evidence"


def test_write_is_held_then_denied(shared_engine: Engine, files: Path) -> None:
    target = files / "rejected.txt"
    target.write_text(BEFORE)

    async def scenario() -> None:
        async with shared_engine.stdio() as session, anyio.create_task_group() as tg:
            call = PendingCall(session, "filesystem__write_file", write_args(target))
            tg.start_soon(call.run)
            pending = await wait_for_approval(shared_engine, call, mentions(target))
            await cli_async(shared_engine.deny, pending["id"], "e2e says no")
            result = await call.outcome()
            assert result.is_error, result_summary(result)
            assert "e2e says no" in text_of(result) or "denied" in text_of(result).lower(), text_of(result)

    run(scenario)
    assert target.read_text() == BEFORE
    records = records_mentioning(shared_engine.log(), target)
    assert [r["outcome"] for r in records] == ["rejected"], records


HELD_LIMIT = 16


def test_an_agent_cannot_bury_the_reviewer_under_held_calls(engine_factory: Callable[..., Engine]) -> None:
    """An agent floods calls that need an approval: 16 wait for the human, every one beyond is
    denied at once with its rule and reason and recorded, nothing of those is written, and once
    the human answers one, a new call is held again."""
    engine = engine_factory()
    flood = [engine.files / f"flood-{n}.txt" for n in range(HELD_LIMIT + 4)]
    extra = engine.files / "after-an-answer.txt"

    async def scenario() -> None:
        async with engine.stdio() as session, anyio.create_task_group() as tg:
            calls = [PendingCall(session, "filesystem__write_file", write_args(path)) for path in flood]
            for call in calls:
                tg.start_soon(call.run)
            deadline = anyio.current_time() + POLL_DEADLINE
            while sum(call.done.is_set() for call in calls) < len(flood) - HELD_LIMIT:
                assert anyio.current_time() < deadline, [c.describe() for c in calls]
                await anyio.sleep(0.1)
            listing = await cli_async(engine.approvals)
            assert len(listing) == HELD_LIMIT, json.dumps(listing, indent=1)
            refused = [call for call in calls if call.done.is_set()]
            for call in refused:
                result = await call.outcome()
                assert result.is_error, result_summary(result)
                text = text_of(result)
                assert "cordon:held-limit" in text and "awaiting approval" in text, text
                assert "approve-code-write" in text, f"the rule that asked for the approval is not named: {text}"
            # The human answers one: a new call is held again.
            await cli_async(engine.deny, listing[0]["id"], "flood")
            again = PendingCall(session, "filesystem__write_file", write_args(extra))
            tg.start_soon(again.run)
            await wait_for_approval(engine, again, mentions(extra))
            tg.cancel_scope.cancel()

    run(scenario)
    assert not any(path.exists() for path in flood + [extra]), "a refused or held write happened"
    denied = [r for r in engine.log() if r.get("rule_id") == "cordon:held-limit"]
    assert len(denied) == 4 and all(r["outcome"] == "denied" for r in denied), denied


def test_held_write_over_http_then_approved(shared_engine: Engine, files: Path) -> None:
    target = files / "http-approved.txt"
    target.write_text(BEFORE)

    async def scenario() -> None:
        async with shared_engine.http() as session, anyio.create_task_group() as tg:
            call = PendingCall(session, "filesystem__write_file", write_args(target))
            tg.start_soon(call.run)
            pending = await wait_for_approval(shared_engine, call, mentions(target))
            assert pending["agent"] == "e2e-http", pending
            assert target.read_text() == BEFORE
            await cli_async(shared_engine.approve, pending["id"])
            result = await call.outcome()
            assert not result.is_error, result_summary(result)

    run(scenario)
    assert target.read_text() == AFTER


def test_approve_and_deny_unknown_id_fail(shared_engine: Engine) -> None:
    status, shown = shared_engine.cli_tty("approve", "no-such-approval-id", "--code", "AAAA-AAAA", check=False)
    assert status == 1 and "no pending approval" in shown, f"exit {status}\n{shown}"
    proc = shared_engine.cli("deny", "no-such-approval-id", "--reason", "x", check=False)
    assert proc.returncode == 1, f"deny: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "no pending approval" in proc.stderr, proc.stderr


@pytest.mark.parametrize("tool", ["edit_file", "move_file", "create_directory"])
def test_every_filesystem_change_is_held(shared_engine: Engine, files: Path, tool: str) -> None:
    """No write tool of the filesystem server slips through as a read: each is held, and denied here."""
    source = files / "source.txt"
    source.write_text(BEFORE)
    moved, created = files / "moved.txt", files / "created-dir"
    args = {
        "edit_file": {"path": str(source), "edits": [{"oldText": "bravo", "newText": "BRAVO-EDITED"}]},
        "move_file": {"source": str(source), "destination": str(moved)},
        "create_directory": {"path": str(created)},
    }[tool]
    marker = created if tool == "create_directory" else source

    async def scenario() -> None:
        async with shared_engine.stdio() as session, anyio.create_task_group() as tg:
            call = PendingCall(session, f"filesystem__{tool}", args)
            tg.start_soon(call.run)
            pending = await wait_for_approval(shared_engine, call, mentions(marker))
            assert str(pending["action"]).startswith("job.mcp-bridge.write."), pending
            if tool == "edit_file":
                assert "+BRAVO-EDITED" in str(pending.get("diff")).splitlines(), pending
            await cli_async(shared_engine.deny, pending["id"], "e2e: no changes")
            result = await call.outcome()
            assert result.is_error, result_summary(result)

    run(scenario)
    assert source.read_text() == BEFORE
    assert not moved.exists() and not created.exists()


def test_watch_feed_follows_holds_and_decisions(shared_engine: Engine, files: Path) -> None:
    """`{"op":"watch"}` on the control socket (what the tray and the approval window follow instead
    of polling): a line at once, another when a call is held, and another when it is decided
    anywhere else (here `cordon deny`), so a notification can be withdrawn at once."""
    import socket as socketlib

    target = files / "watched.txt"
    target.write_text(BEFORE)
    sock = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(str(shared_engine.socket))
    sock.sendall(b'{"op":"watch"}\n')
    feed = sock.makefile("r", encoding="utf-8")

    def next_list() -> list[str]:
        line = feed.readline()
        assert line, "the engine closed the watch feed"
        msg = json.loads(line)
        assert msg["ok"] is True, msg
        return [a["id"] for a in msg["approvals"]]

    def until(pred) -> list[str]:  # type: ignore[no-untyped-def]
        for _ in range(20):
            ids = next_list()
            if pred(ids):
                return ids
        raise AssertionError("the watch feed never showed the expected list")

    first = next_list()

    async def scenario() -> None:
        async with shared_engine.stdio() as session, anyio.create_task_group() as tg:
            call = PendingCall(session, "filesystem__write_file", write_args(target))
            tg.start_soon(call.run)
            pending = await wait_for_approval(shared_engine, call, mentions(target))
            held = await anyio.to_thread.run_sync(lambda: until(lambda ids: pending["id"] in ids))
            assert pending["id"] not in first
            assert pending["id"] in held
            await cli_async(shared_engine.deny, pending["id"], "watched and refused")
            gone = await anyio.to_thread.run_sync(lambda: until(lambda ids: pending["id"] not in ids))
            assert pending["id"] not in gone
            result = await call.outcome()
            assert result.is_error, result_summary(result)

    try:
        run(scenario)
    finally:
        sock.close()
    assert target.read_text() == BEFORE


def test_approvals_lists_in_words_and_diff_shows_each_change(shared_engine: Engine, files: Path) -> None:
    """Issue 19: `cordon approvals` says each held write in words with its reason; `--diff` shows the change
    against the file on disk (an edit, a whole-file rewrite, a new file all added, a binary file summarised),
    and a file changed on disk since the hold is said."""
    edited, rewritten, new, binary = (files / n for n in ("words-edit.txt", "words-rewrite.txt", "words-new.txt", "words.bin"))
    edited.write_text(BEFORE)
    rewritten.write_text(BEFORE)
    binary.write_bytes(b"\x00\x01\x02binary")
    calls_args = [
        ("edit_file", {"path": str(edited), "edits": [{"oldText": "bravo", "newText": "BRAVO-EDITED"}]}),
        ("write_file", write_args(rewritten)),
        ("write_file", {"path": str(new), "content": "fresh one\nfresh two\n"}),
        ("write_file", {"path": str(binary), "content": "text now\n"}),
    ]

    async def scenario() -> None:
        async with shared_engine.stdio() as session, anyio.create_task_group() as tg:
            calls = [PendingCall(session, f"filesystem__{tool}", args) for tool, args in calls_args]
            for call in calls:
                tg.start_soon(call.run)
            held = [await wait_for_approval(shared_engine, call, mentions(target)) for call, target in zip(calls, (edited, rewritten, new, binary))]
            short = (await cli_async(shared_engine.cli, "approvals")).stdout
            for p, name, counts in zip(held, ("words-edit.txt", "words-rewrite.txt", "words-new.txt"), ("(+1 \u22121)", "(+1 \u22121)", "(+2)")):
                verb = "create" if name == "words-new.txt" else "change"
                assert f"{p['id']}  {STDIO_AGENT} wants to {verb} " in short, short
                line = next(l for l in short.splitlines() if l.startswith(p["id"]))
                assert line.endswith(f"{name} {counts}"), line
            assert "reason: File writes need developer review" in short, short
            assert "BRAVO" not in short and "--diff" in short, short
            full = (await cli_async(shared_engine.cli, "approvals", "--diff")).stdout
            assert "    -bravo\n    +BRAVO-EDITED\n" in full, full
            assert "    -bravo\n    +BRAVO-CHANGED\n" in full, full
            assert "    --- /dev/null\n" in full and "    +fresh one\n    +fresh two\n" in full, full
            assert "binary file of 9 bytes" in full, full
            assert '"content"' not in full, "raw JSON arguments instead of a diff"
            # The file changes under the reviewer: the listing says so.
            rewritten.write_text(BEFORE + "appended meanwhile\n")
            warned = (await cli_async(shared_engine.cli, "approvals")).stdout
            assert warned.count("WARNING: the file changed on disk") == 1, warned
            for p in held:
                await cli_async(shared_engine.deny, p["id"], "e2e: words only")
            for call in calls:
                assert (await call.outcome()).is_error

    run(scenario)
    assert edited.read_text() == BEFORE and not new.exists() and binary.read_bytes() == b"\x00\x01\x02binary"
