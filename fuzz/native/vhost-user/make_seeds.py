#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_vhost_user (corpus/seed-*) and its dictionary (vhost_user.dict:
every message the seeds contain): frontend sessions in the harness's
input encoding (vu_fuzz.c): QEMU's handshake up to a running device, then kicks, ring writes,
GET_VRING_BASE, resets. Run from this directory after changing the encoding."""
import struct

REQ = {name: i for i, name in enumerate(
    "GET_FEATURES SET_FEATURES SET_OWNER RESET_OWNER SET_MEM_TABLE SET_LOG_BASE SET_LOG_FD "
    "SET_VRING_NUM SET_VRING_ADDR SET_VRING_BASE GET_VRING_BASE SET_VRING_KICK SET_VRING_CALL "
    "SET_VRING_ERR GET_PROTOCOL_FEATURES SET_PROTOCOL_FEATURES GET_QUEUE_NUM SET_VRING_ENABLE "
    "GET_CONFIG SET_CONFIG RESET_DEVICE".split())}
END = bytes([0, 0])  # no extra fds, size as built


TOKENS = set()


def msg(req, kind=0, body=b"", need_reply=False):
    out = bytes([0, REQ[req], 1 if need_reply else 0, kind]) + body + END
    TOKENS.add(out)
    return out


def ring(index, num_v=8, fresh_fds=True):
    """NUM 256, ADDR desc/used/avail at 0/8192/4096 + 0x4000*index of region 0, BASE 0, KICK, CALL."""
    base = 0x2000 * index  # u16 offsets are doubled by the harness
    out = msg("SET_VRING_NUM", kind=index, body=bytes([num_v]))
    out += msg("SET_VRING_ADDR", body=bytes([index]) + bytes([0]) + struct.pack("<H", base)
               + bytes([0]) + struct.pack("<H", base + 4096) + bytes([0]) + struct.pack("<H", base + 2048))
    out += msg("SET_VRING_BASE", kind=index, body=bytes([119]))  # base 0
    out += msg("SET_VRING_KICK", body=bytes([index, 0 if fresh_fds else 0x80 | index]))
    out += msg("SET_VRING_CALL", body=bytes([index, 0]))
    return out


def handshake(protocol=True, enable=True):
    out = msg("GET_FEATURES")
    out += msg("SET_OWNER")
    out += msg("SET_FEATURES", kind=1, body=bytes([0x31 if protocol else 0x31]))
    if protocol:
        out += msg("GET_PROTOCOL_FEATURES")
        out += msg("SET_PROTOCOL_FEATURES", kind=1, body=bytes([0x81]))  # REPLY_ACK, CONFIG, RESET
    out += msg("SET_MEM_TABLE", body=bytes([1, 0x03, 0x00]))  # one 64 KiB sealable memfd
    out += ring(0) + ring(1)
    if protocol and enable:
        out += msg("SET_VRING_ENABLE", kind=0, body=bytes([0])) + msg("SET_VRING_ENABLE", kind=1, body=bytes([0]))
    return out


def poke(memfd, off, data):
    return bytes([220, memfd]) + struct.pack("<H", off // 2) + bytes([len(data)]) + data


def kick(i):
    return bytes([200, i])


seeds = {
    "handshake": handshake(),
    "handshake-noproto": handshake(protocol=False),
    "handshake-kick": handshake() + poke(0, 0x1000 + 2, struct.pack("<H", 1)) + kick(1) + kick(0),
    "handshake-getbase": handshake() + msg("GET_VRING_BASE", kind=0, body=bytes([0])) + msg("GET_VRING_BASE", kind=1, body=bytes([0]))
        + ring(0, fresh_fds=False),
    "handshake-reset": handshake() + msg("RESET_DEVICE", need_reply=True) + handshake(),
    "config": msg("GET_CONFIG", body=bytes([0, 8])) + msg("GET_QUEUE_NUM"),
    "needs-reset": handshake() + msg("SET_VRING_ERR", body=bytes([1, 0])) + bytes([240, 241]),
    "truncated": msg("GET_FEATURES") + bytes([192, REQ["SET_MEM_TABLE"], 0, 0, 1, 0x03, 0x00, 0, 0, 30]),
}
for name, data in seeds.items():
    with open(f"corpus/seed-{name}", "wb") as f:
        f.write(data)
with open("vhost_user.dict", "w") as f:
    f.write("# fuzz_vhost_user: whole messages in the harness's encoding (written by make_seeds.py)\n")
    for i, t in enumerate(sorted(TOKENS)):
        f.write("msg%d=\"%s\"\n" % (i, "".join("\\x%02x" % b for b in t)))
