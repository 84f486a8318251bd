// The evidence viewer: filters, activity chart, paginated records, details, verification, export.
import "diff2html/bundles/css/diff2html.min.css";
import "./style.css";
import "./pages.css";
import * as api from "./api";
import { chartGeometry, chooseBucket, drawChart, SERIES } from "./chart";
import { toggleLabel, toggled, type DiffMode } from "./diffview";
import { attempt, byId, debounce, errorText, StatusLine } from "./dom";
import { exportTarget, verifyText } from "./evformat";
import { buildQuery, EMPTY_FILTER, MAX_LIMIT, Pager, pageLabel, PRESET_SECS, rangeOf, type Filter, type RangePreset } from "./evquery";
import { agentOptions, barTooltip, fillDetails, recordsTable } from "./evrender";
import { engineLine } from "./settingsmodel";
import type { EvidenceRecord, ExportFormat, RecordRow } from "./types";

const CHART_W = 640;
const CHART_H = 110;
const DEFAULT_CHART_SECS = 7 * 86400;
const POLL_MS = 5000;

const status = new StatusLine(byId("statusline"));
const pager = new Pager();
let rows: RecordRow[] = [];
let selected: string | null = null;
let record: EvidenceRecord | null = null;
let mode: DiffMode = "line-by-line";
let loadSeq = 0;

function readFilter(): Filter {
  return {
    agent: byId<HTMLSelectElement>("f-agent").value,
    action: byId<HTMLInputElement>("f-action").value,
    decision: byId<HTMLSelectElement>("f-decision").value,
    outcome: byId<HTMLSelectElement>("f-outcome").value,
    range: byId<HTMLSelectElement>("f-range").value as RangePreset,
    since: byId<HTMLInputElement>("f-since").value,
    until: byId<HTMLInputElement>("f-until").value,
    text: byId<HTMLInputElement>("f-text").value,
  };
}

function writeFilter(f: Filter): void {
  byId<HTMLSelectElement>("f-agent").value = f.agent;
  byId<HTMLInputElement>("f-action").value = f.action;
  byId<HTMLSelectElement>("f-decision").value = f.decision;
  byId<HTMLSelectElement>("f-outcome").value = f.outcome;
  byId<HTMLSelectElement>("f-range").value = f.range;
  byId<HTMLInputElement>("f-since").value = f.since;
  byId<HTMLInputElement>("f-until").value = f.until;
  byId<HTMLInputElement>("f-text").value = f.text;
  showCustom();
}

function showCustom(): void {
  const custom = byId<HTMLSelectElement>("f-range").value === "custom";
  for (const l of document.querySelectorAll<HTMLElement>(".filters .custom")) l.hidden = !custom;
}

let shownKey = "";

/** Changes exactly when the rows shown would change (polling must not re-render an idle table). */
function pageKey(total: number, records: RecordRow[]): string {
  return JSON.stringify([total, records.map((r) => [r.id, r.reviewer, r.outcome])]);
}

async function loadPage(poll = false): Promise<void> {
  const seq = ++loadSeq;
  let query;
  try {
    query = buildQuery(readFilter(), pager.cursor, Date.now());
    byId("f-action").removeAttribute("aria-invalid");
  } catch (e) {
    byId("f-action").setAttribute("aria-invalid", String(/action/.test(String(e))));
    status.error(e instanceof Error ? e.message : e, "Filter");
    return;
  }
  try {
    const page = await api.evidenceQuery(query);
    if (seq !== loadSeq) return;
    const key = pageKey(page.total, page.records);
    pager.loaded(page.next_before_seq);
    if (poll && key === shownKey) return;
    shownKey = key;
    rows = page.records;
    byId("page-label").textContent = pageLabel(pager.index, rows.length, page.total);
    renderRows();
    if (poll) void loadChart();
  } catch (e) {
    if (seq !== loadSeq) return;
    if (!poll) status.error(e, "Cannot read the evidence");
  }
  byId<HTMLButtonElement>("prev").disabled = !pager.hasPrev;
  byId<HTMLButtonElement>("next").disabled = !pager.hasNext;
}

