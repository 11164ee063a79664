/*
 * sim_bad.c — malformed-chain builders: what a hostile or buggy guest driver can publish.
 * Each builder says in one line what is wrong with what it builds.  The descriptors a builder
 * takes are recycled when the device returns the head through the used ring.
 */
#include "sim_internal.h"

#include <endian.h>

#define WRAP_ADDR 0xfffffffffffff000ull /* addr + WRAP_LEN wraps past 2^64 */
#define WRAP_LEN 0x2000u
#define SMALL 16u                       /* size of the harmless buffers the builders point at */

static const char *const bad_names[VSN_SIM_BAD_COUNT] = {
    [VSN_SIM_BAD_DESC_LOOP] = "desc_loop",
    [VSN_SIM_BAD_NEXT_RANGE] = "next_range",
    [VSN_SIM_BAD_HEAD_RANGE] = "head_range",
    [VSN_SIM_BAD_NESTED_INDIRECT] = "nested_indirect",
    [VSN_SIM_BAD_INDIRECT_LEN_ALIGN] = "indirect_len_align",
    [VSN_SIM_BAD_INDIRECT_LEN_ZERO] = "indirect_len_zero",
    [VSN_SIM_BAD_INDIRECT_UNMAPPED] = "indirect_unmapped",
    [VSN_SIM_BAD_INDIRECT_WITH_NEXT] = "indirect_with_next",
    [VSN_SIM_BAD_READ_AFTER_WRITE] = "read_after_write",
    [VSN_SIM_BAD_ADDR_UNMAPPED] = "addr_unmapped",
    [VSN_SIM_BAD_ADDR_WRAP] = "addr_wrap",
    [VSN_SIM_BAD_CHAIN_TOO_LONG] = "chain_too_long",
    [VSN_SIM_BAD_AVAIL_IDX_JUMP] = "avail_idx_jump",
    [VSN_SIM_BAD_ADDR_IN_GAP] = "addr_in_gap",
};

const char *vsn_sim_bad_name(vsn_sim_bad kind)
{
    return (unsigned)kind < VSN_SIM_BAD_COUNT ? bad_names[kind] : "unknown";
}

/* ---- what each class needs before anything is written -------------------------------- */

static bool needs_indirect(vsn_sim_bad k)
{
    return k == VSN_SIM_BAD_NESTED_INDIRECT || k == VSN_SIM_BAD_INDIRECT_LEN_ALIGN ||
           k == VSN_SIM_BAD_INDIRECT_LEN_ZERO || k == VSN_SIM_BAD_INDIRECT_UNMAPPED ||
           k == VSN_SIM_BAD_INDIRECT_WITH_NEXT || k == VSN_SIM_BAD_CHAIN_TOO_LONG;
}

/* Ring descriptors a class takes (0: only the avail ring is touched). */
static uint16_t ring_descs(vsn_sim_bad k)
{
    switch (k) {
    case VSN_SIM_BAD_DESC_LOOP:
    case VSN_SIM_BAD_INDIRECT_WITH_NEXT:
    case VSN_SIM_BAD_READ_AFTER_WRITE:
        return 2;
    case VSN_SIM_BAD_HEAD_RANGE:
    case VSN_SIM_BAD_AVAIL_IDX_JUMP:
        return 0;
    default:
        return 1;
    }
}

/* Everything that can refuse a class, checked before any state changes. */
static int precheck(const vsn_sim_queue *q, vsn_sim_bad k)
{
    uint64_t gap;
    if ((unsigned)k >= VSN_SIM_BAD_COUNT)
        return VSN_SIM_E_BAD_KIND;
    if (q->broken)
        return VSN_SIM_E_BROKEN;
    if (needs_indirect(k) && !q->indirect)
        return VSN_SIM_E_FEATURE;
    if (k == VSN_SIM_BAD_ADDR_IN_GAP && vsn_sim_mem_gap_gpa(q->mem, &gap) != 0)
        return VSN_SIM_E_NO_GAP;
    return ring_descs(k) > q->num_free ? VSN_SIM_E_NO_DESC : 0;
}

