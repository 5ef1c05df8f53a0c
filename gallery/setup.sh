#!/bin/sh
# Install the gallery's pinned tools into $GALLERY_TOOLS (default: gallery/.tools), never
# globally: a venv with Django and alembic, node_modules with dbmate. sql-migrate comes from
# Debian (apt-get install sql-migrate) and is only checked here.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tools=${GALLERY_TOOLS:-$here/.tools}
mkdir -p "$tools"
[ -x "$tools/venv/bin/python" ] || python3 -m venv "$tools/venv"
"$tools/venv/bin/pip" install -q -r "$here/requirements.txt"
cp "$here/package.json" "$tools/package.json"
(cd "$tools" && npm install --no-audit --no-fund --silent)
command -v sql-migrate >/dev/null || echo "sql-migrate missing: apt-get install sql-migrate" >&2
echo "tools in $tools"
