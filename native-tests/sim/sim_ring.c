/*
 * sim_ring.c — the driver's side of a split virtqueue: ring layout, descriptor free list,
 * publishing, kicks (Linux virtqueue_kick_prepare rules), reaping, interrupt expectations.
 *
 * Barriers (driver side; the device-side partners are in ring_walk.c):
 *  - release before storing avail idx  (virtio 1.2 §2.7.13.3.1 "Updating idx")
 *  - full fence before reading used->flags / avail_event (§2.7.13.4.1 "Notifying The Device")
 *  - acquire after loading used idx, before reading used elements (§2.7.14, pairs with the
 *    device's release in §2.7.8.2 "set len prior to updating the used idx")
 *  - full fence after re-enabling interrupts, before re-reading used idx (§2.7.14 note)
 */
#include "sim_internal.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

/* ---- little-endian ring field access --------------------------------------------------- */

/* Single relaxed little-endian read of a ring field the device writes. */
static uint16_t load16(const void *p)
{
    return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED));
}

/* Single relaxed little-endian write of a ring field the device reads. */
static void store16(void *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELAXED);
}

/* ---- creation ------------------------------------------------------------------------- */

static int check_queue_config(const vsn_sim_queue_config *cfg)
{
    if (cfg == NULL)
        return VSN_SIM_E_ARG;
    if (cfg->struct_size < sizeof(*cfg))
        return VSN_SIM_E_STRUCT_SIZE;
    if (cfg->queue_size == 0 || (cfg->queue_size & (cfg->queue_size - 1)) != 0 ||
        cfg->queue_size > VSN_SIM_MAX_QUEUE_SIZE)
        return VSN_SIM_E_QUEUE_SIZE;
    return 0;
}

/* Allocates one zeroed ring part inside a single region. */
static int ring_part(vsn_sim_mem *mem, uint64_t len, uint64_t align, uint64_t *gpa, void **hva)
{
    int rc = vsn_sim_mem_alloc(mem, len, align, gpa);
    if (rc == 0)
        rc = vsn_sim_mem_gpa_to_hva(mem, *gpa, len, hva);
    if (rc == 0)
        memset(*hva, 0, len);
    return rc;
}

/* Places desc table, avail ring and used ring (spec alignments 16/2/4). */
static int place_rings(vsn_sim_queue *q)
{
    uint64_t n = q->size;
    void *d, *a, *u;
    int rc = ring_part(q->mem, 16 * n, VRING_DESC_ALIGN_SIZE, &q->desc_gpa, &d);
    if (rc == 0)
        rc = ring_part(q->mem, 6 + 2 * n, VRING_AVAIL_ALIGN_SIZE, &q->avail_gpa, &a);
    if (rc == 0)
        rc = ring_part(q->mem, 6 + 8 * n, VRING_USED_ALIGN_SIZE, &q->used_gpa, &u);
    if (rc != 0)
        return rc;
    q->desc = d;
    q->avail = a;
    q->used = u;
    q->used_event = (uint16_t *)&q->avail->ring[n];
    q->avail_event = (uint16_t *)((uint8_t *)u + 4 + 8 * n);
    return 0;
}

/* Links every descriptor into the free list: 0 -> 1 -> ... -> size-1. */
static void init_free_list(vsn_sim_queue *q)
{
    for (uint32_t i = 0; i < q->size; i++)
        q->link[i] = (uint16_t)(i + 1 < q->size ? i + 1 : 0);
    q->free_head = 0;
    q->num_free = q->size;
}

