"""Issue 14, items 5-7: approvals cannot be forged by the agent's own processes, session grants are
scoped to their target, and what the reviewer is shown is what happens.

The attacker here is anything that runs as the agent's OS user: a command the policy allowed, a git
hook, a build script. It can reach Cordon's control socket, run `cordon approve`, fake a terminal
with `script -qc`, and speak the socket protocol itself. It never sees the one-time code, which the
headless engine prints only on its own stderr (read here by `Engine.approval_code`, the test playing
the human who watches that terminal).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio

from cordon_e2e import (
    CLI_TIMEOUT,
    POLL_DEADLINE,
    POLL_INTERVAL,
    REVIEWER,
    Engine,
    PendingCall,
    cli_async,
    cordon_bin,
    describe,
    mentions,
    records_mentioning,
    result_summary,
    run,
    socket_request,
    wait_for_approval,
)

FORGERY_GUARD = "cordon (forged-approval guard)"
ESC = "\x1b"


def as_agent(engine: Engine, command: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """A shell command run the way an agent's allowed command runs: same user, same environment,
    no terminal (stdin is a pipe, stdout captured)."""
    return subprocess.run(
        ["sh", "-c", command],
        input=stdin,
        capture_output=True,
        text=True,
        env=engine.env,
        cwd=engine.root,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def approve_cmd(engine: Engine, approval_id: str, *extra: str) -> str:
    argv = [str(cordon_bin()), "approve", approval_id, *extra, "--config", str(engine.config)]
    return shlex.join(argv)


def pending_ids(engine: Engine) -> set[str]:
    return {entry["id"] for entry in engine.approvals()}


def forgery_hook_repo(engine: Engine, name: str, hook_body: str) -> Path:
    """A git repository whose pre-commit hook runs `hook_body`: the git-hook route of issue 14."""
    repo = engine.root / name
    repo.mkdir()
    env = {**engine.env, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\n" + hook_body + "\nexit 0\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    return repo


def git_commit(engine: Engine, repo: Path) -> subprocess.CompletedProcess[str]:
    env = {**engine.env, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}
    return subprocess.run(
        ["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def test_the_agents_processes_cannot_approve_but_the_human_can(shared_engine: Engine, files: Path) -> None:
    engine = shared_engine
    target = files / "forged.txt"
    target.write_text("before\n")
    outcome: dict[str, Any] = {}

    async def scenario() -> None:
        async with engine.stdio() as session:
            call = PendingCall(session, "filesystem__write_file", {"path": str(target), "content": "pwned\n"})
            async with anyio.create_task_group() as tg:
                tg.start_soon(call.run)
                pending = await wait_for_approval(engine, call, mentions(target))
                approval_id = pending["id"]

                # 1. An allowed command runs `cordon approve ID` (no terminal): refused outright.
                plain = await cli_async(as_agent, engine, approve_cmd(engine, approval_id))
                assert plain.returncode == 1, describe(plain)
                assert "interactive terminal" in plain.stderr, describe(plain)

                # 2. The same under a pseudo-terminal (`script -qc`): it gets to the code prompt
                #    and has nothing to type.
                faked = await cli_async(
                    as_agent, engine, f"script -qec {shlex.quote(approve_cmd(engine, approval_id))} /dev/null", "\n"
                )
                assert faked.returncode != 0, describe(faked)

                # 3. A git hook does it, with a pty and a guessed code (one wrong attempt).
                repo = forgery_hook_repo(
                    engine,
                    "hooked-repo",
                    f"script -qec {shlex.quote(approve_cmd(engine, approval_id, '--code', 'AAAA-AAAA'))} /dev/null",
                )
                committed = await cli_async(git_commit, engine, repo)
                assert committed.returncode == 0, describe(committed)

                # 4. The socket protocol itself: no code, then a guessed one (second wrong attempt).
                bare = await cli_async(socket_request, engine, {"op": "approve", "id": approval_id})
                assert bare["ok"] is False and "one-time code" in bare["error"], bare
                guessed = await cli_async(
                    socket_request, engine, {"op": "approve", "id": approval_id, "code": "BBBB-BBBB", "session": True}
                )
                assert guessed["ok"] is False and "wrong code" in guessed["error"], guessed

                # Nothing was approved: still held, file untouched, the call not answered.
                assert approval_id in await cli_async(pending_ids, engine)
                assert target.read_text() == "before\n"
                assert not call.done.is_set(), "a forged approval released the call"

                # The human, at the engine's terminal, reads the code and approves.
                outcome["code"] = await cli_async(engine.approval_code, approval_id)
                await cli_async(engine.approve, approval_id)
                result = await call.outcome()
                assert not result.is_error, result_summary(result)

    run(scenario)
    assert target.read_text() == "pwned\n"
    records = records_mentioning(engine.log(), target)
    assert [r["outcome"] for r in records] == ["approved"], records
    assert records[0]["reviewer"] == REVIEWER, records[0]
    assert records[0]["approval_channel"] == "cli-code", records[0]
    shown = engine.cli("log", "show", records[0]["id"]).stdout
    assert re.search(r"^approval_channel:\s+cli-code$", shown, re.M), shown
    # The engine told its human about each wrong code (a forgery attempt or a typo).
    warnings = [line for line in engine.stderr_path.read_text().splitlines() if "WARNING: wrong code" in line]
    assert len(warnings) >= 2, warnings
    assert outcome["code"] not in json.dumps(engine.approvals())


def test_forged_codes_are_bounded_then_the_call_is_refused(shared_engine: Engine, files: Path) -> None:
    engine = shared_engine
    target = files / "guessed.txt"

    async def scenario() -> None:
        async with engine.stdio() as session:
            call = PendingCall(session, "filesystem__write_file", {"path": str(target), "content": "x\n"})
            async with anyio.create_task_group() as tg:
                tg.start_soon(call.run)
                pending = await wait_for_approval(engine, call, mentions(target))
                approval_id = pending["id"]
                right = await cli_async(engine.approval_code, approval_id)
                replies = [
                    await cli_async(socket_request, engine, {"op": "approve", "id": approval_id, "code": guess})
                    for guess in ("0000-0000", "1111-1111", "2222-2222")
                ]
                assert [r["ok"] for r in replies] == [False, False, False], replies
                assert "2 attempts left" in replies[0]["error"], replies
                assert "refused as a possible forgery" in replies[2]["error"], replies
                result = await call.outcome()
                assert result.is_error, result_summary(result)
                assert "wrong approval codes" in json.dumps(result_summary(result)), result_summary(result)
                # The right code is too late: the call is gone.
                status, shown = await cli_async(engine.cli_tty, "approve", approval_id, "--code", right, check=False)
                assert status == 1 and "no pending approval" in shown, shown

    run(scenario)
    assert not target.exists()
    records = records_mentioning(engine.log(), target)
    assert [r["outcome"] for r in records] == ["rejected"], records
    assert records[0]["reviewer"] == FORGERY_GUARD, records[0]
    assert records[0].get("approval_channel") is None, records[0]


def test_resume_and_tool_acceptance_need_the_code_too(engine_factory: Any) -> None:
    engine = engine_factory(servers=("everything",))
    engine.cli("pause")
    # From an agent's process: plain, under a pty, and on the socket.
    plain = as_agent(engine, shlex.join([str(cordon_bin()), "resume", "--config", str(engine.config)]))
    assert plain.returncode == 1 and "interactive terminal" in plain.stderr, describe(plain)
    inner = shlex.join([str(cordon_bin()), "resume", "--code", "CCCC-CCCC", "--config", str(engine.config)])
    faked = as_agent(engine, f"script -qec {shlex.quote(inner)} /dev/null")
    assert faked.returncode != 0, describe(faked)
    for request in (
        {"op": "resume"},
        {"op": "resume", "code": "DDDD-DDDD"},
        {"op": "approve_tool", "server": "everything", "tool": "echo", "hash": "deadbeefdead"},
    ):
        reply = socket_request(engine, request)
        assert reply["ok"] is False, (request, reply)
    state = json.loads(engine.cli("pause", "--status", "--json").stdout)
    assert state["all"] is True, state
    # The human resumes with the code the engine showed.
    engine.resume()
    state = json.loads(engine.cli("pause", "--status", "--json").stdout)
    assert state == {"all": False, "agents": []}, state


def test_a_session_grant_covers_its_target_only(shared_engine: Engine, files: Path) -> None:
    engine = shared_engine
    a, b = files / "a.txt", files / "b.txt"
    folder = files / "granted"
    folder.mkdir()
    inside, outside = folder / "one.txt", files / "granted-not" / "two.txt"
    outside.parent.mkdir()

    async def write(session: Any, path: Path, content: str) -> Any:
        return await session.call_tool("filesystem__write_file", {"path": str(path), "content": content})

    async def scenario() -> None:
        async with engine.stdio() as session:
            # Approved once for the session on file A...
            async with anyio.create_task_group() as tg:
                call = PendingCall(session, "filesystem__write_file", {"path": str(a), "content": "1\n"})
                tg.start_soon(call.run)
                pending = await wait_for_approval(engine, call, mentions(a))
                await cli_async(lambda: engine.approve(pending["id"], session=True))
                assert not (await call.outcome()).is_error
            # ...file A again passes without asking...
            again = await write(session, a, "2\n")
            assert not again.is_error, result_summary(again)
            assert a.read_text() == "2\n"
            # ...but a write to file B is held again (denied here).
            async with anyio.create_task_group() as tg:
                call = PendingCall(session, "filesystem__write_file", {"path": str(b), "content": "b\n"})
                tg.start_soon(call.run)
                pending = await wait_for_approval(engine, call, mentions(b))
                await cli_async(engine.deny, pending["id"], "not this one")
                assert (await call.outcome()).is_error
            # A path prefix the reviewer picked: files under it pass, a sibling with a longer name
            # does not.
            async with anyio.create_task_group() as tg:
                first = folder / "first.txt"
                call = PendingCall(session, "filesystem__write_file", {"path": str(first), "content": "f\n"})
                tg.start_soon(call.run)
                pending = await wait_for_approval(engine, call, mentions(first))
                await cli_async(lambda: engine.approve(pending["id"], prefix=str(folder)))
                assert not (await call.outcome()).is_error
            assert not (await write(session, inside, "in\n")).is_error
            async with anyio.create_task_group() as tg:
                call = PendingCall(session, "filesystem__write_file", {"path": str(outside), "content": "out\n"})
                tg.start_soon(call.run)
                pending = await wait_for_approval(engine, call, mentions(outside))
                await cli_async(engine.deny, pending["id"], "outside the granted folder")
                assert (await call.outcome()).is_error

    run(scenario)
    assert not b.exists() and not outside.exists() and inside.read_text() == "in\n"
    channels = [(r["outcome"], r.get("approval_channel")) for r in records_mentioning(engine.log(), a)]
    assert channels == [("approved", "cli-code"), ("approved", "session-grant/cli-code")], channels
    inside_records = records_mentioning(engine.log(), inside)
    assert [r.get("approval_channel") for r in inside_records] == ["session-grant/cli-code"], inside_records


def test_a_prefix_that_covers_everything_is_refused(shared_engine: Engine, files: Path) -> None:
    engine = shared_engine
    target = files / "wide.txt"

    async def scenario() -> None:
        async with engine.stdio() as session:
            async with anyio.create_task_group() as tg:
                call = PendingCall(session, "filesystem__write_file", {"path": str(target), "content": "w\n"})
                tg.start_soon(call.run)
                pending = await wait_for_approval(engine, call, mentions(target))
                code = await cli_async(engine.approval_code, pending["id"])
                for prefix in ("/", str(Path.home()), str(files / "elsewhere")):
                    status, shown = await cli_async(
                        engine.cli_tty, "approve", pending["id"], "--session-prefix", prefix, "--code", code, check=False
                    )
                    assert status == 1 and "cannot approve for the session" in shown, (prefix, shown)
                # Refused scopes decided nothing: deny it now.
                await cli_async(engine.deny, pending["id"], "done")
                assert (await call.outcome()).is_error

    run(scenario)
    assert not target.exists()


def test_the_reviewer_sees_hostile_text_escaped(shared_engine: Engine, files: Path) -> None:
    engine = shared_engine
    name = "evil\x1b[2K\n+++ b/harmless.txt\u202etxt.exe"
    target = files / name
    content = "ok\n\x1b[31mred\rfake line\n"

    async def scenario() -> None:
        async with engine.stdio() as session:
            async with anyio.create_task_group() as tg:
                call = PendingCall(session, "filesystem__write_file", {"path": str(target), "content": content})
                tg.start_soon(call.run)
                pending = await wait_for_approval(engine, call, lambda e: "evil" in json.dumps(e))
                listing = await cli_async(engine.cli, "approvals", "--diff")
                shown = listing.stdout
                for raw in (ESC, "\r", "\u202e"):
                    assert raw not in shown, repr(shown)
                assert "evil\\x1b[2K\\n+++ b/harmless.txt\\u{202e}txt.exe" in shown, shown
                # The only `+++` line is the diff's own header: the name injected none.
                plus = [line for line in shown.splitlines() if line.strip().startswith("+++")]
                assert len(plus) == 1 and "\\n+++ b/harmless" in plus[0], plus
                # The file name inside the stored diff is escaped too (what the window shows).
                assert "\n+++ b/harmless.txt" not in (pending.get("diff") or ""), pending.get("diff")
                await cli_async(engine.deny, pending["id"], "hostile name")
                assert (await call.outcome()).is_error

    run(scenario)
    records = [r for r in engine.log() if "evil" in json.dumps(r.get("args"))]
    assert len(records) == 1, records
    for argv in (("log", "list"), ("log", "show", records[0]["id"]), ("log", "session", records[0]["session_id"])):
        shown = engine.cli(*argv).stdout
        for raw in (ESC, "\r", "\u202e"):
            assert raw not in shown, (argv, repr(shown))
        if argv[1] != "list":  # the list truncates long targets; show and session print them whole
            assert "evil\\x1b[2K\\n+++ b/harmless.txt\\u{202e}" in shown, (argv, shown)


def test_the_engine_says_which_reviewer_it_records(engine_factory: Any) -> None:
    """Issue 19: with no USER/LOGNAME, the reviewer falls back to the OS account name, said aloud."""
    engine = engine_factory(servers=(), start=False)
    engine.write_config(
        "\n".join(line for line in engine.config.read_text().splitlines() if not line.startswith("reviewer:")) + "\n"
    )
    for key in ("USER", "USERNAME", "LOGNAME"):
        engine.env.pop(key, None)
    engine.start()
    import pwd

    account = pwd.getpwuid(os.getuid()).pw_name
    said = f"reviewer `{account}` (from the OS account of uid {os.getuid()}"
    # The engine says it once it serves, which can be just after its socket first accepts.
    deadline = time.monotonic() + POLL_DEADLINE
    while said not in (text := engine.stderr_path.read_text()) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
    assert said in text, text
