#!/usr/bin/env bash
# run-case.sh — one end-to-end case: the vhost-user-vsock daemon, unmodified QEMU (TCG) booting a
# real Linux guest per VM, host-side peers; exits 0 only when every guest step and host step passed,
# every guest powered off by itself in time, and the daemon was alive at the end and exited 0 on
# SIGTERM. On failure it prints the tails of the guest consoles, the daemon log and the host logs.
#
# usage: run-case.sh --daemon PATH --vtool PATH --initrd BASE.cpio [--keep] CASE.sh
#   CACHE: ${VSN_E2E_CACHE:-$HOME/.cache/vsocknative-e2e} (fetch.sh fills it: vmlinuz)
#
# A case file (cases/*.sh) is bash, sourced here. It sets
#   CASE_VMS="3 4"          guest CIDs, one QEMU each (default "3")
#   CASE_TIMEOUT=180        seconds for the whole case (QEMU is killed after that)
#   CASE_VM_EXTRA=",groups=g"  appended to every --vm (optional)
#   CASE_VM_EXTRA_<cid>=",groups=a"  appended to that VM's --vm (optional)
#   CASE_DAEMON_ARGS="--log-level debug"  more daemon arguments (optional)
# and defines
#   guest_<cid>   prints the guest's script (/case.sh, sourced by /init with guest/e2e.sh helpers)
#   host_side     runs on the host while the guests run, with the helpers below; its status counts
# Host helpers: uds CID (the VM's hybrid socket path), host_bg NAME CMD... (a background peer,
# output in $W/NAME.log), host_step NAME CMD... (foreground), host_wait (waits for the background
# peers; non-zero if one failed), host_join NAME (waits for one, returns its status), wait_guest CID
# REGEX [SECONDS] (a line on CID's console), open_gate CID NAME (releases the guest's `gate NAME`),
# crc_match CID GSTEP HSTEP / crc_match_guests CID GSTEP CID GSTEP (the CRC-32s printed by both
# ends agree, both directions), vtool ARGS... (the host copy of the peer tool), kill_guest CID /
# boot_guest CID FUNCTION (SIGKILL a QEMU; boot that VM again with another script), stop_daemon
# (SIGTERM: exit 0 within 5 s, sockets removed), inflight_start CID HPORT GPORT / inflight_ended WHAT
# (the host ends of the guest's `inflight`: transfers that only end when something breaks them).
set -uo pipefail

CACHE=${VSN_E2E_CACHE:-$HOME/.cache/vsocknative-e2e}
DAEMON="" VTOOL="" INITRD="" KEEP=0 CASE=""
while [ $# -gt 0 ]; do
    case $1 in
        --daemon) DAEMON=$2; shift 2 ;;
        --vtool) VTOOL=$2; shift 2 ;;
        --initrd) INITRD=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -*) echo "run-case.sh: unknown option $1" >&2; exit 2 ;;
        *) CASE=$1; shift ;;
    esac
done
for f in "$DAEMON" "$VTOOL" "$INITRD" "$CASE" "$CACHE/vmlinuz"; do
    [ -n "$f" ] && [ -e "$f" ] || { echo "run-case.sh: missing: '${f}' (usage in the file header; run fetch.sh first)" >&2; exit 2; }
done
command -v qemu-system-x86_64 >/dev/null || { echo "run-case.sh: qemu-system-x86_64 not found: run fetch.sh" >&2; exit 2; }

CASE_VMS="3" CASE_TIMEOUT=180 CASE_VM_EXTRA="" CASE_DAEMON_ARGS=""
# shellcheck source=/dev/null
. "$CASE"
case_name=$(basename "$CASE" .sh)

# Short paths: Unix socket paths must stay under 108 bytes.
W=$(mktemp -d /tmp/vsn-e2e.XXXXXX)
pids=()       # everything we started, ended by pid at exit
daemon_pid=""
declare -A qemu_pid=()
t_start=$(date +%s)

