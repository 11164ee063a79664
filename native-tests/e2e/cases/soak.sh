# soak: several connections both ways at once for a while, through the daemon into a real guest,
# every byte checked by vtool and the CRC-32s of every direction of every connection compared
# between guest and host. VSN_SOAK_SECONDS sets how long each connection sends (default 30, what
# ctest runs; the README records a longer run):
#   soak-g2h  the guest opens 4 connections to host port 1400 (<uds>_1400) ...
#   soak-h2g  ... while the host opens 4 through "CONNECT 5400" into a guest listener; on all 8, both
#             ends send their pattern for the whole time and read the other's to its end of stream
SOAK=${VSN_SOAK_SECONDS:-30}
CASE_VMS="3"
CASE_TIMEOUT=$((SOAK + 180))

guest_3() { cat <<GUEST
bg_step soak-h2g vtool listen vsock:5400 --conns 4 --duration $SOAK --expect-any --seed 300 --timeout $((SOAK + 120))
step soak-g2h vtool connect vsock:2:1400 --conns 4 --duration $SOAK --expect-any --seed 100 --timeout $((SOAK + 120))
GUEST
}

host_side() {
    local bad=0 s
    host_bg soak-g2h vtool listen "unix:$(uds 3)_1400" --conns 4 --duration "$SOAK" --expect-any --seed 200 --timeout $((SOAK + 120))
    wait_guest 3 '^\[soak-h2g\] VT READY' || bad=1
    host_step soak-h2g vtool connect "hybrid:$(uds 3):5400" --conns 4 --duration "$SOAK" --expect-any --seed 400 --timeout $((SOAK + 120)) || bad=1
    host_wait || bad=1
    for s in soak-g2h soak-h2g; do crc_match 3 $s $s || bad=1; done
    return $bad
}
