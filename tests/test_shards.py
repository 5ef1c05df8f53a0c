"""``check --shard K/N``: a stable slice of the cases, the slices together each case once,
the verdicts the same as one run's (a mutant's failure lands in exactly one shard)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migration_harness.contract.selection import SelectionError, Shard, parse_shard
from tests.specfiles import CHECK_RUNS, check

pytestmark = CHECK_RUNS

pytest_plugins = ["pytester"]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_the_shards_together_take_every_case_once(count: int) -> None:
    cases = [f"case{n}" for n in range(20)]
    taken = [case for index in range(1, count + 1) for case in Shard(index, count).pick(cases)]
    assert sorted(taken) == sorted(cases)
    assert Shard(1, count).pick(cases) == Shard(1, count).pick(list(cases)), "stable"


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "2", "a/b", "1/257", "-1/2"])
def test_a_bad_shard_is_refused_by_the_cli_in_one_line(tmp_path: Path, text: str) -> None:
    with pytest.raises(SelectionError):
        parse_shard(text, "--shard")
    result = check(f"--shard={text}", cwd=tmp_path)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert f"--shard: expected K/N with 1 <= K <= N <= 256 (e.g. 2/4), got {text!r}" in line


def test_a_mutants_failure_lands_in_one_shard_only(tmp_path: Path) -> None:
    outcomes = {}
    for index in (1, 2):
        report = tmp_path / f"r{index}.json"
        result = check(
            "--mutant", "ahead-downgrade", "--contract", "idempotent", "ahead",
            "--shard", f"{index}/2", "--report-json", str(report), cwd=tmp_path,
        )  # fmt: skip
        results = json.loads(report.read_text(encoding="utf-8"))["results"]
        outcomes.update({r["case"]: (r["outcome"], result.returncode) for r in results})
    assert outcomes == {"idempotent[4-4]": ("passed", 0), "ahead[5]": ("failed", 1)}


def test_the_plugin_takes_the_same_shard(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "--mh-contract", "reference", "--co", "-q",
        "--mh-contract-id", "revert", "--mh-shard", "2/3",
    )  # fmt: skip
    collected = [line for line in result.outlines if line.startswith("contract::")]
    assert collected == ["contract::revert[4-2]"], result.stdout.str()
