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
}

/** The shell's error: a stable kind and a message for the user. */
export interface DesktopError {
  kind: "not_running" | "unknown_approval" | "invalid" | "engine";
  message: string;
}

/** What a decision did. */
export interface Decided {
  id: string;
  decision: "approved" | "denied";
  session: boolean;
}
