// The diff viewer: diff2html renders the engine's unified diff (no hand-written diff renderer).
import { html } from "diff2html";

/** Side-by-side or unified (diff2html calls it line-by-line). */
export type DiffMode = "side-by-side" | "line-by-line";

/** Diffs larger than this render only the file list first (large files stay responsive). */
export const LARGE_DIFF_LINES = 5000;

/** The other mode, for the toggle button. */
export function toggled(mode: DiffMode): DiffMode {
  return mode === "side-by-side" ? "line-by-line" : "side-by-side";
}

/** The toggle button's label for the current mode. */
export function toggleLabel(mode: DiffMode): string {
  return mode === "side-by-side" ? "Unified view" : "Side-by-side view";
}

/** HTML for a unified diff; diff2html escapes the content, so file text cannot inject markup. */
export function renderDiff(diff: string, mode: DiffMode): string {
  const lines = diff.split("\n").length;
  return html(diff, {
    outputFormat: mode,
    drawFileList: lines > LARGE_DIFF_LINES,
    matching: lines > LARGE_DIFF_LINES ? "none" : "lines",
    diffStyle: "word",
    renderNothingWhenEmpty: false,
  });
}
