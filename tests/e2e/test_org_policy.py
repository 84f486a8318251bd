"""Organisation policy from git (issue 18): one policy for a team's machines, applied only from
commits signed by keys the team trusts, with a local policy that can only make it stricter.

Real parts only: a local bare git repository as the team's policy repository, commits signed with
real SSH keys (ssh-keygen, `git -c gpg.format=ssh`), `cordon serve` pulling it with the real git
binary, calls made with the official MCP SDK through `cordon mcp`, the evidence read back with
`cordon log`, the state with `cordon status --json`.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cordon_e2e import Engine, run, text_of, yaml_str
from fleet_stores import wait_until

# Org policy v1: echo is allowed, everything else is denied (the org's default).
ORG_V1 = """version: org-1
default_decision: deny
rules:
  - id: org-allow-echo
    match: {topics: ["job.mcp-bridge.tool.everything.echo"]}
    decision: allow
    reason: "The reference echo tool has no side effects"
"""
# Org policy v2: reads are allowed too.
ORG_V2 = ORG_V1.replace("version: org-1", "version: org-2") + """  - id: org-allow-reads
    match: {topics: ["job.mcp-bridge.read.*"]}
    decision: allow
    reason: "Reads are fine"
"""
# What an attacker (or a careless push) would like in force.
ALLOW_ALL = "version: pwned\ndefault_decision: allow\nrules: []\n"


class Team:
    """The team's policy repository (bare, as on a git server) and a work clone to commit from."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null")
        for name in ("alice", "mallory"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(root / name)],
                           check=True, capture_output=True)
        self.origin = root / "policy.git"
        self.work = root / "work"
        self.git(root, "init", "-q", "--bare", str(self.origin))
        self.git(root, "init", "-q", "-b", "main", str(self.work))

    def git(self, cwd: Path, *args: str) -> str:
        proc = subprocess.run(["git", "-c", "user.name=Team", "-c", "user.email=team@example.com", *args],
                              cwd=cwd, env=self.env, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"git {args}: {proc.stderr}"
        return proc.stdout.strip()

    def public_key(self, name: str) -> str:
        return (self.root / f"{name}.pub").read_text().strip()

    def publish(self, text: str, signer: str | None, *, force_from: str | None = None) -> str:
        """Commits policy.yaml (signed by `signer`, or unsigned), pushes main, returns the commit id."""
        if force_from is not None:
            self.git(self.work, "reset", "-q", "--hard", force_from)
        (self.work / "policy.yaml").write_text(text)
        self.git(self.work, "add", "policy.yaml")
        sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={self.root / signer}"] if signer else []
        self.git(self.work, *sign, "commit", "-q", "--allow-empty", *(["-S"] if signer else []), "-m", "policy")
        self.git(self.work, "push", "-q", *(["--force"] if force_from else []), str(self.origin), "main")
        return self.git(self.work, "rev-parse", "HEAD")


def org_config(team: Team, local: Path | None = None) -> str:
    lines = [
        "policy:",
        f"  repo: {yaml_str(str(team.origin))}",
        "  branch: main",
        "  path: policy.yaml",
        "  pull_every: 1s",
        "  trusted_keys:",
        f"    - {yaml_str(team.public_key('alice'))}",
    ]
    if local is not None:
        lines.append(f"  local: {yaml_str(str(local))}")
    return "\n".join(lines) + "\n"


def start_with_org(factory: Callable[..., Engine], team: Team, local: Path | None = None) -> Engine:
    """An engine whose `policy:` names the team's repository instead of a file."""
    engine = factory(servers=("everything", "filesystem"), http=False, start=False)
    text = engine.config_text()
    lines = [line for line in text.splitlines() if not line.startswith("policy:")]
    engine.write_config("\n".join(lines) + "\n" + org_config(team, local))
    engine.start()
    return engine


def calls(engine: Engine, *names: str) -> list[Any]:
    """Calls each tool in order in one session; returns the results."""
    args = {"everything__echo": {"message": "hello"}, "filesystem__list_directory": {"path": str(engine.files)}}
    results: list[Any] = []

    async def scenario() -> None:
        async with engine.stdio() as session:
            for name in names:
                results.append(await session.call_tool(name, args[name]))

    run(scenario)
    return results


def status(engine: Engine) -> dict[str, Any]:
    data = engine.cli_json("status", "--json")
    assert isinstance(data, dict), data
    return data


def org_status(engine: Engine) -> dict[str, Any]:
    org = status(engine).get("org_policy")
    assert isinstance(org, dict), status(engine)
    return org


def last_record(engine: Engine, tool: str) -> dict[str, Any]:
    return [r for r in engine.log() if r.get("tool") == tool][-1]


@pytest.fixture
def team(tmp_path: Path) -> Team:
    return Team(tmp_path / "team")


def test_only_signed_commits_apply_and_the_version_is_the_commit(engine_factory: Callable[..., Engine], team: Team) -> None:
    v1 = team.publish(ORG_V1, "alice")
    engine = start_with_org(engine_factory, team)
    org = org_status(engine)
    assert org["commit"] == v1 and org["signer"].startswith("alice"), org
    assert status(engine)["policy_version"] == v1

    echo, listing = calls(engine, "everything__echo", "filesystem__list_directory")
    assert not echo.is_error, text_of(echo)
    assert listing.is_error and "Cordon denied this call" in text_of(listing), text_of(listing)
    for tool, decision in (("echo", "allow"), ("list_directory", "deny")):
        record = last_record(engine, tool)
        assert record["decision"] == decision and record["policy_version"] == v1, record
    # The evidence holds the policy's text under the commit id.
    with sqlite3.connect(f"file:{engine.evidence}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT sources FROM policy_snapshots WHERE version = ?", (v1,)).fetchall()
    assert len(rows) == 1 and "org-allow-echo" in rows[0][0], rows

    # Attacks on the branch, each refused with its reason while v1 stays in force.
    attacks: list[tuple[Callable[[], str], str]] = [
        (lambda: team.publish(ALLOW_ALL, None), "is not signed"),
        (lambda: team.publish(ALLOW_ALL, "mallory"), "not signed by a trusted key"),
        (lambda: team.publish(ALLOW_ALL, None, force_from=v1), "is not signed"),  # history rewritten
    ]
    for publish, why in attacks:
        commit = publish()
        wait_until(lambda c=commit: c in (org_status(engine).get("last_error") or ""), f"pull of {commit} refused")
        org = org_status(engine)
        assert why in org["last_error"] and org["commit"] == v1, org
        _, listing = calls(engine, "everything__echo", "filesystem__list_directory")
        assert listing.is_error, "an unverified commit was applied"
        assert last_record(engine, "list_directory")["policy_version"] == v1
    human = engine.cli("status").stdout
    assert f"commit {v1}" in human and "last pull not applied" in human, human

    # Signed but broken YAML: refused, v1 stays.
    broken = team.publish("version: [unclosed\n", "alice", force_from=v1)
    wait_until(lambda: "does not load" in (org_status(engine).get("last_error") or ""), "broken policy refused")
    assert broken in org_status(engine)["last_error"] and org_status(engine)["commit"] == v1

    # Alice signs v2: applied at the next pull, and the evidence names the new commit.
    v2 = team.publish(ORG_V2, "alice", force_from=v1)
    wait_until(lambda: org_status(engine).get("commit") == v2, "v2 in force")
    assert org_status(engine)["last_error"] is None
    (listing,) = calls(engine, "filesystem__list_directory")
    assert not listing.is_error, text_of(listing)
    record = last_record(engine, "list_directory")
    assert record["decision"] == "allow" and record["policy_version"] == v2 and record["rule_id"] == "org-allow-reads"


def test_no_verified_policy_at_first_start_refuses_every_call(engine_factory: Callable[..., Engine], team: Team) -> None:
    team.publish(ALLOW_ALL, None)
    engine = start_with_org(engine_factory, team)
    org = org_status(engine)
    assert org["commit"] is None and "is not signed" in org["last_error"], org
    assert "NONE VERIFIED YET" in engine.cli("status").stdout
    (echo,) = calls(engine, "everything__echo")
    text = text_of(echo)
    assert echo.is_error and "org-policy-unavailable" in text and "is not signed" in text, text
    assert last_record(engine, "echo")["decision"] == "deny"

    # The first good commit lifts the refusal.
    good = team.publish(ORG_V1, "alice")
    wait_until(lambda: org_status(engine).get("commit") == good, "first good policy in force")
    (echo,) = calls(engine, "everything__echo")
    assert not echo.is_error, text_of(echo)
    assert last_record(engine, "echo")["policy_version"] == good


def test_a_local_policy_only_makes_it_stricter(engine_factory: Callable[..., Engine], team: Team, tmp_path: Path) -> None:
    v1 = team.publish(ORG_V1, "alice")

    # A hostile local policy tries to allow what the org denies: no effect.
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text("""version: mine
default_decision: allow
rules:
  - id: local-allow-everything
    decision: allow
    reason: "I know better"
  - id: local-allow-reads
    match: {topics: ["job.mcp-bridge.read.*"]}
    decision: allow
    reason: "reads are fine here"
""")
    engine = start_with_org(engine_factory, team, hostile)
    echo, listing = calls(engine, "everything__echo", "filesystem__list_directory")
    assert not echo.is_error and listing.is_error, (text_of(echo), text_of(listing))
    record = last_record(engine, "list_directory")
    assert record["decision"] == "deny" and record["policy_version"].startswith(f"{v1}+local:mine+"), record
    engine.stop()

    # A local policy that adds a denial: in force, naming its rule.
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text("""version: laptop
rules:
  - id: local-no-echo
    match: {topics: ["job.mcp-bridge.tool.everything.echo"]}
    decision: deny
    reason: "No echo on this laptop"
""")
    engine = start_with_org(engine_factory, team, stricter)
    (echo,) = calls(engine, "everything__echo")
    assert echo.is_error and "local-no-echo" in text_of(echo), text_of(echo)
    record = last_record(engine, "echo")
    assert record["rule_id"] == "local-no-echo" and record["policy_version"].startswith(f"{v1}+local:laptop+")
    engine.stop()

    # A local policy that reclassifies calls (to slip under an org allow rule) is refused at start.
    sneaky = tmp_path / "sneaky.yaml"
    sneaky.write_text("""version: sneaky
classifiers:
  - tool: "list_directory"
    topic: job.mcp-bridge.tool.everything.echo
""")
    engine = engine_factory(servers=("everything", "filesystem"), http=False, start=False)
    lines = [line for line in engine.config_text().splitlines() if not line.startswith("policy:")]
    engine.write_config("\n".join(lines) + "\n" + org_config(team, sneaky))
    serve = engine.cli("serve", check=False)
    assert serve.returncode != 0, serve.stdout
    assert "cannot set `classifiers`" in serve.stderr, serve.stderr
