"""``assert_refuses``: one check for every "the tool must refuse" test, run against real
processes that refuse, succeed, crash and hang."""

from __future__ import annotations

import sys

import pytest

from migration_harness.locks import assert_fails_fast
from migration_harness.proc import RunResult, run
from migration_harness.refusals import assert_refuses

REFUSES = "import sys; sys.exit('error: repo version 9 is newer than this binary (7)')"


def python(code: str, timeout: float = 60.0) -> RunResult:
    return run([sys.executable, "-c", code], timeout=timeout)


def test_a_clean_refusal_passes() -> None:
    assert_refuses(python(REFUSES), message=r"newer than this binary")


@pytest.mark.parametrize(
    ("code", "message", "timeout", "says"),
    [
        ("pass", None, 60.0, "expected a clean refusal: it exited 0\n"),
        (REFUSES, "(?i)lock", 60.0, "its output does not match '(?i)lock'"),
        ("1/0", None, 60.0, "it crashed with a stack trace ('Traceback"),
        ("import time; time.sleep(60)", None, 1.0, "it timed out instead of failing"),
    ],
    ids=["exit-0", "wrong-words", "traceback", "hang"],
)
def test_each_way_of_not_refusing_is_named(
    code: str, message: str | None, timeout: float, says: str
) -> None:
    result = python(code, timeout=timeout)
    with pytest.raises(AssertionError) as failed:
        assert_refuses(result, message=message)
    assert says in str(failed.value)
    assert "command:" in str(failed.value), "the run's own description follows"


def test_because_finishes_the_sentence() -> None:
    with pytest.raises(AssertionError, match="it exited 0 although the repo is newer"):
        assert_refuses(python("pass"), because="although the repo is newer")


def test_the_lock_wording_is_the_same_check() -> None:
    with pytest.raises(AssertionError, match="fast, clean failure: it exited 0 although the lock"):
        assert_fails_fast(python("pass"), within=600)
    assert_fails_fast(python("import sys; sys.exit('repo is locked')"), within=600)
