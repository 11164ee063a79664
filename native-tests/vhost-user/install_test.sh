#!/bin/sh
# install_test.sh <build dir>: `cmake --install` into a scratch prefix installs the daemon (which
# runs from there: --version), its man page (which describes every option --help lists, and which
# man renders without warnings when man is present) and the systemd unit example (which
# systemd-analyze verifies when present).
build=$1
prefix=$(mktemp -d /tmp/vu_install_XXXXXX)
fail=0
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >"$prefix.log" 2>&1 || { echo "FAIL: cmake --install"; cat "$prefix.log"; rm -f "$prefix.log"; exit 1; }
rm -f "$prefix.log"
bin=$prefix/bin/vhost-user-vsock
man=$(find "$prefix" -path '*/man1/vhost-user-vsock.1')
unit=$(find "$prefix" -path '*/doc/*/vhost-user-vsock.service')
"$bin" --version | grep -q '^vhost-user-vsock ' || { echo "FAIL: installed $bin does not run"; fail=1; }
[ -n "$man" ] || { echo "FAIL: no man page installed"; fail=1; }
[ -n "$unit" ] || { echo "FAIL: no systemd unit installed"; fail=1; }
if [ -n "$man" ]; then
    # every long option of --help appears in the man page (written \-\-name there)
    for o in $("$bin" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
        esc=$(printf '%s' "$o" | sed 's/-/\\\\-/g')
        grep -q -- "$esc" "$man" || { echo "FAIL: the man page does not describe $o"; fail=1; }
    done
    for k in guest-cid socket uds-path tx-buffer-size queue-size groups forward-cid forward-listen SIGUSR1; do
        esc=$(printf '%s' "$k" | sed 's/-/\\\\-/g')
        grep -q -- "$esc" "$man" || { echo "FAIL: the man page does not describe $k"; fail=1; }
    done
    if command -v man >/dev/null 2>&1; then
        warn=$(MANWIDTH=80 man --warnings -l "$man" 2>&1 >/dev/null)
        [ -z "$warn" ] || { echo "FAIL: man warns: $warn"; fail=1; }
    fi
fi
if [ -n "$unit" ]; then
    grep -q '^ExecStart=.*vhost-user-vsock ' "$unit" && grep -q '^RestartPreventExitStatus=2' "$unit" ||
        { echo "FAIL: the unit lacks ExecStart or RestartPreventExitStatus=2"; fail=1; }
    if command -v systemd-analyze >/dev/null 2>&1; then
        out=$(systemd-analyze verify "$unit" 2>&1 | grep -v 'Command /usr/local/bin/vhost-user-vsock is not executable\|Command .man vhost-user-vsock(1). failed\|not found\|No such file')
        [ -z "$out" ] || { echo "FAIL: systemd-analyze: $out"; fail=1; }
    fi
fi
[ $fail = 0 ] && echo "PASS: install" || echo "FAIL: install"
exit $fail
