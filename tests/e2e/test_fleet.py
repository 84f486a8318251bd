"""Fleet: one evidence trail for a team's machines (issue 18).

Real parts only: two `cordon serve` engines standing in for two laptops, each shipping to a private
PostgreSQL server (Debian's binaries) and to an OTLP/HTTP receiver that decodes the protobuf payloads
with the official `opentelemetry-proto` package; calls made with the official MCP SDK through
`cordon mcp`; the team side read back with `cordon log list|session|verify --store`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cordon_e2e import CLI_TIMEOUT, Engine, cordon_bin, describe, run, yaml_str
from fleet_stores import OtlpReceiver, Postgres, wait_until

OTLP_TOKEN = "Bearer team-siem-token"


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    server = Postgres()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


def cordon(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(cordon_bin()), *args], capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"cordon CLI failed\n{describe(proc)}")
    return proc


@pytest.fixture(scope="module")
def store(pg: Postgres) -> str:
    """The team store, set up once by its owner; machines ship as a role that may only insert."""
    out = cordon("fleet", "setup", "--store", pg.url(), "--grant", Postgres.SHIP_ROLE)
    assert "insert and select only" in out.stdout
    return pg.url()


def fleet_config(machine: str, pg: Postgres, otlp: OtlpReceiver | None) -> str:
    lines = ["fleet:", f"  machine: {yaml_str(machine)}", f"  postgres: {yaml_str(pg.ship_url())}", "  interval: 100ms"]
    if otlp is not None:
        lines += [f"  otlp: {yaml_str(otlp.url)}", "  otlp_headers:", f"    authorization: {yaml_str(OTLP_TOKEN)}"]
    return "\n".join(lines) + "\n"


def laptop(factory: Callable[..., Engine], machine: str, pg: Postgres, otlp: OtlpReceiver | None) -> Engine:
    return factory(servers=("everything",), http=False, extra_config=fleet_config(machine, pg, otlp))


def echo(engine: Engine, n: int, tag: str) -> None:
    async def scenario() -> None:
        async with engine.stdio() as session:
            for i in range(n):
                result = await session.call_tool("everything__echo", {"message": f"{tag} {i}"})
                assert not result.is_error, result

    run(scenario)


def local_ids(engine: Engine) -> list[tuple[int, str]]:
    """Every local record, through `cordon log` (it folds the journal first: a plain SELECT on
    `records` misses the records still in the journal)."""
    return [(int(r["seq"]), str(r["id"])) for r in engine.log(intents=True)]


def stored_ids(pg: Postgres, machine: str) -> list[tuple[int, str]]:
    rows = pg.scalar(f"SELECT seq || ' ' || id FROM cordon_records WHERE machine = '{machine}' ORDER BY seq")
    return [(int(s), i) for s, i in (line.split() for line in rows.splitlines() if line.strip())]


def public_key_hex(engine: Engine) -> str:
    """The key a laptop reports to its team: `cordon log key` (second line: the hex public key)."""
    env = dict(engine.env, CORDON_CONFIG=str(engine.config), CORDON_SIGNING_KEY=f"file:{engine.root / 'signing.key'}")
    proc = subprocess.run([str(cordon_bin()), "log", "key"], capture_output=True, text=True, env=env,
                          timeout=CLI_TIMEOUT, check=False)
    lines = proc.stdout.split()
    assert proc.returncode == 0 and len(lines) == 2, describe(proc)
    return lines[1]


def wait_shipped(pg: Postgres, engine: Engine, machine: str) -> None:
    wait_until(lambda: stored_ids(pg, machine) == local_ids(engine) and local_ids(engine), f"{machine}'s records in the store")


def test_two_laptops_one_trail(engine_factory: Callable[..., Engine], pg: Postgres, otlp: OtlpReceiver, store: str) -> None:
    alice = laptop(engine_factory, "alice-laptop", pg, otlp)
    bob = laptop(engine_factory, "bob-laptop", pg, otlp)
    echo(alice, 5, "alice")
    echo(bob, 7, "bob")
    wait_shipped(pg, alice, "alice-laptop")
    wait_shipped(pg, bob, "bob-laptop")
    # Stopping writes the shutdown checkpoint; the shipper's last pass sends it too.
    alice.stop()
    bob.stop()
    wait_shipped(pg, alice, "alice-laptop")
    assert pg.scalar("SELECT count(*) FROM cordon_checkpoints WHERE machine = 'bob-laptop'") != "0"

    # Fleet verify against the keys the team pinned, per machine.
    keys = [f"--trusted-key=alice-laptop={public_key_hex(alice)}", f"--trusted-key=bob-laptop={public_key_hex(bob)}"]
    out = cordon("log", "verify", "--store", store, *keys)
    assert "fleet ok: 2 machine(s)" in out.stdout, out.stdout
    # A key pinned for the wrong machine is a finding, naming the machine.
    wrong = cordon("log", "verify", "--store", store, f"--trusted-key=alice-laptop={public_key_hex(bob)}",
                   f"--trusted-key=bob-laptop={public_key_hex(bob)}", check=False)
    assert wrong.returncode == 1, describe(wrong)
    assert "fleet FAILED: alice-laptop" in wrong.stdout

    # One query across machines and agents; one machine; one session in order.
    rows = json.loads(cordon("log", "list", "--store", store, "--limit", "100", "--json").stdout)
    machines = {r["machine"] for r in rows}
    assert {"alice-laptop", "bob-laptop"} <= machines
    only_bob = json.loads(cordon("log", "list", "--store", store, "--machine", "bob-laptop", "--json").stdout)
    assert only_bob and all(r["machine"] == "bob-laptop" for r in only_bob)
    session = next(r["record"]["session_id"] for r in only_bob if r["record"]["tool"] == "echo")
    trail = json.loads(cordon("log", "session", session, "--store", store, "--json").stdout)
    seqs = [r["record"]["seq"] for r in trail]
    assert seqs == sorted(seqs) and len(trail) >= 7
    table = cordon("log", "list", "--store", store).stdout
    assert "alice-laptop" in table and "bob-laptop" in table

    # The SIEM got every record once or more, decoded, with the fields people filter on.
    for engine, machine in ((alice, "alice-laptop"), (bob, "bob-laptop")):
        want = {i for _, i in local_ids(engine)}
        wait_until(lambda: want <= {r["attributes"]["cordon.record.id"] for r in otlp.events("cordon.evidence.record")
                                    if r["attributes"]["cordon.machine"] == machine}, f"{machine} in OTLP")
    sample = next(r for r in otlp.events("cordon.evidence.record") if r["attributes"]["cordon.machine"] == "bob-laptop")
    assert sample["resource"]["service.name"] == "cordon" and sample["resource"]["host.name"] == "bob-laptop"
    assert sample["authorization"] == OTLP_TOKEN
    assert json.loads(sample["body"])["id"] == sample["attributes"]["cordon.record.id"]
    assert otlp.events("cordon.evidence.checkpoint")


def test_the_shipping_role_can_neither_change_nor_remove_evidence(pg: Postgres, store: str, engine_factory: Callable[..., Engine]) -> None:
    frank = laptop(engine_factory, "frank-laptop", pg, None)
    echo(frank, 2, "frank")
    wait_shipped(pg, frank, "frank-laptop")
    for sql in ("UPDATE cordon_records SET decision = 'allow'", "DELETE FROM cordon_records",
                "TRUNCATE cordon_records", "DELETE FROM cordon_checkpoints", "UPDATE cordon_keys SET line = ''"):
        as_shipper = pg.psql(sql, role=Postgres.SHIP_ROLE, check=False)
        assert as_shipper.returncode != 0 and "permission denied" in as_shipper.stderr, (sql, as_shipper.stderr)
        # Even the owner is stopped by the append-only trigger.
        as_owner = pg.psql(sql, check=False)
        assert as_owner.returncode != 0 and "append-only" in as_owner.stderr, (sql, as_owner.stderr)


def test_store_outage_loses_and_duplicates_nothing(engine_factory: Callable[..., Engine], pg: Postgres, otlp: OtlpReceiver, store: str) -> None:
    carol = laptop(engine_factory, "carol-laptop", pg, otlp)
    echo(carol, 3, "before")
    wait_shipped(pg, carol, "carol-laptop")
    pg.stop()
    otlp.failing = True
    try:
        # Calls keep working while both stores are down: shipping never blocks a call.
        echo(carol, 20, "during")
    finally:
        pg.start()
        otlp.failing = False
    echo(carol, 3, "after")
    wait_shipped(pg, carol, "carol-laptop")
    shipped = stored_ids(pg, "carol-laptop")
    assert [s for s, _ in shipped] == list(range(1, len(shipped) + 1)), "gap or duplicate in the store"
    assert pg.scalar("SELECT count(*) - count(DISTINCT id) FROM cordon_records") == "0"
    want = {i for _, i in local_ids(carol)}
    wait_until(lambda: want <= {r["attributes"]["cordon.record.id"] for r in otlp.events("cordon.evidence.record")},
               "carol's records in OTLP after the outage")
    carol.stop()
    wait_shipped(pg, carol, "carol-laptop")
    out = cordon("log", "verify", "--store", store, "--machine", "carol-laptop",
                 f"--trusted-key=carol-laptop={public_key_hex(carol)}")
    assert "fleet ok: 1 machine(s)" in out.stdout, out.stdout


def test_fleet_verify_names_a_tampered_record(engine_factory: Callable[..., Engine], pg: Postgres, store: str) -> None:
    dave = laptop(engine_factory, "dave-laptop", pg, None)
    echo(dave, 4, "dave")
    dave.stop()
    wait_shipped(pg, dave, "dave-laptop")
    key = f"--trusted-key=dave-laptop={public_key_hex(dave)}"
    assert cordon("log", "verify", "--store", store, "--machine", "dave-laptop", key).returncode == 0
    seq, record_id = stored_ids(pg, "dave-laptop")[2]
    line = f"SELECT line FROM cordon_records WHERE machine = 'dave-laptop' AND seq = {seq}"
    before = pg.scalar(line)
    # Someone with the owner's rights switches the trigger off and rewrites one call's arguments.
    pg.psql(
        "ALTER TABLE cordon_records DISABLE TRIGGER cordon_records_append_only; "
        f"UPDATE cordon_records SET line = regexp_replace(line, 'dave [0-9]', 'dave X') WHERE machine = 'dave-laptop' AND seq = {seq}; "
        "ALTER TABLE cordon_records ENABLE TRIGGER cordon_records_append_only;"
    )
    assert pg.scalar(line) != before, before
    bad = cordon("log", "verify", "--store", store, key, check=False)
    assert bad.returncode == 1, describe(bad)
    assert "fleet FAILED: dave-laptop" in bad.stdout
    assert f"record {seq} ({record_id})" in bad.stdout, bad.stdout
    report = json.loads(cordon("log", "verify", "--store", store, "--machine", "dave-laptop", key, "--json", check=False).stdout)
    assert report[0]["report"]["failure"]["id"] == record_id


def test_a_reset_log_is_not_mixed_into_its_old_chain(engine_factory: Callable[..., Engine], pg: Postgres, store: str) -> None:
    erin = laptop(engine_factory, "erin-laptop", pg, None)
    echo(erin, 2, "old")
    erin.stop()
    wait_shipped(pg, erin, "erin-laptop")
    before = stored_ids(pg, "erin-laptop")
    erin.evidence.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{erin.evidence}{suffix}").unlink(missing_ok=True)
    erin.start()
    echo(erin, 3, "new")
    erin.stop()
    # The outbox remembers the hash it shipped last: the new chain does not continue the old one.
    out = erin.cli("fleet", "ship", check=False)
    assert out.returncode == 1, describe(out)
    assert "reset or replaced" in out.stderr and "fleet.machine" in out.stderr
    # Without the outbox either, the store itself refuses a different record at a stored position.
    Path(f"{erin.evidence}-fleet").unlink()
    out = erin.cli("fleet", "ship", check=False)
    assert out.returncode == 1, describe(out)
    assert "reset or replaced" in out.stderr
    assert stored_ids(pg, "erin-laptop") == before


def test_a_fleet_section_without_a_store_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "cordon.yaml"
    config.write_text("fleet:\n  machine: x\n")
    proc = cordon("fleet", "status", "--config", str(config), check=False)
    assert proc.returncode != 0 and "name a team store" in proc.stderr, describe(proc)


def test_store_list_applies_every_filter(engine_factory: Callable[..., Engine], pg: Postgres, store: str) -> None:
    """`cordon log list --store` applies --action/--outcome/--since/--until/--after-seq in the store
    query, as the local list does (it used to ignore them and print everything)."""
    fran = laptop(engine_factory, "fran-laptop", pg, None)
    echo(fran, 4, "fran")
    wait_shipped(pg, fran, "fran-laptop")
    local = [(int(r["seq"]), str(r["action"]), str(r["outcome"])) for r in fran.log(intents=True)]
    echoes = sorted((s for s, a, _ in local if a == "job.mcp-bridge.tool.everything.echo"), reverse=True)
    allowed = sorted((s for s, _, o in local if o == "allowed"), reverse=True)
    assert len(echoes) >= 4, local  # write-ahead: an intent and an outcome per call

    def seqs(*args: str) -> list[int]:
        rows = json.loads(cordon("log", "list", "--store", store, "--machine", "fran-laptop", "--limit", "100",
                                 "--json", *args).stdout)
        assert all(r["machine"] == "fran-laptop" for r in rows)
        return sorted((r["record"]["seq"] for r in rows), reverse=True)

    assert seqs("--action", "tool.everything.*") == echoes
    assert seqs("--action", "job.mcp-bridge.tool.>") == echoes
    assert seqs("--action", "git.*") == []
    assert seqs("--action", "tool.every.hing.*") == []  # a dot is not a wildcard
    assert seqs("--outcome", "allowed") == allowed
    assert seqs("--outcome", "denied") == [s for s, _, o in reversed(local) if o == "denied"]
    assert seqs("--since", "2999-01-01") == []
    assert seqs("--until", "2999-01-01") == sorted((s for s, _, _ in local), reverse=True)
    assert seqs("--since", "1h", "--action", "tool.everything.echo") == echoes
    assert seqs("--after-seq", str(echoes[1]), "--action", "tool.everything.*") == echoes[2:]
    # A seq means nothing across machines: refused, not ignored.
    refused = cordon("log", "list", "--store", store, "--after-seq", "3", check=False)
    assert refused.returncode != 0 and "--after-seq with --store needs --machine" in refused.stderr, describe(refused)
