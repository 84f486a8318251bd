"""Allow path: a call the policy allows is forwarded and its result comes back unchanged.

"Unchanged" is checked against the same upstream called directly with the same SDK: content,
isError and structuredContent must be identical.
"""

from __future__ import annotations

from pathlib import Path

from cordon_e2e import EVERYTHING, FILESYSTEM, Engine, direct, result_summary, run


def test_echo_identical_to_direct_call(shared_engine: Engine) -> None:
    args = {"message": "hello through cordon \u2713 <&> \"quoted\""}

    async def scenario() -> None:
        async with direct(EVERYTHING, ["stdio"], shared_engine.new_stderr("direct-everything")) as upstream:
            expected = await upstream.call_tool("echo", args)
        async with shared_engine.stdio() as session:
            got = await session.call_tool("everything__echo", args)
        assert not expected.is_error, result_summary(expected)
        assert result_summary(got) == result_summary(expected)

    run(scenario)


def test_read_file_identical_to_direct_call(shared_engine: Engine, files: Path) -> None:
    target = files / "notes.txt"
    target.write_text("line one\nline two: caf\u00e9\n")
    calls = [("read_text_file", {"path": str(target)}), ("read_file", {"path": str(target)})]

    async def scenario() -> None:
        async with direct(FILESYSTEM, [str(shared_engine.files)], shared_engine.new_stderr("direct-fs")) as upstream:
            expected = [await upstream.call_tool(name, args) for name, args in calls]
        async with shared_engine.stdio() as session:
            got = [await session.call_tool(f"filesystem__{name}", args) for name, args in calls]
        for (name, _), want, have in zip(calls, expected, got):
            assert not want.is_error, (name, result_summary(want))
            assert "caf\u00e9" in str(result_summary(want)["content"])
            assert result_summary(have) == result_summary(want), name

    run(scenario)


def test_upstream_error_result_passes_through(shared_engine: Engine, files: Path) -> None:
    """An allowed read of a missing file: the upstream's own isError result, as the direct call gives."""
    missing = {"path": str(files / "does-not-exist.txt")}

    async def scenario() -> None:
        async with direct(FILESYSTEM, [str(shared_engine.files)], shared_engine.new_stderr("direct-fs")) as upstream:
            expected = await upstream.call_tool("read_text_file", missing)
        async with shared_engine.stdio() as session:
            got = await session.call_tool("filesystem__read_text_file", missing)
        assert expected.is_error, result_summary(expected)
        assert got.is_error, result_summary(got)
        assert result_summary(got)["content"] == result_summary(expected)["content"]

    run(scenario)


def test_tools_are_namespaced_per_server(shared_engine: Engine) -> None:
    """tools/list shows every upstream tool as <server>__<tool>, with the upstream's schema."""

    async def scenario() -> None:
        async with direct(EVERYTHING, ["stdio"], shared_engine.new_stderr("direct-everything")) as upstream:
            upstream_tools = {t.name: t for t in (await upstream.list_tools()).tools}
        async with shared_engine.stdio() as session:
            listed = {t.name: t for t in (await session.list_tools()).tools}
        for name, tool in upstream_tools.items():
            assert f"everything__{name}" in listed, sorted(listed)
            assert listed[f"everything__{name}"].input_schema == tool.input_schema, name
        assert all("__" in name for name in listed), sorted(listed)
        assert {n.split("__", 1)[0] for n in listed} == {"everything", "filesystem"}, sorted(listed)

    run(scenario)