log() { echo "[$case_name] $*"; }
shown() { # ARGS...: the command line as one would type it (single quotes where needed)
    local a out=""
    for a in "$@"; do
        case $a in *[!A-Za-z0-9_./=,:+-]*) out+="'$a' " ;; *) out+="$a " ;; esac
    done
    echo "${out% }"
}
uds() { echo "$W/vm$1.vsock"; }
vtool() { "$VTOOL" "$@"; }
deadline_left() { echo $((CASE_TIMEOUT - ($(date +%s) - t_start))); }

cleanup() {
    local f
    exec 2>/dev/null   # the verdict is out; no job notices for the helpers ended here
    for f in "$W"/*.pid; do [ -e "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ $KEEP = 1 ]; then log "logs kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

# --- host helpers for case files ---------------------------------------------------------------
# A host peer is overdue at the case deadline, or 10 s after the last guest powered off (nobody is
# left to talk to it).
guests_gone_since=""
peer_overdue() {
    [ "$(deadline_left)" -gt 0 ] || return 0
    local cid
    for id in "${boots[@]}"; do kill -0 "${qemu_pid[$id]}" 2>/dev/null && { guests_gone_since=""; return 1; }; done
    [ -n "$guests_gone_since" ] || guests_gone_since=$(date +%s)
    [ $(( $(date +%s) - guests_gone_since )) -ge 10 ]
}
peer_overdue_why() {
    if [ "$(deadline_left)" -gt 0 ]; then echo "10 s after the guests powered off"; else echo "at the case deadline"; fi
}
kill_peer() { # NAME: end a background peer
    [ -e "$W/$1.pid" ] && kill -KILL "$(cat "$W/$1.pid")" 2>/dev/null
    echo 137 > "$W/$1.rc"
}
host_bg_names=()
host_bg() { # NAME CMD...
    local name=$1; shift
    local cmd=("$@")
    [ "$1" = vtool ] && cmd[0]=$VTOOL   # the process itself, so its pid can be ended
    ( "${cmd[@]}" > "$W/$name.log" 2>&1 &
      echo $! > "$W/$name.pid"; wait $!; echo $? > "$W/$name.rc" ) &
    pids+=($!)
    host_bg_names+=("$name")
    # A listener is usable once it printed READY.
    if [ "$1" = vtool ] && [ "${2:-}" = listen ]; then
        local i=0
        until grep -q '^VT READY' "$W/$name.log" 2>/dev/null; do
            [ -e "$W/$name.rc" ] && break
            i=$((i + 1)); [ $i -gt 100 ] && break
            sleep 0.1
        done
    fi
}
host_report() { # NAME -> 0 pass
    local name=$1 rc
    rc=$(cat "$W/$name.rc" 2>/dev/null || echo 99)
    sed "s/^/[host:$name] /" "$W/$name.log"
    if [ "$rc" = 0 ]; then echo "HOST-STEP $name PASS"; else echo "HOST-STEP $name FAIL rc=$rc"; fi
    [ "$rc" = 0 ]
}
host_step() { # NAME CMD...
    local name=$1; shift
    "$@" > "$W/$name.log" 2>&1
    echo $? > "$W/$name.rc"
    host_report "$name"
}
host_join() { # NAME: wait for one background peer, print its log; returns its exit status
    local name=$1 n keep=()
    for n in "${host_bg_names[@]}"; do [ "$n" = "$name" ] || keep+=("$n"); done
    host_bg_names=("${keep[@]}")
    until [ -e "$W/$name.rc" ]; do
        peer_overdue && { echo "HOST-STEP $name still running $(peer_overdue_why)"; kill_peer "$name"; return 99; }
        sleep 0.2
    done
    sed "s/^/[host:$name] /" "$W/$name.log"
    return "$(cat "$W/$name.rc")"
}
host_wait() {
    local bad=0 name
    wait_bg_all
    for name in "${host_bg_names[@]}"; do host_report "$name" || bad=$((bad + 1)); done
    host_bg_names=()
    return $bad
}
wait_bg_all() { # the background peers end on their own (--timeout); bounded by the case deadline
    local name
    for name in "${host_bg_names[@]}"; do
        until [ -e "$W/$name.rc" ]; do
            peer_overdue && { echo "HOST-STEP $name still running $(peer_overdue_why)"; kill_peer "$name"; return 1; }
            sleep 0.2
        done
    done
}
crcs() { # FILE PREFIX FIELD -> the sorted FIELD values of the "VT conn=" lines after PREFIX
    tr -d '\r' < "$1" | sed -n "s/^$2VT conn=.* $3=\([0-9a-f]*\) .*/\1/p" | sort
}
crc_match_files() { # LABEL FILE_A PREFIX_A FILE_B PREFIX_B: what A sent, B got, and the reverse
    local label=$1 as ar bs br
    as=$(crcs "$2" "$3" sent_crc); ar=$(crcs "$2" "$3" recv_crc)
    bs=$(crcs "$4" "$5" sent_crc); br=$(crcs "$4" "$5" recv_crc)
    if [ -n "$as" ] && [ "$as" = "$br" ] && [ "$ar" = "$bs" ]; then
        echo "HOST-STEP crc-$label PASS ($(echo $as | wc -w) connection(s): the CRC-32s of both directions agree)"
        return 0
    fi
    echo "HOST-STEP crc-$label FAIL one side sent [$(echo $as)], the other got [$(echo $br)]; other sent [$(echo $bs)], one got [$(echo $ar)]"
    return 1
}
crc_match() { # CID GUEST_STEP HOST_STEP: CRCs sent one way are the CRCs received the other way
    wait_guest "$1" "^E2E-STEP $2 (PASS|FAIL)" 60 || return 1   # its lines are all out
    crc_match_files "$2" "$W/console${cur[$1]:-$1}.log" "\[$2\] " "$W/$3.log" ""
}
crc_match_guests() { # CID_A STEP_A CID_B STEP_B
    wait_guest "$1" "^E2E-STEP $2 (PASS|FAIL)" 60 && wait_guest "$3" "^E2E-STEP $4 (PASS|FAIL)" 60 || return 1
    crc_match_files "$2" "$W/console${cur[$1]:-$1}.log" "\[$2\] " "$W/console${cur[$3]:-$3}.log" "\[$4\] "
}
open_gate() { # CID NAME: let the guest's `gate NAME` go on
    wait_guest "$1" "^\[$2\] VT READY" && host_step "gate-$1-$2" vtool connect "hybrid:$(uds "$1"):9000" --send 0 --timeout 30
}
inflight_start() { # CID HPORT GPORT: the host ends of the guest's `inflight HPORT GPORT`; flowing on return
    host_bg inflight-g2h vtool listen "unix:$(uds "$1")_$2" --send 1G --expect 1G --pace-us 2000 --expect-broken --timeout 100
    wait_guest "$1" '^\[inflight-h2g\] VT READY' || return 1
    host_bg inflight-h2g vtool connect "hybrid:$(uds "$1"):$3" --send 1G --expect 1G --expect-broken --timeout 100
    sleep 3
}
inflight_ended() { # WHAT: both host ends of the in-flight transfers ended (error or short EOF), none hung
    local p rc bad=0
    for p in inflight-g2h inflight-h2g; do
        host_join $p; rc=$?
        if [ $rc = 0 ]; then echo "HOST-STEP $p PASS (the stream ended: $1)"
        else echo "HOST-STEP $p FAIL (status $rc)"; bad=1; fi
    done
    return $bad
}
daemon_stopped=""
stop_daemon() { # SIGTERM the daemon: it must exit 0 within 5 s and remove the sockets it made
    local i=0 rc s bad=0
    kill -TERM "$daemon_pid" 2>/dev/null
    while kill -0 "$daemon_pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$daemon_pid" 2>/dev/null; then
        echo "HOST-STEP daemon-sigterm FAIL: still running 5 s after SIGTERM"; return 1
    fi
    wait "$daemon_pid"; rc=$?
    daemon_stopped=$rc
    [ $rc = 0 ] || { echo "HOST-STEP daemon-sigterm FAIL: exit status $rc"; bad=1; }
    for s in "$W"/vhost*.sock "$W"/vm*.vsock; do
        [ -e "$s" ] && { echo "HOST-STEP daemon-sigterm FAIL: $s left behind"; bad=1; }
    done
    [ $bad = 0 ] && echo "HOST-STEP daemon-sigterm PASS (exit 0 after $((i * 100)) ms, sockets removed)"
    return $bad
}
wait_guest() { # CID REGEX [SECONDS]
    local cid=$1 re=$2 limit=${3:-$(deadline_left)} t0
    t0=$(date +%s)
    local id=${cur[$cid]:-$cid}
    until grep -qE "$re" "$W/console$id.log" 2>/dev/null; do
        if ! kill -0 "${qemu_pid[$id]}" 2>/dev/null; then
            echo "wait_guest $cid '$re': the guest is gone"; return 1
        fi
        [ $(( $(date +%s) - t0 )) -lt "$limit" ] || { echo "wait_guest $cid '$re': not seen in $limit s"; return 1; }
        sleep 0.1
    done
}

