// Generated from the Rust types by cordon-admin (src/typescript.rs): do not edit.
// Regenerate: CORDON_WRITE_TS=1 cargo test -p cordon-admin --test typescript

/**
 * How a governed call ended. Kept small and closed so reviewers can filter on it.
 */
export type Outcome = "allowed" | "denied" | "approved" | "rejected" | "timed_out" | "error" | "pending" | "interrupted";

/**
 * Which half of a write-ahead pair a record is. A record without a phase is complete on its
 * own: a call refused before anything ran, or a record from before write-ahead evidence.
 */
export type Phase = "intent" | "outcome";

/**
 * One stored, chained evidence record: the appended [`NewRecord`] (its fields flattened in
 * place, so the JSON is flat) between what the log adds: id, seq and timestamp before, the
 * chain after. Serialises with the seed's key names, in the order exports have always had.
 * Reads of the call's fields go through [`std::ops::Deref`] (`record.agent`).
 */
export type EvidenceRecord = {
/**
 * ULID, unique.
 */
id: string,
/**
 * Position in the chain: 1-based and contiguous.
 */
seq: number,
/**
 * When the record was written, RFC 3339 UTC with milliseconds.
 */
timestamp: string,
/**
 * Hash of the previous record (64 zeros for the first).
 */
prev_hash: string,
/**
 * sha256 of this record's canonical form (see the crate docs).
 */
hash: string,
/**
 * The agent that made the call (e.g. `claude-code`).
 */
agent: string,
/**
 * The agent's session.
 */
session_id: string,
/**
 * The upstream server (empty for built-in tools and hooks).
 */
server: string,
/**
 * The tool name.
 */
tool: string,
/**
 * The topic, e.g. `job.mcp-bridge.git.push`.
 */
action: string,
/**
 * What the action touches: a path, a remote/branch, a command.
 */
target: string | null,
/**
 * Risk tags from the classifier.
 */
risk_tags: Array<string>,
/**
 * `allow`, `deny` or `require_approval`.
 */
decision: string,
/**
 * The rule that won, if any.
 */
rule_id: string | null,
/**
 * Why (the rule's reason or the engine's message).
 */
reason: string,
/**
 * The policy version in force (see [`crate::EvidenceLog::record_policy`]).
 */
policy_version: string,
/**
 * Who approved or rejected, for held calls.
 */
reviewer: string | null,
/**
 * How an approval reached the engine (`tray-window`, `notification`, `cli-code`, ...;
 * `session-grant/<channel>` for a call passed under an earlier session approval): the
 * proof a human approved. None when nothing was approved.
 */
approval_channel?: string | null,
/**
 * How the call ended.
 */
outcome: Outcome,
/**
 * The call's arguments (already redacted by the caller), stored whole.
 */
args: unknown,
/**
 * The diff shown to the reviewer, stored whole.
 */
diff: string | null,
/**
 * Wall time of the call, including any wait for approval.
 */
duration_ms: number,
/**
 * Error message when `outcome` is `error`.
 */
error: string | null,
/**
 * Intent or outcome of a write-ahead pair; None for a complete one-record call (absent
 * from the JSON then, as in exports from before write-ahead evidence).
 */
phase?: Phase | null,
/**
 * On an outcome: the intent it closes. On an intent that follows a held intent (the
 * approval): that held intent.
 */
intent_id?: string | null, };

/**
 * One record as a table row (the full record is fetched on demand with
 * [`crate::EvidenceLog::get`]).
 */
export type RecordRow = {
/**
 * ULID.
 */
id: string,
/**
 * Position in the chain.
 */
seq: number,
/**
 * When (RFC 3339 UTC).
 */
timestamp: string,
/**
 * The agent.
 */
agent: string,
/**
 * The session.
 */
session_id: string,
/**
 * The upstream server.
 */
server: string,
/**
 * The tool.
 */
tool: string,
/**
 * The topic.
 */
action: string,
/**
 * The target.
 */
target: string | null,
/**
 * The policy decision.
 */
decision: string,
/**
 * How the call ended.
 */
outcome: string,
/**
 * The rule that won.
 */
rule_id: string | null,
/**
 * Who approved or rejected.
 */
reviewer: string | null,
/**
 * Duration of the call.
 */
duration_ms: number,
/**
 * A reviewed diff is attached.
 */
has_diff: boolean,
/**
 * Which half of a write-ahead pair the row is (None: complete on its own). Viewers mark
 * intents, so that one call's intent and outcome do not read as two calls.
 */
phase: Phase | null, };

