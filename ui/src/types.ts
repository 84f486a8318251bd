/** A call waiting for a human: the engine's `PendingApproval`, as serialised by the shell. */
export interface PendingApproval {
  id: string;
  agent: string;
  session_id: string;
  server: string;
  tool: string;
  action: string;
  target: string | null;
  risk_tags: string[];
  rule_id: string | null;
  reason: string;
  diff: string | null;
  preview?: string | null;
  args: unknown;
  args_sha256: string;
  policy_version: string;
  created_at: string;
  expires_at: string;
  /** The engine's summary in words ("Claude Code wants to change src/a.rs (+1 −1)"). */
  headline?: string;
  /** The taxonomy for the details: server__tool · topic · rule. */
  details?: string;
  /** Set when the file changed on disk since the call was held. */
  changed_on_disk?: string | null;
}

/** The shell's error: a stable kind and a message for the user. */
export interface DesktopError {
  kind: ErrorKind;
  message: string;
}

/** What a decision did. */
/** The approval window's feed: the list, and its generation to wait on (`wait_pending`). */
export interface PendingFeed {
  generation: number;
  approvals: PendingApproval[];
}

export interface Decided {
  id: string;
  decision: "approved" | "denied";
  session: boolean;
}

// ---- Settings window and evidence viewer (notes/desktop-contract.md: exact JSON shapes) ----

/** Every error kind the shell returns for the settings and evidence commands. */
export type ErrorKind = "not_running" | "unknown_approval" | "invalid" | "engine" | "not_found" | "conflict" | "io";

/** The engine as the tray and both windows see it. */
export interface Status {
  running: boolean;
  paused: boolean;
  paused_agents: string[];
  pending: number;
  policy_version: string;
  policy_path: string | null;
  config_path: string | null;
  evidence_path: string;
  reviewer: string;
  approval_timeout_secs: number;
  http_addr: string | null;
  autostart: boolean;
}

/** One file of the policy in force. `path` is null for the built-in default. */
export interface PolicyFile {
  name: string;
  path: string | null;
  text: string;
}

/** The policy in force: one file, a directory of files, or the built-in default. */
export interface PolicyDoc {
  source: "file" | "directory" | "default";
  path: string | null;
  files: PolicyFile[];
  version: string;
}

/** One problem the policy loader found; 1-based line and column (in characters). */
export interface Diagnostic {
  severity: "error" | "warning";
  file: string;
  line: number | null;
  column: number | null;
  message: string;
}

/** `policy_validate`'s answer. */
export interface Validation {
  ok: boolean;
  version: string | null;
  diagnostics: Diagnostic[];
  rules: number;
  tests: number;
}

/** One of the policy's own tests. */
export interface TestResult {
  name: string;
  passed: boolean;
  expected: string;
  actual: string;
  rule_id: string | null;
  message: string | null;
}

/** `policy_test`'s answer. */
export interface TestRun {
  ok: boolean;
  passed: number;
  failed: number;
  results: TestResult[];
  diagnostics: Diagnostic[];
}

/** A past call whose decision would change under the edited policy. */
export interface ReplayChange {
  record_id: string;
  seq: number;
  timestamp: string;
  agent: string;
  tool: string;
  action: string;
  target: string | null;
  old_decision: string;
  old_rule: string | null;
  new_decision: string;
  new_rule: string | null;
  new_reason: string;
}

/** `policy_replay`'s answer. */
export interface Replay {
  replayed: number;
  skipped: number;
  changed: ReplayChange[];
}

/** `policy_save`'s answer. */
export interface Saved {
  version: string;
  path: string;
}

/** A policy change seen by the engine's watcher (or a save). */
export interface PolicyEvent {
  at: string;
  ok: boolean;
  version: string | null;
  message: string;
}

/** One upstream MCP server of the config. Values may be `${keychain:NAME}` references. */
export interface ServerEntry {
  name: string;
  transport: "stdio" | "http";
  command: string | null;
  args: string[];
  env: { [k: string]: string };
  cwd: string | null;
  url: string | null;
  headers: { [k: string]: string };
}

/** The editable part of the config. */
export interface Settings {
  reviewer: string;
  approval_timeout_secs: number;
  servers: ServerEntry[];
  config_path: string | null;
}

/** A keychain secret by name (never its value). `stored` false: referenced but missing. */
export interface SecretEntry {
  name: string;
  used_by: string[];
  stored: boolean;
}

/** An AI agent Cordon can onboard. */
export interface AgentEntry {
  name: string;
  display_name: string;
  detected: boolean;
  config_path: string | null;
  /** Cordon's entry is in the agent's configuration (it can be uninstalled), even if drifted. */
  installed: boolean;
  governed: boolean;
  hooks: boolean;
  drift: string[];
}

/** The evidence viewer's filter. `before_seq` is the page cursor (newest first). */
export interface EvidenceQuery {
  agent: string | null;
  action: string | null;
  decision: string | null;
  outcome: string | null;
  since: string | null;
  until: string | null;
  text: string | null;
  before_seq: number | null;
  limit: number;
}

/** One row of the evidence table. */
export interface RecordRow {
  id: string;
  seq: number;
  timestamp: string;
  agent: string;
  session_id: string;
  server: string;
  tool: string;
  action: string;
  target: string | null;
  decision: string;
  outcome: string;
  rule_id: string | null;
  reviewer: string | null;
  duration_ms: number;
  has_diff: boolean;
}

/** One page of evidence. `next_before_seq` null: this is the last page. */
export interface EvidencePage {
  total: number;
  records: RecordRow[];
  next_before_seq: number | null;
}

/** A full evidence record (`cordon_evidence::Record`). */
export interface EvidenceRecord {
  id: string;
  seq: number;
  timestamp: string;
  agent: string;
  session_id: string;
  server: string;
  tool: string;
  action: string;
  target: string | null;
  risk_tags: string[];
  decision: string;
  rule_id: string | null;
  reason: string;
  policy_version: string;
  reviewer: string | null;
  outcome: string;
  args: unknown;
  diff: string | null;
  duration_ms: number;
  error: string | null;
  prev_hash: string;
  hash: string;
}

/** Calls of one agent in one time bucket, by decision. */
export interface ActivityBucket {
  start: string;
  agent: string;
  allowed: number;
  approved: number;
  denied: number;
  other: number;
}

/** The chain and signature check of the whole log. */
export interface VerifySummary {
  ok: boolean;
  records: number;
  checkpoints: number;
  signed_through: number | null;
  unsigned_tail: number;
  key_fingerprint: string | null;
  problems: string[];
}

/** Export formats. */
export type ExportFormat = "jsonl" | "csv" | "bundle";

/** `evidence_export`'s answer. */
export interface Exported {
  path: string;
  records: number;
}
