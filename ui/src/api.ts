// Thin wrappers over the shell's commands (src-tauri/src/commands/), one per command; the answers'
// types are generated from the Rust ones (see types.ts).
// Tauri v2 maps a Rust argument `original_name` to the JS key `originalName`; fields inside a struct
// argument (EvidenceQuery.before_seq) keep their snake_case names.
import { invoke } from "@tauri-apps/api/core";
import type {
  ActivityBucket,
  CheckOutcome,
  AgentEntry,
  Decided,
  EvidencePage,
  EvidenceQuery,
  EvidenceRecord,
  Exported,
  ExportFormat,
  PendingApproval,
  PendingFeed,
  PolicyDoc,
  PolicyEvent,
  Replay,
  Saved,
  SecretEntry,
  ServerEntry,
  Settings,
  Status,
  TestRun,
  UpdateSettings,
  Validation,
  VerifySummary,
} from "./types";

export type { CheckOutcome, UpdateSettings };

// Approval window.
export const listPending = (): Promise<PendingApproval[]> => invoke("list_pending");
/** Answers at once when the list's generation is not `seen`, else when it changes (or ~10 s pass). */
export const waitPending = (seen: number | null): Promise<PendingFeed> => invoke("wait_pending", { seen });
export const getApproval = (id: string): Promise<PendingApproval> => invoke("get_approval", { id });
export const approve = (id: string, session: boolean): Promise<Decided> => invoke("approve", { id, session });
export const deny = (id: string, reason: string | null): Promise<Decided> => invoke("deny", { id, reason });

// Engine status.
export const engineStatus = (): Promise<Status> => invoke("engine_status");
export const setPaused = (paused: boolean): Promise<Status> => invoke("set_paused", { paused });
export const setAutostart = (enabled: boolean): Promise<Status> => invoke("set_autostart", { enabled });
export const restartEngine = (): Promise<Status> => invoke("restart_engine");

// Policy editor.
export const policyGet = (): Promise<PolicyDoc> => invoke("policy_get");
export const policyValidate = (name: string, text: string): Promise<Validation> => invoke("policy_validate", { name, text });
export const policyTest = (name: string, text: string): Promise<TestRun> => invoke("policy_test", { name, text });
export const policyReplay = (name: string, text: string, limit: number): Promise<Replay> =>
  invoke("policy_replay", { name, text, limit });
export const policySave = (name: string, text: string): Promise<Saved> => invoke("policy_save", { name, text });
export const policyEvents = (): Promise<PolicyEvent[]> => invoke("policy_events");

// Servers, reviewer, timeout.
export const configGet = (): Promise<Settings> => invoke("config_get");
export const serverSave = (entry: ServerEntry, originalName: string | null): Promise<Settings> =>
  invoke("server_save", { entry, originalName });
export const serverRemove = (name: string): Promise<Settings> => invoke("server_remove", { name });
export const settingsSave = (reviewer: string, approvalTimeoutSecs: number): Promise<Settings> =>
  invoke("settings_save", { reviewer, approvalTimeoutSecs });

// Secrets: a value only travels front end → keychain.
export const secretsList = (): Promise<SecretEntry[]> => invoke("secrets_list");
export const secretSet = (name: string, value: string): Promise<SecretEntry[]> => invoke("secret_set", { name, value });
export const secretRemove = (name: string): Promise<SecretEntry[]> => invoke("secret_remove", { name });

// Agents.
export const agentsList = (): Promise<AgentEntry[]> => invoke("agents_list");
export const agentInstall = (name: string): Promise<AgentEntry[]> => invoke("agent_install", { name });
export const agentUninstall = (name: string): Promise<AgentEntry[]> => invoke("agent_uninstall", { name });

// Evidence viewer.
export const evidenceQuery = (query: EvidenceQuery): Promise<EvidencePage> => invoke("evidence_query", { query });
export const evidenceRecord = (id: string): Promise<EvidenceRecord> => invoke("evidence_record", { id });
export const evidenceAgents = (): Promise<string[]> => invoke("evidence_agents");
export const evidenceActivity = (since: string | null, bucketSecs: number): Promise<ActivityBucket[]> =>
  invoke("evidence_activity", { since, bucketSecs });
export const evidenceVerify = (): Promise<VerifySummary> => invoke("evidence_verify");
// The shell opens the save dialog itself and writes the file: the page never names a path, so a
// compromised page cannot make the shell write anywhere. `null`: the user cancelled the dialog.
export const evidenceExport = (format: ExportFormat, query: EvidenceQuery | null, suggestedName: string): Promise<Exported | null> =>
  invoke("evidence_export", { format, query, suggestedName });

// ---- updates (opt-in; the shell verifies signatures and asks before installing)
export const getUpdateSettings = (): Promise<UpdateSettings> => invoke("get_update_settings");
export const setUpdateSettings = (enabled: boolean): Promise<UpdateSettings> => invoke("set_update_settings", { enabled });
export const checkForUpdates = (): Promise<CheckOutcome> => invoke("check_for_updates");
