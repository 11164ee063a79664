# shutdown: SIGTERM to the daemon while a guest is connected and a transfer runs each way. The
# daemon must exit 0 within 5 s and remove the sockets it created (vhost-user and hybrid), and
# both host peers must see their stream end (the daemon's exit closes them), not hang. The guest,
# whose device is gone, is then killed (that boot is not judged).
CASE_VMS="3"
CASE_TIMEOUT=120

guest_3() { echo "inflight 1800 5800"; }

host_side() {
    local bad=0
    inflight_start 3 1800 5800 || bad=1
    stop_daemon || bad=1
    inflight_ended "the daemon exited" || bad=1
    kill_guest 3
    return $bad
}
