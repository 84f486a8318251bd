// Dev-only stand-in for the desktop shell (see vite.config.ts): answers every command of api.ts
// with sample data of the generated types (src/types.ts) so the pages can be previewed in a browser.
import type {
  ActivityBucket,
  AgentEntry,
  Diagnostic,
  EvidenceQuery,
  EvidenceRecord,
  Outcome,
  PolicyEvent,
  SecretEntry,
  Settings,
  Status,
} from "../src/types";

const POLICY = `# safety.yaml - coding agent governance
version: v1
rules:
  - id: allow-code-read
    match:
      topics: ["job.mcp-bridge.read.*"]
      risk_tags: []
    decision: allow
    reason: "File reads, git log, ls are safe"
  - id: approve-code-write
    match:
      topics: ["job.mcp-bridge.write.*"]
      risk_tags: ["code-change"]
    decision: require_approval
    reason: "File writes need developer review"
  - id: approve-git-push
    match:
      topics: ["job.mcp-bridge.git.push", "job.mcp-bridge.git.force-push"]
      risk_tags: ["deploy"]
    decision: require_approval
    reason: "Git push to remote requires approval — ça va ✓"
  - id: deny-infra-destroy
    match:
      topics: ["job.mcp-bridge.*.destroy", "job.mcp-bridge.*.delete"]
      risk_tags: ["destructive", "infrastructure"]
    decision: deny
    reason: "Infrastructure destruction blocked"
tests:
  - name: reads are allowed
    call: { tool: read_file, args: { path: src/main.rs } }
    expect: allow
  - name: force push needs approval
    call: { tool: git_push, args: { force: true } }
    expect: require_approval
`;

const params = new URLSearchParams(location.search);
const broken = params.has("broken");
let policyText = broken ? POLICY.replace("decision: deny", "decision: maybe") : POLICY;
let version = "v1-3f9a2c";

function validate(text: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  text.split("\n").forEach((line, i) => {
    const m = /^(\s*)decision:\s*(\S+)/.exec(line);
    if (m && !["allow", "deny", "require_approval"].includes(m[2]!)) {
      out.push({ severity: "error", file: "safety.yaml", line: i + 1, column: line.indexOf(m[2]!) + 1, message: `unknown decision \`${m[2]}\`: use allow, require_approval or deny` });
    }
    if (line.includes("\t")) out.push({ severity: "error", file: "safety.yaml", line: i + 1, column: line.indexOf("\t") + 1, message: "tabs are not allowed for indentation in YAML" });
    if (/risk_tags: \[\]/.test(line)) out.push({ severity: "warning", file: "safety.yaml", line: i + 1, column: line.indexOf("[") + 1, message: "an empty risk_tags list matches every call: remove it or name the tags" });
  });
  return out;
}

const status: Status = {
  running: true,
  standby: null, start_error: null,
  paused: false,
  paused_agents: [],
  pending: 2,
  policy_version: version,
  policy_path: "/home/dev/.config/cordon/policies/safety.yaml",
  config_path: "/home/dev/.config/cordon/config.yaml",
  evidence_path: "/home/dev/.local/share/cordon/evidence.db",
  evidence_fault: null,
  reviewer: "alice@laptop",
  approval_timeout_secs: 300,
  http_addr: null,
  autostart: false,
};

let settings: Settings = {
  reviewer: "alice@laptop",
  approval_timeout_secs: 300,
  config_path: "/home/dev/.config/cordon/config.yaml",
  servers: [
    { name: "filesystem", transport: "stdio", command: "npx", args: ["-y", "@modelcontextprotocol/server-filesystem", "/home/dev/src"], env: {}, cwd: null, url: null, headers: {} },
    { name: "github", transport: "stdio", command: "github-mcp-server", args: ["stdio"], env: { GITHUB_PERSONAL_ACCESS_TOKEN: "${keychain:GITHUB_TOKEN}", GITHUB_TOOLSETS: "repos,issues" }, cwd: null, url: null, headers: {} },
    { name: "linear", transport: "http", command: null, args: [], env: {}, cwd: null, url: "https://mcp.linear.app/mcp", headers: { Authorization: "Bearer ${keychain:LINEAR_KEY}" } },
  ],
};

