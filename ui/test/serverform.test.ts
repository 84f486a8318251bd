import { describe, expect, it } from "vitest";
import {
  envKeyError,
  formOf,
  fromPairs,
  headerKeyError,
  parseArgs,
  reference,
  referenceError,
  referencesIn,
  serverNameError,
  serverSummary,
  toPairs,
  validateServer,
  type ServerForm,
} from "../src/serverform";
import type { ServerEntry } from "../src/types";

const stdio = (over: Partial<ServerForm> = {}): ServerForm => ({
  name: "github",
  transport: "stdio",
  command: "github-mcp-server",
  args: "stdio\n--read-only",
  env: [{ key: "GITHUB_TOKEN", value: "${keychain:GH}" }],
  cwd: "",
  url: "",
  headers: [],
  ...over,
});

const fields = (f: ServerForm, taken: string[] = [], original: string | null = null) => validateServer(f, taken, original).errors.map((e) => e.field);

describe("server names", () => {
  it("accepts lowercase letters, digits and dashes", () => {
    expect(serverNameError("github", [], null)).toBeNull();
    expect(serverNameError("my-server-2", [], null)).toBeNull();
  });

  it("refuses spaces, slashes, capitals, underscores, empties and over-long names", () => {
    expect(serverNameError("my server", [], null)).toMatch(/no spaces/);
    expect(serverNameError("a/b", [], null)).toMatch(/no slashes/);
    expect(serverNameError("a\\b", [], null)).toMatch(/no slashes/);
    expect(serverNameError("GitHub", [], null)).toMatch(/lowercase/);
    expect(serverNameError("a__b", [], null)).toMatch(/lowercase/);
    expect(serverNameError("", [], null)).toMatch(/required/);
    expect(serverNameError("a".repeat(65), [], null)).toMatch(/64/);
    expect(serverNameError("a".repeat(64), [], null)).toBeNull();
    expect(serverNameError("gït", [], null)).toMatch(/lowercase/);
  });

  it("refuses the reserved name and a name already taken, except the one being edited", () => {
    expect(serverNameError("cordon", [], null)).toMatch(/reserved/);
    expect(serverNameError("github", ["github"], null)).toMatch(/already exists/);
    expect(serverNameError("github", ["github"], "github")).toBeNull();
    expect(serverNameError("linear", ["github", "linear"], "github")).toMatch(/already exists/);
  });
});

describe("env and header keys", () => {
  it("checks environment variable names", () => {
    expect(envKeyError("GITHUB_TOKEN")).toBeNull();
    expect(envKeyError("_x1")).toBeNull();
    expect(envKeyError("1ABC")).not.toBeNull();
    expect(envKeyError("MY VAR")).not.toBeNull();
    expect(envKeyError("A=B")).not.toBeNull();
    expect(envKeyError("A-B")).not.toBeNull();
    expect(envKeyError("")).not.toBeNull();
  });

  it("checks header names as HTTP tokens", () => {
    expect(headerKeyError("Authorization")).toBeNull();
    expect(headerKeyError("X-Api-Key")).toBeNull();
    expect(headerKeyError("Bad Header")).not.toBeNull();
    expect(headerKeyError("a:b")).not.toBeNull();
    expect(headerKeyError("")).not.toBeNull();
  });
});

describe("keychain references", () => {
  it("finds and checks references", () => {
    expect(reference("GH")).toBe("${keychain:GH}");
    expect(referencesIn("Bearer ${keychain:A} ${keychain:b.c-d}")).toEqual(["A", "b.c-d"]);
    expect(referenceError("Bearer ${keychain:A}")).toBeNull();
    expect(referenceError("${keychain:}")).not.toBeNull();
    expect(referenceError("${keychain:has space}")).not.toBeNull();
    expect(referenceError("${keychain:A")).toMatch(/unclosed/);
    expect(referenceError("plain $HOME ${OTHER}")).toBeNull();
  });
});

