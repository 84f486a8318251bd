"""Deny path: a secrets read is refused before it reaches the upstream, with the rule and reason.

The file really exists and the filesystem server would happily return it: the secret must not
appear in the result, whatever disguise the path wears.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cordon_e2e import Engine, result_summary, run, text_of

SECRET = "E2E_API_KEY=hunter2-must-never-leak"


@pytest.fixture
def dotenv(files: Path) -> Path:
    (files / "sub").mkdir(exist_ok=True)
    (files / "ok.txt").write_text("harmless\n")
    path = files / ".env"
    path.write_text(SECRET + "\n")
    return path


def paths_for(dotenv: Path) -> dict[str, tuple[str, dict]]:
    d = dotenv.parent
    return {
        "plain": ("read_text_file", {"path": str(dotenv)}),
        "read_file": ("read_file", {"path": str(dotenv)}),
        "dot-segment": ("read_text_file", {"path": f"{d}/./.env"}),
        "dotdot": ("read_text_file", {"path": f"{d}/sub/../.env"}),
        "multiple": ("read_multiple_files", {"paths": [str(d / "ok.txt"), str(dotenv)]}),
    }


@pytest.mark.parametrize("variant", ["plain", "read_file", "dot-segment", "dotdot", "multiple"])
def test_dotenv_read_is_denied(shared_engine: Engine, dotenv: Path, variant: str) -> None:
    tool, args = paths_for(dotenv)[variant]

    async def scenario() -> None:
        async with shared_engine.stdio() as session:
            result = await session.call_tool(f"filesystem__{tool}", args)
        summary = result_summary(result)
        assert "hunter2" not in str(summary), f"the secret leaked: {summary}"
        assert result.is_error, summary
        text = text_of(result)
        assert text.startswith("Cordon denied this call:"), text
        assert "deny-secrets-access" in text, text
        assert "Direct secrets access blocked by policy" in text, text

    run(scenario)


def test_denied_call_leaves_a_denied_record(shared_engine: Engine, dotenv: Path) -> None:
    async def scenario() -> None:
        async with shared_engine.stdio() as session:
            result = await session.call_tool("filesystem__read_text_file", {"path": str(dotenv)})
            assert result.is_error

    run(scenario)
    records = [r for r in shared_engine.log() if str(dotenv) in str(r.get("args")) or str(dotenv) == r.get("target")]
    assert len(records) == 1, records
    record = records[0]
    assert record["outcome"] == "denied", record
    assert record["rule_id"] == "deny-secrets-access", record
    assert record["decision"] == "deny", record
    assert "hunter2" not in str(shared_engine.log()), "the secret reached the evidence log"


def test_denied_over_http_too(shared_engine: Engine, dotenv: Path) -> None:
    async def scenario() -> None:
        async with shared_engine.http() as session:
            result = await session.call_tool("filesystem__read_text_file", {"path": str(dotenv)})
        assert result.is_error, result_summary(result)
        assert "hunter2" not in str(result_summary(result))
        assert "deny-secrets-access" in text_of(result)

    run(scenario)
