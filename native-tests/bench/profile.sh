#!/usr/bin/env bash
# profile.sh — where the time goes in a benchmark row of issue 11, from the repository root:
#
#   bash native-tests/bench/profile.sh stream_g2h seqpacket_64_h2g   # the rows named
#   bash native-tests/bench/profile.sh --missed                      # every row that misses its target
#   bash native-tests/bench/profile.sh --list                        # the rows it knows, with their programs
#   bash native-tests/bench/profile.sh --report ROW...|--missed       # the tables again from the last recording
#   bash native-tests/bench/profile.sh --callers ROW REGEX [DEPTH]   # chains through a symbol, from the last recording
#
# For each row it runs the program run.sh runs for it, with VSN_BENCH_ONLY=<row> (the row's device
# side alone: no baseline, no other row) under `perf record -g`, with the perf events switched on only
# for the row's measured part (VSN_BENCH_PERF_CTL: the program writes enable/disable to perf's control
# fifo where its measured part begins and ends, so set-up, warm-up and baselines are not in the
# profile). Sizes are smaller than run.sh's (a few seconds each; VSN_PROFILE_SCALE=2 doubles them).
# Then it prints, and writes to build/bench/profile-<row>.txt (perf's data stays in
# build/bench/profile-<row>.data for `perf report -i` or --callers):
#   - the load average and the row's device figure (no ratio: the baseline did not run);
#   - the device's own syscalls per packet by kind (vsn_device_counters.syscalls over the packets it
#     moved in the measured part, from the program's @row line);
#   - the share of samples by DSO, and by side: "device" when a frame of libvsocknative is on the
#     call chain (its libc and kernel time included), else the bench program's simulated guest and
#     host peer (by the innermost user-space function: read/write/sendmsg wrappers carry the kernel
#     time under them);
#   - the top symbols by self time (dso and symbol of the leaf frame, as perf report --sort dso,sym),
#     then apart: those inside libvsocknative, the kernel, libc and the bench program (the simulated
#     guest and driver simulator, the host peer); where the time goes by kind; the device's time by its innermost own method (runtime, libc and
#     kernel callees folded into the VsockNative method that called them), and by inclusive time;
#   - for connect_rate (and its aliases alloc_bytes, gc_count): the device methods under the
#     allocation and GC helpers, and the managed bytes allocated per connection.
# Threaded rows (threaded_stream_cpu) measure the device loop thread's CPU only: its samples alone
# (the thread named vsn-device-3) are shown, after the share of each thread.
#
# Symbols of libvsocknative.so: the library is published with StripSymbols, so the .so carries only
# its exports and a .gnu_debuglink naming VsockNative.so.dbg, which dotnet publish leaves in
# build/native/publish/. perf looks for the debuglink file next to the library it mapped
# (build/native/libvsocknative.so.0.1.0), so this script links build/native/VsockNative.so.dbg ->
# publish/VsockNative.so.dbg (after checking that both have the same build id) and records with
# --no-buildid-cache (nothing is copied into ~/.debug). To do the same by hand for another perf
# session: `ln -sf publish/VsockNative.so.dbg build/native/VsockNative.so.dbg`, or
# `perf buildid-cache --add build/native/publish/VsockNative.so.dbg`. NativeAOT code keeps frame
# pointers, so `-g` (frame-pointer call chains) sees every device frame; the bench programs are C
# built without frame pointers, so a libc function they call (memmove) has no caller on its chain.
#
# Environment: BUILD (default build), VSN_PROFILE_FREQ (sampling frequency, default 9999 Hz),
# VSN_PROFILE_SCALE (size multiplier, default 1), VSN_PROFILE_TOP (symbols shown, default 15),
# VSN_PROFILE_NICE (niceness of the run, default 5). Needs perf (Debian: linux-perf) and the right
# to use it (root, or kernel.perf_event_paranoid <= 1). Measures, asserts nothing; not run by ctest.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
FREQ=${VSN_PROFILE_FREQ:-9999}
SCALE=${VSN_PROFILE_SCALE:-1}
TOP=${VSN_PROFILE_TOP:-15}
NICE=${VSN_PROFILE_NICE:-5}
OUT=$BUILD/bench
NT=$BUILD/native-tests
MISSED=(stream_g2h stream_h2g seqpacket_64_g2h seqpacket_64_h2g seqpacket_4000_g2h seqpacket_4000_h2g
        seqpacket_65536_g2h seqpacket_65536_h2g ring_direct2 ring_indirect6 threaded_stream_cpu connect_rate)

