#!/bin/sh
# forward.sh DAEMON FORWARD_TEST BASE.cpio [asan]: ctest e2e_forward (e2e_forward_asan: the daemon
# built with ASan/UBSan; a memory error or a leak fails its exit status in the guest). forward-cid / forward-listen need a
# vsock transport that reaches CID 1 (vsock_loopback.ko); the build host has none, and no test may
# reach any other CID, so everything runs inside one TCG guest (Debian's kernel, no vsock device):
# the daemon, vhost_user_forward (the vhost-user frontend playing the VM, and the host peers on
# AF_VSOCK CID 1: its own sockets for streams, /bin/vtool of the base initramfs for seqpacket), with the daemon, the test and their shared libraries copied into the
# initramfs. Then vhost-device-vsock's README command lines and example config with forward-cid
# run there as written (`vhost-device-vsock` is a link to our daemon), each started, its socket
# checked, stopped with SIGTERM (exit 0, socket removed).
set -eu
[ $# = 3 ] || [ $# = 4 ] || { echo "usage: $0 DAEMON FORWARD_TEST BASE.cpio [asan]" >&2; exit 2; }
daemon=$1; test=$2; base=$3; asan=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
cache=${VSN_E2E_CACHE:-$HOME/.cache/vsocknative-e2e}
kver=$(cat "$cache/kernel-version")
loopback=$cache/modules/lib/modules/$kver/kernel/net/vmw_vsock/vsock_loopback.ko
[ -f "$loopback" ] || { echo "forward.sh: no vsock_loopback.ko in the kernel cache: run fetch.sh" >&2; exit 1; }
W=$(mktemp -d /tmp/vsn_e2e_forward_XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$W"' EXIT
stage=$W/stage
mkdir -p "$stage/opt/fwd/lib" "$stage/lib64" "$stage/lib/modules/$kver/kernel/net/vmw_vsock"
cp "$daemon" "$stage/opt/fwd/vhost-user-vsock"
ln -s vhost-user-vsock "$stage/opt/fwd/vhost-device-vsock"
cp "$test" "$stage/opt/fwd/vhost_user_forward"
cp "$here/../vhost-user/vhost-device-vsock-readme.yaml" "$stage/opt/fwd/readme.yaml"  # the README's example, verbatim
cp "$loopback" "$stage/lib/modules/$kver/kernel/net/vmw_vsock/"
for lib in $(ldd "$daemon" "$test" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u); do
    cp -L "$lib" "$stage/opt/fwd/lib/"
done
loader=$(ldd "$daemon" | awk '/ld-linux/ { print $1 }')
cp -L "$loader" "$stage/lib64/"
: > "$stage/opt/fwd/env"
if [ "$asan" = asan ]; then
    cp "$here/../cmake/lsan.supp" "$stage/opt/fwd/lsan.supp"  # the one suppression file of every harness
    cat > "$stage/opt/fwd/env" <<'ENV'
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=/opt/fwd/lsan.supp:print_suppressions=0
ENV
fi

cat > "$stage/case.sh" <<'GUEST'
kver=$(uname -r)
step loopback insmod "/lib/modules/$kver/kernel/net/vmw_vsock/vsock_loopback.ko"
export LD_LIBRARY_PATH=/opt/fwd/lib PATH="$PATH:/opt/fwd"
. /opt/fwd/env
mkdir -p /tmp/f
step forward vhost_user_forward /opt/fwd/vhost-user-vsock /tmp/f
# readme NAME SOCKET... -- COMMAND...: runs, waits for the sockets, SIGTERM, exit 0, sockets gone.
readme() {
    name=$1; shift; socks=""
    while [ "$1" != "--" ]; do socks="$socks $1"; shift; done; shift
    step "$name" sh -c '
        socks=$1; shift
        "$@" 2>/tmp/readme.err & pid=$!
        for s in $socks; do
            i=0; while [ ! -S "$s" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
            [ -S "$s" ] || { echo "no socket $s"; cat /tmp/readme.err; kill -9 $pid; exit 1; }
        done
        kill -TERM $pid; wait $pid; rc=$?
        [ $rc = 0 ] || { echo "exit $rc"; cat /tmp/readme.err; exit 1; }
        for s in $socks; do [ ! -e "$s" ] || { echo "$s left behind"; exit 1; }; done' sh "$socks" "$@"
}
readme readme-forward /tmp/vhost4.socket -- \
    vhost-device-vsock --vm guest-cid=4,forward-cid=1,forward-listen=9001+9002,socket=/tmp/vhost4.socket
readme readme-three /tmp/vhost3.socket /tmp/vhost4.socket /tmp/vhost5.socket /tmp/vm3.vsock /tmp/vm4.vsock -- \
    vhost-device-vsock \
    --vm guest-cid=3,socket=/tmp/vhost3.socket,uds-path=/tmp/vm3.vsock,groups=group1+groupA \
    --vm guest-cid=4,socket=/tmp/vhost4.socket,uds-path=/tmp/vm4.vsock,tx-buffer-size=32768,queue-size=256 \
    --vm guest-cid=5,socket=/tmp/vhost5.socket,forward-cid=1,forward-listen=9001+9002,tx-buffer-size=32768,queue-size=1024
readme readme-single /tmp/vhost4.socket -- \
    vhost-device-vsock --guest-cid=4 --socket=/tmp/vhost4.socket --forward-cid=1 --forward-listen=9001+9002 --tx-buffer-size=65536 --queue-size=1024
readme readme-config /tmp/vhost3.socket /tmp/vhost4.socket /tmp/vhost5.socket -- vhost-device-vsock --config=/opt/fwd/readme.yaml
GUEST

(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$W/extra.cpio"
cat "$base" "$W/extra.cpio" > "$W/initrd.cpio"
echo "forward.sh: booting (QEMU TCG, no vsock device; vsock_loopback in the guest)${asan:+; the daemon under ASan/UBSan}"
timeout "${FORWARD_TIMEOUT:-500}" qemu-system-x86_64 -accel tcg -machine q35 -m 768M -smp 1 \
    -nographic -monitor none -serial "file:$W/console.log" -nic none -no-reboot \
    -kernel "$cache/vmlinuz" -initrd "$W/initrd.cpio" -append "console=ttyS0 quiet panic=-1" \
    > "$W/qemu.log" 2>&1 < /dev/null || true
grep -a '^\[\|^E2E-' "$W/console.log" | grep -av '^\[ *[0-9]*\.[0-9]*\]' || true
if grep -aq '^E2E-RESULT PASS' "$W/console.log"; then echo "PASS: e2e_forward"; exit 0; fi
echo "FAIL: e2e_forward (console tail:)"; tail -n 40 "$W/console.log"; tail -n 5 "$W/qemu.log"
exit 1
