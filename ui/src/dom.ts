// DOM helpers shared by the settings window and the evidence viewer. Every piece of text goes in
// through textContent (records and configs carry agent-controlled strings): no innerHTML here.
import type { DesktopError } from "./types";

/** The element with this id; a missing one is a bug in the page, not a runtime condition. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id}`);
  return node as T;
}

/** Attributes `el` can set (strings only; event handlers are attached with addEventListener). */
export type Attrs = { [name: string]: string | boolean | undefined };

/** A new element with text (as text, never markup), a class and attributes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string | null,
  cls?: string,
  attrs?: Attrs,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (cls) node.className = cls;
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === false) continue;
      if (/^on/i.test(name)) throw new Error(`refusing inline handler attribute ${name}`);
      node.setAttribute(name, value === true ? "" : value);
    }
  }
  return node;
}

/** A button with a click handler. */
export function button(label: string, onClick: () => void, cls?: string, attrs?: Attrs): HTMLButtonElement {
  const b = el("button", label, cls, { type: "button", ...attrs });
  b.addEventListener("click", onClick);
  return b;
}

/** The `{kind, message}` of anything a command threw. */
export function asError(error: unknown): DesktopError {
  if (error && typeof error === "object" && "message" in error) {
    const e = error as { kind?: unknown; message: unknown };
    const kind = typeof e.kind === "string" ? e.kind : "engine";
    return { kind: kind as DesktopError["kind"], message: String(e.message) };
  }
  return { kind: "engine", message: String(error) };
}

/** What the status area shows for an error: the message, prefixed by its kind when that helps. */
export function errorText(error: unknown): string {
  const e = asError(error);
  const prefix: Partial<Record<DesktopError["kind"], string>> = {
    not_running: "Engine not running",
    invalid: "Invalid",
    not_found: "Not found",
    conflict: "Conflict",
    io: "File error",
    engine: "Engine error",
  };
  const p = prefix[e.kind];
  return p && !e.message.toLowerCase().startsWith(p.toLowerCase()) ? `${p}: ${e.message}` : e.message;
}

/** The window's status line (an ARIA live region): every command's error lands here. */
export class StatusLine {
  private timer: ReturnType<typeof setTimeout> | null = null;
  constructor(private readonly node: HTMLElement) {
    node.setAttribute("role", "status");
    node.setAttribute("aria-live", "polite");
  }
  /** Shows a confirmation; it fades after a while. */
  info(text: string): void {
    this.set(text, "info");
    this.timer = setTimeout(() => this.clear(), 8000);
  }
  /** Shows an error; it stays until the next message or a dismissal. */
  error(error: unknown, context?: string): void {
    const text = errorText(error);
    this.set(context ? `${context}: ${text}` : text, "error");
  }
  clear(): void {
    this.set("", "info");
  }
  private set(text: string, kind: "info" | "error"): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.node.textContent = text;
    this.node.className = `statusline ${kind}`;
    this.node.hidden = text === "";
  }
}

/** Runs a command, reporting its error in the status line; resolves to null when it failed. */
export async function attempt<T>(status: StatusLine, context: string, run: () => Promise<T>): Promise<T | null> {
  try {
    return await run();
  } catch (e) {
    status.error(e, context);
    return null;
  }
}

/** Calls `fn` once `ms` after the last call (live validation while typing). */
export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number): ((...args: A) => void) & { cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const wrapped = (...args: A) => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      fn(...args);
    }, ms);
  };
  wrapped.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  return wrapped;
}

/** A table with a header row and one row per item; cells are text or ready-made nodes. */
export function table(headers: string[], rows: (string | Node)[][], cls = "grid"): HTMLTableElement {
  const t = el("table", null, cls);
  const head = el("thead");
  const hr = el("tr");
  for (const h of headers) hr.append(el("th", h, undefined, { scope: "col" }));
  head.append(hr);
  const body = el("tbody");
  for (const row of rows) {
    const tr = el("tr");
    for (const cell of row) {
      const td = el("td");
      if (typeof cell === "string") td.textContent = cell;
      else td.append(cell);
      tr.append(td);
    }
    body.append(tr);
  }
  t.append(head, body);
  return t;
}
