#!/usr/bin/env bash
# Start a private MariaDB and Redis on loopback for the app's tests and
# benchmarks, and write their URLs to .lab/services.env. Installs Debian's
# packages when missing. Idempotent: a running pair (by pid file) is reused.
# The system instances are left alone; these run from .lab/services/ on
# their own ports, so they never clash with a lab container or a real server.
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
# Outside the checkout: mariadbd runs as mysql and must reach its datadir.
STATE="${GATEHOUSE_TEST_STATE:-/var/tmp/gatehouse-test-services}"
MYSQL_PORT="${GATEHOUSE_TEST_MYSQL_PORT:-33306}"
REDIS_PORT="${GATEHOUSE_TEST_REDIS_PORT:-36379}"
mkdir -p "$STATE/run" "$PWD/.lab"
chmod 0711 "$STATE"
chown mysql:mysql "$STATE/run" 2>/dev/null || true
chmod 0700 "$PWD/.lab"

need=()
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v redis-server >/dev/null || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

chown mysql:mysql "$STATE/run"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Passwords are generated once per checkout and kept in .lab/ (0600).
secret() {
  local f="$STATE/$1.secret"
  [ -s "$f" ] || (umask 077; head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$f")
  cat "$f"
}
DB_PASSWORD=$(secret mysql)
REDIS_PASSWORD=$(secret redis)

# MariaDB ---------------------------------------------------------------------
if ! alive "$STATE/run/mysqld.pid"; then
  if [ ! -d "$STATE/mysql/mysql" ]; then
    mkdir -p "$STATE/mysql"
    chown mysql:mysql "$STATE/mysql"
    mariadb-install-db --user=mysql --datadir="$STATE/mysql" --auth-root-authentication-method=socket \
      --skip-test-db >/dev/null
  fi
  /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql" \
    --socket="$STATE/run/mysqld.sock" --pid-file="$STATE/run/mysqld.pid" \
    --bind-address=127.0.0.1 --port="$MYSQL_PORT" --log-error="$STATE/run/mysqld.err" \
    --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=2 --max-connections=500 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci >/dev/null 2>&1 &
  for _ in $(seq 1 60); do
    [ -S "$STATE/run/mysqld.sock" ] && mariadb --socket="$STATE/run/mysqld.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.5
  done
  mariadb --socket="$STATE/run/mysqld.sock" -uroot -e 'SELECT 1' >/dev/null || { cat "$STATE/run/mysqld.err"; exit 1; }
fi
mariadb --socket="$STATE/run/mysqld.sock" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS gatehouse_test CHARACTER SET utf8mb4;
CREATE DATABASE IF NOT EXISTS gatehouse_bench CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'gatehouse'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
ALTER USER 'gatehouse'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON gatehouse_test.* TO 'gatehouse'@'127.0.0.1';
GRANT ALL PRIVILEGES ON gatehouse_bench.* TO 'gatehouse'@'127.0.0.1';
SQL

# Redis -----------------------------------------------------------------------
if ! alive "$STATE/redis.pid"; then
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --pidfile "$STATE/redis.pid" \
    --dir "$STATE" --save '' --appendonly no --requirepass "$REDIS_PASSWORD" \
    --logfile "$STATE/redis.log"
  for _ in $(seq 1 40); do
    REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.25
  done
fi

umask 077
cat > "$PWD/.lab/services.env" <<ENV
export GATEHOUSE_TEST_DATABASE_URL='mysql://gatehouse:$DB_PASSWORD@127.0.0.1:$MYSQL_PORT/gatehouse_test'
export GATEHOUSE_BENCH_DATABASE_URL='mysql://gatehouse:$DB_PASSWORD@127.0.0.1:$MYSQL_PORT/gatehouse_bench'
export GATEHOUSE_TEST_REDIS_URL='redis://:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0'
export GATEHOUSE_TEST_REDIS_PIDFILE='$STATE/redis.pid'
export GATEHOUSE_TEST_REDIS_PORT='$REDIS_PORT'
ENV
echo "MariaDB on 127.0.0.1:$MYSQL_PORT and Redis on 127.0.0.1:$REDIS_PORT are up (.lab/services.env)"
