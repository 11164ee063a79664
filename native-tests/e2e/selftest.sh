#!/usr/bin/env bash
# selftest.sh — the checker checked (host only, AF_UNIX, no QEMU): vtool must pass good transfers
# and must fail on each thing the end-to-end cases rely on it to catch: a flipped byte (also both
# ways at once: each end tells it, neither hangs on the other; in a soak, --duration/--expect-any,
# too), a short or long stream, merged or
# split seqpacket messages, a seqpacket record end (MSG_EOR) missing or extra, a truncated read that
# did not get the message's full length, a recv under SO_RCVTIMEO that got data instead of EAGAIN,
# the wrong connect outcome, a transfer that completes where it had to break, a hang (timeout).
# Not reachable over AF_UNIX, hence only in the guests (siblings_seqpacket): MSG_EOR that arrives
# (AF_UNIX takes MSG_EOR on send but never reports it, so a record end is always "missing" here and
# an extra one is faked on the receiving side, --fake-eor-at), MSG_TRUNC missing from msg_flags
# after a truncated read, EAGAIN before 80% of SO_RCVTIMEO (AF_UNIX gets these right).
# usage: selftest.sh VTOOL
set -uo pipefail
VT=${1:?usage: selftest.sh VTOOL}
D=$(mktemp -d /tmp/vsn-vtself.XXXXXX)
trap 'rm -rf "$D"' EXIT
pass=0 fail=0

# check NAME LISTENER_STATUS CONNECTOR_STATUS|any REGEX -- LISTENER_ARGS -- CONNECTOR_ARGS
# (the connector of a stream the listener rejects may see EPIPE: "any")
check() {
    local name=$1 lrc_want=$2 crc_want=$3 re=$4; shift 4
    local largs=() cargs=() side=l
    shift # --
    for a in "$@"; do
        if [ "$a" = -- ]; then side=c; continue; fi
        if [ $side = l ]; then largs+=("$a"); else cargs+=("$a"); fi
    done
    local sock="$D/$name.sock"
    ( "$VT" listen "unix:$sock" --timeout 20 "${largs[@]}"; echo $? > "$D/$name.lrc" ) > "$D/$name.l" 2>&1 &
    local lpid=$!
    for _ in $(seq 50); do grep -q '^VT READY' "$D/$name.l" 2>/dev/null && break; sleep 0.1; done
    if [ ${#cargs[@]} -gt 0 ]; then
        "$VT" connect "unix:$sock" --timeout 20 "${cargs[@]}" > "$D/$name.c" 2>&1
        local crc=$?
    else
        local crc=0; : > "$D/$name.c"
    fi
    wait $lpid
    local lrc
    lrc=$(cat "$D/$name.lrc")
    if [ $lrc = "$lrc_want" ] && { [ "$crc_want" = any ] || [ $crc = "$crc_want" ]; } && grep -qE "$re" "$D/$name.l" "$D/$name.c"; then
        echo "selftest: $name ok"; pass=$((pass + 1))
    else
        echo "selftest: $name FAILED (listener $lrc, want $lrc_want; connector $crc, want $crc_want; want /$re/)"
        sed 's/^/  listener: /' "$D/$name.l"; sed 's/^/  connector: /' "$D/$name.c"
        fail=$((fail + 1))
    fi
}

check good 0 0 'VT PASS conns=3 sent=25165824 recv=25165824' \
    -- --conns 3 --send 8M --expect 8M --seed 5 -- --conns 3 --send 8M --expect 8M
check flipped-byte 1 any 'received byte at offset 123457 is not' \
    -- --expect 1M -- --send 1M --corrupt-at 123457
check flipped-byte-both-ways 1 1 'received byte at offset 123457 is not' \
    -- --send 8M --expect 8M --corrupt-at 123457 -- --send 8M --expect 8M --corrupt-at 123457
check soak-duration 0 0 'VT PASS conns=2 sent=[1-9][0-9]* recv=[1-9][0-9]*' \
    -- --conns 2 --duration 1 --expect-any --seed 5 -- --conns 2 --duration 1 --expect-any
check soak-flipped-byte 1 any 'received byte at offset 123457 is not' \
    -- --expect-any -- --duration 1 --corrupt-at 123457
check short-stream 1 0 'EOF after 1048576 bytes, short' \
    -- --expect 2M -- --send 1M
check long-stream 1 any 'more than expected' \
    -- --expect 1M -- --send 2M
check seqpacket-good 0 0 'msgs=[1-9][0-9]* .*' \
    -- --seqpacket --max-msg 3000 --expect 1M -- --seqpacket --max-msg 3000 --send 1M
check seqpacket-boundaries 1 any 'message boundary lost' \
    -- --seqpacket --max-msg 2000 --expect 1M -- --seqpacket --max-msg 3000 --send 1M
check eor-missing 1 any 'message [0-9]* \(at byte [0-9]*\): MSG_EOR expected, missing' \
    -- --seqpacket --max-msg 3000 --eor-every 4 --expect 1M -- --seqpacket --max-msg 3000 --eor-every 4 --send 1M
check eor-extra 1 any 'message 7 \(at byte [0-9]*\): MSG_EOR, but it was sent without' \
    -- --seqpacket --max-msg 3000 --expect 1M --fake-eor-at 7 -- --seqpacket --max-msg 3000 --send 1M
check trunc-good 0 0 'records=0 truncated=[1-9][0-9]* .*' \
    -- --seqpacket --max-msg 3000 --trunc-every 3 --expect 1M -- --seqpacket --max-msg 3000 --send 1M
check trunc-short 1 any 'recv\(MSG_TRUNC\) returned 1, not its length' \
    -- --seqpacket --max-msg 3000 --trunc-every 1 --expect 1M -- --seqpacket --max-msg 1 --send 1M
check rcvtimeo-good 0 0 'VT rcvtimeo: EAGAIN after [0-9]+ ms \(SO_RCVTIMEO 500 ms\)' \
    -- --seqpacket --order recv-first --expect 64K --send 64K -- --seqpacket --rcvtimeo-test 500 --send 64K --expect 64K
check rcvtimeo-data 1 1 'SO_RCVTIMEO 2000 ms returned 8 after [0-9]+ ms, want EAGAIN' \
    -- --seqpacket --expect 64K --send 64K -- --seqpacket --rcvtimeo-test 2000 --send 64K --expect 64K
check half-close 0 0 'VT PASS' \
    -- --order recv-first --expect 1M --send 1M -- --order send-first --send 1M --expect 1M
check wrong-connect-outcome 0 1 'connect: success \(expected ECONNRESET\) MISMATCH' \
    -- -- --send 0 --expect-connect-error ECONNRESET
check completes-but-had-to-break 0 1 'completed although it had to break' \
    -- --expect 1M -- --send 1M --expect-broken
check hang 3 0 'VT FAIL timeout' \
    -- --expect 1M --timeout 1
check killed 137 1 'killing myself' \
    -- --expect 8M --die-after 1M -- --send 8M

echo "$pass passed, $fail failed"
[ $fail = 0 ]
