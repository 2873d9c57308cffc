#!/usr/bin/env bash
# Make sure a Docker engine answers. Installs Debian's docker.io when the
# CLI is missing and starts dockerd in the background when nothing answers
# (CI machines have no systemd as PID 1, so `systemctl start docker` is no use).
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  mkdir -p /var/log /run
  pidfile=/run/gatehouse-lab-dockerd.pid
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "dockerd (pid $(cat "$pidfile")) is starting"
  else
    log "starting dockerd in the background (log: /var/log/gatehouse-lab-dockerd.log)"
    # A session of its own: the job that started it may end, and its process
    # group with it, while the engine keeps serving other jobs.
    setsid nohup dockerd --pidfile "$pidfile" >/var/log/gatehouse-lab-dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
fi

docker info >/dev/null 2>&1 || die "dockerd did not answer within 60 s; see /var/log/gatehouse-lab-dockerd.log"
log "docker engine $(docker version --format '{{.Server.Version}}') answers"
