# reconnect: the frontend vanishes mid-transfer and comes back. QEMU is SIGKILLed while a guest ->
# host and a host -> guest transfer are in flight; both host peers must see their stream end
# (error or short EOF, not a hang); then a new QEMU boots against the same daemon, which must serve
# it like the first one (the daemon unmapped and reset everything on the disconnect): 16 MiB each
# way, both directions, CRC-32s compared.
CASE_VMS="3"
CASE_TIMEOUT=240

guest_3() { echo "inflight 1700 5700"; }

guest_3_again() { cat <<'GUEST'
step g2h vtool connect vsock:2:1701 --send 16M --expect 16M --seed 500 --timeout 100
bg_step h2g vtool listen vsock:5701 --send 16M --expect 16M --seed 510 --timeout 100
GUEST
}

host_side() {
    local bad=0
    host_bg g2h vtool listen "unix:$(uds 3)_1701" --send 16M --expect 16M --seed 501 --timeout 200
    inflight_start 3 1700 5700 || bad=1
    kill_guest 3
    inflight_ended "QEMU was killed" || bad=1
    boot_guest 3 guest_3_again
    wait_guest 3 '^\[h2g\] VT READY' || bad=1
    host_step h2g vtool connect "hybrid:$(uds 3):5701" --send 16M --expect 16M --seed 511 --timeout 100 || bad=1
    host_wait || bad=1
    crc_match 3 g2h g2h && crc_match 3 h2g h2g || bad=1
    return $bad
}
