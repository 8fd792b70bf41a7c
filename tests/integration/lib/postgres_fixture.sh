#!/usr/bin/env bash
# One PostgreSQL server shared by every test of a CTest run that needs one (the CTest
# fixture `postgres`, tests/unit/kps/CMakeLists.txt; docs/ci.md "Shared fixtures"):
#
#   postgres_fixture.sh start URI_FILE   initdb + pg_ctl start in a new /tmp/cafs-pgfix-*
#                                        directory (Unix socket only, fsync off), then writes
#                                        the server's libpq URI to URI_FILE
#   postgres_fixture.sh stop URI_FILE    pg_ctl stop -m immediate, removes the directory and
#                                        URI_FILE
#
# Tests read URI_FILE (env CAFS_TEST_POSTGRES_URI_FILE) and each test process creates and
# drops a database of its own on that server, so parallel tests never share tables. When
# the server cannot start (no PostgreSQL installed), `start` says why and still exits 0
# without writing URI_FILE: each test then starts a private server or skips as before.
# As root the server runs as the `postgres` user (runuser), as PostgreSQL requires.
set -uo pipefail
cmd=${1:?usage: postgres_fixture.sh start|stop URI_FILE}
uri_file=${2:?usage: postgres_fixture.sh start|stop URI_FILE}

bin=""
for v in 17 16 15 14 13; do
  if [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ]; then bin=/usr/lib/postgresql/$v/bin; break; fi
done
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
dir_of() { sed -n 's/^.*host=\(.*\)$/\1/p' "$uri_file" 2>/dev/null; }

case $cmd in
  start)
    rm -f "$uri_file"
    if [ -z "$bin" ]; then echo "postgres fixture: no PostgreSQL server installed"; exit 0; fi
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
      echo "postgres fixture: running as root but there is no 'postgres' user"; exit 0
    fi
    dir=$(mktemp -d /tmp/cafs-pgfix-XXXXXX)
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if ! as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log" 2>&1; then
      echo "postgres fixture: initdb failed:"; tail -5 "$dir/initdb.log"; rm -rf "$dir"; exit 0
    fi
    if ! as_pg "$bin/pg_ctl" -D "$dir/data" -w -t 60 -l "$dir/server.log" \
        -o "-k $dir -c listen_addresses= -c fsync=off" start >/dev/null 2>&1; then
      echo "postgres fixture: pg_ctl start failed:"; tail -5 "$dir/server.log"; rm -rf "$dir"
      exit 0
    fi
    mkdir -p "$(dirname "$uri_file")"
    echo "postgresql://postgres@/postgres?host=$dir" >"$uri_file"
    echo "postgres fixture: started in $dir"
    ;;
  stop)
    dir=$(dir_of)
    if [ -n "$dir" ] && [ -d "$dir" ]; then
      as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
      rm -rf "$dir"
      echo "postgres fixture: stopped"
    fi
    rm -f "$uri_file"
    ;;
  *) echo "usage: postgres_fixture.sh start|stop URI_FILE" >&2; exit 2 ;;
esac
