/*
 * queue_malformed.c — what a hostile guest can put in the tx queue, and what a careless host can
 * pass to the queue ABI.
 *
 * Part 1, every malformed-chain class of the simulator (vsn_sim_queue_add_bad), each on a fresh
 * device after a good chain: the chain comes back used with len 0, exactly its per-kind counter
 * (and bad_chains) moved, no tx packet was counted, and a good chain afterwards is processed.
 * (The simulator's "indirect table longer than the queue" is walked by design, see the table,
 * and dropped as a malformed packet.)
 * The queue-level classes (head out of range, avail idx too far ahead) instead set
 * VSN_DEVICE_STATUS_NEEDS_RESET, after which the device processes nothing until
 * vsn_device_reset + a full setup again, which works.  Then every non-fatal class three times
 * over, interleaved with good chains, on one queue whose ring indexes wrap.
 * Part 2, the per-kind counters the simulator has no builder for: an indirect chain the device
 * did not negotiate, a chain of more host segments than the device takes, a chain whose lengths
 * add up past 2^32 - 1.
 * Part 3, ABI argument errors: queue_setup (alignment, placement, size, index, NULL,
 * struct_size), set_mem_table (overlap, zero size, wrap, count 0 / 513, NULL; 64 and 512 regions
 * accepted), features, calls while running (-EBUSY), reads with bad arguments, and that a
 * rejected call leaves the previous configuration working.
 */
#include "queue_util.h"
#include "vsn_sim_bind.h"
#include "vsn_check.h"

#include <endian.h>
#include <errno.h>
#include <unistd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define QSIZE 16u /* small: the too-long chain is 17 descriptors, and indexes wrap quickly */

#define FIELD(f) offsetof(vsn_queue_counter_values, f), #f

/* The per-kind counters (each bad chain moves exactly one of them). */
static const struct {
    size_t off;
    const char *name;
} kind_fields[] = {
    { FIELD(head_out_of_range) },           { FIELD(next_out_of_range) },
    { FIELD(chain_too_long) },              { FIELD(indirect_not_negotiated) },
    { FIELD(nested_indirect) },             { FIELD(indirect_with_next) },
    { FIELD(indirect_table_empty) },        { FIELD(indirect_table_length_invalid) },
    { FIELD(indirect_table_out_of_memory) }, { FIELD(readable_after_writable) },
    { FIELD(buffer_out_of_memory) },        { FIELD(buffer_address_wrap) },
    { FIELD(too_many_segments) },           { FIELD(length_overflow) },
};
#define NKINDS (sizeof kind_fields / sizeof kind_fields[0])

/* What the device does with a class. */
enum outcome {
    BAD_CHAIN,        /* used with len 0, one per-kind counter */
    NEEDS_RESET,      /* queue-level: VSN_DEVICE_STATUS_NEEDS_RESET, nothing returned */
    MALFORMED_PACKET, /* a walkable chain whose bytes are no packet: used len 0, tx_malformed */
};

/* Simulator class -> the device counter it must move. */
static const struct bad_case {
    vsn_sim_bad kind;
    size_t off;
    const char *field;
    enum outcome outcome;
} cases[] = {
    /* d0 -> d1 -> d0: the walk outlives its time-to-live, reported as a too-long chain */
    { VSN_SIM_BAD_DESC_LOOP, FIELD(chain_too_long), BAD_CHAIN },
    /* next == queue size */
    { VSN_SIM_BAD_NEXT_RANGE, FIELD(next_out_of_range), BAD_CHAIN },
    /* avail entry == queue size: the device cannot even name the chain to return it */
    { VSN_SIM_BAD_HEAD_RANGE, FIELD(head_out_of_range), NEEDS_RESET },
    /* an indirect table entry is INDIRECT */
    { VSN_SIM_BAD_NESTED_INDIRECT, FIELD(nested_indirect), BAD_CHAIN },
    /* indirect table length 24 */
    { VSN_SIM_BAD_INDIRECT_LEN_ALIGN, FIELD(indirect_table_length_invalid), BAD_CHAIN },
    /* indirect table length 0 */
    { VSN_SIM_BAD_INDIRECT_LEN_ZERO, FIELD(indirect_table_empty), BAD_CHAIN },
    /* indirect table above all guest memory */
    { VSN_SIM_BAD_INDIRECT_UNMAPPED, FIELD(indirect_table_out_of_memory), BAD_CHAIN },
    /* INDIRECT | NEXT on one descriptor */
    { VSN_SIM_BAD_INDIRECT_WITH_NEXT, FIELD(indirect_with_next), BAD_CHAIN },
    /* writable descriptor, then a readable one */
    { VSN_SIM_BAD_READ_AFTER_WRITE, FIELD(readable_after_writable), BAD_CHAIN },
    /* buffer above all guest memory */
    { VSN_SIM_BAD_ADDR_UNMAPPED, FIELD(buffer_out_of_memory), BAD_CHAIN },
    /* addr + len wraps past 2^64 */
    { VSN_SIM_BAD_ADDR_WRAP, FIELD(buffer_address_wrap), BAD_CHAIN },
    /* indirect table of queue size + 1 entries: a chain longer than the queue.  The device
     * deliberately walks indirect tables of up to 65536 entries whatever the queue size (as
     * rust-vmm does; xunit Indirect_table_with_more_entries_than_the_queue_size_is_accepted),
     * unlike the reference walker; the 17 x 16 bytes of 0x5a that follow are no packet. */
    { VSN_SIM_BAD_CHAIN_TOO_LONG, 0, "tx_malformed (device policy)", MALFORMED_PACKET },
    /* avail idx published queue size + 1 ahead */
    { VSN_SIM_BAD_AVAIL_IDX_JUMP, FIELD(queue_faults), NEEDS_RESET },
    /* buffer in the hole between two regions */
    { VSN_SIM_BAD_ADDR_IN_GAP, FIELD(buffer_out_of_memory), BAD_CHAIN },
};
#define NCASES (sizeof cases / sizeof cases[0])

