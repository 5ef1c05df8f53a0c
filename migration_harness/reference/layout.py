"""What a refrepo repo looks like at each version, and how to read it.

- ``version``: the version as text; ``config``: JSON; ``repo.lock``: the lock file.
- v1: flat config ``{"Addr", "Port", "Name"}``; blocks flat in ``blocks/<key>``.
- v2: nested config ``{"api": {"addr", "port"}, "name"}``; blocks flat.
- v3: config gains ``"datastore": {"type": "files", "layout": "sharded"}``; blocks
  sharded in ``blocks/<key[:2]>/<key>``.
- v4: ``"datastore": {"type": "sqlite", "path": "store.db"}``; blocks live in the
  SQLite file ``store.db``; the old ``blocks/`` is kept but tombstoned
  (``blocks/TOMBSTONE``) so the files backend refuses it.

Data is written first and the version last, so data may be one step ahead of
(or, during a revert, behind) the version file after a crash. Readers accept
that: a config one shape away from the version, a block in either file layout.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

from migration_harness.reference.errors import RefError
from migration_harness.reference.versions import (
    LATEST,
    OLDEST,
    VERSION_FILE,
    ahead_message,
    read_version,
)

# typing.TYPE_CHECKING without importing typing, which would add a few ms to `dump`'s
# start; type checkers take any name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONFIG_FILE = "config"
LOCK_FILE = "repo.lock"
API_FILE = "api"
BLOCKS_DIR = "blocks"
STORE_DB = "store.db"
TOMBSTONE = "TOMBSTONE"
TOMBSTONE_TEXT = (
    b"this blocks/ store has been migrated to store.db (refrepo version 4);\n"
    b"it is tombstoned: open the repo with the sqlite backend\n"
)

_KEY = re.compile(r"[0-9a-f]{20}")


class Repo:
    """Paths inside one repo directory."""

    # A plain class, not a dataclass: a harness runs `dump` hundreds of times, and
    # importing dataclasses would add to each start more than it saves here.
    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"Repo({str(self.root)!r})"

    root: Path

    @property
    def version_file(self) -> Path:
        return self.root / VERSION_FILE

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def lock_file(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def api_file(self) -> Path:
        return self.root / API_FILE

    @property
    def blocks(self) -> Path:
        return self.root / BLOCKS_DIR

    @property
    def store_db(self) -> Path:
        return self.root / STORE_DB

    @property
    def tombstone(self) -> Path:
        return self.blocks / TOMBSTONE

    def backup(self, frm: int, to: int) -> Path:
        return self.root / f"config.{frm}-to-{to}.bak"


# ---- config ---------------------------------------------------------------------------------


def config_bytes(config: dict[str, Any]) -> bytes:
    """The canonical serialisation (sorted keys, LF line ends) so writes are deterministic."""
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()


def parse_config(repo: Repo, raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RefError(f"corrupt config {repo.config_file}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise RefError(f"corrupt config {repo.config_file}: expected a JSON object")
    return value


def read_config(repo: Repo) -> tuple[bytes, dict[str, Any]]:
    """The config's bytes (read fully, file closed) and parsed value."""
    try:
        raw = repo.config_file.read_bytes()
    except FileNotFoundError:
        raise RefError(f"corrupt repo: {repo.config_file} does not exist") from None
    return raw, parse_config(repo, raw)


def config_shape(repo: Repo, config: dict[str, Any]) -> int:
    """Which version's layout ``config`` has (1..4); a clear error for anything else."""
    if "Addr" in config:
        _check_fields(repo, config, {"Addr": str, "Port": int, "Name": str})
        return 1
    api = config.get("api")
    if not isinstance(api, dict):
        raise RefError(f"corrupt config {repo.config_file}: neither 'Addr' nor an 'api' object")
    _check_fields(repo, api, {"addr": str, "port": int})
    _check_fields(repo, config, {"name": str})
    store = config.get("datastore")
    if store is None:
        return 2
    kind = store.get("type") if isinstance(store, dict) else None
    if kind == "files":
        return 3
    if kind == "sqlite":
        return 4
    raise RefError(
        f"corrupt config {repo.config_file}: 'datastore.type' must be 'files' or 'sqlite'"
    )


