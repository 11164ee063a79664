/*
 * test_sim.c — self tests of the driver simulator against the reference C ring walker.
 *
 * The simulator plays the guest driver, ring_walk plays the device; both run in this thread.
 * Every tx chain's bytes are checksummed on the walker side and compared with what the driver
 * put in; rx buffers written by the walker are gathered back by the driver and compared.
 * Prints "sim_selftest: N passed, M failed" (N, M count test cases) and exits non-zero on
 * any failure.
 */
#include "ring_walk.h"
#include "vsn_sim.h"
#include "vsn_case.h"

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* ---- tiny test framework -------------------------------------------------------------- */

typedef struct tctx {
    unsigned passed, failed, case_fail;
    const char *name;
} tctx;

static void case_begin(tctx *t, const char *name)
{
    t->name = name;
    t->case_fail = 0;
}

static void case_end(tctx *t)
{
    if (t->case_fail != 0)
        t->failed++;
    else
        t->passed++;
}

static bool check_impl(tctx *t, bool ok, const char *expr, int line)
{
    if (!ok && t->case_fail++ < 8)
        fprintf(stderr, "FAIL [%s] line %d: %s\n", t->name, line, expr);
    return ok;
}

static const char *rc_name(int rc)
{
    return rc <= VSN_RW_E_ARG + 100 && rc >= VSN_RW_E_ARG ? vsn_rw_strerror(rc) : vsn_sim_strerror(rc);
}

static bool check_rc_impl(tctx *t, int got, int want, const char *expr, int line)
{
    if (got == want)
        return true;
    if (t->case_fail++ < 8)
        fprintf(stderr, "FAIL [%s] line %d: %s = %d (%s), want %d (%s)\n", t->name, line, expr,
                got, rc_name(got), want, rc_name(want));
    return false;
}

#define CHECK(t, cond) check_impl((t), (cond), #cond, __LINE__)
#define CHECK_RC(t, got, want) check_rc_impl((t), (got), (want), #got, __LINE__)

/* ---- data helpers --------------------------------------------------------------------- */

#define HDR 44u /* sizeof(struct virtio_vsock_hdr) */
#define SEG_CAP 1100u
#define MAX_PAYLOAD 8192u

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

#define FNV0 0xcbf29ce484222325ull

static uint8_t pattern(uint64_t token, uint64_t off)
{
    return (uint8_t)(token * 131u + off * 7u + (off >> 8) + 1u);
}

static void fill_pattern(uint8_t *p, size_t n, uint64_t token, uint64_t base)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pattern(token, base + i);
}

/* ---- rig: memory + simulated driver queue + reference walker -------------------------- */

struct expect {
    bool live, rx;
    uint64_t token, hash;
    uint32_t readable, writable, nsegs, ndesc, written;
    uint8_t hdr[HDR];
};

struct rig {
    vsn_sim_mem *mem;
    vsn_sim_queue *q;
    vsn_rw w;
    vsn_sim_mem_mark mark;
    struct expect *exp;
    uint64_t irqs;        /* interrupts the "binding" received from the walker */
    uint64_t kicks_seen;  /* notifications delivered through the notifier */
    uint64_t token;
    vsn_rw_seg segs[SEG_CAP];
};

static int on_kick(void *user, uint16_t queue_index)
{
    struct rig *r = user;
    (void)queue_index;
    r->kicks_seen++;
    return 0;
}

static int walker_init(struct rig *r, uint64_t walker_feats)
{
    vsn_sim_queue_layout lay;
    uint32_t n;
    const vsn_sim_region *reg = vsn_sim_mem_regions(r->mem, &n);
    vsn_rw_region rr[VSN_RW_MAX_REGIONS];
    for (uint32_t i = 0; i < n; i++)
        rr[i] = (vsn_rw_region){ reg[i].gpa, reg[i].size, reg[i].hva };
    vsn_sim_queue_layout_get(r->q, &lay);
    vsn_rw_config wc = { .struct_size = sizeof(wc), .queue_size = lay.queue_size,
                         .features = walker_feats, .desc_gpa = lay.desc_gpa,
                         .avail_gpa = lay.avail_gpa, .used_gpa = lay.used_gpa,
                         .regions = rr, .nregions = n };
    return vsn_rw_init(&r->w, &wc);
}

static int rig_init2(struct rig *r, const vsn_sim_region_spec *specs, uint32_t n, uint16_t qsize,
                     uint64_t feats, uint64_t walker_feats)
{
    memset(r, 0, sizeof(*r));
    vsn_sim_mem_config mc = { .struct_size = sizeof(mc), .nregions = n, .regions = specs,
                              .straddle_reserve = 4096 };
    int rc = vsn_sim_mem_create(&mc, &r->mem);
    if (rc != 0)
        return rc;
    vsn_sim_queue_config qc = { .struct_size = sizeof(qc), .queue_size = qsize,
                                .features = feats, .notify = on_kick, .notify_user = r };
    rc = vsn_sim_queue_create(r->mem, &qc, &r->q);
    if (rc == 0)
        rc = walker_init(r, walker_feats);
    r->exp = calloc(qsize, sizeof(*r->exp));
    if (rc == 0 && r->exp == NULL)
        rc = VSN_SIM_E_NOMEM;
    vsn_sim_mem_mark_get(r->mem, &r->mark);
    return rc;
}

static int rig_init(struct rig *r, const vsn_sim_region_spec *specs, uint32_t n, uint16_t qsize,
                    uint64_t feats)
{
    return rig_init2(r, specs, n, qsize, feats, feats);
}

static void rig_fini(struct rig *r)
{
    vsn_sim_queue_destroy(&r->q);
    vsn_sim_mem_destroy(&r->mem);
    free(r->exp);
    r->exp = NULL;
}

#define F_EVT VSN_SIM_FEAT(VIRTIO_RING_F_EVENT_IDX)
#define F_IND VSN_SIM_FEAT(VIRTIO_RING_F_INDIRECT_DESC)
#define ARRAY_LEN(a) (uint32_t)(sizeof(a) / sizeof((a)[0]))

static const vsn_sim_region_spec ONE[] = { { 0x100000, 8u << 20 } };

/* Unsorted on purpose: five GPA-adjacent regions, a gap, two adjacent, a gap, a lone one. */
static const vsn_sim_region_spec MANY[] = {
    { 0x400000, 0x10000 }, { 0x220000, 0x8000 },  { 0x200000, 0x20000 }, { 0x228000, 0x10000 },
    { 0x238000, 0x10000 }, { 0x248000, 0x18000 }, { 0x410000, 0x10000 }, { 0x800000, 0x1000 },
};

/* ---- device side (walker) ------------------------------------------------------------- */

static uint64_t hash_segs(const vsn_rw_chain *c, bool writable)
{
    uint64_t h = FNV0;
    for (uint32_t i = 0; i < c->nsegs; i++)
        if (c->segs[i].writable == writable)
            h = fnv(h, c->segs[i].hva, c->segs[i].len);
    return h;
}

/* Copies the first n readable bytes of the chain. */
static void first_bytes(const vsn_rw_chain *c, uint8_t *out, uint32_t n)
{
    for (uint32_t i = 0; i < c->nsegs && n > 0; i++) {
        uint32_t m = c->segs[i].len < n ? c->segs[i].len : n;
        if (c->segs[i].writable)
            break;
        memcpy(out, c->segs[i].hva, m);
        out += m;
        n -= m;
    }
}

static void verify_chain(struct rig *r, tctx *t, const vsn_rw_chain *c)
{
    struct expect *e = &r->exp[c->head];
    if (!CHECK(t, e->live))
        return;
    CHECK(t, c->readable == e->readable);
    CHECK(t, c->writable == e->writable);
    CHECK(t, c->nsegs == e->nsegs);
    CHECK(t, c->ndesc == e->ndesc);
    if (e->readable > 0)
        CHECK(t, hash_segs(c, false) == e->hash);
    if (!e->rx && e->readable >= HDR) {
        uint8_t h[HDR];
        first_bytes(c, h, HDR);
        CHECK(t, memcmp(h, e->hdr, HDR) == 0);
    }
}