describe("the server form", () => {
  it("builds a stdio entry, one argument per line, dropping http fields", () => {
    const { entry, errors } = validateServer(stdio({ url: "https://ignored", headers: [{ key: "X", value: "y" }], cwd: " /src " }), [], null);
    expect(errors).toEqual([]);
    expect(entry).toEqual<ServerEntry>({
      name: "github",
      transport: "stdio",
      command: "github-mcp-server",
      args: ["stdio", "--read-only"],
      env: { GITHUB_TOKEN: "${keychain:GH}" },
      cwd: "/src",
      url: null,
      headers: {},
    });
  });

  it("builds an http entry, dropping stdio fields", () => {
    const { entry, errors } = validateServer(stdio({ transport: "http", url: "https://mcp.linear.app/mcp", headers: [{ key: "Authorization", value: "Bearer ${keychain:LIN}" }] }), [], null);
    expect(errors).toEqual([]);
    expect(entry).toMatchObject({ transport: "http", command: null, args: [], env: {}, cwd: null, url: "https://mcp.linear.app/mcp", headers: { Authorization: "Bearer ${keychain:LIN}" } });
  });

  it("refuses a missing command or URL and a bad URL", () => {
    expect(fields(stdio({ command: "  " }))).toContain("command");
    expect(fields(stdio({ transport: "http", url: "" }))).toContain("url");
    expect(fields(stdio({ transport: "http", url: "ftp://x" }))).toContain("url");
    expect(fields(stdio({ transport: "http", url: "https://" }))).toContain("url");
    expect(validateServer(stdio({ name: "bad name" }), [], null).entry).toBeNull();
  });

  it("refuses references where the loader does not resolve them", () => {
    expect(fields(stdio({ command: "${keychain:X}" }))).toContain("command");
    expect(fields(stdio({ cwd: "/home/${keychain:X}" }))).toContain("cwd");
    expect(fields(stdio({ transport: "http", url: "https://h/${keychain:X}" }))).toContain("url");
  });

  it("refuses bad env keys, duplicated keys, bad references and line breaks in values", () => {
    expect(fields(stdio({ env: [{ key: "1BAD", value: "x" }] }))).toEqual(["env.0.key"]);
    expect(fields(stdio({ env: [{ key: "A", value: "1" }, { key: "A", value: "2" }] }))).toEqual(["env"]);
    expect(fields(stdio({ env: [{ key: "A", value: "${keychain:no pe}" }] }))).toEqual(["env.0.value"]);
    expect(fields(stdio({ env: [{ key: "A", value: "x\ny" }] }))).toEqual(["env.0.value"]);
    expect(fields(stdio({ args: "${keychain:" }))).toEqual(["args"]);
    expect(fields(stdio({ transport: "http", url: "https://h", headers: [{ key: "Bad Header", value: "v" }] }))).toEqual(["headers.0.key"]);
  });

  it("ignores empty rows", () => {
    expect(fields(stdio({ env: [{ key: "", value: "" }, { key: "A", value: "" }] }))).toEqual([]);
    expect(fromPairs([{ key: "", value: "" }, { key: " A ", value: "v" }])).toEqual({ A: "v" });
  });

  it("round-trips an entry through the form", () => {
    const entry: ServerEntry = { name: "fs", transport: "stdio", command: "npx", args: ["-y", "a b"], env: { B: "2", A: "1" }, cwd: null, url: null, headers: {} };
    const form = formOf(entry);
    expect(form.env.map((p) => p.key)).toEqual(["A", "B"]);
    expect(validateServer(form, ["fs"], "fs").entry).toEqual(entry);
    expect(formOf(null)).toMatchObject({ name: "", transport: "stdio", env: [] });
    expect(toPairs({})).toEqual([]);
    expect(parseArgs("a\r\n\n  \nb c\n")).toEqual(["a", "b c"]);
  });

  it("summarises servers for the list", () => {
    expect(serverSummary({ name: "fs", transport: "stdio", command: "npx", args: ["-y", "pkg"], env: {}, cwd: null, url: null, headers: {} })).toBe("npx -y pkg");
    expect(serverSummary({ name: "l", transport: "http", command: null, args: [], env: {}, cwd: null, url: "https://x/mcp", headers: {} })).toBe("https://x/mcp");
  });
});
