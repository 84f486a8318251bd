// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { asError, el, errorText, StatusLine, table } from "../src/dom";
import { agentOptions, barTooltip, fillDetails, recordsTable } from "../src/evrender";
import type { EvidenceRecord, RecordRow } from "../src/types";

const EVIL = `<img src=x onerror="alert(1)"><script>alert(2)</script>&amp;`;

const row = (over: Partial<RecordRow> = {}): RecordRow => ({
  id: "01J",
  seq: 7,
  timestamp: "2026-11-25T01:02:03.000Z",
  agent: "claude-code",
  session_id: "s",
  server: "filesystem",
  tool: "write_file",
  action: "job.mcp-bridge.write.file",
  target: "src/a.rs",
  decision: "require_approval",
  outcome: "approved",
  rule_id: "approve-code-write",
  reviewer: "alice",
  duration_ms: 12,
  has_diff: true,
  phase: null,
  ...over,
});

const record = (over: Partial<EvidenceRecord> = {}): EvidenceRecord => ({
  ...row(),
  outcome: "approved",
  risk_tags: ["code-change"],
  reason: "File writes need developer review",
  policy_version: "v1",
  args: { path: "src/a.rs" },
  diff: "--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1 +1 @@\n-old\n+new\n",
  error: null,
  prev_hash: "0".repeat(64),
  hash: "f".repeat(64),
  ...over,
});

function parts() {
  const mk = () => document.createElement("div");
  return { title: mk(), facts: mk(), args: mk(), diffBox: mk(), diff: mk(), hashes: mk() };
}

