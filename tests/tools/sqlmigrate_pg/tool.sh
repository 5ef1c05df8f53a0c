#!/bin/sh
# tool.sh COMMAND HOST PORT USER DB [ARG]: sql-migrate on PostgreSQL, with psql for the version.
cmd=$1; host=$2; port=$3; user=$4; db=$5; shift 5
here=$(cd "$(dirname "$0")" && pwd); cd "$here"
export PG_DSN="host=$host port=$port user=$user dbname=$db sslmode=disable"
conn="host=$host port=$port user=$user dbname=$db"
case $cmd in
  create) exec sql-migrate up -config "$here/dbconfig.yml" -env pg -limit "${1%%_*}" ;;
  migrate) exec sql-migrate up -config "$here/dbconfig.yml" -env pg ;;
  version) exec psql -XAtq "$conn" -c "SELECT id FROM gorp_migrations ORDER BY id DESC LIMIT 1" ;;
  stamp) exec psql -XAtq "$conn" -c "INSERT INTO gorp_migrations (id, applied_at) VALUES ('$1', now())" ;;
esac
echo "unknown command $cmd" >&2; exit 2
