"""The reference migration tool, run for real: every command, step, hook and mutant.

Every test runs ``python -m migration_harness.reference`` (and the ``refrepo-*`` console
scripts) as subprocesses with an environment built here: PATH starts with a directory
holding the external steps, made from the reference spec's ``console_scripts`` as the
harness makes them for a case. ``os.environ`` itself is never changed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from bench.common import reference_steps_dir
from migration_harness.contract import CONTRACT_IDS
from migration_harness.files import snapshot_tree
from migration_harness.locks import hold_lock, probe_lock
from migration_harness.mockbin import build_mock
from migration_harness.proc import Daemon, RunResult, popen, run, start_together
from migration_harness.reference import CATCHERS, LATEST, MUTANTS, OLDEST, SPEC_PATH

TOOL = [sys.executable, "-m", "migration_harness.reference"]
# Variables of ours that must not leak in from the shell running the tests.
OWN_VARS = ("REFREPO_", "MIGRATION_HARNESS_")


def tool_env(path: Sequence[str] | None = None, **extra: str) -> dict[str, str]:
    """A copy of the environment for the tool: scripts dir on PATH, our variables cleared."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_VARS)}
    dirs = [reference_steps_dir(), env.get("PATH", "")] if path is None else list(path)
    env["PATH"] = os.pathsep.join(d for d in dirs if d)
    env.update(extra)
    return env


def ref(*args: object, env: dict[str, str] | None = None, timeout: float = 120.0) -> RunResult:
    return run([*TOOL, *(str(a) for a in args)], env=env or tool_env(), timeout=timeout)


def ok(*args: object, env: dict[str, str] | None = None) -> RunResult:
    result = ref(*args, env=env)
    result.assert_ok()
    return result


def assert_clean_error(result: RunResult, pattern: str) -> None:
    """Exit 1, one ``error:`` line on stderr matching ``pattern``, no traceback."""
    assert result.returncode == 1, result.describe()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.describe()
    assert re.search(pattern, lines[0]), result.describe()
    assert "Traceback" not in result.output, result.describe()


def make_repo(tmp_path: Path, version: int, name: str = "repo") -> Path:
    repo = tmp_path / name
    ok("init", repo, "--version", version)
    return repo


def dump(repo: Path, env: dict[str, str] | None = None) -> str:
    return ok("dump", repo, env=env).stdout


def version(repo: Path) -> int:
    return int(ok("version", repo).stdout.strip())


def checkpoint_count(repo: Path, to: int = LATEST) -> int:
    """Migrate a copy of ``repo`` with the trace on; the number of checkpoints it passed."""
    probe = repo.with_name(repo.name + "-probe")
    shutil.copytree(repo, probe)
    result = ok("migrate", probe, "--to", to, env=tool_env(REFREPO_TRACE_CHECKPOINTS="1"))
    numbers = [int(n) for n in re.findall(r"^checkpoint (\d+):", result.stderr, re.M)]
    assert numbers == list(range(1, len(numbers) + 1)), result.stderr
    return len(numbers)


@pytest.fixture(scope="module")
def sample_dump(tmp_path_factory: pytest.TempPathFactory) -> str:
    return dump(make_repo(tmp_path_factory.mktemp("sample"), OLDEST))


# ---- commands -------------------------------------------------------------------------------


@pytest.mark.parametrize("at", range(OLDEST, LATEST + 1))
def test_init_at_each_version_has_the_same_dump(tmp_path: Path, at: int, sample_dump: str) -> None:
    repo = make_repo(tmp_path, at)
    assert version(repo) == at
    assert dump(repo) == sample_dump
    content = json.loads(sample_dump)
    assert len(content["blocks"]) == 20
    assert content["config"] == {"addr": "127.0.0.1", "port": 5001, "name": "refrepo-sample"}


