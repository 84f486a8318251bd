"""Real team stores for the fleet tests: a private PostgreSQL server and an OTLP/HTTP receiver.

PostgreSQL is Debian's server binaries (`postgresql` package, installed by scripts/install-deps),
run on a private data directory and Unix socket directory with a random TCP port on 127.0.0.1.
As root (CI), the server runs as the `postgres` OS user, since PostgreSQL refuses to run as root.
The OTLP receiver is an HTTP server in this process that decodes each `ExportLogsServiceRequest`
with the official `opentelemetry-proto` package and keeps the log records it received.
"""

from __future__ import annotations

import glob
import http.server
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from cordon_e2e import free_port

DEADLINE = 60.0


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert found, f"PostgreSQL's {name} not found under /usr/lib/postgresql/*/bin: run scripts/install-deps --test"
    return found[-1]


class Postgres:
    """A private PostgreSQL server: superuser `postgres` (trust on the socket) and a password role
    for shipping. Stop/start keep the data (for the outage tests)."""

    SHIP_ROLE = "cordon_ship"
    SHIP_PASSWORD = "ship-" + os.urandom(8).hex()

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="cordon-pg-"))
        self.data = self.dir / "data"
        self.sockets = self.dir / "run"
        self.sockets.mkdir()
        self.port = free_port()
        self.log = self.dir / "postgres.log"
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            uid = pwd.getpwnam(self.user).pw_uid
            gid = pwd.getpwnam(self.user).pw_gid
            for p in (self.dir, self.sockets):
                os.chown(p, uid, gid)
        self._run(pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()
        self.psql_admin("CREATE DATABASE cordon")
        self.psql_admin(f"CREATE ROLE {self.SHIP_ROLE} LOGIN PASSWORD '{self.SHIP_PASSWORD}'")

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(argv)
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DEADLINE, cwd=self.dir)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{self.tail()}")
        return proc

    def tail(self) -> str:
        try:
            return self.log.read_text()[-4000:]
        except OSError:
            return ""

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, role: str = "postgres", password: str | None = None) -> str:
        auth = f"{role}:{password}" if password else role
        return f"postgres://{auth}@127.0.0.1:{self.port}/cordon?sslmode=disable"

    def ship_url(self) -> str:
        return self.url(self.SHIP_ROLE, self.SHIP_PASSWORD)

    def psql(self, sql: str, *, role: str = "postgres", check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run(
            pg_bin("psql"), "-X", "-q", "-A", "-t", "-h", str(self.sockets), "-p", str(self.port),
            "-U", role, "-d", "cordon", "-v", "ON_ERROR_STOP=1", "-c", sql, check=check,
        )

    def psql_admin(self, sql: str) -> str:
        return self._run(
            pg_bin("psql"), "-X", "-q", "-A", "-t", "-h", str(self.sockets), "-p", str(self.port),
            "-U", "postgres", "-d", "postgres" if "DATABASE" in sql else "cordon", "-c", sql,
        ).stdout

    def scalar(self, sql: str) -> str:
        return self.psql(sql).stdout.strip()


class OtlpReceiver:
    """OTLP/HTTP logs receiver: decodes the protobuf payloads; can be switched to failing (503)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.requests = 0
        self.failing = False
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    receiver.requests += 1
                    failing = receiver.failing
                if failing or self.path != "/v1/logs" or self.headers.get("content-type") != "application/x-protobuf":
                    self.send_response(503 if failing else 400)
                    self.end_headers()
                    return
                request = ExportLogsServiceRequest()
                request.ParseFromString(body)
                got = []
                for rl in request.resource_logs:
                    resource = {kv.key: kv.value.string_value for kv in rl.resource.attributes}
                    for sl in rl.scope_logs:
                        for lr in sl.log_records:
                            attrs = {}
                            for kv in lr.attributes:
                                v = kv.value
                                attrs[kv.key] = v.int_value if v.HasField("int_value") else v.string_value
                            got.append({
                                "resource": resource, "scope": sl.scope.name, "event": lr.event_name,
                                "severity": lr.severity_text, "time": lr.time_unix_nano,
                                "body": lr.body.string_value, "attributes": attrs,
                                "authorization": self.headers.get("authorization"),
                            })
                with receiver.lock:
                    receiver.records.extend(got)
                payload = ExportLogsServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}/v1/logs"

    def events(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.records if r["event"] == name]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_until(predicate: Any, what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    last: Any = None
    while time.monotonic() < end:
        last = predicate()
        if last:
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
