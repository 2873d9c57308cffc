#!/usr/bin/env bash
# Build and cache the lab image: Debian 12 with systemd as PID 1, made by
# debootstrap from the machine's own Debian mirror (no registry is reachable,
# nothing is pulled). It carries what every role needs to start quickly but
# none of the services themselves: the roles install those.
# The image is labelled with the sha256 of this script and rebuilt when the
# script changes; LAB_IMAGE_REBUILD=1 rebuilds it anyway. A build goes to a
# temporary tag that replaces $LAB_IMAGE only once complete, so running
# containers are not disturbed and a failed build leaves the old image.
# It also starts the host's apt cache (apt-cache.sh), which the containers'
# apt uses when it answers (see lab-apt-proxy below).
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

"$(dirname "$0")/docker.sh"

build_proxy=""
if "$(dirname "$0")/apt-cache.sh"; then
  [[ "${LAB_APT_CACHE:-1}" == 0 ]] || build_proxy=http://127.0.0.1:3142
else
  log "warning: no apt cache on this machine: the containers' apt goes straight to the mirror"
fi

recipe="$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"
if [[ "${LAB_IMAGE_REBUILD:-0}" != 1 ]] && docker image inspect "$LAB_IMAGE" >/dev/null 2>&1; then
  built_from="$(docker image inspect -f '{{ index .Config.Labels "gatehouse-lab.recipe" }}' "$LAB_IMAGE" 2>/dev/null || true)"
  if [[ "$built_from" == "$recipe" ]]; then
    log "image $LAB_IMAGE is cached"
    exit 0
  fi
  log "image $LAB_IMAGE was built by another version of image.sh: rebuilding"
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq debootstrap >/dev/null
fi

mirror="$(debian_mirror)"
packages=systemd,systemd-sysv,dbus,python3,python3-apt,ca-certificates,sudo,iproute2,procps,gnupg,curl,less,iputils-ping
rootfs="$(mktemp -d /var/tmp/gatehouse-lab-rootfs.XXXXXX)"
build_tag="${LAB_IMAGE%:*}:build-$$"
trap 'rm -rf "$rootfs"; docker rmi "$build_tag" >/dev/null 2>&1 || true' EXIT

start=$SECONDS
log "debootstrap bookworm from the machine's mirror into $rootfs${build_proxy:+ (through the apt cache)}"
http_proxy="$build_proxy" debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" \
  >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; rm -f "$rootfs.log"; die "debootstrap failed"; }
rm -f "$rootfs.log"

# apt inside the containers uses the same sources as this machine (including
# the security suite), so packages the roles install come from the same mirror.
rm -f "$rootfs/etc/apt/sources.list"
if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
  cp /etc/apt/sources.list.d/*.sources "$rootfs/etc/apt/sources.list.d/"
fi
if [[ -s /etc/apt/sources.list ]]; then
  cp /etc/apt/sources.list "$rootfs/etc/apt/sources.list"
fi
if ! compgen -G "$rootfs/etc/apt/sources.list.d/*.sources" >/dev/null && [[ ! -s "$rootfs/etc/apt/sources.list" ]]; then
  printf 'deb %s bookworm main\n' "$mirror" >"$rootfs/etc/apt/sources.list"
fi

# Container hygiene: no getty on a console nobody reads, no units that cannot
# work without real hardware, a machine-id generated at first boot, and a
# smaller image.
for unit in getty@tty1.service console-getty.service systemd-firstboot.service \
            systemd-udevd.service systemd-udev-trigger.service systemd-modules-load.service \
            sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/01-lab-nodoc" <<'CFG'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
CFG
# Package lists are kept, as on any installed host: `apt` in check mode
# cannot refresh them, and the roles' check-mode runs need them to resolve
# package names. The roles refresh them (cache_valid_time) before installing.
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
chroot "$rootfs" apt-get update -qq ${build_proxy:+-o "Acquire::http::Proxy=$build_proxy"}
: >"$rootfs/etc/resolv.conf"
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*

# The lab's apt cache: apt asks lab-apt-proxy which proxy to use for each
# http mirror. It answers with apt-cacher-ng on the Docker host (this
# container's default gateway, port 3142; apt-cache.sh runs it) when that
# answers within a second, else DIRECT: a container whose host has no cache
# downloads from the mirror itself. Either way the roles install with apt.
cat >"$rootfs/etc/apt/apt.conf.d/01-lab-proxy" <<'CFG'
// Lab image only (tests/lab/image.sh): use the Docker host's apt cache when it answers.
Acquire::http::Proxy-Auto-Detect "/usr/local/bin/lab-apt-proxy";
CFG
cat >"$rootfs/usr/local/bin/lab-apt-proxy" <<'SH'
#!/bin/bash
# apt's Acquire::http::Proxy-Auto-Detect (/etc/apt/apt.conf.d/01-lab-proxy):
# prints the apt-cacher-ng on the Docker host (the default gateway, port 3142)
# when it answers within a second, DIRECT otherwise. Runs as apt's user.
gw="$(ip -4 route show default 2>/dev/null | awk '{ print $3; exit }')"
if [[ -n "$gw" ]] && timeout 1 bash -c '
    exec 3<>"/dev/tcp/$1/3142" || exit 1
    printf "GET / HTTP/1.0\r\n\r\n" >&3
    grep -qi "apt-cacher" <&3' _ "$gw" 2>/dev/null; then
  echo "http://$gw:3142"
else
  echo DIRECT
fi
SH
chmod 0644 "$rootfs/etc/apt/apt.conf.d/01-lab-proxy"
chmod 0755 "$rootfs/usr/local/bin/lab-apt-proxy"

old_id="$(docker image inspect -f '{{ .Id }}' "$LAB_IMAGE" 2>/dev/null || true)"
log "importing $build_tag"
tar -C "$rootfs" -c . | docker import \
  -c 'CMD ["/sbin/init"]' -c 'ENV container=docker' \
  -c "LABEL gatehouse-lab.recipe=$recipe" \
  - "$build_tag" >/dev/null
docker tag "$build_tag" "$LAB_IMAGE"
docker rmi "$build_tag" >/dev/null
# The image it replaces goes unless a container still runs from it.
if [[ -n "$old_id" && "$old_id" != "$(docker image inspect -f '{{ .Id }}' "$LAB_IMAGE")" ]]; then
  docker rmi "$old_id" >/dev/null 2>&1 || log "the previous image ${old_id:7:12} is kept (a container or another tag still uses it)"
fi
log "image $LAB_IMAGE built in $((SECONDS - start)) s"
