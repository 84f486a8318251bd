"""Evidence: a scripted session on a fresh engine leaves exactly one record per call, in order, with the
right outcome, reviewer and fields; `cordon log verify` accepts the log and rejects a tampered copy.
(timed_out is checked by test_timeout.py on its own engine.)"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import signal
import sqlite3
import subprocess

import anyio
import psutil
import pytest

from cordon_e2e import (
    CLI_TIMEOUT,
    REVIEWER,
    STDIO_AGENT,
    Engine,
    PendingCall,
    cli_async,
    cordon_bin,
    describe,
    everything_pids,
    mentions,
    result_summary,
    run,
    wait_for_approval,
)

FIELDS = {"agent", "session_id", "action", "target", "decision", "policy_version", "reviewer", "outcome",
          "timestamp", "server", "tool", "rule_id", "reason", "args", "diff", "duration_ms", "id", "seq"}


@pytest.fixture(scope="module")
def engine(engine_factory) -> Engine:
    return engine_factory(servers=("everything", "filesystem"), gated=True, http=False)


@pytest.fixture(scope="module")
def scripted(engine: Engine) -> list[dict]:
    """Runs the script once; returns the log. Each step is one tool call."""
    dotenv, approved, rejected = engine.files / ".env", engine.files / "approved.txt", engine.files / "rejected.txt"
    dotenv.write_text("TOKEN=hunter2-evidence\n")
    approved.write_text("before\n")
    rejected.write_text("before\n")

    async def scenario() -> None:
        async with engine.stdio() as session:
            assert not (await session.call_tool("everything__echo", {"message": "ev-allowed"})).is_error
            assert (await session.call_tool("filesystem__read_text_file", {"path": str(dotenv)})).is_error
            for target, decide in ((approved, "approve"), (rejected, "deny")):
                async with anyio.create_task_group() as tg:
                    call = PendingCall(session, "filesystem__write_file", {"path": str(target), "content": "after\n"})
                    tg.start_soon(call.run)
                    pending = await wait_for_approval(engine, call, mentions(target))
                    if decide == "approve":
                        await cli_async(engine.approve, pending["id"])
                    else:
                        await cli_async(engine.deny, pending["id"], "evidence test says no")
                    result = await call.outcome()
                    assert result.is_error == (decide == "deny"), result_summary(result)
            engine.gate.touch()  # the upstream stays down from here on
            pids = everything_pids(engine)
            assert len(pids) == 1, pids
            victim = psutil.Process(pids[0])
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)
            assert (await session.call_tool("everything__echo", {"message": "ev-error"})).is_error

    run(scenario)
    return engine.log()


def test_one_record_per_call_with_the_right_outcome(scripted: list[dict]) -> None:
    summary = [(r.get("server"), str(r.get("tool", "")).split("__")[-1], r.get("outcome")) for r in scripted]
    assert summary == [
        ("everything", "echo", "allowed"),
        ("filesystem", "read_text_file", "denied"),
        ("filesystem", "write_file", "approved"),
        ("filesystem", "write_file", "rejected"),
        ("everything", "echo", "error"),
    ], json.dumps(scripted, indent=1)


def test_records_carry_the_contract_fields(scripted: list[dict]) -> None:
    for record in scripted:
        missing = FIELDS - set(record)
        assert not missing, f"record lacks {sorted(missing)}: {record}"
        assert record["agent"] == STDIO_AGENT, record
        assert str(record["policy_version"]).startswith("e2e-1"), record
        stamp = dt.datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00"))
        assert stamp.utcoffset() == dt.timedelta(0), record["timestamp"]
        assert isinstance(record["duration_ms"], (int, float)) and record["duration_ms"] >= 0, record
    assert len({r["session_id"] for r in scripted}) == 1, "one client session, one session_id"
    assert scripted[0]["session_id"], scripted[0]
    seqs = [r["seq"] for r in scripted]
    assert seqs == sorted(set(seqs)), seqs
    assert len({r["id"] for r in scripted}) == len(scripted)


def test_decisions_rules_and_reviewer(scripted: list[dict]) -> None:
    allowed, denied, approved, rejected, error = scripted
    assert (allowed["decision"], allowed["rule_id"]) == ("allow", "allow-everything-echo"), allowed
    assert (denied["decision"], denied["rule_id"]) == ("deny", "deny-secrets-access"), denied
    assert denied["reason"] == "Direct secrets access blocked by policy", denied
    assert approved["decision"] == "require_approval" and approved["rule_id"] == "approve-code-write", approved
    assert approved["reviewer"] == REVIEWER, approved
    assert "+after" in (approved.get("diff") or ""), approved
    assert rejected["reviewer"] == REVIEWER, rejected
    assert error["decision"] == "allow", error
    assert "hunter2" not in json.dumps(scripted), "a secret reached the evidence log"


def test_log_verify_accepts_the_log(engine: Engine, scripted: list[dict]) -> None:
    proc = engine.cli("log", "verify", check=False)
    assert proc.returncode == 0, describe(proc)


def test_log_verify_rejects_a_tampered_copy(engine: Engine, scripted: list[dict], tmp_path) -> None:
    copy = tmp_path / "tampered.db"
    with sqlite3.connect(f"file:{engine.evidence}?mode=ro", uri=True) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    con = sqlite3.connect(copy)
    try:
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            con.execute(f'DROP TRIGGER "{name}"')
        changed = 0
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]
        for table in tables:
            for column in [c[1] for c in con.execute(f'PRAGMA table_info("{table}")').fetchall()]:
                cur = con.execute(f'UPDATE "{table}" SET "{column}" = \'allowed\' WHERE "{column}" = \'denied\'')
                changed += cur.rowcount
                cur = con.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", \'"outcome":"denied"\', \'"outcome":"allowed"\') '
                    f'WHERE typeof("{column}") = \'text\' AND "{column}" LIKE \'%"outcome":"denied"%\''
                )
                changed += cur.rowcount
        con.commit()
    finally:
        con.close()
    assert changed > 0, f"found no 'denied' outcome to tamper with in tables {tables}"

    config = tmp_path / "tampered.yaml"
    text = engine.config.read_text().replace(str(engine.evidence), str(copy))
    text = text.replace(str(engine.socket), str(tmp_path / "none.sock"))
    config.write_text(text)
    proc = subprocess.run(
        [str(cordon_bin()), "log", "verify", "--config", str(config)],
        capture_output=True, text=True, timeout=CLI_TIMEOUT, env=engine.env, check=False,
    )
    assert proc.returncode == 1, f"verify accepted a rewritten record\n{describe(proc)}"
    shutil.rmtree(tmp_path, ignore_errors=True)
