#!/bin/sh
# Builds the base initramfs of the end-to-end guest (newc cpio, uncompressed):
#   /init (guest/init.sh), /lib/e2e.sh, /bin/busybox, /bin/vtool,
#   /lib/modules/<kver>/... the vsock and virtio-pci modules, /etc/e2e-modules (load order).
# A case appends its own small cpio holding /case.sh (the kernel unpacks concatenated archives).
# usage: mkinitramfs.sh CACHE_DIR VTOOL OUT.cpio
set -eu
[ $# = 3 ] || { echo "usage: $0 CACHE_DIR VTOOL OUT.cpio" >&2; exit 2; }
cache=$1; vtool=$2; out=$3
here=$(cd "$(dirname "$0")" && pwd)
kver=$(cat "$cache/kernel-version") || { echo "mkinitramfs.sh: no kernel in $cache: run fetch.sh" >&2; exit 1; }
mods=$cache/modules/lib/modules/$kver

[ -f "$mods/modules.dep" ] || { echo "mkinitramfs.sh: no modules.dep in $mods: run fetch.sh" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/etc" "$stage/lib/modules/$kver" "$stage/dev" "$stage/proc" "$stage/sys" "$stage/tmp"
cp "$here/guest/init.sh" "$stage/init"
cp "$here/guest/e2e.sh" "$stage/lib/e2e.sh"
cp "$cache/busybox" "$stage/bin/busybox"
cp "$vtool" "$stage/bin/vtool"
chmod 755 "$stage/init" "$stage/bin/busybox" "$stage/bin/vtool"

# Dependency order from modules.dep: every module after the modules it needs.
order=""
dep_of() { sed -n "s|^$1: *||p" "$mods/modules.dep"; }
add() { # relative module path
    case " $order " in *" $1 "*) return ;; esac
    grep -q "^$1:" "$mods/modules.dep" || { echo "mkinitramfs.sh: $1 not in modules.dep" >&2; exit 1; }
    for d in $(dep_of "$1"); do add "$d"; done
    order="$order $1"
}
for top in kernel/drivers/virtio/virtio_pci.ko kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko; do
    add "$top"
done
: > "$stage/etc/e2e-modules"
for m in $order; do
    mkdir -p "$stage/lib/modules/$kver/$(dirname "$m")"
    cp "$mods/$m" "$stage/lib/modules/$kver/$m"
    echo "$m" >> "$stage/etc/e2e-modules"
done

(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$out.tmp"
mv "$out.tmp" "$out"
echo "mkinitramfs.sh: $out ($(wc -c < "$out") bytes; modules:$order)"