/* Writes the rx pattern into the chain's writable segments; returns bytes written. */
static uint32_t device_write(struct rig *r, const vsn_rw_chain *c)
{
    struct expect *e = &r->exp[c->head];
    uint32_t want = e->writable - (e->writable > 2 ? c->head % 3u : 0u), done = 0;
    for (uint32_t i = 0; i < c->nsegs && done < want; i++) {
        if (!c->segs[i].writable)
            continue;
        uint32_t m = c->segs[i].len < want - done ? c->segs[i].len : want - done;
        fill_pattern(c->segs[i].hva, m, e->token, done);
        done += m;
    }
    e->written = done;
    return done;
}

/* Pops everything available, verifies, pushes, flushes once; counts the interrupt. */
static void walk_all(struct rig *r, tctx *t)
{
    vsn_rw_chain c = { .segs = r->segs, .cap = SEG_CAP };
    int rc;
    while ((rc = vsn_rw_pop(&r->w, &c)) == 1) {
        verify_chain(r, t, &c);
        uint32_t len = r->exp[c.head].rx ? device_write(r, &c) : 0;
        CHECK_RC(t, vsn_rw_push(&r->w, c.head, len), 0);
    }
    CHECK_RC(t, rc, 0);
    bool irq = false;
    vsn_rw_flush(&r->w, &irq);
    r->irqs += irq;
}

static void check_rx_bytes(tctx *t, const struct expect *e, const uint8_t *buf, uint32_t n)
{
    uint32_t bad = 0;
    for (uint32_t i = 0; i < n; i++)
        bad += buf[i] != pattern(e->token, i);
    CHECK(t, bad == 0);
}

/* Reaps everything used; checks tokens and gathered rx bytes. */
static void reap_all(struct rig *r, tctx *t)
{
    static const size_t cap = 1u << 16;
    uint8_t *buf = malloc(cap);
    vsn_sim_used u;
    int rc;
    while ((rc = vsn_sim_queue_reap(r->q, &u, buf, cap)) == 1) {
        struct expect *e = &r->exp[u.id];
        CHECK(t, e->live);
        CHECK(t, u.token == e->token);
        CHECK(t, u.len == (e->rx ? e->written : 0));
        if (e->rx) {
            CHECK(t, u.copied == e->written);
            check_rx_bytes(t, e, buf, u.copied);
        }
        e->live = false;
    }
    CHECK_RC(t, rc, 0);
    free(buf);
}

static void drain(struct rig *r, tctx *t)
{
    walk_all(r, t);
    reap_all(r, t);
    vsn_sim_queue_stats st;
    vsn_sim_queue_stats_get(r->q, &st);
    CHECK(t, st.in_flight == 0);
    vsn_sim_mem_mark_release(r->mem, &r->mark);
}

/* ---- driver side helpers -------------------------------------------------------------- */

static bool retryable(int rc)
{
    return rc == VSN_SIM_E_NO_SPACE || rc == VSN_SIM_E_NO_BOUNDARY || rc == VSN_SIM_E_NO_DESC;
}

/* Number of buffer descriptors the simulator makes for a tx chain (mirror of the doc). */
static uint32_t tx_bufs(uint32_t k, uint32_t plen, uint32_t pieces)
{
    uint32_t hdr = k == 0 ? 0 : (k < HDR ? 2 : 1), pay = plen > 0 ? pieces : 0;
    return k == 0 && pay == 0 ? 1 : hdr + pay;
}

static uint32_t popcount64(uint64_t v)
{
    return (uint32_t)__builtin_popcountll(v);
}

/* Adds a tx chain (draining and retrying once when the queue or memory is full). */
static int tx_one(struct rig *r, tctx *t, uint32_t k, uint32_t pieces, uint32_t plen,
                  uint32_t flags, uint64_t mask)
{
    uint8_t hdr[HDR], payload[MAX_PAYLOAD];
    uint64_t token = ++r->token;
    fill_pattern(hdr, HDR, token, 0);
    fill_pattern(payload, plen, token, HDR);
    vsn_sim_layout lay = { .hdr_split = k, .pieces = pieces, .flags = flags,
                           .straddle_mask = mask };
    uint16_t head;
    int rc = vsn_sim_queue_add_tx(r->q, hdr, HDR, payload, plen, &lay, token, &head);
    if (retryable(rc)) {
        drain(r, t);
        rc = vsn_sim_queue_add_tx(r->q, hdr, HDR, payload, plen, &lay, token, &head);
    }
    if (!CHECK_RC(t, rc, 0))
        return rc;
    struct expect *e = &r->exp[head];
    CHECK(t, !e->live);
    uint32_t nb = tx_bufs(k, plen, pieces);
    *e = (struct expect){ .live = true, .token = token, .readable = HDR + plen,
                          .hash = fnv(fnv(FNV0, hdr, HDR), payload, plen),
                          .nsegs = nb + popcount64(mask),
                          .ndesc = nb + ((flags & VSN_SIM_F_INDIRECT) ? 1u : 0u) };
    memcpy(e->hdr, hdr, HDR);
    (void)vsn_sim_queue_kick(r->q);
    return 0;
}

/* Posts an rx chain of len bytes in `pieces` even pieces. */
static int rx_one(struct rig *r, tctx *t, uint32_t len, uint32_t pieces, uint32_t flags,
                  uint64_t mask)
{
    uint64_t token = ++r->token;
    vsn_sim_layout lay = { .pieces = pieces, .flags = flags, .straddle_mask = mask };
    uint16_t head;
    int rc = vsn_sim_queue_add_rx(r->q, len, &lay, token, &head);
    if (retryable(rc)) {
        drain(r, t);
        rc = vsn_sim_queue_add_rx(r->q, len, &lay, token, &head);
    }
    if (!CHECK_RC(t, rc, 0))
        return rc;
    r->exp[head] = (struct expect){ .live = true, .rx = true, .token = token, .writable = len,
                                    .nsegs = pieces + popcount64(mask),
                                    .ndesc = pieces + ((flags & VSN_SIM_F_INDIRECT) ? 1u : 0u) };
    (void)vsn_sim_queue_kick(r->q);
    return 0;
}

/* Straddle mask for a tx chain: header descriptor, last piece, or none (needs len >= 2). */
static uint64_t pick_mask(uint32_t k, uint32_t plen, uint32_t pieces, uint32_t sel)
{
    uint32_t nb = tx_bufs(k, plen, pieces);
    uint32_t first_len = k == 0 ? HDR + (plen > 0 ? (plen + pieces - 1) / pieces : 0) : k;
    uint32_t last_len = plen > 0 ? plen / pieces : (k == 0 || k == HDR ? HDR : HDR - k);
    uint64_t mask = 0;
    if (sel % 3 == 0 && first_len >= 2)
        mask |= 1;
    if (sel % 3 == 1 && last_len >= 2)
        mask |= 1ull << (nb - 1);
    return mask;
}

/* ---- memory tests --------------------------------------------------------------------- */

