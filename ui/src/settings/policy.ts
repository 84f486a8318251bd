// The settings window's policy page: the editor (validated as you type), the policy's tests, a
// preview of the past decisions an edit would change, saving, and edits made in another editor.
import * as api from "../api";
import { isForFile, positionLabel, sortDiagnostics, validationSummary } from "../diagnostics";
import { attempt, button, byId, debounce, el, table } from "../dom";
import { createEditor } from "../editor";
import { formatTime, humanize, tone } from "../evformat";
import type { Diagnostic, PolicyDoc, PolicyEvent, PolicyFile, Replay, TestRun, Validation } from "../types";
import { badge, refreshEngine, shared, status } from "./shared";

const VALIDATE_MS = 300;

let policy: PolicyDoc | null = null;
let file: PolicyFile | null = null;
let saved = ""; // the text on disk of the file being edited
let validation: Validation | null = null;
let validatedText: string | null = null;
let validateSeq = 0;
let lastDiagnostics: Diagnostic[] = [];
const ourVersions = new Set<string>(); // versions this window saved (not "external" edits)
let seenEvents: string | null = null;
let eventsKey = "";

const editor = createEditor(byId("editor"), onEdit, () => void savePolicy(), "Policy YAML");
const validateSoon = debounce(() => void validatePolicy(), VALIDATE_MS);

function dirty(): boolean {
  return file !== null && editor.text() !== saved;
}

function setValidity(text: string, t: string): void {
  const v = byId("validity");
  v.textContent = text;
  v.className = `pill ${t}`;
}

function canSave(): boolean {
  if (!file || !validation || validatedText !== editor.text() || !validation.ok) return false;
  return dirty() || policy?.source === "default";
}

function updateButtons(): void {
  byId<HTMLButtonElement>("save").disabled = !canSave();
  byId<HTMLButtonElement>("revert").disabled = !dirty();
}

function onEdit(): void {
  setValidity("Checking…", "neutral");
  updateButtons();
  validateSoon();
}

export async function loadPolicy(keepName?: string): Promise<void> {
  const doc = await attempt(status, "Cannot load the policy", api.policyGet);
  if (!doc) return;
  policy = doc;
  const select = byId<HTMLSelectElement>("policy-file");
  select.replaceChildren(...doc.files.map((f) => el("option", f.name, undefined, { value: f.name })));
  byId("file-label").hidden = doc.source !== "directory";
  const next = doc.files.find((f) => f.name === keepName) ?? doc.files[0] ?? null;
  openFile(next);
  if (doc.source === "directory") select.value = next?.name ?? "";
}

function openFile(f: PolicyFile | null): void {
  file = f;
  saved = f?.text ?? "";
  validation = null;
  validatedText = null;
  editor.load(saved);
  const where = !policy
    ? ""
    : policy.source === "default"
      ? "Built-in default policy (saving writes your own policy.yaml)"
      : (f?.path ?? policy.path ?? "");
  byId("policy-version").textContent = policy ? `in force: ${policy.version}` : "";
  byId("policy-path").textContent = where;
  byId("policy-path").title = where;
  updateButtons();
  if (f) void validatePolicy();
}

async function validatePolicy(): Promise<void> {
  if (!file) return;
  validateSoon.cancel();
  const seq = ++validateSeq;
  const text = editor.text();
  const name = file.name;
  try {
    const v = await api.policyValidate(name, text);
    if (seq !== validateSeq) return; // a newer edit is being checked
    validation = v;
    validatedText = text;
    showDiagnostics(v.diagnostics);
    setValidity(validationSummary(v), v.ok ? (v.diagnostics.length ? "held" : "good") : "bad");
  } catch (e) {
    if (seq !== validateSeq) return;
    validation = null;
    validatedText = null;
    setValidity("Not checked", "bad");
    status.error(e, "Validation failed");
  }
  updateButtons();
}

function showDiagnostics(ds: Diagnostic[]): void {
  if (!file) return;
  lastDiagnostics = sortDiagnostics(ds);
  editor.mark(lastDiagnostics, file.name, file.path);
  const list = byId("diagnostics");
  list.replaceChildren();
  if (lastDiagnostics.length === 0) {
    list.append(el("li", "No problems.", "muted"));
    return;
  }
  for (const d of lastDiagnostics) {
    const here = isForFile(d, file.name, file.path);
    const pos = positionLabel(d);
    const item = el("li", null, d.severity);
    const where = `${here ? "" : `${d.file} `}${pos}`.trim();
    const jump = button(where || d.file, () => editor.reveal(d.line, d.column), "link", {
      "aria-label": `Go to ${d.severity} at ${where || d.file}`,
      disabled: !here,
    });
    item.append(badge(d.severity, d.severity === "error" ? "bad" : "held"), jump, el("span", d.message, "msg"));
    list.append(item);
  }
}

async function runTests(): Promise<void> {
  if (!file) return;
  const run = await attempt(status, "Tests could not run", () => api.policyTest(file!.name, editor.text()));
  if (!run) return;
  renderTests(run);
  if (run.diagnostics.length) showDiagnostics(run.diagnostics);
}

function renderTests(run: TestRun): void {
  const box = byId("policy-results");
  const head = el("div", null, "results-head");
  head.append(
    el("h3", "Policy tests"),
    badge(`${run.passed} passed`, "good"),
    badge(`${run.failed} failed`, run.failed ? "bad" : "neutral"),
  );
  if (!run.ok && run.failed === 0) head.append(badge("the policy has errors", "bad"));
  const rows = run.results.map((r) => [
    badge(r.passed ? "pass" : "FAIL", r.passed ? "good" : "bad"),
    r.name,
    humanize(r.expected),
    humanize(r.actual),
    r.rule_id ?? "(default)",
    r.message ?? "",
  ]);
  box.replaceChildren(head, rows.length ? table(["", "Test", "Expected", "Actual", "Rule", "Message"], rows) : el("p", "The policy has no tests.", "muted"));
}