/**
 * One page of rows, newest first.
 */
export type EvidencePage = {
/**
 * Records matching the filter (all pages).
 */
total: number,
/**
 * This page, newest first.
 */
records: Array<RecordRow>,
/**
 * Cursor of the next page (None: this is the last page).
 */
next_before_seq: number | null, };

/**
 * The viewer's filters; every field optional, set fields combine with AND.
 */
export type EvidenceQuery = {
/**
 * Exact agent.
 */
agent: string | null,
/**
 * Topic pattern, NATS style (`git.*`, `write.>`), with or without `job.mcp-bridge.`.
 */
action: string | null,
/**
 * Exact decision (`allow`, `deny`, `require_approval`).
 */
decision: string | null,
/**
 * Exact outcome (`allowed`, `denied`, `approved`, `rejected`, `timed_out`, `error`).
 */
outcome: string | null,
/**
 * At or after (RFC 3339).
 */
since: string | null,
/**
 * Strictly before (RFC 3339).
 */
until: string | null,
/**
 * Case-insensitive substring of the tool, the target or the reason.
 */
text: string | null,
/**
 * Page cursor: records with a smaller seq (newest first).
 */
before_seq: number | null,
/**
 * Page size, 1 to [`MAX_PAGE`].
 */
limit: number, };

/**
 * Calls of one agent in one time bucket, by how they ended.
 */
export type ActivityBucket = {
/**
 * Bucket start (RFC 3339 UTC).
 */
start: string,
/**
 * The agent.
 */
agent: string,
/**
 * Allowed by the policy.
 */
allowed: number,
/**
 * Approved by a human.
 */
approved: number,
/**
 * Denied by the policy or rejected by a human.
 */
denied: number,
/**
 * Timed out or failed.
 */
other: number, };

/**
 * The chain and signature check, summarised for the viewer's badge.
 */
export type VerifySummary = {
/**
 * No problem found.
 */
ok: boolean,
/**
 * Records checked.
 */
records: number,
/**
 * Signed checkpoints checked.
 */
checkpoints: number,
/**
 * Last seq covered by a valid signature.
 */
signed_through: number | null,
/**
 * Records after the last checkpoint (chained, not yet signed).
 */
unsigned_tail: number,
/**
 * The trusted signing key.
 */
key_fingerprint: string | null,
/**
 * What is wrong (and caveats about the trust), one sentence each.
 */
problems: Array<string>, };

/**
 * Export formats the viewer offers.
 */
export type ExportKind = "jsonl" | "csv" | "bundle";

/**
 * A finished export.
 */
export type Exported = {
/**
 * The file written.
 */
path: string,
/**
 * Records written in full.
 */
records: number, };

/**
 * A held call as a reviewer is shown it (the approval window, `cordon approvals --json`): the
 * call made fit to show ([`PendingApproval::for_display`]) plus its summary in words and,
 * when the file changed on disk since the hold, a warning.
 */
export type Review = {
/**
 * [`Summary::headline`].
 */
headline: string,
/**
 * [`Summary::details`].
 */
details: string,
/**
 * Set when the file the call writes changed on disk since the call was held (see
 * [`crate::diff::changed_since_hold`]).
 */
changed_on_disk: string | null,
/**
 * Short id used by `cordon approve ID`.
 */
id: string,
/**
 * What a built-in tool would do, as prepared before review (the diff of a file change,
 * the commits a push would send, the command to run); for an upstream call, only a
 * multi-round-trip retry has one (its arguments and what it carries besides them).
 */
preview: string | null,
/**
 * SHA-256 of the canonical arguments: part of the binding.
 */
args_sha256: string,
/**
 * When the call arrived (RFC 3339 UTC).
 */
created_at: string,
/**
 * When it will be refused if nobody decides (RFC 3339 UTC).
 */
expires_at: string,
/**
 * The calling agent.
 */
agent: string,
/**
 * The agent's session.
 */
session_id: string,
/**
 * The upstream server.
 */
server: string,
/**
 * The tool (without the server prefix).
 */
tool: string,
/**
 * The topic the call was classified as.
 */
action: string,
/**
 * A short human-readable target.
 */
target: string | null,
/**
 * Risk tags.
 */
risk_tags: Array<string>,
/**
 * The rule that required approval (None = the policy's default decision).
 */
rule_id: string | null,
/**
 * The rule's reason.
 */
reason: string,
/**
 * The unified diff of a file write, else None.
 */
diff: string | null,
/**
 * The call's arguments.
 */
args: unknown,
/**
 * The directory the call's paths resolve against (the upstream's or the agent's working
 * directory), when known: the reviewer's view shows paths inside it relative to it.
 */
root?: string | null,
/**
 * The policy version that asked: part of the binding.
 */
policy_version: string, };

