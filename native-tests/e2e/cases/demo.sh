# demo: one guest, data both ways, explained (run by demo.sh; also a ctest).
CASE_VMS="3"
CASE_TIMEOUT=150

guest_3() { cat <<'GUEST'
echo "E2E-SAY guest: my CID is $(vtool cid | sed -n 's/^VT CID //p') (read from the device the daemon serves)"
echo "E2E-SAY guest: connecting to the host (CID 2) port 1234 -> the daemon connects to the host socket <uds>_1234"
step guest-to-host vtool connect vsock:2:1234 --send 16M --expect 16M --seed 1 --timeout 100
echo "E2E-SAY guest: listening on vsock port 5000; the host connects with \"CONNECT 5000\" on <uds>"
bg_step host-to-guest vtool listen vsock:5000 --send 16M --expect 16M --seed 3 --timeout 100
e2e_wait
GUEST
}

host_side() {
    local bad=0
    echo "HOST-SAY host: listening on $(uds 3)_1234"
    host_bg guest-to-host vtool listen "unix:$(uds 3)_1234" --send 16M --expect 16M --seed 2 --timeout 100
    wait_guest 3 '^\[host-to-guest\] VT READY' || bad=1
    echo "HOST-SAY host: connecting to $(uds 3) with CONNECT 5000"
    host_step host-to-guest vtool connect "hybrid:$(uds 3):5000" --send 16M --expect 16M --seed 4 --timeout 100 || bad=1
    host_wait || bad=1
    crc_match 3 guest-to-host guest-to-host && crc_match 3 host-to-guest host-to-guest || bad=1
    return $bad
}
