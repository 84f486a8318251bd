// The settings window's servers page: the upstream MCP servers of the config, added, edited
// (secrets by `${keychain:NAME}` reference) and removed; the engine restarts to use them.
import * as api from "../api";
import { attempt, button, byId, el, table } from "../dom";
import {
  formOf,
  reference,
  referencesIn,
  serverSummary,
  validateServer,
  type Pair,
  type ServerForm,
} from "../serverform";
import type { ServerEntry } from "../types";
import { redraw, restart, shared, showFieldErrors, status } from "./shared";

let secretNames: string[] = [];
let editing: string | null = null; // original name of the server being edited; null = adding
let confirming: string | null = null;
let envPairs: Pair[] = [];
let headerPairs: Pair[] = [];

export async function loadServers(): Promise<void> {
  const s = await attempt(status, "Cannot read the config", api.configGet);
  if (s) {
    shared.config = s;
    renderServers();
    redraw.config();
  }
  await loadSecretNames();
}

export async function loadSecretNames(): Promise<void> {
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
  byId("config-path").textContent = shared.config?.config_path ? `Config: ${shared.config.config_path}` : "No config file yet: saving a server creates one.";
  if (!shared.config || shared.config.servers.length === 0) {
    box.replaceChildren(el("p", "No upstream server is configured.", "muted"));
    return;
  }
  const rows = shared.config.servers.map((s) => {
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
    shared.config = s;
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
  const taken = shared.config?.servers.map((s) => s.name) ?? [];
  const { entry, errors } = validateServer(form, taken, editing);
  showFieldErrors(byId("server-form"), errors);
  if (!entry) return;
  try {
    shared.config = await api.serverSave(entry, editing);
    byId("server-form").hidden = true;
    status.info(`Saved server ${entry.name}.`);
    byId("restart-box").hidden = false;
    renderServers();
  } catch (e) {
    status.error(e, `Server ${entry.name} not saved`);
  }
}

export function initServers(): void {
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