/**
 * What the tray and the windows show about the engine.
 */
export type Status = {
/**
 * An engine is running in this app.
 */
running: boolean,
/**
 * Why the engine is standing by instead of running: it could not write its evidence log
 * at start (a full disk, say, or a locked keychain) and tries again by itself; every call
 * is refused meanwhile (None: it runs, or is stopped).
 */
standby: string | null,
/**
 * Why the engine could not start (at launch or on Restart: a broken policy, a config other
 * users can read); nothing runs and every call is refused until the cause is fixed and the
 * engine restarted (None: it runs, stands by, or was stopped).
 */
start_error: string | null,
/**
 * Every agent is paused (calls refused until resumed).
 */
paused: boolean,
/**
 * Agents paused one by one.
 */
paused_agents: Array<string>,
/**
 * Calls waiting for a human.
 */
pending: number,
/**
 * The policy version in force ("" when not running).
 */
policy_version: string,
/**
 * The policy file or directory (None: the shipped default).
 */
policy_path: string | null,
/**
 * The config file (None: built-in defaults).
 */
config_path: string | null,
/**
 * The evidence database.
 */
evidence_path: string,
/**
 * Why the evidence log cannot be written, and since when (None: it can, or no engine
 * runs). While there is one every call is refused; it clears by itself.
 */
evidence_fault: string | null,
/**
 * The reviewer identity recorded on approvals.
 */
reviewer: string,
/**
 * How long a held call waits.
 */
approval_timeout_secs: number,
/**
 * The Streamable HTTP address, when enabled.
 */
http_addr: string | null,
/**
 * The app starts at login.
 */
autostart: boolean, };

/**
 * `source` of a [`PolicyDoc`].
 */
export type SourceKind = "file" | "directory" | "default";

/**
 * One file of the policy, as the editor shows it.
 */
export type PolicyFile = {
/**
 * File name (the key the other commands take).
 */
name: string,
/**
 * Full path (None for the shipped default).
 */
path: string | null,
/**
 * The text on disk now.
 */
text: string, };

/**
 * The policy as the editor opens it.
 */
export type PolicyDoc = {
/**
 * File, directory or shipped default.
 */
source: SourceKind,
/**
 * The file or directory (None for the default).
 */
path: string | null,
/**
 * The files, in the order they form the policy.
 */
files: Array<PolicyFile>,
/**
 * The version in force (the running engine's, else the one on disk; "" when it is broken).
 */
version: string, };

/**
 * `severity` of a [`Diagnostic`].
 */
export type DiagSeverity = "error" | "warning";

/**
 * A problem at a place in a file, for the editor's gutter.
 */
export type Diagnostic = {
/**
 * Error or warning.
 */
severity: DiagSeverity,
/**
 * The file's name as in [`PolicyFile::name`].
 */
file: string,
/**
 * 1-based line.
 */
line: number | null,
/**
 * 1-based column (characters).
 */
column: number | null,
/**
 * What is wrong, and the fix when the loader knows it.
 */
message: string, };

/**
 * The result of validating an edit.
 */
export type Validation = {
/**
 * No errors (warnings allowed).
 */
ok: boolean,
/**
 * The version the edited policy would have.
 */
version: string | null,
/**
 * Errors and warnings, in file order.
 */
diagnostics: Array<Diagnostic>,
/**
 * Rules in the edited policy.
 */
rules: number,
/**
 * Tests in the edited policy.
 */
tests: number, };

/**
 * One policy test's result.
 */
export type TestResult = {
/**
 * The test's name, else its file and number.
 */
name: string,
/**
 * Whether the expectation held.
 */
passed: boolean,
/**
 * The expected decision (and rule, if the test names one).
 */
expected: string,
/**
 * The decision the policy made.
 */
actual: string,
/**
 * The rule that won (None: the default decision applied).
 */
rule_id: string | null,
/**
 * For a failure: the topic and the policy's reason.
 */
message: string | null, };

/**
 * The result of running the edited policy's tests.
 */