def test_init_refuses_an_existing_repo(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    assert_clean_error(ref("init", repo, "--version", 2), "already a refrepo repo")


@pytest.mark.parametrize("frm", range(OLDEST, LATEST))
def test_each_step_forward_and_back(tmp_path: Path, frm: int, sample_dump: str) -> None:
    repo = make_repo(tmp_path, frm)
    before = (repo / "config").read_bytes()
    ok("migrate", repo, "--to", frm + 1)
    assert version(repo) == frm + 1
    assert dump(repo) == sample_dump
    assert (repo / f"config.{frm}-to-{frm + 1}.bak").read_bytes() == before
    after = (repo / "config").read_bytes()
    ok("migrate", repo, "--to", frm, "--allow-downgrade")
    assert version(repo) == frm
    assert dump(repo) == sample_dump
    assert (repo / "config").read_bytes() == before
    assert (repo / f"config.{frm + 1}-to-{frm}.bak").read_bytes() == after


def test_layout_really_changes_between_versions(tmp_path: Path) -> None:
    v1, v3, v4 = (make_repo(tmp_path, v, f"v{v}") for v in (1, 3, 4))
    assert "Addr" in json.loads((v1 / "config").read_text())
    assert "api" in json.loads((v3 / "config").read_text())
    flat = [p for p in (v1 / "blocks").iterdir() if p.is_file()]
    assert len(flat) == 20
    assert not [p for p in (v3 / "blocks").iterdir() if p.is_file()]
    assert (v4 / "store.db").is_file() and (v4 / "blocks" / "TOMBSTONE").is_file()


def test_whole_chain_down_and_up(tmp_path: Path, sample_dump: str) -> None:
    repo = make_repo(tmp_path, LATEST)
    ok("migrate", repo, "--to", OLDEST, "--allow-downgrade")
    assert version(repo) == OLDEST
    assert not (repo / "store.db").exists()
    ok("migrate", repo, "--to", LATEST)
    assert version(repo) == LATEST
    assert dump(repo) == sample_dump


def test_downgrade_needs_the_flag(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 3)
    before = snapshot_tree(repo, ignore=["repo.lock"])
    assert_clean_error(ref("migrate", repo, "--to", 2), "--allow-downgrade")
    assert before.diff(snapshot_tree(repo, ignore=["repo.lock"])) == ""


def test_migrate_at_latest_changes_no_byte(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    ok("migrate", repo, "--to", LATEST)
    before = snapshot_tree(repo, ignore=["repo.lock"])
    ok("migrate", repo, "--to", LATEST)
    assert before.diff(snapshot_tree(repo, ignore=["repo.lock"])) == ""


def test_stamp_and_ahead_refusal_leave_the_repo_untouched(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, LATEST)
    ok("stamp", repo, LATEST + 1)
    assert version(repo) == LATEST + 1
    before = snapshot_tree(repo, ignore=["repo.lock"])
    result = ref("migrate", repo, "--to", LATEST)
    assert_clean_error(result, rf"repo version {LATEST + 1} is newer .*\({LATEST}\)")
    assert before.diff(snapshot_tree(repo, ignore=["repo.lock"])) == ""


@pytest.mark.parametrize(
    ("target", "content", "message"),
    [
        ("version", b"two\n", r"corrupt version file .*version.*'two'"),
        ("config", b"{not json", r"corrupt config .*config.*not valid JSON"),
        ("config", b'{"Addr": 5}', r"corrupt config .*'Addr' must be a str"),
    ],
)
def test_corrupt_files_are_refused_untouched(
    tmp_path: Path, target: str, content: bytes, message: str
) -> None:
    repo = make_repo(tmp_path, 1)
    (repo / target).write_bytes(content)
    before = snapshot_tree(repo, ignore=["repo.lock"])
    for command in (("migrate", repo, "--to", LATEST), ("dump", repo)):
        assert_clean_error(ref(*command), message)
    assert before.diff(snapshot_tree(repo, ignore=["repo.lock"])) == ""


def test_not_a_repo(tmp_path: Path) -> None:
    assert_clean_error(ref("version", tmp_path / "nothing"), "not a refrepo repo")


def test_missing_external_step_names_it_and_the_path(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    before = snapshot_tree(repo, ignore=["repo.lock"])
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = ref("migrate", repo, "--to", LATEST, env=tool_env(path=[str(empty)]))
    assert_clean_error(result, r"refrepo-1-to-2 not found on PATH .*" + re.escape(str(empty)))
    assert before.diff(snapshot_tree(repo, ignore=["repo.lock"])) == ""


def test_external_steps_run_directly(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    step = shutil.which("refrepo-1-to-2", path=reference_steps_dir())
    assert step is not None, f"refrepo-1-to-2 is not installed in {reference_steps_dir()}"
    run([step, f"-path={repo}"], env=tool_env()).assert_ok()
    assert "api" in json.loads((repo / "config").read_text())
    run([step, f"-path={repo}", "-revert"], env=tool_env()).assert_ok()
    assert "Addr" in json.loads((repo / "config").read_text())
    assert run([step], env=tool_env()).returncode == 2


def test_external_steps_are_found_on_the_tools_own_path(tmp_path: Path) -> None:
    """A spy on PATH ahead of the real steps is called once per step, with the repo path."""
    repo = make_repo(tmp_path, 1)
    spies = tmp_path / "spies"
    spy12 = build_mock(spies, "refrepo-1-to-2", {"passthrough": True})
    spy23 = build_mock(spies, "refrepo-2-to-3", {"passthrough": True})
    ok("migrate", repo, "--to", 3, env=tool_env(path=[str(spies), reference_steps_dir()]))
    assert [c.argv[1:] for c in spy12.calls()] == [[f"-path={repo}"]]
    assert [c.argv[1:] for c in spy23.calls()] == [[f"-path={repo}"]]
    ok(
        "migrate",
        repo,
        "--to",
        1,
        "--allow-downgrade",
        env=tool_env(path=[str(spies), reference_steps_dir()]),
    )
    assert [c.argv[1:] for c in spy12.calls()][-1] == [f"-path={repo}", "-revert"]


def test_failing_external_step_stops_the_chain(tmp_path: Path, sample_dump: str) -> None:
    repo = make_repo(tmp_path, 1)
    bad = tmp_path / "bad"
    build_mock(bad, "refrepo-2-to-3", {"exit_code": 3, "stderr": "error: disk on fire\n"})
    result = ref(
        "migrate", repo, "--to", LATEST, env=tool_env(path=[str(bad), reference_steps_dir()])
    )
    assert_clean_error(result, r"refrepo-2-to-3(\.exe)? failed \(exit 3\): disk on fire")
    assert version(repo) == 2
    assert dump(repo) == sample_dump


def test_hostile_repo_path(tmp_path: Path, sample_dump: str) -> None:
    repo = tmp_path / "dir with spaces" / ("ünïcödé-" + "long" * 12)
    repo.parent.mkdir()
    ok("init", repo, "--version", 1)
    ok("migrate", repo, "--to", LATEST)
    assert dump(repo) == sample_dump


def test_tombstone_refuses_old_backend_and_store_can_be_rebuilt(
    tmp_path: Path, sample_dump: str
) -> None:
    repo = make_repo(tmp_path, 3)
    ok("open-store", repo, "--backend", "files")
    ok("migrate", repo, "--to", LATEST)
    result = ref("open-store", repo, "--backend", "files")
    assert_clean_error(result, r"has been migrated to store\.db; it is tombstoned")
    ok("open-store", repo, "--backend", "sqlite")
    (repo / "store.db").unlink()
    assert_clean_error(ref("dump", repo), r"store\.db is missing")
    ok("migrate", repo, "--to", LATEST)
    assert dump(repo) == sample_dump


# ---- command line ---------------------------------------------------------------------------

COMMANDS = ("init", "migrate", "version", "stamp", "dump", "daemon", "shutdown", "open-store")


def test_help_lists_every_command() -> None:
    listing = ok("--help").stdout
    assert listing.startswith("usage: refrepo [-h] COMMAND ...")
    for command in (*COMMANDS, "golden", "mutants"):
        assert re.search(rf"^ +{command}\b", listing, re.M), listing
    assert ok("version", "--help").stdout.startswith("usage: refrepo version [-h] repo")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), r"arguments are required: COMMAND \(see 'refrepo --help'\)"),
        (("version",), r"arguments are required: repo \(see 'refrepo version --help'\)"),
        (("dump", "repo", "extra"), r"unrecognized arguments: extra"),
        (("dump", "repo", "--verbose"), r"unrecognized arguments: --verbose"),
        # argparse quotes the choices before Python 3.12.8/3.13.1, not after.
        (("ver", "repo"), r"invalid choice: 'ver' \(choose from '?init'?, '?migrate'?, "),
    ],
)
def test_bad_usage_is_one_line_and_status_2(args: tuple[str, ...], message: str) -> None:
    result = ref(*args)
    assert result.returncode == 2, result.describe()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.describe()
    assert re.search(message, lines[0]), result.describe()


