// For scripts/bench_http.py (a benchmark, not a test): the official TypeScript MCP SDK over stdio,
// as Node agents (Claude Code, Gemini CLI) start their servers: `echo` direct to
// server-everything and through `cordon mcp`, in interleaved rounds. Prints one JSON line: each
// path's latencies in seconds.
//
// Usage: node ts_stdio_bench.mjs ROUNDS BATCH SPEC_JSON
//   SPEC_JSON: {"direct": {"command", "args", "env"}, "cordon": {"command", "args", "env"}}
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [rounds, batch, specJson] = process.argv.slice(2);
const spec = JSON.parse(specJson);
const paths = [
  { name: "direct", tool: "echo", ...spec.direct },
  { name: "cordon", tool: "everything__echo", ...spec.cordon },
];
for (const path of paths) {
  path.client = new Client({ name: "cordon-bench-ts", version: "0.0.0" });
  await path.client.connect(
    new StdioClientTransport({ command: path.command, args: path.args, env: path.env, stderr: "ignore" }),
  );
  // The engine connects its upstreams in the background: wait until the tool is listed.
  while (!(await path.client.listTools()).tools.some((t) => t.name === path.tool)) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  for (let i = 0; i < 100; i++) await path.client.callTool({ name: path.tool, arguments: { message: "warm" } });
  path.seconds = [];
}
for (let round = 0; round < Number(rounds); round++) {
  for (const path of round % 2 ? [...paths].reverse() : paths) {
    for (let i = 0; i < Number(batch); i++) {
      const start = process.hrtime.bigint();
      const result = await path.client.callTool({ name: path.tool, arguments: { message: "bench" } });
      path.seconds.push(Number(process.hrtime.bigint() - start) / 1e9);
      if (result.isError) throw new Error(`${path.name}: ${JSON.stringify(result)}`);
    }
  }
}
console.log(JSON.stringify(Object.fromEntries(paths.map((p) => [p.name, p.seconds]))));
for (const path of paths) await path.client.close();
