#!/bin/sh
# cli_test.sh <daemon>: the daemon's command line and config file. Bad arguments exit 2 with a
# message naming the problem; good ones serve until SIGTERM/SIGINT, then exit 0 and remove their
# sockets; a socket path that is not a socket is never removed (exit 1). vhost-device-vsock's
# README command lines and example config run as they are written there, with /tmp/ moved into
# this test's directory (so parallel runs never share a socket path).
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
for w in --vm --config guest-cid socket uds-path tx-buffer-size queue-size groups forward-cid forward-listen forward-listen-seqpacket \
         --metrics --metrics-interval SIGUSR1 --version --log-level vms: vhost-user-vsock-pci; do
    printf '%s' "$out" | grep -q -- "$w" || { echo "FAIL: --help does not mention $w"; fail=1; }
done

for v in -V --version; do
    out=$("$daemon" $v); rc=$?
    [ "$rc" = 0 ] && printf '%s' "$out" | grep -q '^vhost-user-vsock [0-9][0-9.]* (libvsocknative ABI [0-9]*\.[0-9]*)$' ||
        { echo "FAIL: $v -> status $rc, \"$out\""; fail=1; }
done

s3=$dir/v3.sock; s4=$dir/v4.sock
bad "no VM given"
bad "guest-cid \"2\"" --vm guest-cid=2,socket=$s3
bad "guest-cid \"4294967295\"" --vm guest-cid=4294967295,socket=$s3
bad "guest-cid \"abc\"" --vm guest-cid=abc,socket=$s3
bad "guest-cid \"-3\"" --vm guest-cid=-3,socket=$s3
bad "socket is missing" --vm guest-cid=3
bad "socket is missing" --guest-cid 4
bad "socket is missing" --uds-path $dir/vm3.vsock
bad "unknown VM key \"colour\"" --vm guest-cid=3,socket=$s3,colour=red
bad "is not key=value" --vm guest-cid=3,socket
bad "tx-buffer-size \"0\"" --vm guest-cid=3,socket=$s3,tx-buffer-size=0
bad "tx-buffer-size \"2147483648\"" --vm guest-cid=3,socket=$s3,tx-buffer-size=2147483648
bad "is not allowed in a group name" --vm guest-cid=3,socket=$s3,groups=a+b/c
bad "names are 1.." --vm guest-cid=3,socket=$s3,groups=a++b
bad "guest-cid 3 is given twice" --vm guest-cid=3,socket=$s3 --vm guest-cid=3,socket=$s4
bad "socket $s3 is given twice" --vm guest-cid=3,socket=$s3 --vm guest-cid=4,socket=$s3
bad "queue-size \"0\"" --vm guest-cid=3,socket=$s3,queue-size=0
bad "queue-size \"100\"" --vm guest-cid=3,socket=$s3,queue-size=100
bad "queue-size \"65536\"" --socket $s3 --queue-size 65536
bad "queue-size \"x\"" --socket $s3 --queue-size=x
bad "forward-cid \"0\"" --vm socket=$s3,forward-cid=0
bad "forward-cid \"4294967295\"" --socket $s3 --forward-cid 4294967295
bad "forward-cid \"one\"" --socket $s3 --forward-cid one
bad "forward-listen \"9001+x\"" --vm socket=$s3,forward-cid=1,forward-listen=9001+x
bad "forward-listen \"9001++9002\"" --vm socket=$s3,forward-cid=1,forward-listen=9001++9002
bad "forward-listen \"4294967295\"" --vm socket=$s3,forward-cid=1,forward-listen=4294967295
bad "forward-listen needs forward-cid" --vm socket=$s3,forward-listen=9001
bad "forward-listen needs forward-cid" --socket $s3 --forward-listen-seqpacket 9011
bad "forward-listen-seqpacket \"9011+y\"" --vm socket=$s3,forward-cid=1,forward-listen-seqpacket=9011+y
bad "forward-listen-seqpacket \"9001\": port 9001 is given twice" --vm socket=$s3,forward-cid=1,forward-listen=9001,forward-listen-seqpacket=9001
bad "forward-listen \"9002+9002\": port 9002 is given twice" --vm socket=$s3,forward-cid=1,forward-listen=9002+9002
bad "uds-path and forward-cid exclude each other" --vm socket=$s3,uds-path=$dir/u,forward-cid=1
bad "metrics-interval \"86401\"" --socket $s3 --metrics-interval 86401
bad "metrics-interval \"-1\"" --socket $s3 --metrics-interval -1
bad "metrics is empty" --socket $s3 --metrics ""
bad "unknown option --frobnicate" --frobnicate 1
bad "--vm needs a value" --vm
bad "log-level \"loud\"" --log-level loud --vm guest-cid=3,socket=$s3
bad "unexpected argument" stray
bad "longer than a Unix socket path" --vm guest-cid=3,socket=$dir/$(printf 'x%.0s' $(seq 1 120))
bad "No such file" --config $dir/missing.yaml

