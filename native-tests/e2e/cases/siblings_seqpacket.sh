# siblings_seqpacket: SOCK_SEQPACKET between two guests (CID 3 and 4) of one daemon, checked as
# Linux's vsock_test checks seqpacket (msg_bounds, msg_trunc, timeout), with stream beside it. The
# daemon routes each connection device to device over a SOCK_SEQPACKET pair whose messages carry
# their record-end flag, so message boundaries and MSG_EOR must survive guest to guest.
# Message sizes follow each sender's seed: 1..10000 bytes ("small": many messages, one larger than
# the receiving guest's 4 KiB rx buffers goes out as several packets, EOM on the last) or
# 1..200000 ("big": a message also spans several guest tx packets of at most 64 KiB, which the
# sending device gathers up to EOM). Both guests run the same steps, mirrored: guest C listens on
# port 6x0C and connects to its peer P's port 6x0P; the steps are named -toP and -fromP.
# Round 1 (gate go): four connections start at the same moment, data both ways on each:
#   sp-to4 / sp-from3   guest 3 -> CID 4 port 6104, seqpacket small, 4 MiB each way; MSG_EOR on
#                       about 1 message in 5 (the sender's seed picks them) and on the last. Every
#                       message arrives whole and alone, msg_flags has MSG_EOR on exactly those
#                       messages, and the CRC-32s agree across the two guests.
#   sp-to3 / sp-from4   the same from guest 4 -> CID 3 port 6103, seqpacket big
#   st-to4 / st-from3   stream, guest 3 -> CID 4 port 6204, 4 MiB each way, CRC-32s compared
#   st-to3 / st-from4   stream, guest 4 -> CID 3 port 6203
# Round 2 (gate two):
#   trunc-to4 / trunc-from3  guest 3 -> CID 4 port 6304: 1 MiB seqpacket small, MSG_EOR on about 1
#                       message in 3; guest 4 reads about 1 message in 3 into half its size:
#                       recv(MSG_TRUNC) returns the full length, MSG_TRUNC is set (MSG_EOR too where
#                       sent), the rest is dropped and the next recv gets the next message
#   trunc-to3 / trunc-from4  the same from guest 4 -> CID 3 port 6303, 4 MiB seqpacket big
#   timeo-to4 / timeo-from3  guest 3 -> CID 4 port 6404; guest 3 sets SO_RCVTIMEO 1 s: a recv
#                       before guest 4 sends anything fails EAGAIN, not before 0.8 s; then 64 KiB
#                       each way (guest 4 sends only once it has received), CRC-32s compared
#   timeo-to3 / timeo-from4  guest 4 -> CID 3 port 6403; the accepting end (guest 3) runs the
#                       SO_RCVTIMEO check here
CASE_VMS="3 4"
CASE_TIMEOUT=200

small="--seqpacket --max-msg 10000" big="--seqpacket --max-msg 200000"
# ME PEER ACCEPTS CONNECTS TRUNC_IN TRUNC_OUT TIMEO: the guest script of ME; ACCEPTS / CONNECTS the
# message options of the seqpacket connections it accepts / makes, TRUNC_IN / TRUNC_OUT the bytes
# of its truncation steps, TIMEO its part in the SO_RCVTIMEO steps.
guest_steps() {
    local me=$1 peer=$2 accepts=$3 connects=$4 trunc_in=$5 trunc_out=$6 timeo=$7
    cat <<GUEST
bg_step sp-from$peer vtool listen vsock:610$me $accepts --eor-every 5 --send 4M --expect 4M --seed ${me}00 --timeout 120
bg_step st-from$peer vtool listen vsock:620$me --send 4M --expect 4M --seed ${me}01 --timeout 120
gate go
bg_step sp-to$peer vtool connect vsock:$peer:610$peer $connects --eor-every 5 --send 4M --expect 4M --seed ${me}10 --timeout 120
step st-to$peer vtool connect vsock:$peer:620$peer --send 4M --expect 4M --seed ${me}11 --timeout 120
e2e_wait
bg_step trunc-from$peer vtool listen vsock:630$me $accepts --eor-every 3 --trunc-every 3 --expect $trunc_in --timeout 60
bg_step timeo-from$peer vtool listen vsock:640$me --seqpacket $timeo --send 64K --expect 64K --seed ${me}20 --timeout 60
gate two
bg_step trunc-to$peer vtool connect vsock:$peer:630$peer $connects --eor-every 3 --send $trunc_out --seed ${me}30 --timeout 60
step timeo-to$peer vtool connect vsock:$peer:640$peer --seqpacket $timeo --send 64K --expect 64K --seed ${me}40 --timeout 60
GUEST
}
guest_3() { guest_steps 3 4 "$big" "$small" 4M 1M "--rcvtimeo-test 1000"; }
guest_4() { guest_steps 4 3 "$small" "$big" 1M 4M "--order recv-first"; }

# Both guests' listeners of a round are up, then both gates open: the connections start together.
open_round() { # GATE CID:STEP...: the listener steps that must be READY first
    local gate=$1 l bad=0; shift
    for l in "$@"; do wait_guest "${l%%:*}" "^\[${l#*:}\] VT READY" || bad=1; done
    wait_guest 3 "^\[$gate\] VT READY" && wait_guest 4 "^\[$gate\] VT READY" || bad=1
    open_gate 3 "$gate" || bad=1
    open_gate 4 "$gate" || bad=1
    return $bad
}

host_side() {
    local bad=0
    open_round go 3:sp-from4 3:st-from4 4:sp-from3 4:st-from3 || bad=1
    open_round two 3:trunc-from4 3:timeo-from4 4:trunc-from3 4:timeo-from3 || bad=1
    wait_guest 3 '^E2E-RESULT' && wait_guest 4 '^E2E-RESULT' || bad=1
    crc_match_guests 3 sp-to4 4 sp-from3 || bad=1
    crc_match_guests 4 sp-to3 3 sp-from4 || bad=1
    crc_match_guests 3 st-to4 4 st-from3 || bad=1
    crc_match_guests 4 st-to3 3 st-from4 || bad=1
    crc_match_guests 3 timeo-to4 4 timeo-from3 || bad=1
    crc_match_guests 4 timeo-to3 3 timeo-from4 || bad=1
    return $bad
}