static uint64_t field(const vsn_queue_counter_values *c, size_t off)
{
    uint64_t v;
    memcpy(&v, (const char *)c + off, sizeof v);
    return v;
}

/* ---- a rig: gapped memory, manual device, tx queue ---------------------------------------- */

struct rig {
    vsn_sim_mem *mem;
    vsn_sd *sd;
    vsn_sim_queue *q;
    vsn_device *dev;
    uint64_t token;
};

static int rig_open(struct rig *r, uint64_t features, uint64_t sim_features, uint16_t qsize,
                    const vsn_mem_region *extra, uint32_t nextra)
{
    memset(r, 0, sizeof *r);
    vsn_sd_config cfg = vsn_sd_config_default(0);
    cfg.features = features;
    int rc = qu_mem_gapped(&r->mem);
    if (rc == 0)
        rc = vsn_sd_create(&cfg, r->mem, extra, nextra, &r->sd);
    if (rc == 0)
        rc = vsn_sd_add_queue_ex(r->sd, VSN_QUEUE_TX, qsize, sim_features, &r->q);
    if (rc == 0)
        rc = vsn_sd_start(r->sd);
    if (rc != 0)
        fprintf(stderr, "rig: setup failed: %d (%s)\n", rc, vsn_sd_strerror(rc));
    r->dev = vsn_sd_device(r->sd);
    return rc;
}

static void rig_close(struct rig *r)
{
    vsn_sd_destroy(&r->sd);
    vsn_sim_mem_destroy(&r->mem);
}

static const uint64_t all_ring = VSN_SIM_FEAT(VIRTIO_RING_F_INDIRECT_DESC) |
                                 VSN_SIM_FEAT(VIRTIO_RING_F_EVENT_IDX);

/* Last element reaped. */
struct last {
    vsn_sim_used u;
    uint32_t n;
};

static void on_used(void *user, const vsn_sim_used *u)
{
    struct last *l = user;
    l->u = *u;
    l->n++;
}

/* Sends one good packet and checks it is processed: used, len 0, counted. */
static bool good_chain(struct rig *r, const char *when)
{
    vsn_device_counter_values before, after;
    vsn_sim_layout lay = { .hdr_split = 44, .pieces = 2 };
    uint16_t head;
    struct last l = { .n = 0 };
    uint64_t token = r->token++;
    if (vsn_sd_device_counters(r->sd, &before) != 0 ||
        qu_add_packet(r->q, &lay, 64, 64, token, &head) != 0 || vsn_sim_queue_kick(r->q) < 0 ||
        vsn_sd_reap(r->sd, VSN_QUEUE_TX, 1, QU_TIMEOUT_MS, 0, on_used, &l, NULL) != 0 ||
        vsn_sd_device_counters(r->sd, &after) != 0) {
        fprintf(stderr, "good chain %s: not processed\n", when);
        CHECK(0);
        return false;
    }
    CHECK_EQ(l.u.id, head);
    CHECK_EQ(l.u.len, 0);
    CHECK_EQ(l.u.token, token);
    CHECK_EQ(after.tx_packets - before.tx_packets, 1);
    CHECK_EQ(after.tx_payload_bytes - before.tx_payload_bytes, 64);
    return true;
}

/* Checks that exactly `off` moved by `n` among the per-kind counters, and bad_chains with it. */
static void check_kind_delta(const char *what, const vsn_queue_counter_values *b,
                             const vsn_queue_counter_values *a, size_t off, uint64_t n)
{
    for (size_t i = 0; i < NKINDS; i++) {
        uint64_t d = field(a, kind_fields[i].off) - field(b, kind_fields[i].off);
        uint64_t want = kind_fields[i].off == off ? n : 0;
        if (d != want) {
            fprintf(stderr, "  %s: counter %s moved by %llu, expected %llu\n", what,
                    kind_fields[i].name, (unsigned long long)d, (unsigned long long)want);
            CHECK(0);
        }
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < NKINDS; i++)
        sum += field(a, kind_fields[i].off);
    CHECK_EQ(a->bad_chains, sum); /* bad_chains is the sum of the per-kind counters */
}

static uint16_t avail_idx(vsn_sim_queue *q)
{
    vsn_sim_queue_layout lay;
    vsn_sim_queue_layout_get(q, &lay);
    return le16toh(__atomic_load_n(&lay.avail->idx, __ATOMIC_ACQUIRE));
}

static uint32_t status_of(vsn_device *dev)
{
    uint32_t s = 0xdead;
    CHECK_EQ(vsn_device_get_status(dev, &s), 0);
    return s;
}