# --- daemon ----------------------------------------------------------------------------------------
vm_args=()
for cid in $CASE_VMS; do
    extra_var=CASE_VM_EXTRA_$cid
    vm_args+=(--vm "guest-cid=$cid,socket=$W/vhost$cid.sock,uds-path=$(uds "$cid")$CASE_VM_EXTRA${!extra_var:-}")
done
log "daemon: $(shown "$DAEMON" "${vm_args[@]}" $CASE_DAEMON_ARGS)"
"$DAEMON" "${vm_args[@]}" $CASE_DAEMON_ARGS > "$W/daemon.log" 2>&1 &
daemon_pid=$!
pids+=("$daemon_pid")
for cid in $CASE_VMS; do
    i=0
    # Listening, not only bound (QEMU connects once and gives up): flags 00010000 in /proc/net/unix.
    until awk -v p="$W/vhost$cid.sock" '$4 == "00010000" && $8 == p { f = 1 } END { exit !f }' /proc/net/unix; do
        kill -0 "$daemon_pid" 2>/dev/null || { log "FAIL: the daemon exited at start"; cat "$W/daemon.log"; exit 1; }
        i=$((i + 1)); [ $i -gt 100 ] && { log "FAIL: the daemon did not listen on $W/vhost$cid.sock (cid $cid) within 10 s (socket files: $(ls "$W" | tr "\n" " "))"; cat "$W/daemon.log"; exit 1; }
        sleep 0.1
    done