let secrets: SecretEntry[] = [
  { name: "GITHUB_TOKEN", used_by: ["github"], stored: true },
  { name: "LINEAR_KEY", used_by: ["linear"], stored: false },
  { name: "OPENAI_API_KEY", used_by: [], stored: true },
];

let agents: AgentEntry[] = [
  { name: "claude-code", display_name: "Claude Code", detected: true, config_path: "/home/dev/.claude.json", installed: true, governed: true, hooks: true, drift: [] },
  { name: "cursor", display_name: "Cursor", detected: true, config_path: "/home/dev/.cursor/mcp.json", installed: true, governed: true, hooks: false, drift: ["server `postgres` bypasses Cordon", "hooks are not installed"] },
  { name: "codex", display_name: "Codex", detected: true, config_path: "/home/dev/.codex/config.toml", installed: false, governed: false, hooks: false, drift: [] },
  { name: "vscode", display_name: "VS Code", detected: false, config_path: null, installed: false, governed: false, hooks: false, drift: [] },
  { name: "windsurf", display_name: "Windsurf", detected: false, config_path: null, installed: false, governed: false, hooks: false, drift: [] },
];

const events: PolicyEvent[] = [
  { at: new Date(Date.now() - 3 * 3600_000).toISOString(), ok: true, version: "v1-88e01b", message: "loaded at start" },
  { at: new Date(Date.now() - 40 * 60_000).toISOString(), ok: false, version: null, message: "safety.yaml:14:15: unknown decision `alow` (edited in another editor; the previous policy stays)" },
  { at: new Date(Date.now() - 38 * 60_000).toISOString(), ok: true, version, message: "reloaded after an edit on disk" },
];

// ---- evidence
let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
const AGENTS = ["claude-code", "cursor", "codex"];
const CALLS: [string, string, string, string | null, string][] = [
  ["filesystem", "read_file", "job.mcp-bridge.read.file", "src/main.rs", "allow"],
  ["filesystem", "list_directory", "job.mcp-bridge.read.dir", "src/", "allow"],
  ["filesystem", "write_file", "job.mcp-bridge.write.file", "src/lib.rs", "require_approval"],
  ["github", "create_pull_request", "job.mcp-bridge.git.push", "github.com/acme/api", "require_approval"],
  ["cordon", "shell", "job.mcp-bridge.shell.exec", "rm -rf build/", "deny"],
  ["filesystem", "read_file", "job.mcp-bridge.read.env", ".env", "deny"],
];
const now = Date.now();
const records: EvidenceRecord[] = [];
for (let i = 0; i < 240; i++) {
  const [server, tool, action, target, decision] = pick(CALLS);
  const outcome: Outcome = decision === "allow" ? "allowed" : decision === "deny" ? "denied" : rand() < 0.8 ? "approved" : pick<Outcome>(["rejected", "timed_out"]);
  const ts = new Date(now - Math.floor(Math.pow(rand(), 1.6) * 23.5 * 3600_000)).toISOString();
  records.push({
    id: `01JD${String(1000 + i)}XK${Math.floor(rand() * 1e6)}`,
    seq: 0,
    timestamp: ts,
    agent: pick(AGENTS),
    session_id: `s-${Math.floor(rand() * 9)}`,
    server,
    tool,
    action,
    target,
    risk_tags: decision === "deny" ? ["destructive"] : decision === "require_approval" ? ["code-change"] : [],
    decision,
    rule_id: decision === "allow" ? "allow-code-read" : decision === "deny" ? "deny-infra-destroy" : "approve-code-write",
    reason: decision === "deny" ? "Infrastructure destruction blocked" : "File writes need developer review",
    policy_version: version,
    reviewer: outcome === "approved" || outcome === "rejected" ? "alice@laptop" : null,
    outcome,
    args: tool === "write_file" ? { path: target, content: "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n" } : { path: target },
    diff: tool === "write_file" ? "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,3 +1,3 @@\n pub fn add(a: i32, b: i32) -> i32 {\n-    a - b\n+    a + b\n }\n" : null,
    duration_ms: Math.floor(rand() * 4000),
    error: null,
    prev_hash: "",
    hash: "",
  });
}
records.push({ ...records[0]!, id: "01JDHOSTILE", timestamp: new Date(now - 5 * 60_000).toISOString(), agent: "codex", target: '<img src=x onerror=alert(1)><script>alert("pwned")</script>', tool: "write_file", action: "job.mcp-bridge.write.file", decision: "require_approval", outcome: "approved", reviewer: "alice@laptop" });
records.sort((a, b) => a.timestamp.localeCompare(b.timestamp));
records.forEach((r, i) => {
  r.seq = i + 1;
  r.hash = (Math.abs(Math.sin(i + 1)) * 1e17).toString(16).padStart(16, "0").repeat(4).slice(0, 64);
  r.prev_hash = i === 0 ? "0".repeat(64) : records[i - 1]!.hash;
});

