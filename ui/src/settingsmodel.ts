// Pure helpers of the settings window (unit-tested).
import type { Status } from "./types";

/** The header's one-line engine status. */
export function engineLine(s: Status): string {
  if (!s.running) {
    if (s.start_error) return `Cannot start: ${s.start_error}`;
    return s.standby ? `Standing by: ${s.standby}` : "Engine stopped";
  }
  const state = s.evidence_fault
    ? "Evidence log not writable: every call is refused"
    : s.paused
      ? "Paused: every call is refused"
      : "Running";
  const parts = [state, `policy ${s.policy_version}`];
  if (s.paused_agents.length && !s.paused) parts.push(`paused: ${s.paused_agents.join(", ")}`);
  parts.push(s.pending === 1 ? "1 approval waiting" : `${s.pending} approvals waiting`);
  return parts.join(" · ");
}

/** The General page's engine facts. */
export function engineFacts(s: Status): [string, string][] {
  return [
    ["State", s.running ? (s.paused ? "running, paused" : "running") : s.start_error ? "cannot start" : s.standby ? "standing by" : "stopped"],
    ["Pending approvals", String(s.pending)],
    ["Policy", `${s.policy_version}${s.policy_path ? ` (${s.policy_path})` : " (built-in default)"}`],
    ["Config", s.config_path ?? "none (defaults)"],
    ["Evidence", s.evidence_fault ? `${s.evidence_path}: NOT WRITABLE, ${s.evidence_fault}` : s.evidence_path],
    ["Reviewer", s.reviewer],
    ["Approval timeout", `${s.approval_timeout_secs} s`],
    ["HTTP endpoint", s.http_addr ?? "off"],
  ];
}

/** A keychain secret name: `[A-Za-z0-9_.-]`, 1 to 128 characters. */
export function secretNameError(name: string): string | null {
  if (name === "") return "a name is required";
  if (name.length > 128) return "at most 128 characters";
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) return "letters, digits, _ . and - only (no spaces or slashes)";
  return null;
}

/** The approval timeout: whole seconds, 1 s to 24 h. */
export function timeoutError(text: string): string | null {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return "whole seconds, e.g. 300";
  const n = Number(t);
  if (n < 1) return "at least 1 second";
  if (n > 86400) return "at most 86400 seconds (24 h)";
  return null;
}

/** The status line after "Check for updates now". */
export function updateOutcomeText(outcome: import("./api").CheckOutcome): string {
  switch (outcome.outcome) {
    case "disabled":
      return "Update checks are off.";
    case "up_to_date":
      return "Cordon is up to date.";
    case "declined":
      return `Version ${outcome.version} is available; not installed.`;
    case "installed":
      return `Version ${outcome.version} installed: Cordon restarts.`;
  }
}