function renderRows(): void {
  const box = byId("records");
  if (!rows.length) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = "No record matches the filter.";
    box.replaceChildren(p);
    return;
  }
  box.replaceChildren(recordsTable(rows, selected));
}

function apply(): void {
  pager.reset();
  status.clear();
  void loadPage();
  void loadChart();
}

async function loadChart(): Promise<void> {
  let since: string | null;
  let rangeSecs: number;
  const f = readFilter();
  try {
    const r = rangeOf(f, Date.now());
    since = r.since;
  } catch {
    return; // the table reports the bad range
  }
  if (f.range === "all" || since === null) {
    since = new Date(Date.now() - DEFAULT_CHART_SECS * 1000).toISOString();
    rangeSecs = DEFAULT_CHART_SECS;
    byId("chart-caption").textContent = f.range === "all" ? "last 7 days" : "";
  } else {
    rangeSecs = f.range === "custom" ? Math.max(60, (Date.now() - Date.parse(since)) / 1000) : PRESET_SECS[f.range as keyof typeof PRESET_SECS];
    byId("chart-caption").textContent = "";
  }
  const bucket = chooseBucket(rangeSecs);
  const buckets = await attempt(status, "Cannot read the activity", () => api.evidenceActivity(since, bucket));
  if (!buckets) return;
  const chartAgent = byId<HTMLSelectElement>("chart-agent");
  agentOptions(chartAgent, buckets.map((b) => b.agent));
  const g = chartGeometry(buckets, { bucketSecs: bucket, sinceMs: Date.parse(since), nowMs: Date.now(), agent: chartAgent.value || null, width: CHART_W, height: CHART_H });
  const per = bucket >= 3600 ? `${bucket / 3600} h` : `${bucket / 60} min`;
  const caption = byId("chart-caption");
  caption.textContent = `${caption.textContent ? `${caption.textContent}, ` : ""}per ${per}`;
  byId("chart").replaceChildren(drawChart(g, (bar) => barTooltip(bar.startMs, bar.segments, bar.total, bar.agents)));
  const t = g.totals;
  byId("chart-summary").textContent = `${SERIES.map((s) => `${t[s]} ${s}`).join(", ")} in the range shown.`;
  byId("chart").setAttribute("aria-label", `Calls over time: ${byId("chart-summary").textContent}`);
}

async function select(id: string): Promise<void> {
  selected = id;
  renderRows();
  const r = await attempt(status, "Cannot read the record", () => api.evidenceRecord(id));
  if (!r || selected !== id) return;
  record = r;
  renderDetail();
  byId("detail").hidden = false;
  byId("ev").classList.remove("no-detail");
}

function renderDetail(): void {
  if (!record) return;
  byId("d-toggle").textContent = toggleLabel(mode);
  fillDetails(
    { title: byId("d-title"), facts: byId("d-facts"), args: byId("d-args"), diffBox: byId("d-diff-box"), diff: byId("d-diff"), hashes: byId("d-hashes") },
    record,
    mode,
  );
}

function closeDetail(): void {
  const was = selected;
  selected = null;
  record = null;
  byId("detail").hidden = true;
  byId("ev").classList.add("no-detail");
  renderRows();
  if (was) document.querySelector<HTMLElement>(`tr[data-id="${CSS.escape(was)}"]`)?.focus();
}

async function verify(): Promise<void> {
  const box = byId("verify");
  box.textContent = "Checking the chain…";
  box.className = "text";
  byId<HTMLButtonElement>("reverify").disabled = true;
  try {
    const v = verifyText(await api.evidenceVerify());
    box.replaceChildren();
    const pill = document.createElement("span");
    pill.className = `pill ${v.ok ? "good" : "bad"}`;
    pill.textContent = v.ok ? "verified" : "FAILED";
    box.append(pill, document.createTextNode(` ${v.text}`));
    byId("verify-detail").textContent = v.detail;
  } catch (e) {
    box.textContent = `Not verified: ${errorText(e)}`;
    box.className = "text status error";
    byId("verify-detail").textContent = "";
  } finally {
    byId<HTMLButtonElement>("reverify").disabled = false;
  }
}

