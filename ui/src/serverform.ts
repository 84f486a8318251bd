// The upstream server form: text fields ↔ ServerEntry, and the checks the gateway's config loader
// would make, so the user sees a mistake at the field before the engine refuses the file.
import type { ServerEntry } from "./types";

/** A problem with one field of the form. */
export interface FieldError {
  field: string;
  message: string;
}

/** One key/value row of the env or headers editor. */
export interface Pair {
  key: string;
  value: string;
}

/** The name reserved for Cordon's built-in tools. */
export const RESERVED_SERVER = "cordon";

/** Server names: `[a-z0-9-]`, 1 to 64 characters (the gateway's rule: `<server>__<tool>` stays unambiguous). */
export function serverNameError(name: string, taken: string[], original: string | null): string | null {
  if (name === "") return "a name is required";
  if (name.length > 64) return "at most 64 characters";
  if (/\s/.test(name)) return "no spaces: use lowercase letters, digits and dashes";
  if (/[/\\]/.test(name)) return "no slashes: use lowercase letters, digits and dashes";
  if (!/^[a-z0-9-]+$/.test(name)) return "use lowercase letters, digits and dashes only ([a-z0-9-]+)";
  if (name === RESERVED_SERVER) return "`cordon` is reserved for Cordon's built-in tools";
  if (name !== original && taken.includes(name)) return `a server named \`${name}\` already exists`;
  return null;
}

/** Environment variable names a process can receive: `[A-Za-z_][A-Za-z0-9_]*`. */
export function envKeyError(key: string): string | null {
  if (key === "") return "a variable name is required";
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `\`${key}\`: letters, digits and _ only, not starting with a digit`;
  return null;
}

/** HTTP header names are RFC 9110 tokens. */
export function headerKeyError(key: string): string | null {
  if (key === "") return "a header name is required";
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) return `\`${key}\` is not a valid header name`;
  return null;
}

const REFERENCE = /\$\{keychain:([^}]*)\}/g;
const SECRET_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** A `${keychain:NAME}` reference for the secret picker. */
export function reference(name: string): string {
  return `\${keychain:${name}}`;
}

/** The secret names a value refers to. */
export function referencesIn(value: string): string[] {
  return [...value.matchAll(REFERENCE)].map((m) => m[1] ?? "");
}

/** Whether `${keychain:…}` references in a value are well formed (closed, valid names). */
export function referenceError(value: string): string | null {
  for (const name of referencesIn(value)) {
    if (!SECRET_NAME.test(name)) return `\`${reference(name)}\`: a secret name is [A-Za-z0-9_.-]+`;
  }
  const open = value.split("${keychain:").length - 1;
  if (open !== referencesIn(value).length) return "unclosed `${keychain:` reference";
  return null;
}

/** Args: one per line; blank lines are dropped. */
export function parseArgs(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => line.trim() !== "");
}

/** The textarea form of args. */
export function formatArgs(args: string[]): string {
  return args.join("\n");
}

/** Rows of a key/value editor, in key order. */
export function toPairs(map: { [k: string]: string }): Pair[] {
  return Object.keys(map)
    .sort()
    .map((key) => ({ key, value: map[key] ?? "" }));
}

/** The map form of key/value rows; rows with neither key nor value are ignored. */
export function fromPairs(pairs: Pair[]): { [k: string]: string } {
  const out: { [k: string]: string } = {};
  for (const p of pairs) {
    if (p.key.trim() === "" && p.value === "") continue;
    out[p.key.trim()] = p.value;
  }
  return out;
}

/** Everything the form holds, as typed. */
export interface ServerForm {
  name: string;
  transport: "stdio" | "http";
  command: string;
  args: string;
  env: Pair[];
  cwd: string;
  url: string;
  headers: Pair[];
}

/** The form for an entry (or an empty stdio form). */
export function formOf(entry: ServerEntry | null): ServerForm {
  return {
    name: entry?.name ?? "",
    transport: entry?.transport ?? "stdio",
    command: entry?.command ?? "",
    args: formatArgs(entry?.args ?? []),
    env: toPairs(entry?.env ?? {}),
    cwd: entry?.cwd ?? "",
    url: entry?.url ?? "",
    headers: toPairs(entry?.headers ?? {}),
  };
}

/** Keys that appear twice among the rows. */
function duplicates(pairs: Pair[]): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const p of pairs) {
    const k = p.key.trim();
    if (k === "") continue;
    if (seen.has(k)) dup.add(k);
    seen.add(k);
  }
  return [...dup];
}

/**
 * Checks a form and builds the entry. Fields of the other transport are left out (the loader
 * refuses a stdio server with headers or an http server with args/env/cwd).
 */
export function validateServer(
  form: ServerForm,
  taken: string[],
  original: string | null,
): { entry: ServerEntry | null; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const name = form.name.trim();
  const nameErr = serverNameError(name, taken, original);
  if (nameErr) errors.push({ field: "name", message: nameErr });
  const noRef = (field: string, label: string, value: string) => {
    if (value.includes("${keychain:")) errors.push({ field, message: `${label} cannot hold a keychain reference (only args, env values and header values can)` });
  };
  const refs = (field: string, value: string) => {
    const e = referenceError(value);
    if (e) errors.push({ field, message: e });
  };
  const pairs = (field: "env" | "headers", rows: Pair[], keyError: (k: string) => string | null) => {
    rows.forEach((p, i) => {
      if (p.key.trim() === "" && p.value === "") return;
      const e = keyError(p.key.trim());
      if (e) errors.push({ field: `${field}.${i}.key`, message: e });
      refs(`${field}.${i}.value`, p.value);
      if (/[\r\n]/.test(p.value)) errors.push({ field: `${field}.${i}.value`, message: "a value cannot contain a line break" });
    });
    for (const k of duplicates(rows)) errors.push({ field, message: `\`${k}\` appears twice` });
  };

  let entry: ServerEntry;
  if (form.transport === "stdio") {
    const command = form.command.trim();
    if (command === "") errors.push({ field: "command", message: "a command is required" });
    noRef("command", "The command", command);
    const args = parseArgs(form.args);
    args.forEach((a) => refs("args", a));
    pairs("env", form.env, envKeyError);
    const cwd = form.cwd.trim();
    noRef("cwd", "The working directory", cwd);
    entry = {
      name,
      transport: "stdio",
      command,
      args,
      env: fromPairs(form.env),
      cwd: cwd === "" ? null : cwd,
      url: null,
      headers: {},
    };
  } else {
    const url = form.url.trim();
    if (url === "") errors.push({ field: "url", message: "a URL is required" });
    else if (!/^https?:\/\/[^\s/]+/.test(url)) errors.push({ field: "url", message: "must start with http:// or https:// and name a host" });
    noRef("url", "The URL", url);
    pairs("headers", form.headers, headerKeyError);
    entry = { name, transport: "http", command: null, args: [], env: {}, cwd: null, url, headers: fromPairs(form.headers) };
  }
  return { entry: errors.length ? null : entry, errors };
}

/** One line describing a server in the list. */
export function serverSummary(s: ServerEntry): string {
  if (s.transport === "http") return s.url ?? "";
  return [s.command ?? "", ...s.args].join(" ");
}
