"""What one agent token can make the engine hold: its resident memory under three floods (issue 15).

A benchmark, not a test (the e2e suite asserts the bounds on smaller floods): it prints figures.
One `cordon serve` as in `bench_http.py` (server-everything upstream, evidence on disk), then:

1. `--sessions N`: N MCP initializes over HTTP with one token, never closed.
2. `--calls N --size BYTES`: N `everything__echo` calls of BYTES each written through `cordon mcp`
   without reading an answer for `--read-after` seconds (then all are read; each is counted once).
3. `--notes N`: N `notifications/initialized` on one `cordon mcp` connection (roots offered).

Usage: bench_floods.py CORDON_BIN [--sessions 20000] [--calls 200 --size 4000000] [--notes 100000]
(run it with tests/e2e/.venv/bin/python after tests/e2e/setup; build the binary with
`cargo build --release -p cordon-cli`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_http as bh  # noqa: E402

INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {"roots": {"listChanged": True}},
               "clientInfo": {"name": "floods", "version": "1"}},
}


def rss_mib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return -1


class Peak:
    """Samples a process's resident memory every 50 ms until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.done = pid, rss_mib(pid), False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.done:
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.05)

    def stop(self) -> int:
        self.done = True
        self.thread.join()
        return self.peak


def bridge(b: bh.Bench, binary: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([str(binary), "mcp", "--agent", bh.AGENT, "--config", str(b.config)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=b.env)
    assert proc.stdin and proc.stdout
    proc.stdin.write(json.dumps(INIT).encode() + b"\n")
    proc.stdin.flush()
    proc.stdout.readline()
    return proc


def sessions(b: bh.Bench, n: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", b.port)
    body = json.dumps(INIT)
    headers = {"Authorization": f"Bearer {b.token}", "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream"}
    start, peak, codes = time.time(), Peak(b.proc.pid), {}
    for _ in range(n):
        conn.request("POST", "/mcp", body, headers)
        resp = conn.getresponse()
        resp.read()
        codes[resp.status] = codes.get(resp.status, 0) + 1
    print(f"sessions: {n} initializes in {time.time() - start:.1f} s, answers {codes}; "
          f"engine peak {peak.stop()} MiB, now {rss_mib(b.proc.pid)} MiB")


def calls(b: bh.Bench, binary: Path, n: int, size: int, read_after: float) -> None:
    proc = bridge(b, binary)
    assert proc.stdin and proc.stdout
    proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    proc.stdin.flush()
    time.sleep(2)
    answered: dict[object, bool] = {}

    def read() -> None:
        time.sleep(read_after)
        while len(answered) < n:
            line = proc.stdout.readline()
            if not line:
                return
            message = json.loads(line)
            if "id" in message and "method" not in message:
                answered[message["id"]] = "error" in message

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    peak, text = Peak(b.proc.pid), "x" * size
    for i in range(n):
        call = {"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                "params": {"name": "everything__echo", "arguments": {"message": text}}}
        proc.stdin.write(json.dumps(call).encode() + b"\n")
        proc.stdin.flush()
    reader.join(timeout=300)
    refused = sum(answered.values())
    print(f"calls: {n} x {size} bytes, answers read after {read_after} s: {len(answered)} answered "
          f"({refused} refused as busy); engine peak {peak.stop()} MiB, now {rss_mib(b.proc.pid)} MiB")
    proc.kill()


def notes(b: bh.Bench, binary: Path, n: int) -> None:
    proc = bridge(b, binary)
    assert proc.stdin and proc.stdout
    threading.Thread(target=lambda: [None for _ in iter(proc.stdout.readline, b"")], daemon=True).start()
    time.sleep(2)
    before = rss_mib(b.proc.pid)
    chunk = b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n' * 1000
    for _ in range(n // 1000):
        proc.stdin.write(chunk)
        proc.stdin.flush()
    time.sleep(5)
    print(f"notifications: {n // 1000 * 1000} notifications/initialized: engine {before} MiB before, "
          f"{rss_mib(b.proc.pid)} MiB after")
    proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary", type=Path)
    parser.add_argument("--sessions", type=int, default=20000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--size", type=int, default=4_000_000)
    parser.add_argument("--read-after", type=float, default=8.0)
    parser.add_argument("--notes", type=int, default=100_000)
    args = parser.parse_args()
    for run in ("sessions", "calls", "notes"):
        # A fresh engine for each flood: one's leftovers do not count against the next.
        b = bh.Bench(args.binary, Path(tempfile.mkdtemp(prefix=f"cordon-flood-{run}-")))
        b.start()
        try:
            if run == "sessions" and args.sessions:
                sessions(b, args.sessions)
            elif run == "calls" and args.calls:
                calls(b, args.binary, args.calls, args.size, args.read_after)
            elif run == "notes" and args.notes:
                notes(b, args.binary, args.notes)
        finally:
            b.stop()


if __name__ == "__main__":
    main()
