"""The throwaway database servers: how long a server takes to start, a fresh database
to make, and the whole contract against the tests' SQL migrator on PostgreSQL.

- ``pg_start_s``: ``start_server("postgresql")``, initdb included (target at most 3 s).
- ``pg_db_ms``: one ``create_database()`` on a running PostgreSQL (at most 100 ms).
- ``mariadb_start_s``: ``start_server("mariadb")``, the data directory's set-up included.
- ``check_pg_s``: ``migration-harness check`` against ``tests/tools/sqlmigrator`` on
  PostgreSQL, every contract, as a user runs it.

A figure whose server is not installed is left out with the reason.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.common import Measured, Settings
from bench.stats import median, to_ms

__all__ = ["measure_check_pg", "measure_servers"]

MIGRATOR_SPEC = Path(__file__).resolve().parents[1] / "tests" / "tools" / "sqlmigrator"
CHECK_TIMEOUT_S = 1800


def _timed_start(engine: str) -> tuple[float, object]:
    from migration_harness.databases import start_server

    started = time.perf_counter()
    server = start_server(engine)
    return time.perf_counter() - started, server


def measure_servers(settings: Settings) -> Measured:
    from migration_harness.databases import DatabaseUnavailable, Server

    out = Measured()
    runs = settings.runs(5, 2)
    for engine, key in (("postgresql", "pg_start_s"), ("mariadb", "mariadb_start_s")):
        starts: list[float] = []
        try:
            for _ in range(runs):
                seconds, server = _timed_start(engine)
                assert isinstance(server, Server)
                starts.append(seconds)
                if engine == "postgresql" and "pg_db_ms" not in out.values:
                    out.values["pg_db_ms"] = _create_ms(server, settings.runs(30, 8))
                server.stop()
        except DatabaseUnavailable as exc:
            out.values[key] = None
            out.skipped[key] = f"{engine} is not installed: {exc}"
            if engine == "postgresql":
                out.values["pg_db_ms"] = None
                out.skipped["pg_db_ms"] = out.skipped[key]
            continue
        out.values[key] = median(starts)
    return out


def _create_ms(server: object, runs: int) -> float:
    from migration_harness.databases import Server

    assert isinstance(server, Server)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        server.create_database()
        times.append(time.perf_counter() - started)
    return to_ms(median(times))


def measure_check_pg(settings: Settings) -> Measured:
    out = Measured()
    command = [
        sys.executable, "-m", "migration_harness", "check",
        "--config", str(MIGRATOR_SPEC / "postgresql.toml"),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=settings.workdir, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S
    )
    seconds = time.perf_counter() - started
    if done.returncode == 2 and "target.database" in done.stderr:
        out.values["check_pg_s"] = None
        out.skipped["check_pg_s"] = done.stderr.strip().splitlines()[-1]
        return out
    if done.returncode != 0:
        raise RuntimeError(f"check on PostgreSQL did not pass:\n{done.stdout[-2000:]}{done.stderr}")
    out.values["check_pg_s"] = seconds
    return out
