"""Mock executables: every behaviour key, the call log, spies, bad input, the .exe and the CLI."""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

import pytest

from migration_harness.cli import main as cli_main
from migration_harness.env import IsolatedEnv
from migration_harness.launchers import _posix, _windows
from migration_harness.mockbin import (
    MockBin,
    MockBuildError,
    MockSpecError,
    build_mock,
    open_mock,
)
from migration_harness.mockbin._build import INTERPRETER_ARGS, stub_source
from migration_harness.proc import run, start_together
from tests import sub

POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="POSIX script launcher")


def test_exit_code_stdout_stderr_and_call_log(mockbin: MockBin, tmp_path: Path) -> None:
    mock = mockbin("tool", exit_code=3, stdout="out ✓\n", stderr="err\n", log_env=["MH_PROBE"])
    env = IsolatedEnv(overrides={"MH_PROBE": "seen"})
    result = run([str(mock.path), "-path=/repo", "arg two"], env=env.vars, cwd=tmp_path)
    assert result.returncode == 3
    assert result.stdout == "out ✓\n"
    assert result.stderr == "err\n"
    (call,) = mock.calls()
    assert call.argv == ["tool", "-path=/repo", "arg two"]
    assert call.args == ["-path=/repo", "arg two"]
    assert call.cwd == str(tmp_path)
    assert call.env == {"MH_PROBE": "seen"}
    assert call.pid != os.getpid()
    assert call.exit_code == 3
    assert call.start <= call.end


def test_calls_come_back_in_order(mockbin: MockBin) -> None:
    first, second = mockbin("first"), mockbin("second")
    for mock, arg in ((first, "1"), (second, "2"), (first, "3")):
        run([str(mock.path), arg]).assert_ok()
    assert [c.argv for c in mockbin.calls()] == [["first", "1"], ["second", "2"], ["first", "3"]]
    assert [c.args for c in first.calls()] == [["1"], ["3"]]


def test_write_replace_and_version_files(mockbin: MockBin, tmp_path: Path) -> None:
    (tmp_path / "config").write_text("old")
    mock = mockbin(
        "migrate",
        require_flags=["-path"],
        write_files={"{flags[path]}/data": "written"},
        replace_files={"{flags[path]}/config": "new"},
        version_file={"path": "{flags[path]}/version", "value": 2},
        on_flag={"-revert": {"version_file": {"path": "{flags[path]}/version", "value": "1"}}},
    )
    run([str(mock.path), f"-path={tmp_path}"]).assert_ok()
    assert (tmp_path / "data").read_text() == "written"
    assert (tmp_path / "config").read_text() == "new"
    assert (tmp_path / "version").read_text() == "2"
    run([str(mock.path), f"-path={tmp_path}", "-revert"]).assert_ok()
    assert (tmp_path / "version").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "data", "version"]


def test_missing_required_flag_fails_and_is_logged(mockbin: MockBin) -> None:
    mock = mockbin("fs-repo-1-to-2", require_flags=["-path"], missing_flag_exit_code=9)
    result = run([str(mock.path), "-revert"])
    assert result.returncode == 9
    assert "missing required flag(s): -path" in result.stderr
    assert [c.exit_code for c in mock.calls()] == [9]


def test_placeholder_without_its_flag_is_a_clear_error(mockbin: MockBin) -> None:
    mock = mockbin("tool", write_files={"{flags[path]}/x": "y"})
    result = run([str(mock.path)])
    assert result.returncode == 2
    assert "write_files" in result.stderr and "path" in result.stderr


def test_lock_file_hold_create_remove(mockbin: MockBin, tmp_path: Path) -> None:
    lock = tmp_path / "repo.lock"
    holder = mockbin("holder", lock_file=str(lock))
    run([str(holder.path)]).assert_ok()
    assert not lock.exists(), "a held lock is released at a normal exit"
    creator = mockbin("creator", lock_file={"path": str(lock), "action": "create"})
    run([str(creator.path)]).assert_ok()
    assert lock.read_text().isdigit(), "the lock file holds the pid"
    refused = run([str(holder.path)])
    assert refused.returncode == 1
    assert "repo.lock exists" in refused.stderr
    remover = mockbin("remover", lock_file={"path": str(lock), "action": "remove"})
    run([str(remover.path)]).assert_ok()
    assert not lock.exists()


@POSIX_ONLY
def test_crash_is_hard_and_leaves_the_lock(mockbin: MockBin, tmp_path: Path) -> None:
    lock = tmp_path / "repo.lock"
    mock = mockbin(
        "crasher", lock_file=str(lock), write_files={str(tmp_path / "half"): "ha"}, crash=True
    )
    result = run([str(mock.path)])
    assert result.returncode == -9
    assert lock.exists(), "a crash does no cleanup"
    assert (tmp_path / "half").read_text() == "ha"
    assert [c.exit_code for c in mock.calls()] == [-9]


def test_crash_with_exit_code(mockbin: MockBin) -> None:
    mock = mockbin("crasher", crash=86)
    assert run([str(mock.path)]).returncode == 86
    assert [c.exit_code for c in mock.calls()] == [86]