/* ---- helpers -------------------------------------------------------------------------- */

/* A harmless, mapped, readable 16-byte buffer. */
static int small_buf(vsn_sim_queue *q, uint64_t *gpa)
{
    int rc = vsn_sim_mem_alloc(q->mem, SMALL, 16, gpa);
    return rc == 0 ? vsn_sim_mem_fill(q->mem, *gpa, 0x5a, SMALL) : rc;
}

/* Writes an indirect table of n entries, each from (flags, len, addr); entries chain 0..n-1. */
static int table(vsn_sim_queue *q, uint32_t n, uint16_t flags, uint64_t addr, uint32_t len,
                 uint64_t *gpa)
{
    int rc = vsn_sim_mem_alloc(q->mem, 16ull * n, 16, gpa);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        struct vring_desc d;
        bool more = i + 1 < n;
        sim_desc_encode(&d, addr, len, (uint16_t)(flags | (more ? VRING_DESC_F_NEXT : 0)),
                        (uint16_t)(more ? i + 1 : 0));
        rc = vsn_sim_mem_write(q->mem, *gpa + 16ull * i, &d, sizeof(d));
    }
    return rc;
}

/* ---- the builders: one descriptor layout per class ------------------------------------ */

/* Fills the ring descriptor(s) starting at head (still on the free list; taken after). */
static int build(vsn_sim_queue *q, vsn_sim_bad k, uint16_t head)
{
    uint16_t d1 = q->link[head];
    uint64_t buf, tab, out;
    int rc = small_buf(q, &buf);
    if (rc != 0)
        return rc;
    switch (k) {
    case VSN_SIM_BAD_DESC_LOOP: /* d0 -> d1 -> d0: NEXT links form a cycle */
        sim_desc_write(q, head, buf, SMALL, VRING_DESC_F_NEXT, d1);
        sim_desc_write(q, d1, buf, SMALL, VRING_DESC_F_NEXT, head);
        return 0;
    case VSN_SIM_BAD_NEXT_RANGE: /* next == queue size: outside the descriptor table */
        sim_desc_write(q, head, buf, SMALL, VRING_DESC_F_NEXT, q->size);
        return 0;
    case VSN_SIM_BAD_NESTED_INDIRECT: /* indirect table entry is itself INDIRECT */
        rc = table(q, 1, VRING_DESC_F_INDIRECT, buf, SMALL, &tab);
        if (rc == 0)
            sim_desc_write(q, head, tab, 16, VRING_DESC_F_INDIRECT, 0);
        return rc;
    case VSN_SIM_BAD_INDIRECT_LEN_ALIGN: /* table len 24: not a multiple of 16 */
        rc = table(q, 2, 0, buf, SMALL, &tab);
        if (rc == 0)
            sim_desc_write(q, head, tab, 24, VRING_DESC_F_INDIRECT, 0);
        return rc;
    case VSN_SIM_BAD_INDIRECT_LEN_ZERO: /* table len 0: an empty indirect table */
        sim_desc_write(q, head, buf, 0, VRING_DESC_F_INDIRECT, 0);
        return 0;
    case VSN_SIM_BAD_INDIRECT_UNMAPPED: /* table address above all guest memory */
        rc = vsn_sim_mem_outside_gpa(q->mem, &out);
        if (rc == 0)
            sim_desc_write(q, head, out, 32, VRING_DESC_F_INDIRECT, 0);
        return rc;
    case VSN_SIM_BAD_INDIRECT_WITH_NEXT: /* INDIRECT and NEXT set together (§2.7.5.3.1) */
        rc = table(q, 1, 0, buf, SMALL, &tab);
        if (rc == 0) {
            sim_desc_write(q, head, tab, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, d1);
            sim_desc_write(q, d1, buf, SMALL, 0, 0);
        }
        return rc;
    case VSN_SIM_BAD_READ_AFTER_WRITE: /* writable d0, then readable d1 (§2.7.4.2) */
        sim_desc_write(q, head, buf, SMALL, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, d1);
        sim_desc_write(q, d1, buf, SMALL, 0, 0);
        return 0;
    case VSN_SIM_BAD_ADDR_UNMAPPED: /* buffer address above all guest memory */
        rc = vsn_sim_mem_outside_gpa(q->mem, &out);
        if (rc == 0)
            sim_desc_write(q, head, out, SMALL, 0, 0);
        return rc;
    case VSN_SIM_BAD_ADDR_WRAP: /* addr + len wraps past 2^64 */
        sim_desc_write(q, head, WRAP_ADDR, WRAP_LEN, 0, 0);
        return 0;
    case VSN_SIM_BAD_CHAIN_TOO_LONG: /* indirect chain of queue size + 1 descriptors */
        rc = table(q, q->size + 1u, 0, buf, SMALL, &tab);
        if (rc == 0)
            sim_desc_write(q, head, tab, 16u * (q->size + 1u), VRING_DESC_F_INDIRECT, 0);
        return rc;
    case VSN_SIM_BAD_ADDR_IN_GAP: /* buffer starts in a hole between two regions */
        rc = vsn_sim_mem_gap_gpa(q->mem, &out);
        if (rc == 0)
            sim_desc_write(q, head, out, SMALL, 0, 0);
        return rc;
    default:
        return VSN_SIM_E_BAD_KIND;
    }
}

