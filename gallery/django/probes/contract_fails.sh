#!/bin/sh
# Reproduce, without migration-harness, the two cases the contract fails on this sample
# (gallery/django/README.md): Django's commands and the sqlite3 CLI only.
#   past-wait  SQLite's write lock held for 12 s (sqlite3 CLI, BEGIN IMMEDIATE) while
#              `migrate` runs: Django gives up after its 5 s busy timeout with a traceback.
#   race       4 `migrate` runs started together on a database at 0001_initial, ROUNDS times
#              (default 8): exit codes and the applied migrations recorded more than once.
# Usage: sh gallery/django/probes/contract_fails.sh [past-wait] [race]   (tools in $GALLERY_TOOLS)
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
tools=${GALLERY_TOOLS:-$here/../.tools}
PATH=$tools/venv/bin:$PATH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
migrate() { NOTES_DB=$1 python "$here/manage.py" migrate --no-input notes "$2"; }

past_wait() {
  db=$tmp/held.db
  migrate "$db" 0001_initial >/dev/null
  (echo "BEGIN IMMEDIATE;"; sleep 12; echo "COMMIT;") | sqlite3 "$db" &
  holder=$!
  sleep 1
  start=$(date +%s)
  migrate "$db" 0003_fill_slug >"$tmp/out" 2>&1
  rc=$?
  echo "past-wait: migrate exit $rc after $(( $(date +%s) - start )) s;" \
    "traceback lines: $(grep -c '^Traceback' "$tmp/out");" \
    "last line: $(tail -n 1 "$tmp/out")"
  echo "past-wait: applied while held: $(sqlite3 "$db" "SELECT group_concat(name) FROM django_migrations WHERE app = 'notes'")"
  wait $holder
}

race() {
  broken=0
  for round in $(seq "${ROUNDS:-8}"); do
    db=$tmp/race$round.db
    migrate "$db" 0001_initial >/dev/null
    rm -f "$tmp/go"
    for r in 1 2 3 4; do
      (while [ ! -e "$tmp/go" ]; do sleep 0.01; done
       migrate "$db" 0003_fill_slug >"$tmp/r$r" 2>&1; echo $? >"$tmp/rc$r") &
    done
    sleep 1; touch "$tmp/go"; wait
    rcs=$(cat "$tmp/rc1" "$tmp/rc2" "$tmp/rc3" "$tmp/rc4" | tr '\n' ' ')
    dups=$(sqlite3 "$db" "SELECT group_concat(name || ' x' || n, ', ') FROM (SELECT name, count(*) AS n FROM django_migrations WHERE app = 'notes' GROUP BY name HAVING n > 1)")
    errs=$(cat "$tmp"/r? | grep -E '^[a-zA-Z_.]+(Error|Exception): ' | sort | uniq -c | tr -s ' ' | tr '\n' ';')
    [ -n "$dups" ] || [ "$rcs" != "0 0 0 0 " ] && broken=$((broken + 1))
    echo "race round $round: exits $rcs duplicates: ${dups:-none} errors: ${errs:-none}"
  done
  echo "race: $broken of ${ROUNDS:-8} rounds broken"
}

for case in ${*:-past-wait race}; do
  case $case in
    past-wait) past_wait ;;
    race) race ;;
    *) echo "unknown case $case" >&2; exit 2 ;;
  esac
done
