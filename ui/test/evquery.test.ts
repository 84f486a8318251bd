import { describe, expect, it } from "vitest";
import { actionPatternError, buildQuery, EMPTY_FILTER, localToIso, MAX_LIMIT, PAGE_SIZE, Pager, pageLabel, rangeOf, type Filter } from "../src/evquery";

const NOW = Date.parse("2026-11-25T12:00:00Z");
const f = (over: Partial<Filter> = {}): Filter => ({ ...EMPTY_FILTER, ...over });

describe("filter → EvidenceQuery", () => {
  it("maps an empty filter to nulls, the page cursor and the page size", () => {
    expect(buildQuery(f(), null, NOW)).toEqual({
      agent: null,
      action: null,
      decision: null,
      outcome: null,
      since: null,
      until: null,
      text: null,
      before_seq: null,
      limit: PAGE_SIZE,
    });
  });

  it("trims fields and keeps the cursor", () => {
    const q = buildQuery(f({ agent: " claude-code ", action: " job.mcp-bridge.write.* ", decision: "deny", outcome: "denied", text: "src/a b" }), 1234, NOW);
    expect(q).toMatchObject({ agent: "claude-code", action: "job.mcp-bridge.write.*", decision: "deny", outcome: "denied", text: "src/a b", before_seq: 1234 });
  });

  it("keeps the text as typed (a substring search may include spaces) but drops an empty one", () => {
    expect(buildQuery(f({ text: " rm -rf " }), null, NOW).text).toBe(" rm -rf ");
    expect(buildQuery(f({ text: "" }), null, NOW).text).toBeNull();
  });

  it("passes hostile text through as data", () => {
    const text = `'; DROP TABLE records; -- <script>`;
    expect(buildQuery(f({ text }), null, NOW).text).toBe(text);
  });

  it("clamps the limit to the engine's maximum", () => {
    expect(buildQuery(f(), null, NOW, 10_000).limit).toBe(MAX_LIMIT);
    expect(buildQuery(f(), null, NOW, 0).limit).toBe(1);
  });

  it("turns presets into a since relative to now", () => {
    expect(buildQuery(f({ range: "1h" }), null, NOW).since).toBe("2026-11-25T11:00:00.000Z");
    expect(buildQuery(f({ range: "24h" }), null, NOW).since).toBe("2026-11-24T12:00:00.000Z");
    expect(buildQuery(f({ range: "7d" }), null, NOW).since).toBe("2026-11-18T12:00:00.000Z");
    expect(rangeOf(f({ range: "all" }), NOW)).toEqual({ since: null, until: null });
  });

  it("reads custom ranges as local time and refuses an inverted or malformed one", () => {
    const iso = localToIso("2026-11-25T01:30");
    const d = new Date(iso!);
    expect([d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes()]).toEqual([2026, 10, 25, 1, 30]);
    expect(iso).toMatch(/Z$/);
    expect(localToIso("")).toBeNull();
    expect(() => localToIso("yesterday")).toThrow(/not a date/);
    expect(() => localToIso("2026-13-45T99:99")).toThrow(/not a date/);
    expect(() => rangeOf(f({ range: "custom", since: "2026-11-25T02:00", until: "2026-11-25T01:00" }), NOW)).toThrow(/before/);
    expect(rangeOf(f({ range: "custom", since: "", until: "2026-11-25T01:00" }), NOW).since).toBeNull();
  });

  it("refuses a malformed action pattern before asking the engine", () => {
    expect(() => buildQuery(f({ action: "job..write" }), null, NOW)).toThrow(/action pattern/);
  });
});

describe("NATS action patterns", () => {
  it("accepts literal tokens, * tokens and a trailing >", () => {
    for (const p of ["", "job.mcp-bridge.write.file", "job.*.write.*", "job.>", ">", "*"]) expect(actionPatternError(p)).toBeNull();
  });
  it("refuses empty tokens, partial wildcards, > in the middle and spaces", () => {
    expect(actionPatternError("job..x")).toMatch(/empty/);
    expect(actionPatternError(".job")).toMatch(/empty/);
    expect(actionPatternError("job.")).toMatch(/empty/);
    expect(actionPatternError("job.wr*")).toMatch(/whole/);
    expect(actionPatternError("job.>.x")).toMatch(/last/);
    expect(actionPatternError("job.a>")).toMatch(/whole/);
    expect(actionPatternError("job write")).toMatch(/spaces/);
  });
});

describe("page cursors", () => {
  it("walks older pages by the returned cursor and back", () => {
    const p = new Pager();
    expect(p.cursor).toBeNull();
    expect(p.hasPrev).toBe(false);
    p.loaded(951);
    expect(p.hasNext).toBe(true);
    expect(p.next()).toBe(true);
    expect(p.cursor).toBe(951);
    expect(p.index).toBe(1);
    p.loaded(901);
    expect(p.next()).toBe(true);
    expect(p.cursor).toBe(901);
    p.loaded(null); // last page
    expect(p.hasNext).toBe(false);
    expect(p.next()).toBe(false);
    expect(p.prev()).toBe(true);
    expect(p.cursor).toBe(951);
    expect(p.prev()).toBe(true);
    expect(p.cursor).toBeNull();
    expect(p.prev()).toBe(false);
  });

  it("ignores a cursor that does not move to older records (no endless paging)", () => {
    const p = new Pager();
    p.loaded(500);
    p.next();
    p.loaded(500);
    expect(p.hasNext).toBe(false);
    p.loaded(700);
    expect(p.hasNext).toBe(false);
  });

  it("resets to the newest page", () => {
    const p = new Pager();
    p.loaded(10);
    p.next();
    p.reset();
    expect(p.cursor).toBeNull();
    expect(p.index).toBe(0);
    expect(p.hasNext).toBe(false);
  });

  it("labels the rows shown", () => {
    expect(pageLabel(0, 50, 1234)).toBe("1–50 of 1,234");
    expect(pageLabel(2, 34, 134)).toBe("101–134 of 134");
    expect(pageLabel(0, 0, 0)).toBe("No records");
  });
});
