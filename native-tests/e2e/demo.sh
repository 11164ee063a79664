#!/usr/bin/env bash
# demo.sh — from a clean checkout: install what is missing (fetch.sh), build the library, the
# vhost-user-vsock daemon and the peer tool, boot a real Linux guest in unmodified QEMU with the
# daemon as its vsock device, and move 16 MiB each way in both directions (guest -> host listener,
# host -> guest listener), every byte checked and the CRC-32s of both ends compared.
#   bash native-tests/e2e/demo.sh        (VSN_BUILD_DIR=... to use another build directory)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${VSN_BUILD_DIR:-$root/build}

echo "== 1/4 host packages, guest kernel and busybox (fetch.sh)"
sh "$here/fetch.sh"
echo "== 2/4 build (CMake: NativeAOT library, daemon, static peer tool)"
if ! command -v dotnet >/dev/null; then
    echo "error: the .NET SDK (10.x) is required to build the library and 'dotnet' is not on PATH" >&2
    exit 1
fi
# As test-all.sh: no first-run banner, no telemetry.
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# Always configure: an existing build directory may predate static libc (fetch.sh just installed
# it; the check result is cached) or have the end-to-end targets switched off.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVSN_E2E=ON -UVSN_E2E_STATIC_OK >/dev/null
cmake --build "$build" -j"$(nproc)" --target vhost-user-vsock vsn_e2e_vtool >/dev/null
echo "== 3/4 initramfs (busybox, the vsock modules, vtool)"
sh "$here/mkinitramfs.sh" "${VSN_E2E_CACHE:-$HOME/.cache/vsocknative-e2e}" \
    "$build/native-tests/e2e/vtool" "$build/native-tests/e2e/base.cpio"
echo "== 4/4 boot the guest and talk (QEMU TCG, about 10 s)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if bash "$here/run-case.sh" --daemon "$build/src/vhost-user-vsock/vhost-user-vsock" \
    --vtool "$build/native-tests/e2e/vtool" --initrd "$build/native-tests/e2e/base.cpio" \
    "$here/cases/demo.sh" > "$log" 2>&1; then
    grep -E 'daemon:|qemu:|SAY|STEP|VT conn|PASS in' "$log" | sed -e 's/^\[guest 3\] //' -e 's/E2E-SAY //; s/HOST-SAY //'
else
    cat "$log"   # everything, with the consoles' and the daemon's log tails
    exit 1
fi
