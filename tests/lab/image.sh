#!/usr/bin/env bash
# Build and cache the lab image: Debian 12 with systemd as PID 1, made by
# debootstrap from the machine's own Debian mirror (no registry is reachable,
# nothing is pulled). It carries what every role needs to start quickly but
# none of the services themselves: the roles install those.
# Set LAB_IMAGE_REBUILD=1 to rebuild an existing image.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

"$(dirname "$0")/docker.sh"

if [[ "${LAB_IMAGE_REBUILD:-0}" != 1 ]] && docker image inspect "$LAB_IMAGE" >/dev/null 2>&1; then
  log "image $LAB_IMAGE is cached"
  exit 0
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
trap 'rm -rf "$rootfs"' EXIT

start=$SECONDS
log "debootstrap bookworm from the machine's mirror into $rootfs"
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" \
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
chroot "$rootfs" apt-get update -qq
: >"$rootfs/etc/resolv.conf"
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*

log "importing $LAB_IMAGE"
tar -C "$rootfs" -c . | docker import \
  -c 'CMD ["/sbin/init"]' -c 'ENV container=docker' \
  - "$LAB_IMAGE" >/dev/null
log "image $LAB_IMAGE built in $((SECONDS - start)) s"
