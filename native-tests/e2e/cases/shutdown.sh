# shutdown: SIGTERM to the daemon while a guest is connected and a transfer runs each way. The
# daemon must exit 0 within 5 s and remove the sockets it created (vhost-user and hybrid), and
# both host peers must see their stream end (the daemon's exit closes them), not hang. The guest,
# whose device is gone, is then killed (that boot is not judged).
CASE_VMS="3"
CASE_TIMEOUT=120

guest_3() { cat <<'GUEST'
bg_step inflight-h2g vtool listen vsock:5800 --send 1G --expect 1G --pace-us 2000 --timeout 100
step inflight-g2h vtool connect vsock:2:1800 --send 1G --expect 1G --timeout 100
GUEST
}

host_side() {
    local bad=0 p rc
    host_bg inflight-g2h vtool listen "unix:$(uds 3)_1800" --send 1G --expect 1G --pace-us 2000 --expect-broken --timeout 60
    wait_guest 3 '^\[inflight-h2g\] VT READY' || bad=1
    host_bg inflight-h2g vtool connect "hybrid:$(uds 3):5800" --send 1G --expect 1G --expect-broken --timeout 60
    sleep 3   # both transfers are flowing
    stop_daemon || bad=1
    for p in inflight-g2h inflight-h2g; do
        host_join $p; rc=$?
        if [ $rc = 0 ]; then echo "HOST-STEP $p PASS (the stream ended with the daemon)"
        else echo "HOST-STEP $p FAIL (status $rc)"; bad=1; fi
    done
    kill_guest 3
    return $bad
}
