#!/usr/bin/env bash
# Remove the lab: its containers (either lab), its network and the fact
# cache (recreated containers get new addresses). The lab CA, the vault
# password and the inventories' secrets stay, so `make up` reuses them.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

if docker info >/dev/null 2>&1; then
  mapfile -t containers < <(docker ps -aq --filter label=gatehouse-lab=1)
  if ((${#containers[@]})); then
    log "removing ${#containers[@]} lab container(s)"
    docker rm -f "${containers[@]}" >/dev/null
  fi
  if docker network inspect "$LAB_NETWORK" >/dev/null 2>&1; then
    log "removing network $LAB_NETWORK"
    docker network rm "$LAB_NETWORK" >/dev/null
  fi
else
  log "no Docker engine answers: no containers to remove"
fi
rm -rf "$LAB_DIR/facts"
log "lab removed"
