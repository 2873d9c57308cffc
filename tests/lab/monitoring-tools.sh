#!/usr/bin/env bash
# Put promtool and amtool in .lab/bin/ for the controller-side checks of
# monitoring/ (tests/infra/controller/test_monitoring_rules.py and
# test_dashboards.py), without installing Prometheus on this machine (CI has
# no systemd; Debian's packages would try to start their services): the
# prometheus and prometheus-alertmanager .debs are fetched with this
# machine's own apt configuration and only the two binaries are unpacked.
# The version is Debian 12's, the one the prometheus role installs on the
# hosts, so the tests check the rules with the promtool that will load them.
# Idempotent: does nothing when .lab/bin/promtool already reports 2.42.
# Run as root (apt-get update needs it if the package lists are missing).
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

want=2.42
bin="$LAB_DIR/bin"

current() { "$bin/promtool" --version 2>&1 | awk '/^promtool, version/ { print $3; exit }'; }

if [[ -x "$bin/promtool" && -x "$bin/amtool" ]] && [[ "$(current)" == "$want".* ]]; then
  exit 0
fi

command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
  die "monitoring-tools: apt-get and dpkg-deb are needed to fetch promtool and amtool (a Debian machine)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the working directory; as root it drops to the
# _apt user for the transfer, which must be able to write there.
chmod 755 "$work"
cd "$work"

fetch() { apt-get download -q prometheus prometheus-alertmanager >"$work/apt.log" 2>&1; }
if ! fetch; then
  log "monitoring-tools: apt-get download failed, updating the package lists once"
  apt-get update -q >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; die "monitoring-tools: apt-get update failed"; }
  fetch || { cat "$work/apt.log" >&2; die "monitoring-tools: apt-get download prometheus prometheus-alertmanager failed"; }
fi

for deb in prometheus_*.deb prometheus-alertmanager_*.deb; do
  [[ -f "$deb" ]] || die "monitoring-tools: $deb was not downloaded"
  dpkg-deb -x "$deb" "$work/root"
done

mkdir -p "$bin"
for tool in promtool amtool; do
  [[ -x "$work/root/usr/bin/$tool" ]] || die "monitoring-tools: the package has no usr/bin/$tool"
  install -m 0755 "$work/root/usr/bin/$tool" "$bin/$tool.new"
  mv -f "$bin/$tool.new" "$bin/$tool"
done

got="$(current)"
[[ "$got" == "$want".* ]] || die "monitoring-tools: promtool reports version '${got:-?}', expected $want.x (Debian 12's prometheus)"
log "monitoring-tools: promtool $got and $("$bin/amtool" --version 2>&1 | awk '/^amtool, version/ { print $3; exit }') amtool in $bin"
