// @vitest-environment happy-dom
// The settings window end to end in a DOM, against a scripted shell (every invoke is recorded).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { Diagnostic, ServerEntry } from "../src/types";

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

const GOOD = "version: v1\nrules:\n  - id: a\n    decision: allow\n";
const diagnose = (text: string): Diagnostic[] => {
  const i = text.split("\n").findIndex((l) => l.includes("decision: maybe"));
  return i < 0 ? [] : [{ severity: "error", file: "safety.yaml", line: i + 1, column: 15, message: "unknown decision `maybe`" }];
};
const STATUS = { running: true, standby: null, start_error: null, paused: false, paused_agents: [], pending: 0, policy_version: "v1", policy_path: "/p/safety.yaml", config_path: "/c.yaml", evidence_path: "/e.db", evidence_fault: null, reviewer: "alice", approval_timeout_secs: 300, http_addr: null, autostart: false };
let servers: ServerEntry[] = [{ name: "github", transport: "stdio", command: "gh-mcp", args: [], env: { TOKEN: "${keychain:GH}" }, cwd: null, url: null, headers: {} }];
const settings = () => ({ reviewer: "alice", approval_timeout_secs: 300, config_path: "/c.yaml", servers });

Object.assign(handlers, {
  engine_status: () => STATUS,
  policy_get: () => ({ source: "file", path: "/p/safety.yaml", version: "v1", files: [{ name: "safety.yaml", path: "/p/safety.yaml", text: GOOD }] }),
  policy_validate: (a) => {
    const d = diagnose(String(a.text));
    return { ok: d.length === 0, version: d.length ? null : "v2", diagnostics: d, rules: 1, tests: 0 };
  },
  policy_events: () => [],
  policy_save: () => ({ version: "v2", path: "/p/safety.yaml" }),
  config_get: () => settings(),
  secrets_list: () => [{ name: "GH", used_by: ["github"], stored: true }],
  server_save: (a) => {
    servers = [...servers, a.entry as ServerEntry];
    return settings();
  },
} satisfies Record<string, Handler>);

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const calledWith = (cmd: string) => calls.filter(([c]) => c === cmd).map(([, a]) => a);
const until = (check: () => void) => vi.waitFor(check, { timeout: 3000, interval: 20 });

/** Types into the CodeMirror editor through its view (as a keystroke would). */
async function edit(text: string): Promise<void> {
  const { EditorView } = await import("@codemirror/view");
  const view = EditorView.findFromDOM($("editor"))!;
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

beforeAll(async () => {
  const html = readFileSync(resolve(__dirname, "../settings.html"), "utf8");
  document.body.innerHTML = /<body[^>]*>([\s\S]*)<\/body>/.exec(html)![1]!.replace(/<script[\s\S]*?<\/script>/g, "");
  location.hash = "#policy";
  await import("../src/settings");
  await until(() => expect($("validity").textContent).toMatch(/^Valid/));
});

describe("policy editor", () => {
  it("validates the loaded file and keeps Save off until something changes", () => {
    expect(calledWith("policy_validate")[0]).toEqual({ name: "safety.yaml", text: GOOD });
    expect($<HTMLButtonElement>("save").disabled).toBe(true);
  });

  it("validates edits after a pause and shows the error at its line and column; Save stays off", async () => {
    const before = calledWith("policy_validate").length;
    await edit(GOOD.replace("allow", "mayb"));
    await edit(GOOD.replace("allow", "maybe")); // typed quickly: one validation, of the last text
    expect($<HTMLButtonElement>("save").disabled).toBe(true);
    await until(() => expect($("validity").textContent).toBe("1 error"));
    expect(calledWith("policy_validate").slice(before)).toEqual([{ name: "safety.yaml", text: GOOD.replace("allow", "maybe") }]);
    expect($("diagnostics").textContent).toContain("4:15");
    expect($("diagnostics").textContent).toContain("unknown decision `maybe`");
    expect($<HTMLButtonElement>("save").disabled).toBe(true);
  });

  it("refuses Ctrl+S while invalid without calling policy_save", async () => {
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "s", ctrlKey: true, bubbles: true, cancelable: true }));
    await until(() => expect($("statusline").textContent).toMatch(/Not saved/));
    expect(calledWith("policy_save")).toHaveLength(0);
  });

  it("saves a valid edit with Ctrl+S and shows the new version", async () => {
    const fixed = GOOD.replace("allow", "deny");
    await edit(fixed);
    await until(() => expect($<HTMLButtonElement>("save").disabled).toBe(false));
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "s", ctrlKey: true, bubbles: true, cancelable: true }));
    await until(() => expect(calledWith("policy_save")).toEqual([{ name: "safety.yaml", text: fixed }]));
    await until(() => expect($("statusline").textContent).toContain("v2"));
    expect($("policy-version").textContent).toBe("in force: v2");
    expect($<HTMLButtonElement>("save").disabled).toBe(true);
  });

  it("keeps the editor's text and shows why when the engine refuses a save", async () => {
    handlers.policy_save = () => {
      throw { kind: "conflict", message: "the policy file changed on disk" };
    };
    const text = GOOD.replace("allow", "require_approval");
    await edit(text);
    await until(() => expect($<HTMLButtonElement>("save").disabled).toBe(false));
    $("save").click();
    await until(() => expect($("statusline").textContent).toContain("the policy file changed on disk"));
    expect($("statusline").className).toContain("error");
    const { EditorView } = await import("@codemirror/view");
    expect(EditorView.findFromDOM($("editor"))!.state.doc.toString()).toBe(text);
  });
});