def test_plain_and_argparse_forms_agree(tmp_path: Path) -> None:
    # `version REPO` and `dump REPO` are read without argparse; `--` sends them through it.
    repo = make_repo(tmp_path, 3)
    for command in ("version", "dump"):
        assert ok(command, repo).stdout == ok(command, "--", repo).stdout


@pytest.mark.parametrize(
    ("start", "to", "extra"), [(1, LATEST, []), (LATEST, 2, ["--allow-downgrade"])]
)
def test_plain_and_argparse_migrate_agree(
    tmp_path: Path, start: int, to: int, extra: list[str]
) -> None:
    # `migrate REPO --to N` is read without argparse; with --to first it goes through it.
    plain, parsed = make_repo(tmp_path, start, "plain"), make_repo(tmp_path, start, "parsed")
    said = ok("migrate", plain, "--to", to, *extra).stdout
    assert ok("migrate", "--to", to, *extra, parsed).stdout == said.replace(str(plain), str(parsed))
    assert ok("version", plain).stdout == ok("version", parsed).stdout == f"{to}\n"
    assert dump(plain) == dump(parsed)


def test_a_downgrade_without_its_flag_is_refused_on_the_plain_path(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, LATEST)
    assert_clean_error(ref("migrate", repo, "--to", 2), "(?i)downgrade")
    assert ok("version", repo).stdout == f"{LATEST}\n"


