"""Named versions and content per version: schematool (tests/tools/schematool), whose
versions are names and whose dump changes with the schema, checked by real `check`
subprocesses; spec mistakes about versions refused with file, key, value and expectation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from migration_harness.contract._failure import ContractFailure
from migration_harness.contract._tool import Tool
from migration_harness.spec import load_target
from migration_harness.target import SpecError, Target
from tests.specfiles import CHECK_RUNS, check, write

pytestmark = CHECK_RUNS

SCHEMATOOL = Path(__file__).parent / "tools" / "schematool"
NAMES = ("0001_initial", "0002_note_slug", "0003_data")
# The contracts that compare dumps across versions, or stamp a future version.
COMPARING = ["forward", "revert", "ahead", "idempotent", "concurrent", "crash"]


def schematool_spec(tmp_path: Path, *extra: str, content: str = "per-version") -> Path:
    """schematool's spec with ``content`` set, ``extra`` lines added and {here} filled."""
    text = (SCHEMATOOL / "migration-harness.toml").read_text(encoding="utf-8")
    text = text.replace("{here}", SCHEMATOOL.as_posix())
    text = text.replace('content = "per-version"', f'content = "{content}"')
    return write(tmp_path, text + "".join(line + "\n" for line in extra))


def verdict(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith("check: ")]
    assert lines, stdout
    return lines[-1]