export type TestRun = {
/**
 * The policy is valid and every test passed.
 */
ok: boolean,
/**
 * Tests passed.
 */
passed: number,
/**
 * Tests failed.
 */
failed: number,
/**
 * One per test (only the failures if the tests could not be listed individually).
 */
results: Array<TestResult>,
/**
 * The policy's diagnostics (tests do not run when it has errors).
 */
diagnostics: Array<Diagnostic>, };

/**
 * One evidence record whose decision would change under the edited policy.
 */
export type ReplayChange = {
/**
 * The record's id.
 */
record_id: string,
/**
 * Its seq.
 */
seq: number,
/**
 * When it was recorded.
 */
timestamp: string,
/**
 * The agent.
 */
agent: string,
/**
 * The tool.
 */
tool: string,
/**
 * The topic recorded.
 */
action: string,
/**
 * The target recorded.
 */
target: string | null,
/**
 * The decision recorded.
 */
old_decision: string,
/**
 * The rule recorded.
 */
old_rule: string | null,
/**
 * The edited policy's decision.
 */
new_decision: string,
/**
 * The edited policy's winning rule.
 */
new_rule: string | null,
/**
 * The edited policy's reason.
 */
new_reason: string, };

/**
 * What a replay found.
 */
export type Replay = {
/**
 * Records judged again.
 */
replayed: number,
/**
 * Records that could not be rebuilt as a call (built-in refusals such as tool pins and
 * credential exfiltration, which no policy decides).
 */
skipped: number,
/**
 * Records whose decision differs, newest first.
 */
changed: Array<ReplayChange>, };

/**
 * A successful save.
 */
export type Saved = {
/**
 * The version now in force.
 */
version: string,
/**
 * The file written.
 */
path: string, };

/**
 * A reload (or a refused one), for the editor's status line.
 */
export type PolicyEvent = {
/**
 * When (RFC 3339 UTC).
 */
at: string,
/**
 * Whether the new policy is in force.
 */
ok: boolean,
/**
 * The version now in force after a successful reload.
 */
version: string | null,
/**
 * What happened (for a refusal: `file:line:col: message` of the first error).
 */
message: string, };

/**
 * How an upstream server is reached.
 */
export type Transport = "stdio" | "http";

/**
 * One upstream server as the settings page shows and edits it: values as written in the file
 * (`${keychain:NAME}` references stay references; nothing is resolved).
 */
export type ServerEntry = {
/**
 * The server's name (`[a-z0-9-]+`), the prefix of its tools.
 */
name: string,
/**
 * `stdio` or `http`.
 */
transport: Transport,
/**
 * Program to run (stdio).
 */
command: string | null,
/**
 * Its arguments (stdio).
 */
args: Array<string>,
/**
 * Extra environment variables (stdio).
 */
env: { [key in string]: string },
/**
 * Working directory as written (stdio).
 */
cwd: string | null,
/**
 * Endpoint (http).
 */
url: string | null,
/**
 * Extra HTTP headers (http).
 */
headers: { [key in string]: string }, };

/**
 * What the settings page shows.
 */
export type Settings = {
/**
 * The identity recorded on approvals (the OS user when the file names none).
 */
reviewer: string,
/**
 * How long a held call waits for a human.
 */
approval_timeout_secs: number,
/**
 * The upstream servers, in file order.
 */
servers: Array<ServerEntry>,
/**
 * The config file edited (None: no file and no default location).
 */
config_path: string | null, };

/**
 * One row of the secrets page.
 */
export type SecretEntry = {
/**
 * The name used in `${keychain:NAME}`.
 */
name: string,
/**
 * Config places that reference it, e.g. `github (env GITHUB_TOKEN)`.
 */
used_by: Array<string>,
/**
 * The keychain holds it (false: referenced but missing, the server will not start).
 */
stored: boolean, };

/**
 * One row of the agents page.
 */
export type AgentEntry = {
/**
 * `claude-code`, `cursor`, `codex`, `vscode`, `windsurf`.
 */
name: string,
/**
 * For people.
 */
display_name: string,
/**
 * Its config directory or binary is present.
 */
detected: boolean,
/**
 * Its MCP configuration file.
 */
config_path: string | null,
/**
 * Cordon's entry is in its configuration (so it can be uninstalled), even if something
 * else bypasses it (see `drift`).
 */
installed: boolean,
/**
 * It routes through Cordon and nothing bypasses it.
 */
governed: boolean,
/**
 * Cordon's native-tool hooks are set up (false for agents without hooks).
 */
hooks: boolean,
/**
 * Drift and read problems, one sentence each.
 */
drift: Array<string>, };
