import { describe, expect, it } from "vitest";
import {
  clock,
  commandOf,
  effectOf,
  errorMessage,
  extraOf,
  headline,
  listKey,
  isUnifiedDiff,
  shellQuote,
  shortcutFor,
  timeLeft,
} from "../src/format";
import type { PendingApproval } from "../src/types";

const DIFF = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n alpha\n-bravo\n+BRAVO\n charlie\n";

function call(over: Partial<PendingApproval> = {}): PendingApproval {
  return {
    id: "01J0",
    agent: "claude",
    session_id: "s-1",
    server: "filesystem",
    tool: "write_file",
    action: "job.mcp-bridge.write.file",
    target: "notes.txt",
    risk_tags: ["code-write"],
    rule_id: "approve-code-write",
    reason: "File writes need developer review",
    diff: null,
    preview: null,
    args: {},
    args_sha256: "00",
    policy_version: "v1",
    created_at: "2026-11-25T01:00:00Z",
    expires_at: "2026-11-25T01:05:00Z",
    headline: "",
    details: "",
    changed_on_disk: null,
    ...over,
  };
}

describe("countdown", () => {
  const expires = "2026-11-25T01:05:00Z";
  const at = (iso: string) => Date.parse(iso);

  it("counts minutes and seconds down to the expiry", () => {
    expect(timeLeft(expires, at("2026-11-25T01:00:00Z"))).toEqual({ seconds: 300, text: "5:00", expired: false, urgent: false });
    expect(timeLeft(expires, at("2026-11-25T01:04:52.400Z")).text).toBe("0:07");
    expect(timeLeft(expires, at("2026-11-25T01:04:52.400Z")).urgent).toBe(true);
  });

  it("is expired at and after the deadline", () => {
    expect(timeLeft(expires, at(expires)).expired).toBe(true);
    expect(timeLeft(expires, at("2026-11-25T02:00:00Z"))).toMatchObject({ seconds: 0, text: "expired" });
  });

  it("treats an unparseable expiry as expired (fail closed)", () => {
    expect(timeLeft("not a time", 0)).toMatchObject({ expired: true, text: "expired" });
    expect(timeLeft("", 0).expired).toBe(true);
  });

  it("formats hours", () => {
    expect(clock(0)).toBe("0:00");
    expect(clock(59.9)).toBe("0:59");
    expect(clock(3723)).toBe("1:02:03");
    expect(clock(-5)).toBe("0:00");
  });
});

describe("what the window shows", () => {
  it("names agent, tool and target", () => {
    expect(headline(call())).toBe("claude: filesystem__write_file → notes.txt");
    expect(headline(call({ target: null }))).toBe("claude: filesystem__write_file");
    // The engine's words win when the shell sends them.
    expect(headline(call({ headline: "Claude Code wants to change notes.txt (+1 −1)" }))).toBe(
      "Claude Code wants to change notes.txt (+1 −1)",
    );
  });

  it("recognises unified diffs only", () => {
    expect(isUnifiedDiff(DIFF)).toBe(true);
    expect(isUnifiedDiff("(cannot diff /x: not UTF-8 text)")).toBe(false);
    expect(isUnifiedDiff("--- just dashes\nno hunk")).toBe(false);
  });

  it("prefers the diff, then a diff preview, then the command, then the arguments", () => {
    expect(effectOf(call({ diff: DIFF }))).toEqual({ kind: "diff", diff: DIFF });
    expect(effectOf(call({ preview: DIFF }))).toEqual({ kind: "diff", diff: DIFF });
    expect(effectOf(call({ diff: "(cannot diff x: file larger than 4194304 bytes)" }))).toMatchObject({ kind: "text" });
    expect(effectOf(call({ tool: "run", args: { command: "rm -rf build" } }))).toEqual({ kind: "command", command: "rm -rf build" });
    expect(effectOf(call({ preview: "git push origin main: 2 commits" }))).toMatchObject({ kind: "text" });
    expect(effectOf(call({ args: { path: "x" } }))).toEqual({ kind: "args", json: '{\n  "path": "x"\n}' });
  });

  it("shows a preview the main view leaves out after it, never the same text twice", () => {
    const retry = "Arguments:\n{}\n\nThis call retries an earlier round: …";
    expect(extraOf(call({ diff: DIFF, preview: retry }), effectOf(call({ diff: DIFF })))).toBe(retry);
    expect(extraOf(call({ diff: DIFF, preview: DIFF }), effectOf(call({ diff: DIFF })))).toBeNull();
    const push = "git push origin main: 2 commits";
    expect(extraOf(call({ preview: push }), effectOf(call({ preview: push })))).toBeNull();
    const run = call({ tool: "run", args: { command: "make" }, preview: "sh -c make\n(in /w, timeout 1000 ms)" });
    expect(extraOf(run, effectOf(run))).toBe("sh -c make\n(in /w, timeout 1000 ms)");
    expect(extraOf(call(), effectOf(call()))).toBeNull();
  });

  it("quotes argv words so a shown command is unambiguous", () => {
    expect(commandOf({ argv: ["git", "commit", "-m", "it's done"] })).toBe("git commit -m 'it'\\''s done'");
    expect(commandOf({ command: ["ls"], args: ["-la", "a b"] })).toBe("ls -la 'a b'");
    expect(commandOf({ command: "" })).toBeNull();
    expect(commandOf({ argv: ["ok", 3] })).toBeNull();
    expect(commandOf(null)).toBeNull();
    expect(shellQuote("$(reboot)")).toBe("'$(reboot)'");
  });

  it("reads the shell's error shape and anything else", () => {
    expect(errorMessage({ kind: "unknown_approval", message: "no pending approval with id x" })).toBe("no pending approval with id x");
    expect(errorMessage("boom")).toBe("boom");
  });
});

describe("keyboard shortcuts", () => {
  it("maps a, s, d (either case) to the three decisions", () => {
    expect(shortcutFor("a", false, false)).toBe("approve");
    expect(shortcutFor("S", false, false)).toBe("session");
    expect(shortcutFor("d", false, false)).toBe("deny");
    expect(shortcutFor("x", false, false)).toBeNull();
  });

  it("never fires while typing a reason or with a modifier (Ctrl+A must not approve)", () => {
    expect(shortcutFor("a", true, false)).toBeNull();
    expect(shortcutFor("a", false, true)).toBeNull();
  });
});

describe("list refresh key", () => {
  it("changes with the ids, their order or the selection, and only then", () => {
    expect(listKey(["a", "b"], "a")).toBe(listKey(["a", "b"], "a"));
    expect(listKey(["a", "b"], "a")).not.toBe(listKey(["a", "b"], "b"));
    expect(listKey(["a", "b"], "a")).not.toBe(listKey(["b", "a"], "a"));
    expect(listKey(["a,b"], null)).not.toBe(listKey(["a", "b"], null));
  });
});
