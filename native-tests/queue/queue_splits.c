/*
 * queue_splits.c — tx chains of every shape through the device's tx queue.
 *
 * Every header split k = 0..44 x payload pieces 1..8 (and header-only packets), direct and
 * indirect, in one region and across regions (one buffer of every chain straddling a boundary
 * between GPA-adjacent regions that are not host-adjacent, so a device that reads across the
 * boundary hits a guard page), under four notification styles:
 *   (a) eventfd kick + call fd + the device's own thread (the driver sleeps on the call fd),
 *   (b) manual poll + vsn_queue_notify + interrupt_fn,
 *   (c) vsn_queue_notify from the driver thread + interrupt_fn + the device's own thread,
 *   (d) manual poll + eventfd kick + call fd.
 * Then 40000 header-only packets stream through with the ring kept full (refill as they come
 * back, a kick decision per chain): in thread mode the driver's kicks race the device's loop.
 * Checks: every chain is used exactly once with len 0; tx_packets / tx_payload_bytes equal what
 * was sent; tx_malformed is 0 until packets with a wrong hdr.len (and a short one, and one with
 * a device-writable buffer) are sent, then counts exactly those; the queue counters agree with
 * the driver's view (chains, bytes, used entries, interrupts) and rx/event stay untouched.
 */
#include "queue_util.h"
#include "vsn_check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define QSIZE 256u
#define STREAM_CHAINS 40000u
#define MAX_CHAINS (4096u + STREAM_CHAINS)

struct style {
    const char *name;
    uint32_t flags;
};

/* What the driver sent, to compare with the device's counters. */
struct sent {
    uint64_t chains, packets, payload, malformed, readable, writable;
    uint64_t len_lies; /* whole header, wrong hdr.len: still handed on (the muxer answers RST) */
};

struct run {
    const struct style *st;
    bool multi;
    vsn_sim_mem *mem;
    vsn_sd *sd;
    vsn_sim_queue *q;
    qu_ledger ledger;
    vsn_sim_mem_mark mark;
    uint32_t in_batch;
    uint32_t next_token;
    struct sent sent;
    int failures;
};

static void fail(struct run *r, const char *what, int rc)
{
    r->failures++;
    vsn_failed++;
    fprintf(stderr, "queue_splits [%s, %s]: %s: %d (%s)\n", r->st->name,
            r->multi ? "multi-region" : "single-region", what, rc, vsn_sd_strerror(rc));
}

/* Waits until every chain of the batch came back, then frees the batch's guest buffers. */
static void flush(struct run *r)
{
    uint32_t got = 0;
    if (r->in_batch == 0)
        return;
    int rc = vsn_sd_reap(r->sd, VSN_QUEUE_TX, r->in_batch, QU_TIMEOUT_MS, 0, qu_ledger_on_used,
                         &r->ledger, &got);
    if (rc != 0) {
        fprintf(stderr, "  reaped %u of %u chains of the batch\n", got, r->in_batch);
        fail(r, "waiting for the batch to come back used", rc);
    }
    r->in_batch = 0;
    vsn_sim_mem_mark_release(r->mem, &r->mark);
}

static bool out_of_room(int rc)
{
    return rc == VSN_SIM_E_NO_DESC || rc == VSN_SIM_E_NO_BOUNDARY || rc == VSN_SIM_E_NO_SPACE;
}

/* Adds one packet (flushing the batch when the ring or memory is full) and kicks. */
static void send(struct run *r, const vsn_sim_layout *lay, uint32_t payload, uint32_t hdr_len)
{
    uint16_t head;
    uint32_t token = r->next_token;
    if (token >= MAX_CHAINS) {
        fail(r, "too many chains for the ledger", VSN_SIM_E_ARG);
        return;
    }
    int rc = qu_add_packet(r->q, lay, payload, hdr_len, token, &head);
    if (out_of_room(rc) && r->in_batch > 0) {
        flush(r);
        rc = qu_add_packet(r->q, lay, payload, hdr_len, token, &head);
    }
    if (rc != 0) {
        fail(r, "adding a tx chain", rc);
        return;
    }
    r->next_token++;
    r->in_batch++;
    r->sent.chains++;
    r->sent.readable += QU_HDR + payload;
    if (hdr_len == payload) {
        r->sent.packets++;
        r->sent.payload += payload;
    } else {
        r->sent.malformed++;
        r->sent.len_lies++;
    }
    rc = vsn_sim_queue_kick(r->q);
    if (rc < 0)
        fail(r, "kick", rc);
}