def test_a_tool_with_named_versions_and_per_version_content_passes(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    spec = schematool_spec(tmp_path)
    result = check(
        "--config", str(spec), "--contract", *COMPARING, "--report-json", str(report),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr
    assert verdict(result.stdout).startswith("check: PASSED: schematool: ")
    rows = json.loads(report.read_text(encoding="utf-8"))["results"]
    cases = {row["case"]: row["outcome"] for row in rows}
    # Case ids use the names: from each older version, back to each, and the future one.
    assert cases["forward[0001_initial-0003_data]"] == "passed"
    assert cases["forward[0002_note_slug-0003_data]"] == "passed"
    assert cases["revert[0003_data-0001_initial]"] == "passed"
    assert cases["ahead[9999_future]"] == "passed"
    assert cases["concurrent[0002_note_slug-0003_datax3]"] == "passed"
    assert set(cases.values()) == {"passed"}, cases


def test_a_data_losing_step_fails_the_named_contract(tmp_path: Path) -> None:
    spec = schematool_spec(tmp_path, 'env = { SCHEMATOOL_BUG = "drop-row" }')
    result = check("--config", str(spec), "--contract", "forward", cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-6000:] + result.stderr
    assert verdict(result.stdout).startswith("check: FAILED: schematool broke forward")
    assert "forward[0001_initial-0003_data]" in result.stdout
    assert (
        "after migrating: the logical content differs from a repo created at version"
        ' 0003_data (content = "per-version"; data lost or altered)'
    ) in result.stdout
    # The diff against the repo created at 0003_data shows the row that was lost.
    assert "--- dump of a repo created at 0003_data" in result.stdout
    assert '-  "title": "Ideas",' in result.stdout
    # The step after the buggy one loses nothing: its case passes.
    assert "forward[0002_note_slug-0003_data] ok" in result.stdout


def test_the_same_rule_is_named_when_content_changes_with_the_schema(tmp_path: Path) -> None:
    spec = schematool_spec(tmp_path, content="same")
    result = check("--config", str(spec), "--contract", "forward", cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-6000:] + result.stderr
    assert (
        'after migrating: the logical content changed (content = "same": equal at every'
        " version; data lost or altered)"
    ) in result.stdout
    assert '+  "slug": "first-note",' in result.stdout


# ------------------------------------------------------ the Python API, real commands


def named_target(**changes: object) -> Target:
    tool = SCHEMATOOL / "tool.py"
    fields: dict[str, object] = {
        "name": "schematool",
        "versions": list(NAMES),
        "content": "per-version",
        "create": ("{python}", str(tool), "create", "{repo}", "{version}"),
        "migrate": ("{python}", str(tool), "migrate", "{repo}", "{to}"),
        "version": ("{python}", str(tool), "version", "{repo}"),
        "dump": ("{python}", str(tool), "dump", "{repo}"),
        **changes,
    }
    return Target(**fields)  # type: ignore[arg-type]


def test_python_targets_take_names_and_fill_placeholders_with_them(tmp_path: Path) -> None:
    target = named_target(concurrent_from="0002_note_slug")
    assert (target.oldest, target.latest, target.versions) == (0, 2, NAMES)
    assert target.start_of_concurrency == 1
    assert target.version_name(target.future) == "9999_future"
    # Replacing a field (as with_env does) keeps the names.
    assert target.with_env(X="1").versions == NAMES
    tool = Tool(target, tmp_path)
    args = tool.command(target.migrate, tmp_path / "repo", to=2, **{"from": 0})
    assert args[-1] == "0003_data"
    repo = tmp_path / "repo"
    tool.create(repo, 1)
    assert tool.version_of(repo) == 1
    tool.expect_ok(tool.migrate(repo, 2), "migrating")
    tool.expect_version(repo, 2, "after migrating")


def test_a_version_the_tool_prints_that_is_no_name_is_its_fault(tmp_path: Path) -> None:
    # The tool prints an index where the spec names its versions.
    target = named_target(version=("{python}", "-c", "print(' 2 ')"))
    tool = Tool(target, tmp_path)
    with pytest.raises(ContractFailure) as info:
        tool.version_of(tmp_path, "after migrating: reading the version")
    assert info.value.message == (
        "after migrating: reading the version: got '2', not a version name; expected one of"
        ' "0001_initial", "0002_note_slug", "0003_data" (or "9999_future", ahead)'
    )


def test_the_dump_of_a_repo_created_at_a_version_is_made_once(tmp_path: Path) -> None:
    target = named_target()
    first, second = Tool(target, tmp_path / "a"), Tool(target, tmp_path / "b")
    dump = first.reference_dump(1)
    assert '"slug": "ideas"' in dump and '"words"' not in dump
    assert second.reference_dump(1) == dump
    creates = [r for r in first.transcript + second.transcript if "create" in r.args]
    assert len(creates) == 1, [r.args for r in creates]
    # Another target (even an equal one) has dumps of its own.
    third = Tool(dataclasses.replace(target), tmp_path / "c")
    third.reference_dump(1)
    assert any("create" in r.args for r in third.transcript)


# --------------------------------------------------------------------- spec mistakes

BASE = """
[target]
name = "x"
create = ["t", "{repo}", "{version}"]
migrate = ["t", "{repo}", "{to}"]
version = ["t", "{repo}"]
dump = ["t", "{repo}"]
"""
VERSIONS = 'versions = ["0001_initial", "0002_note_slug", "0003_data"]\n'


@pytest.mark.parametrize(
    ("lines", "key", "says"),
    [
        (
            VERSIONS + "oldest = 0\n",
            "target.oldest",
            "got 0 next to `versions`; expected either `versions` (named) or `oldest` and"
            " `latest` (integers), not both",
        ),
        (
            VERSIONS + "latest = 2\n",
            "target.latest",
            "got 2 next to `versions`; expected either",
        ),
        (
            'versions = ["0001_initial", "0002_x", "0001_initial"]\n',
            "target.versions",
            '"0001_initial" is given twice (items 1 and 3); expected unique names, oldest first',
        ),
        (
            'versions = ["0001_initial"]\n',
            "target.versions",
            'expected 2 to 1001 version names, oldest first, got 1: ["0001_initial"]',
        ),
        (
            'versions = ["0001_initial", "../up"]\n',
            "target.versions",
            "item 2: got \"../up\"; expected a version name of letters, digits, '.', '_'",
        ),
        (
            'versions = ["0001_initial", ""]\n',
            "target.versions",
            'item 2: got ""; expected a version name',
        ),
        (
            VERSIONS + 'future_version = "0002_note_slug"\n',
            "target.future_version",
            '"0002_note_slug" is one of `versions`; expected a name the tool does not know'
            ' (a version newer than "0003_data")',
        ),
        (
            'versions = ["0001_initial", "9999_future"]\n',
            "target.future_version",
            'missing; the default "9999_future" is one of `versions`',
        ),
        (
            "oldest = 1\nlatest = 3\n" + 'future_version = "9999_future"\n',
            "target.future_version",
            'got "9999_future", but it names a version only with `versions`',
        ),
        (
            VERSIONS + 'concurrent = { from = "0004_nope" }\n',
            "target.concurrent.from",
            'expected "oldest" or a name from `versions` (["0001_initial", "0002_note_slug",'
            ' "0003_data"]), got "0004_nope"',
        ),
        (
            VERSIONS + "concurrent = { from = 1 }\n",
            "target.concurrent.from",
            'expected "oldest" or a name from `versions`',
        ),
        (
            "oldest = 1\nlatest = 3\n" + 'concurrent = { from = "0002_note_slug" }\n',
            "target.concurrent.from",
            'expected an integer, got "0002_note_slug"',
        ),
        (
            VERSIONS + 'content = "changing"\n',
            "target.content",
            'expected one of "same", "per-version", got \'changing\'',
        ),
        (
            'versions = "0001_initial"\n',
            "target.versions",
            'expected a list of version names, oldest first, e.g. ["0001_initial"], got'
            ' "0001_initial"',
        ),
        ("", "target.oldest", "missing; expected an integer (or name the versions: versions ="),
    ],
    ids=[
        "versions-and-oldest",
        "versions-and-latest",
        "duplicate-name",
        "one-name",
        "name-with-separator",
        "empty-name",
        "future-among-versions",
        "default-future-among-versions",
        "future-without-names",
        "concurrent-from-unknown-name",
        "concurrent-from-index",
        "concurrent-from-name-on-integers",
        "unknown-content-rule",
        "versions-not-a-list",
        "no-versions-at-all",
    ],
)
def test_version_mistakes_name_file_key_value_and_expectation(
    tmp_path: Path, lines: str, key: str, says: str
) -> None:
    path = write(tmp_path, BASE + lines)
    with pytest.raises(SpecError) as info:
        load_target(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert says in message, message
    assert "\n" not in message


def test_a_named_concurrent_start_loads(tmp_path: Path) -> None:
    target = load_target(
        write(tmp_path, BASE + VERSIONS + 'concurrent = { from = "0002_note_slug" }\n')
    )
    assert target.start_of_concurrency == 1 and target.version_name(target.latest) == "0003_data"
    assert target.content == "same"  # the default: the rule integer specs always had
