#!/usr/bin/env bash
# Stop the test MariaDB and Redis started by start.sh (by pid file, never by name).
set -uo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
# Outside the checkout: mariadbd runs as mysql and must reach its datadir.
STATE="${GATEHOUSE_TEST_STATE:-/var/tmp/gatehouse-test-services}"
for pidfile in "$STATE/run/mysqld.pid" "$STATE/redis.pid"; do
  name=$(basename "$pidfile" .pid)
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 1 40); do kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || break; sleep 0.25; done
    echo "stopped $name"
  fi
done