static void test_mem_layout(tctx *t)
{
    case_begin(t, "mem_layout");
    vsn_sim_mem *m = NULL;
    vsn_sim_mem_config mc = { sizeof(mc), ARRAY_LEN(MANY), MANY, 4096, 0, NULL };
    CHECK_RC(t, vsn_sim_mem_create(&mc, &m), 0);
    uint32_t n;
    const vsn_sim_region *reg = vsn_sim_mem_regions(m, &n);
    CHECK(t, n == ARRAY_LEN(MANY));
    for (uint32_t i = 0; i < n; i++) {
        CHECK(t, ((uintptr_t)reg[i].hva & 63u) == (reg[i].gpa & 63u));
        if (i > 0) {
            CHECK(t, reg[i - 1].gpa < reg[i].gpa);
            CHECK(t, (uint8_t *)reg[i - 1].hva + reg[i - 1].size != (uint8_t *)reg[i].hva);
        }
    }
    void *h;
    uint64_t g;
    CHECK_RC(t, vsn_sim_mem_gpa_to_hva(m, 0x200010, 16, &h), 0);
    CHECK(t, h == (uint8_t *)reg[0].hva + 0x10);
    CHECK_RC(t, vsn_sim_mem_hva_to_gpa(m, h, &g), 0);
    CHECK(t, g == 0x200010);
    CHECK_RC(t, vsn_sim_mem_hva_to_gpa(m, &g, &g), VSN_SIM_E_HVA_UNMAPPED);
    CHECK_RC(t, vsn_sim_mem_gpa_to_hva(m, 0x21fff0, 32, &h), VSN_SIM_E_DISCONTIG);
    CHECK_RC(t, vsn_sim_mem_gpa_to_hva(m, 0x25fff0, 32, &h), VSN_SIM_E_UNMAPPED);
    CHECK_RC(t, vsn_sim_mem_gpa_to_hva(m, 0x300000, 1, &h), VSN_SIM_E_UNMAPPED);
    CHECK_RC(t, vsn_sim_mem_gpa_to_hva(m, UINT64_MAX - 4, 16, &h), VSN_SIM_E_RANGE_WRAP);
    CHECK_RC(t, vsn_sim_mem_gap_gpa(m, &g), 0);
    CHECK(t, g == 0x260000);
    CHECK_RC(t, vsn_sim_mem_outside_gpa(m, &g), 0);
    CHECK(t, g == 0x801000);
    /* a write across three GPA-adjacent regions reads back intact */
    uint8_t src[0x9000], dst[0x9000];
    fill_pattern(src, sizeof(src), 7, 0);
    CHECK_RC(t, vsn_sim_mem_write(m, 0x21f800, src, sizeof(src)), 0);
    CHECK_RC(t, vsn_sim_mem_read(m, 0x21f800, dst, sizeof(dst)), 0);
    CHECK(t, memcmp(src, dst, sizeof(src)) == 0);
    CHECK(t, ((uint8_t *)reg[1].hva)[0] == src[0x800]);
    CHECK_RC(t, vsn_sim_mem_write(m, 0x25f000, src, 0x2000), VSN_SIM_E_UNMAPPED);
    vsn_sim_mem_destroy(&m);
    vsn_sim_mem_destroy(&m); /* idempotent */
    CHECK(t, m == NULL);
    case_end(t);
}

static void test_mem_errors(tctx *t)
{
    case_begin(t, "mem_errors");
    vsn_sim_mem *m = NULL;
    vsn_sim_region_spec overlap[] = { { 0x1000, 0x2000 }, { 0x2000, 0x1000 } };
    vsn_sim_region_spec wrap[] = { { UINT64_MAX - 0xfff, 0x1000 } };
    vsn_sim_region_spec zero[] = { { 0x1000, 0 } };
    vsn_sim_region_spec huge[] = { { 0x1000, VSN_SIM_REGION_MAX + 1 } };
    vsn_sim_region_spec many[VSN_SIM_MAX_REGIONS + 1];
    for (uint32_t i = 0; i <= VSN_SIM_MAX_REGIONS; i++)
        many[i] = (vsn_sim_region_spec){ 0x10000ull * (i + 1), 0x1000 + 0x1000 * (i & 1) };
    vsn_sim_mem_config mc = { sizeof(mc), 2, overlap, 0, 0, NULL };
    CHECK_RC(t, vsn_sim_mem_create(&mc, &m), VSN_SIM_E_REGION_OVERLAP);
    mc = (vsn_sim_mem_config){ sizeof(mc), 1, wrap, 0, 0, NULL };
    CHECK_RC(t, vsn_sim_mem_create(&mc, &m), VSN_SIM_E_REGION_WRAP);
    mc = (vsn_sim_mem_config){ sizeof(mc), 1, zero, 0, 0, NULL };
    CHECK_RC(t, vsn_sim_mem_create(&mc, &m), VSN_SIM_E_REGION_SIZE);
    mc = (vsn_sim_mem_config){ sizeof(mc), 1, huge, 0, 0, NULL };
    CHECK_RC(t, vsn_sim_mem_create(&mc, &m), VSN_SIM_E_REGION_SIZE);
    mc = (vsn_sim_mem_config){ sizeof(mc), 0, many, 0, 0, NULL };
    CHECK_RC(t, vsn_sim_mem_create(&mc, &m), VSN_SIM_E_REGION_COUNT);
    mc = (vsn_sim_mem_config){ sizeof(mc), VSN_SIM_MAX_REGIONS + 1, many, 0, 0, NULL };
    CHECK_RC(t, vsn_sim_mem_create(&mc, &m), VSN_SIM_E_REGION_COUNT);
    mc = (vsn_sim_mem_config){ 4, 1, many, 0, 0, NULL };
    CHECK_RC(t, vsn_sim_mem_create(&mc, &m), VSN_SIM_E_STRUCT_SIZE);
    CHECK(t, m == NULL);
    mc = (vsn_sim_mem_config){ sizeof(mc), VSN_SIM_MAX_REGIONS, many, 0, 0, NULL };
    CHECK_RC(t, vsn_sim_mem_create(&mc, &m), 0);
    uint32_t n;
    vsn_sim_mem_regions(m, &n);
    CHECK(t, n == VSN_SIM_MAX_REGIONS);
    vsn_sim_mem_destroy(&m);
    case_end(t);
}

static void test_mem_alloc(tctx *t)
{
    case_begin(t, "mem_alloc");
    vsn_sim_mem *m = NULL;
    vsn_sim_region_spec two[] = { { 0x10000, 0x2000 }, { 0x12000, 0x2000 } };
    vsn_sim_mem_config mc = { sizeof(mc), 2, two, 0x100, 0, NULL };
    CHECK_RC(t, vsn_sim_mem_create(&mc, &m), 0);
    vsn_sim_mem_mark mk;
    vsn_sim_mem_mark_get(m, &mk);
    uint64_t a, b, s;
    CHECK_RC(t, vsn_sim_mem_alloc(m, 3, 1, &a), 0);
    CHECK_RC(t, vsn_sim_mem_alloc(m, 16, 16, &b), 0);
    CHECK(t, a == 0x10000 && b == 0x10010);
    CHECK_RC(t, vsn_sim_mem_alloc(m, 16, 3, &b), VSN_SIM_E_ALIGN);
    CHECK_RC(t, vsn_sim_mem_alloc(m, 0, 1, &b), VSN_SIM_E_ARG);
    CHECK_RC(t, vsn_sim_mem_alloc(m, 0x1f00, 1, &b), 0); /* spills into the second region */
    CHECK(t, b == 0x12100);                                /* after its straddle reserve */
    CHECK_RC(t, vsn_sim_mem_alloc(m, 0x1f00, 1, &b), VSN_SIM_E_NO_SPACE);
    CHECK_RC(t, vsn_sim_mem_alloc_straddle(m, 1, 0, &s), VSN_SIM_E_STRADDLE_LEN);
    CHECK_RC(t, vsn_sim_mem_alloc_straddle(m, 0x300, 0, &s), VSN_SIM_E_NO_BOUNDARY);
    CHECK_RC(t, vsn_sim_mem_alloc_straddle(m, 0x100, 0x80, &s), 0);
    CHECK(t, s == 0x11f80);
    CHECK_RC(t, vsn_sim_mem_alloc_straddle(m, 0x10, 0, &s), VSN_SIM_E_NO_BOUNDARY);
    vsn_sim_mem_mark_release(m, &mk);
    CHECK_RC(t, vsn_sim_mem_alloc_straddle(m, 0x10, 0, &s), 0);
    CHECK(t, s == 0x11ff8);
    CHECK_RC(t, vsn_sim_mem_alloc(m, 3, 1, &a), 0);
    CHECK(t, a == 0x10000);
    vsn_sim_mem_destroy(&m);
    case_end(t);
}

/* Memfd-backed memory: the bytes seen through the region fd (another mapping, as a vhost-user
 * backend makes) are the bytes written through the simulator, both ways; the old struct size
 * still works and gives anonymous memory. */
