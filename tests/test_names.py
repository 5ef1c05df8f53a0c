"""safe_name against the hostile-name corpus, rule by rule, and the safe_tmp_path fixture."""

from __future__ import annotations

import json
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from pathvalidate import is_valid_filename

from migration_harness.names import HASH_LEN, is_reserved, safe_name

CORPUS_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "hostile-names.json"
CORPUS: dict[str, Any] = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))
MAX_LEN: int = CORPUS["max_len"]
ENTRIES: list[dict[str, Any]] = CORPUS["entries"]
FORBIDDEN = set('<>:"/\\|?*')
HASHED = re.compile(rf"-[0-9a-f]{{{HASH_LEN}}}$")


def _id(entry: dict[str, Any]) -> str:
    return ascii(entry["text"])[:40]


@pytest.fixture(params=ENTRIES, ids=_id)
def entry(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(request.param)


def test_corpus_covers_every_rule() -> None:
    rules = " ".join(e["rule"] for e in ENTRIES)
    for needed in (
        "reserved device name",
        "extension",
        "superscript",
        "trailing dots",
        "control characters",
        "very long",
        "non-ASCII",
        "parametrised id with /",
        "parametrised id with : and /",
        "brackets",
        "empty",
    ):
        assert needed in rules, f"corpus has no entry for {needed!r}"


def test_every_rule_holds(entry: dict[str, Any]) -> None:
    text = entry["text"]
    name = safe_name(text, max_len=MAX_LEN)
    assert name, "empty name"
    assert 0 < len(name) <= MAX_LEN
    assert not FORBIDDEN & set(name), f"forbidden character in {name!r}"
    assert all(unicodedata.category(c) not in ("Cc", "Cs") for c in name)
    assert not name.endswith((".", " ")), f"trailing dot or space in {name!r}"
    assert name not in (".", "..")
    assert not is_reserved(name), f"{name!r} is a Windows device name"
    assert is_valid_filename(name, platform="windows")
    assert is_valid_filename(name, platform="macos")
    assert is_valid_filename(name, platform="linux")
    assert unicodedata.normalize("NFC", name) == name
    assert len(name.encode("utf-8")) <= 255
    assert safe_name(text, max_len=MAX_LEN) == name, "not deterministic"


def test_entry_property(entry: dict[str, Any]) -> None:
    name = safe_name(entry["text"], max_len=MAX_LEN)
    if entry.get("unchanged"):
        assert name == entry["text"]
    else:
        assert HASHED.search(name), f"{name!r}: a changed name must end with a hash"
        assert name.startswith(unicodedata.normalize("NFC", entry["keeps"]))


def test_entry_can_be_created_and_listed_back(entry: dict[str, Any], tmp_path: Path) -> None:
    name = safe_name(entry["text"], max_len=MAX_LEN)
    (tmp_path / name).mkdir()
    (tmp_path / name / "file").write_text("x")
    assert os.listdir(tmp_path) == [name]


def test_names_are_unique_even_case_insensitively() -> None:
    texts = [e["text"] for e in ENTRIES]
    assert len(set(texts)) == len(texts), "the corpus repeats an entry"
    names = [safe_name(e["text"], max_len=MAX_LEN) for e in ENTRIES]
    folded = [n.casefold() for n in names]
    duplicates = {n for n in folded if folded.count(n) > 1}
    assert not duplicates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CON", "CON_"),
        ("con.txt", "con_.txt"),
        ("NUL .txt", "NUL_.txt"),
        ("COM¹", "COM¹_"),
        ("CONOUT$", "CONOUT$_"),
        ("trail. .", "trail"),
        ("a:b", "a_b"),
        (".", "_"),
        ("", "_"),
    ],
)
def test_readable_part(text: str, expected: str) -> None:
    name = safe_name(text)
    assert HASHED.search(name)
    assert name[: -HASH_LEN - 1] == expected


def test_clean_lower_case_names_are_kept() -> None:
    assert safe_name("test_migrate[1-2]") == "test_migrate[1-2]"


def test_long_names_are_cut_at_max_len_and_stay_distinct() -> None:
    a, b = safe_name("p" * 100 + "a", max_len=20), safe_name("p" * 100 + "b", max_len=20)
    assert len(a) == len(b) == 20
    assert a != b


def test_truncation_never_leaves_a_trailing_dot() -> None:
    name = safe_name("x" * 10 + "." * 50, max_len=20)
    assert not name[: -HASH_LEN - 1].endswith(".")


def test_max_len_too_small_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_len"):
        safe_name("x", max_len=5)


@pytest.mark.parametrize(
    "name",
    ["CON", "con.txt", "Com1.log", "LPT³", "nul .txt", "conin$", "CLOCK$"],
)
def test_is_reserved(name: str) -> None:
    assert is_reserved(name)


@pytest.mark.parametrize("name", ["CONSOLE", "icon", "COM10", "LPT", "nul_", "a.con"])
def test_is_not_reserved(name: str) -> None:
    assert not is_reserved(name)


def test_safe_tmp_path_round_trips_parametrised_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest
        from migration_harness.names import safe_name

        @pytest.mark.parametrize(
            "value", ["a/b", "x:y", "[nested]", "CON", "dots..."],
            ids=lambda v: v,
        )
        def test_dir(safe_tmp_path, request, value):
            assert safe_tmp_path.is_dir()
            assert list(safe_tmp_path.iterdir()) == []
            assert safe_tmp_path.name == safe_name(request.node.name)
            assert safe_tmp_path.name in os.listdir(safe_tmp_path.parent)
            assert "/" not in safe_tmp_path.name and ":" not in safe_tmp_path.name
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:xdist")
    result.assert_outcomes(passed=5)
