#!/usr/bin/env bash
# run.sh — every benchmark row of issue 11 in one command, from the repository root:
#
#   bash native-tests/bench/run.sh            # full: 3 repetitions of every row (a few minutes + the guest)
#   VSN_BENCH_QUICK=1 bash native-tests/bench/run.sh   # or --quick: small sizes, 1 repetition
#
# Builds what it needs (cmake -B build, as test-all.sh; nothing is installed), runs each program once
# per repetition (each program measures the device and its baseline in the same run, so they
# interleave), prints a table and writes build/bench/results.json: one object per row with name,
# device, baseline, unit, ratio, syscalls_per_packet (null where the row moves no packets), target,
# met, repetitions and every repetition's figures. A row's figures are those of the repetition with
# the median ratio (the median device figure where a row has no ratio).
#
# Environment: VSN_BENCH_REPS (repetitions, default 3; quick 1), VSN_BENCH_GUEST=0 (leave real_guest
# out: it boots QEMU under TCG; its row then says why), VSN_BENCH_GUEST_MIB (per direction and
# connection, default 256; quick 8), BUILD (build directory, default build).
# The programs (and what they take) are listed in the README's Performance section. No timing is
# asserted anywhere; ctest bench_*_smoke only check that each program completes.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BUILD:-build}
QUICK=${VSN_BENCH_QUICK:-0}
[ "${1:-}" = "--quick" ] && QUICK=1
if [ "$QUICK" = 1 ]; then
    REPS=${VSN_BENCH_REPS:-1}
    S_MIB=32 Q_MIB=4 CHAINS=100000 V_MIB=32 T_MIB=32 RTT=500 CONN=500 IDLE=1000 BUSY=16 G_MIB=${VSN_BENCH_GUEST_MIB:-8}
else
    REPS=${VSN_BENCH_REPS:-3}
    S_MIB=512 Q_MIB=64 CHAINS=1000000 V_MIB=512 T_MIB=1024 RTT=20000 CONN=20000 IDLE=10000 BUSY=256 G_MIB=${VSN_BENCH_GUEST_MIB:-256}
fi
OUT=$BUILD/bench
mkdir -p "$OUT"
RAW=$OUT/rows.raw
: > "$RAW"

echo "== build ($BUILD)"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo || exit 1
fi
cmake --build "$BUILD" -j2 --target bench_stream bench_seqpacket bench_queue bench_vm2vm bench_rows \
    vhost-user-vsock || exit 1
NT=$BUILD/native-tests

run() { # LABEL CMD...: one program, its @row lines kept; its table shown
    echo "-- $1"
    shift
    VSN_BENCH_ROWS=1 "$@" > "$OUT/last.out" 2> "$OUT/last.err"
    local rc=$?
    grep -v '^@row ' "$OUT/last.out" | sed 's/^/   /'
    grep '^@row ' "$OUT/last.out" >> "$RAW"
    [ $rc = 0 ] || { echo "   FAILED (exit $rc):"; sed 's/^/   /' "$OUT/last.err" | tail -n 5; }
}

for rep in $(seq 1 "$REPS"); do
    echo "== repetition $rep of $REPS"
    run "bench_stream $S_MIB" "$NT/vsock/bench_stream" "$S_MIB"
    run "bench_seqpacket $Q_MIB" "$NT/vsock/bench_seqpacket" "$Q_MIB"
    run "bench_queue $CHAINS" "$NT/queue/bench_queue" "$CHAINS"
    run "bench_vm2vm $V_MIB" "$NT/vsock/bench_vm2vm" "$V_MIB"
    run "bench_rows threaded $T_MIB" "$NT/bench/bench_rows" threaded "$T_MIB"
    run "bench_rows rtt $RTT" "$NT/bench/bench_rows" rtt "$RTT"
    run "bench_rows connect $CONN" "$NT/bench/bench_rows" connect "$CONN"
    run "bench_rows idle $IDLE $BUSY" "$NT/bench/bench_rows" idle "$IDLE" "$BUSY"
done

# real_guest: the e2e stream traffic through the daemon under QEMU TCG (once).
guest_row() { # reason: a row that says why it was not measured
    printf '@row {"name":"real_guest","device":null,"baseline":null,"unit":"daemon CPU s/GiB","ratio":null,"syscalls_per_packet":null,"not_measured":"%s"}\n' "$1" >> "$RAW"
    echo "   real_guest not measured: $1"
}
echo "== real_guest (QEMU TCG, ${G_MIB} MiB each way on each of 2 connections)"
CACHE=${VSN_E2E_CACHE:-$HOME/.cache/vsocknative-e2e}
BASE=$BUILD/native-tests/e2e/base.cpio
if [ "${VSN_BENCH_GUEST:-1}" = 0 ]; then
    guest_row "VSN_BENCH_GUEST=0"
