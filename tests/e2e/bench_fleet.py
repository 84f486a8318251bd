"""Fleet benchmark (not a test): per-call latency with evidence shipping on vs off, side by side in one
run, and the shipping throughput of `cordon fleet ship`.

    tests/e2e/.venv/bin/python tests/e2e/bench_fleet.py [--calls 400] [--backlog 3000]

Two engines with the same upstream (server-everything's `echo`) and policy, one shipping to a private
PostgreSQL server every 100 ms, the other not; calls alternate between them from the official Python
SDK so machine noise hits both alike. Then a backlog of records is shipped in one `cordon fleet ship`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cordon_e2e import Engine, cordon_bin, run  # noqa: E402
from fleet_stores import Postgres  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--backlog", type=int, default=3000)
    args = parser.parse_args()
    pg = Postgres()
    root = Path(tempfile.mkdtemp(prefix="cordon-bench-fleet-"))
    try:
        subprocess.run([str(cordon_bin()), "fleet", "setup", "--store", pg.url(), "--grant", Postgres.SHIP_ROLE], check=True, capture_output=True)
        fleet = f"fleet:\n  machine: bench-on\n  postgres: \"{pg.ship_url()}\"\n  interval: 100ms\n"
        on = Engine(root / "on", label="fleet on", servers=("everything",), http=False, extra_config=fleet)
        off = Engine(root / "off", label="fleet off", servers=("everything",), http=False)
        lat: dict[str, list[float]] = {"on": [], "off": []}

        async def calls() -> None:
            async with on.stdio() as s_on, off.stdio() as s_off:
                for i in range(args.calls):
                    for name, session in (("on", s_on), ("off", s_off)) if i % 2 == 0 else (("off", s_off), ("on", s_on)):
                        t = time.perf_counter()
                        await session.call_tool("everything__echo", {"message": f"bench {i}"})
                        lat[name].append((time.perf_counter() - t) * 1000)

        run(calls)
        for name in ("off", "on"):
            v = lat[name]
            print(f"fleet {name:3}: {len(v)} calls, median {statistics.median(v):.3f} ms, p99 {pct(v, 99):.3f} ms")
        print(f"added by shipping: median {statistics.median(lat['on']) - statistics.median(lat['off']):+.3f} ms")

        # Throughput: a backlog written with shipping off, then one `cordon fleet ship`.
        backlog = Engine(root / "backlog", label="backlog", servers=("everything",), http=False)

        async def fill() -> None:
            async with backlog.stdio() as s:
                for i in range(args.backlog):
                    await s.call_tool("everything__echo", {"message": f"backlog {i}"})

        run(fill)
        backlog.stop()
        (backlog.config).write_text(backlog.config.read_text() + f"fleet:\n  machine: bench-backlog\n  postgres: \"{pg.ship_url()}\"\n")
        t = time.perf_counter()
        out = subprocess.run([str(cordon_bin()), "fleet", "ship", "--config", str(backlog.config)], capture_output=True, text=True, env=backlog.env)
        took = time.perf_counter() - t
        shipped = int(pg.scalar("SELECT count(*) FROM cordon_records WHERE machine = 'bench-backlog'"))
        print(out.stdout.strip() or out.stderr.strip())
        print(f"shipping throughput: {shipped} records in {took:.2f} s = {shipped / took:.0f} records/s")
        on.stop()
        off.stop()
    finally:
        pg.destroy()


if __name__ == "__main__":
    main()
