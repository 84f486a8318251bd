"""The e2e policy means what the other tests assume, checked with the CLI alone (no engine).

If one of these fails, the gateway tests that depend on that decision fail too, for this reason.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from cordon_e2e import CLI_TIMEOUT, POLICIES, cordon_bin, describe

POLICY = POLICIES / "e2e.yaml"


def cordon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(cordon_bin()), *args], capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False)


def test_policy_file_is_valid() -> None:
    proc = cordon("policy", "check", str(POLICY))
    assert proc.returncode == 0, describe(proc)


def test_policy_check_rejects_a_broken_policy(tmp_path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(POLICY.read_text().replace("decision: deny", "decision: maybe", 1))
    proc = cordon("policy", "check", str(broken))
    assert proc.returncode == 1, describe(proc)
    assert "broken.yaml" in proc.stdout + proc.stderr, describe(proc)


@pytest.mark.parametrize(
    ("server", "tool", "args", "decision", "rule"),
    [
        ("everything", "echo", {"message": "hi"}, "allow", "allow-everything-echo"),
        ("filesystem", "read_text_file", {"path": "/tmp/x/notes.txt"}, "allow", "allow-code-read"),
        ("filesystem", "read_text_file", {"path": "/tmp/x/.env"}, "deny", "deny-secrets-access"),
        ("filesystem", "read_text_file", {"path": "/tmp/x/sub/../.env"}, "deny", "deny-secrets-access"),
        ("filesystem", "read_multiple_files", {"paths": ["/tmp/x/a.txt", "/tmp/x/.env"]}, "deny", "deny-secrets-access"),
        ("filesystem", "write_file", {"path": "/tmp/x/a.txt", "content": "x"}, "require_approval", "approve-code-write"),
        ("git", "git_status", {"repo_path": "/tmp/x/repo"}, "allow", "allow-code-read"),
        ("git", "git_log", {"repo_path": "/tmp/x/repo"}, "allow", "allow-code-read"),
        ("git", "git_commit", {"repo_path": "/tmp/x/repo", "message": "m"}, "require_approval", None),
        ("git", "git_add", {"repo_path": "/tmp/x/repo", "files": ["a.txt"]}, "require_approval", None),
    ],
)
def test_explain_decisions_the_suite_relies_on(server, tool, args, decision, rule) -> None:
    proc = cordon(
        "policy", "explain", "--policy", str(POLICY), "--server", server, "--tool", tool, "--args", json.dumps(args)
    )
    assert proc.returncode == 0, describe(proc)
    explained = json.loads(proc.stdout)
    assert explained.get("decision") == decision, f"{server}/{tool} {args}: {explained}"
    if rule is not None:
        assert explained.get("rule") == rule, f"{server}/{tool} {args}: {explained}"
