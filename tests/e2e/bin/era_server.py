#!/usr/bin/env python3
"""An upstream MCP server written with the official Python SDK (2.3), which speaks both protocol
eras: it lets Cordon's upstream negotiation choose, and reports the choice.

- `era`: the protocol version of the request it serves (`2026-07-28` when Cordon discovered it,
  `2025-11-25` after an initialize handshake).
- `grow {name}`: adds a tool `name` and announces it the 2026-07-28 way (to `subscriptions/listen`
  subscribers): Cordon must see it without being asked to list again.
- `confirm {question}`: a multi-round-trip tool (2026-07-28): the first round asks the client for
  a yes/no answer (`InputRequiredResult` with an elicitation and a `request_state`); the retry,
  carrying the answer and that state, gets the result, which names both as received.
"""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ElicitRequest, ElicitRequestFormParams, InputRequiredResult, TextContent

mcp = MCPServer("era-e2e")


@mcp.tool(description="The protocol version this request was made in.")
def era(ctx: Context) -> str:
    return ctx.protocol_version or "unknown"


@mcp.tool(description="Adds a tool named NAME and announces the change.")
async def grow(name: str, ctx: Context) -> str:
    def added() -> str:
        return f"{name} is here"

    mcp.add_tool(added, name=name, description=f"Added at run time: {name}.")
    await ctx.notify_tools_changed()
    return f"added {name}"


@mcp.tool(description="Asks the client to confirm QUESTION, in a second round trip.")
async def confirm(question: str, ctx: Context) -> CallToolResult | InputRequiredResult:
    answers = ctx.input_responses
    if not answers:
        ask = ElicitRequest(
            params=ElicitRequestFormParams(
                message=question,
                requested_schema={"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]},
            )
        )
        return InputRequiredResult(input_requests={"answer": ask}, request_state=f"asked:{question}")
    answer = answers.get("answer")
    ok = getattr(answer, "content", None) or {}
    text = f"confirmed={ok.get('ok')} state={ctx.request_state}"
    return CallToolResult(content=[TextContent(text=text)])


if __name__ == "__main__":
    mcp.run("stdio")
