"""Target specs: every bad input is one message naming the file, the key and the fix."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from migration_harness.spec import find_spec, load_reference_target, load_target
from migration_harness.target import SpecError, Target, fill, fill_command
from tests import sub
from tests.specfiles import GOOD, write


def test_good_spec_loads_with_defaults(tmp_path: Path) -> None:
    target = load_target(write(tmp_path, GOOD))
    assert (target.name, target.oldest, target.latest) == ("demo", 0, 2)
    assert target.on_lock_held == "fail-fast" and target.idempotent == "bytes"
    assert target.here == str(tmp_path.resolve())
    assert list(target.known_versions) == [0, 1, 2] and target.versions is None


def test_reference_spec_is_valid() -> None:
    target = load_reference_target()
    assert target.name == "refrepo"
    assert target.latest > target.oldest


def test_pyproject_table(tmp_path: Path) -> None:
    body = GOOD.replace("[target]", "[tool.migration-harness.target]")
    path = write(tmp_path, "[project]\nname = 'x'\n" + body, "pyproject.toml")
    assert find_spec(tmp_path) == path
    assert load_target(path).name == "demo"


def test_find_spec_prefers_the_dedicated_file(tmp_path: Path) -> None:
    write(tmp_path, "[project]\nname='x'\n", "pyproject.toml")
    assert find_spec(tmp_path) is None
    dedicated = write(tmp_path, GOOD)
    assert find_spec(tmp_path) == dedicated


@pytest.mark.parametrize(
    ("edit", "key", "expected"),
    [
        (("latest = 2", 'latest = "two"'), "target.latest", 'expected an integer, got "two"'),
        (("latest = 2", "latest = 0"), "target.latest", "greater than oldest"),
        (('name = "demo"', 'name = "demo"\nbogus = 1'), "target.bogus", "unknown key"),
        (("migrate = [", "migrat = ["), "target.migrat", "unknown key"),
        (
            ('create = ["demo", "init", "{repo}", "{version}"]', "create = []"),
            "target.create",
            "non-empty",
        ),
        (("{to}", "{too}"), "target.migrate", "unknown placeholder {too}"),
        (('{repo}", "{version}', '{repo}", "{to}'), "target.create", "placeholder {to}"),
        (("{to}", "{to"), "target.migrate", "bad placeholder syntax"),
        (('name = "demo"', 'name = "demo"\non_ahead = "maybe"'), "target.on_ahead", '"refuse"'),
        (
            ('name = "demo"', 'name = "demo"\nlock = { style = "posix" }'),
            "target.lock.path",
            "path",
        ),
        (('name = "demo"', 'name = "demo"\nlock = { path = "x" }'), "target.lock.style", "missing"),
        (
            ('name = "demo"', 'name = "demo"\nlock = { path = "x", style = "nope" }'),
            "target.lock.style",
            '"flock"',
        ),
        (('name = "demo"', 'name = "demo"\nlock_message = "(("'), "target.lock_message", "regular"),
        (('name = "demo"', 'name = "demo"\nenv = { A = 1 }'), "target.env.A", "expected a string"),
        (('name = "demo"', 'name = "demo"\nbackups = ["{repo}/x.bak"]'), "target.backups[0]", "at"),
        (
            ('name = "demo"', 'name = "demo"\nconcurrent = { from = 7 }'),
            "target.concurrent.from",
            "from 0 to 1",
        ),
        (
            ('name = "demo"', 'name = "demo"\nconcurrent = { delays = "sometimes" }'),
            "target.concurrent.delays",
            'expected one of "auto", "strace", "off", got "sometimes"',
        ),
        (('version = ["demo", "version", "{repo}"]\n', ""), "target.version", "version_file"),
        (("dump = [", "dumpx = ["), "target.dumpx", "unknown key"),
    ],
)
def test_bad_spec_names_file_key_and_fix(
    tmp_path: Path, edit: tuple[str, str], key: str, expected: str
) -> None:
    old, new = edit
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(SpecError) as info:
        load_target(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert expected in message


def test_missing_required_key(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace('migrate = ["demo", "migrate", "{repo}", "--to", "{to}"]\n', "")
    )
    with pytest.raises(SpecError, match=r"target\.migrate: missing; expected a non-empty list"):
        load_target(path)


def test_a_missing_dump_names_the_database_alternative(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('dump = ["demo", "dump", "{repo}"]\n', ""))
    with pytest.raises(SpecError, match=r"target\.dump: missing; .*\[target\.database\]"):
        load_target(path)


def test_a_database_target_needs_no_dump_and_knows_its_placeholders(tmp_path: Path) -> None:
    text = GOOD.replace('dump = ["demo", "dump", "{repo}"]\n', "").replace(
        '"migrate", "{repo}"', '"migrate", "{database_url}", "{db_name}"'
    )
    target = load_target(write(tmp_path, text + '\n[target.database]\nengine = "mariadb"\n'))
    assert target.dump is None
    assert target.database is not None and target.database.engine == "mariadb"


def test_not_toml(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"file: is not valid TOML"):
        load_target(write(tmp_path, "[target\n"))


def test_python_users_get_the_same_validation() -> None:
    with pytest.raises(SpecError, match=r"target\.on_lock_held: expected one of"):
        Target(
            name="x",
            oldest=1,
            latest=2,
            create=("t", "{repo}"),
            migrate=("t", "{repo}"),
            dump=("t", "{repo}"),
            version=("t", "{repo}"),
            on_lock_held="sometimes",
        )


def test_placeholders_fill_per_argument_never_through_a_shell() -> None:
    args = fill_command(("tool", "--path={repo}", "{{literal}}", "a b"), {"repo": "/x y; rm -rf"})
    assert args == ["tool", "--path=/x y; rm -rf", "{literal}", "a b"]
    with pytest.raises(KeyError):
        fill("{nope}", {})


def test_check_with_a_bad_spec_is_exit_2_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("latest = 2", "latest = 'x'"))
    result = sub.run(
        [sys.executable, "-m", "migration_harness", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "target.latest: expected an integer" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unknown_key_gets_the_closest_known_one(tmp_path: Path) -> None:
    text = (
        '[target]\nname = "x"\noldest = 1\nlatest = 3\non_ahaed = "refuse"\n'
        'create = ["a"]\nmigrate = ["a"]\ndump = ["a"]\nversion = ["a"]\n'
    )
    path = tmp_path / "migration-harness.toml"
    path.write_text(text)
    with pytest.raises(
        SpecError, match=r"target\.on_ahaed: unknown key; did you mean 'on_ahead'\?"
    ):
        load_target(path)


def test_values_are_quoted_as_toml_spells_them(tmp_path: Path) -> None:
    text = (
        '[target]\nname = "x"\noldest = 1\nlatest = 3\non_ahead = true\n'
        'create = ["a"]\nmigrate = ["a"]\ndump = ["a"]\nversion = ["a"]\n'
    )
    path = tmp_path / "migration-harness.toml"
    path.write_text(text)
    with pytest.raises(SpecError, match=r"target\.on_ahead: expected a string, got true$"):
        load_target(path)
