"""schematool: a repo whose schema changes with every version, versions named as Django
names its migrations. The repo is one JSON file, `notes.json`, holding the version and
the rows; each step rewrites it atomically (a temp file of its own, then a rename), so a
crash leaves the repo at one version or the next, never between.

  0001_initial    rows {id, title}
  0002_note_slug  adds `slug`, made from the title
  0003_data       adds `words`, the title's word count (a data migration)

The dump is the rows as they are, so it differs at every version. SCHEMATOOL_BUG (set in
the spec's env) makes it misbehave: `drop-row` loses the last row in 0002_note_slug.
"""

import json
import os
import sys
from pathlib import Path

VERSIONS = ["0001_initial", "0002_note_slug", "0003_data"]
TITLES = ["First note", "Groceries for the week", "Ideas"]


def slug(title: str) -> str:
    return title.lower().replace(" ", "-")


def up(step: str, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    if step == "0002_note_slug":
        rows = [{**row, "slug": slug(str(row["title"]))} for row in rows]
        return rows[:-1] if os.environ.get("SCHEMATOOL_BUG") == "drop-row" else rows
    if step == "0003_data":
        return [{**row, "words": len(str(row["title"]).split())} for row in rows]
    raise SystemExit(f"schematool: no step {step}")


def down(step: str, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    column = {"0002_note_slug": "slug", "0003_data": "words"}[step]
    return [{k: v for k, v in row.items() if k != column} for row in rows]


def fresh_rows(version: str) -> list[dict[str, object]]:
    """The rows a repo created at `version` holds, written in that version's shape."""
    known = VERSIONS[: VERSIONS.index(version) + 1]
    rows: list[dict[str, object]] = []
    for i, title in enumerate(TITLES, 1):
        row: dict[str, object] = {"id": i, "title": title}
        if "0002_note_slug" in known:
            row["slug"] = slug(title)
        if "0003_data" in known:
            row["words"] = len(title.split())
        rows.append(row)
    return rows


def read(repo: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((repo / "notes.json").read_text(encoding="utf-8"))
    return data


def write(repo: Path, data: dict[str, object]) -> None:
    tmp = repo / f"notes.json.{os.getpid()}.tmp"  # one per process: racers never share it
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, repo / "notes.json")


def known_version(data: dict[str, object]) -> str:
    version = str(data["version"])
    if version not in VERSIONS:
        sys.stderr.write(
            f"schematool: the repo is at version {version}, newer than this build knows"
            f" (latest {VERSIONS[-1]}); refusing to touch it\n"
        )
        raise SystemExit(2)
    return version


def migrate(repo: Path, to: str, downward: bool) -> None:
    data = read(repo)
    current = known_version(data)
    rows = list(data["rows"])  # type: ignore[call-overload]
    here, target = VERSIONS.index(current), VERSIONS.index(to)
    while here != target:
        if downward and here > target:
            rows = down(VERSIONS[here], rows)
            here -= 1
        elif not downward and here < target:
            here += 1
            rows = up(VERSIONS[here], rows)
        else:
            raise SystemExit(f"schematool: cannot go from {current} to {to} this way")
        write(repo, {"version": VERSIONS[here], "rows": rows})


def main() -> None:
    verb, repo = sys.argv[1], Path(sys.argv[2])
    if verb == "create":
        repo.mkdir(parents=True)
        write(repo, {"version": sys.argv[3], "rows": fresh_rows(sys.argv[3])})
    elif verb in ("migrate", "revert"):
        if sys.argv[3] not in VERSIONS:
            raise SystemExit(f"schematool: unknown version {sys.argv[3]!r}")
        migrate(repo, sys.argv[3], downward=verb == "revert")
    elif verb == "version":
        print(read(repo)["version"])
    elif verb == "stamp":
        write(repo, {**read(repo), "version": sys.argv[3]})
    elif verb == "dump":
        print(json.dumps(read(repo)["rows"], indent=1, sort_keys=True))


main()