# Config files (libyaml): a malformed file is an error with file:line:column; an unknown key a
# warning with file:line; values are checked as on the command line.
printf 'vms:\n  - guest_cid: 3\n    socket: "%s\n' "$s3" >"$dir/quote.yaml"
bad "quote.yaml:4:1: found unexpected end of stream" --config "$dir/quote.yaml"
printf 'vms:\n  - guest_cid: 3\n    socket: /x\n     uds_path: /y\n' >"$dir/indent.yaml"
bad "indent.yaml:4:14: mapping values are not allowed" --config "$dir/indent.yaml"
printf 'vms: [{guest_cid: 3, socket: /x}\n' >"$dir/flow.yaml"
bad "flow.yaml:2:1: did not find expected ',' or ']'" --config "$dir/flow.yaml"
printf '# nothing\n' >"$dir/empty.yaml"
bad "empty.yaml: empty file" --config "$dir/empty.yaml"
printf 'machines:\n  - socket: /x\n' >"$dir/top.yaml"
bad "top.yaml:1:1: no \"vms:\" list" --config "$dir/top.yaml"
printf -- '- socket: /x\n' >"$dir/list.yaml"
bad "list.yaml:1:1: expected a mapping with \"vms:\", found a list" --config "$dir/list.yaml"
printf 'vms:\n    socket: /x\n' >"$dir/nolist.yaml"
bad "nolist.yaml:2:5: vms: expected a list of VMs, found a mapping" --config "$dir/nolist.yaml"
printf 'vms: []\n' >"$dir/nolist2.yaml"
bad "nolist2.yaml:1:6: vms: the list is empty" --config "$dir/nolist2.yaml"
printf 'vms:\n  - guest_cid: 3\n  - 4\n' >"$dir/scalar.yaml"
bad "scalar.yaml:3:5: a VM is a mapping" --config "$dir/scalar.yaml"
printf 'vms:\n  - guest_cid: [3]\n    socket: /x\n' >"$dir/seqval.yaml"
bad "seqval.yaml:2:16: guest_cid: expected a scalar value, found a list" --config "$dir/seqval.yaml"
printf 'vms:\n  - guest_cid: two\n    socket: /x\n' >"$dir/cid.yaml"
bad "cid.yaml:2:16: guest-cid \"two\": a number from 3 to 4294967294" --config "$dir/cid.yaml"
printf 'vms:\n  - socket: /x\n    queue_size: 1000\n' >"$dir/qs.yaml"
bad "qs.yaml:3:17: queue-size \"1000\": a power of two" --config "$dir/qs.yaml"
printf 'vms:\n  - socket: %s\n    forward_cid: 1\n    uds-path: /u\n' "$s3" >"$dir/both.yaml"
bad "uds-path and forward-cid exclude each other" --config "$dir/both.yaml"
printf 'log_level: loud\nvms:\n  - socket: /x\n' >"$dir/level.yaml"
bad "level.yaml:1:12: log-level \"loud\"" --config "$dir/level.yaml"

printf 'vms:\n  - guest_cid: 3\n    socket: %s\n    colour: red\nshape: round\nmetrics_interval: 5\n' "$s3" >"$dir/unknown.yaml"
serve TERM "$s3" -- --config "$dir/unknown.yaml"
grep -q 'warning: config .*unknown.yaml:4: unknown VM key "colour" (ignored)' "$dir/err" &&
    grep -q 'warning: config .*unknown.yaml:5: unknown top-level key "shape" (ignored)' "$dir/err" ||
    { echo "FAIL: unknown keys not warned about with file and line"; cat "$dir/err"; fail=1; }

# YAML forms: "---", flow style, unindented list items, quoting, comments, '-' and '_' keys,
# daemon-wide keys; guest-cid defaults to 3.
cat >"$dir/forms.yaml" <<YAML
---
# flow style
vms: [{guest_cid: 5, socket: "$dir/v5.sock"}, {socket: '$dir/v6.sock', groups: a+b}]
metrics: $dir/m.json
metrics-interval: 0
log_level: warn
...
YAML
serve TERM "$dir/v5.sock" "$dir/v6.sock" -- --config "$dir/forms.yaml"
[ -s "$dir/m.json" ] && grep -q '"guest_cid": 5' "$dir/m.json" && grep -q '"guest_cid": 3' "$dir/m.json" ||
    { echo "FAIL: forms.yaml: metrics key not applied or guest-cid not defaulted to 3"; fail=1; }
cat >"$dir/unindented.yaml" <<YAML
vms:
- guest_cid: 7
  socket: $dir/v7.sock
  queue-size: 128
-
  guest-cid: 8
  socket: >-
    $dir/v8.sock
YAML
serve TERM "$dir/v7.sock" "$dir/v8.sock" -- --config "$dir/unindented.yaml"

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
serve TERM "$s3" -- --vm socket=$s3   # guest-cid defaults to 3
serve TERM "$s3" -- --socket=$s3 --queue-size=64 --tx-buffer-size=4096 --groups=x --metrics-interval=0
serve TERM "$s3" "$s4" -- --config "$dir/good.yaml"
serve TERM "$s3" "$s4" "$dir/v5.sock" -- --config "$dir/good.yaml" --vm guest-cid=5,socket=$dir/v5.sock