def test_messages_name_the_repo_as_every_command_does(tmp_path: Path) -> None:
    # `version` reads its file without pathlib, yet names it as pathlib prints it (as `dump`
    # and `migrate` do): "./" and a trailing separator dropped.
    sep = os.sep
    missing = tmp_path / "nothing" / "version"
    for command in ("version", "dump"):
        result = ref(command, f"{tmp_path}{sep}.{sep}nothing{sep}")
        assert_clean_error(result, re.escape(f"not a refrepo repo: {missing} does not exist"))
    (tmp_path / "odd" / "version").mkdir(parents=True)  # a directory where the file belongs
    for command in ("version", "dump"):
        result = ref(command, f"{tmp_path}{sep}.{sep}odd{sep}")
        # As OSError prints a file name: its repr (Windows' backslashes doubled).
        assert_clean_error(result, re.escape(repr(str(tmp_path / "odd" / "version"))))


LAYOUT = "migration_harness.reference.layout"


def _modules_imported(args: Sequence[str], env: dict[str, str]) -> set[str]:
    """The modules ``python -X importtime ARGS`` imports, read from its report on stderr."""
    result = run([sys.executable, "-X", "importtime", *args], env=env, timeout=120)
    assert result.returncode == 0, result.describe()
    lines = result.stderr.splitlines()
    return {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}


