// @vitest-environment happy-dom
// The evidence viewer in a DOM against a scripted shell: paging by cursor, details, export, errors.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { EvidenceQuery, RecordRow } from "../src/types";

type Handler = (args: Record<string, unknown>) => unknown;
const calls: [string, Record<string, unknown>][] = [];
const handlers: Record<string, Handler> = {};

vi.mock("@tauri-apps/api/core", () => ({
  invoke: async (cmd: string, args: Record<string, unknown> = {}) => {
    calls.push([cmd, args]);
    const h = handlers[cmd];
    if (!h) throw { kind: "engine", message: `unscripted command ${cmd}` };
    return h(args);
  },
}));
// The shell's native save dialog: the page only suggests a file name; null = cancelled.
const saveDialog = vi.fn((_suggested: string): string | null => "/home/u/out.csv");

const EVIL = "<img src=x onerror=alert(1)>";
const TOTAL = 120;
const row = (seq: number): RecordRow => ({
  id: `r${seq}`, seq, timestamp: new Date(Date.now() - (TOTAL - seq) * 60_000).toISOString(), agent: seq === TOTAL ? EVIL : "codex",
  session_id: "s", server: "fs", tool: "write_file", action: "job.mcp-bridge.write.file", target: `file${seq}.rs`,
  decision: "require_approval", outcome: "approved", rule_id: "r", reviewer: "alice", duration_ms: 3, has_diff: true, phase: null,
});

Object.assign(handlers, {
  engine_status: () => ({ running: true, standby: null, start_error: null, paused: false, paused_agents: [], pending: 0, policy_version: "v1", policy_path: null, config_path: null, evidence_path: "/e", evidence_fault: null, reviewer: "alice", approval_timeout_secs: 300, http_addr: null, autostart: false }),
  evidence_agents: () => ["codex", EVIL],
  evidence_activity: () => [],
  evidence_verify: () => ({ ok: false, records: TOTAL, checkpoints: 1, signed_through: 100, unsigned_tail: 20, key_fingerprint: "ab", problems: ["record 7: hash mismatch"] }),
  evidence_query: (a) => {
    const q = a.query as EvidenceQuery;
    const older = Array.from({ length: TOTAL }, (_, i) => row(TOTAL - i)).filter((r) => q.before_seq === null || r.seq < q.before_seq);
    const page = older.slice(0, q.limit);
    return { total: TOTAL, records: page, next_before_seq: older.length > q.limit ? page[page.length - 1]!.seq : null };
  },
  evidence_record: (a) => ({ ...row(Number(String(a.id).slice(1))), risk_tags: [], reason: "why", policy_version: "v1", args: { path: "x" }, diff: "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", error: null, prev_hash: "0".repeat(64), hash: "e".repeat(64) }),
  evidence_export: (a) => {
    const path = saveDialog(String(a.suggestedName));
    return path === null ? null : { path, records: 7 };
  },
} satisfies Record<string, Handler>);

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const queries = () => calls.filter(([c]) => c === "evidence_query").map(([, a]) => a.query as EvidenceQuery);
const lastQuery = () => queries()[queries().length - 1]!;
const until = (check: () => void) => vi.waitFor(check, { timeout: 3000, interval: 20 });

beforeAll(async () => {
  const html = readFileSync(resolve(__dirname, "../evidence.html"), "utf8");
  document.body.innerHTML = /<body[^>]*>([\s\S]*)<\/body>/.exec(html)![1]!.replace(/<script[\s\S]*?<\/script>/g, "");
  await import("../src/evidence");
  await until(() => expect(document.querySelectorAll("#records tbody tr")).toHaveLength(50));
});

