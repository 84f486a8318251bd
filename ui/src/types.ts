// The types the front end receives from the shell's commands (wrappers in api.ts).
//
// The engine's are generated from the Rust types into generated/engine.ts (cordon-admin's
// src/typescript.rs; its test fails when the file and the Rust types differ): re-exported here
// under the names the pages use. The shell's own few (src-tauri) are declared below, next to
// where they are defined.

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
import type { Review } from "./generated/engine";

/** Every error kind the shell returns: `DesktopError::kind` (src-tauri/src/core.rs), which passes
 * on `AdminError::kind` (cordon-admin/src/error.rs). */
export type ErrorKind = "not_running" | "unknown_approval" | "invalid" | "engine" | "not_found" | "conflict" | "io";

/** The shell's error: a stable kind and a message for the user (`DesktopError`'s serialisation). */
export interface DesktopError {
  kind: ErrorKind;
  message: string;
}

/** The approval window's feed: the list, and its generation to wait on (`wait_pending`;
 * `PendingFeed` in src-tauri/src/commands/approvals.rs). */
export interface PendingFeed {
  generation: number;
  approvals: Review[];
}

/** What a decision did (`Decided` in src-tauri/src/core.rs). */
export interface Decided {
  id: string;
  decision: "approved" | "denied";
  session: boolean;
}
