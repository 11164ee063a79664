# /lib/e2e.sh — helpers for guest case scripts (sourced by /init before /case.sh).
#   step NAME CMD...      run CMD, its output prefixed "[NAME] ", then "E2E-STEP NAME PASS|FAIL"
#   bg_step NAME CMD...   the same in the background (a listener); e2e_wait collects them
#   ready NAME            wait until bg_step NAME printed "VT READY" (its listener is up)
#   e2e_result            waits for background steps, prints "E2E-RESULT PASS" or "E2E-RESULT FAIL"
E2E_FAILED=0
E2E_BG=""

e2e_run() { # name cmd... ; writes /tmp/step.NAME.rc
    e2e_name=$1; shift
    { "$@" 2>&1; echo $? > "/tmp/step.$e2e_name.rc"; } | while IFS= read -r line; do
        echo "[$e2e_name] $line"
        case $line in "VT READY"*) : > "/tmp/step.$e2e_name.ready" ;; esac
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

ready() {
    i=0
    while [ ! -e "/tmp/step.$1.ready" ]; do
        [ -e "/tmp/step.$1.rc" ] && { echo "E2E-STEP $1 ended before it was ready"; return 1; }
        i=$((i + 1)); [ $i -gt 300 ] && { echo "E2E-STEP $1 not ready after 30 s"; return 1; }
        sleep 0.1
    done
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