die() { echo "profile.sh: $*" >&2; exit 1; }
need_perf() { command -v perf > /dev/null || die "perf is not installed (Debian: apt-get install linux-perf); it is needed for profiles, not for the tests"; }
# Shortens the library's symbol names: VsockNative_VsockNative_Device_QueuePump__ProcessTx ->
# Device_QueuePump__ProcessTx, S_P_CoreLib_System_... -> CoreLib:System_...
shorten() { sed -e 's/VsockNative_VsockNative_//g' -e 's/S_P_CoreLib_/CoreLib:/g' -e 's/libvsocknative\.so\.0\.1\.0/libvsocknative/g'; }

# The program behind a row: "target|binary|argument...|thread" (thread: the comm whose samples the
# row measures, or empty for the whole single-threaded program). Sizes give a few thousand samples.
program_for() {
    local s=$SCALE
    case "$1" in
        stream_g2h) echo "bench_stream|vsock/bench_stream|$((2048 * s))|" ;;
        stream_h2g) echo "bench_stream|vsock/bench_stream|$((1024 * s))|" ;;
        seqpacket_64_*) echo "bench_seqpacket|vsock/bench_seqpacket|16|" ;;      # 200 000 messages (the cap)
        seqpacket_4000_*) echo "bench_seqpacket|vsock/bench_seqpacket|800|" ;;   # 200 000 messages (the cap)
        seqpacket_65536_*) echo "bench_seqpacket|vsock/bench_seqpacket|$((4096 * s))|" ;;
        ring_direct2 | ring_indirect6) echo "bench_queue|queue/bench_queue|$((4000000 * s))|" ;;
        threaded_stream_cpu) echo "bench_rows|bench/bench_rows|threaded $((2048 * s))|vsn-device-3" ;;
        connect_rate) echo "bench_rows|bench/bench_rows|connect $((40000 * s))|" ;;
        *) return 1 ;;
    esac
}

# --callers ROW REGEX [DEPTH]: the call chains through the first frame matching REGEX (an awk
# regular expression over symbol names), DEPTH frames from there outward, from the row's last
# profile (build/bench/profile-ROW.data), in % of the row's samples (its thread's for a threaded row).
if [ "${1:-}" = --callers ]; then
    [ $# -ge 3 ] || die "usage: profile.sh --callers ROW REGEX [DEPTH]"
    need_perf
    IFS='|' read -r _ _ _ thread < <(program_for "$2") || die "unknown row '$2'"
    [ -f "$OUT/profile-$2.data" ] || die "$OUT/profile-$2.data missing: run profile.sh $2 first"
    perf script -i "$OUT/profile-$2.data" -F comm,ip,sym 2>/dev/null | awk -v pat="$3" -v depth="${4:-4}" -v th="$thread" '
        function flush(   i, k, at) {
            if (n > 0 && (th == "" || comm == th)) {
                total++; at = 0
                for (i = 1; i <= n && !at; i++) if (s[i] ~ pat) at = i
                if (at) { k = s[at]; for (i = at + 1; i <= n && i < at + depth; i++) k = k " <- " s[i]; c[k]++; hits++ }
            }
            n = 0
        }
        /^[ \t]*$/ { flush(); next }
        /^[^ \t]/ { flush(); comm = $1; next }
        { x = $0; sub(/^[ \t]+[0-9a-f]+ /, "", x); s[++n] = x }
        END {
            flush()
            printf "%.2f%% of %d samples%s have a frame matching /%s/; their chains (the frame <- its callers):\n", total ? 100 * hits / total : 0, total, th != "" ? " of thread " th : "", pat
            for (k in c) printf "%7.2f%%  %s\n", 100 * c[k] / total, k | "sort -rn | head -n 20"
        }' | shorten
    exit 0
fi

ROWS=()
REPORT_ONLY=0
for a in "$@"; do
    case "$a" in
        --missed) ROWS+=("${MISSED[@]}") ;;
        --report) REPORT_ONLY=1 ;;
        --list)
            for r in "${MISSED[@]}"; do
                IFS='|' read -r _ b args th < <(program_for "$r")
                printf '%-22s %s/%s %s%s\n' "$r" "$NT" "$b" "$args" "${th:+ (thread $th)}"
            done
            echo "alloc_bytes, gc_count: aliases of connect_rate (the one row that allocates)"
            exit 0 ;;
        alloc_bytes | gc_count) echo "profile.sh: $a: every managed allocation of the rows is in connect_rate; profiling that"; ROWS+=(connect_rate) ;;
        -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) program_for "$a" > /dev/null || die "unknown row '$a' (--list shows the rows; --missed all that miss their target)"; ROWS+=("$a") ;;
    esac
