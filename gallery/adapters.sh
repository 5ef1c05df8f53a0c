#!/bin/sh
# The adapter commands FINDINGS.md lists for the presets, run on the sample projects: for each
# tool, create a database at version 2, read its version, dump it, stamp a future version and
# read the version again. Usage: sh gallery/adapters.sh   (tools in $GALLERY_TOOLS)
set -eu
g=$(cd "$(dirname "$0")" && pwd)
tools=${GALLERY_TOOLS:-$g/.tools}
PATH=$tools/venv/bin:$PATH
dbmate=$(ls "$tools"/node_modules/@dbmate/*/bin/dbmate)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sq() { python -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); r=c.execute(sys.argv[2]).fetchall(); c.commit(); print("\n".join(str(x[0]) for x in r))' "$@"; }

echo "== django"; export NOTES_DB=$tmp/django.db; cd "$g/django"
python manage.py migrate notes 0002_note_slug >/dev/null                       # create at N
sq "$NOTES_DB" "SELECT name FROM django_migrations WHERE app='notes' ORDER BY name DESC LIMIT 1"  # version
python "$g/probelib.py" dump "$NOTES_DB" django_migrations                     # dump
sq "$NOTES_DB" "INSERT INTO django_migrations (app, name, applied) VALUES ('notes', '0004_future', datetime('now'))"  # stamp future
sq "$NOTES_DB" "SELECT name FROM django_migrations WHERE app='notes' ORDER BY name DESC LIMIT 1"

echo "== alembic"; export NOTES_DB=$tmp/alembic.db; cd "$g/alembic"
alembic -c alembic.ini upgrade 2b3c4d5e6f02 2>/dev/null                        # create at N
alembic -c alembic.ini current 2>/dev/null                                     # version
python "$g/probelib.py" dump "$NOTES_DB" alembic_version                       # dump
sq "$NOTES_DB" "UPDATE alembic_version SET version_num = '4d5e6f7a8b04'"       # stamp future
sq "$NOTES_DB" "SELECT version_num FROM alembic_version"

echo "== dbmate"; export DATABASE_URL=sqlite:$tmp/dbmate.db; cd "$g/dbmate"
mkdir "$tmp/first2" && cp $(ls db/migrations/*.sql | head -n 2) "$tmp/first2/"
"$dbmate" --no-dump-schema -d "$tmp/first2" up >/dev/null                       # create at N
sq "$tmp/dbmate.db" "SELECT max(version) FROM schema_migrations"               # version
python "$g/probelib.py" dump "$tmp/dbmate.db" schema_migrations                # dump
sq "$tmp/dbmate.db" "INSERT INTO schema_migrations (version) VALUES ('20990101000004')"  # stamp future
sq "$tmp/dbmate.db" "SELECT max(version) FROM schema_migrations"

echo "== sql-migrate"; export NOTES_DB=$tmp/sqlmigrate.db; cd "$g/sql-migrate"
sql-migrate up -limit=2 >/dev/null                                             # create at N
sq "$NOTES_DB" "SELECT id FROM gorp_migrations ORDER BY CAST(id AS INTEGER) DESC LIMIT 1"  # version
python "$g/probelib.py" dump "$NOTES_DB" gorp_migrations                       # dump
sq "$NOTES_DB" "INSERT INTO gorp_migrations (id, applied_at) VALUES ('4_future.sql', datetime('now'))"  # stamp future
sq "$NOTES_DB" "SELECT id FROM gorp_migrations ORDER BY CAST(id AS INTEGER) DESC LIMIT 1"
