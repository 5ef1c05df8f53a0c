"""Bounds on every number of a spec, plain placeholders only, and a config that is a small
regular file: each refused at load as one line naming the file and the key, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from migration_harness.spec import MAX_SPEC_BYTES, load_target
from migration_harness.target import (
    DEFAULT_ROUNDS,
    INT_BOUNDS,
    SECONDS_BOUNDS,
    SpecError,
    Target,
)
from tests.specfiles import GOOD, check, write


def with_key(key: str, literal: str) -> str:
    """GOOD with ``key`` (dotted, as in the bounds tables) set to the TOML ``literal``."""
    if key in ("oldest", "latest"):
        old = f"{key} = {0 if key == 'oldest' else 2}"
        return GOOD.replace(old, f"{key} = {literal}")
    if key == "concurrent.n":
        return GOOD + f"concurrent = {{ n = {literal} }}\n"
    table, _, name = key.partition(".")
    if table == "crash":
        return GOOD + f"crash = {{ {name} = {literal} }}\n"
    if table == "daemon":
        return GOOD + f'[target.daemon]\nstart = ["demo", "serve"]\n{name} = {literal}\n'
    return GOOD + f"{key} = {literal}\n"


def expect_one_line_refusal(result: subprocess.CompletedProcess[str], source: str, key: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{source}: {key}: " in lines[0], lines[0]
    assert "PASSED" not in result.stdout
    return lines[0]


# --- the probes of the issue, through the real command line ------------------------------


@pytest.mark.parametrize(
    ("key", "literal", "expected"),
    [
        ("latest", "99999999999999999999999", "from 0 to 1000, got 99999999999999999999999"),
        ("concurrent.n", "1000000000", "from 2 to 64, got 1000000000"),
        ("crash.max_points", "1e9", "expected an integer, got 1000000000.0"),
        ("crash.max_points", "1000000000", "from 1 to 10000"),
        ("lock_wait_s", "1e12", "above 0 to 86400 (a day), got 1000000000000.0"),
        ("timeout_s", "0", "above 0 to 86400 (a day), got 0"),
    ],
)
def test_out_of_range_numbers_are_refused_by_check(
    tmp_path: Path, key: str, literal: str, expected: str
) -> None:
    spec = write(tmp_path, with_key(key, literal))
    line = expect_one_line_refusal(
        check("--config", str(spec), cwd=tmp_path), str(spec), f"target.{key}"
    )
    assert expected in line


@pytest.mark.skipif(
    sys.platform == "win32" or not Path("/dev/zero").exists(), reason="no /dev/zero here"
)
def test_config_dev_zero_is_refused_unread(tmp_path: Path) -> None:
    line = expect_one_line_refusal(
        check("--config", "/dev/zero", cwd=tmp_path), "/dev/zero", "file"
    )
    assert "is a character device; expected a regular TOML file" in line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this OS")
def test_config_fifo_without_a_writer_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.toml"
    os.mkfifo(fifo)
    # The subprocess timeout is the bound: a blocking open would hang until it fires.
    line = expect_one_line_refusal(check("--config", str(fifo), cwd=tmp_path), str(fifo), "file")
    assert "is a FIFO" in line


def test_config_directory_is_refused(tmp_path: Path) -> None:
    line = expect_one_line_refusal(
        check("--config", str(tmp_path), cwd=tmp_path), str(tmp_path), "file"
    )
    assert "is a directory" in line


def test_config_over_one_mib_is_refused(tmp_path: Path) -> None:
    spec = write(tmp_path, GOOD + "#" * MAX_SPEC_BYTES + "\n")
    line = expect_one_line_refusal(check("--config", str(spec), cwd=tmp_path), str(spec), "file")
    assert "expected at most 1048576 (1 MiB)" in line


def test_a_config_of_exactly_one_mib_loads(tmp_path: Path) -> None:
    padding = MAX_SPEC_BYTES - len(GOOD.encode()) - 1
    spec = tmp_path / "migration-harness.toml"
    spec.write_bytes((GOOD + "#" * padding + "\n").encode())  # bytes: no CRLF on Windows
    assert spec.stat().st_size == MAX_SPEC_BYTES
    assert load_target(spec).name == "demo"


def test_an_integer_too_long_to_parse_is_one_line(tmp_path: Path) -> None:
    spec = write(tmp_path, GOOD.replace("latest = 2", "latest = " + "9" * 5000))
    with pytest.raises(SpecError, match=r": file: cannot be parsed") as info:
        load_target(spec)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("arg", "shown"), [("{repo!r}", "{repo!r}"), ("{repo:>300}", "{repo:>300}")]
)
def test_conversions_and_format_specs_are_refused_by_check(
    tmp_path: Path, arg: str, shown: str
) -> None:
    spec = write(tmp_path, GOOD.replace('"migrate", "{repo}"', f'"migrate", "{arg}"'))
    line = expect_one_line_refusal(
        check("--config", str(spec), cwd=tmp_path), str(spec), "target.migrate"
    )
    assert f"placeholder {shown}" in line
    assert "{{ or }}" in line  # how to write a literal brace


def test_pyproject_tool_table_still_loads_and_is_bounded(tmp_path: Path) -> None:
    body = GOOD.replace("[target]", "[tool.migration-harness.target]")
    pyproject = write(tmp_path, "[project]\nname = 'x'\n" + body, "pyproject.toml")
    assert load_target(pyproject).name == "demo"
    pyproject.write_text(body.replace("latest = 2", "latest = 5000"), encoding="utf-8")
    line = expect_one_line_refusal(
        check("--config", str(pyproject), cwd=tmp_path),
        str(pyproject),
        "tool.migration-harness.target.latest",
    )
    assert "from 0 to 1000" in line


# --- every bound, at the loader ------------------------------------------------------------


def _int_cases() -> list[tuple[str, str, bool]]:
    cases = []
    for key, (low, high) in INT_BOUNDS.items():
        if key == "oldest":
            cases += [(key, "-1", False), (key, "0", True), (key, str(high + 1), False)]
            continue
        cases += [(key, str(high), True), (key, str(high + 1), False), (key, "2.0", False)]
        if key != "latest":  # latest's lowest is bounded by oldest instead
            cases += [(key, str(low), True), (key, str(low - 1), False)]
    return cases


@pytest.mark.parametrize(("key", "literal", "ok"), _int_cases())
def test_every_integer_has_a_range(tmp_path: Path, key: str, literal: str, ok: bool) -> None:
    text = with_key(key, literal)
    if key == "oldest" and ok is True:
        text = text.replace("latest = 2", "latest = 3")
    if key == "oldest" and literal == "1000":
        text = text.replace("latest = 2", "latest = 1000")
    spec = write(tmp_path, text)
    if ok:
        load_target(spec)
        return
    with pytest.raises(SpecError) as info:
        load_target(spec)
    assert str(info.value).startswith(f"{spec}: target.{key}: expected an integer"), info.value


@pytest.mark.parametrize("key", sorted(SECONDS_BOUNDS))
@pytest.mark.parametrize(
    ("literal", "ok"),
    [
        ("0.5", True),
        ("86400", True),
        ("86400.5", False),
        ("-1", False),
        ("nan", False),
        ("inf", False),
        ("-inf", False),
        ("1" + "0" * 400, False),
        ("0", None),  # allowed only where the table says zero means something
    ],
)
def test_every_duration_is_above_zero_and_at_most_a_day(
    tmp_path: Path, key: str, literal: str, ok: bool | None
) -> None:
    allowed = SECONDS_BOUNDS[key] if ok is None else ok
    spec = write(tmp_path, with_key(key, literal))
    if allowed:
        load_target(spec)
        return
    with pytest.raises(SpecError) as info:
        load_target(spec)
    message = str(info.value)
    assert message.startswith(f"{spec}: target.{key}: expected a number of seconds"), message
    assert len(message) < 300 and "\n" not in message


def test_python_targets_are_bounded_too() -> None:
    common = {
        "name": "x",
        "oldest": 1,
        "create": ("t", "{repo}"),
        "migrate": ("t", "{repo}"),
        "dump": ("t", "{repo}"),
        "version": ("t", "{repo}"),
    }
    with pytest.raises(SpecError, match=r"target\.latest: expected an integer from 0 to 1000"):
        Target(latest=10**30, **common)  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"target\.latest: expected an integer"):
        Target(latest=2.0, **common)  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"target\.timeout_s: expected a number of seconds"):
        Target(latest=2, timeout_s=float("nan"), **common)  # type: ignore[arg-type]


def test_concurrent_rounds_default_to_ten_and_are_bounded(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(GOOD + "concurrent = { n = 3 }\n")
    assert load_target(good).concurrent_rounds == DEFAULT_ROUNDS == 10
    good.write_text(GOOD + "concurrent = { n = 3, rounds = 25 }\n")
    assert load_target(good).concurrent_rounds == 25
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD + "concurrent = { rounds = 0 }\n")
    with pytest.raises(SpecError, match=r"concurrent\.rounds: expected an integer from 1 to 1000"):
        load_target(bad)
