#!/usr/bin/env bash
# Run every molecule scenario under molecule/ (each directory with a
# molecule.yml), one after another, stopping at the first failure.
# Order: the roles in tier order, any other role scenario, then the
# whole-site scenarios (appliance, cluster), which take longest.
# Usage: tests/lab/molecule-all.sh [SCENARIO...]   (default: all)
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
export PATH="$REPO_ROOT/.venv/bin:$PATH"

"$REPO_ROOT/tests/lab/image.sh"

preferred=(common mysql redis gatehouse nginx)
last=(appliance cluster)

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
    [[ " ${last[*]} " == *" $s "* ]] && continue
    scenarios+=("$s"); seen[$s]=1
  done
  for s in "${last[@]}"; do
    [[ -f "molecule/$s/molecule.yml" ]] && scenarios+=("$s")
  done
fi

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
  if ! molecule test -s "$s"; then
    report+=("$(printf '%-12s FAILED after %4d s' "$s" $((SECONDS - start)))")
    printf '%s\n' "${report[@]}" >&2
    die "scenario $s failed"
  fi
  report+=("$(printf '%-12s ok     %4d s' "$s" $((SECONDS - start)))")
  log "scenario $s passed in $((SECONDS - start)) s"
done
log "all ${#scenarios[@]} scenarios passed in $((SECONDS - total_start)) s:"
printf '  %s\n' "${report[@]}" >&2
