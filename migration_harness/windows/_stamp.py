"""Stamp files: a provisioning step is skipped when its stamp records the same inputs.

A stamp is written only after its step has finished, so an interrupted step is
redone on the next run instead of being trusted half-done.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

STAMP_NAME = ".migration-harness-stamp.json"


def stamp_path(directory: Path) -> Path:
    return directory / STAMP_NAME


def is_current(directory: Path, key: Mapping[str, Any]) -> bool:
    """True when ``directory`` holds a finished step made from exactly ``key``."""
    recorded = read(directory)
    return recorded is not None and recorded == json.loads(json.dumps(dict(key)))


def read(directory: Path) -> dict[str, Any] | None:
    """The inputs recorded in ``directory``'s stamp, or None when it has no readable one."""
    try:
        recorded = json.loads(stamp_path(directory).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) else None


def write(directory: Path, key: Mapping[str, Any]) -> None:
    stamp_path(directory).write_text(json.dumps(dict(key), indent=2, sort_keys=True) + "\n")


def short_hash(key: Mapping[str, Any]) -> str:
    """A short, stable name for ``key`` (used for per-key download directories)."""
    blob = json.dumps(dict(key), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


SKIP_PARTS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})


def fingerprint_files(root: Path, relative: Iterable[str]) -> str:
    """sha256 over the names and bytes of the files under ``root / each of relative``.

    Used as the key of the project wheel: any edit to the package re-installs it,
    nothing else does.
    """
    digest = hashlib.sha256()
    for rel in sorted(relative):
        top = root / rel
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in files:
            parts = path.relative_to(root).parts
            if SKIP_PARTS.intersection(parts) or path.suffix in (".pyc", ".pyo"):
                continue
            digest.update("/".join(parts).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