/* Classes that touch only the avail ring. */
static int build_avail_only(vsn_sim_queue *q, vsn_sim_bad k, uint16_t *head)
{
    if (k == VSN_SIM_BAD_HEAD_RANGE) { /* avail entry == queue size: no such descriptor */
        *head = q->size;
        sim_publish(q, q->size, NULL);
    } else { /* avail idx published queue size + 1 ahead of what was really added */
        *head = 0xffff;
        /* release: same publication rule as a real idx update (§2.7.13.3.1) */
        __atomic_thread_fence(__ATOMIC_RELEASE);
        __atomic_store_n(&q->avail->idx, htole16((uint16_t)(q->avail_idx + q->size + 1u)),
                         __ATOMIC_RELAXED);
        q->avail_corrupt = true;
    }
    q->stats.bad_chains_added++;
    return 0;
}

int vsn_sim_queue_add_bad(vsn_sim_queue *q, vsn_sim_bad kind, uint16_t *head)
{
    if (q == NULL || head == NULL)
        return VSN_SIM_E_ARG;
    int rc = precheck(q, kind);
    if (rc != 0)
        return rc;
    if (ring_descs(kind) == 0)
        return build_avail_only(q, kind, head);
    struct sim_head h = { .ndesc = ring_descs(kind), .bad = 1 };
    vsn_sim_mem_mark mark;
    uint16_t first;
    vsn_sim_mem_mark_get(q->mem, &mark);
    /* peek the descriptors build() will use; take them only if it succeeds */
    first = q->free_head;
    rc = build(q, kind, first);
    if (rc != 0) {
        vsn_sim_mem_mark_release(q->mem, &mark);
        return rc;
    }
    (void)sim_desc_alloc(q, h.ndesc, head); /* == first; cannot fail: precheck() */
    sim_publish(q, *head, &h);
    q->stats.bad_chains_added++;
    return 0;
}

int vsn_sim_queue_restore_avail_idx(vsn_sim_queue *q)
{
    if (!q->avail_corrupt)
        return VSN_SIM_E_NOTHING_TO_RESTORE;
    __atomic_store_n(&q->avail->idx, htole16(q->avail_idx), __ATOMIC_RELAXED);
    q->avail_corrupt = false;
    return 0;
}