/* Payload lengths per (k, pieces, indirect) shape: one byte per piece, up to ~1.5 KiB, and
 * 1.5 .. 3 KiB. */
#define PAYLOAD_VARIANTS 3u
static uint32_t payload_for(uint32_t variant, uint32_t k, uint32_t pieces, uint32_t ind)
{
    if (variant == 0)
        return pieces;
    if (variant == 1)
        return pieces + (k * 37u + pieces * 101u + ind * 13u) % 1500u;
    return 1500u + (k * 53u + pieces * 17u + ind * 7u) % 1500u;
}

static vsn_sim_layout layout_for(const struct run *r, uint32_t k, uint32_t pieces, uint32_t ind,
                                 uint32_t payload)
{
    vsn_sim_layout lay = { .hdr_split = k, .pieces = pieces,
                           .flags = ind ? VSN_SIM_F_INDIRECT : 0 };
    if (r->multi) {
        uint32_t lens[2 + 8];
        uint32_t n = qu_tx_desc_lens(k, payload, pieces, lens);
        lay.straddle_mask = qu_straddle_one(lens, n, r->next_token);
    }
    return lay;
}

/* Every split: k = 0..44 x pieces 1..8 x direct/indirect, plus header-only packets. */
static void send_all_splits(struct run *r)
{
    for (uint32_t ind = 0; ind < 2; ind++) {
        for (uint32_t k = 0; k <= QU_HDR; k++) {
            for (uint32_t pieces = 1; pieces <= 8; pieces++) {
                for (uint32_t v = 0; v < PAYLOAD_VARIANTS; v++) {
                    uint32_t payload = payload_for(v, k, pieces, ind);
                    vsn_sim_layout lay = layout_for(r, k, pieces, ind, payload);
                    send(r, &lay, payload, payload);
                }
            }
            vsn_sim_layout lay = layout_for(r, k, 1, ind, 0);
            send(r, &lay, 0, 0); /* header only */
        }
    }
    flush(r);
}

/* Streams n header-only packets with the ring kept full: refill as chains come back, kick
 * after every chain (the device decides through NO_NOTIFY / avail_event which kicks it gets).
 * In thread mode this races the driver's notifications against the device's loop; a lost
 * wake-up leaves chains available with nobody processing them and times the wait out. */
static void stream_packets(struct run *r, uint32_t n)
{
    struct vsn_virtio_vsock_hdr h;
    uint64_t gpa;
    vsn_sd_hdr(&h, QU_NULL_SRC_CID, 7, 8, 0, VSN_VIRTIO_VSOCK_OP_RW);
    int rc = vsn_sim_mem_alloc(r->mem, QU_HDR, 8, &gpa);
    if (rc == 0)
        rc = vsn_sim_mem_write(r->mem, gpa, &h, QU_HDR);
    if (rc != 0) {
        fail(r, "allocating the stream header", rc);
        return;
    }
    vsn_sim_buf buf = { gpa, QU_HDR, false };
    uint32_t added = 0, reaped = 0, in_flight = 0;
    while (reaped < n) {
        uint16_t head;
        while (added < n && vsn_sim_queue_add_bufs(r->q, &buf, 1, 0, r->next_token, &head) == 0) {
            r->next_token++, added++, in_flight++;
            r->sent.chains++, r->sent.packets++, r->sent.readable += QU_HDR;
            if ((rc = vsn_sim_queue_kick(r->q)) < 0) {
                fail(r, "stream kick", rc);
                return;
            }
        }
        uint32_t got = 0;
        rc = vsn_sd_reap(r->sd, VSN_QUEUE_TX, in_flight < 16 ? in_flight : 16, QU_TIMEOUT_MS, 0,
                         qu_ledger_on_used, &r->ledger, &got);
        reaped += got, in_flight -= got;
        if (rc != 0) {
            fprintf(stderr, "  stream: %u of %u chains came back\n", reaped, n);
            fail(r, "streaming", rc);
            return;
        }
    }
}

