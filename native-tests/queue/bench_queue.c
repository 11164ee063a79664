/*
 * bench_queue.c — chains/second of the device's tx path with a null consumer, next to the
 * reference C ring walker (native-tests/sim/ring_walk.c) walking the same ring shapes in the
 * same run.  Prints a table; asserts no timing (ctest bench_queue_smoke only checks it completes).
 *
 * usage: bench_queue [chains per row]   (default 1000000: about 3 s in all)
 *
 * Manual rows: the device in manual-poll mode, kicks through vsn_queue_notify, interrupts
 * through a counting interrupt_fn, a 256-entry queue with EVENT_IDX and INDIRECT_DESC.  The
 * driver fills the ring to the brim, kicks, and only vsn_device_poll() is timed (the device pops
 * every chain, reads its 44-byte header once, checks hdr.len, pushes it used with len 0 and
 * decides the interrupt); reaping and refilling are driver work and stay outside the clock, as
 * in bench_walk.  The walker column times pop -> push -> flush over identically built rings.
 * Tx buffers are built once and shared by every chain (they are device-readable only), so the
 * only per-chain guest allocation is an indirect table.
 *
 * With VSN_BENCH_ROWS=1 the rows ring_direct2 (the first shape) and ring_indirect6 (the third)
 * also go out as @row lines (vsn_bench_row.h), counters taken after the first ring-full.
 * VSN_BENCH_ONLY=ring_direct2|ring_indirect6 runs that row's device side alone (no walker, no other
 * row) and VSN_BENCH_PERF_CTL brackets its measured part for perf (profile.sh): the driver's
 * fill and reap stay inside that bracket (they interleave with the polls), in this program's code.
 *
 * Thread rows: the device on its own event-loop thread, the driver on this thread keeping the
 * ring full (refill as it reaps, kick when the device asks, sleep on the interrupt when nothing
 * came back).  These are end-to-end figures: driver work and wake-ups included.
 */
#include "ring_walk.h"
#include "sim_device.h"
#include "vsn_bench_row.h"

#include <endian.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QSIZE 256u
#define HDR 44u
#define PAYLOAD 1024u
#define MEM_SIZE (64u << 20)
/* not the guest's CID (3): the connection layer drops each packet at its first check (counted
 * as spoofed) and sends nothing back, so the device has a null consumer */
#define NULL_SRC_CID 0x5eedull

struct shape {
    const char *name;
    uint32_t hdr_split, pieces;
    uint32_t flags;
};

