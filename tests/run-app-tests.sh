#!/usr/bin/env bash
# The server's tests (tests/core, tests/app) on SQLite, on MariaDB + Redis,
# or on both at once - two pytest processes side by side, which on this
# 2-core machine takes about as long as the slower one alone.
#
# Usage: tests/run-app-tests.sh [both|sqlite|mariadb] [PYTEST_ARGS...]
#   both (default): each backend's output goes to .lab/logs/app-<backend>.log
#     and is printed when that backend ends; rows app-sqlite and app-mariadb
#     go to the timings file; fails when either fails.
#   sqlite | mariadb: one backend, output to the terminal (and the log), no
#     timings row: the quick loop while working on the server.
#   PYTEST_ARGS default to "tests/core tests/app".
# MariaDB + Redis come from .lab/services.env (`make services` writes it).
#
# The two runs share nothing that could collide: SQLite files live in each
# run's own temporary directory (--basetemp); only the mariadb run talks to
# MariaDB and Redis; servers the tests start take a port the kernel picks
# (helpers.free_port binds port 0), never a fixed one; pytest's cache is kept
# per backend.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/lab/timings.sh
source tests/lab/timings.sh

mode="${1:-both}"
case "$mode" in both | sqlite | mariadb) shift || true ;; *) mode=both ;; esac
args=("$@")
((${#args[@]})) || args=(tests/core tests/app)
LOGS=.lab/logs
mkdir -p "$LOGS"
CHROMIUM=/usr/bin/chromium

# run BACKEND: pytest on BACKEND with this run's own temporary directory and cache.
run() {
  local backend=$1 tmp status=0
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-app-$backend.XXXXXX")"
  (
    if [[ "$backend" == mariadb ]]; then
      [[ -f .lab/services.env ]] || { echo "no .lab/services.env: run make services first" >&2; exit 2; }
      # shellcheck source=/dev/null
      source .lab/services.env
    else
      # A shell that sourced services.env must not turn the SQLite run into a second MariaDB run.
      unset GATEHOUSE_TEST_DATABASE_URL GATEHOUSE_TEST_REDIS_URL
    fi
    # -rs lists every skipped test with its reason, so a skip is never silent.
    exec .venv/bin/pytest -q -rs --basetemp="$tmp" -o cache_dir="$PWD/.lab/pytest-cache/app-$backend" "${args[@]}"
  ) || status=$?
  # Kept when the run failed: the databases and logs of the failing tests are in it.
  if ((status == 0)); then rm -rf "$tmp"; else echo "app-$backend: temporary files kept in $tmp" >&2; fi
  return "$status"
}

# browser_check BACKEND LOG: the browser tests may be skipped only where Chromium is absent, and never in CI.
browser_check() {
  local backend=$1 log=$2
  grep -q '^SKIPPED .*test_browser\.py' "$log" || return 0
  if [[ -x "$CHROMIUM" || -n "${CI:-}" ]]; then
    echo "app-$backend: the browser tests were skipped although they must run here (see SKIPPED above)" >&2
    return 1
  fi
  echo "app-$backend: NOTE the browser tests were skipped: $CHROMIUM is absent (apt-get install chromium)" >&2
}

# show BACKEND LOG STATUS SECONDS: what a newcomer needs from a finished run.
show() {
  local backend=$1 log=$2 status=$3 seconds=$4
  echo
  if ((status == 0)); then
    echo "=== app-$backend: passed in ${seconds}s (full log: $log) ==="
    # The skip reasons and the count line; the dots before them say nothing more.
    if grep -q 'short test summary info' "$log"; then
      sed -n '/short test summary info/,$p' "$log"
    else
      tail -n 1 "$log"
    fi
  else
    echo "=== app-$backend: FAILED after ${seconds}s (last 300 lines; full log: $log) ==="
    tail -n 300 "$log"
  fi
}

# One backend: the developer's loop, output as it comes; pytest prints the seconds.
if [[ "$mode" != both ]]; then
  log="$LOGS/app-$mode.log"
  status=0
  run "$mode" 2>&1 | tee "$log" || status=$?
  browser_check "$mode" "$log" || status=1
  exit "$status"
fi

timings_begin

echo "app tests: sqlite and mariadb side by side; logs in $LOGS/app-sqlite.log and $LOGS/app-mariadb.log"
declare -A backend_of=() status_of=() ended_of=()
started=$(now)
for backend in sqlite mariadb; do
  run "$backend" >"$LOGS/app-$backend.log" 2>&1 &
  backend_of[$!]=$backend
done
while ((${#backend_of[@]})); do
  status=0
  wait -n -p pid || status=$?
  ended=$(now)
  backend=${backend_of[$pid]}
  unset "backend_of[$pid]"
  log="$LOGS/app-$backend.log"
  # Its note goes at the end of the log, where show() prints from.
  note=$(browser_check "$backend" "$log" 2>&1) || status=1
  [[ -z "$note" ]] || echo "$note" >>"$log"
  show "$backend" "$log" "$status" "$(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.0f", b - a }')"
  status_of[$backend]=$status
  ended_of[$backend]=$ended
done

failed=0
for backend in sqlite mariadb; do
  result=ok
  ((status_of[$backend] == 0)) || { result=FAILED; failed=1; }
  timings add "app-$backend" "$result" "$started" "${ended_of[$backend]}"
done
timings_owner && { echo; timings table; }
exit "$failed"