@pytest.mark.parametrize(
    ("command", "not_imported"),
    [
        (
            ["version"],
            ("argparse", "pathlib", "re", "typing", "json", "sqlite3", "filelock", LAYOUT),
        ),
        (["dump"], ("argparse", "typing", "dataclasses", "filelock", "shutil", "hashlib")),
        # The commands that take the lock take it with the OS calls: filelock 4.x's import
        # cost more than the rest of such a command's start-up.
        (["stamp", "{repo}", str(LATEST)], ("filelock", "dataclasses", "inspect", "logging")),
        (
            ["migrate", "{repo}", "--to", str(LATEST)],
            ("argparse", "filelock", "dataclasses", "logging", "typing", "shutil", "sqlite3"),
        ),
        # An external step, as its console script runs it: no argparse, no subprocess; no
        # sqlite3 either (only the step to version 4 writes store.db).
        (
            [
                "-c",
                "import sys; from migration_harness.reference.external import step_main; "
                "sys.exit(step_main(1, 2, [sys.argv[1]]))",
                "-path={repo1}",
            ],
            (
                *("argparse", "subprocess", "sysconfig", "filelock", "dataclasses"),
                *("typing", "shutil", "sqlite3"),
            ),
        ),
    ],
    ids=["version", "dump", "stamp", "migrate", "external-step"],
)
def test_commands_import_only_what_they_need(
    tmp_path: Path, command: list[str], not_imported: tuple[str, ...]
) -> None:
    # The harness runs these hundreds of times per contract run: their start-up is timed by
    # the benchmark (refrepo_version_over_python_ms); this pins, without a clock, that the
    # modules they once loaded for nothing stay out. Compared with a bare start, so that
    # what the interpreter or a .pth file loads anyway does not count.
    repo = make_repo(tmp_path, LATEST)
    env = tool_env()
    bare = _modules_imported(["-c", "pass"], env)
    if command[0] == "-c":
        old = make_repo(tmp_path, 1, "v1")
        args = [arg.replace("{repo1}", str(old)) for arg in command]
        used = _modules_imported(args, env) - bare
        assert "migration_harness.reference.steps" in used, sorted(used)
        assert sorted(used & set(not_imported)) == [], sorted(used)
        return
    args = [arg.replace("{repo}", str(repo)) for arg in command]
    if len(args) == 1:
        args.append(str(repo))
    used = _modules_imported([*TOOL[1:], *args], env) - bare
    assert "migration_harness.reference.cli" in used, sorted(used)
    assert sorted(used & set(not_imported)) == [], sorted(used)


# ---- locks, daemon, concurrency ---------------------------------------------------------------


@pytest.fixture
def held_lock(tmp_path: Path) -> Iterator[Path]:
    """A v1 repo whose lock a separate process holds (filelock, as the tool itself locks)."""
    repo = make_repo(tmp_path, 1)
    with hold_lock("filelock", repo / "repo.lock"):
        yield repo


def test_the_tools_lock_is_the_one_filelock_takes(tmp_path: Path) -> None:
    """The tool locks with the OS calls, not the filelock library: each sees the other's
    lock (the spec's lock style says "filelock"), from separate processes."""
    from migration_harness.reference import oslock

    path = tmp_path / "repo.lock"
    fd = oslock.open_lock_file(path)
    try:
        assert oslock.try_lock(fd)
        assert probe_lock("filelock", path) is False
        oslock.unlock(fd)
        assert probe_lock("filelock", path) is True
    finally:
        os.close(fd)
    with hold_lock("filelock", path):
        second = oslock.open_lock_file(path)
        try:
            assert not oslock.try_lock(second)
        finally:
            os.close(second)


def test_held_lock_times_out_naming_the_lock(held_lock: Path) -> None:
    before = snapshot_tree(held_lock, ignore=["repo.lock"])
    result = ref("migrate", held_lock, "--to", LATEST, env=tool_env(REFREPO_LOCK_WAIT_S="0.5"))
    assert_clean_error(result, r"repo is locked: .*repo\.lock is held by another process")
    assert before.diff(snapshot_tree(held_lock, ignore=["repo.lock"])) == ""


