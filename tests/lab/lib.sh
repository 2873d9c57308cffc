# Shared helpers for the lab scripts. Sourced, not executed.
# shellcheck shell=bash

LAB_IMAGE="${LAB_IMAGE:-gatehouse-lab/debian12-systemd:bookworm}"
LAB_NETWORK="${LAB_NETWORK:-gatehouse-lab}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LAB_DIR="${REPO_ROOT}/.lab"

log() { printf '[lab] %s\n' "$*" >&2; }
die() { printf '[lab] ERROR: %s\n' "$*" >&2; exit 1; }

# The Debian mirror this machine's own apt uses (never hard-coded in the
# repository: air-gapped sites and CI point apt at their own mirror).
debian_mirror() {
  local uri=""
  if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
    # deb822: first URIs line of a stanza whose Suites include bookworm
    uri="$(awk '
      /^[[:space:]]*$/ { if (u != "" && s ~ /(^|[[:space:]])bookworm([[:space:]]|$)/) { print u; exit } u=""; s=""; next }
      /^URIs:/   { u=$2 }
      /^Suites:/ { $1=""; s=$0 }
      END { if (u != "" && s ~ /(^|[[:space:]])bookworm([[:space:]]|$)/) print u }
    ' /etc/apt/sources.list.d/*.sources | head -n1)"
  fi
  if [[ -z "$uri" && -f /etc/apt/sources.list ]]; then
    uri="$(awk '$1 == "deb" && $0 !~ /security/ {
        for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list | head -n1)"
  fi
  [[ -n "$uri" ]] || die "no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
  printf '%s\n' "$uri"
}
