// Pure formatting helpers for the approval window (unit-tested, no DOM, no Tauri).
import type { DesktopError, PendingApproval } from "./types";

/** Time left before the engine refuses a held call on its own. */
export interface TimeLeft {
  /** Whole seconds left, never negative. */
  seconds: number;
  /** `4:07`, `1:02:03`, or `expired`. */
  text: string;
  expired: boolean;
  /** Under 30 s: the UI turns the countdown red. */
  urgent: boolean;
}

/** Countdown to `expiresAt` (RFC 3339) from `nowMs`. An unparseable time counts as expired: fail closed. */
export function timeLeft(expiresAt: string, nowMs: number): TimeLeft {
  const end = Date.parse(expiresAt);
  if (Number.isNaN(end)) {
    return { seconds: 0, text: "expired", expired: true, urgent: true };
  }
  const seconds = Math.max(0, Math.floor((end - nowMs) / 1000));
  if (seconds === 0) {
    return { seconds, text: "expired", expired: true, urgent: true };
  }
  return { seconds, text: clock(seconds), expired: false, urgent: seconds < 30 };
}

/** `m:ss` or `h:mm:ss`. */
export function clock(total: number): string {
  const s = Math.max(0, Math.floor(total));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** One line naming who wants what: the engine's words ("Claude Code wants to change src/a.rs
 * (+1 −1)"), else `claude: filesystem__write_file → src/a.rs`. */
export function headline(p: PendingApproval): string {
  if (p.headline) return p.headline;
  const target = p.target ? ` → ${p.target}` : "";
  return `${p.agent}: ${p.server}__${p.tool}${target}`;
}

/** What the window shows as the proposed effect. */
export type Effect =
  | { kind: "diff"; diff: string }
  | { kind: "command"; command: string }
  | { kind: "text"; text: string }
  | { kind: "args"; json: string };

/** Whether a text looks like a unified diff (diff2html can render it). */
export function isUnifiedDiff(text: string): boolean {
  return /^(diff --git |--- |@@ )/m.test(text) && /^@@ /m.test(text);
}

/** The command of a shell call, from the usual argument shapes (`command`, `cmd`, `argv`). */
export function commandOf(args: unknown): string | null {
  if (args === null || typeof args !== "object") return null;
  const a = args as Record<string, unknown>;
  for (const key of ["command", "cmd", "argv"]) {
    const v = a[key];
    if (typeof v === "string" && v.trim() !== "") return v;
    if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string")) {
      const extra = Array.isArray(a.args) ? (a.args as unknown[]).filter((x) => typeof x === "string") : [];
      return [...(v as string[]), ...(extra as string[])].map(shellQuote).join(" ");
    }
  }
  return null;
}

/** Quotes one word for display the way a POSIX shell would need it. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Picks what to show: the engine's diff, else a prepared preview, else a command, else the raw arguments. */
export function effectOf(p: PendingApproval): Effect {
  if (p.diff && isUnifiedDiff(p.diff)) return { kind: "diff", diff: p.diff };
  if (p.preview && isUnifiedDiff(p.preview)) return { kind: "diff", diff: p.preview };
  if (p.diff) return { kind: "text", text: p.diff }; // e.g. "(cannot diff …: not UTF-8 text)"
  const command = commandOf(p.args);
  if (command) return { kind: "command", command };
  if (p.preview) return { kind: "text", text: p.preview };
  return { kind: "args", json: JSON.stringify(p.args, null, 2) ?? "null" };
}

/** A preview the main view leaves out (a command's working directory and time limit beside the
 * command; an upstream retry's answers beside its file diff), to show after it; null if none. */
export function extraOf(p: PendingApproval, effect: Effect): string | null {
  if (!p.preview) return null;
  if (effect.kind === "diff" && effect.diff === p.preview) return null;
  if (effect.kind === "text" && effect.text === p.preview) return null;
  return p.preview;
}

/** The message of anything thrown by `invoke` (the shell's `{kind, message}` or else). */
export function errorMessage(error: unknown): string {
  if (error && typeof error === "object" && "message" in error) {
    return String((error as DesktopError).message);
  }
  return String(error);
}

/** Which decision a key press asks for (ignored while typing in a field or with modifiers). */
export type Shortcut = "approve" | "session" | "deny" | null;
export function shortcutFor(key: string, typing: boolean, modifiers: boolean): Shortcut {
  if (typing || modifiers) return null;
  switch (key.toLowerCase()) {
    case "a":
      return "approve";
    case "s":
      return "session";
    case "d":
      return "deny";
    default:
      return null;
  }
}

/** A key that changes exactly when the list of pending ids or the selection changes. */
export function listKey(ids: string[], selected: string | null): string {
  return JSON.stringify([ids, selected]);
}