def test_held_lock_waits_then_succeeds_after_release(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    holder = hold_lock("filelock", repo / "repo.lock")
    env = tool_env(REFREPO_LOCK_WAIT_S="120")
    with holder:
        proc = popen([*TOOL, "migrate", str(repo), "--to", str(LATEST)], env=env)
        # Not a timing assertion: a correct tool can never finish while the lock is held.
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1.0)
        assert (repo / "version").read_text() == "1\n"
        holder.release()
        assert proc.wait(timeout=120) == 0
    assert version(repo) == LATEST


def test_stale_lock_file_does_not_block(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    holder = hold_lock("filelock", repo / "repo.lock")
    holder.crash()
    ok("migrate", repo, "--to", LATEST, env=tool_env(REFREPO_LOCK_WAIT_S="5"))


def test_daemon_holds_the_lock_until_shutdown(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    env = tool_env(REFREPO_LOCK_WAIT_S="0.5")
    daemon = Daemon(
        [*TOOL, "daemon", str(repo)],
        env=env,
        ready="Daemon is ready",
        stop_command=[*TOOL, "shutdown", str(repo)],
    )
    with daemon:
        assert (repo / "api").is_file()
        assert_clean_error(ref("migrate", repo, "--to", LATEST, env=env), "repo is locked")
        assert version(repo) == 1
        report = daemon.stop()
    assert report.step == "command", report
    assert report.returncode == 0
    assert not (repo / "api").exists()
    ok("migrate", repo, "--to", LATEST, env=env)


def test_daemon_stops_on_a_polite_signal(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 2)
    with Daemon([*TOOL, "daemon", str(repo)], env=tool_env(), ready="Daemon is ready") as daemon:
        report = daemon.stop()
    assert report.step == "interrupt", report  # SIGINT on POSIX, Ctrl+C on Windows
    assert report.returncode == 0, report
    assert not (repo / "api").exists()


def test_shutdown_without_daemon(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    assert_clean_error(ref("shutdown", repo), r"no daemon is running .*api")


def test_concurrent_migrators_apply_each_step_once(tmp_path: Path, sample_dump: str) -> None:
    repo = make_repo(tmp_path, 1)
    spies = tmp_path / "spies"
    spy = build_mock(spies, "refrepo-1-to-2", {"passthrough": True})
    env = tool_env(path=[str(spies), reference_steps_dir()], REFREPO_LOCK_WAIT_S="120")
    command = [*TOOL, "migrate", str(repo), "--to", str(LATEST)]
    results = start_together([command] * 4, env=env, timeout=180)
    for result in results:
        result.assert_ok()
    assert version(repo) == LATEST
    assert dump(repo) == sample_dump
    assert len(spy.calls()) == 1


# ---- crash and failure hooks --------------------------------------------------------------------


# A v1 -> 4 run passes 41 checkpoints: 1-6 step 1-2 (external from 3-4), 7-32 step 2-3
# (external from 9-30: config, then 20 block moves), 33-41 step 3-4 (store, tombstone,
# config, version). The sample covers every kind of point.
V1_TO_LATEST_CHECKPOINTS = 41
CRASH_SAMPLE = (1, 2, 4, 5, 6, 10, 11, 20, 31, 33, 35, 37, 39, 41)


def test_checkpoint_count_of_a_full_run(tmp_path: Path) -> None:
    assert checkpoint_count(make_repo(tmp_path, 1)) == V1_TO_LATEST_CHECKPOINTS


@pytest.fixture(scope="module")
def v1_origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("origin"), 1)


@pytest.mark.parametrize("point", CRASH_SAMPLE)
def test_crash_hook_loses_nothing(
    tmp_path: Path, v1_origin: Path, point: int, sample_dump: str
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(v1_origin, repo)
    crashed = ref(
        "migrate", repo, "--to", LATEST, env=tool_env(MIGRATION_HARNESS_CRASH_AT=str(point))
    )
    assert crashed.returncode == 86, crashed.describe()
    assert OLDEST <= version(repo) <= LATEST
    assert dump(repo) == sample_dump, f"dump changed after a crash at checkpoint {point}"
    ok("migrate", repo, "--to", LATEST)
    assert version(repo) == LATEST
    assert dump(repo) == sample_dump
    assert not list(repo.rglob("*.tmp-*")), f"litter after the re-run (crash at {point})"


def test_crash_hook_past_the_last_point_does_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 3)
    total = checkpoint_count(repo)
    ok("migrate", repo, "--to", LATEST, env=tool_env(MIGRATION_HARNESS_CRASH_AT=str(total + 1)))


@pytest.mark.parametrize("point", [1, 3, 4, 6, 9, 12, 31, 35, 37, 39, 41])
def test_failure_hook_rolls_the_step_back(tmp_path: Path, point: int, sample_dump: str) -> None:
    repo = make_repo(tmp_path, 1)
    original = (repo / "config").read_bytes()
    result = ref(
        "migrate", repo, "--to", LATEST, env=tool_env(MIGRATION_HARNESS_FAIL_AT=str(point))
    )
    assert_clean_error(result, rf"injected failure at checkpoint {point}\b")
    at = version(repo)
    backup = repo / f"config.{at}-to-{at + 1}.bak"
    # The config is back as the failed step found it (its backup, unless writing that failed).
    expected = backup.read_bytes() if backup.exists() else original
    assert (repo / "config").read_bytes() == expected
    assert dump(repo) == sample_dump
    assert not list(repo.rglob("*.tmp-*"))
    ok("migrate", repo, "--to", LATEST)
    assert dump(repo) == sample_dump


def test_bad_hook_value_is_a_clean_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    result = ref("migrate", repo, "--to", 2, env=tool_env(MIGRATION_HARNESS_CRASH_AT="soon"))
    assert_clean_error(result, "MIGRATION_HARNESS_CRASH_AT='soon' is not an integer")


# ---- mutants ----------------------------------------------------------------------------------


def mutant_env(name: str, **extra: str) -> dict[str, str]:
    return tool_env(REFREPO_MUTANT=name, **extra)


def test_mutant_tables_agree() -> None:
    assert set(MUTANTS) == set(CATCHERS)
    assert len(MUTANTS) >= 12
    for name, catchers in CATCHERS.items():
        assert catchers and set(catchers) <= set(CONTRACT_IDS), name
    listing = ok("mutants").stdout.splitlines()
    assert [line.split()[0] for line in listing] == list(MUTANTS)


def test_unknown_mutant_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    assert_clean_error(
        ref("version", repo, env=mutant_env("typo")), r"unknown REFREPO_MUTANT='typo'"
    )


def _checkpoint_of(repo: Path, env: dict[str, str], what: str) -> int:
    probe = repo.with_name(repo.name + "-probe")
    shutil.copytree(repo, probe)
    trace = ref("migrate", probe, "--to", LATEST, env={**env, "REFREPO_TRACE_CHECKPOINTS": "1"})
    found = re.findall(rf"^checkpoint (\d+): {what}", trace.stderr, re.M)
    assert found, trace.describe()
    return int(found[0])


def test_mutant_inplace_config_loses_the_config_in_a_crash(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    env = mutant_env("inplace-config")
    point = _checkpoint_of(repo, env, "truncated config")
    ref("migrate", repo, "--to", LATEST, env={**env, "MIGRATION_HARNESS_CRASH_AT": str(point)})
    assert (repo / "config").read_bytes() == b""
    assert_clean_error(ref("dump", repo), "corrupt config")


def test_mutant_version_first_breaks_the_dump_in_a_crash(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 3)
    env = mutant_env("version-first")
    # The version is replaced before the store is built: crash right there.
    point = _checkpoint_of(repo, env, "replaced version")
    crashed = ref(
        "migrate", repo, "--to", LATEST, env={**env, "MIGRATION_HARNESS_CRASH_AT": str(point)}
    )
    assert crashed.returncode == 86, crashed.describe()
    assert version(repo) == LATEST
    assert_clean_error(ref("dump", repo), r"store\.db is missing")


def test_mutant_no_lock_ignores_a_held_lock(held_lock: Path) -> None:
    ok("migrate", held_lock, "--to", LATEST, env=mutant_env("no-lock", REFREPO_LOCK_WAIT_S="0.5"))


def test_mutant_give_up_early_fails_under_contention(held_lock: Path) -> None:
    result = ref("migrate", held_lock, "--to", LATEST, env=mutant_env("give-up-early"))
    assert_clean_error(result, "repo is locked")


def test_mutant_double_lock_fails_on_its_own_lock(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    result = ref("migrate", repo, "--to", 2, env=mutant_env("double-lock"))
    assert_clean_error(result, r"lock is already held: .*repo\.lock")
    assert version(repo) == 1


def test_mutant_file_exists_lock_never_clears_a_stale_lock(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    (repo / "repo.lock").write_bytes(b"")  # what a killed holder of this mutant leaves behind
    env = mutant_env("file-exists-lock", REFREPO_LOCK_WAIT_S="0.5")
    assert_clean_error(ref("migrate", repo, "--to", 2, env=env), "repo is locked")
    ok("migrate", repo, "--to", 2, env=tool_env(REFREPO_LOCK_WAIT_S="0.5"))


def test_mutant_drop_backup(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    ok("migrate", repo, "--to", LATEST, env=mutant_env("drop-backup"))
    assert not list(repo.glob("config.*.bak"))


def test_mutant_temp_litter(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    ok("migrate", repo, "--to", 2, env=mutant_env("temp-litter"))
    assert list(repo.glob("config.tmp-*"))


def test_mutant_ahead_downgrade_rewrites_a_newer_repo(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, LATEST)
    ok("stamp", repo, LATEST + 1)
    ok("migrate", repo, "--to", LATEST, env=mutant_env("ahead-downgrade"))
    assert version(repo) == LATEST


def test_mutant_no_tombstone_leaves_the_old_store_usable(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 3)
    ok("migrate", repo, "--to", LATEST, env=mutant_env("no-tombstone"))
    ok("open-store", repo, "--backend", "files")


def test_mutant_parent_path_ignores_the_path_it_was_given(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    spies = tmp_path / "spies"
    spy = build_mock(spies, "refrepo-1-to-2", {"passthrough": True})
    env = tool_env(path=[str(spies), reference_steps_dir()], REFREPO_MUTANT="parent-path")
    result = ref("migrate", repo, "--to", 2, env=env)
    assert spy.calls() == []
    # It looks where pip puts scripts, and nothing put the steps there.
    scripts = sysconfig.get_path("scripts")
    assert_clean_error(result, re.escape(f"refrepo-1-to-2 not found on PATH (searched: {scripts})"))


def test_mutant_open_handle_rename_fails_only_on_windows(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 1)
    result = ref("migrate", repo, "--to", 2, env=mutant_env("open-handle-rename"))
    if sys.platform == "win32":
        assert_clean_error(result, r"(?i)access is denied|WinError 5")
        assert version(repo) == 1
    else:
        result.assert_ok()


def test_spec_file_is_valid_toml_with_the_documented_keys() -> None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    target = tomllib.loads(SPEC_PATH.read_text(encoding="utf-8"))["target"]
    assert target["name"] == "refrepo" and (target["oldest"], target["latest"]) == (OLDEST, LATEST)
    assert target["external_migrations"] == "refrepo-{from}-to-{to}"
    assert target["daemon"]["ready"] == "Daemon is ready"
