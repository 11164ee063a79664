#!/bin/sh
# Installs what the end-to-end tests need and fills the cache with a Debian kernel and a static
# busybox for the guest. Idempotent: each step says what it does, and does nothing when done.
#   host tools (apt-get install): qemu-system-x86, cpio, socat, the C toolchain (gcc g++ make cmake)
#   and static libc (libc6-dev)
#   cache (${VSN_E2E_CACHE:-$HOME/.cache/vsocknative-e2e}):
#     vmlinuz          the kernel of the package linux-image-amd64 depends on
#     modules/         its modules tree (lib/modules/<version>/...)
#     busybox          busybox-static's binary
#     kernel-version   the <version> above
# Exit status 0 when everything is there afterwards, non-zero (with the reason) otherwise.
set -eu

CACHE=${VSN_E2E_CACHE:-$HOME/.cache/vsocknative-e2e}
say() { echo "fetch.sh: $*"; }
die() { echo "fetch.sh: ERROR: $*" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then SUDO=; else
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot apt-get install"
  SUDO="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive

# --- host packages ---------------------------------------------------------------------------
need=""
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }
for p in qemu-system-x86 cpio gcc g++ make cmake libc6-dev socat; do
  have_pkg "$p" || need="$need $p"
done
updated=0
apt_update() {
  [ $updated = 1 ] && return 0
  say "apt-get update"
  $SUDO apt-get update -q >/dev/null || die "apt-get update failed"
  updated=1
}
if [ -n "$need" ]; then
  apt_update
  say "apt-get install --no-install-recommends$need"
  $SUDO apt-get install -y -q --no-install-recommends $need >/dev/null || die "apt-get install$need failed"
else
  say "host packages present (qemu-system-x86 cpio gcc g++ make cmake libc6-dev socat)"
fi
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not on PATH after install"
qemu-system-x86_64 -device help 2>/dev/null | grep -q vhost-user-vsock-pci \
  || die "this qemu-system-x86_64 has no vhost-user-vsock-pci device"
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || die "static libc (libc.a) missing"

# --- guest kernel + busybox into the cache ------------------------------------------------------
mkdir -p "$CACHE/debs"
if [ -f "$CACHE/vmlinuz" ] && [ -f "$CACHE/kernel-version" ] && [ -x "$CACHE/busybox" ] \
   && [ -f "$CACHE/modules/lib/modules/$(cat "$CACHE/kernel-version")/modules.dep" ]; then
  say "cache complete in $CACHE (kernel $(cat "$CACHE/kernel-version"))"
  exit 0
fi

# Which kernel package: the one linux-image-amd64 depends on (e.g. linux-image-6.1.0-56-amd64).
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
if [ -z "$kpkg" ]; then
  apt_update
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
fi
[ -n "$kpkg" ] || die "cannot tell which kernel package linux-image-amd64 depends on"

download() { # package -> prints the .deb path
  deb=$(ls "$CACHE/debs/$1"_*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    say "apt-get download $1 -> $CACHE/debs" >&2
    # apt's _apt sandbox user may not write into $CACHE: download in a world-writable scratch dir.
    tmp=$(mktemp -d); chmod 777 "$tmp"
    (cd "$tmp" && apt-get download -q "$1" >/dev/null 2>&1) \
      || { apt_update >&2; (cd "$tmp" && apt-get download -q "$1" >/dev/null) ; } \
      || { rm -rf "$tmp"; die "apt-get download $1 failed"; }
    mv "$tmp"/*.deb "$CACHE/debs/"; rm -rf "$tmp"
    deb=$(ls "$CACHE/debs/$1"_*.deb | head -n1)
  fi
  echo "$deb"
}

kdeb=$(download "$kpkg")
bdeb=$(download busybox-static)

say "unpacking $(basename "$kdeb")"
rm -rf "$CACHE/kx"; mkdir -p "$CACHE/kx"
dpkg -x "$kdeb" "$CACHE/kx"
kver=$(ls "$CACHE/kx/lib/modules" | head -n1)
[ -n "$kver" ] && [ -f "$CACHE/kx/boot/vmlinuz-$kver" ] || die "no vmlinuz/modules in $kdeb"
rm -rf "$CACHE/modules"; mkdir -p "$CACHE/modules/lib/modules"
mv "$CACHE/kx/lib/modules/$kver" "$CACHE/modules/lib/modules/"
cp "$CACHE/kx/boot/vmlinuz-$kver" "$CACHE/vmlinuz"
rm -rf "$CACHE/kx"

say "unpacking $(basename "$bdeb")"
rm -rf "$CACHE/bx"; mkdir -p "$CACHE/bx"
dpkg -x "$bdeb" "$CACHE/bx"
cp "$CACHE/bx/bin/busybox" "$CACHE/busybox"; chmod 755 "$CACHE/busybox"
rm -rf "$CACHE/bx"

# The package ships no modules.dep (its postinst runs depmod): busybox depmod makes it.
say "busybox depmod for $kver"
"$CACHE/busybox" depmod -b "$CACHE/modules" "$kver" || die "depmod failed"

echo "$kver" > "$CACHE/kernel-version"
say "cache complete in $CACHE (kernel $kver)"
