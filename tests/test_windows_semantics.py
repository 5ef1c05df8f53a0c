"""What Windows does differently, pinned where it runs: natively or under Wine.

These are the behaviours the migration safety contract exists for (an open file
cannot be replaced or removed, some names cannot exist, executables are found by
PATHEXT through the *parent's* PATH, no POSIX signals). They run in the Windows
leg (`nox -s windows`) and skip elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests import sub

pytestmark = pytest.mark.skipif(
    sys.platform != "win32", reason="Windows semantics; runs in the Windows leg (nox -s windows)"
)

# Windows error codes (winerror.h).
ERROR_ACCESS_DENIED = 5
ERROR_SHARING_VIOLATION = 32


def make_exe(directory: Path, name: str, body: str) -> Path:
    """A real ``name.exe``: distlib's launcher with a script that runs on this Python."""
    from distlib.scripts import ScriptMaker

    source = directory / "src"
    source.mkdir(parents=True, exist_ok=True)
    (source / f"{name}.py").write_text(f"#!python\n{body}\n")
    maker = ScriptMaker(str(source), str(directory), add_launchers=True)
    maker.executable = sys.executable
    maker.variants = {""}
    made = [Path(p) for p in maker.make(f"{name}.py")]
    exe = directory / f"{name}.exe"
    assert exe in made, made
    return exe


def test_replacing_a_file_that_is_open_is_access_denied(tmp_path: Path) -> None:
    config, staged = tmp_path / "config", tmp_path / "config.tmp"
    config.write_text("old")
    staged.write_text("new")
    with config.open("rb"), pytest.raises(PermissionError) as raised:
        os.replace(staged, config)
    assert raised.value.winerror == ERROR_ACCESS_DENIED
    assert config.read_text() == "old"
    os.replace(staged, config)  # closed: the same rename now works
    assert config.read_text() == "new"


def test_removing_a_file_that_is_open_is_a_sharing_violation(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    store.write_bytes(b"data")
    with store.open("rb"), pytest.raises(PermissionError) as raised:
        os.remove(store)
    assert raised.value.winerror == ERROR_SHARING_VIOLATION
    assert store.exists()


@pytest.mark.parametrize("name", ["x<y", "q?", 'say"hi"', "pipe|name"])
def test_names_with_invalid_characters_cannot_be_created(tmp_path: Path, name: str) -> None:
    with pytest.raises(OSError):
        (tmp_path / name).write_text("x")
    assert os.listdir(tmp_path) == []


def test_a_colon_never_makes_a_file_of_that_name(tmp_path: Path) -> None:
    # NTFS reads `a:b` as stream `b` of file `a`; Wine refuses it. Either way no `a:b`.
    with contextlib.suppress(OSError):
        (tmp_path / "a:b").write_text("x")
    assert "a:b" not in os.listdir(tmp_path)


@pytest.mark.parametrize("name", ["NUL", "nul", "CON", "con", "AUX"])
def test_reserved_device_names_open_the_device_not_a_file(tmp_path: Path, name: str) -> None:
    # NUL always opens; CON/AUX fail with "invalid handle" when no console is attached
    # (CI, Wine with piped std handles). Either way it is the device, never a file.
    with contextlib.suppress(OSError), (tmp_path / name).open("w"):
        pass
    assert os.listdir(tmp_path) == []


def test_the_null_device_opens_under_any_directory(tmp_path: Path) -> None:
    with (tmp_path / "NUL").open("w") as device:
        device.write("discarded")
    assert os.listdir(tmp_path) == []


def test_reserved_name_with_an_extension_is_a_device_before_windows_11(tmp_path: Path) -> None:
    if sys.getwindowsversion().build >= 22000:
        pytest.skip("Windows 11 treats NUL.txt as an ordinary file name")
    with (tmp_path / "NUL.txt").open("w"):
        pass
    with contextlib.suppress(OSError), (tmp_path / "CON.txt").open("w"):
        pass
    assert os.listdir(tmp_path) == []


def test_executables_are_found_by_pathext(tmp_path: Path) -> None:
    from migration_harness.env import which

    bin_dir = tmp_path / "bin"
    exe = make_exe(bin_dir, "probe", "print('probe ran')")
    assert ".EXE" in os.environ.get("PATHEXT", "").upper().split(os.pathsep)
    found = shutil.which("probe", path=str(bin_dir))
    assert found is not None and Path(found).resolve() == exe.resolve()
    found = which("probe", str(bin_dir))
    assert found is not None and Path(found).resolve() == exe.resolve()
    assert which("probe", str(bin_dir), pathext=".COM") is None


def test_createprocess_searches_the_parents_path_not_the_childs(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    exe = make_exe(bin_dir, "probe", "print('probe ran')")
    direct = sub.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert direct.stdout.strip() == "probe ran", direct.stderr
    child_env = {**os.environ, "PATH": str(bin_dir) + os.pathsep + os.environ.get("PATH", "")}
    with pytest.raises(FileNotFoundError):
        sub.run(["probe"], env=child_env, cwd=tmp_path, capture_output=True, timeout=120)


def test_a_polite_sigterm_is_a_hard_kill(tmp_path: Path) -> None:
    handled = tmp_path / "handled"
    code = (
        "import pathlib, signal, sys, time\n"
        f"mark = pathlib.Path({str(handled)!r})\n"
        "signal.signal(signal.SIGTERM, lambda *a: (mark.write_text('x'), sys.exit(0)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(120)\n"
    )
    assert not hasattr(signal, "SIGKILL") and not hasattr(os, "fork")
    child = sub.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        os.kill(child.pid, signal.SIGTERM)  # TerminateProcess(handle, 15) on Windows
        assert child.wait(timeout=60) == signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=60)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    assert not handled.exists(), "no handler runs: Windows has no POSIX signal delivery"
