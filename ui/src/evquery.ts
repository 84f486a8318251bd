// The evidence viewer's filter bar → EvidenceQuery, the time ranges, and the page cursors.
import type { EvidenceQuery } from "./types";

/** Rows per page. */
export const PAGE_SIZE = 50;
/** The engine's limit on one page. */
export const MAX_LIMIT = 500;

/** Time ranges of the filter bar. */
export type RangePreset = "1h" | "24h" | "7d" | "30d" | "all" | "custom";

export const PRESET_SECS: Record<Exclude<RangePreset, "all" | "custom">, number> = {
  "1h": 3600,
  "24h": 86400,
  "7d": 7 * 86400,
  "30d": 30 * 86400,
};

/** The filter bar as typed. `since`/`until` are `datetime-local` values (local time), used by "custom". */
export interface Filter {
  agent: string;
  action: string;
  decision: string;
  outcome: string;
  range: RangePreset;
  since: string;
  until: string;
  text: string;
}

export const EMPTY_FILTER: Filter = { agent: "", action: "", decision: "", outcome: "", range: "all", since: "", until: "", text: "" };

/** Decisions and outcomes the log can hold (the filter's choices). */
export const DECISIONS = ["allow", "require_approval", "deny"] as const;
export const OUTCOMES = ["allowed", "approved", "denied", "rejected", "timed_out", "error"] as const;

/** A NATS subject pattern: dot-separated tokens, `*` a whole token, `>` only as the last one. */
export function actionPatternError(pattern: string): string | null {
  if (pattern === "") return null;
  if (/\s/.test(pattern)) return "no spaces in an action pattern";
  const tokens = pattern.split(".");
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] ?? "";
    if (t === "") return "empty token (two dots, or a dot at an end)";
    if (t === ">" && i !== tokens.length - 1) return "`>` may only be the last token";
    if ((t.includes("*") && t !== "*") || (t.includes(">") && t !== ">")) return "`*` and `>` must be whole tokens";
  }
  return null;
}

/** A `datetime-local` value (local time) as RFC 3339 UTC, or null when empty; throws when unparseable. */
export function localToIso(value: string): string | null {
  const v = value.trim();
  if (v === "") return null;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(v)) throw new Error(`not a date and time: ${v}`);
  const ms = new Date(v).getTime(); // no zone: ECMAScript reads it as local time
  if (Number.isNaN(ms)) throw new Error(`not a date and time: ${v}`);
  return new Date(ms).toISOString();
}

/** The [since, until) the range selects at `nowMs`. */
export function rangeOf(f: Pick<Filter, "range" | "since" | "until">, nowMs: number): { since: string | null; until: string | null } {
  if (f.range === "all") return { since: null, until: null };
  if (f.range === "custom") {
    const since = localToIso(f.since);
    const until = localToIso(f.until);
    if (since && until && since >= until) throw new Error("the start of the range must be before its end");
    return { since, until };
  }
  return { since: new Date(nowMs - PRESET_SECS[f.range] * 1000).toISOString(), until: null };
}

const orNull = (s: string): string | null => (s.trim() === "" ? null : s.trim());

/** The query for a filter and page cursor; throws a message for the status line on a bad filter. */
export function buildQuery(f: Filter, beforeSeq: number | null, nowMs: number, limit = PAGE_SIZE): EvidenceQuery {
  const action = f.action.trim();
  const err = actionPatternError(action);
  if (err) throw new Error(`action pattern: ${err}`);
  const { since, until } = rangeOf(f, nowMs);
  return {
    agent: orNull(f.agent),
    action: orNull(action),
    decision: orNull(f.decision),
    outcome: orNull(f.outcome),
    since,
    until,
    text: f.text === "" ? null : f.text,
    before_seq: beforeSeq,
    limit: Math.max(1, Math.min(MAX_LIMIT, Math.floor(limit))),
  };
}

/**
 * Page cursors, newest first. The first page has no cursor; "next" moves to the cursor the engine
 * returned, "previous" back to the cursor the current page was opened with.
 */
export class Pager {
  private stack: (number | null)[] = [null];
  private nextCursor: number | null = null;

  /** The cursor of the page to load now. */
  get cursor(): number | null {
    return this.stack[this.stack.length - 1] ?? null;
  }
  /** 0-based page number. */
  get index(): number {
    return this.stack.length - 1;
  }
  get hasPrev(): boolean {
    return this.stack.length > 1;
  }
  get hasNext(): boolean {
    return this.nextCursor !== null;
  }
  /** Records what the loaded page said about the next one. */
  loaded(nextBeforeSeq: number | null): void {
    // A cursor must move towards older records; anything else would loop forever.
    const cur = this.cursor;
    this.nextCursor = nextBeforeSeq !== null && (cur === null || nextBeforeSeq < cur) ? nextBeforeSeq : null;
  }
  /** Moves to the next (older) page; false when there is none. */
  next(): boolean {
    if (this.nextCursor === null) return false;
    this.stack.push(this.nextCursor);
    this.nextCursor = null;
    return true;
  }
  /** Moves to the previous (newer) page; false on the first. */
  prev(): boolean {
    if (this.stack.length <= 1) return false;
    this.stack.pop();
    this.nextCursor = null;
    return true;
  }
  /** Back to the newest page (after a filter change). */
  reset(): void {
    this.stack = [null];
    this.nextCursor = null;
  }
}

/** `1–50 of 1,234` for the pager. */
export function pageLabel(index: number, shown: number, total: number, pageSize = PAGE_SIZE): string {
  if (total === 0 || shown === 0) return total === 0 ? "No records" : `0 of ${total.toLocaleString("en-US")}`;
  const first = index * pageSize + 1;
  return `${first.toLocaleString("en-US")}–${(first + shown - 1).toLocaleString("en-US")} of ${total.toLocaleString("en-US")}`;
}
