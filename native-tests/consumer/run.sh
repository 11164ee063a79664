#!/bin/sh
# Installs the build tree into a scratch prefix, then builds and runs the consumer twice: with
# CMake's find_package(VsockNative) and with pkg-config --cflags --libs vsock-native.
# usage: run.sh <build dir> <this folder> <cmake>
set -eu
build=$1 src=$2 cmake=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$cmake" --install "$build" --prefix "$work/prefix" > "$work/install.log"
"$cmake" -S "$src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log" || { cat "$work/configure.log"; exit 1; }
"$cmake" --build "$work/cmake-build" > "$work/build.log" || { cat "$work/build.log"; exit 1; }
"$work/cmake-build/consumer"
libdir=$(find "$work/prefix" -name 'vsock-native.pc' -exec dirname {} \; | head -n 1)
export PKG_CONFIG_PATH="$libdir"
cc -std=c11 -Wall -Wextra -Werror -pedantic -D_GNU_SOURCE -o "$work/consumer-pc" "$src/consumer.c" \
   $(pkg-config --cflags --libs vsock-native) -Wl,-rpath,"$(pkg-config --variable=libdir vsock-native)"
"$work/consumer-pc"
echo "install_consumer: 2 passed, 0 failed"