/* Polls until NEEDS_RESET shows (bounded). */
static bool wait_needs_reset(struct rig *r)
{
    int64_t deadline = vsn_sd_now_ms() + QU_TIMEOUT_MS;
    while (!(status_of(r->dev) & VSN_DEVICE_STATUS_NEEDS_RESET)) {
        if (vsn_sd_now_ms() > deadline)
            return false;
        (void)vsn_device_poll(r->dev, 50);
    }
    return true;
}

/* A non-fatal class: used with len 0, its counter, then a good chain. */
static void nonfatal_case(const struct bad_case *c)
{
    struct rig r;
    vsn_queue_counter_values qb, qa;
    vsn_device_counter_values db, da;
    if (rig_open(&r, 0, all_ring, QSIZE, NULL, 0) != 0 || !good_chain(&r, "before")) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    uint16_t head;
    struct last l = { .n = 0 };
    int before_fail = vsn_failed;
    CHECK_EQ(vsn_sd_queue_counters(r.sd, VSN_QUEUE_TX, &qb), 0);
    CHECK_EQ(vsn_sd_device_counters(r.sd, &db), 0);
    int rc = vsn_sim_queue_add_bad(r.q, c->kind, &head);
    CHECK_EQ(rc, 0);
    CHECK(vsn_sim_queue_kick(r.q) >= 0);
    rc = vsn_sd_reap(r.sd, VSN_QUEUE_TX, 1, QU_TIMEOUT_MS, 0, on_used, &l, NULL);
    CHECK_EQ(rc, 0);
    CHECK_EQ(l.n, 1);
    CHECK_EQ(l.u.id, head);
    CHECK_EQ(l.u.len, 0);
    CHECK(l.u.bad);
    CHECK_EQ(vsn_sd_queue_counters(r.sd, VSN_QUEUE_TX, &qa), 0);
    CHECK_EQ(vsn_sd_device_counters(r.sd, &da), 0);
    bool packet = c->outcome == MALFORMED_PACKET;
    check_kind_delta(vsn_sim_bad_name(c->kind), &qb, &qa, packet ? (size_t)-1 : c->off, 1);
    CHECK_EQ(qa.bad_chains - qb.bad_chains, packet ? 0 : 1);
    CHECK_EQ(qa.chains_popped - qb.chains_popped, packet ? 1 : 0);
    CHECK_EQ(qa.used_entries - qb.used_entries, 1);
    CHECK_EQ(qa.queue_faults, 0);
    CHECK_EQ(da.tx_packets - db.tx_packets, 0);
    CHECK_EQ(da.tx_malformed - db.tx_malformed, packet ? 1 : 0); /* a bad chain is no packet */
    CHECK_EQ(status_of(r.dev), VSN_DEVICE_STATUS_RUNNING);
    good_chain(&r, "after");
    if (vsn_failed != before_fail)
        fprintf(stderr, "  ^ in malformed class %s (expected counter %s)\n",
                vsn_sim_bad_name(c->kind), c->field);
    else
        printf("  %-20s -> used len 0, %-30s ok, next chain processed\n",
               vsn_sim_bad_name(c->kind), c->field);
    rig_close(&r);
}

/* After NEEDS_RESET: reset, set everything up again on the same rings, resume past the bad
 * entry, and check a good chain goes through. */
static void reset_and_resume(struct rig *r, const char *what)
{
    uint16_t base = avail_idx(r->q);
    CHECK_EQ(vsn_device_stop(r->dev), 0);
    CHECK_EQ(vsn_device_start(r->dev), -EINVAL); /* refuses: needs a reset */
    CHECK_EQ(vsn_device_reset(r->dev), 0);
    CHECK_EQ(status_of(r->dev), 0);
    vsn_device_counter_values dc;
    CHECK_EQ(vsn_sd_device_counters(r->sd, &dc), 0);
    CHECK_EQ(dc.tx_packets + dc.kicks + dc.interrupts, 0); /* reset clears the counters */
    CHECK_EQ(vsn_device_start(r->dev), -EINVAL);           /* no memory table any more */
    CHECK_EQ(vsn_sd_configure(r->sd), 0);
    CHECK_EQ(vsn_queue_set_base(r->dev, VSN_QUEUE_TX, base), 0);
    CHECK_EQ(vsn_device_start(r->dev), 0);
    CHECK_EQ(status_of(r->dev), VSN_DEVICE_STATUS_RUNNING);
    if (!good_chain(r, what))
        fprintf(stderr, "  ^ after reset (%s)\n", what);
}