done
[ ${#ROWS[@]} -gt 0 ] || die "usage: profile.sh ROW [ROW...] | --missed | --list"
# each row once, in the order given
mapfile -t ROWS < <(printf '%s\n' "${ROWS[@]}" | awk '!seen[$0]++')

need_perf
perf record -q -N -o /dev/null -- true > /dev/null 2>&1 ||
    die "perf cannot record here (not root and kernel.perf_event_paranoid > 1? $(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null)): $(perf record -q -N -o /dev/null -- true 2>&1 | head -n 1)"

if [ "$REPORT_ONLY" = 0 ]; then
    echo "== build ($BUILD)"
    if [ ! -f "$BUILD/CMakeCache.txt" ]; then
        cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo || exit 1
    fi
    TARGETS=$(for r in "${ROWS[@]}"; do program_for "$r" | cut -d'|' -f1; done | sort -u | tr '\n' ' ')
    # shellcheck disable=SC2086
    cmake --build "$BUILD" -j2 --target $TARGETS || exit 1
fi

# the library's symbols: the debuglink file next to the library, if it belongs to it
LIB=$BUILD/native/libvsocknative.so.0.1.0
DBG=$BUILD/native/publish/VsockNative.so.dbg
buildid() { readelf -n "$1" 2>/dev/null | awk '/Build ID/ { print $3 }'; }
[ -f "$LIB" ] && [ -f "$DBG" ] || die "$LIB or $DBG missing (the NativeAOT publish keeps the .dbg beside VsockNative.so)"
[ -n "$(buildid "$LIB")" ] && [ "$(buildid "$LIB")" = "$(buildid "$DBG")" ] ||
    die "$DBG (build id $(buildid "$DBG")) is not the debug file of $LIB ($(buildid "$LIB")): rebuild"
ln -sf publish/VsockNative.so.dbg "$BUILD/native/VsockNative.so.dbg"

mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vsn_profile.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
mkfifo "$WORK/ctl" "$WORK/ack" || exit 1


# The analysis of `perf script -F comm,tid,ip,sym,dso` (one block per sample: a "comm tid" line,
# then its frames, leaf first), every table in % of the samples analysed (those of THREAD when it is
# given): share by thread (all samples), by DSO and by symbol (self: the leaf frame), by side, the
# device's time by its innermost own method, the bench program's by its innermost user-space
# function, and (ALLOC=1) the device methods under the allocation and GC helpers.
analyse() { # ALLOC(0|1) THREAD
    awk -v alloc="$1" -v thread="$2" -v top="$TOP" '
    function flush(   i, dev, own, user, isalloc) {
        if (n == 0) return
        all++; by_comm[comm]++
        if (thread != "" && comm != thread) { n = 0; return }
        total++
        by_dso[dso[1]]++
        by_sym[sprintf("%-16s %s", dso[1], sym[1])]++
        if (dso[1] ~ /libvsocknative/) by_lib[sym[1]]++
        else if (dso[1] ~ /kernel/) by_kern[sym[1]]++
        else if (dso[1] ~ /^libc[.-]/) by_libc[sym[1]]++
        else if (dso[1] !~ /^ld-linux|vdso/) by_prog[sym[1] " (" dso[1] ")"]++
        dev = 0; own = ""; user = ""; isalloc = 0
        split("", seen)
        for (i = 1; i <= n; i++) {
            if (dso[i] ~ /libvsocknative/) {
                dev = 1
                if (sym[i] ~ /^VsockNative_VsockNative_/ && !(sym[i] in seen)) { seen[sym[i]] = 1; by_incl[sym[i]]++ }
                if (own == "" && sym[i] ~ /^VsockNative_VsockNative_/) own = sym[i]
            }
            if (user == "" && dso[i] !~ /kernel/ && sym[i] != "[unknown]") user = sym[i] " (" dso[i] ")"
            if (alloc && sym[i] ~ /^Rhp(New|GcAlloc)|^RhNew|WKS::|SVR::|GCHeap|gc_heap/) isalloc = 1
        }
        by_kind[kind(dev)]++
        if (dev) {
            devs++
            by_own[own == "" ? "(runtime or exports only: " sym[1] ")" : own]++
            if (isalloc) { allocs++; by_alloc[own == "" ? "(no VsockNative frame)" : own]++ }
        } else {
            by_user[user == "" ? "(kernel only)" : user]++
        }
        n = 0
    }
    # What a sample was doing, by the first of these found on its chain (leaf outward).
    function kind(dev,   i, sys) {
        sys = 0
        for (i = 1; i <= n; i++) if (sym[i] ~ /^entry_SYSCALL/) sys = 1
        if (dev) {
            for (i = 1; i <= n; i++) {
                if (sym[i] ~ /EventFd__Signal$/) {
                    for (; i <= n; i++) if (sym[i] == "vsn_queue_notify") return "device: eventfd write of vsn_queue_notify (the wake-up, on the caller thread; not in syscalls/pkt)"
                    return "device: eventfd write, interrupt (call fd) or wake-up"
                }
                if (sym[i] ~ /EventFd__Drain$/) return "device: eventfd read (wake-up or kick fd drained)"
                if (sym[i] ~ /Libc__EpollWait$/) return "device: epoll_wait"
                if (sym[i] ~ /Libc__EpollCtl$/) return "device: epoll_ctl"
                if (sym[i] ~ /SocketCalls__(SendMsgCall|RecvMsgCall)$/) return "device: sendmsg/recvmsg on host sockets (kernel copy included)"
            }
            if (sys) return "device: other syscalls (socket, connect, close, ...)"
            if (sym[1] ~ /memmove|memcpy|memset|Memmove|ScatterIo__(Scatter|Gather)|BulkMove/) return "device: copies in user space (ScatterIo, Memmove, libc memmove)"
            for (i = 1; i <= n; i++) if (sym[i] ~ /^Rhp(New|GcAlloc)|^RhNew|WKS::|SVR::|GCHeap|gc_heap/) return "device: allocation and GC"
            return "device: managed code and runtime (the rest)"
        }
        if (sys) return "bench: host peer syscalls (read, recv, send, accept, close: kernel included)"
        if (sym[1] ~ /memmove|memcpy|memset/) return "bench: simulated guest copies (libc memmove/memcpy)"
        return "bench: guest stack and driver simulator code"
    }
    /^[ \t]*$/ { flush(); next }
    /^[^ \t]/ { flush(); comm = $1; next }
    {
        line = $0; sub(/^[ \t]+[0-9a-f]+ /, "", line)
        d = line; sub(/.*\(/, "", d); sub(/\)$/, "", d); sub(/.*\//, "", d)
        s = line; sub(/ \([^(]*\)$/, "", s); sub(/\+0x[0-9a-f]+$/, "", s)
        n++; sym[n] = s; dso[n] = d
    }
    function table(title, arr, denom, limit,   k, m, i, j, t, keys, vals, rest) {
        printf "\n-- %s\n", title
        m = 0
        for (k in arr) { m++; keys[m] = k; vals[m] = arr[k] }
        for (i = 2; i <= m; i++) for (j = i; j > 1 && vals[j - 1] < vals[j]; j--) {
            t = vals[j]; vals[j] = vals[j - 1]; vals[j - 1] = t; t = keys[j]; keys[j] = keys[j - 1]; keys[j - 1] = t
        }
        rest = 0
        for (i = 1; i <= m; i++) if (i <= limit) printf "  %6.2f%%  %s\n", 100 * vals[i] / denom, keys[i]; else rest += vals[i]
        if (m > limit) printf "  %6.2f%%  (%d more)\n", 100 * rest / denom, m - limit
    }
    END {
        flush()
        if (total == 0) { print "\n(no samples)"; exit }
        printf "samples: %d%s\n", total, thread != "" ? sprintf(" of thread %s (of %d in all)", thread, all) : ""
        if (thread != "") table("share by thread (all samples)", by_comm, all, top)
        table("share by DSO (self)", by_dso, total, top)
        table("top symbols by self time", by_sym, total, top)
        table("top symbols by self time inside libvsocknative", by_lib, total, top)
        table("top symbols by self time in the kernel (whoever made the syscall)", by_kern, total, 8)
        table("top symbols by self time in libc (whoever called it)", by_libc, total, 5)
        table("top symbols by self time in the bench program (simulated guest, driver simulator, host peer)", by_prog, total, 8)
        table("where the time goes, by kind (the first kind found on the call chain, leaf outward)", by_kind, total, 20)
        printf "\n-- share by side\n"
        printf "  %6.2f%%  device: a libvsocknative frame on the call chain (its libc and kernel time included)\n", 100 * devs / total
        printf "  %6.2f%%  bench program: the simulated guest (guest_stack, driver simulator) and the host peer\n", 100 * (total - devs) / total
        if (devs > 0) table("device time by its innermost own method (runtime, libc, kernel callees folded in)", by_own, total, top)
        if (devs > 0) table("device methods by inclusive time (the method and all it called)", by_incl, total, top + 10)
        if (total > devs) table("bench program time by its innermost user-space function (kernel time under it folded in)", by_user, total, top)
        if (alloc) {
            printf "\n-- allocation and GC helpers on the call chain: %.2f%% (%d samples)\n", 100 * allocs / total, allocs
            if (allocs > 0) table("  by the innermost device method above them", by_alloc, total, top)
        }
    }' | shorten
}

# Prints the device syscalls per packet by kind from an @row line.
syscalls_from_row() {
    awk '
    function num(line, key,   m) {
        if (match(line, "\"" key "\":-?[0-9.e+]+")) { m = substr(line, RSTART, RLENGTH); sub(/^"[^"]*":/, "", m); return m + 0 }
        return -1
    }
    {
        p = num($0, "packets")
        unit = $0; sub(/.*"unit":"/, "", unit); sub(/".*/, "", unit)
        printf "row: device %s %s", num($0, "device"), unit
        if (num($0, "connections") > 0) printf ", %d connections", num($0, "connections")
        printf " (no ratio: the baseline is not run under the profiler)\n"
        if (p <= 0) { print "device syscalls per packet: (the row moves no packets)"; next }
        printf "device syscalls per packet: %.3f over %d packets (tx taken + rx written):", num($0, "syscalls_per_packet"), p
        split("epoll_wait epoll_ctl socket_reads socket_writes event_fd_reads event_fd_writes other", k, " ")
        for (i = 1; i <= 7; i++) { v = num($0, k[i]); if (v > 0) printf " %s %.3f", k[i], v / p }
        printf "\n"
        a = num($0, "alloc_bytes"); g = num($0, "gc_count")
        if (a >= 0) printf "managed allocation in the measured part: %d bytes%s, %d GCs\n", a,
            (num($0, "connections") > 0 ? sprintf(" (%.0f per connection)", a / num($0, "connections")) : ""), g
    }'
}

# Records one row into build/bench/profile-ROW.data (and its @row line into profile-ROW.row).
record_row() { # ROW
    local row=$1 b args thread data=$OUT/profile-$1.data
    IFS='|' read -r _ b args thread < <(program_for "$row")
    local load; load=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "== $row: $NT/$b $args (load average before: $load)"
    # shellcheck disable=SC2086
    VSN_BENCH_ROWS=1 VSN_BENCH_ONLY=$row VSN_BENCH_PERF_CTL=$WORK/ctl,$WORK/ack \
        nice -n "$NICE" perf record -q -N -g -F "$FREQ" -D -1 --control "fifo:$WORK/ctl,$WORK/ack" \
        -o "$data" -- "$NT/$b" $args > "$WORK/$row.out" 2> "$WORK/$row.err"
    local rc=$?
    if [ $rc != 0 ] || ! grep -q '^@row ' "$WORK/$row.out"; then
        echo "   FAILED (exit $rc):"; grep -v '^Events \(dis\|en\)abled' "$WORK/$row.err" | tail -n 5 | sed 's/^/   /'
        return 1
    fi
    {
        echo "recorded $(date -u '+%Y-%m-%d %H:%M UTC') at $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')"
        echo "command: VSN_BENCH_ONLY=$row $NT/$b $args under perf record -g -F $FREQ (measured part only)"
        echo "load average: before $load, after $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); perf data: $data"
        grep '^@row ' "$WORK/$row.out"
    } > "$OUT/profile-$row.row"
}

# Writes build/bench/profile-ROW.txt from the row's recorded data, and prints it.
report_row() { # ROW
    local row=$1 thread file=$OUT/profile-$1.txt
    IFS='|' read -r _ _ _ thread < <(program_for "$row")
    [ -f "$OUT/profile-$row.data" ] && [ -f "$OUT/profile-$row.row" ] || { echo "   $row: not recorded"; return 1; }
    {
        echo "profile of $row, $(head -n 1 "$OUT/profile-$row.row")"
        sed -n '2,3p' "$OUT/profile-$row.row"
        grep '^@row ' "$OUT/profile-$row.row" | syscalls_from_row
        [ -n "$thread" ] && echo "the row measures the CPU of thread $thread only: the tables below are of its samples"
        perf script -i "$OUT/profile-$row.data" -F comm,tid,ip,sym,dso 2>/dev/null |
            analyse "$([ "$row" = connect_rate ] && echo 1 || echo 0)" "$thread"
    } > "$file"
    sed 's/^/   /' "$file"
    echo "   (written: $file)"
}

failed=0
for row in "${ROWS[@]}"; do
    if [ "$REPORT_ONLY" = 0 ]; then record_row "$row" || { failed=1; continue; }; fi
    report_row "$row" || failed=1
done
exit $failed
