# siblings: two guests (CID 3 and 4) served by one daemon, in one group, talk to each other by CID;
# the daemon carries each connection device to device. Both directions start at the same moment
# (each guest connects to the other while accepting from it: the two devices route to each other
# concurrently), 16 MiB each way on each connection, and the CRC-32s agree across the two guests.
#   to4 / from3    guest 3 connects to CID 4 port 6000, guest 4 accepts
#   to3 / from4    guest 4 connects to CID 3 port 6001, guest 3 accepts
#   refused-sib    guest 3 connects to CID 4 port 6999 where nothing listens: RST -> ECONNRESET
#   no-such-cid    guest 3 connects to CID 5, which the daemon does not serve: RST -> ECONNRESET
#   host-too       guest 4 still reaches the host (port 1400) afterwards
CASE_VMS="3 4"
CASE_TIMEOUT=300

guest_3() { cat <<'GUEST'
bg_step from4 vtool listen vsock:6001 --send 16M --expect 16M --seed 300 --timeout 240
gate go
step to4 vtool connect vsock:4:6000 --send 16M --expect 16M --seed 310 --timeout 240
e2e_wait
step refused-sib vtool connect vsock:4:6999 --send 1 --expect-connect-error ECONNRESET --timeout 30
step no-such-cid vtool connect vsock:5:6000 --send 1 --expect-connect-error ECONNRESET --timeout 30
GUEST
}

guest_4() { cat <<'GUEST'
bg_step from3 vtool listen vsock:6000 --send 16M --expect 16M --seed 400 --timeout 240
gate go
step to3 vtool connect vsock:3:6001 --send 16M --expect 16M --seed 410 --timeout 240
e2e_wait
step host-too vtool connect vsock:2:1400 --send 1M --expect 1M --seed 420 --timeout 60
GUEST
}

host_side() {
    local bad=0
    host_bg host-too vtool listen "unix:$(uds 4)_1400" --send 1M --expect 1M --seed 421 --timeout 200
    # Both listeners up, then both gates open: the two connections start together.
    wait_guest 3 '^\[from4\] VT READY' && wait_guest 4 '^\[from3\] VT READY' || bad=1
    wait_guest 3 '^\[go\] VT READY' && wait_guest 4 '^\[go\] VT READY' || bad=1
    open_gate 3 go || bad=1
    open_gate 4 go || bad=1
    host_wait || bad=1
    wait_guest 3 '^E2E-RESULT' && wait_guest 4 '^E2E-RESULT' || bad=1
    crc_match_guests 3 to4 4 from3 || bad=1
    crc_match_guests 4 to3 3 from4 || bad=1
    crc_match 4 host-too host-too || bad=1
    return $bad
}
