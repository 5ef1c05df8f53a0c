#!/bin/sh
# Does a SIGKILL to the npm `dbmate` wrapper (node) reach the Go binary doing the work?
# The database is held with BEGIN IMMEDIATE so the binary is still busy when the wrapper dies.
# Usage: sh probes/wrapper_kill.sh   (from gallery/dbmate; tools in $GALLERY_TOOLS)
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
tools=${GALLERY_TOOLS:-$here/../.tools}
py=$tools/venv/bin/python
tmp=$(mktemp -d)
db=$tmp/notes.db
export DATABASE_URL="sqlite:$db"
cd "$here"
"$tools/node_modules/.bin/dbmate" --no-dump-schema up >/dev/null
"$tools/node_modules/.bin/dbmate" --no-dump-schema rollback >/dev/null
"$py" -c "
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute('BEGIN IMMEDIATE'); open(sys.argv[2], 'w').close(); time.sleep(4)
" "$db" "$tmp/held" &
holder=$!
while [ ! -e "$tmp/held" ]; do sleep 0.05; done
echo "lock held by pid $holder"
"$tools/node_modules/.bin/dbmate" --no-dump-schema up >"$tmp/out" 2>&1 &
wrapper=$!
# wait (up to 10 s) until node has started the Go binary
i=0; while [ -z "$(ps -o pid= --ppid $wrapper)" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
echo "wrapper pid $wrapper: $(ps -o args= -p $wrapper)"
echo "its children: $(ps -o pid=,args= --ppid $wrapper)"
kill -KILL $wrapper
sleep 0.3
echo "after SIGKILL to the wrapper, dbmate binaries still running:"
ps -eo pid,ppid,args | grep "[b]in/dbmate --no-dump-schema up" || echo "  none"
wait $holder
sleep 6
echo "orphan's output: $(cat "$tmp/out")"
echo "final version rows: $("$py" -c "import sqlite3,sys; print([r[0] for r in sqlite3.connect(sys.argv[1]).execute('SELECT version FROM schema_migrations ORDER BY version')])" "$db")"
rm -rf "$tmp"