async function previewChanges(): Promise<void> {
  if (!file) return;
  const raw = Number(byId<HTMLInputElement>("replay-limit").value);
  const limit = Number.isFinite(raw) && raw >= 1 ? Math.min(10000, Math.floor(raw)) : 500;
  const replay = await attempt(status, "Preview failed", () => api.policyReplay(file!.name, editor.text(), limit));
  if (replay) renderReplay(replay);
}

function renderReplay(r: Replay): void {
  const box = byId("policy-results");
  const head = el("div", null, "results-head");
  head.append(
    el("h3", "Preview: decisions that would change"),
    el("span", `${r.replayed} records replayed${r.skipped ? `, ${r.skipped} skipped` : ""}; ${r.changed.length} would change`, "muted"),
  );
  if (!r.changed.length) {
    box.replaceChildren(head, el("p", "No past decision would change under the edited policy.", "muted"));
    return;
  }
  const rows = r.changed.map((c) => {
    const change = el("span", null, "change");
    change.append(badge(humanize(c.old_decision), tone(c.old_decision)), el("span", " → "), badge(humanize(c.new_decision), tone(c.new_decision)));
    const rule = el("span", `${c.old_rule ?? "(default)"} → ${c.new_rule ?? "(default)"}`);
    rule.title = c.new_reason;
    return [`#${c.seq}`, formatTime(c.timestamp), c.agent, c.tool, c.target ?? "—", change, rule];
  });
  box.replaceChildren(head, table(["Record", "Time", "Agent", "Tool", "Target", "Old → new", "Rule (old → new)"], rows));
}

export async function savePolicy(): Promise<void> {
  if (shared.page !== "policy" || !file) return;
  if (validatedText !== editor.text()) await validatePolicy();
  if (!validation?.ok || validatedText !== editor.text()) {
    status.error({ kind: "invalid", message: "the policy has errors: fix them before saving (the policy in force is unchanged)" }, "Not saved");
    return;
  }
  if (!canSave()) return;
  const text = editor.text();
  const name = file.name;
  try {
    const result = await api.policySave(name, text);
    ourVersions.add(result.version);
    saved = text;
    if (policy) policy.version = result.version;
    byId("policy-version").textContent = `in force: ${result.version}`;
    if (file.path === null) file.path = result.path;
    file.text = text;
    if (policy?.source === "default") await loadPolicy(name);
    status.info(`Saved ${result.path}: policy ${result.version} is in force`);
    byId("external").hidden = true;
    void refreshEvents();
    void refreshEngine();
  } catch (e) {
    status.error(e, "Not saved (the policy in force is unchanged)"); // the editor keeps the text
    void validatePolicy();
  }
  updateButtons();
}

function revert(): void {
  if (!file) return;
  editor.load(saved);
  void validatePolicy();
}

function eventKey(e: PolicyEvent): string {
  return `${e.at}|${e.version}|${e.message}`;
}

export async function refreshEvents(): Promise<void> {
  let events: PolicyEvent[];
  try {
    events = await api.policyEvents();
  } catch (e) {
    status.error(e, "Policy events");
    return;
  }
  const listed = JSON.stringify(events);
  if (listed === eventsKey) return;
  eventsKey = listed;
  const list = byId("events");
  byId("events-count").textContent = events.length ? `(${events.length})` : "";
  list.replaceChildren(
    ...(events.length
      ? [...events].reverse().map((ev) => {
          const li = el("li");
          li.append(el("time", formatTime(ev.at), "muted"), badge(ev.ok ? "reloaded" : "refused", ev.ok ? "good" : "bad"), el("span", ev.version ?? "", "mono"), el("span", ev.message, "msg"));
          return li;
        })
      : [el("li", "No policy change seen since the engine started.", "muted")]),
  );
  // A new event from another editor: reload when nothing is being edited, otherwise say so.
  const newest = events[events.length - 1];
  const key = newest ? eventKey(newest) : "";
  const first = seenEvents === null;
  if (first || key === seenEvents || !newest) {
    seenEvents = key;
    return;
  }
  seenEvents = key;
  if (newest.version && ourVersions.has(newest.version)) return;
  const box = byId("external");
  box.replaceChildren();
  if (!newest.ok) {
    box.append(el("span", `An edit made outside this window was refused (the policy in force is unchanged): ${newest.message}`));
    box.className = "notice bad";
    box.hidden = false;
    return;
  }
  if (!dirty()) {
    await loadPolicy(file?.name);
    box.append(el("span", `The policy changed on disk and was reloaded (${newest.version ?? "new version"}).`));
    box.className = "notice";
  } else {
    box.append(
      el("span", `The policy changed on disk (${newest.version ?? "new version"}) while you were editing. `),
      button("Load it (discard my edits)", () => {
        box.hidden = true;
        void loadPolicy(file?.name);
      }),
    );
    box.className = "notice held";
  }
  box.hidden = false;
}

export function initPolicy(): void {
  byId("run-tests").addEventListener("click", () => void runTests());
  byId("preview").addEventListener("click", () => void previewChanges());
  byId("save").addEventListener("click", () => void savePolicy());
  byId("revert").addEventListener("click", revert);
  const select = byId<HTMLSelectElement>("policy-file");
  select.addEventListener("change", () => {
    if (dirty()) {
      select.value = file?.name ?? "";
      status.error({ kind: "conflict", message: `save or revert your changes to ${file?.name ?? "this file"} first` }, "Cannot switch files");
      return;
    }
    openFile(policy?.files.find((f) => f.name === select.value) ?? null);
  });
}
