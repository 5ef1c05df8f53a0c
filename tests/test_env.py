"""IsolatedEnv and which(): a PATH of the test's own, never os.environ."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from migration_harness.env import ExecutableNotFound, IsolatedEnv, which
from migration_harness.mockbin import MockBin

# What `tool` resolves to: Windows finds it through PATHEXT, so the file is tool.exe there.
EXE = ".exe" if sys.platform == "win32" else ""


def same_file_name(found: str, expected: Path) -> bool:
    """Windows appends the PATHEXT entry as written (tool.EXE); its names ignore case."""
    return os.path.normcase(found) == os.path.normcase(str(expected))


def _exe(directory: Path, name: str, *, mode: int = 0o755) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def test_which_searches_only_the_given_path(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    _exe(second, "tool" + EXE)
    found = _exe(first, "tool" + EXE)
    found_path = which("tool", os.pathsep.join([str(first), str(second)]))
    assert found_path is not None and same_file_name(found_path, found)
    assert which("sh", str(first)) is None, "must not fall back to the process PATH"
    assert which("tool", None) is None
    assert which("tool", "") is None


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX run bit")
def test_which_skips_files_without_the_run_bit(tmp_path: Path) -> None:
    _exe(tmp_path / "a", "tool", mode=0o644)
    runnable = _exe(tmp_path / "b", "tool")
    path = os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")])
    assert which("tool", path) == str(runnable)


def test_which_with_a_directory_part(tmp_path: Path) -> None:
    exe = _exe(tmp_path, "tool" + EXE)
    assert which(str(exe), None) == str(exe)
    assert which(str(tmp_path / "missing"), str(tmp_path)) is None


def test_which_honours_pathext(tmp_path: Path) -> None:
    exe = _exe(tmp_path, "tool.BAT")
    assert which("tool", str(tmp_path), pathext=".EXE;.BAT") == str(exe)
    assert which("tool.BAT", str(tmp_path), pathext=".EXE;.BAT") == str(exe)
    assert which("tool", str(tmp_path), pathext=".EXE") is None


def test_default_is_a_copy_of_os_environ() -> None:
    env = IsolatedEnv()
    expected = (
        {k.upper(): v for k, v in os.environ.items()} if os.name == "nt" else dict(os.environ)
    )
    assert env.vars == expected
    assert env.changes() == {}


def test_changes_never_reach_os_environ(tmp_path: Path) -> None:
    before = dict(os.environ)
    env = IsolatedEnv(overrides={"MH_NEW": "1", "PATH": None})
    env.set("MH_OTHER", tmp_path)
    env.prepend_path(tmp_path / "bin")
    env.vars["MH_LEAK"] = "no"
    assert dict(os.environ) == before
    assert env.get("MH_NEW") == "1"
    assert env.get("MH_OTHER") == str(tmp_path)
    assert env.path == [str(tmp_path / "bin")]
    assert "MH_LEAK" not in env
    assert env.changes()["MH_NEW"] == "1"


def test_unset_and_overrides_with_none() -> None:
    # keep=[]: on Windows SYSTEMROOT is kept by default (CreateProcess needs it).
    env = IsolatedEnv({"A": "1", "B": "2"}, overrides={"A": None}, keep=[])
    env.unset("B")
    env.unset("NEVER_SET")
    assert env.vars == {}


def test_prepend_and_append_order(tmp_path: Path) -> None:
    env = IsolatedEnv({"PATH": "mid"})
    env.prepend_path("p1", "p2")
    env.append_path("a1")
    assert env.path == ["p1", "p2", "mid", "a1"]
    assert env.get("PATH") == os.pathsep.join(["p1", "p2", "mid", "a1"])


def test_case_insensitive_keys() -> None:
    env = IsolatedEnv({"Path": "x"}, case_insensitive=True, keep=[])
    assert env.get("PATH") == "x"
    env.set("path", "y")
    assert env.vars == {"PATH": "y"}
    sensitive = IsolatedEnv({"Path": "x"}, case_insensitive=False)
    assert sensitive.get("PATH") is None


def test_keep_copies_required_variables_from_the_process() -> None:
    name = next(iter(os.environ))
    env = IsolatedEnv({}, keep=[name])
    assert env.get(name) == os.environ[name]
    assert IsolatedEnv({}, keep=[]).vars == {}


def test_copy_is_independent() -> None:
    env = IsolatedEnv({"A": "1"})
    other = env.copy()
    other.set("A", "2")
    assert env.get("A") == "1"


@pytest.mark.parametrize("bad", ["", "A=B", "NUL\0"])
def test_invalid_names_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid environment variable name"):
        IsolatedEnv({}).set(bad, "x")


def test_resolve_names_the_executable_and_path(tmp_path: Path) -> None:
    env = IsolatedEnv({"PATH": str(tmp_path)})
    with pytest.raises(ExecutableNotFound) as info:
        env.resolve(["no-such-tool", "arg"])
    assert "no-such-tool" in str(info.value) and str(tmp_path) in str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    exe = _exe(tmp_path, "tool" + EXE)
    resolved, arg = env.resolve(["tool", "arg"])
    assert same_file_name(resolved, exe) and arg == "arg"


def test_run_resolves_against_its_own_path_and_passes_its_env(
    mockbin: MockBin, isolated_env: IsolatedEnv
) -> None:
    mock = mockbin("mh-env-tool", stdout="mocked", log_env=["MH_ONLY_HERE"])
    isolated_env.prepend_path(mockbin.dir)
    isolated_env.set("MH_ONLY_HERE", "yes")
    result = isolated_env.run(["mh-env-tool", "x"])
    assert result.ok and result.stdout == "mocked"
    (call,) = mock.calls()
    assert call.env == {"MH_ONLY_HERE": "yes"}
    assert "MH_ONLY_HERE" not in os.environ


def test_popen_uses_the_isolated_path(mockbin: MockBin, isolated_env: IsolatedEnv) -> None:
    mock = mockbin("mh-env-popen", exit_code=5)
    isolated_env.prepend_path(mockbin.dir)
    proc = isolated_env.popen(["mh-env-popen"])
    assert proc.wait(timeout=60) == 5
    assert len(mock.calls()) == 1


def test_run_without_the_executable_raises(isolated_env: IsolatedEnv, tmp_path: Path) -> None:
    isolated_env.set("PATH", str(tmp_path))
    with pytest.raises(ExecutableNotFound):
        isolated_env.run(["python3"])


def test_processes_never_import_the_environment_layer() -> None:
    # One way: env builds on proc (it re-exports proc's PATH lookup), never the reverse.
    import ast

    proc_dir = Path(__file__).resolve().parents[1] / "migration_harness" / "proc"
    offenders = []
    for source in sorted(proc_dir.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n == "migration_harness.env" for n in names):
                offenders.append(f"{source.name}:{node.lineno}")
    assert offenders == []


def test_env_and_proc_share_one_path_lookup() -> None:
    from migration_harness import env, proc

    assert env.which is proc.which and env.ExecutableNotFound is proc.ExecutableNotFound