static void test_mem_memfd(tctx *t)
{
    case_begin(t, "mem_memfd");
    vsn_sim_mem *m = NULL;
    vsn_sim_region_spec two[] = { { 0x10020, 0x3000 }, { 0x20000, 0x1000 } };
    vsn_sim_mem_config mc = { sizeof(mc), 2, two, 0, VSN_SIM_MEM_F_MEMFD, "sim_test" };
    CHECK_RC(t, vsn_sim_mem_create(&mc, &m), 0);
    int fd = -1;
    uint64_t off = 0;
    CHECK_RC(t, vsn_sim_mem_region_fd(m, 2, &fd, &off), VSN_SIM_E_ARG);
    for (uint32_t i = 0; m != NULL && i < 2; i++) {
        CHECK_RC(t, vsn_sim_mem_region_fd(m, i, &fd, &off), 0);
        CHECK(t, off % 64 == two[i].gpa % 64);
        size_t len = (size_t)(off + two[i].size);
        uint8_t *other = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CHECK(t, other != MAP_FAILED);
        if (other == MAP_FAILED)
            continue;
        CHECK_RC(t, vsn_sim_mem_fill(m, two[i].gpa, 0x5a + (int)i, two[i].size), 0);
        CHECK(t, other[off] == 0x5a + i && other[off + two[i].size - 1] == 0x5a + i);
        other[off + 7] = 0xc3;
        uint8_t b = 0;
        CHECK_RC(t, vsn_sim_mem_read(m, two[i].gpa + 7, &b, 1), 0);
        CHECK(t, b == 0xc3);
        munmap(other, len);
    }
    vsn_sim_mem_destroy(&m);
    mc = (vsn_sim_mem_config){ VSN_SIM_MEM_CONFIG_SIZE_V1, 1, two, 0, VSN_SIM_MEM_F_MEMFD, NULL };
    CHECK_RC(t, vsn_sim_mem_create(&mc, &m), 0);
    if (m != NULL)
        CHECK_RC(t, vsn_sim_mem_region_fd(m, 0, &fd, &off), VSN_SIM_E_FEATURE);
    vsn_sim_mem_destroy(&m);
    mc = (vsn_sim_mem_config){ sizeof(mc), 1, two, 0, 0x2, NULL };
    CHECK_RC(t, vsn_sim_mem_create(&mc, &m), VSN_SIM_E_ARG);
    case_end(t);
}

/* ---- walker-only tests ---------------------------------------------------------------- */

static void test_walker_init(tctx *t)
{
    case_begin(t, "walker_init_and_translate");
    struct rig r;
    CHECK_RC(t, rig_init(&r, MANY, ARRAY_LEN(MANY), 16, 0), 0);
    vsn_sim_queue_layout lay;
    vsn_sim_queue_layout_get(r.q, &lay);
    uint32_t n;
    const vsn_sim_region *reg = vsn_sim_mem_regions(r.mem, &n);
    vsn_rw_region rr[VSN_RW_MAX_REGIONS];
    for (uint32_t i = 0; i < n; i++)
        rr[i] = (vsn_rw_region){ reg[i].gpa, reg[i].size, reg[i].hva };
    vsn_rw w;
    vsn_rw_config wc = { sizeof(wc), 16, 0, lay.desc_gpa, lay.avail_gpa, lay.used_gpa, rr, n };
    CHECK_RC(t, vsn_rw_init(&w, &wc), 0);
    wc.desc_gpa += 8;
    CHECK_RC(t, vsn_rw_init(&w, &wc), VSN_RW_E_RING_ALIGN);
    wc.desc_gpa = 0x25fff0; /* runs off the end of memory into the gap */
    CHECK_RC(t, vsn_rw_init(&w, &wc), VSN_RW_E_RING_RANGE);
    wc.desc_gpa = lay.desc_gpa;
    wc.queue_size = 12;
    CHECK_RC(t, vsn_rw_init(&w, &wc), VSN_RW_E_QUEUE_SIZE);
    wc.queue_size = 16;
    wc.nregions = 0;
    CHECK_RC(t, vsn_rw_init(&w, &wc), VSN_RW_E_REGIONS);
    wc.nregions = n;
    wc.struct_size = 8;
    CHECK_RC(t, vsn_rw_init(&w, &wc), VSN_RW_E_STRUCT_SIZE);
    /* translation splits at each region boundary and rejects gaps and wraps */
    vsn_rw_seg segs[4];
    vsn_rw_chain c = { .segs = segs, .cap = 4 };
    CHECK_RC(t, vsn_rw_translate(&r.w, 0x21fff0, 0x8020, false, &c), 0);
    CHECK(t, c.nsegs == 3);
    CHECK(t, segs[0].len == 0x10 && segs[1].len == 0x8000 && segs[2].len == 0x10);
    CHECK(t, segs[1].hva == reg[1].hva && segs[2].hva == reg[2].hva);
    c.nsegs = 0;
    c.cap = 2;
    CHECK_RC(t, vsn_rw_translate(&r.w, 0x21fff0, 0x8020, false, &c), VSN_RW_E_TOO_MANY_SEGS);
    c.nsegs = 0;
    CHECK_RC(t, vsn_rw_translate(&r.w, 0x25fff0, 0x20, false, &c), VSN_RW_E_ADDR_UNMAPPED);
    c.nsegs = 0;
    CHECK_RC(t, vsn_rw_translate(&r.w, UINT64_MAX - 8, 0x20, false, &c), VSN_RW_E_ADDR_WRAP);
    rig_fini(&r);
    case_end(t);
}

/* ---- queue tests ---------------------------------------------------------------------- */

static void test_queue_sizes(tctx *t)
{
    case_begin(t, "queue_sizes");
    vsn_sim_mem *m = NULL;
    vsn_sim_mem_config mc = { sizeof(mc), 1, ONE, 0, 0, NULL };
    CHECK_RC(t, vsn_sim_mem_create(&mc, &m), 0);
    for (uint32_t s = 1; s <= VSN_SIM_MAX_QUEUE_SIZE; s *= 2) {
        vsn_sim_queue *q = NULL;
        vsn_sim_queue_config qc = { sizeof(qc), (uint16_t)s, 0, F_EVT | F_IND, NULL, NULL };
        vsn_sim_mem_mark mk;
        vsn_sim_mem_mark_get(m, &mk);
        CHECK_RC(t, vsn_sim_queue_create(m, &qc, &q), 0);
        vsn_sim_queue_layout lay;
        vsn_sim_queue_layout_get(q, &lay);
        CHECK(t, lay.desc_gpa % 16 == 0 && lay.avail_gpa % 2 == 0 && lay.used_gpa % 4 == 0);
        vsn_sim_queue_destroy(&q);
        vsn_sim_queue_destroy(&q);
        vsn_sim_mem_mark_release(m, &mk);
    }
    vsn_sim_queue *q = NULL;
    uint16_t bad[] = { 0, 3, 100, 65535 };
    for (uint32_t i = 0; i < ARRAY_LEN(bad); i++) {
        vsn_sim_queue_config qc = { sizeof(qc), bad[i], 0, 0, NULL, NULL };
        CHECK_RC(t, vsn_sim_queue_create(m, &qc, &q), VSN_SIM_E_QUEUE_SIZE);
    }
    vsn_sim_mem_destroy(&m);
    case_end(t);
}

/* The full matrix: header split 0..44 x payload pieces 1..8 x direct/indirect x regions. */
static void tx_matrix(tctx *t, const vsn_sim_region_spec *specs, uint32_t n, bool indirect,
                      bool straddle, uint64_t feats)
{
    struct rig r;
    CHECK_RC(t, rig_init(&r, specs, n, 256, feats), 0);
    uint32_t chains = 0;
    for (uint32_t k = 0; k <= HDR; k++) {
        for (uint32_t p = 1; p <= 8; p++) {
            uint32_t plen = (p == 1 && k % 5 == 0) ? 0 : p + (k * 31 + p * 17) % 257;
            uint32_t flags = indirect ? VSN_SIM_F_INDIRECT : 0;
            uint64_t mask = straddle ? pick_mask(k, plen, p, k + p) : 0;
            if (indirect && straddle && (k + p) % 4 == 0)
                flags |= VSN_SIM_F_STRADDLE_TABLE;
            if (tx_one(&r, t, k, p, plen, flags, mask) == 0)
                chains++;
            if ((k * 8 + p) % 37 == 0)
                drain(&r, t);
        }
    }
    drain(&r, t);
    CHECK(t, chains == (HDR + 1) * 8);
    CHECK(t, r.w.stats.chains == chains && r.w.stats.bad_chains == 0);
    rig_fini(&r);
}

