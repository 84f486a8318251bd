import { describe, expect, it } from "vitest";
import { LARGE_DIFF_LINES, renderDiff, toggleLabel, toggled } from "../src/diffview";

const DIFF = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n alpha\n-bravo\n+BRAVO\n charlie\n";
const NEW_FILE = "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1,2 @@\n+one\n+two\n";

describe("diff rendering", () => {
  it("switches between side-by-side and unified", () => {
    expect(toggled("side-by-side")).toBe("line-by-line");
    expect(toggled(toggled("side-by-side"))).toBe("side-by-side");
    expect(toggleLabel("side-by-side")).toBe("Unified view");
    expect(toggleLabel("line-by-line")).toBe("Side-by-side view");
  });

  it("renders side-by-side as two panes and unified as one", () => {
    const side = renderDiff(DIFF, "side-by-side");
    const unified = renderDiff(DIFF, "line-by-line");
    expect(side).toContain("d2h-files-diff");
    expect(side.match(/d2h-file-side-diff/g)?.length).toBe(2);
    expect(unified).not.toContain("d2h-file-side-diff");
    expect(unified).toContain("d2h-file-diff");
    for (const html of [side, unified]) {
      expect(html).toContain("notes.txt");
      expect(html).toContain("bravo");
      expect(html).toContain("BRAVO");
    }
  });

  it("shows new files", () => {
    const html = renderDiff(NEW_FILE, "line-by-line");
    expect(html).toContain("new.txt");
    expect(html).toContain("two");
  });

  it("escapes file content: a diff cannot inject markup into the window", () => {
    const evil = "--- a/x.html\n+++ b/x.html\n@@ -1 +1 @@\n-<p>old</p>\n+<img src=x onerror=alert(1)><script>alert(2)</script>\n";
    for (const mode of ["side-by-side", "line-by-line"] as const) {
      const html = renderDiff(evil, mode);
      expect(html).not.toMatch(/<script/i);
      expect(html).not.toMatch(/<img/i);
      expect(html).toContain("&lt;");
      expect(html).toContain("onerror=alert(1)"); // shown as text, inside escaped markup
    }
  });

  it("lists files first for a large diff", () => {
    const body = Array.from({ length: LARGE_DIFF_LINES + 10 }, (_, i) => `+line ${i}`).join("\n");
    const big = `--- /dev/null\n+++ b/big.txt\n@@ -0,0 +1,${LARGE_DIFF_LINES + 10} @@\n${body}\n`;
    expect(renderDiff(big, "line-by-line")).toContain("d2h-file-list");
    expect(renderDiff(DIFF, "line-by-line")).not.toContain("d2h-file-list");
  });
});