describe("escaping agent-controlled strings", () => {
  it("renders hostile record fields in the table as text", () => {
    const t = recordsTable([row({ agent: EVIL, target: EVIL, tool: EVIL, server: EVIL, reviewer: EVIL, decision: EVIL, outcome: EVIL, id: `x"] onclick="alert(1)` })], null);
    document.body.replaceChildren(t);
    expect(document.querySelector("img")).toBeNull();
    expect(document.querySelector("script")).toBeNull();
    expect(document.querySelector("[onerror]")).toBeNull();
    expect(document.querySelector("[onclick]")).toBeNull();
    expect(t.textContent).toContain(`<img src=x onerror="alert(1)">`);
    expect(t.querySelector("tbody tr")?.getAttribute("data-id")).toBe(`x"] onclick="alert(1)`);
  });

  it("renders hostile record details as text; the diff goes through diff2html's escaping", () => {
    const p = parts();
    fillDetails(p, record({ agent: EVIL, target: EVIL, reason: EVIL, args: { content: EVIL }, error: EVIL, diff: `--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+${EVIL}\n` }), "line-by-line");
    const all = [p.title, p.facts, p.args, p.diff, p.hashes];
    document.body.replaceChildren(...all);
    expect(document.querySelector("img")).toBeNull();
    expect(document.querySelector("script")).toBeNull();
    expect(p.title.textContent).toContain("<img");
    expect(p.args.textContent).toContain(`"content": "<img src=x onerror=\\"alert(1)\\">`);
    expect(p.facts.textContent).toContain("Error");
    expect(p.diff.querySelector(".d2h-wrapper")).not.toBeNull();
    expect(p.diff.textContent).toContain("<script>");
  });

  it("shows a non-diff 'diff' text as plain text and hides the box without one", () => {
    const p = parts();
    fillDetails(p, record({ diff: `(cannot diff ${EVIL})` }), "side-by-side");
    expect(p.diffBox.hidden).toBe(false);
    expect(p.diff.querySelector("pre")?.textContent).toBe(`(cannot diff ${EVIL})`);
    fillDetails(p, record({ diff: null }), "side-by-side");
    expect(p.diffBox.hidden).toBe(true);
    expect(p.diff.childElementCount).toBe(0);
  });

  it("marks a write-ahead intent so that it does not read as a second call", () => {
    const t = recordsTable([row({ id: "i", phase: "intent", outcome: "approved" }), row({ id: "o", phase: "outcome" }), row({ id: "old" })], null);
    const cell = (id: string) => t.querySelector(`tr[data-id="${id}"] td:nth-child(6)`)?.textContent;
    expect(cell("i")).toBe("intent approved");
    expect(cell("o")).toBe("approved");
    expect(cell("old")).toBe("approved");
    const p = parts();
    fillDetails(p, record({ phase: "intent" }), "side-by-side");
    expect(p.facts.textContent).toContain("intent (recorded before the call ran)");
    fillDetails(p, record({ phase: null }), "side-by-side");
    expect(p.facts.textContent).not.toContain("Phase");
  });

  it("puts every record field and both hashes in the details", () => {
    const p = parts();
    fillDetails(p, record(), "line-by-line");
    const text = p.facts.textContent ?? "";
    for (const s of ["#7", "01J", "claude-code", "filesystem__write_file", "job.mcp-bridge.write.file", "src/a.rs", "code-change", "approve-code-write", "File writes need developer review", "alice", "12 ms", "v1"]) expect(text).toContain(s);
    expect(p.hashes.textContent).toContain("f".repeat(64));
    expect(p.hashes.textContent).toContain("0".repeat(64));
  });

  it("builds elements without markup and refuses inline handlers", () => {
    const node = el("span", EVIL, "c", { title: EVIL });
    expect(node.childElementCount).toBe(0);
    expect(node.textContent).toBe(EVIL);
    expect(node.getAttribute("title")).toBe(EVIL);
    expect(() => el("span", "x", undefined, { onclick: "alert(1)" })).toThrow(/inline handler/);
    const t = table([EVIL], [[EVIL]]);
    expect(t.querySelector("img")).toBeNull();
    expect(t.querySelector("td")?.textContent).toBe(EVIL);
  });

  it("lists agents as options, keeping the current choice", () => {
    const select = document.createElement("select");
    agentOptions(select, ["b", EVIL, "a", "b"]);
    expect([...select.options].map((o) => o.value)).toEqual(["", EVIL, "a", "b"]); // "All", then sorted, deduplicated
    expect(select.querySelector("img")).toBeNull();
    select.value = "a";
    agentOptions(select, ["z"]);
    expect(select.value).toBe("a");
  });

  it("describes a bar", () => {
    expect(barTooltip(Date.parse("2026-11-25T01:00:00Z"), [{ series: "allowed", count: 3 }], 3)).toMatch(/: 3 calls \(3 allowed\)$/);
    expect(barTooltip(0, [], 1)).toMatch(/1 call$/);
    expect(barTooltip(0, [{ series: "denied", count: 3 }], 3, [["claude", 2], ["cursor", 1]])).toMatch(/3 calls \(3 denied\)\nclaude: 2\ncursor: 1$/);
  });
});

describe("errors are shown, never swallowed", () => {
  it("reads the shell's {kind, message} and anything else", () => {
    expect(asError({ kind: "invalid", message: "line 3" })).toEqual({ kind: "invalid", message: "line 3" });
    expect(asError("boom")).toEqual({ kind: "engine", message: "boom" });
    expect(asError(new Error("x"))).toMatchObject({ message: "x" });
    expect(errorText({ kind: "not_running", message: "the engine is stopped" })).toBe("Engine not running: the engine is stopped");
    expect(errorText({ kind: "invalid", message: "Invalid policy" })).toBe("Invalid policy");
    expect(errorText({ kind: "unknown_approval", message: "gone" })).toBe("gone");
  });

  it("puts errors in the status line as text and keeps them visible", () => {
    const p = document.createElement("p");
    const s = new StatusLine(p);
    s.error({ kind: "io", message: EVIL }, "Export failed");
    expect(p.hidden).toBe(false);
    expect(p.className).toContain("error");
    expect(p.textContent).toBe(`Export failed: File error: ${EVIL}`);
    expect(p.querySelector("img")).toBeNull();
    expect(p.getAttribute("role")).toBe("status");
    s.clear();
    expect(p.hidden).toBe(true);
  });
});