# SIGUSR1 without --metrics: the counters in words in the log, and the daemon serves on.
"$daemon" --vm guest-cid=3,socket=$s3 </dev/null >"$dir/out" 2>"$dir/err" &
pid=$!
i=0; while [ ! -S "$s3" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
kill -USR1 $pid; sleep 0.3; kill -USR1 $pid; sleep 0.3
kill -TERM $pid; wait $pid; rc=$?
[ "$rc" = 0 ] && [ "$(grep -c 'SIGUSR1: counters (no --metrics file)' "$dir/err")" = 2 ] &&
    grep -q 'vm3: frontend not connected, device stopped, 0 vhost-user message(s) (0 rejected), 0 open connection(s)' "$dir/err" ||
    { echo "FAIL: SIGUSR1 without --metrics: status $rc"; cat "$dir/err"; fail=1; }

# vhost-device-vsock's README (rust-vmm/vhost-device, vhost-device-vsock/README.md): its command
# lines and its example config, as written there but for /tmp/ -> $dir/. The lines with
# forward-cid / forward-listen open AF_VSOCK sockets, which this host may not have and no test may
# use here: they run unchanged inside the e2e guest (ctest e2e_forward, native-tests/e2e/forward.sh).
readme() {  # <the README's arguments>: served, its sockets and hybrid sockets created, then removed
    line=$(printf '%s' "$*" | sed "s|/tmp/|$dir/|g")
    socks=$(printf '%s' "$line" | grep -o "socket=[^, ]*" | sed 's/^socket=//')
    udss=$(printf '%s' "$line" | grep -o "uds-path=[^, ]*" | sed 's/^uds-path=//')
    # shellcheck disable=SC2086
    serve TERM $socks $udss -- $line
}
readme --vm guest-cid=4,uds-path=/tmp/vm4.vsock,socket=/tmp/vhost4.socket
readme --vm guest-cid=4,uds-path=/tmp/vm4.vsock,socket=/tmp/vhost4.socket,tx-buffer-size=65536,queue-size=1024
readme --vm guest-cid=3,uds-path=/tmp/vm3.vsock,socket=/tmp/vhost3.socket,groups=group1+group2 \
    --vm guest-cid=4,uds-path=/tmp/vm4.vsock,socket=/tmp/vhost4.socket,groups=group1
readme --vm guest-cid=3,socket=/tmp/vhost3.socket,uds-path=/tmp/vm3.vsock,groups=group1+groupA \
    --vm guest-cid=4,socket=/tmp/vhost4.socket,uds-path=/tmp/vm4.vsock,tx-buffer-size=32768,queue-size=256
readme --vm guest_cid=4,socket=/tmp/vhost4.socket,uds-path=/tmp/vm4.vsock,tx-buffer-size=32768,queue-size=1024,groups=g1+g2
readme --guest-cid=4 --socket=/tmp/vhost4.socket --uds-path=/tmp/vm4.vsock --tx-buffer-size=65536 --queue-size=1024 --groups=g1+g2
# The README's example config: here its first two VMs (the third forwards to AF_VSOCK CID 1: the
# whole file runs in e2e_forward); the whole file is read and checked (a bad VM after it is the
# first error, so nothing is opened).
# (native-tests/vhost-user/vhost-device-vsock-readme.yaml: the README's example, verbatim)
sed "s|/tmp/|$dir/|g" "$(dirname "$0")/vhost-device-vsock-readme.yaml" >"$dir/readme.yaml"
bad "VM 4 (cid 3): forward-listen needs forward-cid" --config "$dir/readme.yaml" --vm socket=$dir/v9.sock,forward-listen=1
head -n 13 "$dir/readme.yaml" >"$dir/readme2.yaml"
serve TERM "$dir/vhost3.socket" "$dir/vhost4.socket" "$dir/vm3.vsock" "$dir/vm4.vsock" -- --config "$dir/readme2.yaml"

# A path that exists and is not a socket: refused (status 1), never removed.
echo keep >"$dir/file"
"$daemon" --vm guest-cid=3,socket=$dir/file </dev/null 2>"$dir/err"; rc=$?
[ "$rc" = 1 ] && grep -q "not a socket" "$dir/err" && [ "$(cat "$dir/file")" = keep ] ||
    { echo "FAIL: existing file as socket: status $rc"; cat "$dir/err"; fail=1; }
"$daemon" --vm guest-cid=3,socket=$s3,uds-path=$dir/file </dev/null 2>"$dir/err"; rc=$?
[ "$rc" = 1 ] && grep -q "uds-path $dir/file exists and is not a socket" "$dir/err" && [ "$(cat "$dir/file")" = keep ] && [ ! -e "$s3" ] ||
    { echo "FAIL: existing file as uds-path: status $rc"; cat "$dir/err"; fail=1; }

[ $fail = 0 ] && echo "PASS: cli" || echo "FAIL: cli"
exit $fail
