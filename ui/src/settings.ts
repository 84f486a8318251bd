// The settings window: policy editor, upstream servers, keychain secrets, agents, general settings.
import "./style.css";
import "./pages.css";
import * as api from "./api";
import { isForFile, positionLabel, sortDiagnostics, validationSummary } from "./diagnostics";
import { attempt, button, byId, debounce, el, errorText, StatusLine, table } from "./dom";
import { createEditor } from "./editor";
import { formatTime, humanize, tone } from "./evformat";
import {
  formOf,
  reference,
  referencesIn,
  serverSummary,
  validateServer,
  type FieldError,
  type Pair,
  type ServerForm,
} from "./serverform";
import { engineLine, engineFacts, secretNameError, timeoutError, updateOutcomeText } from "./settingsmodel";
import type {
  AgentEntry,
  Diagnostic,
  PolicyDoc,
  PolicyEvent,
  PolicyFile,
  Replay,
  SecretEntry,
  ServerEntry,
  Settings,
  Status,
  TestRun,
  Validation,
} from "./types";

const VALIDATE_MS = 300;
const POLL_MS = 5000;

const status = new StatusLine(byId("statusline"));

function badge(text: string, t: string): HTMLElement {
  return el("span", text, `pill ${t}`);
}

function yesNo(v: boolean, yes = "yes", no = "no"): HTMLElement {
  return badge(v ? yes : no, v ? "good" : "neutral");
}

// ---------------------------------------------------------------- tabs

type Page = "policy" | "servers" | "secrets" | "agents" | "general";
const PAGES: Page[] = ["policy", "servers", "secrets", "agents", "general"];
let page: Page = "policy";
const loaded = new Set<Page>();

function show(next: Page, focusTab = false): void {
  page = next;
  for (const p of PAGES) {
    const tab = byId<HTMLButtonElement>(`tab-${p}`);
    const on = p === next;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    byId(`page-${p}`).hidden = !on;
    if (on && focusTab) tab.focus();
  }
  if (location.hash !== `#${next}`) history.replaceState(null, "", `#${next}`);
  if (!loaded.has(next)) {
    loaded.add(next);
    void loaders[next]();
  }
}

function initTabs(): void {
  for (const p of PAGES) {
    const tab = byId(`tab-${p}`);
    tab.addEventListener("click", () => show(p));
    tab.addEventListener("keydown", (e) => {
      const i = PAGES.indexOf(p);
      let j: number | null = null;
      if (e.key === "ArrowDown" || e.key === "ArrowRight") j = (i + 1) % PAGES.length;
      if (e.key === "ArrowUp" || e.key === "ArrowLeft") j = (i + PAGES.length - 1) % PAGES.length;
      if (e.key === "Home") j = 0;
      if (e.key === "End") j = PAGES.length - 1;
      const target = j === null ? undefined : PAGES[j];
      if (target) {
        e.preventDefault();
        show(target, true);
      }
    });
  }
  window.addEventListener("hashchange", () => {
    const h = location.hash.slice(1) as Page;
    if (PAGES.includes(h) && h !== page) show(h);
  });
}

// ---------------------------------------------------------------- engine status

let engine: Status | null = null;

let engineKey = "";

async function refreshEngine(): Promise<void> {
  let text: string;
  let cls: string;
  try {
    engine = await api.engineStatus();
    text = engineLine(engine);
    cls = `engine ${engine.running ? (engine.paused ? "held" : "good") : "bad"}`;
  } catch (e) {
    engine = null;
    text = errorText(e);
    cls = "engine bad";
  }
  // Touch the DOM only when something changed: an idle open window must stay idle.
  const key = JSON.stringify([text, cls, engine]);
  if (key === engineKey) return;
  engineKey = key;
  setText(byId("engine"), text, cls);
  renderGeneralStatus();
}

function setText(node: HTMLElement, text: string, cls: string): void {
  if (node.textContent !== text) node.textContent = text;
  if (node.className !== cls) node.className = cls;
}

// ---------------------------------------------------------------- policy

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

