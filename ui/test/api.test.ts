// Every wrapper sends the shell's command name and argument keys (src-tauri/src/commands/).
import { beforeEach, describe, expect, it, vi } from "vitest";

const calls: [string, unknown][] = [];
vi.mock("@tauri-apps/api/core", () => ({
  invoke: (cmd: string, args?: unknown) => {
    calls.push([cmd, args]);
    return Promise.resolve(null);
  },
}));

const api = await import("../src/api");

const Q = { agent: null, action: null, decision: null, outcome: null, since: null, until: null, text: null, before_seq: 42, limit: 50 };
const E = { name: "gh", transport: "stdio" as const, command: "x", args: [], env: {}, cwd: null, url: null, headers: {} };

describe("command wrappers", () => {
  beforeEach(() => {
    calls.length = 0;
  });

  it.each<[string, () => Promise<unknown>, string, unknown]>([
    ["engine status", () => api.engineStatus(), "engine_status", undefined],
    ["pause", () => api.setPaused(true), "set_paused", { paused: true }],
    ["autostart", () => api.setAutostart(false), "set_autostart", { enabled: false }],
    ["restart", () => api.restartEngine(), "restart_engine", undefined],
    ["policy get", () => api.policyGet(), "policy_get", undefined],
    ["validate", () => api.policyValidate("a.yaml", "t"), "policy_validate", { name: "a.yaml", text: "t" }],
    ["test", () => api.policyTest("a.yaml", "t"), "policy_test", { name: "a.yaml", text: "t" }],
    ["replay", () => api.policyReplay("a.yaml", "t", 500), "policy_replay", { name: "a.yaml", text: "t", limit: 500 }],
    ["save", () => api.policySave("a.yaml", "t"), "policy_save", { name: "a.yaml", text: "t" }],
    ["events", () => api.policyEvents(), "policy_events", undefined],
    ["config", () => api.configGet(), "config_get", undefined],
    ["server save", () => api.serverSave(E, "old"), "server_save", { entry: E, originalName: "old" }],
    ["server add", () => api.serverSave(E, null), "server_save", { entry: E, originalName: null }],
    ["server remove", () => api.serverRemove("gh"), "server_remove", { name: "gh" }],
    ["settings save", () => api.settingsSave("bob", 60), "settings_save", { reviewer: "bob", approvalTimeoutSecs: 60 }],
    ["secrets", () => api.secretsList(), "secrets_list", undefined],
    ["secret set", () => api.secretSet("N", "v"), "secret_set", { name: "N", value: "v" }],
    ["secret rm", () => api.secretRemove("N"), "secret_remove", { name: "N" }],
    ["agents", () => api.agentsList(), "agents_list", undefined],
    ["agent install", () => api.agentInstall("cursor"), "agent_install", { name: "cursor" }],
    ["agent uninstall", () => api.agentUninstall("cursor"), "agent_uninstall", { name: "cursor" }],
    ["query", () => api.evidenceQuery(Q), "evidence_query", { query: Q }],
    ["record", () => api.evidenceRecord("01J"), "evidence_record", { id: "01J" }],
    ["agents filter", () => api.evidenceAgents(), "evidence_agents", undefined],
    ["activity", () => api.evidenceActivity(null, 3600), "evidence_activity", { since: null, bucketSecs: 3600 }],
    ["verify", () => api.evidenceVerify(), "evidence_verify", undefined],
    ["export", () => api.evidenceExport("csv", null, "x.csv"), "evidence_export", { format: "csv", query: null, suggestedName: "x.csv" }],
    ["approve", () => api.approve("id", true), "approve", { id: "id", session: true }],
  ])("%s", async (_label, call, cmd, args) => {
    await call();
    expect(calls).toEqual([[cmd, args]]);
  });

  it("keeps the query's struct fields in snake_case", async () => {
    await api.evidenceQuery(Q);
    expect(Object.keys((calls[0]?.[1] as { query: object }).query)).toContain("before_seq");
  });
});
