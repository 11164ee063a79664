# real_guest (a run-case.sh case for native-tests/bench/run.sh, not a ctest): the e2e stream traffic
# through the daemon under QEMU TCG, one connection each way, both directions on each (as the
# stream case's g2h and h2g steps), every byte checked and the CRC-32s compared. The daemon's CPU
# time (utime + stime of /proc/<pid>/stat, all its threads) is read when the booted guest waits at
# its gate and again when both transfers ended; the figures go to $VSN_BENCH_OUT as
# `cpu_s=... wall_s=... bytes=...`. Size per direction and connection: $VSN_BENCH_GUEST_MIB (MiB).
CASE_VMS="3"
CASE_TIMEOUT=1200
BENCH_MIB=${VSN_BENCH_GUEST_MIB:-64}

guest_3() { cat <<GUEST
gate go
step g2h vtool connect vsock:2:1234 --send ${BENCH_MIB}M --expect ${BENCH_MIB}M --seed 10 --timeout 1000
bg_step h2g vtool listen vsock:5000 --send ${BENCH_MIB}M --expect ${BENCH_MIB}M --seed 20 --timeout 1000
e2e_wait
GUEST
}

daemon_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$daemon_pid/stat"; }

host_side() {
    local bad=0 c0 c1 t0 t1
    host_bg g2h vtool listen "unix:$(uds 3)_1234" --send "${BENCH_MIB}M" --expect "${BENCH_MIB}M" --seed 11 --timeout 1000
    wait_guest 3 '^\[go\] VT READY' 300 || bad=1
    c0=$(daemon_cpu_ticks) t0=$(date +%s.%N)
    open_gate 3 go || bad=1
    wait_guest 3 '^\[h2g\] VT READY' 1000 || bad=1
    host_step h2g vtool connect "hybrid:$(uds 3):5000" --send "${BENCH_MIB}M" --expect "${BENCH_MIB}M" --seed 21 --timeout 1000 || bad=1
    host_wait || bad=1
    c1=$(daemon_cpu_ticks) t1=$(date +%s.%N)
    for s in g2h h2g; do crc_match 3 $s $s || bad=1; done
    [ $bad = 0 ] && echo "cpu_s=$(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", (b - a) / hz }') wall_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') bytes=$((BENCH_MIB * 4 * 1048576))" > "$VSN_BENCH_OUT"
    return $bad
}
