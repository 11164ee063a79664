/*
 * ring_walk.c — minimal bounds-checked device-side split-virtqueue walker (see ring_walk.h).
 *
 * Every guest number is untrusted: ring entries and descriptors are read once into locals,
 * every range goes through checked arithmetic, every chain walk is bounded by a time-to-live
 * equal to the table it walks, so loops end.
 *
 * Barriers (device side; driver-side partners in sim_ring.c):
 *  - acquire after loading avail idx, before reading avail entries and descriptors — pairs
 *    with the driver's barrier before its idx update (virtio 1.2 §2.7.13.3.1)
 *  - release before storing used idx: "the device MUST set len prior to updating the used idx"
 *    and must write the data first (§2.7.8.2)
 *  - full fence after storing used idx, before reading used_event / avail flags: the device
 *    side of used buffer notification suppression (§2.7.7.2); without it a stale used_event
 *    loses the interrupt (store -> load, pairs with the driver's fence in §2.7.14)
 *  - full fence after writing avail_event / used flags, before re-reading avail idx
 *    (§2.7.10, the mirror of the driver's §2.7.13.4.1 fence)
 */
#include "ring_walk.h"

#include <endian.h>
#include <string.h>

static const char *const err_names[] = {
    "invalid argument", "struct_size too small", "bad queue size", "bad region table",
    "misaligned ring", "ring outside one region", "walker broken", "avail idx jumped",
    "head out of range", "next out of range", "descriptor loop", "chain longer than queue size",
    "indirect without feature", "nested indirect", "indirect with next", "indirect len 0",
    "indirect len not multiple of 16", "indirect table wraps", "indirect table unmapped",
    "readable after writable", "buffer wraps", "buffer unmapped", "chain over 4 GiB",
    "too many segments", "push id out of range", "push without popped chain",
};

_Static_assert(sizeof(err_names) / sizeof(err_names[0]) ==
                   (size_t)(VSN_RW_E_PUSH_OVERFLOW - VSN_RW_E_ARG + 1),
               "one name per vsn_rw_err");

const char *vsn_rw_strerror(int err)
{
    if (err == 0)
        return "ok";
    if (err >= VSN_RW_E_ARG && err <= VSN_RW_E_PUSH_OVERFLOW)
        return err_names[err - VSN_RW_E_ARG];
    return "unknown";
}

/* Single relaxed little-endian read of a ring field the driver writes. */
static uint16_t load16(const void *p)
{
    return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED));
}

/* Single relaxed little-endian write of a ring field the driver reads. */
static void store16(void *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELAXED);
}

/* ---- regions -------------------------------------------------------------------------- */

static int copy_regions(vsn_rw *w, const vsn_rw_region *in, uint32_t n)
{
    if (in == NULL || n == 0 || n > VSN_RW_MAX_REGIONS)
        return VSN_RW_E_REGIONS;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t end;
        if (in[i].hva == NULL || in[i].size == 0 ||
            __builtin_add_overflow(in[i].gpa, in[i].size, &end))
            return VSN_RW_E_REGIONS;
        uint32_t j = i; /* insertion sort by gpa */
        while (j > 0 && w->regions[j - 1].gpa > in[i].gpa) {
            w->regions[j] = w->regions[j - 1];
            j--;
        }
        w->regions[j] = in[i];
    }
    for (uint32_t i = 1; i < n; i++)
        if (w->regions[i - 1].gpa + w->regions[i - 1].size > w->regions[i].gpa)
            return VSN_RW_E_REGIONS;
    w->nregions = n;
    return 0;
}

/* Region containing gpa, or NULL (binary search over the sorted table). */
static const vsn_rw_region *find(const vsn_rw *w, uint64_t gpa)
{
    uint32_t lo = 0, hi = w->nregions;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (w->regions[mid].gpa <= gpa)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const vsn_rw_region *r = &w->regions[lo - 1];
    return gpa - r->gpa < r->size ? r : NULL;
}

/* Host pointer for [gpa, gpa+len) when it lies inside one region, else NULL.  len > 0. */
static uint8_t *contiguous(const vsn_rw *w, uint64_t gpa, uint64_t len)
{
    const vsn_rw_region *r = find(w, gpa);
    if (r == NULL || len > r->size - (gpa - r->gpa))
        return NULL;
    return (uint8_t *)r->hva + (gpa - r->gpa);
}