describe("evidence viewer", () => {
  it("loads the newest page of the last 24 hours", () => {
    const q = queries()[0]!;
    expect(q.before_seq).toBeNull();
    expect(q.limit).toBe(50);
    expect(Date.now() - Date.parse(q.since!)).toBeGreaterThan(23.9 * 3600_000);
    expect($("page-label").textContent).toBe("1–50 of 120");
    expect($<HTMLButtonElement>("prev").disabled).toBe(true);
  });

  it("renders agent-controlled strings as text", () => {
    expect(document.querySelector("#records img, #f-agent img")).toBeNull();
    expect($("records").textContent).toContain(EVIL);
    expect([...$<HTMLSelectElement>("f-agent").options].map((o) => o.value)).toContain(EVIL);
  });

  it("pages older by the returned cursor and back", async () => {
    $("next").click();
    await until(() => expect($("page-label").textContent).toBe("51–100 of 120"));
    expect(lastQuery().before_seq).toBe(71);
    $("next").click();
    await until(() => expect($("page-label").textContent).toBe("101–120 of 120"));
    expect(lastQuery().before_seq).toBe(21);
    expect($<HTMLButtonElement>("next").disabled).toBe(true);
    $("prev").click();
    await until(() => expect($("page-label").textContent).toBe("51–100 of 120"));
    expect(lastQuery().before_seq).toBe(71);
  });

  it("goes back to the first page when the filter changes, refusing a bad action pattern", async () => {
    const n = queries().length;
    $<HTMLInputElement>("f-action").value = "job..write";
    $("filters").dispatchEvent(new Event("submit", { cancelable: true }));
    await until(() => expect($("statusline").textContent).toMatch(/action pattern/));
    expect(queries()).toHaveLength(n);
    $<HTMLInputElement>("f-action").value = "job.*.write.>";
    $("filters").dispatchEvent(new Event("submit", { cancelable: true }));
    await until(() => expect(queries()).toHaveLength(n + 1));
    expect(lastQuery()).toMatchObject({ action: "job.*.write.>", before_seq: null });
  });

  it("opens a record's details with the approved diff", async () => {
    await until(() => expect($("page-label").textContent).toBe("1–50 of 120"));
    (document.querySelector('#records tr[data-id="r119"]') as HTMLElement).click();
    await until(() => expect($("detail").hidden).toBe(false));
    expect($("d-facts").textContent).toContain("alice");
    expect($("d-hashes").textContent).toContain("e".repeat(64));
    expect($("d-diff").querySelector(".d2h-wrapper")).not.toBeNull();
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect($("detail").hidden).toBe(true);
  });

  it("shows a failed verification loudly", async () => {
    await until(() => expect($("verify").textContent).toContain("Chain broken"));
    expect($("verify-detail").textContent).toContain("record 7: hash mismatch");
  });

  it("exports with the current filter through the shell's save dialog, never naming a path", async () => {
    (document.querySelector('.exports button[data-format="csv"]') as HTMLElement).click();
    await until(() => expect($("statusline").textContent).toContain("Exported 7 records to /home/u/out.csv"));
    const exp = calls.filter(([c]) => c === "evidence_export").map(([, a]) => a);
    expect(exp).toHaveLength(1);
    expect(exp[0]).toMatchObject({ format: "csv", query: { action: "job.*.write.>", before_seq: null } });
    expect(exp[0]).not.toHaveProperty("path");
    expect(String(exp[0]?.suggestedName)).toMatch(/^cordon-evidence-.*\.csv$/);
    saveDialog.mockReturnValueOnce(null); // the user cancels the JSONL dialog
    (document.querySelector('.exports button[data-format="jsonl"]') as HTMLElement).click();
    await until(() => expect(calls.filter(([c]) => c === "evidence_export")).toHaveLength(2));
    expect($("statusline").textContent).toContain("/home/u/out.csv"); // a cancel reports nothing new
    (document.querySelector('.exports button[data-format="bundle"]') as HTMLElement).click();
    await until(() => expect(calls.filter(([c]) => c === "evidence_export")).toHaveLength(3));
    expect(calls.filter(([c]) => c === "evidence_export").map(([, a]) => a.format)).toEqual(["csv", "jsonl", "bundle"]);
  });

  it("shows a command's error in the status line", async () => {
    handlers.evidence_export = () => {
      throw { kind: "io", message: "permission denied: /root/x.csv" };
    };
    (document.querySelector('.exports button[data-format="csv"]') as HTMLElement).click();
    await until(() => expect($("statusline").textContent).toBe("Export failed: File error: permission denied: /root/x.csv"));
    expect($("statusline").hidden).toBe(false);
  });
});
