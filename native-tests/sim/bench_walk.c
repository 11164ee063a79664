/*
 * bench_walk.c — chains/second of the reference C walker (ring_walk.c) over the same rings the
 * driver simulator builds: the baseline "a C loop that only walks the ring".
 *
 * usage: bench_walk [chains per shape]   (default 500000)
 *
 * For each chain shape the simulator fills a 256-entry queue, then only the walker loop
 * (pop -> walk descriptors -> push, one flush per batch) is timed; refilling and reaping are
 * driver work and stay outside the clock.  Payload bytes are never touched.
 */
#include "ring_walk.h"
#include "vsn_sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QSIZE 256u
#define HDR 44u

struct shape {
    const char *name;
    uint32_t hdr_split, pieces, payload;
    uint32_t flags;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int setup(vsn_sim_mem **mem, vsn_sim_queue **q, vsn_rw *w)
{
    static const vsn_sim_region_spec spec[] = { { 0x100000, 16u << 20 } };
    vsn_sim_mem_config mc = { sizeof(mc), 1, spec, 0, 0, NULL };
    vsn_sim_queue_config qc = { sizeof(qc), QSIZE, 0,
                                VSN_SIM_FEAT(VIRTIO_RING_F_EVENT_IDX) |
                                    VSN_SIM_FEAT(VIRTIO_RING_F_INDIRECT_DESC),
                                NULL, NULL };
    int rc = vsn_sim_mem_create(&mc, mem);
    if (rc == 0)
        rc = vsn_sim_queue_create(*mem, &qc, q);
    if (rc != 0)
        return rc;
    const vsn_sim_region *reg = vsn_sim_mem_regions(*mem, NULL);
    vsn_rw_region rr = { reg[0].gpa, reg[0].size, reg[0].hva };
    vsn_sim_queue_layout lay;
    vsn_sim_queue_layout_get(*q, &lay);
    vsn_rw_config wc = { sizeof(wc), QSIZE, lay.features, lay.desc_gpa, lay.avail_gpa,
                         lay.used_gpa, &rr, 1 };
    return vsn_rw_init(w, &wc);
}

/* Fills the queue with up to n chains of the given shape; returns how many. */
static uint32_t fill(vsn_sim_queue *q, const struct shape *s, uint32_t n, const uint8_t *data)
{
    vsn_sim_layout lay = { .hdr_split = s->hdr_split, .pieces = s->pieces, .flags = s->flags };
    uint32_t added = 0;
    uint16_t head;
    while (added < n &&
           vsn_sim_queue_add_tx(q, data, HDR, data + HDR, s->payload, &lay, added, &head) == 0)
        added++;
    (void)vsn_sim_queue_kick(q);
    return added;
}

/* The timed part: walk everything available. */
static uint64_t walk(vsn_rw *w, vsn_rw_chain *c)
{
    uint64_t n = 0;
    while (vsn_rw_pop(w, c) == 1) {
        (void)vsn_rw_push(w, c->head, 0);
        n++;
    }
    bool irq;
    vsn_rw_flush(w, &irq);
    return n;
}

static int run(const struct shape *s, uint64_t total)
{
    vsn_sim_mem *mem = NULL;
    vsn_sim_queue *q = NULL;
    vsn_rw w;
    vsn_rw_seg segs[64];
    vsn_rw_chain c = { .segs = segs, .cap = 64 };
    uint8_t data[HDR + 4096];
    vsn_sim_mem_mark mark;
    vsn_sim_used u;
    memset(data, 0x42, sizeof(data));
    int rc = setup(&mem, &q, &w);
    if (rc != 0) {
        fprintf(stderr, "bench_walk: setup failed: %d\n", rc);
        return 1;
    }
    vsn_sim_mem_mark_get(mem, &mark);
    uint64_t done = 0;
    double spent = 0;
    while (done < total) {
        uint32_t want = total - done < QSIZE ? (uint32_t)(total - done) : QSIZE;
        uint32_t got = fill(q, s, want, data);
        double t0 = now();
        uint64_t walked = walk(&w, &c);
        spent += now() - t0;
        if (walked != got || got == 0) {
            fprintf(stderr, "bench_walk: walked %llu of %u\n", (unsigned long long)walked, got);
            return 1;
        }
        while (vsn_sim_queue_reap(q, &u, NULL, 0) == 1)
            ;
        vsn_sim_mem_mark_release(mem, &mark);
        done += got;
    }
    printf("bench_walk: %-36s %9llu chains  %7.3f s  %12.0f chains/s  (%.1f ns/chain)\n",
           s->name, (unsigned long long)done, spent, (double)done / spent, spent * 1e9 / (double)done);
    vsn_sim_queue_destroy(&q);
    vsn_sim_mem_destroy(&mem);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct shape shapes[] = {
        { "direct 2 desc (hdr | 1 KiB)", HDR, 1, 1024, 0 },
        { "direct 6 desc (hdr 20+24 | 4x256)", 20, 4, 1024, 0 },
        { "indirect 6 desc (hdr 20+24 | 4x256)", 20, 4, 1024, VSN_SIM_F_INDIRECT },
    };
    uint64_t total = 500000;
    if (argc > 1) {
        char *end;
        total = strtoull(argv[1], &end, 10);
        if (*end != '\0' || total == 0) {
            fprintf(stderr, "usage: %s [chains per shape]\n", argv[0]);
            return 2;
        }
    }
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        if (run(&shapes[i], total) != 0)
            return 1;
    return 0;
}
