"""A spy of the harness that never runs is not the tool's fault: `check --contract
external` against the reference tool, with a spy broken while the tool runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from migration_harness.reference import SPEC_PATH
from tests import specfiles

pytestmark = specfiles.CHECK_RUNS
BREAKER = Path(__file__).parent / "tools" / "spybreaker" / "migrate.py"
MIGRATE_LINE = (
    'migrate = ["{python}", "-m", "migration_harness.reference", "migrate", "{repo}", '
    '"--to", "{to}"]'
)


def breaking_spec(tmp_path: Path, on_run: int, *, fail_after: bool = False) -> Path:
    """The reference spec, its `migrate` run through the spy breaker (see its docstring)."""
    tool = tmp_path / "tool"
    tool.mkdir()
    shutil.copy(BREAKER, tool / "migrate.py")
    (tool / "break-on-run").write_text(str(on_run))
    if fail_after:
        (tool / "fail-after-break").touch()
    text = SPEC_PATH.read_text(encoding="utf-8")
    assert MIGRATE_LINE in text
    wrapped = 'migrate = ["{python}", "{here}/migrate.py", "{repo}", "{to}"]'
    return specfiles.write(tool, text.replace(MIGRATE_LINE, wrapped))


@pytest.mark.parametrize(
    ("on_run", "step"),
    [(1, "migrating with spies on PATH"), (2, "with refrepo-2-to-3 made to fail")],
    ids=["spied-migration", "failing-step"],
)
def test_a_spy_that_never_ran_is_an_error_not_the_tools_failure(
    tmp_path: Path, on_run: int, step: str
) -> None:
    spec = breaking_spec(tmp_path, on_run)
    result = specfiles.check("--config", str(spec), "--contract", "external", cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert out.strip().splitlines()[-1].startswith("check: ERROR"), out
    assert step in out, out
    assert "the spy of the step refrepo-1-to-2 logged a call" in out, out
    assert "the spy failed to start" in out, out
    assert "Traceback" not in out.split("commands run")[0], out


def test_a_tool_that_fails_without_spies_too_is_at_fault(tmp_path: Path) -> None:
    spec = breaking_spec(tmp_path, 1, fail_after=True)
    result = specfiles.check("--config", str(spec), "--contract", "external", cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert out.strip().splitlines()[-1].startswith("check: FAILED"), out
    assert "migrating with spies on PATH: exit 1, expected 0" in out, out
