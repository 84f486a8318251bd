// What the pages of the settings window share: the status line, pills, field errors, the page
// shown, the engine's status (read by every page, shown in the header and on the general page),
// the config (edited by the servers and general pages) and restarting the engine.
import * as api from "../api";
import { attempt, byId, el, errorText, StatusLine } from "../dom";
import type { FieldError } from "../serverform";
import { engineLine } from "../settingsmodel";
import type { Settings, Status } from "../types";

export type Page = "policy" | "servers" | "secrets" | "agents" | "general";
export const PAGES: Page[] = ["policy", "servers", "secrets", "agents", "general"];

/** State more than one page reads: the page shown, the engine's status, the config as last read. */
export const shared: { page: Page; engine: Status | null; config: Settings | null } = {
  page: "policy",
  engine: null,
  config: null,
};

/** What the general page redraws when the engine's status or the config was read again (it sets these). */
export const redraw = { engine: (): void => {}, config: (): void => {} };

export const status = new StatusLine(byId("statusline"));

export function badge(text: string, t: string): HTMLElement {
  return el("span", text, `pill ${t}`);
}

export function yesNo(v: boolean, yes = "yes", no = "no"): HTMLElement {
  return badge(v ? yes : no, v ? "good" : "neutral");
}

export function showFieldErrors(form: HTMLElement, errors: FieldError[]): void {
  for (const small of form.querySelectorAll<HTMLElement>("small.err")) small.textContent = "";
  for (const input of form.querySelectorAll<HTMLElement>("[aria-invalid]")) input.removeAttribute("aria-invalid");
  for (const e of errors) {
    const group = e.field.split(".")[0] ?? e.field;
    const small = form.querySelector<HTMLElement>(`small.err[data-for="${group}"]`);
    if (small) small.textContent = small.textContent ? `${small.textContent}; ${e.message}` : e.message;
    const input = form.querySelector<HTMLElement>(`[data-field="${e.field}"]`) ?? form.querySelector<HTMLElement>(`#sv-${group}`);
    input?.setAttribute("aria-invalid", "true");
  }
  const first = form.querySelector<HTMLElement>("[aria-invalid]");
  first?.focus();
}

// ---------------------------------------------------------------- engine status

let engineKey = "";

export async function refreshEngine(): Promise<void> {
  let text: string;
  let cls: string;
  try {
    const engine = await api.engineStatus();
    shared.engine = engine;
    text = engineLine(engine);
    cls = `engine ${!engine.running || engine.evidence_fault ? "bad" : engine.paused ? "held" : "good"}`;
  } catch (e) {
    shared.engine = null;
    text = errorText(e);
    cls = "engine bad";
  }
  // Touch the DOM only when something changed: an idle open window must stay idle.
  const key = JSON.stringify([text, cls, shared.engine]);
  if (key === engineKey) return;
  engineKey = key;
  setText(byId("engine"), text, cls);
  redraw.engine();
}

function setText(node: HTMLElement, text: string, cls: string): void {
  if (node.textContent !== text) node.textContent = text;
  if (node.className !== cls) node.className = cls;
}

let restartArmed = false;

export async function restart(button?: HTMLButtonElement): Promise<void> {
  // Restarting refuses the calls waiting for approval: say so and ask once more when there are any.
  const pending = shared.engine?.pending ?? 0;
  if (button && pending > 0 && !restartArmed) {
    restartArmed = true;
    button.dataset.label = button.textContent ?? "";
    button.textContent = `Refuse ${pending} waiting call${pending === 1 ? "" : "s"} and restart`;
    button.classList.add("danger");
    return;
  }
  if (button && restartArmed) {
    restartArmed = false;
    button.textContent = button.dataset.label ?? "Restart engine";
    button.classList.remove("danger");
  }
  const s = await attempt(status, "Restart failed", api.restartEngine);
  if (s) {
    shared.engine = s;
    byId("restart-box").hidden = true;
    status.info("Engine restarted with the new configuration.");
    void refreshEngine();
  }
}