elif ! cmake --build "$BUILD" -j2 --target vsn_e2e_vtool > "$OUT/guest-build.log" 2>&1; then
    guest_row "the static peer tool (vsn_e2e_vtool) does not build here: $(tail -n 1 "$OUT/guest-build.log" | tr -d '"\\')"
elif ! { [ -f "$BASE" ] && [ -f "$CACHE/vmlinuz" ] && command -v qemu-system-x86_64 > /dev/null; } &&
     ! { sh native-tests/e2e/fetch.sh && sh native-tests/e2e/mkinitramfs.sh "$CACHE" "$BUILD/native-tests/e2e/vtool" "$BASE"; } > "$OUT/guest-fetch.log" 2>&1; then
    guest_row "QEMU or the kernel cache could not be set up (fetch.sh / mkinitramfs.sh: $(tail -n 1 "$OUT/guest-fetch.log" | tr -d '"\\'))"
else
    rm -f "$OUT/guest.out"
    VSN_BENCH_OUT=$ROOT/$OUT/guest.out VSN_BENCH_GUEST_MIB=$G_MIB VSN_E2E_CACHE=$CACHE \
        bash native-tests/e2e/run-case.sh --daemon "$BUILD/src/vhost-user-vsock/vhost-user-vsock" \
        --vtool "$BUILD/native-tests/e2e/vtool" --initrd "$BASE" native-tests/bench/real_guest.sh > "$OUT/guest.log" 2>&1
    rc=$?
    if [ $rc = 0 ] && [ -s "$OUT/guest.out" ]; then
        read -r cpu wall bytes < <(sed 's/[a-z_]*=//g' "$OUT/guest.out")
        awk -v c="$cpu" -v w="$wall" -v b="$bytes" 'BEGIN {
            g = b / 1073741824
            printf "@row {\"name\":\"real_guest\",\"device\":%.4f,\"baseline\":null,\"unit\":\"daemon CPU s/GiB\",\"ratio\":null,\"syscalls_per_packet\":null,\"daemon_cpu_s\":%s,\"wall_s\":%s,\"bytes\":%s,\"mbs\":%.1f}\n", c / g, c, w, b, b / w / 1e6 }' >> "$RAW"
        tail -n 3 "$OUT/guest.log" | sed 's/^/   /'
    else
        guest_row "the case failed (exit $rc): see $OUT/guest.log"
        tail -n 5 "$OUT/guest.log" | sed 's/^/   /'
    fi
fi

