// The types the front end receives from the shell's commands (wrappers in api.ts).
//
// Generated from the Rust types, re-exported here under the names the pages use: the engine's in
// generated/engine.ts (cordon-admin's src/typescript.rs), the shell's in generated/shell.ts
// (src-tauri's src/typescript.rs); a test on each side fails when a file and the Rust types
// differ. Only the shell's error, which serialises by hand, is declared here.

export type {
  ActivityBucket,
  AgentEntry,
  Diagnostic,
  EvidencePage,
  EvidenceQuery,
  EvidenceRecord,
  Exported,
  ExportKind as ExportFormat,
  Outcome,
  PolicyDoc,
  PolicyEvent,
  PolicyFile,
  RecordRow,
  Replay,
  ReplayChange,
  Review as PendingApproval,
  Saved,
  SecretEntry,
  ServerEntry,
  Settings,
  Status,
  TestResult,
  TestRun,
  Validation,
  VerifySummary,
} from "./generated/engine";
export type { CheckOutcome, Decided, PendingFeed, UpdateSettings } from "./generated/shell";

/** Every error kind the shell returns: `DesktopError::kind` (src-tauri/src/core.rs), which passes
 * on `AdminError::kind` (cordon-admin/src/error.rs). */
export type ErrorKind = "not_running" | "unknown_approval" | "invalid" | "engine" | "not_found" | "conflict" | "io";

/** The shell's error: a stable kind and a message for the user (`DesktopError`'s serialisation). */
export interface DesktopError {
  kind: ErrorKind;
  message: string;
}