/* Packets the device must count as tx_malformed (still returned used with len 0). */
static void send_malformed(struct run *r)
{
    static const uint32_t ks[] = { 0, 1, 20, 43, 44 };
    for (uint32_t ind = 0; ind < 2; ind++) {
        for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
            uint32_t payload = 100 + (uint32_t)i;
            vsn_sim_layout lay = layout_for(r, ks[i], 3, ind, payload);
            send(r, &lay, payload, payload + 1);   /* hdr.len one more than follows */
            lay = layout_for(r, ks[i], 3, ind, payload);
            send(r, &lay, payload, payload - 1);   /* one less */
            lay = layout_for(r, ks[i], 2, ind, payload);
            send(r, &lay, payload, 0xffffffffu);   /* absurd */
            lay = layout_for(r, ks[i], 1, ind, 0);
            send(r, &lay, 0, 7);                   /* header only, but claims 7 bytes */
        }
    }
    flush(r);

    /* Shorter than a header: 20 readable bytes in all. */
    uint8_t shorty[20];
    memset(shorty, 0x11, sizeof shorty);
    vsn_sim_layout one = { .hdr_split = 20, .pieces = 1 };
    uint16_t head;
    int rc = vsn_sim_queue_add_tx(r->q, shorty, sizeof shorty, NULL, 0, &one, r->next_token, &head);
    if (rc != 0)
        fail(r, "adding a 20-byte chain", rc);
    else {
        r->next_token++, r->in_batch++, r->sent.chains++, r->sent.malformed++;
        r->sent.readable += sizeof shorty;
        (void)vsn_sim_queue_kick(r->q);
    }

    /* A good header and payload followed by a device-writable buffer: not a tx packet. */
    struct vsn_virtio_vsock_hdr h;
    vsn_sd_hdr(&h, QU_NULL_SRC_CID, 1, 2, 16, VSN_VIRTIO_VSOCK_OP_RW);
    uint64_t hdr_gpa, buf_gpa;
    rc = vsn_sim_mem_alloc(r->mem, QU_HDR, 8, &hdr_gpa);
    if (rc == 0)
        rc = vsn_sim_mem_write(r->mem, hdr_gpa, &h, QU_HDR);
    if (rc == 0)
        rc = vsn_sim_mem_alloc(r->mem, 32, 8, &buf_gpa);
    vsn_sim_buf bufs[3] = { { hdr_gpa, QU_HDR, false }, { buf_gpa, 16, false },
                            { buf_gpa + 16, 16, true } };
    if (rc == 0)
        rc = vsn_sim_queue_add_bufs(r->q, bufs, 3, 0, r->next_token, &head);
    if (rc != 0)
        fail(r, "adding a chain with a writable buffer", rc);
    else {
        r->next_token++, r->in_batch++, r->sent.chains++, r->sent.malformed++;
        r->sent.readable += QU_HDR + 16;
        r->sent.writable += 16;
        (void)vsn_sim_queue_kick(r->q);
    }
    flush(r);
}