async function exportAs(format: ExportFormat): Promise<void> {
  let query = null;
  if (byId<HTMLInputElement>("export-filtered").checked) {
    try {
      query = buildQuery(readFilter(), null, Date.now(), MAX_LIMIT);
    } catch (e) {
      status.error(e instanceof Error ? e.message : e, "Filter");
      return;
    }
  }
  // The shell asks where to save (a native dialog) and writes the file; null: cancelled.
  const target = exportTarget(format, Date.now());
  const done = await attempt(status, "Export failed", () => api.evidenceExport(format, query, target.defaultPath));
  if (done) status.info(`Exported ${done.records.toLocaleString("en-US")} records to ${done.path}`);
}

async function refreshEngine(): Promise<void> {
  let text: string;
  let cls: string;
  try {
    const s = await api.engineStatus();
    text = engineLine(s);
    cls = `engine ${s.running ? (s.paused ? "held" : "good") : "bad"}`;
  } catch (err) {
    text = errorText(err);
    cls = "engine bad";
  }
  const e = byId("engine");
  if (e.textContent !== text) e.textContent = text; // an idle window leaves the DOM alone
  if (e.className !== cls) e.className = cls;
}

async function loadAgents(): Promise<void> {
  const agents = await attempt(status, "Cannot list agents", api.evidenceAgents);
  if (agents) agentOptions(byId<HTMLSelectElement>("f-agent"), agents);
}

function moveFocus(from: HTMLElement, delta: number): void {
  const all = [...document.querySelectorAll<HTMLElement>("table.records tbody tr")];
  const i = all.indexOf(from);
  all[Math.max(0, Math.min(all.length - 1, i + delta))]?.focus();
}

function init(): void {
  const form = byId("filters");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    apply();
  });
  for (const id of ["f-agent", "f-decision", "f-outcome", "f-range", "f-since", "f-until"]) {
    byId(id).addEventListener("change", () => {
      showCustom();
      if (id === "f-agent") byId<HTMLSelectElement>("chart-agent").value = byId<HTMLSelectElement>("f-agent").value;
      apply();
    });
  }
  const typed = debounce(apply, 400);
  byId("f-text").addEventListener("input", typed);
  byId("f-clear").addEventListener("click", () => {
    writeFilter({ ...EMPTY_FILTER, range: "24h" });
    byId<HTMLSelectElement>("chart-agent").value = "";
    apply();
  });
  byId("chart-agent").addEventListener("change", () => void loadChart());
  byId("prev").addEventListener("click", () => {
    if (pager.prev()) void loadPage();
  });
  byId("next").addEventListener("click", () => {
    if (pager.next()) void loadPage();
  });
  byId("refresh").addEventListener("click", () => {
    void loadPage();
    void loadChart();
    void loadAgents();
  });
  const records = byId("records");
  records.addEventListener("click", (e) => {
    const tr = (e.target as HTMLElement).closest<HTMLElement>("tr[data-id]");
    if (tr?.dataset.id) void select(tr.dataset.id);
  });
  records.addEventListener("keydown", (e) => {
    const tr = (e.target as HTMLElement).closest<HTMLElement>("tr[data-id]");
    if (!tr) return;
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      if (tr.dataset.id) void select(tr.dataset.id);
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      moveFocus(tr, e.key === "ArrowDown" ? 1 : -1);
    }
  });
  byId("detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !byId("detail").hidden) closeDetail();
  });
  byId("d-toggle").addEventListener("click", () => {
    mode = toggled(mode);
    renderDetail();
  });
  byId("reverify").addEventListener("click", () => void verify());
  for (const b of document.querySelectorAll<HTMLButtonElement>(".exports button")) {
    b.addEventListener("click", () => void exportAs(b.dataset.format as ExportFormat));
  }
  showCustom();
  // New calls appear on their own while the newest page is shown and the window is visible.
  setInterval(() => {
    if (document.visibilityState !== "visible" || pager.index !== 0) return;
    void loadPage(true);
    void refreshEngine();
  }, POLL_MS);
  void refreshEngine();
  void loadAgents();
  apply();
  void verify();
}

init();