def test_sleep_keeps_running(mockbin: MockBin) -> None:
    mock = mockbin("sleeper", sleep=0.3)
    result = run([str(mock.path)])
    assert result.ok
    (call,) = mock.calls()
    assert call.end - call.start >= 0.3


def test_update_changes_behaviour_and_keeps_log(mockbin: MockBin) -> None:
    mock = mockbin("tool", exit_code=1)
    assert run([str(mock.path)]).returncode == 1
    mock.update(exit_code=5)
    assert run([str(mock.path)]).returncode == 5
    assert [c.exit_code for c in mock.calls()] == [1, 5]
    assert mock.behaviour == {"exit_code": 5}


def test_hand_edited_json_is_honoured(mockbin: MockBin) -> None:
    mock = mockbin("tool", exit_code=1)
    os.utime(mock.spec_path.with_suffix(".marshal"), ns=(0, 0))  # older than the JSON
    mock.spec_path.write_text(json.dumps({"exit_code": 4}))
    assert run([str(mock.path)]).returncode == 4


def test_concurrent_runs_never_interleave_log_lines(mockbin: MockBin) -> None:
    mock = mockbin("racer", stdout="x" * 100, log_env=["PATH", "MH_BIG"])
    env = IsolatedEnv(overrides={"MH_BIG": "y" * 20000})
    results = start_together([[str(mock.path), str(i)] for i in range(8)], env=env.vars)
    assert all(r.ok for r in results), [r.describe() for r in results]
    calls = mock.calls()
    assert sorted(c.args[0] for c in calls) == [str(i) for i in range(8)]
    assert all(c.env["MH_BIG"] == "y" * 20000 for c in calls)


def _real_executable(directory: Path, name: str) -> Path:
    """A real program (not a mock) that prints its arguments and exits 7."""
    directory.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":
        path = directory / f"{name}.bat"
        path.write_text("@echo real %*\r\n@exit /b 7\r\n")
    else:
        path = directory / name
        path.write_text('#!/bin/sh\necho "real $*"\nexit 7\n')
        path.chmod(0o755)
    return path


def test_passthrough_spy_runs_the_next_real_executable(mockbin: MockBin, tmp_path: Path) -> None:
    real_dir = tmp_path / "real-bin"
    _real_executable(real_dir, "tool")
    spy = mockbin("tool", passthrough=True)
    env = IsolatedEnv()
    env.prepend_path(mockbin.dir, real_dir)
    result = env.run(["tool", "a", "b"])
    assert result.returncode == 7
    assert result.stdout.strip() == "real a b"
    (call,) = spy.calls()
    assert call.args == ["a", "b"] and call.exit_code == 7


def test_passthrough_skips_entries_before_its_own_dir(mockbin: MockBin, tmp_path: Path) -> None:
    _real_executable(tmp_path / "before", "tool")
    after = tmp_path / "after"
    _real_executable(after, "tool").write_text('#!/bin/sh\necho "after $*"\nexit 0\n')
    spy = mockbin("tool", passthrough=True)
    env = IsolatedEnv()
    env.prepend_path(tmp_path / "before", mockbin.dir, after)
    result = run([str(spy.path), "x"], env=env.vars)
    if sys.platform != "win32":
        assert result.stdout.strip() == "after x"


def test_passthrough_without_a_real_executable_says_so(mockbin: MockBin) -> None:
    spy = mockbin("no-such-tool-anywhere", passthrough=True)
    env = IsolatedEnv(overrides={"PATH": str(mockbin.dir)})
    result = env.run(["no-such-tool-anywhere"])
    assert result.returncode == 127
    assert "passthrough" in result.stderr
    assert [c.exit_code for c in spy.calls()] == [127]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("", "non-empty"),
        ("tool.exe", ".exe"),
        ("CON", "reserved"),
        ("has space", "not portable"),
        ("-dash", "not portable"),
    ],
)
def test_bad_names_write_nothing(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(MockSpecError, match=message):
        build_mock(tmp_path, name, {"exit_code": 1})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ({"exit_cod": 1}, "unknown behaviour key 'exit_cod'; did you mean 'exit_code'"),
        ({"exit_code": 256}, "exit_code: expected an exit code from 0 to 255"),
        ({"exit_code": True}, "exit_code"),
        ({"stdout": 3}, "stdout: expected a string"),
        ({"sleep": -1}, "sleep"),
        ({"write_files": ["x"]}, "write_files: expected a mapping"),
        ({"lock_file": {"path": "x", "action": "grab"}}, "lock_file"),
        ({"version_file": {"path": "v"}}, "version_file"),
        ({"passthrough": True, "exit_code": 1}, "cannot be combined with exit_code"),
        ({"on_flag": {"-r": {"bogus": 1}}}, "unknown behaviour key 'bogus'"),
    ],
)
def test_bad_behaviour_writes_nothing(
    tmp_path: Path, behaviour: dict[str, object], message: str
) -> None:
    with pytest.raises(MockSpecError, match=message.replace("(", r"\(")):
        build_mock(tmp_path, "tool", behaviour)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(MockBuildError, match="cannot create mock directory"):
        build_mock(blocker / "bin", "tool")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