describe("policy changes made outside the window", () => {
  const events: { at: string; ok: boolean; version: string | null; message: string }[] = [];
  const editorText = async () => {
    const { EditorView } = await import("@codemirror/view");
    return EditorView.findFromDOM($("editor"))!.state.doc.toString();
  };

  it("offers to load a new version when the editor has unsaved edits", async () => {
    handlers.policy_events = () => events;
    const mine = await editorText(); // unsaved since the refused save
    events.push({ at: "2026-11-25T03:00:00Z", ok: true, version: "v7", message: "reloaded after an edit on disk" });
    handlers.policy_get = () => ({ source: "file", path: "/p/safety.yaml", version: "v7", files: [{ name: "safety.yaml", path: "/p/safety.yaml", text: "version: v7\n" }] });
    window.dispatchEvent(new Event("focus"));
    await until(() => expect($("external").hidden).toBe(false));
    expect($("external").textContent).toContain("while you were editing");
    expect(await editorText()).toBe(mine); // nothing is thrown away without asking
    ($("external").querySelector("button") as HTMLButtonElement).click();
    await until(async () => expect(await editorText()).toBe("version: v7\n"));
  });

  it("reloads at once when nothing is being edited, and reports a refused edit", async () => {
    events.push({ at: "2026-11-25T03:01:00Z", ok: true, version: "v8", message: "reloaded" });
    handlers.policy_get = () => ({ source: "file", path: "/p/safety.yaml", version: "v8", files: [{ name: "safety.yaml", path: "/p/safety.yaml", text: "version: v8\n" }] });
    window.dispatchEvent(new Event("focus"));
    await until(async () => expect(await editorText()).toBe("version: v8\n"));
    expect($("external").textContent).toContain("reloaded");
    events.push({ at: "2026-11-25T03:02:00Z", ok: false, version: null, message: "safety.yaml:3:5: unknown key `rulez`" });
    window.dispatchEvent(new Event("focus"));
    await until(() => expect($("external").textContent).toContain("unknown key `rulez`"));
    expect($("external").className).toContain("bad");
    expect(await editorText()).toBe("version: v8\n");
    expect($("events").textContent).toContain("refused");
  });
});

describe("servers and secrets", () => {
  it("refuses a server name with a space at the field, then saves a valid one", async () => {
    $("tab-servers").click();
    await until(() => expect($("servers").textContent).toContain("github"));
    $("server-add").click();
    $<HTMLInputElement>("sv-name").value = "my server";
    $<HTMLInputElement>("sv-command").value = "npx";
    $("server-form").dispatchEvent(new Event("submit", { cancelable: true }));
    await until(() => expect(document.querySelector('small.err[data-for="name"]')?.textContent).toMatch(/no spaces/));
    expect(calledWith("server_save")).toHaveLength(0);
    $<HTMLInputElement>("sv-name").value = "files";
    $<HTMLTextAreaElement>("sv-args").value = "-y\n@scope/server\n";
    $("server-form").dispatchEvent(new Event("submit", { cancelable: true }));
    await until(() => expect(calledWith("server_save")).toHaveLength(1));
    expect(calledWith("server_save")[0]).toEqual({
      entry: { name: "files", transport: "stdio", command: "npx", args: ["-y", "@scope/server"], env: {}, cwd: null, url: null, headers: {} },
      originalName: null,
    });
    await until(() => expect($("restart-box").hidden).toBe(false));
  });

  it("sends a secret's value once and clears the field before the answer", async () => {
    let release: (v: unknown) => void = () => undefined;
    handlers.secret_set = () => new Promise((r) => (release = r));
    $("tab-secrets").click();
    await until(() => expect($("secrets").textContent).toContain("GH"));
    $<HTMLInputElement>("sc-name").value = "NEW_TOKEN";
    $<HTMLInputElement>("sc-value").value = "hunter2-secret";
    $("secret-form").dispatchEvent(new Event("submit", { cancelable: true }));
    await until(() => expect(calledWith("secret_set")).toEqual([{ name: "NEW_TOKEN", value: "hunter2-secret" }]));
    expect($<HTMLInputElement>("sc-value").value).toBe(""); // cleared while the call is in flight
    release([{ name: "NEW_TOKEN", used_by: [], stored: true }]);
    await until(() => expect($("secrets").textContent).toContain("NEW_TOKEN"));
    expect(document.body.innerHTML).not.toContain("hunter2-secret");
  });
});
