#!/usr/bin/env bash
# Make sure an apt cache answers on this machine for the lab and molecule
# containers: Debian's apt-cacher-ng on port 3142, run in the background
# (no systemd as PID 1 here, like dockerd in docker.sh), with its own
# configuration, cache and logs:
#   /var/cache/gatehouse-lab/apt-cacher-ng/{conf,cache}   configuration, cached files
#   /var/log/gatehouse-lab-apt-cacher-ng/apt-cacher.log   one line per transfer
#   /var/log/gatehouse-lab-apt-cacher-ng.log              the daemon's own output
# The containers find it at their network's gateway (lab-apt-proxy in the
# image, see image.sh) and go DIRECT to the mirror when it does not answer;
# the roles still install every package with apt. This machine's own apt is
# not pointed at the cache. Idempotent; LAB_APT_CACHE=0 skips it.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

[[ "${LAB_APT_CACHE:-1}" != 0 ]] || { log "LAB_APT_CACHE=0: no apt cache"; exit 0; }

port=3142
base=/var/cache/gatehouse-lab/apt-cacher-ng
logdir=/var/log/gatehouse-lab-apt-cacher-ng
daemon_log=/var/log/gatehouse-lab-apt-cacher-ng.log
rundir=/run/gatehouse-lab-apt-cacher-ng
pidfile="$rundir/pid"
user=apt-cacher-ng

# Does an apt-cacher-ng answer on 127.0.0.1:$port? (its report page names it)
answers() {
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET /acng-report.html HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
    grep -qi "apt-cacher" <&3' _ "$port" 2>/dev/null
}
port_taken() { timeout 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$port" 2>/dev/null; }

# Only this machine and containers on its Docker bridges may use the cache,
# not the networks behind its other interfaces: port $port is open on lo,
# docker0 and br-* (the project's networks), dropped elsewhere.
guard() {
  command -v iptables >/dev/null 2>&1 || { log "warning: no iptables: apt-cacher-ng's port $port is not limited to the Docker bridges"; return 0; }
  local chain=GATEHOUSE-LAB-APT-CACHE
  {
    iptables -N "$chain" 2>/dev/null || true
    iptables -F "$chain" &&
    iptables -A "$chain" -i lo -j RETURN &&
    iptables -A "$chain" -i docker0 -j RETURN &&
    iptables -A "$chain" -i br-+ -j RETURN &&
    iptables -A "$chain" -j DROP &&
    { iptables -C INPUT -p tcp --dport "$port" -j "$chain" 2>/dev/null ||
      iptables -I INPUT -p tcp --dport "$port" -j "$chain"; }
  } || log "warning: could not limit port $port to the Docker bridges with iptables"
}

# One at a time (make up and a molecule run may start together).
exec 9>/run/gatehouse-lab-apt-cacher-ng.lock
flock 9

if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  for _ in $(seq 1 10); do
    answers && { guard; exit 0; }
    sleep 0.5
  done
  log "apt-cacher-ng (pid $(cat "$pidfile")) does not answer: restarting it"
  kill "$(cat "$pidfile")" 2>/dev/null || true
  sleep 1
fi

if ! command -v apt-cacher-ng >/dev/null 2>&1; then
  log "installing apt-cacher-ng from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq apt-cacher-ng >/dev/null
fi

if answers; then
  # Debian's own service (started by the package where init scripts run)
  # or one an admin runs: the containers use it as well as ours.
  log "an apt-cacher-ng not started by the lab answers on port $port: the containers use it"
  guard
  exit 0
fi
if port_taken; then
  die "port $port is taken by something that is not apt-cacher-ng (LAB_APT_CACHE=0 runs without the cache)"
fi

id "$user" >/dev/null 2>&1 || die "apt-cacher-ng is installed but its user '$user' is missing"
install -d -m 0755 "$base" "$base/conf"
install -d -m 0755 -o "$user" -g "$user" "$base/cache" "$logdir" "$rundir"
# Written on every start: this file is the whole configuration (Debian's
# /etc/apt-cacher-ng is not read). No Remap rules: files are cached under the
# mirror's own host name, as apt asked for them.
cat >"$base/conf/acng.conf" <<CONF
# Written by tests/lab/apt-cache.sh on every start; edits are lost.
CacheDir: $base/cache
LogDir: $logdir
SupportDir: /usr/lib/apt-cacher-ng
Port: $port
BindAddress: 0.0.0.0
PidFile: $pidfile
SocketPath: $rundir/socket
ReportPage: acng-report.html
ExThreshold: 4
CONF

log "starting apt-cacher-ng on port $port (cache: $base/cache, log: $daemon_log)"
# A session of its own (as dockerd): outlives the job that started it; without
# the lock's descriptor (9), or it would hold the lock for as long as it runs.
setsid nohup setpriv --reuid="$user" --regid="$user" --init-groups \
  /usr/sbin/apt-cacher-ng -c "$base/conf" ForeGround=1 >>"$daemon_log" 2>&1 9>&- &
echo $! >"$pidfile"
for _ in $(seq 1 20); do
  answers && break
  kill -0 "$(cat "$pidfile")" 2>/dev/null || break
  sleep 0.5
done
answers || { tail -n 20 "$daemon_log" >&2; die "apt-cacher-ng did not answer on port $port; see $daemon_log"; }
guard
log "apt-cacher-ng answers on port $port (pid $(cat "$pidfile"))"
