#!/usr/bin/env bash
# fuzz/run-native.sh <harness> [seconds] [--ci]: runs a libFuzzer harness of fuzz/native
# (c_abi or vhost_user) and prints what the run did: executions, duration, coverage (libFuzzer's
# cov = edges, ft = features), corpus size and findings.
#
#   long run:  FUZZ_RUNS=10000000 fuzz/run-native.sh vhost_user 7200
#              (stops at FUZZ_RUNS executions or after the seconds, whichever comes first; nice 10;
#              new inputs go to build/fuzz/native/work-<harness>, crashes to .../artifacts-<harness>)
#   --ci:      what ctest runs: replays the committed corpus and findings (each must pass), then
#              fuzzes <seconds> with -seed=1 from a fresh work corpus. Fails on any finding.
#
# The fuzzer is build/fuzz/native/fuzz_<harness> (VSN_BUILD_DIR overrides build/), built by the
# normal CMake build when clang-14 with libFuzzer is installed.
set -euo pipefail
harness=${1:?usage: fuzz/run-native.sh c_abi|vhost_user [seconds] [--ci]}
harness=${harness//-/_}
seconds=${2:-600}
ci=false
[[ ${3:-} == --ci ]] && ci=true
root=$(cd "$(dirname "$0")/.." && pwd)
build=${VSN_BUILD_DIR:-$root/build}
fuzzer=$build/fuzz/native/fuzz_$harness
src=$root/fuzz/native/${harness//_/-}
[[ -x $fuzzer ]] || { echo "run-native.sh: $fuzzer is not built (clang-14 and libclang-rt-14-dev, then cmake --build)" >&2; exit 2; }
[[ -d $src/corpus ]] || { echo "run-native.sh: no harness $harness ($src/corpus)" >&2; exit 2; }
work=$build/fuzz/native/work-$harness
artifacts=$build/fuzz/native/artifacts-$harness
mkdir -p "$work" "$artifacts" "$src/findings"
log=$build/fuzz/native/$harness-$(date -u +%Y%m%dT%H%M%SZ).log
dict=()
[[ -f $src/$harness.dict ]] && dict=(-dict="$src/$harness.dict")
common=(-timeout=10 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}")
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if $ci; then
  rm -rf "$work" && mkdir -p "$work"
  echo "replaying $(find "$src/corpus" "$src/findings" -type f | wc -l) committed inputs of $harness"
  "$fuzzer" "${common[@]}" -runs=0 "$src/corpus" "$src/findings" > "$log.replay" 2>&1 \
    || { tail -40 "$log.replay"; echo "FAIL: a committed input of $harness fails"; exit 1; }
  grep -E 'INITED|DONE' "$log.replay" || true
  runs=()
  seed=(-seed=1)
else
  runs=()
  [[ -n ${FUZZ_RUNS:-} ]] && runs=(-runs="$FUZZ_RUNS")
  seed=()
  # Copies of the fuzzer and the library, so a rebuild during a long run replaces neither under it.
  mkdir -p "$work.lib"
  cp "$fuzzer" "$work.lib/fuzz_$harness"
  cp -L "$build/native/libvsocknative.so.0" "$work.lib/"
  fuzzer=$work.lib/fuzz_$harness
  export LD_LIBRARY_PATH=$work.lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

start=$(date +%s)
set +e
nice -n 10 "$fuzzer" "${common[@]}" "${seed[@]}" "${runs[@]}" -max_total_time="$seconds" \
  "$work" "$src/corpus" "$src/findings" > "$log" 2>&1
rc=$?
set -e
end=$(date +%s)
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
last=$(grep -E '^#[0-9]+' "$log" | tail -1)
cov=$(grep -o 'cov: [0-9]*' <<<"$last" | tail -1 || true)
ft=$(grep -o 'ft: [0-9]*' <<<"$last" | tail -1 || true)
corp=$(grep -o 'corp: [0-9]*/[0-9a-zA-Z]*' <<<"$last" | tail -1 || true)
findings=$(find "$artifacts" -type f -newermt "@$start" | wc -l)
echo "harness:    $harness ($fuzzer)"
echo "executions: ${execs:-0}"
echo "duration:   $((end - start)) s"
echo "coverage:   ${cov:-cov: ?} edges, ${ft:-ft: ?} features, ${corp:-corp: ?}"
echo "findings:   $findings (in $artifacts)"
echo "log:        $log"
if [[ $rc -ne 0 || $findings -gt 0 ]]; then
  grep -E 'invariant broken|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' "$log" | head -10
  echo "FAIL: fuzz_$harness exited $rc"
  exit 1
fi
