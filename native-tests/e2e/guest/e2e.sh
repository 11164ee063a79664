# e2e.sh (in the guest: /lib/e2e.sh) — helpers for guest case scripts, sourced by /init before /case.sh.
#   step NAME CMD...      run CMD, its output prefixed "[NAME] ", then "E2E-STEP NAME PASS|FAIL"
#   bg_step NAME CMD...   the same in the background (a listener); e2e_wait collects them
#   gate NAME             wait until the host opens the gate (run-case.sh: open_gate CID NAME)
#   inflight HPORT GPORT  1 GiB each way until something breaks it (run-case.sh: inflight_start)
#   e2e_result            waits for background steps, prints "E2E-RESULT PASS" or "E2E-RESULT FAIL"
E2E_FAILED=0
E2E_BG=""

e2e_run() { # name cmd... ; writes /tmp/step.NAME.rc
    e2e_name=$1; shift
    { "$@" 2>&1; echo $? > "/tmp/step.$e2e_name.rc"; } | while IFS= read -r line; do
        echo "[$e2e_name] $line"
    done
    rc=$(cat "/tmp/step.$e2e_name.rc" 2>/dev/null || echo 99)
    if [ "$rc" = 0 ]; then echo "E2E-STEP $e2e_name PASS"; else echo "E2E-STEP $e2e_name FAIL rc=$rc"; fi
}

step() {
    e2e_run "$@"
    [ "$(cat "/tmp/step.$1.rc" 2>/dev/null)" = 0 ] || E2E_FAILED=$((E2E_FAILED + 1))
}

bg_step() {
    e2e_run "$@" &
    E2E_BG="$E2E_BG $1"
}

e2e_wait() {
    wait
    for n in $E2E_BG; do
        [ "$(cat "/tmp/step.$n.rc" 2>/dev/null)" = 0 ] || E2E_FAILED=$((E2E_FAILED + 1))
    done
    E2E_BG=""
}

e2e_result() {
    e2e_wait
    if [ "$E2E_FAILED" = 0 ]; then echo "E2E-RESULT PASS"; else
        echo "E2E-RESULT FAIL ($E2E_FAILED steps)"
        dmesg | tail -n 30 | sed 's/^/[dmesg] /'
    fi
}

# gate NAME: block until the host opens the gate (run-case.sh's open_gate CID NAME): a listener on
# vsock port 9000 that takes one connection carrying an empty stream.
gate() {
    step "$1" vtool listen vsock:9000 --expect 0 --timeout 200
}

# inflight HPORT GPORT: a 1 GiB transfer each way that only ends when something breaks it (the host
# side reads slowly): the guest listens on vsock GPORT (step inflight-h2g) and connects to host
# port HPORT (step inflight-g2h). The host side is run-case.sh's inflight_start / inflight_ended.
inflight() {
    bg_step inflight-h2g vtool listen "vsock:$2" --send 1G --expect 1G --pace-us 2000 --timeout 100
    step inflight-g2h vtool connect "vsock:2:$1" --send 1G --expect 1G --timeout 100
}
