#!/usr/bin/env bash
# Runs every test of VsockNative on a Debian machine: installs what is missing (apt-get), builds
# everything through CMake (which publishes the NativeAOT library), runs ctest (the C harnesses)
# and dotnet test (xunit), and exits non-zero if either fails. Both runners' summaries are printed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${VSN_BUILD_DIR:-$root/build}

need=(cmake make gcc g++ pkg-config binutils diffutils linux-libc-dev libclang1-14 libclang-common-14-dev libyaml-dev socat afl++ clang-14 libclang-rt-14-dev)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v dotnet >/dev/null; then
  echo "error: the .NET SDK (10.x) is required and 'dotnet' is not on PATH" >&2
  exit 1
fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j"$(nproc)"

status=0
echo "=== ctest"
(cd "$build" && ctest --output-on-failure -j2) || status=1
echo "=== dotnet test"
dotnet test "$root/VsockNative.sln" --nologo || status=1
exit $status