static void test_tx_matrix(tctx *t)
{
    static const struct {
        const char *name;
        bool many, indirect, straddle;
        uint64_t feats;
    } v[] = {
        { "tx_direct_one_region", false, false, false, 0 },
        { "tx_indirect_one_region", false, true, false, F_IND },
        { "tx_direct_many_regions", true, false, false, F_EVT },
        { "tx_indirect_many_regions", true, true, false, F_IND | F_EVT },
        { "tx_direct_straddling", true, false, true, F_EVT },
        { "tx_indirect_straddling", true, true, true, F_IND },
    };
    for (uint32_t i = 0; i < ARRAY_LEN(v); i++) {
        case_begin(t, v[i].name);
        for (int rep = 0; rep < 3; rep++)
            tx_matrix(t, v[i].many ? MANY : ONE, v[i].many ? ARRAY_LEN(MANY) : 1, v[i].indirect,
                      v[i].straddle, v[i].feats);
        case_end(t);
    }
}

static void test_tx_explicit_sizes(tctx *t)
{
    case_begin(t, "tx_explicit_sizes_and_mixed_indirect");
    struct rig r;
    CHECK_RC(t, rig_init(&r, MANY, ARRAY_LEN(MANY), 64, F_IND), 0);
    uint8_t hdr[HDR], pay[300];
    fill_pattern(hdr, HDR, 99, 0);
    fill_pattern(pay, sizeof(pay), 99, HDR);
    uint32_t sizes[] = { 100, 0, 1, 199 }; /* includes a zero-length descriptor */
    vsn_sim_layout lay = { .hdr_split = 10, .pieces = 4, .sizes = sizes };
    uint16_t head;
    CHECK_RC(t, vsn_sim_queue_add_tx(r.q, hdr, HDR, pay, 300, &lay, 99, &head), 0);
    r.exp[head] = (struct expect){ .live = true, .token = 99, .readable = HDR + 300,
                                   .hash = fnv(fnv(FNV0, hdr, HDR), pay, 300), .nsegs = 5,
                                   .ndesc = 6 };
    memcpy(r.exp[head].hdr, hdr, HDR);
    /* direct prefix of 2 (the header pieces), payload in an indirect table (§2.7.5.3.2) */
    lay.flags = VSN_SIM_F_INDIRECT | VSN_SIM_F_DIRECT_PREFIX(2);
    CHECK_RC(t, vsn_sim_queue_add_tx(r.q, hdr, HDR, pay, 300, &lay, 100, &head), 0);
    r.exp[head] = r.exp[(uint16_t)(head - 6)]; /* same bytes, other token */
    r.exp[head].token = 100;
    r.exp[head].ndesc = 7;
    drain(&r, t);
    /* bad layouts are refused and leave the queue untouched */
    uint32_t wrong[] = { 1, 2 };
    vsn_sim_layout bad = { .hdr_split = 45, .pieces = 1 };
    CHECK_RC(t, vsn_sim_queue_add_tx(r.q, hdr, HDR, pay, 3, &bad, 0, &head), VSN_SIM_E_HDR_SPLIT);
    bad = (vsn_sim_layout){ .hdr_split = 4, .pieces = 2, .sizes = wrong };
    CHECK_RC(t, vsn_sim_queue_add_tx(r.q, hdr, HDR, pay, 4, &bad, 0, &head), VSN_SIM_E_PIECE_SIZES);
    bad = (vsn_sim_layout){ .hdr_split = 4, .pieces = 5 };
    CHECK_RC(t, vsn_sim_queue_add_tx(r.q, hdr, HDR, pay, 4, &bad, 0, &head), VSN_SIM_E_PIECES);
    bad = (vsn_sim_layout){ .hdr_split = 1, .pieces = 1, .straddle_mask = 1 };
    CHECK_RC(t, vsn_sim_queue_add_tx(r.q, hdr, HDR, pay, 4, &bad, 0, &head), VSN_SIM_E_STRADDLE_MASK);
    bad = (vsn_sim_layout){ .hdr_split = 4, .pieces = 1, .straddle_mask = 8 };
    CHECK_RC(t, vsn_sim_queue_add_tx(r.q, hdr, HDR, pay, 4, &bad, 0, &head), VSN_SIM_E_STRADDLE_MASK);
    vsn_sim_buf bufs[2] = { { 0x200000, 4, true }, { 0x200010, 4, false } };
    CHECK_RC(t, vsn_sim_queue_add_bufs(r.q, bufs, 2, 0, 0, &head), VSN_SIM_E_CHAIN_ORDER);
    CHECK_RC(t, vsn_sim_queue_add_bufs(r.q, bufs, 0, 0, 0, &head), VSN_SIM_E_CHAIN_EMPTY);
    vsn_sim_queue_stats st;
    vsn_sim_queue_stats_get(r.q, &st);
    CHECK(t, st.free_descs == 64 && st.in_flight == 0);
    rig_fini(&r);
    case_end(t);
}

static void test_rx_roundtrip(tctx *t)
{
    static const struct {
        const char *name;
        bool many;
        uint32_t flags;
        bool straddle;
    } v[] = {
        { "rx_direct_one_region", false, 0, false },
        { "rx_indirect_one_region", false, VSN_SIM_F_INDIRECT, false },
        { "rx_direct_straddling", true, 0, true },
        { "rx_indirect_straddling", true, VSN_SIM_F_INDIRECT | VSN_SIM_F_STRADDLE_TABLE, true },
    };
    for (uint32_t i = 0; i < ARRAY_LEN(v); i++) {
        case_begin(t, v[i].name);
        struct rig r;
        CHECK_RC(t, rig_init(&r, v[i].many ? MANY : ONE, v[i].many ? ARRAY_LEN(MANY) : 1, 128,
                             F_IND | F_EVT), 0);
        for (uint32_t len = 1; len <= 4200; len += 37) {
            uint32_t pieces = 1 + len % 8 < len ? 1 + len % 8 : len;
            uint64_t mask = v[i].straddle && len / pieces >= 2 ? 1ull << (len % pieces) : 0;
            rx_one(&r, t, len, pieces, v[i].flags, mask);
            if (len % 5 == 0)
                drain(&r, t);
        }
        drain(&r, t);
        CHECK(t, r.w.stats.chains == 114 && r.w.stats.bad_chains == 0);
        rig_fini(&r);
        case_end(t);
    }
}

static void test_full_ring(tctx *t)
{
    case_begin(t, "full_ring_32768");
    struct rig r;
    CHECK_RC(t, rig_init(&r, ONE, 1, 32768, F_IND), 0);
    for (uint32_t i = 0; i < 32768; i++)
        tx_one(&r, t, 0, 1, 1 + i % 16, 0, 0); /* header + payload in one descriptor */
    uint8_t hdr[HDR] = { 0 };
    vsn_sim_layout lay = { .pieces = 1 };
    uint16_t head;
    CHECK_RC(t, vsn_sim_queue_add_tx(r.q, hdr, HDR, NULL, 0, &lay, 0, &head), VSN_SIM_E_NO_DESC);
    drain(&r, t);
    for (uint32_t i = 0; i < 32768; i++)
        tx_one(&r, t, 20, 3, 3 + i % 100, VSN_SIM_F_INDIRECT, 0);
    drain(&r, t);
    CHECK(t, r.w.stats.chains == 65536);
    rig_fini(&r);
    case_end(t);
}

/* ---- malformed chains ----------------------------------------------------------------- */

