import { describe, expect, it } from "vitest";
import { exportTarget, formatDuration, formatTime, humanize, prettyArgs, recordFacts, tone, toolName, verifyText } from "../src/evformat";
import { engineFacts, engineLine, secretNameError, timeoutError } from "../src/settingsmodel";
import type { EvidenceRecord, Status, VerifySummary } from "../src/types";

describe("evidence formatting", () => {
  it("formats times and keeps an unparseable one as it is", () => {
    expect(formatTime("2026-11-25T01:02:03.456Z", true)).toBe("2026-11-25 01:02:03");
    expect(formatTime("2026-01-05T23:59:59+00:00", true)).toBe("2026-01-05 23:59:59");
    expect(formatTime("garbage", true)).toBe("garbage");
    expect(formatTime("2026-11-25T01:02:03Z")).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  });

  it("formats durations", () => {
    expect(formatDuration(0)).toBe("0 ms");
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(1234)).toBe("1.2 s");
    expect(formatDuration(184_000)).toBe("3 min 4 s");
    expect(formatDuration(-1)).toBe("—");
    expect(formatDuration(Number.NaN)).toBe("—");
  });

  it("colours decisions and outcomes", () => {
    expect(tone("allow")).toBe("good");
    expect(tone("approved")).toBe("good");
    expect(tone("require_approval")).toBe("held");
    for (const v of ["deny", "denied", "rejected", "timed_out", "error"]) expect(tone(v)).toBe("bad");
    expect(tone("something new")).toBe("neutral");
    expect(humanize("timed_out")).toBe("timed out");
    expect(toolName({ server: "fs", tool: "read" })).toBe("fs__read");
  });

  it("pretty-prints any JSON value of args", () => {
    expect(prettyArgs({ a: [1, "x"] })).toBe('{\n  "a": [\n    1,\n    "x"\n  ]\n}');
    expect(prettyArgs(null)).toBe("null");
    expect(prettyArgs(undefined)).toBe("null");
    expect(prettyArgs("s")).toBe('"s"');
  });

  it("lists a record's fields, with the error only when there is one", () => {
    const r: EvidenceRecord = {
      id: "01J", seq: 3, timestamp: "2026-11-25T01:00:00Z", agent: "codex", session_id: "s1", server: "fs", tool: "write", action: "job.x", target: null,
      risk_tags: [], decision: "deny", rule_id: null, reason: "r", policy_version: "v9", reviewer: null, outcome: "denied", args: {}, diff: null,
      duration_ms: 5, error: null, prev_hash: "p", hash: "h",
    };
    const facts = Object.fromEntries(recordFacts(r));
    expect(facts).toMatchObject({ Agent: "codex", Target: "—", "Risk tags": "none", Rule: "(policy default)", Reviewer: "—", Decision: "deny", Outcome: "denied", Policy: "v9" });
    expect(facts.Error).toBeUndefined();
    expect(Object.fromEntries(recordFacts({ ...r, error: "upstream crashed" })).Error).toBe("upstream crashed");
  });

  it("summarises verification, failing loudly on problems", () => {
    const ok: VerifySummary = { ok: true, records: 1200, checkpoints: 3, signed_through: 1100, unsigned_tail: 100, key_fingerprint: "ab:cd", problems: [] };
    expect(verifyText(ok)).toEqual({ ok: true, text: "Chain intact: 1,200 records, signed through #1100", detail: "3 checkpoints, 100 records after the last checkpoint; key ab:cd" });
    expect(verifyText({ ...ok, signed_through: null, key_fingerprint: null, unsigned_tail: 0 }).text).toContain("no signed checkpoint yet");
    const bad = verifyText({ ...ok, ok: false, problems: ["record 7: hash mismatch", "record 8: prev_hash mismatch"] });
    expect(bad.ok).toBe(false);
    expect(bad.text).toBe("Chain broken: 2 problems");
    expect(bad.detail).toContain("record 7");
    expect(verifyText({ ...ok, ok: false, problems: [] }).ok).toBe(false); // not ok without details still fails
  });

  it("suggests export file names and filters", () => {
    const now = Date.parse("2026-11-25T04:05:00Z");
    expect(exportTarget("jsonl", now).defaultPath).toBe("cordon-evidence-20261125-0405.jsonl");
    expect(exportTarget("csv", now).filters[0]?.extensions).toEqual(["csv"]);
    expect(exportTarget("bundle", now).defaultPath).toBe("cordon-evidence-20261125-0405.bundle.jsonl");
  });
});

describe("settings formatting and checks", () => {
  const s: Status = {
    running: true, standby: null, start_error: null, paused: false, paused_agents: [], pending: 1, policy_version: "v3", policy_path: null, config_path: null,
    evidence_path: "/e.db", evidence_fault: null, reviewer: "alice", approval_timeout_secs: 300, http_addr: null, autostart: false,
  };

  it("describes the engine", () => {
    expect(engineLine(s)).toBe("Running · policy v3 · 1 approval waiting");
    expect(engineLine({ ...s, paused: true, pending: 0 })).toBe("Paused: every call is refused · policy v3 · 0 approvals waiting");
    expect(engineLine({ ...s, paused_agents: ["cursor"] })).toContain("paused: cursor");
    expect(engineLine({ ...s, running: false })).toBe("Engine stopped");
    const standing = { ...s, running: false, standby: "Cordon cannot record evidence, so it refuses every call until it can: disk full" };
    expect(engineLine(standing)).toBe(`Standing by: ${standing.standby}`);
    expect(Object.fromEntries(engineFacts(standing)).State).toBe("standing by");
    const broken = { ...s, running: false, start_error: "insecure: it holds the agents' HTTP tokens; run `chmod 600 c.yaml`" };
    expect(engineLine(broken)).toBe(`Cannot start: ${broken.start_error}`);
    expect(Object.fromEntries(engineFacts(broken)).State).toBe("cannot start");
    const facts = Object.fromEntries(engineFacts(s));
    expect(facts.Policy).toBe("v3 (built-in default)");
    expect(facts.Config).toBe("none (defaults)");
    expect(facts["HTTP endpoint"]).toBe("off");
    const fault = { ...s, paused: true, evidence_fault: "database or disk is full (since 2026-12-07T20:00:00Z)" };
    expect(engineLine(fault)).toBe("Evidence log not writable: every call is refused · policy v3 · 1 approval waiting");
    expect(Object.fromEntries(engineFacts(fault)).Evidence).toBe(
      "/e.db: NOT WRITABLE, database or disk is full (since 2026-12-07T20:00:00Z)",
    );
  });

  it("checks secret names", () => {
    expect(secretNameError("GITHUB_TOKEN")).toBeNull();
    expect(secretNameError("a.b-c_d")).toBeNull();
    expect(secretNameError("")).not.toBeNull();
    expect(secretNameError("has space")).not.toBeNull();
    expect(secretNameError("a/b")).not.toBeNull();
    expect(secretNameError("${keychain:x}")).not.toBeNull();
    expect(secretNameError("x".repeat(129))).not.toBeNull();
  });

  it("checks the approval timeout", () => {
    expect(timeoutError("300")).toBeNull();
    expect(timeoutError(" 60 ")).toBeNull();
    expect(timeoutError("0")).not.toBeNull();
    expect(timeoutError("-5")).not.toBeNull();
    expect(timeoutError("1.5")).not.toBeNull();
    expect(timeoutError("")).not.toBeNull();
    expect(timeoutError("86401")).not.toBeNull();
    expect(timeoutError("1e3")).not.toBeNull();
  });
});
