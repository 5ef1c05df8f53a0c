"""The strace backend on a database server: each statement a client sends is a crash point,
and the client is killed as it sends that statement, the same way every run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from migration_harness.crash import StraceBackend
from migration_harness.crash._strace import strace_unavailable_reason
from migration_harness.crash._strace_plan import plan_points
from migration_harness.crash._strace_trace import parse_trace
from migration_harness.fixtures import Database
from tests import sub

# strace and its traces are Linux's: their paths are POSIX paths.
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the strace backend is Linux's")
MIGRATOR = Path(__file__).parent / "tools" / "sqlmigrator" / "migrator.py"
needs_strace = pytest.mark.skipif(
    strace_unavailable_reason() is not None, reason=str(strace_unavailable_reason())
)

# As strace -f -yy prints them: a libpq-style client (sendto) and a file write beside it.
TRACE = [
    '700 openat(AT_FDCWD</w>, "/w/repo/log", O_WRONLY|O_CREAT, 0644) = 4</w/repo/log>\n',
    '700 sendto(3<TCP:[127.0.0.1:40312->127.0.0.1:5432]>, "Q\\0\\0\\0\\26begin transaction\\0",'
    " 23, MSG_NOSIGNAL, NULL, 0) = 23\n",
    '700 sendto(5<TCP:[127.0.0.1:40400->10.0.0.9:53]>, "\\1\\2", 2, 0, NULL, 0) = 2\n',
    '700 write(3<TCP:[127.0.0.1:40312->127.0.0.1:5432]>, "Q\\0\\0\\0\\37ALTER TABLE note'
    ' ADD slug text\\0", 32) = 32\n',
]


def test_sends_to_the_server_are_points_and_other_sockets_are_not() -> None:
    calls = parse_trace(TRACE)
    assert [c.peer for c in calls] == ["", "127.0.0.1:5432", "10.0.0.9:53", "127.0.0.1:5432"]
    points, unreachable = plan_points(calls, Path("/w/repo"), peers=frozenset({"127.0.0.1:5432"}))
    assert not unreachable
    described = [p.describe() for p in points]
    assert described[0].startswith("crash point 1: openat /w/repo/log")
    assert 'sends "begin transaction" to the server' in described[1]
    assert 'sends "ALTER TABLE note ADD slug text" to the server' in described[2]
    assert len(points) == 3, described
    # -P selects paths, not sockets: a send is reached by counting its syscall instead
    assert [(i.syscall, i.nth, i.paths) for i in points[2].injections] == [("write", 1, ())]


def test_without_a_server_sends_are_not_points() -> None:
    points, _ = plan_points(parse_trace(TRACE), Path("/w/repo"))
    assert [p.syscall for p in points] == ["openat"]


def _migrator(database: Database, *args: str) -> list[str]:
    return [sys.executable, str(MIGRATOR), args[0], database.url, *args[1:]]


@needs_strace
def test_a_client_killed_as_it_sends_a_statement_leaves_its_transaction_undone(
    postgres: Database, tmp_path: Path
) -> None:
    sub.run(_migrator(postgres, "create", "0"), check=True, capture_output=True)
    pristine = postgres.server.create_database(template=postgres.name)
    server = f"{postgres.server.host}:{postgres.server.port}"
    backend = StraceBackend(servers=[server], max_points=1000)
    repo = tmp_path / "repo"
    repo.mkdir()

    def restore() -> None:
        postgres.server.drop_database(postgres.name)
        postgres.server.create_database(postgres.name, template=pristine.name)

    migrate = _migrator(postgres, "migrate", "--to", "3")
    points = backend.enumerate(migrate, repo=repo, restore_data=restore)
    alter = [p for p in points if "ALTER TABLE note ADD COLUMN" in p.detail]
    assert len(alter) == 1, "\n".join(p.describe() for p in points)
    assert postgres.sql("SELECT version FROM mh_version").strip() == "0"  # put back

    for _run in range(2):  # the same call, every run
        result = backend.crash_at(alter[0], migrate, repo=repo, restore_data=restore)
        assert result.returncode != 0, result.describe()
        # PostgreSQL rolls the killed client's transaction back: still version 0, no slug
        assert postgres.sql("SELECT version, pending FROM mh_version").split() == ["0"]
        assert "slug" not in postgres.dump()
        restore()
