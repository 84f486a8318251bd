// The approval window: the held calls, the selected one in full, and the three decisions.
import "diff2html/bundles/css/diff2html.min.css";
import "./style.css";
import * as api from "./api";
import { renderDiff, toggleLabel, toggled, type DiffMode } from "./diffview";
import { effectOf, errorMessage, extraOf, headline, listKey, shortcutFor, timeLeft } from "./format";
import type { PendingApproval } from "./types";

const REFRESH_MS = 1000;

let pending: PendingApproval[] = [];
let selected: string | null = decodeURIComponent(location.hash.slice(1)) || null;
let mode: DiffMode = "side-by-side";
let busy = false;

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
};

function el(tag: string, text?: string, cls?: string): HTMLElement {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function current(): PendingApproval | undefined {
  return pending.find((p) => p.id === selected);
}

function status(text: string, kind: "info" | "error" = "info"): void {
  const s = $("status");
  s.textContent = text;
  s.className = `status ${kind}`;
}

let listed = "";

async function refresh(): Promise<void> {
  try {
    show(await api.listPending());
  } catch (e) {
    status(errorMessage(e), "error");
  }
}

/** Follows the engine's pending list: each answer comes back the moment the list changes (a call
 * held, or decided anywhere), so a call decided elsewhere leaves this window at once. */
async function follow(): Promise<void> {
  let seen: number | null = null;
  for (;;) {
    try {
      const feed = await api.waitPending(seen);
      seen = feed.generation;
      show(feed.approvals);
    } catch (e) {
      status(errorMessage(e), "error");
      seen = null;
      await new Promise((resolve) => setTimeout(resolve, REFRESH_MS));
    }
  }
}

function show(list: PendingApproval[]): void {
  pending = list;
  if (!current()) selected = pending[0]?.id ?? null;
  // Touch the DOM only when something changed: an idle open window must stay idle.
  const key = listKey(pending.map((p) => p.id), selected);
  if (key !== listed) {
    listed = key;
    renderList();
  }
  renderDetail();
}

function renderList(): void {
  const list = $("list");
  list.replaceChildren();
  $("count").textContent = pending.length === 1 ? "1 call waiting" : `${pending.length} calls waiting`;
  for (const p of pending) {
    const item = el("li", headline(p), p.id === selected ? "selected" : "");
    item.addEventListener("click", () => {
      selected = p.id;
      listed = listKey(pending.map((q) => q.id), selected);
      renderList();
      renderDetail(true);
    });
    list.append(item);
  }
}

let shownId: string | null = null;
let shownMode: DiffMode | null = null;

function renderDetail(force = false): void {
  const p = current();
  $("empty").hidden = !!p;
  $("detail").hidden = !p;
  if (!p) {
    shownId = null;
    return;
  }
  tickCountdown();
  // The file can change under the reviewer while the call is shown: said at every refresh.
  const changed = $("changed");
  const warning = p.changed_on_disk ? `Warning: ${p.changed_on_disk}` : "";
  if (changed.textContent !== warning) changed.textContent = warning;
  changed.hidden = !warning;
  // Re-render the heavy parts only when the call or the mode changed (polling must stay cheap).
  if (!force && shownId === p.id && shownMode === mode) return;
  shownId = p.id;
  shownMode = mode;
  $("headline").textContent = headline(p);
  const facts: [string, string][] = [
    ["Agent", p.agent],
    ["Session", p.session_id],
    ["Tool", `${p.server}__${p.tool}`],
    ["Action", p.action],
    ["Target", p.target ?? "—"],
    ["Rule", p.rule_id ?? "(policy default)"],
    ["Reason", p.reason],
    ["Policy", p.policy_version],
  ];
  const dl = $("facts");
  dl.replaceChildren();
  for (const [k, v] of facts) dl.append(el("dt", k), el("dd", v));
  const tags = $("tags");
  tags.replaceChildren(...(p.risk_tags.length ? p.risk_tags.map((t) => el("span", t, "tag")) : [el("span", "no risk tags", "tag none")]));
  const effect = effectOf(p);
  const box = $("effect");
  const toggle = $<HTMLButtonElement>("toggle");
  toggle.hidden = effect.kind !== "diff";
  toggle.textContent = toggleLabel(mode);
  switch (effect.kind) {
    case "diff":
      $("effect-title").textContent = "Proposed change";
      box.innerHTML = renderDiff(effect.diff, mode); // diff2html escapes the file content
      break;
    case "command":
      $("effect-title").textContent = "Command";
      box.replaceChildren(el("pre", effect.command, "command"));
      break;
    case "text":
      $("effect-title").textContent = "Preview";
      box.replaceChildren(el("pre", effect.text));
      break;
    case "args":
      $("effect-title").textContent = "Arguments";
      box.replaceChildren(el("pre", effect.json));
      break;
  }
  const extra = extraOf(p, effect);
  $("extra-box").hidden = extra === null;
  $("extra").textContent = extra ?? "";
}

function tickCountdown(): void {
  const p = current();
  if (!p) return;
  const left = timeLeft(p.expires_at, Date.now());
  const c = $("countdown");
  const text = left.expired ? "expired: refused" : `${left.text} left`;
  const cls = left.urgent ? "countdown urgent" : "countdown";
  if (c.textContent !== text) c.textContent = text;
  if (c.className !== cls) c.className = cls;
}

async function decide(kind: "approve" | "session" | "deny"): Promise<void> {
  const p = current();
  if (!p || busy) return;
  if (kind === "deny" && $("deny-form").hidden) {
    $("deny-form").hidden = false;
    $<HTMLInputElement>("reason").focus();
    return;
  }
  busy = true;
  try {
    if (kind === "deny") {
      const reason = $<HTMLInputElement>("reason").value;
      await api.deny(p.id, reason.trim() === "" ? null : reason);
      status(`Denied ${headline(p)}`);
    } else {
      await api.approve(p.id, kind === "session");
      status(kind === "session" ? `Approved for this session: ${headline(p)}` : `Approved once: ${headline(p)}`);
    }
    $("deny-form").hidden = true;
    $<HTMLInputElement>("reason").value = "";
    selected = null;
  } catch (e) {
    status(errorMessage(e), "error");
  } finally {
    busy = false;
    await refresh();
  }
}

function init(): void {
  $("approve").addEventListener("click", () => void decide("approve"));
  $("session").addEventListener("click", () => void decide("session"));
  $("deny").addEventListener("click", () => void decide("deny"));
  $("deny-confirm").addEventListener("click", () => void decide("deny"));
  $("toggle").addEventListener("click", () => {
    mode = toggled(mode);
    renderDetail(true);
  });
  $("reason").addEventListener("keydown", (e) => {
    if (e.key === "Enter") void decide("deny");
    if (e.key === "Escape") $("deny-form").hidden = true;
  });
  document.addEventListener("keydown", (e) => {
    const t = e.target as HTMLElement | null;
    const typing = !!t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA");
    const action = shortcutFor(e.key, typing, e.ctrlKey || e.metaKey || e.altKey);
    if (action) {
      e.preventDefault();
      void decide(action);
    }
  });
  window.addEventListener("hashchange", () => {
    selected = decodeURIComponent(location.hash.slice(1)) || selected;
    void refresh();
  });
  void follow();
  // The countdown needs no engine: it ticks locally.
  setInterval(() => renderDetail(), REFRESH_MS);
}

init();