static int expected_error(vsn_sim_bad k)
{
    static const int map[VSN_SIM_BAD_COUNT] = {
        [VSN_SIM_BAD_DESC_LOOP] = VSN_RW_E_DESC_LOOP,
        [VSN_SIM_BAD_NEXT_RANGE] = VSN_RW_E_NEXT_RANGE,
        [VSN_SIM_BAD_HEAD_RANGE] = VSN_RW_E_HEAD_RANGE,
        [VSN_SIM_BAD_NESTED_INDIRECT] = VSN_RW_E_NESTED_INDIRECT,
        [VSN_SIM_BAD_INDIRECT_LEN_ALIGN] = VSN_RW_E_INDIRECT_LEN_ALIGN,
        [VSN_SIM_BAD_INDIRECT_LEN_ZERO] = VSN_RW_E_INDIRECT_LEN_ZERO,
        [VSN_SIM_BAD_INDIRECT_UNMAPPED] = VSN_RW_E_INDIRECT_UNMAPPED,
        [VSN_SIM_BAD_INDIRECT_WITH_NEXT] = VSN_RW_E_INDIRECT_WITH_NEXT,
        [VSN_SIM_BAD_READ_AFTER_WRITE] = VSN_RW_E_READ_AFTER_WRITE,
        [VSN_SIM_BAD_ADDR_UNMAPPED] = VSN_RW_E_ADDR_UNMAPPED,
        [VSN_SIM_BAD_ADDR_WRAP] = VSN_RW_E_ADDR_WRAP,
        [VSN_SIM_BAD_CHAIN_TOO_LONG] = VSN_RW_E_CHAIN_TOO_LONG,
        [VSN_SIM_BAD_AVAIL_IDX_JUMP] = VSN_RW_E_AVAIL_IDX_JUMP,
        [VSN_SIM_BAD_ADDR_IN_GAP] = VSN_RW_E_ADDR_UNMAPPED,
    };
    return map[k];
}

static bool queue_level(vsn_sim_bad k)
{
    return k == VSN_SIM_BAD_HEAD_RANGE || k == VSN_SIM_BAD_AVAIL_IDX_JUMP;
}

/* Reaps after a malformed chain: the bad head comes back with len 0 (unless queue-level). */
static void reap_bad(tctx *t, struct rig *r, vsn_sim_bad k, uint16_t bad_head)
{
    vsn_sim_used u;
    int rc, bad_seen = 0;
    while ((rc = vsn_sim_queue_reap(r->q, &u, NULL, 0)) == 1) {
        if (u.bad) {
            bad_seen++;
            CHECK(t, u.id == bad_head && u.len == 0);
        } else {
            CHECK(t, r->exp[u.id].live && u.token == r->exp[u.id].token);
            r->exp[u.id].live = false;
        }
    }
    CHECK_RC(t, rc, 0);
    CHECK(t, bad_seen == (queue_level(k) ? 0 : 1));
    vsn_sim_queue_stats st;
    vsn_sim_queue_stats_get(r->q, &st);
    CHECK(t, st.in_flight == 0 && st.free_descs == r->w.size);
}

/* good chain, bad chain, good chain: the bad one is rejected with its code, the rest flow. */
static void bad_one(tctx *t, struct rig *r, vsn_sim_bad k)
{
    vsn_rw_chain c = { .segs = r->segs, .cap = SEG_CAP };
    uint16_t bad_head;
    tx_one(r, t, 13, 1, 0, 0, 0); /* 2 descriptors: header split 13 + 31, no payload */
    if (!CHECK_RC(t, vsn_sim_queue_add_bad(r->q, k, &bad_head), 0))
        return;
    int want = expected_error(k);
    if (k == VSN_SIM_BAD_AVAIL_IDX_JUMP) {
        CHECK_RC(t, vsn_rw_pop(&r->w, &c), want); /* nothing consumed */
        CHECK_RC(t, vsn_rw_pop(&r->w, &c), VSN_RW_E_BROKEN);
        CHECK_RC(t, vsn_sim_queue_restore_avail_idx(r->q), 0);
        vsn_rw_clear_broken(&r->w);
    }
    CHECK_RC(t, vsn_rw_pop(&r->w, &c), 1);
    verify_chain(r, t, &c);
    CHECK_RC(t, vsn_rw_push(&r->w, c.head, 0), 0);
    if (k != VSN_SIM_BAD_AVAIL_IDX_JUMP) {
        CHECK_RC(t, vsn_rw_pop(&r->w, &c), want);
        if (!queue_level(k))
            CHECK(t, c.head == bad_head);
        if (k == VSN_SIM_BAD_HEAD_RANGE) {
            CHECK_RC(t, vsn_rw_pop(&r->w, &c), VSN_RW_E_BROKEN);
            vsn_rw_clear_broken(&r->w);
        }
    }
    CHECK_RC(t, vsn_rw_pop(&r->w, &c), 0);
    bool irq;
    vsn_rw_flush(&r->w, &irq);
    reap_bad(t, r, k, bad_head);
    tx_one(r, t, 30, 1, 50, 0, 0); /* and the next good chain flows */
    drain(r, t);
}

static void test_malformed(tctx *t)
{
    static const uint16_t sizes[] = { 4, 256 };
    for (uint32_t k = 0; k < VSN_SIM_BAD_COUNT; k++) {
        char name[64];
        snprintf(name, sizeof(name), "malformed_%s", vsn_sim_bad_name((vsn_sim_bad)k));
        case_begin(t, name);
        for (uint32_t s = 0; s < ARRAY_LEN(sizes); s++) {
            struct rig r;
            CHECK_RC(t, rig_init(&r, MANY, ARRAY_LEN(MANY), sizes[s], F_IND | F_EVT), 0);
            for (int rep = 0; rep < 5; rep++)
                bad_one(t, &r, (vsn_sim_bad)k);
            for (uint32_t i = 0; i < 50; i++) /* the queue keeps working */
                tx_one(&r, t, i % 45, 1 + i % 2, 8 + i, i % 2 ? VSN_SIM_F_INDIRECT : 0, 0);
            drain(&r, t);
            CHECK(t, r.w.stats.bad_chains == (queue_level((vsn_sim_bad)k) ? 0u : 5u));
            rig_fini(&r);
        }
        case_end(t);
    }
}

static void test_malformed_preconditions(tctx *t)
{
    case_begin(t, "malformed_preconditions");
    struct rig r;
    uint16_t head;
    CHECK_RC(t, rig_init(&r, ONE, 1, 8, 0), 0);
    CHECK_RC(t, vsn_sim_queue_add_bad(r.q, VSN_SIM_BAD_NESTED_INDIRECT, &head), VSN_SIM_E_FEATURE);
    CHECK_RC(t, vsn_sim_queue_add_bad(r.q, VSN_SIM_BAD_ADDR_IN_GAP, &head), VSN_SIM_E_NO_GAP);
    CHECK_RC(t, vsn_sim_queue_add_bad(r.q, VSN_SIM_BAD_COUNT, &head), VSN_SIM_E_BAD_KIND);
    CHECK_RC(t, vsn_sim_queue_restore_avail_idx(r.q), VSN_SIM_E_NOTHING_TO_RESTORE);
    rig_fini(&r);
    /* indirect chain offered to a device that did not negotiate INDIRECT_DESC */
    CHECK_RC(t, rig_init2(&r, ONE, 1, 16, F_IND, 0), 0);
    tx_one(&r, t, 10, 2, 20, VSN_SIM_F_INDIRECT, 0);
    vsn_rw_chain c = { .segs = r.segs, .cap = SEG_CAP };
    CHECK_RC(t, vsn_rw_pop(&r.w, &c), VSN_RW_E_INDIRECT_FEATURE);
    /* a chain with more host segments than the device accepts */
    tx_one(&r, t, 10, 8, 20, 0, 0);
    c.cap = 4;
    CHECK_RC(t, vsn_rw_pop(&r.w, &c), VSN_RW_E_TOO_MANY_SEGS);
    CHECK_RC(t, vsn_rw_push(&r.w, 16, 0), VSN_RW_E_PUSH_ID);
    CHECK_RC(t, vsn_rw_push(&r.w, 0, 0), VSN_RW_E_PUSH_OVERFLOW);
    bool irq;
    vsn_rw_flush(&r.w, &irq);
    vsn_sim_used u;
    CHECK_RC(t, vsn_sim_queue_reap(r.q, &u, NULL, 0), 1);
    CHECK_RC(t, vsn_sim_queue_reap(r.q, &u, NULL, 0), 1);
    CHECK(t, u.len == 0);
    CHECK_RC(t, vsn_sim_queue_reap(r.q, &u, NULL, 0), 0);
    rig_fini(&r);
    case_end(t);
}