def _check_fields(repo: Repo, obj: dict[str, Any], fields: dict[str, type]) -> None:
    for key, kind in fields.items():
        value = obj.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise RefError(
                f"corrupt config {repo.config_file}: key {key!r} must be a {kind.__name__}, "
                f"found {value!r}"
            )


def logical_config(repo: Repo, config: dict[str, Any]) -> dict[str, Any]:
    """The values a migration must keep, whatever the layout."""
    if config_shape(repo, config) == 1:
        return {"addr": config["Addr"], "port": config["Port"], "name": config["Name"]}
    return {"addr": config["api"]["addr"], "port": config["api"]["port"], "name": config["name"]}


def reshape_config(repo: Repo, config: dict[str, Any], shape: int) -> dict[str, Any]:
    """``config`` in the layout of version ``shape``; unknown top-level keys are kept."""
    values = logical_config(repo, config)
    legacy = {"Addr", "Port", "Name", "api", "name", "datastore"}
    out = {key: value for key, value in config.items() if key not in legacy}
    if shape == 1:
        out.update(Addr=values["addr"], Port=values["port"], Name=values["name"])
        return out
    out["api"] = {"addr": values["addr"], "port": values["port"]}
    out["name"] = values["name"]
    if shape == 3:
        out["datastore"] = {"type": "files", "layout": "sharded"}
    elif shape == 4:
        out["datastore"] = {"type": "sqlite", "path": STORE_DB}
    return out


# ---- blocks ---------------------------------------------------------------------------------


def is_block_key(name: str) -> bool:
    return _KEY.fullmatch(name) is not None


def flat_path(repo: Repo, key: str) -> Path:
    return repo.blocks / key


def sharded_path(repo: Repo, key: str) -> Path:
    return repo.blocks / key[:2] / key


def file_block_paths(repo: Repo) -> dict[str, Path]:
    """Every block in the files store, flat or sharded (a half-done reshard reads whole)."""
    found: dict[str, Path] = {}
    if not repo.blocks.is_dir():
        raise RefError(f"corrupt repo: block store {repo.blocks} does not exist")
    for entry in sorted(repo.blocks.iterdir()):
        if entry.is_file() and is_block_key(entry.name):
            found[entry.name] = entry
        elif entry.is_dir() and re.fullmatch(r"[0-9a-f]{2}", entry.name):
            for inner in sorted(entry.iterdir()):
                if inner.is_file() and is_block_key(inner.name):
                    found[inner.name] = inner
    return found


def read_file_blocks(repo: Repo) -> dict[str, bytes]:
    return {key: path.read_bytes() for key, path in file_block_paths(repo).items()}


def read_store_blocks(repo: Repo) -> dict[str, bytes]:
    """The blocks in ``store.db``; a clear error (not a new empty file) if it is missing."""
    if not repo.store_db.is_file():
        raise RefError(
            f"block store {repo.store_db} is missing; run 'migrate {repo.root} --to {LATEST}' "
            "to rebuild it from the tombstoned blocks/"
        )
    import sqlite3  # only the v4 store needs it: keeps `version` quick to start

    try:
        with contextlib.closing(sqlite3.connect(repo.store_db)) as db:
            rows = db.execute("SELECT key, data FROM blocks ORDER BY key").fetchall()
    except sqlite3.Error as exc:
        raise RefError(f"corrupt block store {repo.store_db}: {exc}") from None
    return {str(key): bytes(data) for key, data in rows}


def read_blocks(repo: Repo, version: int) -> dict[str, bytes]:
    return read_store_blocks(repo) if version >= LATEST else read_file_blocks(repo)


# ---- dump -----------------------------------------------------------------------------------


def dump(repo: Repo) -> str:
    """The canonical logical content: identical at every version for the same data."""
    version = read_version(repo.root)
    if version > LATEST:
        raise RefError(ahead_message(version))
    if version < OLDEST:
        raise RefError(f"repo version {version} is older than the oldest supported ({OLDEST})")
    _, config = read_config(repo)
    shape = config_shape(repo, config)
    if abs(shape - version) > 1:
        raise RefError(
            f"corrupt config {repo.config_file}: has the version-{shape} layout but the repo "
            f"is at version {version}"
        )
    blocks = read_blocks(repo, version)
    content = {
        "config": logical_config(repo, config),
        "blocks": {key: data.decode("utf-8", "backslashreplace") for key, data in blocks.items()},
    }
    return json.dumps(content, indent=2, sort_keys=True) + "\n"
