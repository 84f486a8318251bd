// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { chartGeometry, chooseBucket, drawChart, MAX_BARS, niceMax, type ChartOptions } from "../src/chart";
import type { ActivityBucket } from "../src/types";

const T0 = Date.parse("2026-11-25T10:00:00Z");
const b = (minutes: number, agent: string, over: Partial<ActivityBucket> = {}): ActivityBucket => ({
  start: new Date(T0 + minutes * 60_000).toISOString(),
  agent,
  allowed: 0,
  approved: 0,
  denied: 0,
  other: 0,
  ...over,
});
const opts = (over: Partial<ChartOptions> = {}): ChartOptions => ({
  bucketSecs: 3600,
  sinceMs: T0,
  nowMs: T0 + 4 * 3600_000 - 1, // four hourly slots
  agent: null,
  width: 230,
  height: 100,
  tickLabel: (ms) => new Date(ms).toISOString().slice(11, 16),
  ...over,
});

describe("bucket size and scale", () => {
  it("picks the smallest bucket that keeps the bar count small", () => {
    expect(chooseBucket(3600)).toBe(60);
    expect(chooseBucket(86400)).toBe(3600);
    expect(chooseBucket(7 * 86400)).toBe(3 * 3600);
    expect(chooseBucket(30 * 86400)).toBe(86400);
    expect(chooseBucket(10 * 365 * 86400)).toBe(86400);
    for (const r of [60, 3600, 86400, 7 * 86400]) expect(r / chooseBucket(r)).toBeLessThanOrEqual(MAX_BARS);
  });

  it("rounds the axis up to 1, 2, 3, 4, 5, 6 or 8 times a power of ten", () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(1)).toBe(1);
    expect(niceMax(7)).toBe(8);
    expect(niceMax(27)).toBe(30);
    expect(niceMax(30)).toBe(30);
    expect(niceMax(81)).toBe(100);
    expect(niceMax(1234)).toBe(2000);
    expect(niceMax(Number.NaN)).toBe(1);
  });
});

describe("chart geometry", () => {
  const buckets = [
    b(0, "claude", { allowed: 6, denied: 2 }),
    b(0, "cursor", { approved: 2 }),
    b(120, "claude", { other: 5 }),
    b(180, "cursor", { denied: 1 }),
  ];

  it("makes one bar per slot with the counts of every agent stacked by decision", () => {
    const g = chartGeometry(buckets, opts());
    expect(g.bars).toHaveLength(4);
    expect(g.bars.map((x) => x.total)).toEqual([10, 0, 5, 1]);
    expect(g.max).toBe(10);
    expect(g.totals).toEqual({ allowed: 6, approved: 2, denied: 3, other: 5 });
    const first = g.bars[0]!;
    expect(first.segments.map((s) => [s.series, s.count])).toEqual([["allowed", 6], ["approved", 2], ["denied", 2]]);
    // stacked bottom-up, touching, filling exactly the plot height at the maximum
    const bottom = g.plot.top + g.plot.height;
    expect(first.segments[0]!.y + first.segments[0]!.height).toBeCloseTo(bottom);
    expect(first.segments[1]!.y + first.segments[1]!.height).toBeCloseTo(first.segments[0]!.y);
    expect(first.segments[2]!.y).toBeCloseTo(g.plot.top);
    expect(first.segments[0]!.height).toBeCloseTo(g.plot.height * 0.6);
  });

  it("places bars left to right across the plot without overlap", () => {
    const g = chartGeometry(buckets, opts());
    for (let i = 1; i < g.bars.length; i++) expect(g.bars[i]!.x).toBeGreaterThanOrEqual(g.bars[i - 1]!.x + g.bars[i - 1]!.width);
    const last = g.bars[g.bars.length - 1]!;
    expect(last.x + last.width).toBeLessThanOrEqual(g.plot.left + g.plot.width + 0.001);
    expect(g.bars[0]!.x).toBeGreaterThanOrEqual(g.plot.left);
  });

  it("counts each agent's calls per slot for the tooltip", () => {
    const g = chartGeometry(buckets, opts());
    expect(g.bars[0]!.agents).toEqual([["claude", 8], ["cursor", 2]]);
    expect(g.bars[1]!.agents).toEqual([]);
    expect(chartGeometry(buckets, opts({ agent: "cursor" })).bars[0]!.agents).toEqual([["cursor", 2]]);
  });

  it("shows one agent when asked", () => {
    const g = chartGeometry(buckets, opts({ agent: "cursor" }));
    expect(g.bars.map((x) => x.total)).toEqual([2, 0, 0, 1]);
    expect(chartGeometry(buckets, opts({ agent: "nobody" })).bars.every((x) => x.total === 0)).toBe(true);
  });

  it("ignores buckets outside the range, with a bad time, or with bad counts", () => {
    const g = chartGeometry(
      [
        b(-120, "claude", { allowed: 50 }),
        b(600, "claude", { allowed: 50 }),
        { ...b(0, "claude"), start: "not a time", allowed: 50 },
        b(60, "claude", { allowed: -4, denied: Number.NaN, approved: 2.7 }),
      ],
      opts(),
    );
    expect(g.bars.map((x) => x.total)).toEqual([0, 2, 0, 0]);
    expect(g.max).toBe(2);
  });

  it("aligns slots to the bucket size and starts at the first bucket without a since", () => {
    const g = chartGeometry([b(125, "a", { allowed: 1 })], opts({ sinceMs: null }));
    expect(g.bars[0]!.startMs).toBe(T0 + 2 * 3600_000);
    expect(g.bars[0]!.total).toBe(1);
    const unaligned = chartGeometry([b(0, "a", { allowed: 1 })], opts({ sinceMs: T0 + 30 * 60_000 }));
    expect(unaligned.bars[0]!.startMs).toBe(T0);
  });

  it("has a sane empty chart and labels its ticks", () => {
    const g = chartGeometry([], opts());
    expect(g.max).toBe(1);
    expect(g.bars.every((x) => x.segments.length === 0)).toBe(true);
    expect(g.xTicks[0]).toMatchObject({ label: "10:00" });
  });
});

describe("chart SVG", () => {
  it("draws rects for non-empty bars and puts tooltips in as text", () => {
    const g = chartGeometry([b(0, "<img src=x onerror=alert(1)>", { allowed: 1, denied: 1 })], opts());
    const svg = drawChart(g, () => `agent <img src=x onerror=alert(1)>`);
    expect(svg.querySelectorAll("rect")).toHaveLength(2);
    expect(svg.querySelector("img")).toBeNull();
    expect(svg.querySelector("title")?.textContent).toBe("agent <img src=x onerror=alert(1)>");
    expect(svg.getAttribute("viewBox")).toBe("0 0 230 100");
  });
});
