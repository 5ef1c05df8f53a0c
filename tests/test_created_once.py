"""Repos created once per run and copied for each case, where that is safe."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from migration_harness.contract.created import _mentions
from tests.specfiles import CHECK_RUNS, check, summary_row

SHTOOL = Path(__file__).parent / "tools" / "shtool"
CONTRACTS = ("--contract", "forward", "idempotent", "ahead", "stale-lock")

posix_sh = pytest.mark.skipif(sys.platform == "win32", reason="shtool is a POSIX sh tool")


def shtool(tmp_path: Path, *edits: tuple[str, str], spec_extra: str = "") -> Path:
    """A copy of shtool whose `init` logs each repo it creates to ``created.log``."""
    tool_dir = tmp_path / "shtool"
    tool_dir.mkdir()
    source = (SHTOOL / "shtool").read_text(encoding="utf-8")
    log = '    echo "$repo $v" >> "$SHTOOL_LOG"\n'
    edits = (('    mkdir -p "$repo"\n', '    mkdir -p "$repo"\n' + log), *edits)
    for old, new in edits:
        assert old in source
        source = source.replace(old, new)
    (tool_dir / "shtool").write_text(source, encoding="utf-8")
    text = (SHTOOL / "migration-harness.toml").read_text(encoding="utf-8")
    env = f'env = {{ SHTOOL_LOG = "{tmp_path / "created.log"}" }}\n'
    (tool_dir / "migration-harness.toml").write_text(text + env + spec_extra, encoding="utf-8")
    return tool_dir / "migration-harness.toml"


def created(tmp_path: Path) -> list[str]:
    return (tmp_path / "created.log").read_text(encoding="utf-8").splitlines()


def passed(stdout: str) -> int:
    """How many cases passed, from the verdict line (every case starts with a create)."""
    found = re.search(r"check: PASSED: \S+: (\d+) passed", stdout)
    assert found, stdout[-4000:]
    return int(found[1])


@posix_sh
@CHECK_RUNS
def test_each_version_is_created_once_per_run_and_copied_for_each_case(tmp_path: Path) -> None:
    spec = shtool(tmp_path)
    result = check("--config", str(spec), *CONTRACTS, "-j", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    versions = sorted(line.split()[-1] for line in created(tmp_path))
    # Two workers share the created repos: one create per version the cases start from.
    assert versions == sorted(set(versions)), created(tmp_path)
    assert len(versions) < passed(result.stdout)
    assert summary_row(result.stdout, "forward")[:4] == ["2", "2", "0", "0"]


@posix_sh
@CHECK_RUNS
def test_create_once_false_creates_in_every_case(tmp_path: Path) -> None:
    spec = shtool(tmp_path, spec_extra="create_once = false\n")
    result = check("--config", str(spec), *CONTRACTS, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    assert len(created(tmp_path)) >= passed(result.stdout)


@posix_sh
@CHECK_RUNS
def test_a_repo_holding_its_own_path_is_created_in_every_case(tmp_path: Path) -> None:
    # Like a config naming its database file: a copy would migrate the original.
    spec = shtool(
        tmp_path,
        ('    mkdir -p "$repo"\n', '    mkdir -p "$repo"\n    echo "$repo" > "$repo/home"\n'),
        (
            "    to=${3:?target version}\n",
            '    to=${3:?target version}\n    repo=$(cat "$repo/home")\n',
        ),
    )
    result = check("--config", str(spec), *CONTRACTS, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    repos = [line.split()[0] for line in created(tmp_path)]
    assert len(set(repos)) >= passed(result.stdout)  # each case's own, created where it lives


@posix_sh
@CHECK_RUNS
def test_a_create_that_writes_beside_the_repo_runs_in_every_case(tmp_path: Path) -> None:
    spec = shtool(
        tmp_path,
        ('    mkdir -p "$repo"\n', '    mkdir -p "$repo"\n    touch "$repo.created"\n'),
    )
    result = check("--config", str(spec), *CONTRACTS, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    assert len(created(tmp_path)) >= passed(result.stdout)


def test_a_repo_mentions_its_path_in_utf8_utf16_or_a_link(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / "sub" / "data").write_bytes(b"\x00plain data\x00")
    assert not _mentions(repo, [str(repo)])
    (repo / "sub" / "conf").write_bytes(str(repo).encode("utf-16-le"))
    assert _mentions(repo, [str(repo)])
    (repo / "sub" / "conf").unlink()
    try:
        os.symlink(repo / "sub" / "data", repo / "link")
    except OSError:  # Windows without the symlink privilege
        return
    if not (repo / "link").is_symlink():
        return  # Wine: the call succeeds without making a link Windows Python sees
    assert _mentions(repo, [str(repo)])


@posix_sh
@CHECK_RUNS
def test_a_create_that_fails_is_the_tools_failure_in_every_case_not_a_harness_error(
    tmp_path: Path,
) -> None:
    # The first case that asks for a created repo sees `create` fail; the others must not
    # trip over the half-made repo it left (FileExistsError was a harness error).
    failing = ('    mkdir -p "$repo"\n', '    mkdir -p "$repo"\n    echo "disk full" >&2; exit 3\n')
    spec = shtool(tmp_path, failing)
    result = check("--config", str(spec), *CONTRACTS, "-j", "2", cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-4000:]
    assert "could not run" not in result.stdout, result.stdout[-4000:]
    assert "FileExistsError" not in result.stdout + result.stderr
    assert summary_row(result.stdout, "forward")[:3] == ["2", "0", "2"]
    assert "disk full" in result.stdout