int vsn_rw_translate(const vsn_rw *w, uint64_t gpa, uint32_t len, bool writable, vsn_rw_chain *c)
{
    uint64_t end;
    if (__builtin_add_overflow(gpa, (uint64_t)len, &end))
        return VSN_RW_E_ADDR_WRAP;
    while (gpa < end) {
        const vsn_rw_region *r = find(w, gpa);
        if (r == NULL)
            return VSN_RW_E_ADDR_UNMAPPED;
        uint64_t room = r->size - (gpa - r->gpa);
        uint64_t chunk = end - gpa < room ? end - gpa : room;
        if (c->nsegs >= c->cap)
            return VSN_RW_E_TOO_MANY_SEGS;
        c->segs[c->nsegs++] = (vsn_rw_seg){ (uint8_t *)r->hva + (gpa - r->gpa), (uint32_t)chunk,
                                            writable };
        gpa += chunk;
    }
    return 0;
}

/* ---- init ----------------------------------------------------------------------------- */

static int ring_part(const vsn_rw *w, uint64_t gpa, uint64_t len, uint64_t align, void **hva)
{
    if (gpa % align != 0)
        return VSN_RW_E_RING_ALIGN;
    uint64_t end;
    if (__builtin_add_overflow(gpa, len, &end) || (*hva = contiguous(w, gpa, len)) == NULL)
        return VSN_RW_E_RING_RANGE;
    return (uintptr_t)*hva % align == 0 ? 0 : VSN_RW_E_RING_ALIGN;
}

int vsn_rw_init(vsn_rw *w, const vsn_rw_config *cfg)
{
    vsn_rw t;
    void *d, *a, *u;
    if (w == NULL || cfg == NULL)
        return VSN_RW_E_ARG;
    if (cfg->struct_size < sizeof(*cfg))
        return VSN_RW_E_STRUCT_SIZE;
    uint64_t n = cfg->queue_size;
    if (n == 0 || (n & (n - 1)) != 0 || n > 32768)
        return VSN_RW_E_QUEUE_SIZE;
    memset(&t, 0, sizeof(t));
    int rc = copy_regions(&t, cfg->regions, cfg->nregions);
    if (rc == 0)
        rc = ring_part(&t, cfg->desc_gpa, 16 * n, VRING_DESC_ALIGN_SIZE, &d);
    if (rc == 0)
        rc = ring_part(&t, cfg->avail_gpa, 6 + 2 * n, VRING_AVAIL_ALIGN_SIZE, &a);
    if (rc == 0)
        rc = ring_part(&t, cfg->used_gpa, 6 + 8 * n, VRING_USED_ALIGN_SIZE, &u);
    if (rc != 0)
        return rc;
    t.size = (uint16_t)n;
    t.event_idx = (cfg->features >> VIRTIO_RING_F_EVENT_IDX) & 1u;
    t.indirect = (cfg->features >> VIRTIO_RING_F_INDIRECT_DESC) & 1u;
    t.notify_enabled = true;
    t.desc = d;
    t.avail = a;
    t.used = u;
    t.used_event = (uint16_t *)&t.avail->ring[n];
    t.avail_event = (uint16_t *)((uint8_t *)u + 4 + 8 * n);
    *w = t;
    return 0;
}

/* ---- chain walk ----------------------------------------------------------------------- */

/* Where descriptors come from: the ring's table, or an indirect table (maybe split). */
struct desc_src {
    const uint8_t *base; /* contiguous host copy source, or NULL if the table crosses regions */
    uint64_t gpa;
    uint32_t count;
};

/* Reads descriptor idx (< count) once into *d. */
static void read_desc(const vsn_rw *w, const struct desc_src *s, uint32_t idx, struct vring_desc *d)
{
    if (s->base != NULL) {
        memcpy(d, s->base + 16ull * idx, sizeof(*d));
        return;
    }
    uint8_t *out = (uint8_t *)d;
    uint64_t gpa = s->gpa + 16ull * idx;
    for (uint32_t got = 0; got < sizeof(*d);) { /* mapped: checked by indirect_src() */
        const vsn_rw_region *r = find(w, gpa);
        uint64_t room = r->size - (gpa - r->gpa);
        uint32_t chunk = sizeof(*d) - got < room ? (uint32_t)(sizeof(*d) - got) : (uint32_t)room;
        memcpy(out + got, (const uint8_t *)r->hva + (gpa - r->gpa), chunk);
        got += chunk;
        gpa += chunk;
    }
}

