#!/bin/sh
# cli_test.sh <daemon>: the daemon's command line and config file. Bad arguments exit 2 with a
# message naming the problem; good ones serve until SIGTERM/SIGINT, then exit 0 and remove their
# sockets; a socket path that is not a socket is never removed (exit 1).
daemon=$1
dir=$(mktemp -d /tmp/vu_cli_XXXXXX)
fail=0
trap 'rm -rf "$dir"' EXIT

# bad <expected substring> <args...>: exit status 2 and the substring in the message.
bad() {
    want=$1; shift
    out=$("$daemon" "$@" 2>&1 </dev/null); rc=$?
    if [ "$rc" != 2 ] || ! printf '%s' "$out" | grep -q -- "$want"; then
        echo "FAIL: $* -> status $rc, message: $out (wanted status 2 and \"$want\")"; fail=1
    fi
}

# serve <signal> <socket...> -- <args...>: starts, waits for the sockets, signals, expects exit 0
# and the sockets gone.
serve() {
    sig=$1; shift
    socks=""
    while [ "$1" != "--" ]; do socks="$socks $1"; shift; done
    shift
    "$daemon" "$@" </dev/null >"$dir/out" 2>"$dir/err" &
    pid=$!
    for s in $socks; do
        i=0
        while [ ! -S "$s" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
        [ -S "$s" ] || { echo "FAIL: $* did not create $s"; cat "$dir/err"; fail=1; }
    done
    kill -"$sig" "$pid"; wait "$pid"; rc=$?
    [ "$rc" = 0 ] || { echo "FAIL: $* -> status $rc after SIG$sig"; cat "$dir/err"; fail=1; }
    for s in $socks; do [ ! -e "$s" ] || { echo "FAIL: $s left behind"; fail=1; }; done
}

out=$("$daemon" --help); rc=$?
[ "$rc" = 0 ] || { echo "FAIL: --help status $rc"; fail=1; }
for w in --vm --config guest-cid socket uds-path tx-buffer-size groups --log-level vms: vhost-user-vsock-pci; do
    printf '%s' "$out" | grep -q -- "$w" || { echo "FAIL: --help does not mention $w"; fail=1; }
done

s3=$dir/v3.sock; s4=$dir/v4.sock
bad "no VM given"
bad "guest-cid \"2\"" --vm guest-cid=2,socket=$s3
bad "guest-cid \"4294967295\"" --vm guest-cid=4294967295,socket=$s3
bad "guest-cid \"abc\"" --vm guest-cid=abc,socket=$s3
bad "guest-cid \"-3\"" --vm guest-cid=-3,socket=$s3
bad "socket is missing" --vm guest-cid=3
bad "guest-cid is missing" --vm socket=$s3
bad "unknown VM key \"colour\"" --vm guest-cid=3,socket=$s3,colour=red
bad "is not key=value" --vm guest-cid=3,socket
bad "tx-buffer-size \"0\"" --vm guest-cid=3,socket=$s3,tx-buffer-size=0
bad "tx-buffer-size \"2147483648\"" --vm guest-cid=3,socket=$s3,tx-buffer-size=2147483648
bad "is not allowed in a group name" --vm guest-cid=3,socket=$s3,groups=a+b/c
bad "names are 1.." --vm guest-cid=3,socket=$s3,groups=a++b
bad "guest-cid 3 is given twice" --vm guest-cid=3,socket=$s3 --vm guest-cid=3,socket=$s4
bad "socket $s3 is given twice" --vm guest-cid=3,socket=$s3 --vm guest-cid=4,socket=$s3
bad "unknown option --frobnicate" --frobnicate 1
bad "--vm needs a value" --vm
bad "--log-level \"loud\"" --log-level loud --vm guest-cid=3,socket=$s3
bad "unexpected argument" stray
bad "longer than a Unix socket path" --vm guest-cid=3,socket=$dir/$(printf 'x%.0s' $(seq 1 120))
bad "No such file" --config $dir/missing.yaml

printf 'vms:\n  - guest_cid: 3\n    socket: %s\n    colour: red\n' "$s3" >"$dir/unknown.yaml"
bad "unknown.yaml:4: unknown VM key \"colour\"" --config "$dir/unknown.yaml"
printf '# nothing\n' >"$dir/empty.yaml"
bad "no \"vms:\" list" --config "$dir/empty.yaml"
printf 'vms:\n  - guest_cid: 3\n    socket: "%s\n' "$s3" >"$dir/quote.yaml"
bad "quote.yaml:3: unbalanced quote" --config "$dir/quote.yaml"
printf 'machines:\n' >"$dir/top.yaml"
bad "top.yaml:1: expected \"vms:\"" --config "$dir/top.yaml"
printf 'vms:\n    socket: /x\n' >"$dir/nodash.yaml"
bad "nodash.yaml:2: a VM starts with" --config "$dir/nodash.yaml"

serve TERM "$s3" -- --vm guest-cid=3,socket=$s3,uds-path=$dir/vm3.vsock,tx-buffer-size=65536,groups=a+b
serve INT "$s3" -- --guest-cid 3 --socket "$s3" --uds-path "$dir/vm3.vsock" --log-level=error
cat >"$dir/good.yaml" <<YAML
# two VMs in one group
vms:
    - guest_cid: 3
      socket: "$s3"       # quoted
      uds_path: $dir/vm3.vsock
      tx_buffer_size: 65536
      groups: g1+g2
    -
      guest-cid: 4
      socket: '$s4'
YAML
serve TERM "$s3" "$s4" -- --config "$dir/good.yaml"
serve TERM "$s3" "$s4" "$dir/v5.sock" -- --config "$dir/good.yaml" --vm guest-cid=5,socket=$dir/v5.sock

# A path that exists and is not a socket: refused (status 1), never removed.
echo keep >"$dir/file"
"$daemon" --vm guest-cid=3,socket=$dir/file </dev/null 2>"$dir/err"; rc=$?
[ "$rc" = 1 ] && grep -q "not a socket" "$dir/err" && [ "$(cat "$dir/file")" = keep ] ||
    { echo "FAIL: existing file as socket: status $rc"; cat "$dir/err"; fail=1; }

[ $fail = 0 ] && echo "PASS: cli" || echo "FAIL: cli"
exit $fail
