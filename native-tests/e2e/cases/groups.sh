# groups: VMs in different groups of one daemon cannot reach each other. Guest 3 (group a) and
# guest 4 (group b) each listen, then each connects to the other: both connects are refused
# (RST -> ECONNRESET). Each listener then accepts exactly one connection, the host's through its
# hybrid socket; had a sibling's connection got through, it would have taken that place.
CASE_VMS="3 4"
CASE_VM_EXTRA_3=",groups=a"
CASE_VM_EXTRA_4=",groups=b"
CASE_TIMEOUT=200

guest_3() { cat <<'GUEST'
bg_step listen vtool listen vsock:6100 --expect 1M --timeout 150
gate go
step to4-refused vtool connect vsock:4:6100 --send 1 --expect-connect-error ECONNRESET --timeout 30
GUEST
}

guest_4() { cat <<'GUEST'
bg_step listen vtool listen vsock:6100 --expect 1M --timeout 150
gate go
step to3-refused vtool connect vsock:3:6100 --send 1 --expect-connect-error ECONNRESET --timeout 30
GUEST
}

host_side() {
    local bad=0 cid
    for cid in 3 4; do wait_guest $cid '^\[listen\] VT READY' || bad=1; done
    for cid in 3 4; do open_gate $cid go || bad=1; done
    wait_guest 3 '^E2E-STEP to4-refused' && wait_guest 4 '^E2E-STEP to3-refused' || bad=1
    for cid in 3 4; do host_step host-to-$cid vtool connect "hybrid:$(uds $cid):6100" --send 1M --timeout 60 || bad=1; done
    return $bad
}
