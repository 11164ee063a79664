# stream: data both ways through the daemon, every byte checked (vtool's pattern) and CRC-32s of
# each direction compared between guest and host.
#   g2h      guest connects to host port 1234 -> the host listener at <uds>_1234; 64 MiB each way
#   h2g      host connects through "CONNECT 5000\n" on <uds> into a guest listener; 64 MiB each way
#   g2h-many 8 guest connections at once to host port 1235, 4 MiB each way each ...
#   h2g-many ... while 8 host connections at once go to guest port 5001, 4 MiB each way each
#   g2h-64 / h2g-64  64 connections at once each way, 512 KiB each way each
#   slow-host  guest sends 8 MiB to a host reader that sleeps 10 ms after every read: the guest
#              stalls on credit again and again, nothing is lost
#   slow-guest host sends 8 MiB to a guest reader that sleeps 10 ms after every read: the device
#              stops taking host data while the guest gives no credit, nothing is lost
CASE_VMS="3"
CASE_TIMEOUT=300

guest_3() { cat <<'GUEST'
step g2h vtool connect vsock:2:1234 --send 64M --expect 64M --seed 10 --timeout 200
bg_step h2g vtool listen vsock:5000 --send 64M --expect 64M --seed 20 --timeout 200
e2e_wait
bg_step h2g-many vtool listen vsock:5001 --conns 8 --send 4M --expect 4M --seed 40 --timeout 200
step g2h-many vtool connect vsock:2:1235 --conns 8 --send 4M --expect 4M --seed 30 --timeout 200
bg_step h2g-64 vtool listen vsock:5003 --conns 64 --send 512K --expect 512K --seed 600 --timeout 200
step g2h-64 vtool connect vsock:2:1237 --conns 64 --send 512K --expect 512K --seed 700 --timeout 200
e2e_wait
step slow-host vtool connect vsock:2:1236 --send 8M --seed 90 --timeout 200
bg_step slow-guest vtool listen vsock:5002 --expect 8M --pace-us 10000 --timeout 200
GUEST
}

host_side() {
    local bad=0
    # Every host listener first: the guest reaches them without waiting.
    host_bg g2h vtool listen "unix:$(uds 3)_1234" --send 64M --expect 64M --seed 11 --timeout 200
    host_bg g2h-many vtool listen "unix:$(uds 3)_1235" --conns 8 --send 4M --expect 4M --seed 31 --timeout 200
    host_bg g2h-64 vtool listen "unix:$(uds 3)_1237" --conns 64 --send 512K --expect 512K --seed 800 --timeout 200
    host_bg slow-host vtool listen "unix:$(uds 3)_1236" --expect 8M --pace-us 10000 --timeout 200
    wait_guest 3 '^\[h2g\] VT READY' || bad=1
    host_step h2g vtool connect "hybrid:$(uds 3):5000" --send 64M --expect 64M --seed 21 --timeout 200 || bad=1
    wait_guest 3 '^\[h2g-many\] VT READY' || bad=1
    host_step h2g-many vtool connect "hybrid:$(uds 3):5001" --conns 8 --send 4M --expect 4M --seed 41 --timeout 200 || bad=1
    wait_guest 3 '^\[h2g-64\] VT READY' || bad=1
    host_step h2g-64 vtool connect "hybrid:$(uds 3):5003" --conns 64 --send 512K --expect 512K --seed 900 --timeout 200 || bad=1
    wait_guest 3 '^\[slow-guest\] VT READY' || bad=1
    host_step slow-guest vtool connect "hybrid:$(uds 3):5002" --send 8M --seed 91 --timeout 200 || bad=1
    host_wait || bad=1
    for s in g2h h2g g2h-many h2g-many g2h-64 h2g-64 slow-host slow-guest; do crc_match 3 $s $s || bad=1; done
    return $bad
}
