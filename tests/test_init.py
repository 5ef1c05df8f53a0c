"""``migration-harness init``: scaffolding, run as a real command in a temporary project."""

from __future__ import annotations

import ast
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

import migration_harness
from migration_harness import __version__, spec
from migration_harness.mockbin import build_mock
from migration_harness.origin import find_origin, git_requirement, index_requirement, workflow_ref
from migration_harness.scaffold import NOX_FILE, SPEC_FILE, WORKFLOW_FILE
from migration_harness.target import REFERENCE_SPEC, SpecError
from migration_harness.windows import running_under_wine
from tests import sub

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TIMEOUT_S = 120
SCAFFOLD = (SPEC_FILE, WORKFLOW_FILE, NOX_FILE)


def init(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return sub.run(
        [sys.executable, "-m", "migration_harness", "init", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT_S,
        check=False,
    )


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def uncomment_everything(text: str) -> str:
    """The starter with every commented-out example key switched on (first one per key)."""
    out, seen, table = [], set(), "target"
    for line in text.splitlines():
        match = re.match(r"^# ((\[[\w.]+\])|([a-z_]+) = .*)$", line)
        if match:
            if match.group(2):
                table = match.group(2).strip("[]")
            key = (table, match.group(3))
            if match.group(3) and key in seen:
                continue
            seen.add(key)
            line = match.group(1)
        elif match is None and re.match(r"^([a-z_]+) = ", line):
            seen.add((table, line.split(" = ")[0]))
        out.append(line)
    return "\n".join(out) + "\n"


def mentioned_keys(text: str) -> set[str]:
    """Keys the starter sets or shows in a comment, as ``key`` or ``daemon.key`` (and
    ``database.key``)."""
    keys, prefix = set(), ""
    for line in text.splitlines():
        table = re.match(r"^#? ?\[target\.(daemon|database)\]", line)
        if table:
            prefix = table.group(1) + "."
        match = re.match(r"^(?:# )?([a-z_]+) = ", line)
        if match:
            keys.add(prefix + match.group(1))
    return keys


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "my-project"
    root.mkdir()
    return root


def test_init_writes_the_three_files(project: Path) -> None:
    done = init(project, "--name", "demo", cwd=project.parent)
    assert done.returncode == 0, done.stderr
    for rel in SCAFFOLD:
        assert (project / rel).is_file(), rel
        assert f"wrote {project / rel}" in done.stdout
    assert "next: edit" in done.stdout


def test_starter_spec_loads_and_names_the_tool(project: Path) -> None:
    assert init(project, "--name", "demo", cwd=project).returncode == 0
    target = spec.load_target(project / SPEC_FILE)
    assert target.name == "demo"
    assert target.create[0] == "demo" and "{repo}" in target.create
    assert (target.oldest, target.latest) == (1, 2)


def test_every_commented_example_is_a_valid_key(project: Path, tmp_path: Path) -> None:
    assert init(project, "--name", "demo", cwd=project).returncode == 0
    full = tmp_path / "full" / SPEC_FILE
    full.parent.mkdir()
    text = uncomment_everything(read(project / SPEC_FILE))
    # `versions` is the alternative to oldest/latest (the two together are refused).
    text = re.sub(r"^(oldest|latest) = .*\n", "", text, flags=re.M)
    full.write_text(text, encoding="utf-8")
    target = spec.load_target(full)  # raises SpecError naming any key the loader rejects
    assert target.versions is not None and target.content in ("same", "per-version")
    assert target.lock is not None and target.daemon is not None and target.tombstone
    assert target.crash.hook is True


def test_uncommenting_helper_catches_an_unknown_key(tmp_path: Path) -> None:
    bad = tmp_path / SPEC_FILE
    bad.write_text(
        uncomment_everything('[target]\nname = "x"\n# colour = "blue"\n'), encoding="utf-8"
    )
    with pytest.raises(SpecError, match="colour"):
        spec.load_target(bad)


def test_starter_mentions_every_key_the_loader_knows(project: Path) -> None:
    assert init(project, cwd=project).returncode == 0
    keys = mentioned_keys(read(project / SPEC_FILE))
    known = set(spec.TARGET_KEYS) - {"daemon", "database"} | {
        f"daemon.{k}" for k in spec.DAEMON_KEYS
    }
    known |= {f"database.{k}" for k in spec.DATABASE_KEYS}
    assert sorted(known - keys) == []
    assert sorted(keys - known) == []


@pytest.mark.skipif(not REFERENCE_SPEC.is_file(), reason="the reference spec is not written yet")
def test_starter_mirrors_the_reference_spec_keys(project: Path) -> None:
    assert init(project, cwd=project).returncode == 0
    reference: dict[str, Any] = tomllib.loads(read(REFERENCE_SPEC))["target"]
    ref_keys = {k for k in reference if k != "daemon"}
    ref_keys |= {f"daemon.{k}" for k in reference.get("daemon", {})}
    assert sorted(ref_keys - mentioned_keys(read(project / SPEC_FILE))) == []


def test_caller_workflow_has_one_uses_line(project: Path) -> None:
    sha_ref = workflow_ref("ab" * 20)
    assert init(project, "--workflow", sha_ref, cwd=project).returncode == 0
    workflow = YAML(typ="safe").load(read(project / WORKFLOW_FILE))
    assert workflow["permissions"] == {"contents": "read"}
    (job,) = workflow["jobs"].values()
    assert job["uses"] == sha_ref
    assert job["with"]["spec"] == SPEC_FILE


def caller_job(project: Path) -> dict[str, Any]:
    workflow = YAML(typ="safe").load(read(project / WORKFLOW_FILE))
    (job,) = workflow["jobs"].values()
    assert isinstance(job, dict)
    return job


def test_defaults_pin_this_harness(project: Path) -> None:
    assert init(project, cwd=project).returncode == 0
    commit = find_origin().commit  # this checkout's HEAD, else the commit pip recorded
    if commit is None:  # a release from the package index
        ref, harness = f"v{__version__}", index_requirement()
    else:  # the same commit for the workflow and the harness it installs
        ref, harness = commit, git_requirement(commit)
    job = caller_job(project)
    assert job["uses"] == workflow_ref(ref)
    assert job["with"]["harness-version"] == harness
    assert f"session.install({harness!r})".replace("'", '"') in read(project / NOX_FILE)


@pytest.mark.parametrize(
    "requirement",
    ["migration-harness==0.1.0", "migration-harness @ git+https://example.org/x/y@" + "c" * 40],
)
def test_harness_version_option_fills_workflow_and_nox(project: Path, requirement: str) -> None:
    done = init(project, "--harness-version", requirement, cwd=project)
    assert done.returncode == 0, done.stderr
    assert caller_job(project)["with"]["harness-version"] == requirement
    assert f'session.install("{requirement}")' in read(project / NOX_FILE)


def test_bad_harness_version_is_a_usage_error(project: Path) -> None:
    done = init(project, "--harness-version", 'migration-harness "', cwd=project)
    assert done.returncode == 2
    assert "--harness-version" in done.stderr and done.stderr.count("\n") == 1
    assert list(project.iterdir()) == []


def init_with_umask(umask: int, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # The umask is process-wide: set it in a child, never in the test process.
    code = (
        "import os, sys\n"
        f"os.umask({umask:#o})\n"
        "from migration_harness.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    return sub.run(
        [sys.executable, "-c", code, "init", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_get_the_users_mode(project: Path, umask: int, expected: int) -> None:
    done = init_with_umask(umask, project, "--name", "demo", cwd=project)
    assert done.returncode == 0, done.stderr
    for rel in SCAFFOLD:
        assert stat.S_IMODE((project / rel).stat().st_mode) == expected, rel


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_overwritten_file_keeps_its_mode(project: Path) -> None:
    (project / SPEC_FILE).write_text("# old\n", encoding="utf-8")
    (project / SPEC_FILE).chmod(0o640)
    done = init_with_umask(0o022, project, "--force", cwd=project)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((project / SPEC_FILE).stat().st_mode) == 0o640
    assert stat.S_IMODE((project / NOX_FILE).stat().st_mode) == 0o644


def test_nox_file_is_a_real_noxfile(project: Path) -> None:
    assert init(project, "--name", "demo", cwd=project).returncode == 0
    ast.parse(read(project / NOX_FILE))
    listed = sub.run(
        [sys.executable, "-m", "nox", "-f", NOX_FILE, "--list"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if listed.returncode != 0 and "No module named nox" in listed.stderr:
        pytest.skip("nox is not installed in this interpreter")
    assert listed.returncode == 0, listed.stderr
    assert "migrations" in listed.stdout
    assert "windows" in listed.stdout, "the Windows leg is one session away"


def test_refuses_to_overwrite_and_writes_nothing(project: Path) -> None:
    (project / NOX_FILE).write_text("# mine\n", encoding="utf-8")
    done = init(project, cwd=project)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert NOX_FILE in done.stderr and "--force" in done.stderr
    assert read(project / NOX_FILE) == "# mine\n"
    assert not (project / SPEC_FILE).exists()
    assert not (project / ".github").exists()


def test_force_overwrites(project: Path) -> None:
    (project / SPEC_FILE).write_text("# old\n", encoding="utf-8")
    done = init(project, "--force", "--name", "demo", cwd=project)
    assert done.returncode == 0, done.stderr
    assert f"overwrote {project / SPEC_FILE}" in done.stdout
    assert 'name = "demo"' in read(project / SPEC_FILE)


def test_default_directory_is_the_current_one(project: Path) -> None:
    assert init(cwd=project).returncode == 0
    assert (project / SPEC_FILE).is_file()


def test_default_name_comes_from_the_directory(tmp_path: Path) -> None:
    root = tmp_path / "Fancy Tool!"
    root.mkdir()
    assert init(root, cwd=tmp_path).returncode == 0
    assert 'name = "Fancy-Tool"' in read(root / SPEC_FILE)


@pytest.mark.parametrize("name", ["my tool", "-dash", "a/b", 'q"uote', "x" * 65])
def test_bad_name_is_a_usage_error(project: Path, name: str) -> None:
    done = init(project, "--name", name, cwd=project)
    assert done.returncode == 2
    assert "--name" in done.stderr and done.stderr.count("\n") == 1
    assert list(project.iterdir()) == []


def test_directory_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("", encoding="utf-8")
    done = init(afile, cwd=tmp_path)
    assert done.returncode == 2
    assert f"{afile} is not a directory" in done.stderr


def test_missing_directory_is_created(tmp_path: Path) -> None:
    root = tmp_path / "new" / "project"
    assert init(root, "--name", "demo", cwd=tmp_path).returncode == 0
    assert (root / WORKFLOW_FILE).is_file()


@pytest.mark.skipif(
    not (Path(migration_harness.__file__).resolve().parents[1] / ".git").exists()
    or running_under_wine(),
    reason="the package is not imported from a checkout (or git cannot run: Wine)",
)
def test_init_from_a_changed_checkout_says_the_pin_lacks_the_changes(
    project: Path, tmp_path: Path
) -> None:
    # A mock git answers every call with a line: HEAD is `fake`, and the tree has changes.
    fake = "f" * 40
    git = build_mock(tmp_path / "bin", "git", {"exit_code": 0, "stdout": fake + "\n"})
    env = dict(os.environ)  # a copy for the child: os.environ itself is never changed
    env["PATH"] = os.pathsep.join([str(git.directory), env.get("PATH", "")])
    done = sub.run(
        [sys.executable, "-m", "migration_harness", "init", str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        f"note: this harness has uncommitted changes; the files pin commit {fake}, "
        "which lacks them\n"
    )
    assert caller_job(project)["with"]["harness-version"] == git_requirement(fake)