int vsn_sim_queue_create(vsn_sim_mem *mem, const vsn_sim_queue_config *cfg, vsn_sim_queue **out)
{
    int rc = check_queue_config(cfg);
    if (rc == 0 && (mem == NULL || out == NULL))
        rc = VSN_SIM_E_ARG;
    if (rc != 0)
        return rc;
    vsn_sim_queue *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return VSN_SIM_E_NOMEM;
    q->mem = mem;
    q->size = cfg->queue_size;
    q->index = cfg->queue_index;
    q->features = cfg->features;
    q->event_idx = (cfg->features & VSN_SIM_FEAT(VIRTIO_RING_F_EVENT_IDX)) != 0;
    q->indirect = (cfg->features & VSN_SIM_FEAT(VIRTIO_RING_F_INDIRECT_DESC)) != 0;
    q->notify = cfg->notify;
    q->notify_user = cfg->notify_user;
    q->link = calloc(q->size, sizeof(*q->link));
    q->shadow = calloc(q->size, sizeof(*q->shadow));
    q->heads = calloc(q->size, sizeof(*q->heads));
    if (q->link == NULL || q->shadow == NULL || q->heads == NULL) {
        vsn_sim_queue_destroy(&q);
        return VSN_SIM_E_NOMEM;
    }
    vsn_sim_mem_mark mark;
    vsn_sim_mem_mark_get(mem, &mark);
    rc = place_rings(q);
    if (rc != 0) {
        vsn_sim_mem_mark_release(mem, &mark);
        vsn_sim_queue_destroy(&q);
        return rc;
    }
    init_free_list(q);
    *out = q;
    return 0;
}

void vsn_sim_queue_destroy(vsn_sim_queue **q)
{
    if (q == NULL || *q == NULL)
        return;
    free((*q)->link);
    free((*q)->shadow);
    free((*q)->heads);
    free(*q);
    *q = NULL;
}

void vsn_sim_queue_layout_get(const vsn_sim_queue *q, vsn_sim_queue_layout *out)
{
    out->queue_size = q->size;
    out->features = q->features;
    out->desc_gpa = q->desc_gpa;
    out->avail_gpa = q->avail_gpa;
    out->used_gpa = q->used_gpa;
    out->desc = q->desc;
    out->avail = q->avail;
    out->used = q->used;
}

void vsn_sim_queue_stats_get(const vsn_sim_queue *q, vsn_sim_queue_stats *out)
{
    *out = q->stats;
    out->in_flight = q->in_flight;
    out->free_descs = q->num_free;
}

vsn_sim_mem *vsn_sim_queue_mem(const vsn_sim_queue *q)
{
    return q->mem;
}

/* ---- descriptors and publishing ------------------------------------------------------- */

int sim_desc_alloc(vsn_sim_queue *q, uint32_t n, uint16_t *head)
{
    if (n == 0 || n > q->num_free)
        return VSN_SIM_E_NO_DESC;
    uint16_t last = q->free_head;
    for (uint32_t i = 1; i < n; i++)
        last = q->link[last];
    *head = q->free_head;
    q->free_head = q->link[last];
    q->num_free -= n;
    return 0;
}

void sim_desc_encode(struct vring_desc *out, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    out->addr = htole64(addr);
    out->len = htole32(len);
    out->flags = htole16(flags);
    out->next = htole16(next);
}

void sim_desc_write(vsn_sim_queue *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                    uint16_t next)
{
    sim_desc_encode(&q->desc[i], addr, len, flags, next);
    q->shadow[i].addr = addr;
    q->shadow[i].len = len;
    q->shadow[i].flags = flags;
}

void sim_publish(vsn_sim_queue *q, uint16_t head, const struct sim_head *h)
{
    if (h != NULL) {
        q->heads[head] = *h;
        q->heads[head].in_flight = 1;
        q->in_flight++;
    }
    store16(&q->avail->ring[q->avail_idx & (q->size - 1)], head);
    q->avail_idx++;
    /* §2.7.13.3.1: the driver MUST perform a suitable memory barrier before the idx update,
     * so the device sees the descriptors and the ring entry before the new idx. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    store16(&q->avail->idx, q->avail_idx);
    q->stats.chains_added++;
    /* Like Linux: num_added is 16 bits; kick before it could wrap. */
    if (++q->num_added == 0xffff)
        (void)vsn_sim_queue_kick(q);
}

/* ---- kicks ---------------------------------------------------------------------------- */

