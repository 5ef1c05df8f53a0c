"""Editing the embeddable CPython's ``pythonXY._pth`` file.

The embeddable distribution ignores PYTHONPATH and builds ``sys.path`` only from
the lines of this file; ``site`` (and with it ``.pth`` processing and
``site-packages``) is off until the line ``import site`` is present.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

IMPORT_SITE = "import site"


def find_pth_file(home: Path) -> Path:
    """Return the single ``python3*._pth`` file in the distribution at ``home``."""
    found = sorted(home.glob("python3*._pth"))
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise FileNotFoundError(
            f"expected exactly one python3*._pth file in {home}, found: {names}"
        )
    return found[0]


def python_version_of(pth_file: Path) -> str:
    """``python313._pth`` -> ``"3.13"`` (the version pip must download wheels for)."""
    digits = pth_file.name.removeprefix("python").removesuffix("._pth")
    if not digits.isdigit() or len(digits) < 2:
        raise ValueError(f"cannot read a Python version from the file name {pth_file.name!r}")
    return f"{digits[0]}.{digits[1:]}"


def edit_pth_text(text: str, entries: Sequence[str]) -> str:
    """Return ``text`` with every path in ``entries`` listed and ``import site`` enabled.

    Idempotent: entries already present are not added twice, the original lines keep
    their order, a commented-out ``#import site`` is uncommented rather than duplicated.
    """
    lines = [line.rstrip("\r") for line in text.splitlines()]
    present = {line.strip().casefold() for line in lines}
    new_paths = [e for e in entries if e.casefold() not in present]
    out: list[str] = []
    site_enabled = False
    for line in lines:
        stripped = line.strip()
        if stripped.lstrip("#").strip() == IMPORT_SITE:
            if not site_enabled:
                out.append(IMPORT_SITE)
                site_enabled = True
            continue
        out.append(line)
    # Paths go before `import site`, after the stdlib entries the file already has.
    insert_at = len(out)
    while insert_at > 0 and not out[insert_at - 1].strip():
        insert_at -= 1
    if site_enabled:
        insert_at = out.index(IMPORT_SITE)
    out[insert_at:insert_at] = new_paths
    if not site_enabled:
        out.append(IMPORT_SITE)
    # The embeddable distribution ships this file with CRLF endings; keep that.
    return "\r\n".join(out) + "\r\n"


def enable_paths(pth_file: Path, entries: Sequence[str]) -> None:
    """Rewrite ``pth_file`` in place with :func:`edit_pth_text` (no-op when already done)."""
    old = pth_file.read_text(encoding="utf-8")
    new = edit_pth_text(old, entries)
    if new != old:
        pth_file.write_text(new, encoding="utf-8", newline="")
