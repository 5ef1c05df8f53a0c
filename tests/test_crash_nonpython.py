"""The strace backend is black-box: the same crash points for a shell script and Node.js."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from migration_harness.crash import StraceBackend
from migration_harness.crash._strace import strace_unavailable_reason

pytestmark = pytest.mark.skipif(
    strace_unavailable_reason() is not None, reason=str(strace_unavailable_reason())
)

OLD, NEW = b"old\n", b"new\n"


def fresh_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir()
    (repo / "data").write_bytes(OLD)
    return repo


def states(backend: StraceBackend, args: list[str], tmp_path: Path) -> list[dict[str, bytes]]:
    """Enumerate, then crash at every point on a fresh repo; the repo state after each."""
    points = backend.enumerate(args, cwd=tmp_path, repo=fresh_repo(tmp_path), timeout=60)
    seen = []
    for point in points:
        repo = fresh_repo(tmp_path)
        result = backend.crash_at(point, args, cwd=tmp_path, repo=repo, timeout=60)
        assert result.returncode != 0, f"{point.describe()} did not kill:\n{result.describe()}"
        seen.append({item.name: item.read_bytes() for item in sorted(repo.iterdir())})
    return seen


def test_shell_script_write_then_mv(tmp_path: Path) -> None:
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no sh on PATH")
    script = tmp_path / "migrate.sh"
    script.write_text('printf "new\\n" > "$1/data.tmp"\nmv "$1/data.tmp" "$1/data"\n')
    args = [sh, str(script), str(tmp_path / "repo")]
    backend = StraceBackend()
    points = backend.enumerate(args, cwd=tmp_path, repo=fresh_repo(tmp_path), timeout=60)
    assert [Path(p.path).name for p in points] == ["data.tmp"] * len(points)
    assert points[0].syscall == "openat" and points[1].syscall == "write"
    # coreutils mv tries renameat2(RENAME_NOREPLACE) first, then renameat: both are points
    renames = points[2:]
    assert renames and all(p.syscall.startswith("rename") for p in renames)
    assert all(p.process == 2 for p in renames), "mv runs as a child of the shell"
    expected = [
        {"data": OLD},
        {"data": OLD, "data.tmp": b""},
        *[{"data": OLD, "data.tmp": NEW}] * len(renames),
    ]
    assert states(backend, args, tmp_path) == expected
    assert states(backend, args, tmp_path) == expected


NODE_INPLACE = """
const fs = require("fs");
const path = require("path");
const file = path.join(process.argv[2], "data");
const fd = fs.openSync(file, "w");   // truncates: the old data is gone from here on
fs.writeSync(fd, "new\\n");
fs.fsyncSync(fd);
fs.closeSync(fd);
"""


def test_node_in_place_write_loses_data_at_the_same_point(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = tmp_path / "migrate.js"
    script.write_text(textwrap.dedent(NODE_INPLACE))
    args = [node, str(script), str(tmp_path / "repo")]
    backend = StraceBackend()
    points = backend.enumerate(args, cwd=tmp_path, repo=fresh_repo(tmp_path), timeout=60)
    assert [(p.syscall, Path(p.path).name) for p in points] == [
        ("openat", "data"),
        ("write", "data"),
        ("fsync", "data"),
    ]
    expected = [{"data": OLD}, {"data": b""}, {"data": NEW}]
    assert states(backend, args, tmp_path) == expected
    assert states(backend, args, tmp_path) == expected