/* A queue-level class: NEEDS_RESET, nothing processed any more, then reset + setup works. */
static void fatal_case(const struct bad_case *c)
{
    struct rig r;
    if (rig_open(&r, 0, all_ring, QSIZE, NULL, 0) != 0 || !good_chain(&r, "before")) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    int before_fail = vsn_failed;
    vsn_queue_counter_values qa;
    vsn_device_counter_values db, da;
    uint16_t head;
    CHECK_EQ(vsn_sd_device_counters(r.sd, &db), 0);
    CHECK_EQ(vsn_sim_queue_add_bad(r.q, c->kind, &head), 0);
    /* notify unconditionally: after the idx jump kick_prepare sees no chain of its own added */
    CHECK_EQ(vsn_sim_queue_notify(r.q), 0);
    CHECK(wait_needs_reset(&r));
    CHECK_EQ(vsn_sim_queue_used_pending(r.q), 0); /* nothing returned for it */
    CHECK_EQ(vsn_sd_queue_counters(r.sd, VSN_QUEUE_TX, &qa), 0);
    check_kind_delta(vsn_sim_bad_name(c->kind), &(vsn_queue_counter_values){ 0 }, &qa,
                     c->off == offsetof(vsn_queue_counter_values, queue_faults) ? (size_t)-1
                                                                                 : c->off,
                     1);
    CHECK_EQ(field(&qa, c->off), 1);
    CHECK_EQ(qa.chains_popped, 1); /* only the good chain before */
    if (c->kind == VSN_SIM_BAD_AVAIL_IDX_JUMP) {
        CHECK_EQ(qa.queue_faults, 1);
        CHECK_EQ(vsn_sim_queue_restore_avail_idx(r.q), 0);
    }

    /* inert: a good chain is neither processed nor returned */
    vsn_sim_layout lay = { .hdr_split = 44, .pieces = 1 };
    CHECK_EQ(qu_add_packet(r.q, &lay, 8, 8, 999, &head), 0);
    CHECK(vsn_sim_queue_kick(r.q) >= 0);
    for (int i = 0; i < 3; i++)
        CHECK(vsn_device_poll(r.dev, 10) >= 0);
    CHECK_EQ(vsn_sim_queue_used_pending(r.q), 0);
    CHECK_EQ(vsn_sd_device_counters(r.sd, &da), 0);
    CHECK_EQ(da.tx_packets, db.tx_packets);
    CHECK(status_of(r.dev) & VSN_DEVICE_STATUS_NEEDS_RESET);

    /* resume after everything published so far (the inert chain is left behind) */
    reset_and_resume(&r, vsn_sim_bad_name(c->kind));
    if (vsn_failed != before_fail)
        fprintf(stderr, "  ^ in malformed class %s\n", vsn_sim_bad_name(c->kind));
    else
        printf("  %-20s -> NEEDS_RESET, %-30s ok, inert; reset + setup again works\n",
               vsn_sim_bad_name(c->kind), c->field);
    rig_close(&r);
}

/* Fresh rings on the same device after a reset (the other way a driver recovers). */
static void fatal_then_new_rings(void)
{
    struct rig r;
    uint16_t head;
    if (rig_open(&r, 0, all_ring, QSIZE, NULL, 0) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    CHECK_EQ(vsn_sim_queue_add_bad(r.q, VSN_SIM_BAD_HEAD_RANGE, &head), 0);
    CHECK(vsn_sim_queue_kick(r.q) >= 0);
    CHECK(wait_needs_reset(&r));
    CHECK_EQ(vsn_device_reset(r.dev), 0);
    CHECK_EQ(vsn_sd_configure(r.sd), 0);
    CHECK_EQ(vsn_sd_renew_queue(r.sd, VSN_QUEUE_TX, &r.q), 0);
    CHECK_EQ(vsn_device_start(r.dev), 0);
    good_chain(&r, "on new rings after reset");
    rig_close(&r);
}

/* Every non-fatal class three times, interleaved with good chains, on one wrapping queue. */
static void all_interleaved(void)
{
    struct rig r;
    vsn_queue_counter_values qa;
    vsn_device_counter_values da;
    if (rig_open(&r, 0, all_ring, QSIZE, NULL, 0) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    uint64_t bad = 0, good = 0;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < NCASES; i++) {
            if (cases[i].outcome == NEEDS_RESET)
                continue;
            uint16_t head;
            struct last l = { .n = 0 };
            vsn_sim_mem_mark mark;
            vsn_sim_mem_mark_get(r.mem, &mark);
            CHECK_EQ(vsn_sim_queue_add_bad(r.q, cases[i].kind, &head), 0);
            CHECK(vsn_sim_queue_kick(r.q) >= 0);
            CHECK_EQ(vsn_sd_reap(r.sd, VSN_QUEUE_TX, 1, QU_TIMEOUT_MS, 0, on_used, &l, NULL), 0);
            CHECK(l.n == 1 && l.u.id == head && l.u.len == 0);
            bad++;
            good += good_chain(&r, "between bad chains");
            vsn_sim_mem_mark_release(r.mem, &mark);
        }
    }
    CHECK_EQ(vsn_sd_queue_counters(r.sd, VSN_QUEUE_TX, &qa), 0);
    CHECK_EQ(vsn_sd_device_counters(r.sd, &da), 0);
    CHECK_EQ(qa.bad_chains, bad - 3);      /* the too-long indirect chain is walked ... */
    CHECK_EQ(da.tx_malformed, 3);          /* ... and dropped as a malformed packet */
    CHECK_EQ(qa.chains_popped, good + 3);
    CHECK_EQ(qa.used_entries, bad + good);
    CHECK_EQ(qa.chain_too_long, 3);        /* the descriptor loop */
    CHECK_EQ(qa.buffer_out_of_memory, 6);  /* unmapped + in gap */
    CHECK_EQ(qa.next_out_of_range, 3);
    CHECK_EQ(da.tx_packets, good);
    CHECK_EQ(status_of(r.dev), VSN_DEVICE_STATUS_RUNNING);
    printf("  interleaved: %llu bad + %llu good chains on a %u-entry ring (indexes wrapped)\n",
           (unsigned long long)bad, (unsigned long long)good, QSIZE);
    rig_close(&r);
}