static const struct shape shapes[] = {
    { "direct 2 desc (hdr | 1 KiB)", HDR, 1, 0 },
    { "direct 6 desc (hdr 20+24 | 4x256)", 20, 4, 0 },
    { "indirect 6 desc (hdr 20+24 | 4x256)", 20, 4, VSN_SIM_F_INDIRECT },
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int die(const char *what, int rc)
{
    fprintf(stderr, "bench_queue: %s: %d (%s)\n", what, rc, vsn_sd_strerror(rc));
    return 1;
}

static int make_mem(vsn_sim_mem **mem)
{
    static const vsn_sim_region_spec spec[] = { { 0x100000, MEM_SIZE } };
    vsn_sim_mem_config mc = { sizeof mc, 1, spec, 0, 0, NULL };
    return vsn_sim_mem_create(&mc, mem);
}

/* One packet (header + payload) in guest memory, cut into a shape's buffers. */
struct packet {
    vsn_sim_buf bufs[8];
    uint32_t n;
};

static int make_packet(vsn_sim_mem *mem, const struct shape *s, struct packet *p)
{
    uint8_t data[HDR + PAYLOAD];
    struct vsn_virtio_vsock_hdr h;
    uint64_t gpa;
    vsn_sd_hdr(&h, NULL_SRC_CID, 1024, 5000, PAYLOAD, VSN_VIRTIO_VSOCK_OP_RW);
    memcpy(data, &h, HDR);
    memset(data + HDR, 0x42, PAYLOAD);
    int rc = vsn_sim_mem_alloc(mem, sizeof data, 64, &gpa);
    if (rc == 0)
        rc = vsn_sim_mem_write(mem, gpa, data, sizeof data);
    if (rc != 0)
        return rc;
    p->n = 0;
    uint64_t at = gpa;
    if (s->hdr_split < HDR) {
        p->bufs[p->n++] = (vsn_sim_buf){ at, s->hdr_split, false };
        at += s->hdr_split;
    }
    p->bufs[p->n++] = (vsn_sim_buf){ at, HDR - (s->hdr_split < HDR ? s->hdr_split : 0), false };
    at = gpa + HDR;
    for (uint32_t i = 0; i < s->pieces; i++) {
        p->bufs[p->n++] = (vsn_sim_buf){ at, PAYLOAD / s->pieces, false };
        at += PAYLOAD / s->pieces;
    }
    return 0;
}

/* Adds chains of the packet until the ring (or n) is full; returns how many. */
static uint32_t fill(vsn_sim_queue *q, const struct packet *p, uint32_t flags, uint32_t n)
{
    uint32_t added = 0;
    uint16_t head;
    while (added < n && vsn_sim_queue_add_bufs(q, p->bufs, p->n, flags, added, &head) == 0)
        added++;
    return added;
}

static uint32_t reap_all(vsn_sim_queue *q)
{
    vsn_sim_used u;
    uint32_t n = 0;
    while (vsn_sim_queue_reap(q, &u, NULL, 0) == 1)
        n++;
    return n;
}

/* ---- the device, manual poll -------------------------------------------------------------- */

static vsn_bench_snap g_snap[2]; /* the last bench_device run: after its first ring-full, at its end */

static int bench_device(const struct shape *s, uint64_t total, double *rate)
{
    vsn_sim_mem *mem = NULL;
    vsn_sd *sd = NULL;
    vsn_sim_queue *q = NULL;
    struct packet p;
    vsn_sim_mem_mark mark;
    vsn_sd_config cfg = vsn_sd_config_default(0);
    int rc = make_mem(&mem);
    if (rc == 0)
        rc = vsn_sd_create(&cfg, mem, NULL, 0, &sd);
    if (rc == 0)
        rc = vsn_sd_add_queue(sd, VSN_QUEUE_TX, QSIZE, &q);
    if (rc == 0)
        rc = vsn_sd_start(sd);
    if (rc == 0)
        rc = make_packet(mem, s, &p);
    if (rc != 0) {
        vsn_sd_destroy(&sd);
        vsn_sim_mem_destroy(&mem);
        return die("device setup", rc);
    }
    vsn_sim_mem_mark_get(mem, &mark);
    uint64_t done = 0, warm = 0;
    double spent = 0;
    while (done < total && rc == 0) {
        uint64_t left = total - done;
        uint32_t got = fill(q, &p, s->flags, left < QSIZE ? (uint32_t)left : QSIZE);
        if (got == 0 || vsn_sim_queue_kick(q) < 0) {
            rc = -EIO;
            break;
        }
        double t0 = now();
        while (vsn_sim_queue_used_pending(q) < got)
            if ((rc = vsn_device_poll(vsn_sd_device(sd), 1000)) <= 0) {
                rc = rc == 0 ? -ETIMEDOUT : rc;
                break;
            }
        spent += now() - t0;
        if (rc > 0)
            rc = 0;
        if (reap_all(q) != got)
            rc = -EIO;
        vsn_sim_mem_mark_release(mem, &mark);
        if (done == 0) {
            vsn_bench_perf(true);
            vsn_bench_snap1(&g_snap[0], vsn_sd_device(sd));
            spent = 0;
            warm = got;
            total += got; /* the first ring-full was the warm-up */
        }
        done += got;
    }
    vsn_bench_snap1(&g_snap[1], vsn_sd_device(sd));
    vsn_bench_perf(false);
    done -= warm;
    vsn_device_counter_values dc;
    if (rc == 0 && (vsn_sd_device_counters(sd, &dc) != 0 || dc.tx_packets != total))
        rc = -EIO; /* sanity: every chain was a well-formed packet */
    vsn_sd_destroy(&sd);
    vsn_sim_mem_destroy(&mem);
    if (rc != 0)
        return die("device run", rc);
    *rate = (double)done / spent;
    return 0;
}

/* ---- the reference walker ---------------------------------------------------------------- */

static int bench_walker(const struct shape *s, uint64_t total, double *rate)
{
    vsn_sim_mem *mem = NULL;
    vsn_sim_queue *q = NULL;
    vsn_sim_queue_config qc = { sizeof qc, QSIZE, VSN_QUEUE_TX,
                                VSN_SIM_FEAT(VIRTIO_RING_F_EVENT_IDX) |
                                    VSN_SIM_FEAT(VIRTIO_RING_F_INDIRECT_DESC),
                                NULL, NULL };
    static vsn_rw w;
    vsn_rw_seg segs[64];
    vsn_rw_chain c = { .segs = segs, .cap = 64 };
    struct packet p;
    vsn_sim_mem_mark mark;
    int rc = make_mem(&mem);
    if (rc == 0)
        rc = vsn_sim_queue_create(mem, &qc, &q);
    if (rc == 0)
        rc = make_packet(mem, s, &p);
    if (rc == 0) {
        const vsn_sim_region *reg = vsn_sim_mem_regions(mem, NULL);
        vsn_rw_region rr = { reg[0].gpa, reg[0].size, reg[0].hva };
        vsn_sim_queue_layout lay;
        vsn_sim_queue_layout_get(q, &lay);
        vsn_rw_config wc = { sizeof wc, QSIZE, lay.features, lay.desc_gpa, lay.avail_gpa,
                             lay.used_gpa, &rr, 1 };
        rc = vsn_rw_init(&w, &wc);
    }
    if (rc != 0) {
        vsn_sim_queue_destroy(&q);
        vsn_sim_mem_destroy(&mem);
        return die("walker setup", rc);
    }
    vsn_sim_mem_mark_get(mem, &mark);
    uint64_t done = 0;
    double spent = 0;
    while (done < total) {
        uint64_t left = total - done;
        uint32_t got = fill(q, &p, s->flags, left < QSIZE ? (uint32_t)left : QSIZE);
        (void)vsn_sim_queue_kick(q);
        double t0 = now();
        uint32_t walked = 0;
        while (vsn_rw_pop(&w, &c) == 1) {
            (void)vsn_rw_push(&w, c.head, 0);
            walked++;
        }
        bool irq;
        vsn_rw_flush(&w, &irq);
        spent += now() - t0;
        if (walked != got || got == 0 || reap_all(q) != got) {
            rc = -EIO;
            break;
        }
        vsn_sim_mem_mark_release(mem, &mark);
        done += got;
    }
    vsn_sim_queue_destroy(&q);
    vsn_sim_mem_destroy(&mem);
    if (rc != 0)
        return die("walker run", rc);
    *rate = (double)done / spent;
    return 0;
}

/* ---- the device on its own thread, end to end --------------------------------------------- */

static int bench_thread(uint32_t flags, uint64_t total, double *rate, uint64_t *kicks,
                        uint64_t *irqs)
{
    vsn_sim_mem *mem = NULL;
    vsn_sd *sd = NULL;
    vsn_sim_queue *q = NULL;
    struct packet p;
    vsn_sd_config cfg = vsn_sd_config_default(VSN_SD_F_THREAD | flags);
    int rc = make_mem(&mem);
    if (rc == 0)
        rc = vsn_sd_create(&cfg, mem, NULL, 0, &sd);
    if (rc == 0)
        rc = vsn_sd_add_queue(sd, VSN_QUEUE_TX, QSIZE, &q);
    if (rc == 0)
        rc = make_packet(mem, &shapes[0], &p);
    if (rc == 0)
        rc = vsn_sd_start(sd);
    if (rc != 0) {
        vsn_sd_destroy(&sd);
        vsn_sim_mem_destroy(&mem);
        return die("thread setup", rc);
    }
    uint64_t added = 0, reaped = 0;
    double t0 = now();
    while (reaped < total) {
        uint64_t room = total - added;
        if (room > 0) {
            added += fill(q, &p, 0, room < QSIZE ? (uint32_t)room : QSIZE);
            if (vsn_sim_queue_kick(q) < 0) {
                rc = -EIO;
                break;
            }
        }
        uint32_t n = reap_all(q);
        reaped += n;
        if (n > 0 || reaped == total)
            continue;
        vsn_sim_queue_disable_interrupts(q);
        if (vsn_sim_queue_enable_interrupts(q) == 0 &&
            vsn_sd_progress(sd, VSN_QUEUE_TX, 2000) == 0 && vsn_sim_queue_used_pending(q) == 0) {
            fprintf(stderr, "bench_queue: no progress for 2 s (%llu of %llu reaped)\n",
                    (unsigned long long)reaped, (unsigned long long)total);
            rc = -ETIMEDOUT;
            break;
        }
        vsn_sim_queue_disable_interrupts(q);
    }
    double spent = now() - t0;
    *kicks = vsn_sd_kicks(sd, VSN_QUEUE_TX);
    *irqs = vsn_sd_irqs(sd, VSN_QUEUE_TX);
    vsn_sd_destroy(&sd);
    vsn_sim_mem_destroy(&mem);
    if (rc != 0)
        return die("thread run", rc);
    *rate = (double)total / spent;
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t total = 1000000;
    if (argc > 1) {
        char *end;
        total = strtoull(argv[1], &end, 10);
        if (*end != '\0' || total == 0) {
            fprintf(stderr, "usage: %s [chains per row]\n", argv[0]);
            return 2;
        }
    }
    static const char *const rows[] = { "ring_direct2", "ring_indirect6" };
    vsn_bench_only_check("bench_queue", rows, 2);
    printf("bench_queue: %llu chains per row, queue size %u, EVENT_IDX + INDIRECT_DESC, "
           "null consumer\n\n", (unsigned long long)total, QSIZE);
    printf("%-38s %14s %9s %14s %9s %12s\n", "manual poll + vsn_queue_notify", "device ch/s",
           "ns/chain", "walker ch/s", "ns/chain", "device/walker");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        double dev, walk = NAN;
        if (vsn_bench_only() != NULL && (i == 1 || !vsn_bench_wants(rows[i / 2])))
            continue;
        if (bench_device(&shapes[i], total, &dev) != 0 ||
            (vsn_bench_baselines() && bench_walker(&shapes[i], total, &walk) != 0))
            return 1;
        printf("%-38s %14.0f %9.1f %14.0f %9.1f %12.2f\n", shapes[i].name, dev, 1e9 / dev, walk,
               1e9 / walk, dev / walk);
        if (i != 1)
            vsn_bench_row(rows[i / 2], dev, walk, "chains/s", vsn_bench_ratio(dev, walk),
                          &g_snap[0], &g_snap[1], "\"ns_per_chain\":%.1f,\"walker_ns_per_chain\":%.1f",
                          1e9 / dev, 1e9 / walk);
    }
    if (!vsn_bench_baselines())
        return 0; /* one row alone: no thread rows */
    static const struct {
        const char *name;
        uint32_t flags;
    } threads[] = {
        { "eventfd kick + call fd", VSN_SD_F_KICK_FD | VSN_SD_F_CALL_FD },
        { "vsn_queue_notify + interrupt_fn", 0 },
    };
    printf("\n%-38s %14s %9s %12s %12s\n", "device thread, end to end (direct 2)", "chains/s",
           "ns/chain", "kicks sent", "interrupts");
    for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++) {
        double rate;
        uint64_t kicks, irqs;
        if (bench_thread(threads[i].flags, total, &rate, &kicks, &irqs) != 0)
            return 1;
        printf("%-38s %14.0f %9.1f %12llu %12llu\n", threads[i].name, rate, 1e9 / rate,
               (unsigned long long)kicks, (unsigned long long)irqs);
    }
    return 0;
}