/* Validates an indirect descriptor's table (§2.7.5.3) and sets up *s to walk it. */
static int indirect_src(const vsn_rw *w, uint64_t addr, uint32_t len, struct desc_src *s)
{
    uint64_t end;
    if (len == 0)
        return VSN_RW_E_INDIRECT_LEN_ZERO;
    if (len % 16 != 0)
        return VSN_RW_E_INDIRECT_LEN_ALIGN;
    if (len / 16 > w->size)
        return VSN_RW_E_CHAIN_TOO_LONG;
    if (__builtin_add_overflow(addr, (uint64_t)len, &end))
        return VSN_RW_E_INDIRECT_WRAP;
    for (uint64_t g = addr; g < end;) { /* every byte mapped, adjacent regions allowed */
        const vsn_rw_region *r = find(w, g);
        if (r == NULL)
            return VSN_RW_E_INDIRECT_UNMAPPED;
        g = r->gpa + r->size;
    }
    s->base = contiguous(w, addr, len);
    s->gpa = addr;
    s->count = len / 16;
    return 0;
}

/* Handles an INDIRECT descriptor: switch the walk into its table. */
static int enter_indirect(const vsn_rw *w, const struct vring_desc *d, bool in_table,
                          struct desc_src *s)
{
    uint16_t flags = le16toh(d->flags);
    if (!w->indirect)
        return VSN_RW_E_INDIRECT_FEATURE;
    if (in_table)
        return VSN_RW_E_NESTED_INDIRECT;
    if (flags & VRING_DESC_F_NEXT)
        return VSN_RW_E_INDIRECT_WITH_NEXT;
    /* the WRITE flag of the table descriptor is ignored (§2.7.5.3.2) */
    return indirect_src(w, le64toh(d->addr), le32toh(d->len), s);
}

/* Handles a buffer descriptor: order rule, byte totals, translation. */
static int take_buffer(const vsn_rw *w, const struct vring_desc *d, bool *seen_write,
                       vsn_rw_chain *c)
{
    bool wr = (le16toh(d->flags) & VRING_DESC_F_WRITE) != 0;
    uint32_t len = le32toh(d->len), total;
    if (!wr && *seen_write)
        return VSN_RW_E_READ_AFTER_WRITE;
    *seen_write |= wr;
    if (__builtin_add_overflow(c->readable + c->writable, len, &total))
        return VSN_RW_E_CHAIN_BYTES;
    *(wr ? &c->writable : &c->readable) += len;
    return vsn_rw_translate(w, le64toh(d->addr), len, wr, c);
}

/* Walks the chain at head into c; bounded by a TTL equal to the table being walked. */
static int walk(const vsn_rw *w, uint16_t head, vsn_rw_chain *c)
{
    struct desc_src s = { (const uint8_t *)w->desc, 0, w->size };
    uint32_t idx = head, ttl = w->size;
    bool in_table = false, seen_write = false;
    for (;;) {
        struct vring_desc d;
        read_desc(w, &s, idx, &d);
        c->ndesc++;
        uint16_t flags = le16toh(d.flags);
        if (flags & VRING_DESC_F_INDIRECT) {
            int rc = enter_indirect(w, &d, in_table, &s);
            if (rc != 0)
                return rc;
            in_table = true;
            idx = 0;
            ttl = s.count;
            continue;
        }
        int rc = take_buffer(w, &d, &seen_write, c);
        if (rc != 0)
            return rc;
        if (!(flags & VRING_DESC_F_NEXT))
            return 0;
        idx = le16toh(d.next);
        if (idx >= s.count)
            return VSN_RW_E_NEXT_RANGE;
        if (--ttl == 0) /* visited as many descriptors as the table holds */
            return VSN_RW_E_DESC_LOOP;
    }
}

/* ---- avail side ----------------------------------------------------------------------- */

