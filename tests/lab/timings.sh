# Helpers for the scripts that add rows to the timings file of a test run
# (tests/lab/timings.py says what is in it). Sourced, not executed.
# shellcheck shell=bash
#
# The outermost script of a run - make test's stage runner, or make test-app
# or make test-molecule on their own - empties the file when it starts and
# prints the table when it ends; the scripts it calls only add rows, so one
# run gives one table.

TIMINGS_PY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/timings.py"

# Standard library only: works before .venv/ exists.
timings() { python3 "$TIMINGS_PY" "$@"; }

# Now as Unix seconds with a fraction ($EPOCHREALTIME writes the locale's decimal mark).
now() { printf '%s\n' "${EPOCHREALTIME/,/.}"; }

# timings_begin: own this run's timings unless a calling script already does.
timings_begin() {
  local file="${GATEHOUSE_TIMINGS:-$(cd "$(dirname "$TIMINGS_PY")/../.." && pwd)/.lab/timings.tsv}"
  # Absolute, so every script of the run writes the same file whatever its directory.
  [[ "$file" == /* ]] || file="$PWD/$file"
  export GATEHOUSE_TIMINGS="$file"
  if [[ -z "${GATEHOUSE_TIMINGS_OWNER:-}" ]]; then
    export GATEHOUSE_TIMINGS_OWNER=$$
    timings reset
  fi
}

# timings_owner: true in the script that began the run's timings.
timings_owner() { [[ "${GATEHOUSE_TIMINGS_OWNER:-}" == "$$" ]]; }

# timed NAME COMMAND...: run COMMAND, add the row NAME with its seconds and
# ok or FAILED, and return COMMAND's status.
timed() {
  local name=$1 started status=0
  shift
  started=$(now)
  "$@" || status=$?
  timings add "$name" "$( ((status == 0)) && echo ok || echo FAILED)" "$started" "$(now)"
  return "$status"
}