# The table and results.json: medians, targets, and the allocation rows (sums over every
# measured part of every repetition).
awk -v reps="$REPS" -v quick="$QUICK" -v json="$OUT/results.json" '
function num(line, key,   m) {
    if (match(line, "\"" key "\":-?[0-9.e+]+")) { m = substr(line, RSTART, RLENGTH); sub(/^"[^"]*":/, "", m); return m + 0 }
    return "null"
}
function str(line, key,   m) {
    if (match(line, "\"" key "\":\"[^\"]*\"")) { m = substr(line, RSTART, RLENGTH); sub(/^"[^"]*":"/, "", m); sub(/"$/, "", m); return m }
    return ""
}
function target(name) {
    if (name == "stream_g2h") return ">=0.95"
    if (name == "stream_h2g") return ">=1.0"
    if (name ~ /^seqpacket_/) return ">=0.9"
    if (name ~ /^ring_/) return ">=0.5"
    if (name == "threaded_stream_cpu") return "<=1.15"
    if (name == "rtt_64") return "<=2.0"
    if (name == "connect_rate") return ">=0.5 and device>=50000"
    if (name == "idle_10k_memory") return "device<=2048"
    if (name == "idle_10k_busy") return ">=0.95"
    if (name == "idle_wakeups") return "device==0"
    if (name == "vm_to_vm") return ">=1.0"
    if (name == "alloc_bytes" || name == "gc_count") return "device==0"
    return ""
}
function met(name, dev, ratio,   t) {
    t = target(name)
    if (t == "" || dev == "null") return "null"
    if (t ~ /^device<=/) { sub(/^device<=/, "", t); return dev <= t + 0 ? "true" : "false" }
    if (t ~ /^device==/) { sub(/^device==/, "", t); return dev == t + 0 ? "true" : "false" }
    if (ratio == "null") return "null"
    if (name == "connect_rate") return ratio >= 0.5 && dev >= 50000 ? "true" : "false"
    if (t ~ /^>=/) { sub(/^>=/, "", t); return ratio >= t + 0 ? "true" : "false" }
    if (t ~ /^<=/) { sub(/^<=/, "", t); return ratio <= t + 0 ? "true" : "false" }
    return "null"
}
function fmt(v) { return v == "null" ? "-" : (v >= 1000 || v <= -1000 ? sprintf("%.0f", v) : sprintf("%.3g", v)) }
{
    line = $0; sub(/^@row /, "", line)
    name = str(line, "name")
    if (!(name in count)) order[++n] = name
    k = ++count[name]; rows[name, k] = line
    key = num(line, "ratio"); if (key == "null") key = num(line, "device")
    sortkey[name, k] = key
    a = num(line, "alloc_bytes"); g = num(line, "gc_count")
    if (a != "null") { alloc += a; allocby[name] += a; spans++ }
    if (g != "null") { gcs += g; gcby[name] += g }
}
END {
    printf "[\n" > json
    printf "\n%-22s %14s %14s %-18s %8s %-26s %-6s %s\n", "name", "device", "baseline", "unit", "ratio", "target", "met?", "syscalls/pkt"
    for (i = 1; i <= n; i++) {
        name = order[i]; c = count[name]
        # the repetition with the median key (insertion sort of the indexes)
        for (x = 1; x <= c; x++) idx[x] = x
        for (x = 2; x <= c; x++) for (y = x; y > 1 && sortkey[name, idx[y - 1]] > sortkey[name, idx[y]]; y--) { t = idx[y]; idx[y] = idx[y - 1]; idx[y - 1] = t }
        med = rows[name, idx[int((c + 1) / 2)]]
        dev = num(med, "device"); base = num(med, "baseline"); ratio = num(med, "ratio"); spp = num(med, "syscalls_per_packet")
        all = ""; for (x = 1; x <= c; x++) all = all (x > 1 ? "," : "") "[" num(rows[name, x], "device") "," num(rows[name, x], "baseline") "," num(rows[name, x], "ratio") "]"
        m = met(name, dev, ratio)
        obj = med; sub(/}$/, "", obj)
        printf "%s  %s,\"target\":\"%s\",\"met\":%s,\"repetitions\":%d,\"all_device_baseline_ratio\":[%s]}", (i > 1 ? ",\n" : ""), obj, target(name), m, c, all > json
        printf "%-22s %14s %14s %-18s %8s %-26s %-6s %s\n", name, fmt(dev), fmt(base), str(med, "unit"), fmt(ratio), target(name), (m == "null" ? "-" : (m == "true" ? "yes" : "NO")), fmt(spp)
        if (name == "real_guest" && str(med, "not_measured") != "") printf "%-22s   (not measured: %s)\n", "", str(med, "not_measured")
    }
    per = ""; for (nm in allocby) per = per (per == "" ? "" : ",") "\"" nm "\":" allocby[nm]
    pergc = ""; for (nm in gcby) pergc = pergc (pergc == "" ? "" : ",") "\"" nm "\":" gcby[nm]
    printf ",\n  {\"name\":\"alloc_bytes\",\"device\":%d,\"baseline\":null,\"unit\":\"bytes\",\"ratio\":null,\"syscalls_per_packet\":null,\"target\":\"device==0\",\"met\":%s,\"repetitions\":%d,\"measured_spans\":%d,\"note\":\"managed bytes allocated (vsn_get_runtime_counters) during the measured part of every traffic row of every repetition, after each row warm-up, added up\",\"by_row\":{%s}}", alloc, (alloc == 0 ? "true" : "false"), reps, spans, per > json
    printf ",\n  {\"name\":\"gc_count\",\"device\":%d,\"baseline\":null,\"unit\":\"collections\",\"ratio\":null,\"syscalls_per_packet\":null,\"target\":\"device==0\",\"met\":%s,\"repetitions\":%d,\"measured_spans\":%d,\"note\":\"garbage collections during the same spans, added up\",\"by_row\":{%s}}\n]\n", gcs, (gcs == 0 ? "true" : "false"), reps, spans, pergc > json
    printf "%-22s %14s %14s %-18s %8s %-26s %-6s %s\n", "alloc_bytes", alloc, "-", "bytes", "-", "device==0", (alloc == 0 ? "yes" : "NO"), "-"
    printf "%-22s %14s %14s %-18s %8s %-26s %-6s %s\n", "gc_count", gcs, "-", "collections", "-", "device==0", (gcs == 0 ? "yes" : "NO"), "-"
    if (alloc > 0) { printf "   alloc_bytes by row:"; for (nm in allocby) if (allocby[nm] > 0) printf " %s=%d", nm, allocby[nm]; printf "\n" }
}' "$RAW"
cat <<NOTE
Notes: $REPS repetition(s)$([ "$QUICK" = 1 ] && echo ", QUICK mode (small sizes)"); each row is the repetition with the median ratio
(median device figure where there is no ratio). syscalls/pkt: the device's own syscalls (vsn_device_counters.syscalls)
over the packets it moved (tx + rx) in the measured part. idle_10k_memory: (RSS growth of the device process - growth of
its C malloc heap) / connections while opening them, host peers in a forked child; kernel socket buffers are not in RSS;
managed garbage not yet collected is included (an upper bound). Written: $OUT/results.json
NOTE