/* ---- part 2: the kinds without a simulator builder ---------------------------------------- */

/* Pushes one bad chain through and checks its counter moved. */
static void expect_kind(struct rig *r, uint16_t head, size_t off, const char *name)
{
    vsn_queue_counter_values qb, qa;
    struct last l = { .n = 0 };
    int before_fail = vsn_failed;
    CHECK_EQ(vsn_sd_queue_counters(r->sd, VSN_QUEUE_TX, &qb), 0);
    CHECK(vsn_sim_queue_kick(r->q) >= 0);
    CHECK_EQ(vsn_sd_reap(r->sd, VSN_QUEUE_TX, 1, QU_TIMEOUT_MS, 0, on_used, &l, NULL), 0);
    CHECK(l.n == 1 && l.u.id == head && l.u.len == 0);
    CHECK_EQ(vsn_sd_queue_counters(r->sd, VSN_QUEUE_TX, &qa), 0);
    check_kind_delta(name, &qb, &qa, off, 1);
    good_chain(r, "after");
    if (vsn_failed == before_fail)
        printf("  %-20s -> used len 0, %-30s ok, next chain processed\n", name, name);
}

static void indirect_not_negotiated(void)
{
    struct rig r;
    uint16_t head;
    /* the driver builds indirect chains, the device accepted VERSION_1 | EVENT_IDX only */
    uint64_t f = (1ull << VSN_VIRTIO_F_VERSION_1) | (1ull << VSN_VIRTIO_RING_F_EVENT_IDX);
    if (rig_open(&r, f, all_ring, QSIZE, NULL, 0) == 0) {
        vsn_sim_layout lay = { .hdr_split = 44, .pieces = 2, .flags = VSN_SIM_F_INDIRECT };
        CHECK_EQ(qu_add_packet(r.q, &lay, 32, 32, 500, &head), 0);
        expect_kind(&r, head, FIELD(indirect_not_negotiated));
    } else {
        CHECK(0);
    }
    rig_close(&r);
}

static void too_many_segments(void)
{
    struct rig r;
    enum { N = 1100 }; /* one-byte buffers: more host segments than the device's 1024 */
    uint16_t head;
    if (rig_open(&r, 0, all_ring, 2048, NULL, 0) == 0) {
        static vsn_sim_buf bufs[N];
        uint64_t gpa;
        CHECK_EQ(vsn_sim_mem_alloc(r.mem, N, 1, &gpa), 0);
        for (uint32_t i = 0; i < N; i++)
            bufs[i] = (vsn_sim_buf){ gpa + i, 1, false };
        CHECK_EQ(vsn_sim_queue_add_bufs(r.q, bufs, N, 0, 501, &head), 0);
        expect_kind(&r, head, FIELD(too_many_segments));
    } else {
        CHECK(0);
    }
    rig_close(&r);
}