bool vsn_sim_queue_kick_prepare(vsn_sim_queue *q)
{
    uint16_t new_idx = q->avail_idx, old_idx = (uint16_t)(q->avail_idx - q->num_added);
    bool need;
    /* §2.7.13.4.1: the driver MUST perform a suitable memory barrier before reading flags or
     * avail_event, to avoid missing a notification (store avail idx -> load event). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (q->event_idx)
        need = vring_need_event(load16(q->avail_event), new_idx, old_idx);
    else
        need = (load16(&q->used->flags) & VRING_USED_F_NO_NOTIFY) == 0;
    q->num_added = 0;
    if (need)
        q->stats.kicks_sent++;
    else
        q->stats.kicks_suppressed++;
    return need;
}

int vsn_sim_queue_notify(vsn_sim_queue *q)
{
    return q->notify != NULL ? q->notify(q->notify_user, q->index) : 0;
}

int vsn_sim_queue_kick(vsn_sim_queue *q)
{
    if (!vsn_sim_queue_kick_prepare(q))
        return 0;
    int rc = vsn_sim_queue_notify(q);
    return rc < 0 ? rc : 1;
}

/* ---- reaping -------------------------------------------------------------------------- */

uint16_t vsn_sim_queue_next_used(const vsn_sim_queue *q)
{
    return q->last_used;
}

uint16_t vsn_sim_queue_used_pending(const vsn_sim_queue *q)
{
    uint16_t idx = le16toh(__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE));
    return (uint16_t)(idx - q->last_used);
}

/* Returns the chain's ring descriptors (allocation order, not guest next links) to the
 * free list and retires the head. */
static void recycle(vsn_sim_queue *q, uint16_t id)
{
    struct sim_head *h = &q->heads[id];
    uint16_t last = id;
    for (uint32_t i = 1; i < h->ndesc; i++)
        last = q->link[last];
    q->link[last] = q->free_head;
    q->free_head = id;
    q->num_free += h->ndesc;
    h->in_flight = 0;
    q->in_flight--;
    q->stats.chains_reaped++;
}

/* Copies up to *left writable bytes of one buffer into *dst. */
static void gather_buf(const vsn_sim_queue *q, uint64_t gpa, uint32_t len, uint8_t **dst,
                       uint64_t *left)
{
    uint64_t n = len < *left ? len : *left;
    if (n > 0 && vsn_sim_mem_read(q->mem, gpa, *dst, n) == 0) {
        *dst += n;
        *left -= n;
    }
}

/* Gathers writable bytes through the chain's indirect table (the driver's own memory). */
static void gather_indirect(const vsn_sim_queue *q, const struct sim_head *h, uint8_t **dst,
                            uint64_t *left)
{
    for (uint32_t i = 0; i < h->ind_n && *left > 0; i++) {
        struct vring_desc d;
        if (vsn_sim_mem_read(q->mem, h->ind_gpa + 16ull * i, &d, sizeof(d)) != 0)
            return;
        if (le16toh(d.flags) & VRING_DESC_F_WRITE)
            gather_buf(q, le64toh(d.addr), le32toh(d.len), dst, left);
    }
}

/* Gathers the first `want` written bytes, in chain order, from the driver's own records. */
static uint32_t gather(const vsn_sim_queue *q, uint16_t id, uint64_t want, uint8_t *dst)
{
    const struct sim_head *h = &q->heads[id];
    uint64_t left = want;
    uint16_t d = id;
    for (uint32_t i = 0; i < h->ndesc && left > 0; i++, d = q->link[d]) {
        const struct sim_desc *s = &q->shadow[d];
        if (s->flags & VRING_DESC_F_INDIRECT)
            gather_indirect(q, h, &dst, &left);
        else if (s->flags & VRING_DESC_F_WRITE)
            gather_buf(q, s->addr, s->len, &dst, &left);
    }
    return (uint32_t)(want - left);
}

/* Fills the caller's record of a reaped chain from the driver's bookkeeping. */
static void fill_used(const struct sim_head *h, uint16_t id, uint32_t len, vsn_sim_used *out)
{
    out->id = id;
    out->len = len;
    out->token = h->token;
    out->readable = h->readable;
    out->writable = h->writable;
    out->copied = 0;
    out->bad = h->bad != 0;
}