@POSIX_ONLY
def test_long_interpreter_path_with_spaces_uses_sh_wrapper(
    mockbin: MockBin, tmp_path: Path
) -> None:
    odd = tmp_path / ("dir with spaces " + "x" * 120)
    odd.mkdir()
    (odd / "python").symlink_to(sys.executable)
    path = _posix.write_launcher(
        mockbin.dir,
        "odd",
        stub_source(),
        interpreter=str(odd / "python"),
        interpreter_args=INTERPRETER_ARGS,
    )
    assert path.read_bytes().startswith(b"#!/bin/sh\n")
    mock = mockbin("odd", stdout="via sh")
    _posix.write_launcher(
        mockbin.dir,
        "odd",
        stub_source(),
        interpreter=str(odd / "python"),
        interpreter_args=INTERPRETER_ARGS,
    )
    result = run([str(mock.path), "q"])
    assert result.stdout == "via sh"
    assert mock.calls()[0].args == ["q"]


def test_windows_exe_is_a_launcher_with_a_zipped_stub(tmp_path: Path) -> None:
    mock = build_mock(tmp_path, "winmock", {"stdout": "from exe", "exit_code": 4})
    exe = _windows.write_launcher(
        tmp_path, "winmock", stub_source(), interpreter_args=INTERPRETER_ARGS
    )
    data = exe.read_bytes()
    assert exe.name == "winmock.exe"
    assert data[:2] == b"MZ"
    assert f"#!{sys.executable} -IS\n".encode() in data or b'#!"' in data
    with zipfile.ZipFile(exe) as archive:
        assert archive.read("__main__.py").decode() == stub_source()
    # Python runs the zip part directly: the same stub and runner a Windows launcher starts.
    result = run([sys.executable, "-IS", str(exe), "z"])
    assert (result.returncode, result.stdout) == (4, "from exe")
    assert [c.argv for c in mock.calls()] == [["winmock", "z"]]


def test_open_mock_finds_a_built_mock(tmp_path: Path) -> None:
    mock = build_mock(tmp_path, "tool")
    assert open_mock(mock.path) == mock
    with pytest.raises(FileNotFoundError, match="no mock 'other'"):
        open_mock(tmp_path / "other")


# Isolation under -n: each test puts a different mock of the same name first on
# its own PATH and must run exactly its own, never another test's, never a real one.
PROBE = "mh-isolation-probe"


@pytest.mark.parametrize("variant", range(6))
def test_parallel_tests_each_run_their_own_mock(
    variant: int, mockbin: MockBin, isolated_env: IsolatedEnv
) -> None:
    mock = mockbin(PROBE, stdout=f"variant {variant}", exit_code=variant)
    isolated_env.prepend_path(mockbin.dir)
    assert isolated_env.which(PROBE) == str(mock.path)
    result = isolated_env.run([PROBE, str(variant)])
    assert (result.returncode, result.stdout) == (variant, f"variant {variant}")
    assert [c.args for c in mock.calls()] == [[str(variant)]]
    assert str(mockbin.dir) not in os.environ.get("PATH", "")


# CLI


def test_cli_builds_a_mock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(
        [
            "mock",
            "tool",
            "--dir",
            str(tmp_path),
            "--exit-code",
            "3",
            "--stdout",
            "hi",
            "--require-flag=-path",
            "--write-file",
            "out.txt=data",
            "--lock-file",
            "l.lock",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out.strip()
    mock = open_mock(printed)
    assert mock.behaviour == {
        "exit_code": 3,
        "stdout": "hi",
        "require_flags": ["-path"],
        "write_files": {"out.txt": "data"},
        "lock_file": {"path": "l.lock", "action": "hold"},
    }
    result = run([printed, "-path=x"], cwd=tmp_path)
    assert (result.returncode, result.stdout) == (3, "hi")
    assert cli_main(["mock", "--calls", printed]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["argv"] for line in lines] == [["tool", "-path=x"]]


def test_cli_spec_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"stderr": "boom", "exit_code": 1}))
    assert cli_main(["mock", "tool", "--dir", str(tmp_path / "bin"), "--spec", str(spec)]) == 0
    result = run([capsys.readouterr().out.strip()])
    assert (result.returncode, result.stderr) == (1, "boom")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bin/tool"], "path separator"),
        (["tool", "--spec", "SPEC"], "unknown behaviour key 'exitcode'"),
        (["tool", "--write-file", "novalue"], "expected PATH=TEXT"),
        (["tool"], "--dir"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, argv: list[str], message: str) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"exitcode": 1}))
    argv = [a.replace("SPEC", str(spec)) for a in argv]
    target = tmp_path / "bin"
    full = ["mock", *argv] + ([] if message == "--dir" else ["--dir", str(target)])
    result = sub.run(
        [sys.executable, "-m", "migration_harness", *full],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert not target.exists()


def test_cli_unwritable_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    assert cli_main(["mock", "tool", "--dir", str(tmp_path / "file" / "bin")]) == 2
    assert "cannot create mock directory" in capsys.readouterr().err