static void length_overflow(void)
{
    /* 4 GiB of address space the device may translate but never touches (PROT_NONE) */
    const uint64_t big = 1ull << 32;
    void *hva = mmap(NULL, big, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (hva == MAP_FAILED) {
        CHECK(0);
        return;
    }
    vsn_mem_region extra = { 0x100000000ull, big, hva };
    struct rig r;
    uint16_t head;
    if (rig_open(&r, 0, all_ring, QSIZE, &extra, 1) == 0) {
        uint64_t gpa;
        CHECK_EQ(vsn_sim_mem_alloc(r.mem, 2, 1, &gpa), 0);
        vsn_sim_buf bufs[2] = { { gpa, 1, BAD_CHAIN }, { gpa + 1, 1, false } };
        CHECK_EQ(vsn_sim_queue_add_bufs(r.q, bufs, 2, 0, 502, &head), 0);
        /* the simulator refuses chains over 2^32 - 1 bytes, so the published chain is edited
         * before the device sees it (manual mode: it runs only inside vsn_device_poll):
         * 0xFFFFFFFF bytes in the big region, then 1 more byte */
        vsn_sim_queue_layout lay;
        vsn_sim_queue_layout_get(r.q, &lay);
        uint16_t next = le16toh(lay.desc[head].next);
        lay.desc[head].addr = htole64(0x100000000ull);
        lay.desc[head].len = htole32(0xffffffffu);
        lay.desc[next].len = htole32(1);
        expect_kind(&r, head, FIELD(length_overflow));
    } else {
        CHECK(0);
    }
    rig_close(&r);
    munmap(hva, big);
}

/* ---- part 3: ABI argument errors ---------------------------------------------------------- */

static vsn_queue_config queue_config(vsn_sim_queue *q)
{
    return vsn_sim_bind_queue(q, -1, -1);
}

static void abi_queue_setup(void)
{
    struct rig r;
    if (rig_open(&r, 0, all_ring, QSIZE, NULL, 0) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    vsn_device *d = r.dev;
    vsn_queue_config good = queue_config(r.q), c;
    uint64_t gap, outside;
    CHECK_EQ(vsn_sim_mem_gap_gpa(r.mem, &gap), 0);
    CHECK_EQ(vsn_sim_mem_outside_gpa(r.mem, &outside), 0);

    CHECK_EQ(vsn_queue_setup(d, VSN_QUEUE_TX, &good), -EBUSY); /* running */
    CHECK_EQ(vsn_device_stop(d), 0);

    c = good, c.desc_addr += 8;
    CHECK_EQ(vsn_queue_setup(d, VSN_QUEUE_TX, &c), -EINVAL);   /* desc not 16-aligned */
    c = good, c.avail_addr += 1;
    CHECK_EQ(vsn_queue_setup(d, VSN_QUEUE_TX, &c), -EINVAL);   /* avail not 2-aligned */
    c = good, c.used_addr += 2;
    CHECK_EQ(vsn_queue_setup(d, VSN_QUEUE_TX, &c), -EINVAL);   /* used not 4-aligned */
    c = good, c.desc_addr = gap;
    CHECK_EQ(vsn_queue_setup(d, VSN_QUEUE_TX, &c), -EINVAL);   /* desc table in the gap */
    c = good, c.used_addr = outside;
    CHECK_EQ(vsn_queue_setup(d, VSN_QUEUE_TX, &c), -EINVAL);   /* used ring above memory */
    c = good, c.avail_addr = 0x200000 - 8;
    CHECK_EQ(vsn_queue_setup(d, VSN_QUEUE_TX, &c), -EINVAL);   /* avail runs off region 0 */
    c = good, c.desc_addr = UINT64_MAX - 15;
    CHECK_EQ(vsn_queue_setup(d, VSN_QUEUE_TX, &c), -EINVAL);   /* desc addr + len wraps */
    const uint32_t bad_sizes[] = { 0, 3, 65536, 24, 0xffffffffu };
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        c = good, c.size = bad_sizes[i];
        CHECK_EQ(vsn_queue_setup(d, VSN_QUEUE_TX, &c), -EINVAL);
    }
    CHECK_EQ(vsn_queue_setup(d, 3, &good), -EINVAL);            /* no queue 3 */
    CHECK_EQ(vsn_queue_setup(d, 0xffffffffu, &good), -EINVAL);
    CHECK_EQ(vsn_queue_setup(d, VSN_QUEUE_TX, NULL), -EINVAL);
    c = good, c.struct_size = sizeof c - 1;
    CHECK_EQ(vsn_queue_setup(d, VSN_QUEUE_TX, &c), -EINVAL);
    c = good, c.struct_size = 0;
    CHECK_EQ(vsn_queue_setup(d, VSN_QUEUE_TX, &c), -EINVAL);
    c = good, c.kick_fd = 1 << 20;                              /* not an open fd */
    CHECK(vsn_queue_setup(d, VSN_QUEUE_TX, &c) < 0);
    int hup[2];                                                 /* a pipe whose writer is gone: it reports */
    CHECK_EQ(pipe(hup), 0);                                     /* HUP for ever, so the loop would spin */
    close(hup[1]);
    c = good, c.kick_fd = hup[0];
    CHECK_EQ(vsn_queue_setup(d, VSN_QUEUE_TX, &c), -EINVAL);   /* a kick fd must be an eventfd */
    close(hup[0]);

    /* every rejection above left the queue as it was: it still works */
    CHECK_EQ(vsn_device_start(d), 0);
    good_chain(&r, "after rejected queue_setup calls");

    /* a queue can be set up on the largest size */
    CHECK_EQ(vsn_device_stop(d), 0);
    uint64_t big_desc;
    CHECK_EQ(vsn_sim_mem_alloc(r.mem, 16u * 32768u, 16, &big_desc), 0);
    uint64_t big_avail, big_used;
    CHECK_EQ(vsn_sim_mem_alloc(r.mem, 6u + 2u * 32768u, 2, &big_avail), 0);
    CHECK_EQ(vsn_sim_mem_alloc(r.mem, 6u + 8u * 32768u, 4, &big_used), 0);
    c = good, c.size = 32768, c.desc_addr = big_desc, c.avail_addr = big_avail, c.used_addr = big_used;
    CHECK_EQ(vsn_queue_setup(d, VSN_QUEUE_RX, &c), 0);
    rig_close(&r);
}

static void abi_mem_table(void)
{
    struct rig r;
    if (rig_open(&r, 0, all_ring, QSIZE, NULL, 0) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    vsn_device *d = r.dev;
    uint32_t n;
    const vsn_sim_region *sr = vsn_sim_mem_regions(r.mem, &n);
    vsn_mem_region ok[2] = { { sr[0].gpa, sr[0].size, sr[0].hva }, { sr[1].gpa, sr[1].size, sr[1].hva } };
    CHECK_EQ(vsn_device_set_mem_table(d, ok, 2), -EBUSY); /* running */
    CHECK_EQ(vsn_device_stop(d), 0);

    vsn_mem_region t[2];
    memcpy(t, ok, sizeof t), t[1].guest_phys_addr = t[0].guest_phys_addr + t[0].size - 1;
    CHECK_EQ(vsn_device_set_mem_table(d, t, 2), -EINVAL);  /* overlap by one byte */
    memcpy(t, ok, sizeof t), t[1].size = 0;
    CHECK_EQ(vsn_device_set_mem_table(d, t, 2), -EINVAL);  /* zero size */
    memcpy(t, ok, sizeof t), t[1].guest_phys_addr = UINT64_MAX - 100, t[1].size = 4096;
    CHECK_EQ(vsn_device_set_mem_table(d, t, 2), -EINVAL);  /* gpa + size wraps */
    memcpy(t, ok, sizeof t), t[1].host_addr = NULL;
    CHECK_EQ(vsn_device_set_mem_table(d, t, 2), -EINVAL);  /* no host mapping */
    CHECK_EQ(vsn_device_set_mem_table(d, ok, 0), -EINVAL);
    CHECK_EQ(vsn_device_set_mem_table(d, NULL, 2), -EINVAL);
    static vsn_mem_region many[513];
    static uint8_t backing[513];
    for (uint32_t i = 0; i < 513; i++)
        many[i] = (vsn_mem_region){ 0x10000000ull + i * 0x1000ull, 0x1000, &backing[i] };
    CHECK_EQ(vsn_device_set_mem_table(d, many, 513), -EINVAL);
    /* a table without the queue's rings is refused while the queue is set up ... */
    CHECK_EQ(vsn_device_set_mem_table(d, many, 512), -EINVAL);
    CHECK_EQ(vsn_device_set_mem_table(d, &ok[1], 1), -EINVAL);
    /* ... and every rejection kept the old table: the queue still works */
    CHECK_EQ(vsn_device_start(d), 0);
    good_chain(&r, "after rejected set_mem_table calls");
    rig_close(&r);

    /* 512 regions are accepted by a device without queues */
    vsn_device_config dc;
    memset(&dc, 0, sizeof dc);
    dc.struct_size = sizeof dc;
    dc.flags = VSN_DEVICE_F_MANUAL_POLL;
    dc.guest_cid = 3;
    vsn_device *fresh = NULL;
    CHECK_EQ(vsn_device_create(&dc, &fresh), 0);
    CHECK_EQ(vsn_device_set_mem_table(fresh, many, 512), 0);
    CHECK_EQ(vsn_device_set_mem_table(fresh, many, 1), 0); /* replaceable while stopped */
    /* queue setup before the features is refused */
    vsn_queue_config qc = { sizeof qc, 16, 0x10000000ull, 0x10000100ull, 0x10000200ull, -1, -1,
                            NULL, NULL };
    CHECK_EQ(vsn_queue_setup(fresh, VSN_QUEUE_TX, &qc), -EINVAL);
    CHECK_EQ(vsn_device_destroy(fresh), 0);

    /* 64 regions (the simulator's maximum), every one GPA-adjacent to the next: a queue works */
    vsn_sim_region_spec spec[64];
    for (uint32_t i = 0; i < 64; i++)
        spec[i] = (vsn_sim_region_spec){ 0x4000000ull + i * 0x10000ull, 0x10000 };
    vsn_sim_mem_config mc = { sizeof mc, 64, spec, 2048, 0, NULL };
    vsn_sim_mem *mem64 = NULL;
    vsn_sd *sd = NULL;
    vsn_sim_queue *q = NULL;
    vsn_sd_config cfg = vsn_sd_config_default(0);
    int rc = vsn_sim_mem_create(&mc, &mem64);
    if (rc == 0)
        rc = vsn_sd_create(&cfg, mem64, NULL, 0, &sd); /* sets the 64-region table */
    CHECK_EQ(rc, 0);
    if (rc == 0)
        rc = vsn_sd_add_queue(sd, VSN_QUEUE_TX, 128, &q);
    if (rc == 0)
        rc = vsn_sd_start(sd);
    CHECK_EQ(rc, 0);
    if (rc == 0) {
        /* one straddling packet per boundary: 63 of them */
        qu_ledger l;
        CHECK_EQ(qu_ledger_init(&l, 63), 0);
        for (uint32_t i = 0; i < 63; i++) {
            vsn_sim_layout lay = { .hdr_split = 44, .pieces = 1, .straddle_mask = 2 };
            uint16_t head;
            CHECK_EQ(qu_add_packet(q, &lay, 1000, 1000, i, &head), 0);
            CHECK(vsn_sim_queue_kick(q) >= 0);
        }
        CHECK_EQ(vsn_sd_reap(sd, VSN_QUEUE_TX, 63, QU_TIMEOUT_MS, 0, qu_ledger_on_used, &l, NULL), 0);
        CHECK_EQ(qu_ledger_missing(&l, 63), 0);
        vsn_device_counter_values v;
        CHECK_EQ(vsn_sd_device_counters(sd, &v), 0);
        CHECK_EQ(v.tx_packets, 63);
        qu_ledger_free(&l);
    }
    vsn_sd_destroy(&sd);
    vsn_sim_mem_destroy(&mem64);
}

static void abi_features_and_running(void)
{
    struct rig r;
    if (rig_open(&r, 0, all_ring, QSIZE, NULL, 0) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    vsn_device *d = r.dev;
    uint16_t base;
    vsn_queue_counters qc;
    vsn_device_counters dc;
    uint64_t v1 = 1ull << VSN_VIRTIO_F_VERSION_1;

    /* while running */
    CHECK_EQ(vsn_device_set_features(d, VSN_SD_DEFAULT_FEATURES), -EBUSY);
    CHECK_EQ(vsn_queue_set_base(d, VSN_QUEUE_TX, 0), -EBUSY);
    CHECK_EQ(vsn_queue_get_base(d, VSN_QUEUE_TX, &base), -EBUSY);
    CHECK_EQ(vsn_device_start(d), -EBUSY);

    /* reads with bad arguments */
    CHECK_EQ(vsn_queue_notify(d, 3), -EINVAL);
    CHECK_EQ(vsn_queue_get_counters(d, 3, &qc), -EINVAL);
    CHECK_EQ(vsn_queue_get_counters(d, VSN_QUEUE_TX, NULL), -EINVAL);
    qc.struct_size = 4;
    CHECK_EQ(vsn_queue_get_counters(d, VSN_QUEUE_TX, &qc), -EINVAL);
    CHECK_EQ(vsn_device_get_counters(d, NULL), -EINVAL);
    dc.struct_size = 4;
    CHECK_EQ(vsn_device_get_counters(d, &dc), -EINVAL);
    CHECK_EQ(vsn_device_get_status(d, NULL), -EINVAL);

    CHECK_EQ(vsn_device_stop(d), 0);
    CHECK_EQ(vsn_device_stop(d), 0);                 /* stopping twice does nothing */
    CHECK_EQ(vsn_device_poll(d, 0), -EINVAL);        /* not started */
    CHECK_EQ(vsn_queue_get_base(d, 3, &base), -EINVAL);
    CHECK_EQ(vsn_queue_get_base(d, VSN_QUEUE_TX, NULL), -EINVAL);
    CHECK_EQ(vsn_queue_set_base(d, 3, 0), -EINVAL);
    CHECK_EQ(vsn_device_set_features(d, 1ull << VSN_VIRTIO_RING_F_EVENT_IDX), -EINVAL); /* no V1 */
    CHECK_EQ(vsn_device_set_features(d, v1 | (1ull << 40)), -EINVAL);                  /* not offered */
    CHECK_EQ(vsn_device_set_features(d, v1), -EBUSY);  /* queues already set up with others */
    CHECK_EQ(vsn_device_set_features(d, VSN_SD_DEFAULT_FEATURES), 0); /* the same again: fine */
    CHECK_EQ(vsn_device_start(d), 0);
    good_chain(&r, "after rejected feature calls");

    /* thread-mode devices have no vsn_device_poll */
    vsn_device_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = sizeof cfg;
    cfg.guest_cid = 3;
    vsn_device *t = NULL;
    CHECK_EQ(vsn_device_create(&cfg, &t), 0);
    CHECK_EQ(vsn_device_poll(t, 0), -EINVAL);
    CHECK_EQ(vsn_device_start(t), -EINVAL);           /* no memory table, no features */
    CHECK_EQ(vsn_device_destroy(t), 0);
    /* a destroyed handle */
    CHECK_EQ(vsn_queue_notify(t, VSN_QUEUE_TX), -EBADF);
    CHECK_EQ(vsn_queue_setup(t, VSN_QUEUE_TX, NULL), -EBADF);
    CHECK_EQ(vsn_device_set_mem_table(t, NULL, 0), -EBADF);
    CHECK_EQ(vsn_device_start(t), -EBADF);
    CHECK_EQ(vsn_device_poll(t, 0), -EBADF);
    rig_close(&r);
}

/* Case names: "bad_<class>" for each malformed class (vsn_sim_bad_name), then these. */
#define CASES_SIM(X)                                     \
    X(fatal_then_new_rings, fatal_then_new_rings())      \
    X(all_interleaved, all_interleaved())
#define CASES_NO_BUILDER(X)                              \
    X(indirect_not_negotiated, indirect_not_negotiated()) \
    X(too_many_segments, too_many_segments())            \
    X(length_overflow, length_overflow())                \
    X(abi_queue_setup, abi_queue_setup())                \
    X(abi_mem_table, abi_mem_table())                    \
    X(abi_features_and_running, abi_features_and_running())
static const char *const OTHER_CASES[] = { CASES_SIM(VSN_CASE_NAME) CASES_NO_BUILDER(VSN_CASE_NAME) };
#define NOTHER (sizeof OTHER_CASES / sizeof OTHER_CASES[0])

int main(int argc, char **argv)
{
    static char bad_names[NCASES][48];
    static const char *names[NCASES + NOTHER];
    for (size_t i = 0; i < NCASES; i++) {
        snprintf(bad_names[i], sizeof bad_names[i], "bad_%s", vsn_sim_bad_name(cases[i].kind));
        names[i] = bad_names[i];
    }
    for (size_t i = 0; i < NOTHER; i++)
        names[NCASES + i] = OTHER_CASES[i];
    vsn_cases_init(&argc, argv, names, NCASES + NOTHER);
    printf("malformed chains, one class per fresh device:\n");
    for (size_t i = 0; i < NCASES; i++) {
        if (!vsn_case(names[i]))
            continue;
        if (cases[i].outcome == NEEDS_RESET)
            fatal_case(&cases[i]);
        else
            nonfatal_case(&cases[i]);
    }
    CASES_SIM(VSN_CASE_RUN)
    printf("kinds without a simulator builder:\n");
    CASES_NO_BUILDER(VSN_CASE_RUN)
    return vsn_check_summary("queue_malformed");
}
