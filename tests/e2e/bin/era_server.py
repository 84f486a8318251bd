#!/usr/bin/env python3
"""An upstream MCP server written with the official Python SDK (2.3), which speaks both protocol
eras: it lets Cordon's upstream negotiation choose, and reports the choice.

- `era`: the protocol version of the request it serves (`2026-07-28` when Cordon discovered it,
  `2025-11-25` after an initialize handshake).
- `grow {name}`: adds a tool `name` and announces it the 2026-07-28 way (to `subscriptions/listen`
  subscribers): Cordon must see it without being asked to list again.
"""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer

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


if __name__ == "__main__":
    mcp.run("stdio")
