#!/bin/sh
# The shared library exports the C ABI and nothing else: every dynamic symbol it defines starts
# with vsn_, the SONAME is libvsocknative.so.0, and the exported set equals the functions the
# header declares. usage: check_exports.sh <libvsocknative.so> <vsock_native.h>
set -eu
lib=$1 header=$2
fail=0
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$soname" != "libvsocknative.so.0" ]; then echo "SONAME is '$soname', expected libvsocknative.so.0"; fail=1; fi
# Defined dynamic symbols, without the version suffix; the version node itself (an absolute
# symbol, "A") is not a symbol anyone can call.
exported=$(nm -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort -u)
stray=$(printf '%s\n' "$exported" | grep -v '^vsn_' || true)
if [ -n "$stray" ]; then echo "stray exported symbols:"; printf '  %s\n' $stray; fail=1; fi
declared=$(grep -oE '^[a-z0-9_ ]+[ *](vsn_[a-z0-9_]+)\(' "$header" | grep -oE 'vsn_[a-z0-9_]+\($' | tr -d '(' | sort -u)
if [ "$exported" != "$declared" ]; then
  echo "exports and header prototypes differ:"
  printf '%s\n' "$exported" > /tmp/vsn_exported.$$
  printf '%s\n' "$declared" > /tmp/vsn_declared.$$
  diff /tmp/vsn_exported.$$ /tmp/vsn_declared.$$ | sed 's/^</  only exported:/; s/^>/  only declared:/' | grep only || true
  rm -f /tmp/vsn_exported.$$ /tmp/vsn_declared.$$
  fail=1
fi
# Every public C name in the header carries the prefix: macros, struct/enum tags, typedefs, enumerators.
names=$( (grep -oE '^#define [A-Za-z_][A-Za-z0-9_]*' "$header" | awk '{print $2}';
          grep -oE '^(typedef )?(struct|enum) [A-Za-z_][A-Za-z0-9_]*' "$header" | awk '{print $NF}';
          grep -oE '^typedef struct [A-Za-z_][A-Za-z0-9_]* [A-Za-z_][A-Za-z0-9_]*;' "$header" | tr -d ';' | awk '{print $NF}';
          grep -oE '^} [A-Za-z_][A-Za-z0-9_]*;' "$header" | tr -d ';' | awk '{print $2}';
          grep -oE '^typedef [^(]*\(\*[A-Za-z_][A-Za-z0-9_]*\)' "$header" | grep -oE '[A-Za-z_][A-Za-z0-9_]*\)$' | tr -d ')';
          grep -oE '^    [A-Z_][A-Z0-9_]* = ' "$header" | awk '{print $1}') | sort -u)
unprefixed=$(printf '%s\n' "$names" | grep -vE '^(vsn_|VSN_)' || true)
if [ -n "$unprefixed" ]; then echo "header names without the vsn_/VSN_ prefix:"; printf '  %s\n' $unprefixed; fail=1; fi
n=$(printf '%s\n' "$exported" | wc -l)
if [ $fail -eq 0 ]; then echo "exports_only_vsn: $n passed, 0 failed"; else echo "exports_only_vsn: 0 passed, 1 failed"; fi
exit $fail
