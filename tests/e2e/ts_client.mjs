// The official TypeScript MCP SDK (pinned in package.json) as an agent over Streamable HTTP, for
// test_http_interop.py: initialize, list, call, one call held for approval (the test approves it
// with `cordon approve`), then close the session. Prints one JSON report line on stdout; any
// error the SDK reports goes to stderr, and the test requires stderr to stay empty.
//
// Usage: node ts_client.mjs URL TOKEN FILE CONTENT
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, file, content] = process.argv.slice(2);
const HELD_TIMEOUT_MS = 100_000; // a hang guard (the test's own deadline is shorter), not a speed bound

const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
// `close()` aborts the SDK's own standing GET stream; if the stream's end has not gone through
// the SDK's read pipeline yet, the SDK reports that abort as an error. Kept apart (the test checks
// that they are only that), everything else is printed as a complaint.
let closing = false;
const abortedOnClose = [];
const complain = (who) => (error) => {
  if (closing && String(error).includes("AbortError")) {
    abortedOnClose.push(`${who}: ${error}`);
    return;
  }
  console.error(`${who} error: ${error?.stack ?? error}`);
};
transport.onerror = complain("transport");
const client = new Client({ name: "cordon-e2e-ts", version: "0.0.0" });
client.onerror = complain("client");

await client.connect(transport);
const sessionId = transport.sessionId;
const protocolVersion = transport.protocolVersion;
const tools = (await client.listTools()).tools.map((t) => t.name);
const echo = await client.callTool({ name: "everything__echo", arguments: { message: "ts over http" } });
const held = await client.callTool(
  { name: "filesystem__write_file", arguments: { path: file, content } },
  undefined,
  { timeout: HELD_TIMEOUT_MS },
);
await transport.terminateSession();
const terminated = transport.sessionId === undefined;
closing = true;
await client.close();

console.log(
  JSON.stringify({
    protocolVersion,
    sessionId,
    tools,
    echo: echo.content?.[0]?.text,
    held: { isError: held.isError ?? false, content: held.content },
    terminated,
    abortedOnClose,
  }),
);