static void check_counters(struct run *r)
{
    vsn_device_counter_values dc;
    vsn_queue_counter_values tx, rx, ev;
    uint32_t status = 0;
    CHECK_EQ(vsn_device_get_status(vsn_sd_device(r->sd), &status), 0);
    CHECK_EQ(status & VSN_DEVICE_STATUS_NEEDS_RESET, 0);
    /* Stopped, every interrupt the device decided on has been delivered. */
    CHECK_EQ(vsn_sd_stop(r->sd), 0);
    if (vsn_sd_device_counters(r->sd, &dc) != 0 ||
        vsn_sd_queue_counters(r->sd, VSN_QUEUE_TX, &tx) != 0 ||
        vsn_sd_queue_counters(r->sd, VSN_QUEUE_RX, &rx) != 0 ||
        vsn_sd_queue_counters(r->sd, VSN_QUEUE_EVENT, &ev) != 0) {
        fail(r, "reading counters", -EIO);
        return;
    }
    int before = vsn_failed;
    CHECK_EQ(dc.tx_packets, r->sent.packets);
    CHECK_EQ(dc.tx_payload_bytes, r->sent.payload);
    CHECK_EQ(dc.tx_malformed, r->sent.malformed);
    CHECK_EQ(dc.interrupt_errors, 0);
    vsn_connection_layer_counter_values cc;
    CHECK_EQ(vsn_sd_conn_counters(r->sd, &cc), 0);
    /* every good packet, and every one whose hdr.len lies, reached the consumer ... */
    CHECK_EQ(cc.spoofed, dc.tx_packets + r->sent.len_lies);
    CHECK_EQ(dc.rx_packets + dc.rx_bytes, 0);  /* ... which dropped it and sent nothing back */
    uint64_t irqs = vsn_sd_irqs(r->sd, VSN_QUEUE_TX);
    CHECK_EQ(dc.interrupts, irqs);
    CHECK_EQ(tx.interrupts_needed, irqs);
    CHECK(dc.interrupts >= 1);
    uint64_t kicks = 0; /* every queue's kicks: rx was kicked once when its buffers were posted */
    for (uint32_t i = 0; i < VSN_QUEUE_COUNT; i++)
        kicks += vsn_sd_kicks(r->sd, i);
    CHECK(kicks >= 2);
    if (r->st->flags & VSN_SD_F_KICK_FD)
        CHECK(dc.kicks >= 1 && dc.kicks <= kicks); /* eventfd writes coalesce */
    else
        CHECK_EQ(dc.kicks, kicks);                 /* one per vsn_queue_notify call */
    CHECK_EQ(vsn_sd_kick_error(r->sd, VSN_QUEUE_TX), 0);

    CHECK_EQ(tx.chains_popped, r->sent.chains);
    CHECK_EQ(tx.readable_bytes, r->sent.readable);
    CHECK_EQ(tx.writable_bytes, r->sent.writable);
    CHECK_EQ(tx.used_entries, r->sent.chains);
    CHECK_EQ(tx.used_bytes, 0);
    CHECK_EQ(tx.bad_chains, 0);
    CHECK_EQ(tx.queue_faults, 0);
    CHECK_EQ(rx.chains_popped + rx.used_entries + rx.bad_chains, 0);
    CHECK_EQ(ev.chains_popped + ev.used_entries + ev.bad_chains, 0);

    CHECK_EQ(r->ledger.reaped, r->sent.chains);
    CHECK_EQ(r->ledger.duplicates, 0);
    CHECK_EQ(r->ledger.unknown, 0);
    CHECK_EQ(r->ledger.wrong_len, 0);
    CHECK_EQ(qu_ledger_missing(&r->ledger, r->next_token), 0);
    vsn_sim_queue_stats qs;
    vsn_sim_queue_stats_get(r->q, &qs);
    CHECK_EQ(qs.in_flight, 0);
    CHECK_EQ(qs.free_descs, QSIZE);
    if (vsn_failed != before)
        r->failures++;
    printf("  %-48s %-13s chains %5llu  packets %5llu  malformed %3llu  kicks %5llu/%5llu sent  "
           "irqs %5llu\n",
           r->st->name, r->multi ? "multi-region" : "single-region",
           (unsigned long long)r->sent.chains, (unsigned long long)dc.tx_packets,
           (unsigned long long)dc.tx_malformed, (unsigned long long)dc.kicks,
           (unsigned long long)kicks, (unsigned long long)irqs);
}

