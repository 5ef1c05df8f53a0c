#!/bin/sh
# Reproduce, without migration-harness, the two cases the contract fails on this sample
# (gallery/dbmate/README.md): dbmate's Go binary and the sqlite3 CLI only.
#   race     4 `dbmate up` runs started together on a database at 20250101000001, ROUNDS
#            times (default 8): their exit codes and errors, and the end state.
#   percent  a database under a directory named `100%-x`: dbmate cannot parse its own URL.
# Usage: sh gallery/dbmate/probes/contract_fails.sh [race] [percent]   (tools in $GALLERY_TOOLS)
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
tools=${GALLERY_TOOLS:-$here/../.tools}
dbmate=$(ls "$tools"/node_modules/@dbmate/*/bin/dbmate)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
up() { "$dbmate" --url "sqlite:$1" --migrations-dir "$here/db/upto/$2" --no-dump-schema up; }

race() {
  broken=0
  for round in $(seq "${ROUNDS:-8}"); do
    db=$tmp/race$round.db
    up "$db" 20250101000001 >/dev/null
    rm -f "$tmp/go"
    for r in 1 2 3 4; do
      (while [ ! -e "$tmp/go" ]; do sleep 0.01; done
       up "$db" 20250101000003 >"$tmp/r$r" 2>&1; echo $? >"$tmp/rc$r") &
    done
    sleep 1; touch "$tmp/go"; wait
    rcs=$(cat "$tmp/rc1" "$tmp/rc2" "$tmp/rc3" "$tmp/rc4" | tr '\n' ' ')
    errs=$(cat "$tmp"/r? | grep '^Error: ' | sort | uniq -c | tr -s ' ' | tr '\n' ';')
    [ "$rcs" != "0 0 0 0 " ] && broken=$((broken + 1))
    echo "race round $round: exits $rcs errors: ${errs:-none}" \
      "end: $(sqlite3 "$db" "SELECT group_concat(version) FROM schema_migrations") $(sqlite3 "$db" "SELECT group_concat(slug) FROM notes")"
  done
  echo "race: $broken of ${ROUNDS:-8} rounds with a racer failing"
}

percent() {
  mkdir "$tmp/100%-x"
  db=$tmp/100%-x/notes.db
  up "$db" 20250101000003 >"$tmp/out" 2>&1
  echo "percent: dbmate up exit $?: $(cat "$tmp/out")"
  echo "percent: database created: $(ls "$tmp/100%-x" | wc -l) files in the directory"
}

for case in ${*:-race percent}; do
  case $case in
    race) race ;;
    percent) percent ;;
    *) echo "unknown case $case" >&2; exit 2 ;;
  esac
done