async function loadPolicy(keepName?: string): Promise<void> {
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

async function savePolicy(): Promise<void> {
  if (page !== "policy" || !file) return;
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

async function refreshEvents(): Promise<void> {
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

function initPolicy(): void {
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

// ---------------------------------------------------------------- servers

let settings: Settings | null = null;
let secretNames: string[] = [];
let editing: string | null = null; // original name of the server being edited; null = adding
let confirming: string | null = null;
let envPairs: Pair[] = [];
let headerPairs: Pair[] = [];

async function loadServers(): Promise<void> {
  const s = await attempt(status, "Cannot read the config", api.configGet);
  if (s) {
    settings = s;
    renderServers();
    fillGeneral();
  }
  await loadSecretNames();
}

async function loadSecretNames(): Promise<void> {
  const list = await attempt(status, "Cannot list secrets", api.secretsList);
  if (list) {
    secretNames = list.filter((s) => s.stored).map((s) => s.name);
    fillSecretPicker(byId<HTMLSelectElement>("sv-args-secret"));
  }
}

function fillSecretPicker(select: HTMLSelectElement): void {
  select.replaceChildren(
    el("option", secretNames.length ? "Choose…" : "(no stored secrets)", undefined, { value: "" }),
    ...secretNames.map((n) => el("option", n, undefined, { value: n })),
  );
}

function renderServers(): void {
  const box = byId("servers");
  byId("config-path").textContent = settings?.config_path ? `Config: ${settings.config_path}` : "No config file yet: saving a server creates one.";
  if (!settings || settings.servers.length === 0) {
    box.replaceChildren(el("p", "No upstream server is configured.", "muted"));
    return;
  }
  const rows = settings.servers.map((s) => {
    const refs = [...new Set([...s.args, ...Object.values(s.env), ...Object.values(s.headers)].flatMap(referencesIn))];
    const actions = el("span", null, "row-actions");
    if (confirming === s.name) {
      actions.append(
        el("span", `Remove ${s.name}?`),
        button("Remove", () => void removeServer(s.name), "danger"),
        button("Cancel", () => {
          confirming = null;
          renderServers();
        }),
      );
    } else {
      actions.append(
        button("Edit", () => openServerForm(s), undefined, { "aria-label": `Edit ${s.name}` }),
        button("Remove", () => {
          confirming = s.name;
          renderServers();
        }, undefined, { "aria-label": `Remove ${s.name}` }),
      );
    }
    const summary = el("span", serverSummary(s), "mono ellipsis");
    summary.title = serverSummary(s);
    return [el("strong", s.name), s.transport, summary, refs.length ? refs.join(", ") : "—", actions];
  });
  box.replaceChildren(table(["Name", "Transport", "Command / URL", "Secrets", ""], rows));
}

async function removeServer(name: string): Promise<void> {
  confirming = null;
  const s = await attempt(status, `Cannot remove ${name}`, () => api.serverRemove(name));
  if (s) {
    settings = s;
    status.info(`Removed ${name}.`);
    byId("restart-box").hidden = false;
  }
  renderServers();
}

function pairEditor(box: HTMLElement, pairs: Pair[], kind: "env" | "headers"): void {
  box.replaceChildren();
  const keyLabel = kind === "env" ? "Variable" : "Header";
  pairs.forEach((p, i) => {
    const row = el("div", null, "pair");
    const key = el("input", null, "mono k", { type: "text", spellcheck: "false", "aria-label": `${keyLabel} ${i + 1} name`, "data-field": `${kind}.${i}.key`, placeholder: kind === "env" ? "NAME" : "Authorization" });
    key.value = p.key;
    key.addEventListener("input", () => (p.key = key.value));
    const value = el("input", null, "mono v", { type: "text", spellcheck: "false", "aria-label": `${keyLabel} ${i + 1} value`, "data-field": `${kind}.${i}.value` });
    value.value = p.value;
    value.addEventListener("input", () => (p.value = value.value));
    const pick = el("select", null, "secret-pick", { "aria-label": `Insert a secret reference into ${keyLabel.toLowerCase()} ${i + 1}` });
    fillSecretPicker(pick);
    pick.options[0]!.textContent = "Secret…";
    pick.addEventListener("change", () => {
      if (!pick.value) return;
      p.value = kind === "headers" && /^authorization$/i.test(p.key) && p.value === "" ? `Bearer ${reference(pick.value)}` : p.value + reference(pick.value);
      value.value = p.value;
      pick.value = "";
      value.focus();
    });
    const remove = button("×", () => {
      pairs.splice(i, 1);
      pairEditor(box, pairs, kind);
    }, "icon", { "aria-label": `Remove ${keyLabel.toLowerCase()} ${i + 1}` });
    row.append(key, el("span", "=", "muted"), value, pick, remove);
    box.append(row);
  });
  box.append(
    button(kind === "env" ? "Add variable" : "Add header", () => {
      pairs.push({ key: "", value: "" });
      pairEditor(box, pairs, kind);
      box.querySelectorAll<HTMLInputElement>("input")[pairs.length * 2 - 2]?.focus();
    }, "small"),
  );
}

function transport(): "stdio" | "http" {
  const checked = document.querySelector<HTMLInputElement>('input[name="sv-transport"]:checked');
  return checked?.value === "http" ? "http" : "stdio";
}

function showTransport(): void {
  const http = transport() === "http";
  document.querySelector<HTMLElement>("#server-form .stdio-only")!.hidden = http;
  document.querySelector<HTMLElement>("#server-form .http-only")!.hidden = !http;
}

function openServerForm(entry: ServerEntry | null): void {
  editing = entry?.name ?? null;
  const f = formOf(entry);
  byId("server-form-title").textContent = entry ? `Edit ${entry.name}` : "Add server";
  byId<HTMLInputElement>("sv-name").value = f.name;
  for (const r of document.querySelectorAll<HTMLInputElement>('input[name="sv-transport"]')) r.checked = r.value === f.transport;
  byId<HTMLInputElement>("sv-command").value = f.command;
  byId<HTMLTextAreaElement>("sv-args").value = f.args;
  byId<HTMLInputElement>("sv-cwd").value = f.cwd;
  byId<HTMLInputElement>("sv-url").value = f.url;
  envPairs = f.env;
  headerPairs = f.headers;
  pairEditor(byId("sv-env"), envPairs, "env");
  pairEditor(byId("sv-headers"), headerPairs, "headers");
  showTransport();
  showFieldErrors(byId("server-form"), []);
  byId("server-form").hidden = false;
  byId<HTMLInputElement>("sv-name").focus();
}

function showFieldErrors(form: HTMLElement, errors: FieldError[]): void {
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

async function submitServer(): Promise<void> {
  const form: ServerForm = {
    name: byId<HTMLInputElement>("sv-name").value,
    transport: transport(),
    command: byId<HTMLInputElement>("sv-command").value,
    args: byId<HTMLTextAreaElement>("sv-args").value,
    env: envPairs,
    cwd: byId<HTMLInputElement>("sv-cwd").value,
    url: byId<HTMLInputElement>("sv-url").value,
    headers: headerPairs,
  };
  const taken = settings?.servers.map((s) => s.name) ?? [];
  const { entry, errors } = validateServer(form, taken, editing);
  showFieldErrors(byId("server-form"), errors);
  if (!entry) return;
  try {
    settings = await api.serverSave(entry, editing);
    byId("server-form").hidden = true;
    status.info(`Saved server ${entry.name}.`);
    byId("restart-box").hidden = false;
    renderServers();
  } catch (e) {
    status.error(e, `Server ${entry.name} not saved`);
  }
}

let restartArmed = false;

async function restart(button?: HTMLButtonElement): Promise<void> {
  // Restarting refuses the calls waiting for approval: say so and ask once more when there are any.
  const pending = engine?.pending ?? 0;
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
    engine = s;
    byId("restart-box").hidden = true;
    status.info("Engine restarted with the new configuration.");
    void refreshEngine();
  }
}

function initServers(): void {
  byId("server-add").addEventListener("click", () => openServerForm(null));
  byId("server-cancel").addEventListener("click", () => {
    byId("server-form").hidden = true;
    byId("server-add").focus();
  });
  byId("server-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void submitServer();
  });
  for (const r of document.querySelectorAll<HTMLInputElement>('input[name="sv-transport"]')) r.addEventListener("change", showTransport);
  const pick = byId<HTMLSelectElement>("sv-args-secret");
  pick.addEventListener("change", () => {
    if (!pick.value) return;
    const area = byId<HTMLTextAreaElement>("sv-args");
    const sep = area.value === "" || area.value.endsWith("\n") ? "" : "\n";
    area.value = `${area.value}${sep}${reference(pick.value)}`;
    pick.value = "";
    area.focus();
  });
  byId("restart").addEventListener("click", () => void restart(byId<HTMLButtonElement>("restart")));
}

// ---------------------------------------------------------------- secrets

let secrets: SecretEntry[] = [];
let confirmingSecret: string | null = null;

async function loadSecrets(): Promise<void> {
  const list = await attempt(status, "Cannot list secrets", api.secretsList);
  if (list) {
    secrets = list;
    renderSecrets();
  }
}

function renderSecrets(): void {
  const box = byId("secrets");
  if (!secrets.length) {
    box.replaceChildren(el("p", "No secret is stored or referenced.", "muted"));
    return;
  }
  const rows = secrets.map((s) => {
    const actions = el("span", null, "row-actions");
    if (confirmingSecret === s.name) {
      actions.append(
        el("span", s.used_by.length ? `Remove ${s.name}? ${s.used_by.join(", ")} will fail to start.` : `Remove ${s.name}?`),
        button("Remove", () => void removeSecret(s.name), "danger"),
        button("Cancel", () => {
          confirmingSecret = null;
          renderSecrets();
        }),
      );
    } else {
      actions.append(
        button(s.stored ? "Replace…" : "Set…", () => {
          byId<HTMLInputElement>("sc-name").value = s.name;
          byId("secret-form-title").textContent = `${s.stored ? "Replace" : "Set"} ${s.name}`;
          byId<HTMLInputElement>("sc-value").focus();
        }, undefined, { "aria-label": `${s.stored ? "Replace" : "Set"} the value of ${s.name}` }),
        button("Remove", () => {
          confirmingSecret = s.name;
          renderSecrets();
        }, undefined, { "aria-label": `Remove ${s.name}`, disabled: !s.stored }),
      );
    }
    return [el("strong", s.name, "mono"), s.used_by.length ? s.used_by.join(", ") : "not used", badge(s.stored ? "stored" : "missing", s.stored ? "good" : "bad"), actions];
  });
  box.replaceChildren(table(["Name", "Used by", "Keychain", ""], rows));
}

async function removeSecret(name: string): Promise<void> {
  confirmingSecret = null;
  const list = await attempt(status, `Cannot remove ${name}`, () => api.secretRemove(name));
  if (list) {
    secrets = list;
    status.info(`Removed ${name} from the keychain.`);
    void loadSecretNames();
  }
  renderSecrets();
}

async function submitSecret(): Promise<void> {
  const form = byId("secret-form");
  const nameInput = byId<HTMLInputElement>("sc-name");
  const valueInput = byId<HTMLInputElement>("sc-value");
  const name = nameInput.value.trim();
  const errors: FieldError[] = [];
  const nameErr = secretNameError(name);
  if (nameErr) errors.push({ field: "sc-name", message: nameErr });
  if (valueInput.value === "") errors.push({ field: "sc-value", message: "a value is required" });
  showFieldErrors(form, errors);
  if (errors.length) return;
  // The value goes straight from the field to the command: the field is cleared before the call
  // and nothing else keeps it.
  const call = api.secretSet(name, valueInput.value);
  valueInput.value = "";
  try {
    secrets = await call;
    nameInput.value = "";
    byId("secret-form-title").textContent = "Store a secret";
    status.info(`Stored ${name} in the keychain.`);
    renderSecrets();
    void loadSecretNames();
  } catch (e) {
    status.error(e, `${name} not stored (type the value again)`);
  }
}

function initSecrets(): void {
  byId("secret-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void submitSecret();
  });
}

// ---------------------------------------------------------------- agents

let agents: AgentEntry[] = [];
let confirmingAgent: string | null = null;
let busyAgent: string | null = null;

async function loadAgents(): Promise<void> {
  const list = await attempt(status, "Cannot list agents", api.agentsList);
  if (list) {
    agents = list;
    renderAgents();
  }
}

function renderAgents(): void {
  const box = byId("agents");
  if (!agents.length) {
    box.replaceChildren(el("p", "No supported agent found.", "muted"));
    return;
  }
  const t = table(["Agent", "Detected", "Governed", "Hooks", "Configuration", ""], []);
  const body = t.tBodies[0]!;
  for (const a of agents) {
    const actions = el("span", null, "row-actions");
    const busy = busyAgent === a.name;
    if (confirmingAgent === a.name) {
      actions.append(
        el("span", `Uninstall from ${a.display_name}?`),
        button("Uninstall", () => void agentAction(a, "uninstall"), "danger"),
        button("Cancel", () => {
          confirmingAgent = null;
          renderAgents();
        }),
      );
    } else if (a.installed) {
      actions.append(button(busy ? "Working…" : "Uninstall", () => {
        confirmingAgent = a.name;
        renderAgents();
      }, undefined, { "aria-label": `Uninstall Cordon from ${a.display_name}`, disabled: busy }));
      if (a.drift.length) actions.prepend(button("Repair", () => void agentAction(a, "install"), "primary", { "aria-label": `Install Cordon into ${a.display_name} again`, disabled: busy }));
    } else {
      actions.append(button(busy ? "Working…" : "Install", () => void agentAction(a, "install"), a.detected ? "primary" : undefined, { "aria-label": `Install Cordon into ${a.display_name}`, disabled: busy }));
    }
    const name = el("span");
    name.append(el("strong", a.display_name), el("span", ` ${a.name}`, "muted mono"));
    const path = el("span", a.config_path ?? "—", "mono ellipsis");
    path.title = a.config_path ?? "";
    const tr = el("tr");
    for (const cell of [name, yesNo(a.detected, "detected", "not found"), badge(a.governed ? "governed" : a.installed ? "bypassed" : "not governed", a.governed ? (a.drift.length ? "held" : "good") : a.installed ? "held" : "neutral"), yesNo(a.hooks, "hooks on", "no hooks"), path, actions]) {
      const td = el("td");
      td.append(cell);
      tr.append(td);
    }
    body.append(tr);
    if (a.drift.length) {
      const warn = el("tr", null, "drift");
      const td = el("td", null, undefined, { colspan: "6" });
      const ul = el("ul");
      for (const d of a.drift) ul.append(el("li", d));
      td.append(el("span", "⚠ Drift: ", "warn"), ul);
      warn.append(td);
      body.append(warn);
    }
  }
  box.replaceChildren(t);
}

async function agentAction(a: AgentEntry, what: "install" | "uninstall"): Promise<void> {
  confirmingAgent = null;
  busyAgent = a.name;
  renderAgents();
  try {
    agents = await (what === "install" ? api.agentInstall(a.name) : api.agentUninstall(a.name));
    status.info(what === "install" ? `${a.display_name} now goes through Cordon.` : `${a.display_name}'s configuration was restored.`);
  } catch (e) {
    status.error(e, `${what === "install" ? "Install into" : "Uninstall from"} ${a.display_name} failed`);
  } finally {
    busyAgent = null;
    renderAgents();
  }
}

// ---------------------------------------------------------------- general

function fillGeneral(): void {
  if (!settings) return;
  byId<HTMLInputElement>("reviewer").value = settings.reviewer;
  byId<HTMLInputElement>("timeout").value = String(settings.approval_timeout_secs);
}

function renderGeneralStatus(): void {
  const dl = byId("engine-facts");
  dl.replaceChildren();
  if (!engine) {
    dl.append(el("dt", "Engine"), el("dd", "not reachable"));
    return;
  }
  for (const [k, v] of engineFacts(engine)) dl.append(el("dt", k), el("dd", v));
  byId<HTMLInputElement>("autostart").checked = engine.autostart;
  byId<HTMLInputElement>("paused").checked = engine.paused;
}

async function loadGeneral(): Promise<void> {
  await Promise.all([refreshEngine(), settings ? Promise.resolve() : loadServers()]);
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
    settings = s;
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
    engine = await (id === "autostart" ? api.setAutostart(want) : api.setPaused(want));
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

function initGeneral(): void {
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

// ---------------------------------------------------------------- start

const loaders: Record<Page, () => Promise<void>> = {
  policy: async () => {
    await loadPolicy();
    await refreshEvents();
  },
  servers: loadServers,
  secrets: loadSecrets,
  agents: loadAgents,
  general: loadGeneral,
};

function init(): void {
  initTabs();
  initPolicy();
  initServers();
  initSecrets();
  initGeneral();
  byId("agents-refresh").addEventListener("click", () => void loadAgents());
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "s") {
      if (e.defaultPrevented) return; // the editor's own Mod-s already saved
      e.preventDefault();
      if (page === "policy") void savePolicy();
    }
  });
  // Back from another editor: pick up its policy edits at once rather than at the next poll.
  window.addEventListener("focus", () => {
    if (page === "policy" && loaded.has("policy")) void refreshEvents();
  });
  const h = location.hash.slice(1) as Page;
  show(PAGES.includes(h) ? h : "policy");
  void refreshEngine();
  // Poll only while the window is visible: an idle hidden window stays idle.
  setInterval(() => {
    if (document.visibilityState !== "visible") return;
    void refreshEngine();
    if (page === "policy" && loaded.has("policy")) void refreshEvents();
  }, POLL_MS);
}

init();
