import { Text } from "@codemirror/state";
import { describe, expect, it } from "vitest";
import {
  columnOffset,
  diagnosticRange,
  isForFile,
  positionLabel,
  sortDiagnostics,
  toMarkers,
  validationSummary,
} from "../src/diagnostics";
import type { Diagnostic } from "../src/types";

const doc = (s: string) => Text.of(s.split("\n"));
const diag = (over: Partial<Diagnostic>): Diagnostic => ({ severity: "error", file: "safety.yaml", line: 1, column: 1, message: "m", ...over });
const slice = (d: Text, r: { from: number; to: number }) => d.sliceString(r.from, r.to);

describe("column (characters) → UTF-16 offset", () => {
  it("counts ASCII columns from 1", () => {
    expect(columnOffset("decision: maybe", 1)).toBe(0);
    expect(columnOffset("decision: maybe", 11)).toBe(10);
  });

  it("counts a character outside the BMP as one column but two code units", () => {
    const line = "a: 😀 x"; // 😀 is column 4, x is column 6
    expect(columnOffset(line, 4)).toBe(3);
    expect(columnOffset(line, 5)).toBe(5);
    expect(line.slice(columnOffset(line, 6))).toBe("x");
  });

  it("counts accented and CJK characters as one column each", () => {
    const line = "reason: \"ça 変更\" bad";
    expect(line.slice(columnOffset(line, 17))).toBe("bad"); // r-e-a-s-o-n-:-space-"-ç-a-space-変-更-"-space = 16 columns
  });

  it("clamps out-of-range columns to the line", () => {
    expect(columnOffset("abc", 99)).toBe(3);
    expect(columnOffset("abc", 0)).toBe(0);
    expect(columnOffset("abc", -4)).toBe(0);
    expect(columnOffset("abc", null)).toBe(0);
    expect(columnOffset("abc", Number.NaN)).toBe(0);
    expect(columnOffset("", 5)).toBe(0);
  });
});

describe("diagnostic → editor range", () => {
  const d = doc("version: v1\nrules:\n  - id: x\n    decision: maybe\n");

  it("marks the word at the line and column", () => {
    const r = diagnosticRange(d, { line: 4, column: 15 });
    expect(slice(d, r)).toBe("maybe");
    expect(r.from).toBe(d.line(4).from + 14);
  });

  it("stops the word at YAML punctuation", () => {
    const r = diagnosticRange(d, { line: 4, column: 5 });
    expect(slice(d, r)).toBe("decision");
  });

  it("marks the whole line without a column, and the first line without a line", () => {
    expect(slice(d, diagnosticRange(d, { line: 2, column: null }))).toBe("rules:");
    expect(slice(d, diagnosticRange(d, { line: null, column: null }))).toBe("version: v1");
    expect(slice(d, diagnosticRange(d, { line: null, column: 10 }))).toBe("v1");
  });

  it("clamps a line past the end to the last line and a bad line to the first", () => {
    const r = diagnosticRange(d, { line: 999, column: 3 });
    expect(r.from).toBeLessThanOrEqual(d.length);
    expect(r.to).toBeLessThanOrEqual(d.length);
    expect(r.from).toBe(d.line(d.lines).from); // the empty last line
    expect(diagnosticRange(d, { line: 0, column: 1 }).from).toBe(0);
    expect(diagnosticRange(d, { line: -3, column: 1 }).from).toBe(0);
    expect(diagnosticRange(d, { line: Number.NaN, column: 1 }).from).toBe(0);
  });

  it("clamps a column past the end of the line to a point at its end", () => {
    const r = diagnosticRange(d, { line: 2, column: 40 });
    expect(r).toEqual({ from: d.line(2).to, to: d.line(2).to });
  });

  it("marks one whole character (both surrogates) at an emoji", () => {
    const e = doc("k: 😀😀");
    const r = diagnosticRange(e, { line: 1, column: 4 });
    expect(slice(e, r)).toBe("😀😀");
    const single = doc("k: 😀 x");
    expect(slice(single, diagnosticRange(single, { line: 1, column: 4 }))).toBe("😀");
    const punct = doc("k: [😀]");
    expect(slice(punct, diagnosticRange(punct, { line: 1, column: 4 }))).toBe("[");
  });

  it("stays inside an empty document", () => {
    const empty = doc("");
    expect(diagnosticRange(empty, { line: 3, column: 3 })).toEqual({ from: 0, to: 0 });
  });

  it("makes markers only for the edited file", () => {
    const ms = toMarkers(d, [diag({ line: 4, column: 15 }), diag({ file: "other.yaml", line: 1 }), diag({ severity: "warning", line: 1, column: null })], "safety.yaml", "/p/safety.yaml");
    expect(ms).toHaveLength(2);
    expect(ms[0]).toMatchObject({ severity: "error", message: "m" });
    expect(ms[1]?.severity).toBe("warning");
  });
});

describe("diagnostics list", () => {
  it("matches files by name, path or base name", () => {
    expect(isForFile(diag({ file: "safety.yaml" }), "safety.yaml", null)).toBe(true);
    expect(isForFile(diag({ file: "/home/u/p/safety.yaml" }), "safety.yaml", "/x/safety.yaml")).toBe(true);
    expect(isForFile(diag({ file: "C:\\p\\safety.yaml" }), "safety.yaml", null)).toBe(true);
    expect(isForFile(diag({ file: "team.yaml" }), "safety.yaml", null)).toBe(false);
  });

  it("labels positions", () => {
    expect(positionLabel({ line: 3, column: 7 })).toBe("3:7");
    expect(positionLabel({ line: 3, column: null })).toBe("3");
    expect(positionLabel({ line: null, column: 7 })).toBe("");
  });

  it("sorts errors first, then by file, line, column", () => {
    const sorted = sortDiagnostics([
      diag({ severity: "warning", line: 1 }),
      diag({ line: 9, column: 2 }),
      diag({ line: 9, column: 1 }),
      diag({ file: "a.yaml", line: 20 }),
    ]);
    expect(sorted.map((d) => `${d.severity} ${d.file}:${d.line}:${d.column}`)).toEqual([
      "error a.yaml:20:1",
      "error safety.yaml:9:1",
      "error safety.yaml:9:2",
      "warning safety.yaml:1:1",
    ]);
  });

  it("summarises a validation", () => {
    expect(validationSummary({ ok: true, diagnostics: [], rules: 5, tests: 1 })).toBe("Valid: 5 rules, 1 test");
    expect(validationSummary({ ok: true, diagnostics: [diag({ severity: "warning" })], rules: 1, tests: 0 })).toBe("Valid: 1 rule, 0 tests, 1 warning");
    expect(validationSummary({ ok: false, diagnostics: [diag({}), diag({}), diag({ severity: "warning" })], rules: 0, tests: 0 })).toBe("2 errors, 1 warning");
    expect(validationSummary({ ok: false, diagnostics: [], rules: 0, tests: 0 })).toBe("Invalid policy");
  });
});
