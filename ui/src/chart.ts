// The activity chart: calls over time, stacked by decision, for all agents or one. Geometry is pure
// (tested); `drawChart` turns it into SVG with createElementNS and textContent only.
import type { ActivityBucket } from "./types";

/** The stacked series, bottom to top. */
export const SERIES = ["allowed", "approved", "denied", "other"] as const;
export type Series = (typeof SERIES)[number];

/** Bucket sizes the chart picks from (seconds). */
export const BUCKETS = [60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400] as const;
/** At most this many bars. */
export const MAX_BARS = 60;

/** The smallest bucket that fits `rangeSecs` into at most MAX_BARS bars. */
export function chooseBucket(rangeSecs: number): number {
  for (const b of BUCKETS) if (rangeSecs / b <= MAX_BARS) return b;
  return BUCKETS[BUCKETS.length - 1] ?? 86400;
}

/** A round axis maximum at or above `n` (1, 2, 3, 4, 5, 6, 8 × 10^k); at least 1. */
export function niceMax(n: number): number {
  if (!(n > 1)) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 3, 4, 5, 6, 8, 10]) if (m * p >= Math.ceil(n)) return m * p;
  return 10 * p;
}

/** One stacked piece of a bar. */
export interface Segment {
  series: Series;
  count: number;
  y: number;
  height: number;
}

/** One time slot. */
export interface Bar {
  startMs: number;
  x: number;
  width: number;
  total: number;
  segments: Segment[];
  /** Calls per agent in this slot (for the tooltip), largest first. */
  agents: [string, number][];
}

/** Everything the SVG needs. */
export interface ChartGeometry {
  width: number;
  height: number;
  plot: { left: number; top: number; width: number; height: number };
  max: number;
  bars: Bar[];
  totals: Record<Series, number>;
  xTicks: { x: number; label: string }[];
}

export interface ChartOptions {
  bucketSecs: number;
  /** Start of the range (ms); null: from the first bucket. */
  sinceMs: number | null;
  nowMs: number;
  /** One agent, or null for all. */
  agent: string | null;
  width: number;
  height: number;
  /** Formats a tick time (UI: local HH:MM; tests: UTC). */
  tickLabel?: (ms: number, bucketSecs: number) => string;
}

const PAD = { left: 30, right: 6, top: 6, bottom: 16 };

/** Default tick label: `HH:MM` for sub-day buckets, `MM-DD` for days (local time). */
export function localTick(ms: number, bucketSecs: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return bucketSecs >= 86400 ? `${two(d.getMonth() + 1)}-${two(d.getDate())}` : `${two(d.getHours())}:${two(d.getMinutes())}`;
}

/** Lays out the buckets. Buckets outside the range, with a bad time, or of another agent are ignored. */
export function chartGeometry(buckets: ActivityBucket[], o: ChartOptions): ChartGeometry {
  const step = Math.max(1, Math.floor(o.bucketSecs)) * 1000;
  const times = buckets.map((b) => Date.parse(b.start)).filter((t) => !Number.isNaN(t));
  const firstMs = o.sinceMs ?? (times.length ? Math.min(...times) : o.nowMs - step);
  const origin = Math.floor(firstMs / step) * step;
  const slots = Math.max(1, Math.min(2000, Math.floor((o.nowMs - origin) / step) + 1));
  const sums: Record<Series, number>[] = Array.from({ length: slots }, () => ({ allowed: 0, approved: 0, denied: 0, other: 0 }));
  const totals: Record<Series, number> = { allowed: 0, approved: 0, denied: 0, other: 0 };
  const perAgent: Map<string, number>[] = Array.from({ length: slots }, () => new Map());
  for (const b of buckets) {
    if (o.agent !== null && b.agent !== o.agent) continue;
    const t = Date.parse(b.start);
    if (Number.isNaN(t)) continue;
    const i = Math.floor((t - origin) / step);
    const slot = sums[i];
    if (!slot) continue;
    let calls = 0;
    for (const s of SERIES) {
      const n = Number.isFinite(b[s]) && b[s] > 0 ? Math.floor(b[s]) : 0;
      slot[s] += n;
      totals[s] += n;
      calls += n;
    }
    const agents = perAgent[i];
    if (agents && calls > 0) agents.set(b.agent, (agents.get(b.agent) ?? 0) + calls);
  }
  const plot = { left: PAD.left, top: PAD.top, width: Math.max(1, o.width - PAD.left - PAD.right), height: Math.max(1, o.height - PAD.top - PAD.bottom) };
  const max = niceMax(Math.max(0, ...sums.map((s) => s.allowed + s.approved + s.denied + s.other)));
  const slotW = plot.width / slots;
  const gap = slotW > 4 ? 1 : 0;
  const bars: Bar[] = sums.map((s, i) => {
    let base = plot.top + plot.height;
    const segments: Segment[] = [];
    for (const series of SERIES) {
      const count = s[series];
      if (count === 0) continue;
      const height = (count / max) * plot.height;
      base -= height;
      segments.push({ series, count, y: base, height });
    }
    const agents = [...(perAgent[i] ?? new Map<string, number>()).entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    return { startMs: origin + i * step, x: plot.left + i * slotW + gap / 2, width: Math.max(0.5, slotW - gap), total: s.allowed + s.approved + s.denied + s.other, segments, agents };
  });
  const label = o.tickLabel ?? localTick;
  const every = Math.max(1, Math.ceil(slots / 6));
  const xTicks: { x: number; label: string }[] = [];
  for (let i = 0; i < slots; i += every) xTicks.push({ x: plot.left + i * slotW, label: label(origin + i * step, o.bucketSecs) });
  return { width: o.width, height: o.height, plot, max, bars, totals, xTicks };
}

const SVG = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The chart as an SVG element (bars carry a tooltip with their counts). */
export function drawChart(g: ChartGeometry, describe: (bar: Bar) => string): SVGSVGElement {
  const root = svg("svg", { viewBox: `0 0 ${g.width} ${g.height}`, width: g.width, height: g.height, class: "chart", role: "img" });
  const bottom = g.plot.top + g.plot.height;
  root.append(
    svg("line", { x1: g.plot.left, x2: g.plot.left + g.plot.width, y1: bottom + 0.5, y2: bottom + 0.5, class: "axis" }),
    svg("text", { x: g.plot.left - 4, y: g.plot.top + 8, class: "ylabel", "text-anchor": "end" }, String(g.max)),
    svg("text", { x: g.plot.left - 4, y: bottom, class: "ylabel", "text-anchor": "end" }, "0"),
    svg("line", { x1: g.plot.left, x2: g.plot.left + g.plot.width, y1: g.plot.top + 0.5, y2: g.plot.top + 0.5, class: "gridline" }),
  );
  for (const t of g.xTicks) root.append(svg("text", { x: t.x, y: g.height - 3, class: "xlabel" }, t.label));
  for (const bar of g.bars) {
    if (bar.total === 0) continue;
    const group = svg("g", {});
    group.append(svg("title", {}, describe(bar)));
    for (const s of bar.segments) group.append(svg("rect", { x: bar.x, y: s.y, width: bar.width, height: Math.max(0.5, s.height), class: `bar ${s.series}` }));
    root.append(group);
  }
  return root;
}
