#!/usr/bin/env python3
"""A tiny MCP upstream for the credentials tests: it reports what it was given.

- `report`: its whole environment, its argv, and the secret it received (from $E2E_TOKEN and from a
  `--token=VALUE` argument) in raw, base64, hex and URL-encoded forms, plus the sha256 of each, so a
  test can prove the upstream got the value while the agent only ever sees `[REDACTED:NAME]`.
- It also prints the received value to stderr at start, which Cordon logs (redacted).
- The description of `report` comes from the file $E2E_DESCRIPTION_FILE when set, so a test can
  change a pinned tool's definition between engine runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import urllib.parse
from pathlib import Path

from mcp.server.mcpserver import MCPServer

ARG_TOKEN = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--token=")), "")
ENV_TOKEN = os.environ.get("E2E_TOKEN", "")


def forms(value: str) -> dict[str, str]:
    raw = value.encode()
    return {
        "raw": value,
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode(),
        "hex": raw.hex(),
        "url": urllib.parse.quote(value, safe=""),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }


description_file = os.environ.get("E2E_DESCRIPTION_FILE")
DESCRIPTION = Path(description_file).read_text() if description_file else "Reports the environment and argv."

mcp = MCPServer("e2e-echo-env")


@mcp.tool(description=DESCRIPTION)
def report() -> str:
    return json.dumps(
        {
            "env": dict(os.environ),
            "argv": sys.argv[1:],
            "env_token": forms(ENV_TOKEN),
            "arg_token": forms(ARG_TOKEN),
        }
    )


if __name__ == "__main__":
    print(f"echo_env starting with token {ENV_TOKEN} ({forms(ENV_TOKEN)['base64']})", file=sys.stderr, flush=True)
    mcp.run("stdio")
