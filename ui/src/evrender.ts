// DOM builders of the evidence viewer (no Tauri; tested under happy-dom with hostile strings).
// Text always goes in through textContent; the diff is diff2html's escaped HTML.
import { el } from "./dom";
import { renderDiff, type DiffMode } from "./diffview";
import { formatTime, humanize, prettyArgs, recordFacts, tone, toolName } from "./evformat";
import { isUnifiedDiff } from "./format";
import type { EvidenceRecord, RecordRow } from "./types";

function pill(value: string): HTMLElement {
  return el("span", humanize(value), `pill ${tone(value)}`);
}

/** The records table; rows are focusable and carry their record id. */
export function recordsTable(rows: RecordRow[], selected: string | null): HTMLTableElement {
  const t = el("table", null, "grid records");
  const head = el("thead");
  const hr = el("tr");
  for (const h of ["Time", "Agent", "Tool / action", "Target", "Decision", "Outcome", "Reviewer"]) hr.append(el("th", h, undefined, { scope: "col" }));
  head.append(hr);
  const body = el("tbody");
  for (const r of rows) {
    const tr = el("tr", null, r.id === selected ? "selected" : undefined, { tabindex: "0", "data-id": r.id, "aria-selected": String(r.id === selected) });
    const time = el("td", formatTime(r.timestamp));
    time.title = `#${r.seq} · ${r.timestamp}`;
    const tool = el("td");
    tool.append(el("span", toolName(r), "mono"));
    tool.title = r.action;
    if (r.has_diff) tool.append(el("span", " ±", "muted", { title: "has an approved diff" }));
    const target = el("td", r.target ?? "—", "target mono");
    target.title = r.target ?? "";
    const decision = el("td");
    decision.append(pill(r.decision));
    const outcome = el("td");
    if (r.phase === "intent") {
      // Written before the call ran: what was about to happen, not a second call.
      outcome.append(el("span", "intent ", "muted", { title: "Recorded before the call ran (write-ahead); how it ended is a later record" }));
    }
    outcome.append(pill(r.outcome));
    tr.append(time, el("td", r.agent), tool, target, decision, outcome, el("td", r.reviewer ?? "—"));
    body.append(tr);
  }
  t.append(head, body);
  return t;
}

/** Fills the details pane's parts for a record. */
export function fillDetails(
  parts: { title: HTMLElement; facts: HTMLElement; args: HTMLElement; diffBox: HTMLElement; diff: HTMLElement; hashes: HTMLElement },
  r: EvidenceRecord,
  mode: DiffMode,
): void {
  parts.title.textContent = `${r.agent}: ${toolName(r)}${r.target ? ` → ${r.target}` : ""}`;
  parts.facts.replaceChildren();
  for (const [k, v] of recordFacts(r)) {
    const dd = el("dd", v);
    if (k === "Decision" || k === "Outcome") dd.replaceChildren(pill(k === "Decision" ? r.decision : r.outcome));
    parts.facts.append(el("dt", k), dd);
  }
  parts.args.textContent = prettyArgs(r.args);
  parts.diffBox.hidden = !r.diff;
  if (r.diff && isUnifiedDiff(r.diff)) {
    parts.diff.innerHTML = renderDiff(r.diff, mode); // diff2html escapes the content
  } else if (r.diff) {
    parts.diff.replaceChildren(el("pre", r.diff));
  } else {
    parts.diff.replaceChildren();
  }
  parts.hashes.replaceChildren(el("dt", "Hash"), el("dd", r.hash), el("dt", "Previous"), el("dd", r.prev_hash), el("dt", "Seq"), el("dd", String(r.seq)));
}

/** A `<select>`'s options for agent names, keeping the current choice even when it is not listed. */
export function agentOptions(select: HTMLSelectElement, agents: string[], allLabel = "All agents"): void {
  const current = select.value;
  const names = [...new Set(agents)].sort();
  if (current && !names.includes(current)) names.unshift(current);
  select.replaceChildren(el("option", allLabel, undefined, { value: "" }), ...names.map((a) => el("option", a, undefined, { value: a })));
  select.value = current;
}

/** The chart bar's tooltip. */
export function barTooltip(startMs: number, counts: { series: string; count: number }[], total: number, agents: [string, number][] = []): string {
  const parts = counts.map((c) => `${c.count} ${c.series}`);
  const head = `${formatTime(new Date(startMs).toISOString())}: ${total} call${total === 1 ? "" : "s"}${parts.length ? ` (${parts.join(", ")})` : ""}`;
  return agents.length ? `${head}\n${agents.map(([a, n]) => `${a}: ${n}`).join("\n")}` : head;
}
