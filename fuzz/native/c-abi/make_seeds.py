#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz_c_abi (corpus/seed-*) in the harness's input encoding
(abi_fuzz.c): a guest connecting to a host listener and moving data both ways with credit, a host
connecting into the guest, seqpacket and datagrams, TRANSPORT_RESET with an event buffer, stop and
start, reset and set up again. Run from this directory after changing the encoding."""
import struct

OP = dict(tx=0, rx=1, bad_chain=2, raw_ring=3, kick=4, poll=5, host_io=6, listen=7, connect=8,
          stop_start=9, reset=10, transport_reset=11, getters=12, bad_args=13, create=14, router=15,
          requeue=16, snapshot=23)
REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST = range(0, 7)  # op byte: 1 + b % 7


def prologue(regions=0x04, device=0x01, features=0x31, qsizes=0x44):
    return bytes([regions, device, features, qsizes])


def tx(mode, op, payload=b"", typ=None, flags=None, recent=None):
    """op_tx's reads: queue, mode, op, payload, [recent], [type], raw, [flags], layout."""
    out = bytes([OP["tx"], 0, mode, op]) + struct.pack("<H", len(payload)) + payload
    if mode & 0x80:
        out += bytes([recent or 0])
    if mode & 0x40:
        out += bytes([typ])
    out += bytes([0])  # coherent header
    if flags is not None:
        out += bytes([flags])
    if mode & 0x20:
        out += bytes([0])  # to the host (not the sibling CID 4)
    return out + bytes([0])  # layout: header alone, one payload piece


def rx(n=1, lens=3, queue=0):
    """op_rx's reads: queue, count and length, layout."""
    return bytes([OP["rx"], queue, lens | ((n - 1) << 3), 0])


def kick_poll(q=1):
    return bytes([OP["kick"], q, OP["poll"], 0])


def host_write(data, fd=0):
    return bytes([OP["host_io"], fd]) + struct.pack("<H", len(data)) + data


seeds = {
    # listen on 1024; the guest (port 5000) connects, both sides write, shut down, reset
    "guest-connects": prologue() + bytes([OP["listen"], 0, 0]) + rx(3) + tx(0x02, REQUEST) + kick_poll()
        + host_write(b"hello host side") + bytes([OP["poll"], 0]) + tx(0x02, RW, b"from the guest") + kick_poll()
        + bytes([OP["host_io"], 0x10]) + tx(0x02, CREDIT_REQUEST) + kick_poll() + tx(0x02, SHUTDOWN, flags=3)
        + kick_poll() + tx(0x02, RST) + kick_poll(),
    # a guest with 4 KiB of buffer (mode 0x20): the host writes more; the device stops at the credit
    # until the guest's CREDIT_UPDATE
    "credit": prologue() + bytes([OP["listen"], 4, 0]) + rx(4, lens=3) + rx(4, lens=3) + tx(0x22, REQUEST) + kick_poll()
        + host_write(b"a" * 2000) + host_write(b"b" * 2000) + host_write(b"c" * 2000) + bytes([OP["poll"], 0])
        + tx(0x22, CREDIT_UPDATE) + kick_poll() + bytes([OP["poll"], 0]) + tx(0x22, CREDIT_UPDATE) + kick_poll(),
    # the host connects to guest port 5000; the guest answers the REQUEST it received
    "host-connects": prologue() + rx(4) + bytes([OP["connect"], 2, 0, OP["poll"], 0])
        + tx(0x80, RESPONSE, recent=0) + kick_poll()
        + host_write(b"x" * 300) + bytes([OP["poll"], 0]) + rx(2) + kick_poll(0) + bytes([OP["getters"], 2, 4]),
    # seqpacket (feature bit 1) with EOM/EOR, and datagrams (bit 3) on the shared queues
    "seqpacket-dgram": prologue(features=0x3b) + bytes([OP["listen"], 0, 1]) + rx(4)
        + tx(0x42, REQUEST, typ=1) + kick_poll() + tx(0x42, RW, b"message", typ=1, flags=3)
        + kick_poll() + bytes([OP["listen"], 1, 2]) + tx(0x4a, RW, b"datagram", typ=2) + kick_poll(),
    # event buffers, TRANSPORT_RESET, stop/start with bases, reset and set up again
    "lifecycle": prologue(device=0x05) + rx(2, lens=0, queue=2) + rx(2) + bytes([OP["transport_reset"], OP["poll"], 0])
        + bytes([OP["stop_start"], 1, OP["stop_start"], 0]) + bytes([OP["reset"], 1, 0x22]) + rx(1) + kick_poll(0)
        + bytes([OP["create"], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    # malformed chains of every class, then bad arguments
    "hostile": prologue(regions=0x05) + b"".join(bytes([OP["bad_chain"], k & 1, 0, k]) for k in range(14))
        + kick_poll() + b"".join(bytes([OP["bad_args"], k, 0, 0, 1]) for k in range(40)),
    # a connection open, the device stopped and saved; its blob restored into a new device whole, cut at
    # 200 bytes with two bytes overwritten, and without a memory table; then started again
    "snapshot": prologue() + bytes([OP["listen"], 0, 0]) + rx(3) + tx(0x02, REQUEST) + kick_poll()
        + bytes([OP["stop_start"], 0, OP["snapshot"], 0, OP["snapshot"], 3]) + struct.pack("<H", 200) + bytes([1])
        + struct.pack("<HB", 5, 0x41) + struct.pack("<HB", 40, 0x7f) + bytes([OP["snapshot"], 4, OP["stop_start"], 0])
        + kick_poll(),
    # five queues (separate datagram layout), router and a sibling connecting in
    "five-queues-router": prologue(device=0x09, features=0x39) + rx(2) + bytes([OP["router"], 0x04 | 0x40])
        + kick_poll(0) + tx(0x02, REQUEST) + kick_poll(),
}
for name, data in seeds.items():
    with open(f"corpus/seed-{name}", "wb") as f:
        f.write(data)