static void run_one(const struct style *st, bool multi)
{
    struct run r;
    memset(&r, 0, sizeof r);
    r.st = st;
    r.multi = multi;
    int rc = multi ? qu_mem_multi(&r.mem) : qu_mem_single(&r.mem);
    vsn_sd_config cfg = vsn_sd_config_default(st->flags);
    vsn_sim_queue *rxq = NULL, *evq = NULL;
    if (rc == 0)
        rc = qu_ledger_init(&r.ledger, MAX_CHAINS);
    if (rc == 0)
        rc = vsn_sd_create(&cfg, r.mem, NULL, 0, &r.sd);
    if (rc == 0)
        rc = vsn_sd_add_queue(r.sd, VSN_QUEUE_RX, 64, &rxq);
    if (rc == 0)
        rc = vsn_sd_add_queue(r.sd, VSN_QUEUE_TX, QSIZE, &r.q);
    if (rc == 0)
        rc = vsn_sd_add_queue(r.sd, VSN_QUEUE_EVENT, 8, &evq);
    if (rc == 0)
        rc = vsn_sd_start(r.sd);
    if (rc != 0) {
        fail(&r, "setting up", rc);
    } else {
        /* rx buffers posted, as a driver does; the device has nothing to send yet */
        vsn_sim_layout rx_lay = { .pieces = 1 };
        uint16_t head;
        for (int i = 0; i < 4 && rc == 0; i++)
            rc = vsn_sim_queue_add_rx(rxq, 4096, &rx_lay, 1000000 + (uint64_t)i, &head);
        if (rc == 0)
            rc = vsn_sim_queue_kick(rxq) < 0 ? -EIO : 0;
        if (rc != 0)
            fail(&r, "posting rx buffers", rc);
        vsn_sim_mem_mark_get(r.mem, &r.mark);
        send_all_splits(&r);
        stream_packets(&r, STREAM_CHAINS);
        uint64_t malformed_before = r.sent.malformed;
        CHECK_EQ(malformed_before, 0);
        send_malformed(&r);
        check_counters(&r);
        CHECK_EQ(vsn_sim_queue_used_pending(rxq), 0); /* rx buffers not touched */
    }
    vsn_sd_destroy(&r.sd);
    qu_ledger_free(&r.ledger);
    vsn_sim_mem_destroy(&r.mem);
}

/* Case names: the style's letter, then the memory (one region or several). */
static const char *const CASES[] = {
    "a_thread_kick_call_single",   "a_thread_kick_call_multi",
    "b_manual_notify_irqfn_single", "b_manual_notify_irqfn_multi",
    "c_thread_notify_irqfn_single", "c_thread_notify_irqfn_multi",
    "d_manual_kick_call_single",   "d_manual_kick_call_multi",
};

int main(int argc, char **argv)
{
    VSN_CASES_INIT(argc, argv, CASES);
    static const struct style styles[] = {
        { "(a) eventfd kick + call fd + device thread",
          VSN_SD_F_THREAD | VSN_SD_F_KICK_FD | VSN_SD_F_CALL_FD },
        { "(b) manual poll + vsn_queue_notify + interrupt_fn", 0 },
        { "(c) vsn_queue_notify + interrupt_fn + device thread", VSN_SD_F_THREAD },
        { "(d) manual poll + eventfd kick + call fd", VSN_SD_F_KICK_FD | VSN_SD_F_CALL_FD },
    };
    for (size_t i = 0; i < sizeof styles / sizeof styles[0]; i++) {
        if (vsn_case(CASES[2 * i]))
            run_one(&styles[i], false);
        if (vsn_case(CASES[2 * i + 1]))
            run_one(&styles[i], true);
    }
    return vsn_check_summary("queue_splits");
}
