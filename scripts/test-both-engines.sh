#!/usr/bin/env bash
# Every test on SQLite and on PostgreSQL, the two runs side by side: most of
# their time is spent waiting (on servers, browsers, sockets), so together
# they take little more than the longer one. Each run's output goes to its
# own log and is printed whole when it ends; the exit status is non-zero if
# either failed. TEST_SIDE_BY_SIDE=0 runs them one after the other instead.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST="${VENV:-.venv}/bin/pytest"
read -r -a extra <<< "${PYTEST_ARGS:-}"

if [ "${TEST_SIDE_BY_SIDE:-1}" = "0" ]; then
  echo "==> flaskou tests on SQLite"
  "$PYTEST" --db=sqlite "${extra[@]}" || exit $?
  echo "==> flaskou tests on PostgreSQL (a throwaway server started by the run)"
  exec "$PYTEST" --db=postgresql "${extra[@]}"
fi

logs="$(mktemp -d "${TMPDIR:-/tmp}/flaskou-tests.XXXXXX")"
echo "==> flaskou tests on SQLite and on PostgreSQL (a throwaway server), side by side"
echo "    (logs: $logs/sqlite.log and $logs/postgresql.log; TEST_SIDE_BY_SIDE=0 runs them in turn)"
"$PYTEST" --db=sqlite "${extra[@]}" > "$logs/sqlite.log" 2>&1 &
sqlite=$!
"$PYTEST" --db=postgresql "${extra[@]}" > "$logs/postgresql.log" 2>&1 &
postgresql=$!
trap 'kill "$sqlite" "$postgresql" 2>/dev/null' INT TERM

wait "$sqlite"; sqlite_status=$?
echo "==> flaskou tests on SQLite (exit $sqlite_status)"
cat "$logs/sqlite.log"
wait "$postgresql"; postgresql_status=$?
echo "==> flaskou tests on PostgreSQL (exit $postgresql_status)"
cat "$logs/postgresql.log"

if [ "$sqlite_status" -ne 0 ] || [ "$postgresql_status" -ne 0 ]; then
  echo "==> FAILED: SQLite exit $sqlite_status, PostgreSQL exit $postgresql_status"
  exit 1
fi
echo "==> both engines passed"
