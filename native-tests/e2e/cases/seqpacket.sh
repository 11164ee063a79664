# seqpacket: SOCK_SEQPACKET through the device: message boundaries kept both ways (sizes 1..3000
# follow each sender's seed; every message must arrive whole and alone), 4 MiB each way.
#   g2h  guest connects (seqpacket) to host port 1500 -> a SOCK_SEQPACKET listener at <uds>_1500
#   h2g  the fd API / hybrid socket is stream-only, so host-initiated seqpacket is not covered here
CASE_VMS="3"
CASE_TIMEOUT=150

guest_3() { cat <<'GUEST'
step g2h vtool connect vsock:2:1500 --seqpacket --max-msg 3000 --send 4M --expect 4M --seed 80 --timeout 100
GUEST
}

host_side() {
    local bad=0
    host_bg g2h vtool listen "unix:$(uds 3)_1500" --seqpacket --max-msg 3000 --send 4M --expect 4M --seed 81 --timeout 100
    host_wait || bad=1
    crc_match 3 g2h g2h || bad=1
    return $bad
}
