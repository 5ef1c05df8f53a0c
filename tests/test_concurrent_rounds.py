"""concurrent repeats its race and names the first broken round (a tool whose race
breaks in its third round only, so no luck is involved)."""

from __future__ import annotations

from pathlib import Path

from tests.specfiles import CHECK_RUNS, check

pytestmark = CHECK_RUNS

SPEC = Path(__file__).parent / "tools" / "roundtool" / "migration-harness.toml"


def test_the_first_broken_round_is_named(tmp_path: Path) -> None:
    result = check("--config", str(SPEC), "--contract", "concurrent", cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    assert "round 3 of 5 (plain; rounds 1-2 passed): after the race" in result.stdout, result.stdout


def test_fewer_rounds_than_the_break_pass(tmp_path: Path) -> None:
    spec = tmp_path / "migration-harness.toml"
    text = SPEC.read_text().replace("rounds = 5", "rounds = 2")
    spec.write_text(text.replace("{here}", SPEC.parent.as_posix()))  # TOML: no backslashes
    result = check("--config", str(spec), "--contract", "concurrent", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "2 rounds of 3 racers (plain)" in result.stdout