done

# --- guests ----------------------------------------------------------------------------------------
# A boot is one QEMU run: id = the CID for the first boot of a VM, CIDrN for its Nth reboot
# (boot_guest). A boot ended by kill_guest is not judged; every other must pass.
boots=() ; declare -A boot_cid=() boot_killed=() cur=()
start_qemu() { # ID CID SCRIPT_FUNCTION
    local id=$1 cid=$2 fn=$3 stage="$W/stage$1"
    mkdir -p "$stage"
    "$fn" > "$stage/case.sh"
    (cd "$stage" && echo case.sh | cpio -o -H newc --quiet) > "$W/case$id.cpio"
    cat "$INITRD" "$W/case$id.cpio" > "$W/initrd$id.cpio"
    local qemu=(qemu-system-x86_64
        -accel tcg -machine q35,memory-backend=mem -m 512M -smp 1
        -object memory-backend-memfd,id=mem,size=512M,share=on
        -nographic -monitor none -serial "file:$W/console$id.log" -nic none -no-reboot
        -kernel "$CACHE/vmlinuz" -initrd "$W/initrd$id.cpio"
        -append "console=ttyS0 quiet panic=-1"
        -chardev "socket,id=vsock0,path=$W/vhost$cid.sock"
        -device vhost-user-vsock-pci,chardev=vsock0
    )
    log "boot $id: guest cid $cid (QEMU TCG)"
    log "qemu: $(shown "${qemu[@]}")"
    "${qemu[@]}" > "$W/qemu$id.log" 2>&1 < /dev/null &
    qemu_pid[$id]=$!
    pids+=("$!")
    # The case deadline, by pid (a wrapper like timeout(1) would hide QEMU's own pid).
    ( sleep "$(deadline_left)" & echo $! > "$W/watch$id.pid"; wait $!
      kill -KILL "${qemu_pid[$id]}" 2>/dev/null ) > /dev/null 2>&1 &
    pids+=("$!")
    boots+=("$id"); boot_cid[$id]=$cid; cur[$cid]=$id
}
kill_guest() { # CID: SIGKILL its QEMU (the frontend vanishes mid-flight); that boot is not judged
    local id=${cur[$1]}
    boot_killed[$id]=1
    kill -KILL "${qemu_pid[$id]}" 2>/dev/null
    wait "${qemu_pid[$id]}" 2>/dev/null
    echo "HOST-SAY killed QEMU of boot $id (cid $1)"
}
boot_guest() { # CID SCRIPT_FUNCTION: boot the VM again (after kill_guest or its poweroff)
    local n=1
    while [ -n "${boot_cid[$1r$n]:-}" ]; do n=$((n + 1)); done
    start_qemu "$1r$n" "$1" "$2"
}
for cid in $CASE_VMS; do start_qemu "$cid" "$cid" "guest_$cid"; done

