#!/usr/bin/env bash
# Coverage-guided fuzzing of the managed device core: builds fuzz/VsockNative.Fuzz (JIT, not
# NativeAOT), instruments VsockNative.dll with SharpFuzz, and runs one afl-fuzz instance for
# [seconds] (default 60) from the committed seeds (fuzz/managed/corpus). Prints executions,
# duration, coverage and findings at the end. Findings: $VSN_FUZZ_DIR/out/default/{crashes,hangs}.
#   fuzz/run-managed.sh [seconds]      VSN_FUZZ_DIR (default build/fuzz-managed), VSN_FUZZ_RESUME=1 resumes,
#                                      VSN_FUZZ_EXECS=N also stops after about N executions (long runs)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
work=${VSN_FUZZ_DIR:-$root/build/fuzz-managed}
command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found: apt-get install afl++" >&2; exit 1; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
mkdir -p "$work"
(cd "$root" && dotnet tool restore >/dev/null)
rm -rf "$work/bin"
# its own configuration name: never the obj/Release the NativeAOT publish of the CMake build uses
dotnet publish "$root/fuzz/VsockNative.Fuzz" -c Fuzz -p:Optimize=true -o "$work/bin" --nologo -v quiet >/dev/null
# sharpfuzz rewrites the assembly in place: instrument a fresh copy every time
(cd "$root" && dotnet tool run sharpfuzz "$work/bin/VsockNative.dll") >/dev/null

input=("-i" "$root/fuzz/managed/corpus")
if [ "${VSN_FUZZ_RESUME:-0}" = 1 ] && [ -d "$work/out/default" ]; then input=("-i" "-"); else rm -rf "$work/out" "$work/failures.log"; fi
# dotnet itself is not instrumented (SharpFuzz instruments the managed code it runs): skip afl's binary check
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
export AFL_FORKSRV_INIT_TMOUT=60000
# afl-fuzz rewrites the input file (.cur_input, the target's stdin) before every execution: on tmpfs, not
# through the journal of the output directory's file system
if [ -z "${AFL_TMPDIR:-}" ] && [ -d /dev/shm ] && AFL_TMPDIR=$(mktemp -d /dev/shm/vsn-afl-XXXXXX 2>/dev/null); then
  export AFL_TMPDIR
  trap 'rm -rf "$AFL_TMPDIR"' EXIT
fi
export VSN_FUZZ_LOG=${VSN_FUZZ_LOG:-$work/failures.log}
rc=0
times >"$work/cpu.before"  # the CPU of the waited-for children (builtins write it without a subshell)
execs=()
[ -n "${VSN_FUZZ_EXECS:-}" ] && execs=(-E "$VSN_FUZZ_EXECS")   # long runs: stop at this many executions too
afl-fuzz "${input[@]}" -o "$work/out" -V "$seconds" "${execs[@]}" -t 10000 -m none -x "$root/fuzz/managed/vsock.dict" \
  -- dotnet "$work/bin/VsockNative.Fuzz.dll" afl >"$work/afl.log" 2>&1 || rc=$?
times >"$work/cpu.after"
stats="$work/out/default/fuzzer_stats"
if [ ! -f "$stats" ]; then
  echo "afl-fuzz did not start (exit $rc); its log:" >&2
  tail -30 "$work/afl.log" >&2
  exit 1
fi
get() { awk -F: -v k="$1" '{gsub(/ /,"",$1)} $1==k {gsub(/^ +/,"",$2); print $2}' "$stats"; }
crashes=$(find "$work/out/default/crashes" -type f -name 'id:*' | wc -l)
hangs=$(find "$work/out/default/hangs" -type f -name 'id:*' | wc -l)
echo "executions: $(get execs_done)"
echo "duration:   $(get run_time) s ($(get execs_per_sec) exec/s)"
echo "coverage:   $(get edges_found) edges of $(get total_edges) ($(get bitmap_cvg) map density), corpus $(get corpus_count) inputs, stability $(get stability)"
# afl-fuzz and its target (reaped by afl-fuzz), user + system: the cost of an execution, less sensitive to a busy machine than exec/s
cpu() { awk 'NR == 2 { split($1, u, "m"); split($2, s, "m"); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$1"; }
awk -v a="$(cpu "$work/cpu.before")" -v b="$(cpu "$work/cpu.after")" -v n="$(get execs_done)" \
  'BEGIN { printf "cpu:        %.1f s (user + system of afl-fuzz and its target), %.0f us per execution\n", b - a, (n > 0 ? (b - a) * 1e6 / n : 0) }'
echo "findings:   $crashes crashes, $hangs hangs (saved_crashes $(get saved_crashes), saved_hangs $(get saved_hangs)) in $work/out/default"
[ -s "$work/failures.log" ] && { echo "failures (VSN_FUZZ_LOG):"; grep -A1 '^20' "$work/failures.log" | grep -v '^--' | cut -c1-300; }
[ "$(get execs_done)" -gt 0 ] && [ "$crashes" -eq 0 ]