/* Number of avail entries not popped yet; marks broken on an impossible jump. */
static int avail_pending(vsn_rw *w, uint16_t *pending)
{
    if (w->avail_cache == w->last_avail) {
        w->avail_cache = load16(&w->avail->idx);
        /* acquire: avail entries and descriptors are read only after the idx that exposed
         * them (pairs with the driver's release, §2.7.13.3.1) */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
    }
    *pending = (uint16_t)(w->avail_cache - w->last_avail);
    if (*pending > w->size) {
        w->broken = true;
        return VSN_RW_E_AVAIL_IDX_JUMP;
    }
    return 0;
}

int vsn_rw_pop(vsn_rw *w, vsn_rw_chain *c)
{
    uint16_t pending;
    if (w == NULL || c == NULL || c->segs == NULL || c->cap == 0)
        return VSN_RW_E_ARG;
    if (w->broken)
        return VSN_RW_E_BROKEN;
    c->head = 0xffff;
    c->ndesc = c->readable = c->writable = c->nsegs = 0;
    int rc = avail_pending(w, &pending);
    if (rc != 0 || pending == 0)
        return rc;
    uint16_t head = load16(&w->avail->ring[w->last_avail & (w->size - 1)]);
    w->last_avail++;
    if (w->event_idx && w->notify_enabled)
        store16(w->avail_event, w->last_avail); /* §2.7.10: kick me at the next new entry */
    if (head >= w->size) {
        w->broken = true;
        return VSN_RW_E_HEAD_RANGE;
    }
    c->head = head;
    w->in_flight++;
    rc = walk(w, head, c);
    if (rc != 0) {
        w->stats.bad_chains++;
        (void)vsn_rw_push(w, head, 0); /* cannot fail: head < size, in_flight > 0 */
        return rc;
    }
    w->stats.chains++;
    return 1;
}

/* ---- used side ------------------------------------------------------------------------ */

int vsn_rw_push(vsn_rw *w, uint16_t head, uint32_t len)
{
    if (head >= w->size)
        return VSN_RW_E_PUSH_ID;
    if (w->in_flight == 0)
        return VSN_RW_E_PUSH_OVERFLOW;
    struct vring_used_elem *e = &w->used->ring[w->used_idx & (w->size - 1)];
    e->id = htole32(head);
    e->len = htole32(len);
    w->used_idx++;
    w->in_flight--;
    return 0;
}

int vsn_rw_flush(vsn_rw *w, bool *interrupt)
{
    bool need = false;
    uint16_t old = w->used_pub, new_idx = w->used_idx;
    if (old != new_idx) {
        /* §2.7.8.2: len (and the data) MUST be set prior to updating the used idx */
        __atomic_thread_fence(__ATOMIC_RELEASE);
        store16(&w->used->idx, new_idx);
        w->used_pub = new_idx;
        /* §2.7.7.2: the used idx store must be visible before used_event/flags are read,
         * or a driver re-enabling interrupts concurrently is never woken (store -> load) */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (w->event_idx)
            need = vring_need_event(load16(w->used_event), new_idx, old);
        else
            need = (load16(&w->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT) == 0;
        if (need)
            w->stats.interrupts++;
        else
            w->stats.interrupts_suppressed++;
    }
    if (interrupt != NULL)
        *interrupt = need;
    return 0;
}

/* ---- notification control ------------------------------------------------------------- */

int vsn_rw_enable_notify(vsn_rw *w)
{
    w->notify_enabled = true;
    if (w->event_idx)
        store16(w->avail_event, w->last_avail);
    else
        store16(&w->used->flags, 0);
    /* §2.7.10 mirror of §2.7.13.4.1: publish the event/flags before re-reading avail idx,
     * else an entry added meanwhile is neither seen nor kicked (store -> load) */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return load16(&w->avail->idx) != w->last_avail;
}

void vsn_rw_disable_notify(vsn_rw *w)
{
    w->notify_enabled = false;
    if (!w->event_idx)
        store16(&w->used->flags, VRING_USED_F_NO_NOTIFY);
}

void vsn_rw_clear_broken(vsn_rw *w)
{
    w->broken = false;
    w->avail_cache = w->last_avail; /* force a fresh avail idx read */
}
