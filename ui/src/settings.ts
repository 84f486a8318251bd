// The settings window: policy editor, upstream servers, keychain secrets, agents, general settings.
// This is the entry: the tabs, the first load of each page, shortcuts and polling; each page is
// a module of settings/, and what they share is settings/shared.ts.
import "./style.css";
import "./pages.css";
import { byId } from "./dom";
import { loadAgents } from "./settings/agents";
import { initGeneral, loadGeneral } from "./settings/general";
import { initPolicy, loadPolicy, refreshEvents, savePolicy } from "./settings/policy";
import { initSecrets, loadSecrets } from "./settings/secrets";
import { initServers, loadServers } from "./settings/servers";
import { PAGES, type Page, refreshEngine, shared } from "./settings/shared";

const POLL_MS = 5000;

// ---------------------------------------------------------------- tabs

const loaded = new Set<Page>();

function show(next: Page, focusTab = false): void {
  shared.page = next;
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
    if (PAGES.includes(h) && h !== shared.page) show(h);
  });
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
      if (shared.page === "policy") void savePolicy();
    }
  });
  // Back from another editor: pick up its policy edits at once rather than at the next poll.
  window.addEventListener("focus", () => {
    if (shared.page === "policy" && loaded.has("policy")) void refreshEvents();
  });
  const h = location.hash.slice(1) as Page;
  show(PAGES.includes(h) ? h : "policy");
  void refreshEngine();
  // Poll only while the window is visible: an idle hidden window stays idle.
  setInterval(() => {
    if (document.visibilityState !== "visible") return;
    void refreshEngine();
    if (shared.page === "policy" && loaded.has("policy")) void refreshEvents();
  }, POLL_MS);
}

init();
