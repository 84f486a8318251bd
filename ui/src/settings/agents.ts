// The settings window's agents page: the AI agents Cordon can govern, installing Cordon into
// one, repairing drift and uninstalling.
import * as api from "../api";
import { attempt, button, byId, el, table } from "../dom";
import type { AgentEntry } from "../types";
import { badge, status, yesNo } from "./shared";

let agents: AgentEntry[] = [];
let confirmingAgent: string | null = null;
let busyAgent: string | null = null;

export async function loadAgents(): Promise<void> {
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
