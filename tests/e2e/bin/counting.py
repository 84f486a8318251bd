#!/usr/bin/env python3
"""A tiny MCP upstream whose every call has a side effect a test can count.

`touch(id, pad="")` appends one line `id` to the file $E2E_SIDE_EFFECTS (flushed and fsynced
before it answers), then returns `done <id>`. The write-ahead tests compare these lines with the
evidence: no side effect may exist without its intent record.
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

EFFECTS = os.environ["E2E_SIDE_EFFECTS"]

mcp = MCPServer("e2e-counting")


@mcp.tool(description="Appends `id` to the side-effect file and says done.")
def touch(id: str, pad: str = "") -> str:  # noqa: A002 - the tool's argument name
    with open(EFFECTS, "a") as f:
        f.write(id + "\n")
        f.flush()
        os.fsync(f.fileno())
    return f"done {id}"


if __name__ == "__main__":
    mcp.run("stdio")