function query(q: EvidenceQuery) {
  const matched = records
    .filter((r) => (!q.agent || r.agent === q.agent) && (!q.decision || r.decision === q.decision) && (!q.outcome || r.outcome === q.outcome))
    .filter((r) => (!q.since || r.timestamp >= q.since) && (!q.until || r.timestamp < q.until))
    .filter((r) => !q.text || `${r.tool} ${r.target ?? ""} ${r.reason}`.includes(q.text))
    .filter((r) => !q.action || new RegExp(`^${q.action.replace(/\./g, "\\.").replace(/\*/g, "[^.]+").replace(/>$/, ".+")}$`).test(r.action))
    .reverse();
  const page = matched.filter((r) => q.before_seq === null || r.seq < q.before_seq).slice(0, q.limit);
  const last = page[page.length - 1];
  const more = last && matched.some((r) => r.seq < last.seq);
  return {
    total: matched.length,
    records: page.map(({ id, seq, timestamp, agent, session_id, server, tool, action, target, decision, outcome, rule_id, reviewer, duration_ms, diff }) => ({ id, seq, timestamp, agent, session_id, server, tool, action, target, decision, outcome, rule_id, reviewer, duration_ms, has_diff: diff !== null })),
    next_before_seq: more ? last.seq : null,
  };
}

function activity(since: string | null, bucketSecs: number): ActivityBucket[] {
  const map = new Map<string, ActivityBucket>();
  for (const r of records) {
    if (since && r.timestamp < since) continue;
    const start = new Date(Math.floor(Date.parse(r.timestamp) / (bucketSecs * 1000)) * bucketSecs * 1000).toISOString();
    const key = `${start}|${r.agent}`;
    const b = map.get(key) ?? { start, agent: r.agent, allowed: 0, approved: 0, denied: 0, other: 0 };
    if (r.outcome === "allowed") b.allowed++;
    else if (r.outcome === "approved") b.approved++;
    else if (r.outcome === "denied" || r.outcome === "rejected") b.denied++;
    else b.other++;
    map.set(key, b);
  }
  return [...map.values()];
}

const fail = (kind: string, message: string) => Promise.reject({ kind, message });
const wait = <T>(v: T) => new Promise<T>((r) => setTimeout(() => r(v), 60));