# --- host side -------------------------------------------------------------------------------------
host_side > "$W/host.out" 2>&1
host_rc=$?
if [ $host_rc != 0 ]; then
    # The case has failed already: give the guests 20 s to finish their steps, then stop them
    # rather than wait for every step's own timeout.
    for _ in $(seq 200); do
        alive=0
        for id in "${boots[@]}"; do kill -0 "${qemu_pid[$id]}" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for id in "${boots[@]}"; do kill -KILL "${qemu_pid[$id]}" 2>/dev/null; done
    for name in "${host_bg_names[@]}"; do [ -e "$W/$name.rc" ] || kill_peer "$name"; done
else
    wait_bg_all >> "$W/host.out" 2>&1
fi

# --- verdict ---------------------------------------------------------------------------------------
fail=0
for id in "${boots[@]}"; do
    wait "${qemu_pid[$id]}"
    qrc=$?
    grep -hE '^(E2E-|\[[^]]*\] VT (PASS|FAIL|conn=))' "$W/console$id.log" | tr -d '\r' | sed "s/^/[guest $id] /"
    [ -n "${boot_killed[$id]:-}" ] && continue
    if [ $qrc != 0 ]; then log "FAIL: QEMU of boot $id exited $qrc (137: killed at the $CASE_TIMEOUT s deadline)"; fail=1; fi
    grep -q '^E2E-INIT OK' "$W/console$id.log" || { log "FAIL: boot $id: modules or /dev/vsock"; fail=1; }
    grep -q '^E2E-RESULT PASS' "$W/console$id.log" || { log "FAIL: boot $id: no E2E-RESULT PASS"; fail=1; }
done
grep -E '^(HOST-STEP|HOST-SAY|wait_guest|\[host:[^]]*\] VT (PASS|FAIL|conn=))' "$W/host.out"
[ $host_rc = 0 ] || { log "FAIL: host side returned $host_rc"; fail=1; }
if [ -n "$daemon_stopped" ]; then
    : # the case stopped it (stop_daemon) and judged that
elif kill -0 "$daemon_pid" 2>/dev/null; then
    stop_daemon >> "$W/host.out" || { log "FAIL: the daemon's SIGTERM exit: $(grep daemon-sigterm "$W/host.out" | tail -n 1)"; fail=1; }
else
    wait "$daemon_pid"; log "FAIL: the daemon died during the case (exit $?)"; fail=1
fi

elapsed=$(( $(date +%s) - t_start ))
if [ $fail = 0 ]; then
    log "PASS in ${elapsed} s"
    exit 0
fi
for id in "${boots[@]}"; do
    echo "----- boot $id console (last 60 lines)"; tail -n 60 "$W/console$id.log" | tr -d '\r'
    echo "----- qemu $id stderr"; tail -n 20 "$W/qemu$id.log"
done
echo "----- host side"; tail -n 60 "$W/host.out"
echo "----- daemon log (last 60 lines)"; tail -n 60 "$W/daemon.log"
log "FAIL in ${elapsed} s"
exit 1
