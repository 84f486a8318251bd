// Policy diagnostics → editor positions. The loader reports 1-based lines and 1-based columns
// counted in characters (Unicode scalar values); CodeMirror positions count UTF-16 code units.
import type { Text } from "@codemirror/state";
import type { Diagnostic } from "./types";

/** A range in the editor's document. */
export interface Range {
  from: number;
  to: number;
}

/** A usable 1-based number, or null for anything else (null, NaN, 0, negative, fractions floor). */
function positive(n: number | null | undefined): number | null {
  if (n === null || n === undefined || !Number.isFinite(n)) return null;
  const i = Math.floor(n);
  return i >= 1 ? i : null;
}

/** UTF-16 offset of the 1-based character `column` in `line`, clamped to the line's end. */
export function columnOffset(line: string, column: number | null): number {
  const col = positive(column);
  if (col === null) return 0;
  let offset = 0;
  let chars = 1;
  for (const ch of line) {
    if (chars >= col) return offset;
    offset += ch.length; // 2 for a character outside the BMP (a surrogate pair)
    chars++;
  }
  return offset; // past the end: the end of the line
}

/**
 * Where to mark a diagnostic: from its line and column to the end of the word there (at least one
 * character when the line has one). No line: the first line. A line past the end: the last line.
 * No column: the whole line.
 */
export function diagnosticRange(doc: Text, d: Pick<Diagnostic, "line" | "column">): Range {
  const n = Math.min(positive(d.line) ?? 1, doc.lines);
  const line = doc.line(n);
  if (positive(d.column) === null) return { from: line.from, to: line.to };
  const start = columnOffset(line.text, d.column);
  const rest = line.text.slice(start);
  const word = /^[^\s:,[\]{}#]+/.exec(rest)?.[0];
  let len = word ? word.length : 0;
  if (len === 0 && rest.length > 0) len = (rest.codePointAt(0) ?? 0) > 0xffff ? 2 : 1;
  return { from: line.from + start, to: line.from + start + len };
}

/** Whether a diagnostic is about the file being edited (the loader names files as it read them). */
export function isForFile(d: Diagnostic, name: string, path: string | null): boolean {
  if (d.file === name || (path !== null && d.file === path)) return true;
  const base = d.file.split(/[\\/]/).pop();
  return base === name;
}

/** `3:7`, `3`, or `` (no position), for the diagnostics list. */
export function positionLabel(d: Pick<Diagnostic, "line" | "column">): string {
  const line = positive(d.line);
  if (line === null) return "";
  const col = positive(d.column);
  return col === null ? `${line}` : `${line}:${col}`;
}

/** Errors first, then warnings; within each by file, line, column (the list under the editor). */
export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  const rank = (d: Diagnostic) => (d.severity === "error" ? 0 : 1);
  return [...ds].sort(
    (a, b) =>
      rank(a) - rank(b) ||
      a.file.localeCompare(b.file) ||
      (a.line ?? 0) - (b.line ?? 0) ||
      (a.column ?? 0) - (b.column ?? 0),
  );
}

/** A one-line summary of a validation for the editor's toolbar. */
export function validationSummary(v: { ok: boolean; diagnostics: Diagnostic[]; rules: number; tests: number }): string {
  const errors = v.diagnostics.filter((d) => d.severity === "error").length;
  const warnings = v.diagnostics.length - errors;
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;
  if (!v.ok) {
    if (errors === 0) return "Invalid policy";
    return warnings ? `${plural(errors, "error")}, ${plural(warnings, "warning")}` : plural(errors, "error");
  }
  const base = `Valid: ${plural(v.rules, "rule")}, ${plural(v.tests, "test")}`;
  return warnings ? `${base}, ${plural(warnings, "warning")}` : base;
}

/** A marker for the lint extension (the subset of @codemirror/lint's Diagnostic we fill in). */
export interface Marker {
  from: number;
  to: number;
  severity: "error" | "warning";
  message: string;
}

/** Markers for the diagnostics of the edited file; the others only appear in the list. */
export function toMarkers(doc: Text, ds: Diagnostic[], name: string, path: string | null): Marker[] {
  return ds
    .filter((d) => isForFile(d, name, path))
    .map((d) => ({ ...diagnosticRange(doc, d), severity: d.severity === "warning" ? "warning" : "error", message: d.message }));
}
