// The settings window's general page: reviewer and approval timeout, start at login, pause,
// update checks, the engine's facts and restarting it.
import * as api from "../api";
import { attempt, byId, el } from "../dom";
import type { FieldError } from "../serverform";
import { engineFacts, timeoutError, updateOutcomeText } from "../settingsmodel";
import { loadServers } from "./servers";
import { redraw, refreshEngine, restart, shared, showFieldErrors, status } from "./shared";

function fillGeneral(): void {
  if (!shared.config) return;
  byId<HTMLInputElement>("reviewer").value = shared.config.reviewer;
  byId<HTMLInputElement>("timeout").value = String(shared.config.approval_timeout_secs);
}

function renderGeneralStatus(): void {
  const dl = byId("engine-facts");
  dl.replaceChildren();
  if (!shared.engine) {
    dl.append(el("dt", "Engine"), el("dd", "not reachable"));
    return;
  }
  for (const [k, v] of engineFacts(shared.engine)) dl.append(el("dt", k), el("dd", v));
  byId<HTMLInputElement>("autostart").checked = shared.engine.autostart;
  byId<HTMLInputElement>("paused").checked = shared.engine.paused;
}

export async function loadGeneral(): Promise<void> {
  await Promise.all([refreshEngine(), shared.config ? Promise.resolve() : loadServers()]);
  fillGeneral();
}

async function saveGeneral(): Promise<void> {
  const form = byId("general-form");
  const reviewer = byId<HTMLInputElement>("reviewer").value.trim();
  const timeoutText = byId<HTMLInputElement>("timeout").value;
  const errors: FieldError[] = [];
  if (reviewer === "") errors.push({ field: "reviewer", message: "a reviewer name is required" });
  const tErr = timeoutError(timeoutText);
  if (tErr) errors.push({ field: "timeout", message: tErr });
  showFieldErrors(form, errors);
  if (errors.length) return;
  const s = await attempt(status, "Settings not saved", () => api.settingsSave(reviewer, Number(timeoutText)));
  if (s) {
    shared.config = s;
    fillGeneral();
    status.info("Saved the reviewer and approval timeout.");
    void refreshEngine();
  }
}

async function toggle(id: "autostart" | "paused"): Promise<void> {
  const box = byId<HTMLInputElement>(id);
  const want = box.checked;
  box.disabled = true;
  try {
    shared.engine = await (id === "autostart" ? api.setAutostart(want) : api.setPaused(want));
    status.info(id === "autostart" ? (want ? "Cordon will start at login." : "Cordon will not start at login.") : want ? "All agents paused: every call is refused until you resume." : "Agents resumed.");
  } catch (e) {
    box.checked = !want;
    status.error(e, id === "autostart" ? "Cannot change start at login" : "Cannot change the pause");
  } finally {
    box.disabled = false;
    void refreshEngine();
  }
}

async function loadUpdates(): Promise<void> {
  const s = await attempt(status, "Cannot read the update setting", () => api.getUpdateSettings());
  if (s) byId<HTMLInputElement>("updates").checked = s.enabled;
}

async function toggleUpdates(): Promise<void> {
  const box = byId<HTMLInputElement>("updates");
  const want = box.checked;
  box.disabled = true;
  const s = await attempt(status, "Cannot change the update setting", () => api.setUpdateSettings(want));
  box.checked = s ? s.enabled : !want;
  if (s) status.info(want ? "Cordon will check for updates when it starts." : "Cordon will not check for updates.");
  box.disabled = false;
}

async function checkUpdatesNow(): Promise<void> {
  const button = byId<HTMLButtonElement>("check-updates");
  button.disabled = true;
  const outcome = await attempt(status, "Update check failed", () => api.checkForUpdates());
  if (outcome) status.info(updateOutcomeText(outcome));
  button.disabled = false;
}

export function initGeneral(): void {
  redraw.engine = renderGeneralStatus;
  redraw.config = fillGeneral;
  byId("updates").addEventListener("change", () => void toggleUpdates());
  byId("check-updates").addEventListener("click", () => void checkUpdatesNow());
  void loadUpdates();
  byId("general-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void saveGeneral();
  });
  byId("autostart").addEventListener("change", () => void toggle("autostart"));
  byId("paused").addEventListener("change", () => void toggle("paused"));
  byId("restart-general").addEventListener("click", () => void restart(byId<HTMLButtonElement>("restart-general")));
}
