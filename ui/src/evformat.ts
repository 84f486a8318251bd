// Formatting for the evidence viewer and the settings pages (pure, unit-tested).
import type { EvidenceRecord, ExportFormat, RecordRow, VerifySummary } from "./types";

const two = (n: number) => String(n).padStart(2, "0");

/** `2026-11-25 01:02:03` in local time (or UTC), or the input unchanged when it does not parse. */
export function formatTime(iso: string, utc = false): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const d = new Date(ms);
  const [y, mo, da, h, mi, s] = utc
    ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  return `${y}-${two(mo)}-${two(da)} ${two(h)}:${two(mi)}:${two(s)}`;
}

/** `850 ms`, `1.2 s`, `3 min 4 s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** CSS class of a decision or outcome badge: good, held, bad or neutral. */
export function tone(value: string): "good" | "held" | "bad" | "neutral" {
  switch (value) {
    case "allow":
    case "allowed":
    case "approved":
      return "good";
    case "require_approval":
      return "held";
    case "deny":
    case "denied":
    case "rejected":
    case "timed_out":
    case "error":
      return "bad";
    default:
      return "neutral";
  }
}

/** `require_approval` → `require approval`. */
export function humanize(value: string): string {
  return value.replace(/_/g, " ");
}

/** `filesystem__write_file`. */
export function toolName(r: Pick<RecordRow, "server" | "tool">): string {
  return `${r.server}__${r.tool}`;
}

/** Pretty JSON of a record's arguments (any JSON value). */
export function prettyArgs(args: unknown): string {
  if (args === undefined) return "null";
  try {
    return JSON.stringify(args, null, 2) ?? "null";
  } catch {
    return String(args);
  }
}

/** The record's fields for the details pane, in reading order (args, diff and hashes shown apart). */
export function recordFacts(r: EvidenceRecord): [string, string][] {
  return [
    ["Record", `#${r.seq} · ${r.id}`],
    ["Time", `${formatTime(r.timestamp)} (${r.timestamp})`],
    ["Agent", r.agent],
    ["Session", r.session_id],
    ["Tool", toolName(r)],
    ["Action", r.action],
    ["Target", r.target ?? "—"],
    ["Risk tags", r.risk_tags.length ? r.risk_tags.join(", ") : "none"],
    ["Decision", humanize(r.decision)],
    ["Rule", r.rule_id ?? "(policy default)"],
    ["Reason", r.reason],
    ["Outcome", humanize(r.outcome)],
    ...(r.phase ? ([["Phase", r.phase === "intent" ? "intent (recorded before the call ran)" : "outcome (how the call ended)"]] as [string, string][]) : []),
    ["Reviewer", r.reviewer ?? "—"],
    ["Duration", formatDuration(r.duration_ms)],
    ["Policy", r.policy_version],
    ...(r.error ? ([["Error", r.error]] as [string, string][]) : []),
  ];
}

/** The headline of the verification badge. */
export function verifyText(v: VerifySummary): { ok: boolean; text: string; detail: string } {
  const n = (k: number, w: string) => `${k.toLocaleString("en-US")} ${w}${k === 1 ? "" : "s"}`;
  if (!v.ok) {
    const problems = v.problems.length ? v.problems.length : 1;
    return { ok: false, text: `Chain broken: ${n(problems, "problem")}`, detail: v.problems.join("\n") };
  }
  const signed = v.signed_through === null ? "no signed checkpoint yet" : `signed through #${v.signed_through}`;
  const tail = v.unsigned_tail > 0 ? `, ${n(v.unsigned_tail, "record")} after the last checkpoint` : "";
  const key = v.key_fingerprint ? `key ${v.key_fingerprint}` : "no signing key";
  return { ok: true, text: `Chain intact: ${n(v.records, "record")}, ${signed}`, detail: `${n(v.checkpoints, "checkpoint")}${tail}; ${key}` };
}

/** The save dialog's suggested file name and filter for an export. */
export function exportTarget(format: ExportFormat, nowMs: number): { defaultPath: string; filters: { name: string; extensions: string[] }[] } {
  const d = new Date(nowMs);
  const stamp = `${d.getUTCFullYear()}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}-${two(d.getUTCHours())}${two(d.getUTCMinutes())}`;
  switch (format) {
    case "jsonl":
      return { defaultPath: `cordon-evidence-${stamp}.jsonl`, filters: [{ name: "JSON Lines", extensions: ["jsonl"] }] };
    case "csv":
      return { defaultPath: `cordon-evidence-${stamp}.csv`, filters: [{ name: "CSV", extensions: ["csv"] }] };
    case "bundle":
      // A bundle is JSON Lines too (header, keys, policy snapshots, records, checkpoints).
      return { defaultPath: `cordon-evidence-${stamp}.bundle.jsonl`, filters: [{ name: "Evidence bundle", extensions: ["jsonl"] }] };
  }
}