async function invoke(cmd: string, a: Record<string, any> = {}): Promise<unknown> {
  switch (cmd) {
    case "engine_status": return wait({ ...status });
    case "set_paused": status.paused = a.paused; return wait({ ...status });
    case "set_autostart": status.autostart = a.enabled; return wait({ ...status });
    case "restart_engine": return wait({ ...status });
    case "policy_get": return wait({ source: "directory", path: "/home/dev/.config/cordon/policies", version, files: [{ name: "safety.yaml", path: "/home/dev/.config/cordon/policies/safety.yaml", text: policyText }, { name: "team.yaml", path: "/home/dev/.config/cordon/policies/team.yaml", text: "rules: []\n" }] });
    case "policy_validate": {
      const d = validate(a.text);
      const ok = !d.some((x) => x.severity === "error");
      return wait({ ok, version: ok ? "v1-new" : null, diagnostics: d, rules: (a.text.match(/- id:/g) ?? []).length, tests: (a.text.match(/- name:/g) ?? []).length });
    }
    case "policy_test": return wait({ ok: false, passed: 1, failed: 1, diagnostics: [], results: [
      { name: "reads are allowed", passed: true, expected: "allow", actual: "allow", rule_id: "allow-code-read", message: null },
      { name: "force push needs approval", passed: false, expected: "require_approval", actual: "deny", rule_id: "deny-infra-destroy", message: "matched deny-infra-destroy first" },
    ] });
    case "policy_replay": return wait({ replayed: 500, skipped: 3, changed: records.slice(-6).map((r) => ({ record_id: r.id, seq: r.seq, timestamp: r.timestamp, agent: r.agent, tool: r.tool, action: r.action, target: r.target, old_decision: r.decision, old_rule: r.rule_id, new_decision: "deny", new_rule: "deny-infra-destroy", new_reason: "Infrastructure destruction blocked" })) });
    case "policy_save": {
      const d = validate(a.text);
      if (d.some((x) => x.severity === "error")) return fail("invalid", `${d[0]!.file}:${d[0]!.line}:${d[0]!.column}: ${d[0]!.message}`);
      policyText = a.text;
      version = `v1-${Math.floor(Math.random() * 1e6).toString(16)}`;
      status.policy_version = version;
      events.push({ at: new Date().toISOString(), ok: true, version, message: "saved from the settings window" });
      return wait({ version, path: "/home/dev/.config/cordon/policies/safety.yaml" });
    }
    case "policy_events": return wait([...events]);
    case "config_get": return wait(settings);
    case "server_save": {
      const servers = settings.servers.filter((s) => s.name !== (a.originalName ?? a.entry.name));
      settings = { ...settings, servers: [...servers, a.entry].sort((x, y) => x.name.localeCompare(y.name)) };
      return wait(settings);
    }
    case "server_remove": settings = { ...settings, servers: settings.servers.filter((s) => s.name !== a.name) }; return wait(settings);
    case "settings_save": settings = { ...settings, reviewer: a.reviewer, approval_timeout_secs: a.approvalTimeoutSecs }; return wait(settings);
    case "secrets_list": return wait(secrets);
    case "secret_set": secrets = [...secrets.filter((s) => s.name !== a.name), { name: a.name, used_by: [], stored: true }].sort((x, y) => x.name.localeCompare(y.name)); return wait(secrets);
    case "secret_remove": secrets = secrets.filter((s) => s.name !== a.name || s.used_by.length).map((s) => (s.name === a.name ? { ...s, stored: false } : s)); return wait(secrets);
    case "agents_list": return wait(agents);
    case "agent_install": agents = agents.map((x) => (x.name === a.name ? { ...x, installed: true, governed: true, hooks: true, drift: [] } : x)); return wait(agents);
    case "agent_uninstall": agents = agents.map((x) => (x.name === a.name ? { ...x, installed: false, governed: false, hooks: false, drift: [] } : x)); return wait(agents);
    case "evidence_query": return wait(query(a.query));
    case "evidence_record": { const r = records.find((x) => x.id === a.id); return r ? wait(r) : fail("not_found", `no record ${a.id}`); }
    case "evidence_agents": return wait(AGENTS);
    case "evidence_activity": return wait(activity(a.since, a.bucketSecs));
    case "evidence_verify": return wait({ ok: true, records: records.length, checkpoints: 2, signed_through: 200, unsigned_tail: records.length - 200, key_fingerprint: "ed25519:7f3a:91c2:0b5e", problems: [] });
    case "evidence_export": return wait({ path: a.path, records: 120 });
    case "list_pending": return wait([{ id: "p1", agent: "claude-code", session_id: "s-1", server: "filesystem", tool: "write_file", action: "job.mcp-bridge.write.file", target: "src/lib.rs", risk_tags: ["code-change"], rule_id: "approve-code-write", reason: "File writes need developer review", diff: records.find((r) => r.diff)?.diff ?? null, preview: null, args: {}, args_sha256: "00", policy_version: version, created_at: new Date().toISOString(), expires_at: new Date(Date.now() + 240_000).toISOString() }]);
    case "plugin:dialog|save": return wait(`/home/dev/${a.options?.defaultPath ?? "export"}`);
    default: return fail("engine", `mock: unknown command ${cmd}`);
  }
}

(window as unknown as { __TAURI_INTERNALS__: unknown }).__TAURI_INTERNALS__ = {
  invoke,
  transformCallback: () => 0,
  unregisterCallback: () => undefined,
  convertFileSrc: (p: string) => p,
};

// `?click=#id1;tr[data-id]` clicks those elements in turn once the page has loaded (for screenshots).
const clicks = params.get("click");
if (clicks) {
  let delay = 700;
  for (const sel of clicks.split(";")) {
    setTimeout(() => document.querySelector<HTMLElement>(sel)?.click(), delay);
    delay += 500;
  }
}
