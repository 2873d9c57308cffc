#!/usr/bin/env bash
# `make test`: every stage in order, stopping at the first that fails, and a
# table of seconds per stage at the end - after a failure too, with the stages
# that never ran marked "not run". The rows are also kept in the timings file
# ($GATEHOUSE_TIMINGS, default .lab/timings.tsv), emptied when this starts.
#
# Usage: tests/run-stages.sh [SCENARIO...]   (the site scenarios; default appliance cluster)
#
# Stages: venv, lint, services (the private MariaDB + Redis), the app's tests
# on SQLite and on MariaDB + Redis at once, the controller-side infra checks,
# the lab image, then each molecule scenario (rows for its actions too).
# Each stage is a make target or script a developer can run alone.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/lab/timings.sh
source tests/lab/timings.sh

scenarios=("$@")
((${#scenarios[@]})) || scenarios=(appliance cluster)
make=(make --no-print-directory)
# Every row this run should add, in order: the ones still missing after a
# failure are listed as "not run".
rows=(venv lint services app-sqlite app-mariadb infra "lab image" "${scenarios[@]}")

timings_begin
finish() {
  local status=$?
  timings not-run "${rows[@]}"
  echo
  timings table
  if ((status == 0)); then
    echo "make test: every stage passed"
  else
    echo "make test: FAILED (stopped at the first failing stage; its output is above)" >&2
  fi
  exit "$status"
}
trap finish EXIT

banner() { printf '\n======== make test: %s ========\n' "$*"; }

banner "venv (.venv/ with the app and the pinned tooling)"
timed venv "${make[@]}" venv
banner "lint (ruff, yamllint, ansible-lint)"
timed lint "${make[@]}" lint
banner "services (MariaDB and Redis on loopback for the app's tests)"
timed services "${make[@]}" services
banner "app tests on SQLite and on MariaDB + Redis, side by side"
tests/run-app-tests.sh both # adds the rows app-sqlite and app-mariadb
banner "infra (argument specs, preflights: controller side)"
timed infra "${make[@]}" test-infra
banner "molecule: ${scenarios[*]}"
tests/lab/molecule-all.sh "${scenarios[@]}" # adds "lab image", each scenario and its actions