/* A buggy device: the driver must notice. */
static void test_device_bugs(tctx *t)
{
    case_begin(t, "driver_detects_device_bugs");
    struct rig r;
    vsn_sim_queue_layout lay;
    vsn_sim_used u;
    struct { uint32_t id, len; uint16_t bump; int want; } cases[] = {
        { 0, 0, 5, VSN_SIM_E_USED_IDX_JUMP }, /* used idx moved by 5 with 1 chain in flight */
        { 9, 0, 1, VSN_SIM_E_USED_ID },       /* id beyond the queue */
        { 3, 0, 1, VSN_SIM_E_USED_ID },       /* id not in flight */
        { 0, 1000, 1, VSN_SIM_E_USED_LEN },   /* len beyond the writable bytes */
    };
    for (uint32_t i = 0; i < ARRAY_LEN(cases); i++) {
        CHECK_RC(t, rig_init(&r, ONE, 1, 8, 0), 0);
        vsn_sim_queue_layout_get(r.q, &lay);
        rx_one(&r, t, 64, 1, 0, 0); /* head 0 */
        lay.used->ring[0].id = htole32(cases[i].id);
        lay.used->ring[0].len = htole32(cases[i].len);
        __atomic_store_n(&lay.used->idx, htole16(cases[i].bump), __ATOMIC_RELEASE);
        CHECK_RC(t, vsn_sim_queue_reap(r.q, &u, NULL, 0), cases[i].want);
        if (cases[i].want != VSN_SIM_E_USED_LEN)
            CHECK_RC(t, vsn_sim_queue_reap(r.q, &u, NULL, 0), VSN_SIM_E_BROKEN);
        rig_fini(&r);
    }
    case_end(t);
}

/* ---- index wrap ----------------------------------------------------------------------- */

/* Batches of `batch` chains (never more descriptors than the ring holds) until idx wraps. */
static void wrap_run(tctx *t, uint64_t feats, uint32_t flags, uint32_t batch)
{
    struct rig r;
    vsn_sim_queue_layout lay;
    vsn_sim_irq_report rep;
    const uint32_t total = 3u * 65536u + 77u;
    CHECK_RC(t, rig_init(&r, ONE, 1, 8, feats), 0);
    vsn_sim_queue_layout_get(r.q, &lay);
    uint32_t done = 0, misses = 0;
    while (done < total) {
        vsn_sim_queue_enable_interrupts(r.q);
        vsn_sim_queue_irq_window_begin(r.q, r.irqs);
        for (uint32_t i = 0; i < batch && done < total; i++, done++) {
            if (flags & VSN_SIM_F_INDIRECT) /* 1 ring descriptor each */
                tx_one(&r, t, (done * 7) % 45, 1 + done % 3, 3 + done % 9, flags, 0);
            else /* header + payload merged, or header alone: 1 descriptor */
                tx_one(&r, t, done % 2 ? 0 : HDR, 1, done % 2 ? 1 + done % 9 : 0, flags, 0);
        }
        walk_all(&r, t); /* one flush per batch: must interrupt once */
        misses += vsn_sim_queue_irq_window_check(r.q, r.irqs, &rep) != 0 || !rep.required;
        reap_all(&r, t);
        vsn_sim_mem_mark_release(r.mem, &r.mark);
    }
    CHECK(t, misses == 0);
    CHECK(t, le16toh(lay.avail->idx) == (uint16_t)total);
    CHECK(t, le16toh(lay.used->idx) == (uint16_t)total);
    CHECK(t, r.w.stats.chains == total);
    vsn_sim_queue_stats st;
    vsn_sim_queue_stats_get(r.q, &st);
    CHECK(t, st.chains_reaped == total && st.kicks_sent + st.kicks_suppressed == total);
    CHECK(t, r.kicks_seen == st.kicks_sent);
    rig_fini(&r);
}

static void test_index_wrap(tctx *t)
{
    case_begin(t, "index_wrap_flags");
    wrap_run(t, 0, 0, 8);
    case_end(t);
    case_begin(t, "index_wrap_event_idx_indirect");
    wrap_run(t, F_EVT | F_IND, VSN_SIM_F_INDIRECT, 8);
    case_end(t);
}

/* ---- notification suppression --------------------------------------------------------- */

static void test_kick_event_idx(tctx *t)
{
    case_begin(t, "kick_suppression_event_idx");
    struct rig r;
    vsn_sim_queue_stats st;
    CHECK_RC(t, rig_init(&r, ONE, 1, 16, F_EVT), 0);
    tx_one(&r, t, 44, 1, 10, 0, 0); /* avail_event 0, idx 0->1: kick */
    tx_one(&r, t, 44, 1, 10, 0, 0); /* device has not moved avail_event: 1->2 suppressed */
    vsn_sim_queue_stats_get(r.q, &st);
    CHECK(t, st.kicks_sent == 1 && st.kicks_suppressed == 1 && r.kicks_seen == 1);
    walk_all(&r, t); /* pops 2, avail_event = 2 */
    uint8_t hdr[HDR] = { 0 };
    vsn_sim_layout lay = { .hdr_split = HDR, .pieces = 1 };
    uint16_t head;
    for (int i = 0; i < 3; i++) { /* batch of 3 then one kick: 2->5 crosses avail_event 2 */
        CHECK_RC(t, vsn_sim_queue_add_tx(r.q, hdr, HDR, NULL, 0, &lay, 0, &head), 0);
        r.exp[head] = (struct expect){ .live = true, .readable = HDR, .nsegs = 1, .ndesc = 1,
                                       .hash = fnv(FNV0, hdr, HDR) };
    }
    CHECK_RC(t, vsn_sim_queue_kick(r.q), 1);
    vsn_rw_disable_notify(&r.w); /* the device stops moving avail_event at 2 */
    walk_all(&r, t);
    tx_one(&r, t, 44, 1, 10, 0, 0); /* 5->6 does not cross 2: suppressed */
    vsn_sim_queue_stats_get(r.q, &st);
    CHECK(t, st.kicks_sent == 2 && st.kicks_suppressed == 2);
    CHECK(t, vsn_rw_enable_notify(&r.w) == 1); /* avail_event = 5; an entry is waiting */
    walk_all(&r, t);
    tx_one(&r, t, 44, 1, 10, 0, 0); /* 6->7 crosses avail_event 6: kick */
    vsn_sim_queue_stats_get(r.q, &st);
    CHECK(t, st.kicks_sent == 3 && r.kicks_seen == 3);
    drain(&r, t);
    rig_fini(&r);
    case_end(t);
}

static void test_kick_flags(tctx *t)
{
    case_begin(t, "kick_suppression_flags");
    struct rig r;
    vsn_sim_queue_stats st;
    CHECK_RC(t, rig_init(&r, ONE, 1, 16, 0), 0);
    tx_one(&r, t, 44, 1, 10, 0, 0);
    vsn_rw_disable_notify(&r.w); /* VRING_USED_F_NO_NOTIFY */
    tx_one(&r, t, 44, 1, 10, 0, 0);
    tx_one(&r, t, 44, 1, 10, 0, 0);
    CHECK(t, vsn_rw_enable_notify(&r.w) == 1);
    tx_one(&r, t, 44, 1, 10, 0, 0);
    vsn_sim_queue_stats_get(r.q, &st);
    CHECK(t, st.kicks_sent == 2 && st.kicks_suppressed == 2 && r.kicks_seen == 2);
    drain(&r, t);
    rig_fini(&r);
    case_end(t);
}

