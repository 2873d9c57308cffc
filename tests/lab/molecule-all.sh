#!/usr/bin/env bash
# Run molecule scenarios under molecule/ (each directory with a molecule.yml),
# one after another, stopping at the first failure. Each runs through
# molecule-timed.py, which adds the scenario's seconds and each action's to
# the timings file; run alone, this script prints the table at the end.
# Order: the roles in tier order, any other role scenario, then the
# whole-site scenarios (appliance, cluster), which take longest.
# Usage: tests/lab/molecule-all.sh [SCENARIO...]   (default: all)
#        tests/lab/molecule-all.sh --roles         (every scenario but the site ones)
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/timings.sh
source "$(dirname "$0")/timings.sh"
cd "$REPO_ROOT"
export PATH="$REPO_ROOT/.venv/bin:$PATH"

preferred=(common mysql redis gatehouse nginx backup)
site=(appliance cluster)

roles_only=0
if [[ "${1:-}" == --roles ]]; then
  roles_only=1
  shift
fi

declare -a scenarios=()
if (($#)); then
  scenarios=("$@")
else
  declare -A seen=()
  for s in "${preferred[@]}"; do
    [[ -f "molecule/$s/molecule.yml" ]] && { scenarios+=("$s"); seen[$s]=1; }
  done
  for f in molecule/*/molecule.yml; do
    [[ -e "$f" ]] || continue
    s="$(basename "$(dirname "$f")")"
    [[ -n "${seen[$s]:-}" ]] && continue
    [[ " ${site[*]} " == *" $s "* ]] && continue
    scenarios+=("$s"); seen[$s]=1
  done
  if ((!roles_only)); then
    for s in "${site[@]}"; do
      [[ -f "molecule/$s/molecule.yml" ]] && scenarios+=("$s")
    done
  fi
fi

timings_begin
# Run alone (not under make test's stage runner): the table of this run at the end.
if timings_owner; then trap 'echo; timings table' EXIT; fi

timed "lab image" "$REPO_ROOT/tests/lab/image.sh"

if ((${#scenarios[@]} == 0)); then
  log "no molecule scenarios"
  exit 0
fi

log "scenarios: ${scenarios[*]}"
total_start=$SECONDS
declare -a report=()
for s in "${scenarios[@]}"; do
  start=$SECONDS
  log "molecule test -s $s"
  if ! "$REPO_ROOT/.venv/bin/python" "$REPO_ROOT/tests/lab/molecule-timed.py" "$s"; then
    report+=("$(printf '%-12s FAILED after %4d s' "$s" $((SECONDS - start)))")
    printf '%s\n' "${report[@]}" >&2
    timings not-run "${scenarios[@]}"
    die "scenario $s failed"
  fi
  report+=("$(printf '%-12s ok     %4d s' "$s" $((SECONDS - start)))")
  log "scenario $s passed in $((SECONDS - start)) s"
done
log "all ${#scenarios[@]} scenarios passed in $((SECONDS - total_start)) s:"
printf '  %s\n' "${report[@]}" >&2
