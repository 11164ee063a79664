# close: half-close both ways, refused connections both ways, a host peer killed mid-transfer both
# ways, and a clean connection afterwards (the device is still healthy).
#   half-g2h   guest sends 1 MiB then shutdown(SHUT_WR); the host reads to EOF, only then replies
#              1 MiB, which the guest still receives on its half-closed socket
#   half-h2g   the same with the host sending first (hybrid connect into a guest listener)
#   refused-g2h  guest connects to host port 7777 (no listener at <uds>_7777): the device answers RST,
#              connect() fails with ECONNRESET (what Linux reports for an RST to its REQUEST)
#   refused-h2g  host "CONNECT 7778" with no guest listener: the guest RSTs, the device closes the
#              hybrid socket without "OK" (vtool reports that as ECONNREFUSED)
#   killed-g2h the host listener SIGKILLs itself after 1 MiB of the guest's 64 MiB: the guest's
#              transfer must end with an error (not hang, not "complete")
#   killed-h2g the host connector SIGKILLs itself after 1 MiB of the guest listener's 64 MiB
#   after      a fresh 1 MiB each-way connection succeeds
#   empty-h2g  socat (a real host tool) writes "CONNECT 5302\n" and leaves at once, usually before the
#              guest answered the REQUEST: the guest's accept() succeeds and its recv() sees end of
#              stream, not an error. The guest reads before it calls shutdown(SHUT_WR): a Linux guest
#              whose peer already closed fully reports ENOTCONN to a recv() *after* its own shutdown()
#              (vsock_shutdown clears SOCK_DONE; BEHAVIOUR.md "Host-initiated connect"), with any host.
CASE_VMS="3"
CASE_TIMEOUT=240

guest_3() { cat <<'GUEST'
step half-g2h vtool connect vsock:2:1300 --order send-first --send 1M --expect 1M --seed 50 --timeout 60
bg_step half-h2g vtool listen vsock:5300 --order recv-first --send 1M --expect 1M --seed 60 --timeout 60
e2e_wait
step refused-g2h vtool connect vsock:2:7777 --send 1 --expect-connect-error ECONNRESET --timeout 30
gate wait-host
step killed-g2h vtool connect vsock:2:1301 --send 64M --expect-broken --timeout 60
bg_step killed-h2g vtool listen vsock:5301 --send 64M --expect-broken --timeout 60
e2e_wait
step after vtool connect vsock:2:1302 --send 1M --expect 1M --seed 70 --timeout 60
step empty-h2g vtool listen vsock:5302 --order recv-first --expect 0 --timeout 30
GUEST
}

host_side() {
    local bad=0 p rc
    # Every host listener first: the guest reaches them without waiting.
    host_bg half-g2h vtool listen "unix:$(uds 3)_1300" --order recv-first --send 1M --expect 1M --seed 51 --timeout 60
    host_bg killed-g2h-peer vtool listen "unix:$(uds 3)_1301" --expect 64M --die-after 1M --timeout 60
    host_bg after vtool listen "unix:$(uds 3)_1302" --send 1M --expect 1M --seed 71 --timeout 60
    wait_guest 3 '^\[half-h2g\] VT READY' || bad=1
    host_step half-h2g vtool connect "hybrid:$(uds 3):5300" --order send-first --send 1M --expect 1M --seed 61 --timeout 60 || bad=1
    # refused-h2g while the guest waits at its gate (nothing listens on 7778).
    wait_guest 3 '^\[wait-host\] VT READY' || bad=1
    host_step refused-h2g vtool connect "hybrid:$(uds 3):7778" --send 1 --expect-connect-error ECONNREFUSED --timeout 30 || bad=1
    open_gate 3 wait-host || bad=1
    wait_guest 3 '^\[killed-h2g\] VT READY' || bad=1
    host_bg killed-h2g-peer vtool connect "hybrid:$(uds 3):5301" --expect 64M --die-after 1M --timeout 60
    # Both peers must die by their own SIGKILL (status 137) after 1 MiB; anything else is a failure.
    for p in killed-g2h-peer killed-h2g-peer; do
        host_join $p; rc=$?
        if [ $rc = 137 ] && grep -q '^VT killing myself' "$W/$p.log"; then echo "HOST-STEP $p PASS (SIGKILL after 1 MiB)"
        else echo "HOST-STEP $p FAIL (status $rc)"; bad=1; fi
    done
    wait_guest 3 '^\[empty-h2g\] VT READY' || bad=1
    host_step empty-h2g sh -c "printf 'CONNECT 5302\\n' | socat -u - UNIX-CONNECT:$(uds 3)" || bad=1
    host_wait || bad=1
    for p in half-g2h half-h2g after; do crc_match 3 $p $p || bad=1; done
    return $bad
}