int vsn_sim_queue_reap(vsn_sim_queue *q, vsn_sim_used *out, void *rx_dst, size_t rx_cap)
{
    if (q->broken)
        return VSN_SIM_E_BROKEN;
    /* §2.7.14 / §2.7.8.2: acquire pairs with the device's release before its used idx store,
     * so the element (id, len) and the written data are visible once idx is. */
    uint16_t pending = vsn_sim_queue_used_pending(q);
    if (pending == 0)
        return 0;
    if (pending > q->in_flight) {
        q->broken = true;
        return VSN_SIM_E_USED_IDX_JUMP;
    }
    const struct vring_used_elem *e = &q->used->ring[q->last_used & (q->size - 1)];
    uint32_t id = le32toh(e->id), len = le32toh(e->len);
    if (id >= q->size || !q->heads[id].in_flight) {
        q->broken = true;
        return VSN_SIM_E_USED_ID;
    }
    const struct sim_head *h = &q->heads[id];
    fill_used(h, (uint16_t)id, len, out);
    uint64_t want = len < h->writable ? len : h->writable;
    if (rx_dst != NULL && !h->bad)
        out->copied = gather(q, (uint16_t)id, want < rx_cap ? want : rx_cap, rx_dst);
    q->last_used++;
    bool too_long = len > h->writable;
    recycle(q, (uint16_t)id);
    return too_long ? VSN_SIM_E_USED_LEN : 1;
}

/* ---- used-buffer notifications (interrupts) ------------------------------------------- */

int vsn_sim_queue_enable_interrupts(vsn_sim_queue *q)
{
    if (q->event_idx) {
        q->used_event_val = q->last_used;
        store16(q->used_event, q->used_event_val);
    } else {
        q->avail_flags &= (uint16_t)~VRING_AVAIL_F_NO_INTERRUPT;
        store16(&q->avail->flags, q->avail_flags);
    }
    /* §2.7.14: re-check for used buffers after re-enabling; the full fence orders the
     * used_event/flags store before the used idx load (store -> load). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return vsn_sim_queue_used_pending(q) != 0;
}

void vsn_sim_queue_disable_interrupts(vsn_sim_queue *q)
{
    if (q->event_idx) {
        /* §2.7.7.1: with EVENT_IDX flags stay 0; pick the event index just behind. */
        q->used_event_val = (uint16_t)(q->last_used - 1);
        store16(q->used_event, q->used_event_val);
    } else {
        q->avail_flags |= VRING_AVAIL_F_NO_INTERRUPT;
        store16(&q->avail->flags, q->avail_flags);
    }
}

int vsn_sim_queue_set_used_event(vsn_sim_queue *q, uint16_t used_event)
{
    if (!q->event_idx)
        return VSN_SIM_E_FEATURE;
    q->used_event_val = used_event;
    store16(q->used_event, used_event);
    return 0;
}

void vsn_sim_queue_irq_window_begin(vsn_sim_queue *q, uint64_t irq_total)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    q->irq.open = true;
    q->irq.old_used = le16toh(__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE));
    q->irq.used_event = q->used_event_val;
    q->irq.no_interrupt = (q->avail_flags & VRING_AVAIL_F_NO_INTERRUPT) != 0;
    q->irq.irq_start = irq_total;
}

int vsn_sim_queue_irq_window_check(vsn_sim_queue *q, uint64_t irq_total, vsn_sim_irq_report *rep)
{
    if (!q->irq.open)
        return VSN_SIM_E_IRQ_NO_WINDOW;
    if (irq_total < q->irq.irq_start)
        return VSN_SIM_E_IRQ_COUNT;
    uint16_t new_used = le16toh(__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE));
    vsn_sim_irq_report r = {
        .old_used = q->irq.old_used,
        .new_used = new_used,
        .used_event = q->irq.used_event,
        .no_interrupt = q->irq.no_interrupt,
        .received = irq_total - q->irq.irq_start,
    };
    /* §2.7.7.2: with EVENT_IDX the device MUST notify when the used idx it wrote an entry at
     * equals used_event, i.e. vring_need_event(used_event, new, old) over the window;
     * without it, after any used entry while flags == 0. */
    if (q->event_idx)
        r.required = vring_need_event(r.used_event, new_used, r.old_used);
    else
        r.required = new_used != r.old_used && !r.no_interrupt;
    r.spurious = !r.required && r.received > 0;
    if (rep != NULL)
        *rep = r;
    q->irq.old_used = new_used;
    q->irq.irq_start = irq_total;
    return r.required && r.received == 0 ? VSN_SIM_E_IRQ_MISSED : 0;
}