/* Pushes and flushes one chain at a time; returns the interrupt pattern as bits. */
static uint32_t one_by_one(struct rig *r, tctx *t, uint32_t n, bool count)
{
    uint32_t bits = 0;
    for (uint32_t i = 0; i < n; i++)
        tx_one(r, t, 44, 1, 10, 0, 0);
    vsn_rw_chain c = { .segs = r->segs, .cap = SEG_CAP };
    for (uint32_t i = 0; i < n; i++) {
        bool irq = false;
        CHECK_RC(t, vsn_rw_pop(&r->w, &c), 1);
        CHECK_RC(t, vsn_rw_push(&r->w, c.head, 0), 0);
        vsn_rw_flush(&r->w, &irq);
        bits |= (uint32_t)irq << i;
        if (count)
            r->irqs += irq;
    }
    return bits;
}

static void test_interrupts_event_idx(tctx *t)
{
    case_begin(t, "interrupts_event_idx");
    struct rig r;
    vsn_sim_irq_report rep;
    CHECK_RC(t, rig_init(&r, ONE, 1, 16, F_EVT), 0);
    CHECK(t, vsn_sim_queue_enable_interrupts(r.q) == 0); /* used_event = 0 */
    vsn_sim_queue_irq_window_begin(r.q, r.irqs);
    CHECK(t, one_by_one(&r, t, 4, true) == 0x1); /* only the entry at idx 0 interrupts */
    CHECK_RC(t, vsn_sim_queue_irq_window_check(r.q, r.irqs, &rep), 0);
    CHECK(t, rep.required && rep.received == 1 && !rep.spurious);
    reap_all(&r, t);
    vsn_sim_queue_disable_interrupts(r.q);
    vsn_sim_queue_irq_window_begin(r.q, r.irqs);
    CHECK(t, one_by_one(&r, t, 4, true) == 0);
    CHECK_RC(t, vsn_sim_queue_irq_window_check(r.q, r.irqs, &rep), 0);
    CHECK(t, !rep.required && rep.received == 0);
    CHECK(t, vsn_sim_queue_enable_interrupts(r.q) == 1); /* 4 used, not reaped: re-check */
    reap_all(&r, t);
    /* delayed: used_event = last_used + 3 -> only the 4th entry interrupts */
    CHECK_RC(t, vsn_sim_queue_set_used_event(r.q, (uint16_t)(8 + 3)), 0);
    vsn_sim_queue_irq_window_begin(r.q, r.irqs);
    CHECK(t, one_by_one(&r, t, 5, true) == 0x8);
    CHECK_RC(t, vsn_sim_queue_irq_window_check(r.q, r.irqs, &rep), 0);
    reap_all(&r, t);
    /* a device that owes an interrupt and does not send it is caught */
    vsn_sim_queue_enable_interrupts(r.q);
    vsn_sim_queue_irq_window_begin(r.q, r.irqs);
    one_by_one(&r, t, 2, false);
    CHECK_RC(t, vsn_sim_queue_irq_window_check(r.q, r.irqs, &rep), VSN_SIM_E_IRQ_MISSED);
    reap_all(&r, t);
    /* an interrupt nobody asked for is reported as spurious, not as an error */
    vsn_sim_queue_disable_interrupts(r.q);
    vsn_sim_queue_irq_window_begin(r.q, r.irqs);
    one_by_one(&r, t, 1, true);
    CHECK_RC(t, vsn_sim_queue_irq_window_check(r.q, r.irqs + 1, &rep), 0);
    CHECK(t, rep.spurious);
    CHECK_RC(t, vsn_sim_queue_irq_window_check(r.q, 0, &rep), VSN_SIM_E_IRQ_COUNT);
    reap_all(&r, t);
    vsn_sim_mem_mark_release(r.mem, &r.mark);
    rig_fini(&r);
    case_end(t);
}

static void test_interrupts_flags(tctx *t)
{
    case_begin(t, "interrupts_flags");
    struct rig r;
    vsn_sim_irq_report rep;
    CHECK_RC(t, rig_init(&r, ONE, 1, 16, 0), 0);
    CHECK_RC(t, vsn_sim_queue_irq_window_check(r.q, 0, &rep), VSN_SIM_E_IRQ_NO_WINDOW);
    CHECK_RC(t, vsn_sim_queue_set_used_event(r.q, 1), VSN_SIM_E_FEATURE);
    vsn_sim_queue_irq_window_begin(r.q, r.irqs);
    CHECK(t, one_by_one(&r, t, 3, true) == 0x7); /* flags 0: every entry interrupts */
    CHECK_RC(t, vsn_sim_queue_irq_window_check(r.q, r.irqs, &rep), 0);
    CHECK(t, rep.required && rep.received == 3);
    reap_all(&r, t);
    vsn_sim_queue_disable_interrupts(r.q); /* VRING_AVAIL_F_NO_INTERRUPT */
    vsn_sim_queue_irq_window_begin(r.q, r.irqs);
    CHECK(t, one_by_one(&r, t, 3, true) == 0);
    CHECK_RC(t, vsn_sim_queue_irq_window_check(r.q, r.irqs, &rep), 0);
    CHECK(t, !rep.required && rep.no_interrupt);
    reap_all(&r, t);
    vsn_sim_queue_enable_interrupts(r.q);
    vsn_sim_queue_irq_window_begin(r.q, r.irqs);
    one_by_one(&r, t, 1, false);
    CHECK_RC(t, vsn_sim_queue_irq_window_check(r.q, r.irqs, &rep), VSN_SIM_E_IRQ_MISSED);
    reap_all(&r, t);
    vsn_sim_mem_mark_release(r.mem, &r.mark);
    rig_fini(&r);
    case_end(t);
}

static void test_strerror(tctx *t)
{
    case_begin(t, "error_names");
    for (int e = VSN_SIM_E_ARG; e <= VSN_SIM_E_NOTHING_TO_RESTORE; e++)
        CHECK(t, strcmp(vsn_sim_strerror(e), "unknown") != 0);
    for (int e = VSN_RW_E_ARG; e <= VSN_RW_E_PUSH_OVERFLOW; e++)
        CHECK(t, strcmp(vsn_rw_strerror(e), "unknown") != 0);
    CHECK(t, strcmp(vsn_sim_strerror(-11), "negative errno (from a notifier)") == 0);
    case_end(t);
}

#define CASES(X) \
    X(mem_layout, test_mem_layout(&t)) \
    X(mem_errors, test_mem_errors(&t)) \
    X(mem_alloc, test_mem_alloc(&t)) \
    X(mem_memfd, test_mem_memfd(&t)) \
    X(walker_init, test_walker_init(&t)) \
    X(queue_sizes, test_queue_sizes(&t)) \
    X(tx_matrix, test_tx_matrix(&t)) \
    X(tx_explicit_sizes, test_tx_explicit_sizes(&t)) \
    X(rx_roundtrip, test_rx_roundtrip(&t)) \
    X(full_ring, test_full_ring(&t)) \
    X(malformed, test_malformed(&t)) \
    X(malformed_preconditions, test_malformed_preconditions(&t)) \
    X(device_bugs, test_device_bugs(&t)) \
    X(index_wrap, test_index_wrap(&t)) \
    X(kick_event_idx, test_kick_event_idx(&t)) \
    X(kick_flags, test_kick_flags(&t)) \
    X(interrupts_event_idx, test_interrupts_event_idx(&t)) \
    X(interrupts_flags, test_interrupts_flags(&t)) \
    X(strerror, test_strerror(&t))
static const char *const CASE_NAMES[] = { CASES(VSN_CASE_NAME) };

int main(int argc, char **argv)
{
    VSN_CASES_INIT(argc, argv, CASE_NAMES);
    tctx t = { 0 };
    CASES(VSN_CASE_RUN)
    int missed = vsn_cases_end();
    printf("sim_selftest: %u passed, %u failed\n", t.passed, t.failed);
    return t.failed == 0 && missed == 0 ? 0 : 1;
}
