/*
 * queue_event_idx.c — notification suppression in both directions, through the device.
 *
 * Interrupts (used-buffer notifications, virtio 1.2 §2.7.7), checked with the simulator's
 * interrupt windows (vsn_sim_queue_irq_window_begin/check):
 *  - EVENT_IDX, manual mode: for hundreds of batches with a used_event placed before, inside and
 *    after the batch, the device interrupts exactly once when its used idx crosses used_event and
 *    never otherwise (counted by interrupt_fn, compared with the window's "required");
 *  - EVENT_IDX with interrupts disabled by the driver across 2560 chains: no interrupt at all,
 *    in manual mode and in thread mode with a call fd; re-enabled: the next chain interrupts;
 *  - EVENT_IDX, thread mode, call fd: the driver sleeps on the call fd between batches, so a
 *    missed interrupt times the run out;
 *  - without EVENT_IDX: VRING_AVAIL_F_NO_INTERRUPT suppresses every interrupt, clearing it brings
 *    them back (one per publication).
 * Kicks (available-buffer notifications, §2.7.10):
 *  - EVENT_IDX: the driver kicks after every chain, but avail_event lets only the first kick of
 *    each batch through; the device counts exactly the kicks sent;
 *  - the device busy in a queue pass (an interrupt hook adds chains mid-pass): the driver sees
 *    VRING_USED_F_NO_NOTIFY (without EVENT_IDX) or a stale avail_event (with it) and sends no
 *    kick, yet every chain is processed in the same pass; afterwards kicks are asked for again.
 * Index wrap: 70000 chains through a 256-entry queue, with and without EVENT_IDX, used_event
 * checks across 65535 -> 0, and the avail/used indexes and vsn_queue_get_base agreeing after.
 */
#include "queue_util.h"
#include "vsn_check.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#define QSIZE 256u

static const uint64_t no_event_idx =
    (1ull << VSN_VIRTIO_F_VERSION_1) | (1ull << VSN_VIRTIO_RING_F_INDIRECT_DESC);

struct rig {
    vsn_sim_mem *mem;
    vsn_sd *sd;
    vsn_sim_queue *q;
    vsn_device *dev;
    vsn_sim_buf hdr;    /* one shared, well-formed header-only packet */
    uint64_t chains;    /* chains added */
    uint64_t token;
};

static int rig_open(struct rig *r, uint32_t flags, uint64_t features)
{
    memset(r, 0, sizeof *r);
    vsn_sd_config cfg = vsn_sd_config_default(flags);
    cfg.features = features;
    struct vsn_virtio_vsock_hdr h;
    vsn_sd_hdr(&h, QU_NULL_SRC_CID, 1, 2, 0, VSN_VIRTIO_VSOCK_OP_RW);
    int rc = qu_mem_single(&r->mem);
    if (rc == 0)
        rc = vsn_sd_create(&cfg, r->mem, NULL, 0, &r->sd);
    if (rc == 0)
        rc = vsn_sd_add_queue(r->sd, VSN_QUEUE_TX, QSIZE, &r->q);
    if (rc == 0)
        rc = vsn_sim_mem_alloc(r->mem, QU_HDR, 8, &r->hdr.gpa);
    if (rc == 0)
        rc = vsn_sim_mem_write(r->mem, r->hdr.gpa, &h, QU_HDR);
    r->hdr.len = QU_HDR;
    if (rc == 0)
        rc = vsn_sd_start(r->sd);
    r->dev = vsn_sd_device(r->sd);
    if (rc != 0)
        fprintf(stderr, "rig: %d (%s)\n", rc, vsn_sd_strerror(rc));
    return rc;
}

static void rig_close(struct rig *r)
{
    vsn_sd_destroy(&r->sd);
    vsn_sim_mem_destroy(&r->mem);
}

/* Adds n header-only chains, kicking after each (the driver decides per kick_prepare) or, with
 * batch, once after all of them (as Linux does for a batch). */
static bool add_chains_ex(struct rig *r, uint32_t n, bool batch)
{
    for (uint32_t i = 0; i < n; i++) {
        uint16_t head;
        int rc = vsn_sim_queue_add_bufs(r->q, &r->hdr, 1, 0, r->token++, &head);
        if (rc == 0 && (!batch || i + 1 == n))
            rc = vsn_sim_queue_kick(r->q) < 0 ? -EIO : 0;
        if (rc != 0) {
            fprintf(stderr, "add_chains: %d (%s)\n", rc, vsn_sd_strerror(rc));
            return false;
        }
        r->chains++;
    }
    return true;
}

static bool add_chains(struct rig *r, uint32_t n)
{
    return add_chains_ex(r, n, false);
}

/* Manual mode: polls until n used entries are pending (bounded). */
static bool process(struct rig *r, uint32_t n)
{
    int64_t deadline = vsn_sd_now_ms() + QU_TIMEOUT_MS;
    while (vsn_sim_queue_used_pending(r->q) < n) {
        if (vsn_sd_now_ms() > deadline || vsn_device_poll(r->dev, 50) < 0) {
            fprintf(stderr, "process: %u of %u used\n", vsn_sim_queue_used_pending(r->q), n);
            return false;
        }
    }
    return true;
}

static uint32_t reap_all(struct rig *r)
{
    vsn_sim_used u;
    uint32_t n = 0;
    int rc;
    while ((rc = vsn_sim_queue_reap(r->q, &u, NULL, 0)) == 1) {
        CHECK_EQ(u.len, 0);
        n++;
    }
    CHECK_EQ(rc, 0);
    return n;
}

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 8;
}

/* avail_event: the u16 after the used ring's entries (the device writes it). */
static uint16_t avail_event_of(const vsn_sim_queue_layout *lay)
{
    const uint16_t *p = (const uint16_t *)((const uint8_t *)lay->used + 4 + 8u * lay->queue_size);
    return le16toh(__atomic_load_n(p, __ATOMIC_ACQUIRE));
}

static uint16_t used_idx(const struct rig *r)
{
    vsn_sim_queue_layout lay;
    vsn_sim_queue_layout_get(r->q, &lay);
    return le16toh(__atomic_load_n(&lay.used->idx, __ATOMIC_ACQUIRE));
}

/* One batch in an interrupt window; checks received == required exactly (with EVENT_IDX at
 * most one crossing per batch) or, without EVENT_IDX, received >= 1 iff required. */
static bool window_batch(struct rig *r, uint32_t b, bool exact, vsn_sim_irq_report *rep)
{
    vsn_sim_queue_irq_window_begin(r->q, vsn_sd_irqs(r->sd, VSN_QUEUE_TX));
    if (!add_chains(r, b) || !process(r, b))
        return false;
    int rc = vsn_sim_queue_irq_window_check(r->q, vsn_sd_irqs(r->sd, VSN_QUEUE_TX), rep);
    if (rc != 0 || (exact && rep->received != (rep->required ? 1u : 0u)) ||
        (!exact && (rep->received > 0) != rep->required)) {
        fprintf(stderr,
                "  window: used %u -> %u, used_event %u, no_interrupt %d: required %d, "
                "received %llu (%s)\n",
                rep->old_used, rep->new_used, rep->used_event, rep->no_interrupt, rep->required,
                (unsigned long long)rep->received, rc ? vsn_sim_strerror(rc) : "count");
        CHECK(0);
        return false;
    }
    CHECK_EQ(reap_all(r), b);
    return true;
}

/* ---- interrupts ---------------------------------------------------------------------------- */

static void used_event_exact(void)
{
    struct rig r;
    if (rig_open(&r, 0, 0) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    /* the first decision after a start always interrupts (the device cannot know what a
     * previous backend signalled); take it out of the way */
    CHECK(add_chains(&r, 1) && process(&r, 1));
    CHECK_EQ(reap_all(&r), 1);
    uint64_t irq0 = vsn_sd_irqs(r.sd, VSN_QUEUE_TX);
    CHECK_EQ(irq0, 1);
    uint64_t required = 0, windows = 0;
    vsn_sim_irq_report rep;
    for (int i = 0; i < 400; i++) {
        uint32_t b = 1 + rnd() % (i % 4 == 0 ? 200 : 40);   /* sometimes several publications */
        int32_t off = (int32_t)(rnd() % (b + 8)) - 4;        /* before, inside, after the batch */
        uint16_t last = used_idx(&r);
        CHECK_EQ(vsn_sim_queue_set_used_event(r.q, (uint16_t)(last + off)), 0);
        if (!window_batch(&r, b, true, &rep))
            break;
        required += rep.required;
        windows++;
    }
    vsn_queue_counter_values qc;
    CHECK_EQ(vsn_sd_queue_counters(r.sd, VSN_QUEUE_TX, &qc), 0);
    uint64_t irqs = vsn_sd_irqs(r.sd, VSN_QUEUE_TX);
    CHECK_EQ(irqs - irq0, required);          /* exactly when asked, never otherwise */
    CHECK_EQ(qc.interrupts_needed, irqs);
    CHECK(qc.interrupts_suppressed >= windows - required);
    printf("  EVENT_IDX used_event: %llu windows, %llu required an interrupt, %llu sent\n",
           (unsigned long long)windows, (unsigned long long)required,
           (unsigned long long)(irqs - irq0));
    rig_close(&r);
}

/* The driver disables interrupts across a big batch: none at all. */
static void disabled_across_batch(uint32_t flags, const char *name)
{
    struct rig r;
    if (rig_open(&r, flags, 0) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    bool thread = (flags & VSN_SD_F_THREAD) != 0;
    /* warm-up: the first decision after start interrupts */
    CHECK(add_chains(&r, 1));
    CHECK_EQ(vsn_sd_reap(r.sd, VSN_QUEUE_TX, 1, QU_TIMEOUT_MS, 0, NULL, NULL, NULL), 0);
    uint64_t irq0 = vsn_sd_irqs(r.sd, VSN_QUEUE_TX);
    vsn_sim_queue_disable_interrupts(r.q);
    vsn_sim_queue_irq_window_begin(r.q, irq0);
    uint32_t total = 10 * QSIZE;
    for (uint32_t done = 0; done < total; done += QSIZE) {
        uint32_t got = 0;
        CHECK(add_chains(&r, QSIZE));
        CHECK_EQ(vsn_sd_reap(r.sd, VSN_QUEUE_TX, QSIZE, QU_TIMEOUT_MS, VSN_SD_REAP_KEEP_IRQ, NULL,
                             NULL, &got), 0);
        CHECK_EQ(got, QSIZE);
    }
    if (thread)
        CHECK_EQ(vsn_sd_stop(r.sd), 0); /* every decision taken and delivered */
    vsn_sim_irq_report rep;
    uint64_t irqs = vsn_sd_irqs(r.sd, VSN_QUEUE_TX);
    CHECK_EQ(vsn_sim_queue_irq_window_check(r.q, irqs, &rep), 0);
    CHECK(!rep.required);
    CHECK_EQ(irqs - irq0, 0);       /* 2560 chains, not one interrupt */
    printf("  interrupts disabled (%s): %u chains, %llu interrupts\n", name, total,
           (unsigned long long)(irqs - irq0));
    if (thread)
        CHECK_EQ(vsn_sd_start(r.sd), 0);
    /* re-enabled: the next chain must interrupt */
    CHECK_EQ(vsn_sim_queue_enable_interrupts(r.q), 0);
    vsn_sim_queue_irq_window_begin(r.q, vsn_sd_irqs(r.sd, VSN_QUEUE_TX));
    CHECK(add_chains(&r, 1));
    CHECK_EQ(vsn_sd_reap(r.sd, VSN_QUEUE_TX, 1, QU_TIMEOUT_MS, VSN_SD_REAP_KEEP_IRQ, NULL, NULL,
                         NULL), 0);
    if (thread)
        CHECK_EQ(vsn_sd_stop(r.sd), 0);
    CHECK_EQ(vsn_sim_queue_irq_window_check(r.q, vsn_sd_irqs(r.sd, VSN_QUEUE_TX), &rep), 0);
    CHECK(rep.required);
    CHECK_EQ(rep.received, 1);
    rig_close(&r);
}

/* Thread mode, call fd: the driver sleeps on the interrupt; a missed one times out. */
static void thread_sleeps_on_interrupts(void)
{
    struct rig r;
    if (rig_open(&r, VSN_SD_F_THREAD | VSN_SD_F_KICK_FD | VSN_SD_F_CALL_FD, 0) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    uint32_t total = 0;
    int failures = 0;
    for (int i = 0; i < 300 && failures == 0; i++) {
        uint32_t b = 1 + rnd() % 20, got = 0;
        CHECK(add_chains(&r, b));
        int rc = vsn_sd_reap(r.sd, VSN_QUEUE_TX, b, QU_TIMEOUT_MS, 0, NULL, NULL, &got);
        if (rc != 0) {
            fprintf(stderr, "  thread: batch %d: %u of %u back: %s\n", i, got, b, vsn_sd_strerror(rc));
            failures++;
        }
        total += b;
    }
    CHECK_EQ(failures, 0);
    CHECK_EQ(vsn_sd_stop(r.sd), 0);
    vsn_device_counter_values dc;
    CHECK_EQ(vsn_sd_device_counters(r.sd, &dc), 0);
    uint64_t irqs = vsn_sd_irqs(r.sd, VSN_QUEUE_TX);
    CHECK_EQ(dc.interrupts, irqs);
    CHECK_EQ(dc.tx_packets, total);
    printf("  thread mode, driver sleeping on the call fd: %u chains, %llu interrupts, "
           "%llu kicks sent\n", total, (unsigned long long)irqs,
           (unsigned long long)vsn_sd_kicks(r.sd, VSN_QUEUE_TX));
    rig_close(&r);
}

/* Without EVENT_IDX: VRING_AVAIL_F_NO_INTERRUPT. */
static void no_interrupt_flag(void)
{
    struct rig r;
    if (rig_open(&r, 0, no_event_idx) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    vsn_sim_irq_report rep;
    uint64_t on = 0, off = 0, sent_on = 0;
    vsn_queue_counter_values before, after;
    CHECK_EQ(vsn_sd_queue_counters(r.sd, VSN_QUEUE_TX, &before), 0);
    for (int i = 0; i < 200; i++) {
        bool enable = rnd() % 2;
        uint32_t b = 1 + rnd() % (i % 5 == 0 ? 200 : 60);
        if (enable)
            (void)vsn_sim_queue_enable_interrupts(r.q);
        else
            vsn_sim_queue_disable_interrupts(r.q);
        if (!window_batch(&r, b, false, &rep))
            break;
        if (enable) {
            on++;
            sent_on += rep.received;
            CHECK_EQ(rep.received, (b + 63) / 64); /* one per publication: every 64 and at the end */
        } else {
            off++;
            CHECK_EQ(rep.received, 0);
        }
    }
    CHECK_EQ(vsn_sd_queue_counters(r.sd, VSN_QUEUE_TX, &after), 0);
    CHECK_EQ(after.interrupts_needed - before.interrupts_needed, sent_on);
    CHECK(after.interrupts_suppressed - before.interrupts_suppressed >= off);
    printf("  no EVENT_IDX: %llu windows with NO_INTERRUPT (0 interrupts), %llu without (%llu "
           "interrupts)\n", (unsigned long long)off, (unsigned long long)on,
           (unsigned long long)sent_on);
    rig_close(&r);
}

/* ---- kicks -------------------------------------------------------------------------------- */

/* EVENT_IDX: one kick per batch gets through avail_event. */
static void kicks_event_idx(void)
{
    struct rig r;
    if (rig_open(&r, 0, 0) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    uint64_t chains = 0;
    uint32_t batches = 50;
    for (uint32_t i = 0; i < batches; i++) {
        vsn_sim_queue_stats a, b;
        uint32_t n = 10 + rnd() % 50;
        vsn_sim_queue_stats_get(r.q, &a);
        CHECK(add_chains(&r, n));
        vsn_sim_queue_stats_get(r.q, &b);
        CHECK_EQ(b.kicks_sent - a.kicks_sent, 1);
        CHECK_EQ(b.kicks_suppressed - a.kicks_suppressed, n - 1);
        CHECK(process(&r, n));
        CHECK_EQ(reap_all(&r), n);
        chains += n;
        /* idle again: the device asks to be kicked at the next entry */
        vsn_sim_queue_layout lay;
        vsn_sim_queue_layout_get(r.q, &lay);
        CHECK_EQ(avail_event_of(&lay), le16toh(lay.avail->idx));
    }
    vsn_device_counter_values dc;
    CHECK_EQ(vsn_sd_device_counters(r.sd, &dc), 0);
    CHECK_EQ(dc.kicks, batches);                 /* what was sent, all counted */
    CHECK_EQ(vsn_sd_kicks(r.sd, VSN_QUEUE_TX), batches);
    CHECK(dc.kicks < chains);
    printf("  EVENT_IDX kicks: %llu chains, each followed by a kick decision: %llu kicks sent\n",
           (unsigned long long)chains, (unsigned long long)dc.kicks);
    rig_close(&r);
}

/* The device in mid-pass (inside its interrupt, which it sends every 64 used entries): the
 * driver reaps, and while it sees kicks suppressed it adds more chains, kicking after each. */
struct busy {
    struct rig *r;
    uint32_t to_add;       /* chains the hook still adds */
    uint32_t added, reaped;
    uint32_t seen_suppressed, hook_calls;
    bool event_idx;
};

static bool kicks_suppressed(const struct busy *b)
{
    vsn_sim_queue_layout lay;
    vsn_sim_queue_layout_get(b->r->q, &lay);
    if (!b->event_idx)
        return (le16toh(__atomic_load_n(&lay.used->flags, __ATOMIC_ACQUIRE)) &
                VRING_USED_F_NO_NOTIFY) != 0;
    /* avail_event left behind the published avail idx: the next kick is not wanted */
    uint16_t avail = le16toh(lay.avail->idx), ev = avail_event_of(&lay);
    return avail != ev && (uint16_t)(avail - ev) < 0x8000;
}

static void busy_hook(void *user, uint32_t queue_index)
{
    struct busy *b = user;
    (void)queue_index;
    b->hook_calls++;
    b->reaped += reap_all(b->r);
    if (b->to_add > 0 && kicks_suppressed(b)) {
        uint32_t n = b->to_add < 32 ? b->to_add : 32;
        b->seen_suppressed++;
        if (add_chains(b->r, n))
            b->added += n;
        b->to_add -= n;
    }
    (void)vsn_sim_queue_enable_interrupts(b->r->q); /* and the next publication interrupts */
}

static void kicks_while_busy(bool event_idx)
{
    struct rig r;
    if (rig_open(&r, 0, event_idx ? 0 : no_event_idx) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    struct busy b = { .r = &r, .to_add = 100, .event_idx = event_idx };
    CHECK_EQ(vsn_sd_set_irq_hook(r.sd, VSN_QUEUE_TX, busy_hook, &b), 0);
    vsn_sim_queue_stats s0, s1;
    vsn_sim_queue_stats_get(r.q, &s0);
    CHECK(add_chains_ex(&r, 200, true)); /* one kick for the batch */
    vsn_sim_queue_stats_get(r.q, &s1);
    CHECK_EQ(s1.kicks_sent - s0.kicks_sent, 1);
    /* one queue pass: the device pops until the ring is empty, the hook's chains included */
    int64_t deadline = vsn_sd_now_ms() + QU_TIMEOUT_MS;
    while (b.reaped < 300 && vsn_sd_now_ms() < deadline) {
        CHECK(vsn_device_poll(r.dev, 50) >= 0);
        b.reaped += reap_all(&r);
    }
    CHECK_EQ(b.reaped, 300);
    CHECK_EQ(b.added, 100);
    CHECK_EQ(b.seen_suppressed, 4);                /* at used idx 64, 128, 192, 256 */
    vsn_sim_queue_stats_get(r.q, &s1);
    CHECK_EQ(s1.kicks_sent - s0.kicks_sent, 1);    /* none of the 100 mid-pass chains kicked */
    CHECK_EQ(s1.kicks_suppressed - s0.kicks_suppressed, 100);
    /* idle again: kicks wanted */
    CHECK_EQ(vsn_sd_set_irq_hook(r.sd, VSN_QUEUE_TX, NULL, NULL), 0);
    CHECK(!kicks_suppressed(&b));
    vsn_sim_queue_stats_get(r.q, &s0);
    CHECK(add_chains(&r, 1));
    vsn_sim_queue_stats_get(r.q, &s1);
    CHECK_EQ(s1.kicks_sent - s0.kicks_sent, 1);
    CHECK(process(&r, 1));
    CHECK_EQ(reap_all(&r), 1);
    vsn_queue_counter_values qc;
    vsn_device_counter_values dc;
    CHECK_EQ(vsn_sd_queue_counters(r.sd, VSN_QUEUE_TX, &qc), 0);
    CHECK_EQ(vsn_sd_device_counters(r.sd, &dc), 0);
    CHECK(qc.kicks_disabled >= 2 && qc.kicks_enabled >= 2);
    CHECK_EQ(dc.tx_packets, 301);
    CHECK_EQ(dc.kicks, 2);
    printf("  busy device (%s): 100 chains added mid-pass in %u interrupts, 0 kicks sent for "
           "them (%s)\n", event_idx ? "EVENT_IDX" : "no EVENT_IDX", b.seen_suppressed,
           event_idx ? "avail_event left behind" : "VRING_USED_F_NO_NOTIFY set");
    rig_close(&r);
}

/* ---- index wrap ---------------------------------------------------------------------------- */

static void wrap(bool event_idx)
{
    struct rig r;
    if (rig_open(&r, 0, event_idx ? 0 : no_event_idx) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    const uint32_t total = 70000;
    uint32_t done = 0, crossings = 0;
    vsn_sim_irq_report rep;
    /* the first decision after a start always interrupts: chain 0 takes it */
    CHECK(add_chains(&r, 1) && process(&r, 1));
    CHECK_EQ(reap_all(&r), 1);
    done = 1;
    while (done < total) {
        uint32_t b = total - done < QSIZE ? total - done : QSIZE;
        if (event_idx) /* ask for an interrupt in the middle of the batch, across the wrap too */
            CHECK_EQ(vsn_sim_queue_set_used_event(r.q, (uint16_t)(used_idx(&r) + b / 2)), 0);
        else
            (void)vsn_sim_queue_enable_interrupts(r.q);
        uint16_t before = used_idx(&r);
        if (!window_batch(&r, b, event_idx, &rep))
            break;
        CHECK(rep.required);
        crossings += (uint16_t)(before + b) < before;
        done += b;
    }
    CHECK_EQ(done, total);
    CHECK_EQ(crossings, 1);
    CHECK_EQ(vsn_sd_stop(r.sd), 0);
    uint16_t base = 0;
    CHECK_EQ(vsn_queue_get_base(r.dev, VSN_QUEUE_TX, &base), 0);
    CHECK_EQ(base, (uint16_t)total);
    CHECK_EQ(used_idx(&r), (uint16_t)total);
    vsn_device_counter_values dc;
    CHECK_EQ(vsn_sd_device_counters(r.sd, &dc), 0);
    CHECK_EQ(dc.tx_packets, total);
    printf("  wrap (%s): %u chains, indexes now %u, get_base %u\n",
           event_idx ? "EVENT_IDX" : "no EVENT_IDX", total, used_idx(&r), base);
    rig_close(&r);
}

#define CASES(X) \
    X(used_event_exact, used_event_exact()) \
    X(disabled_across_batch_manual, disabled_across_batch(0, "manual poll, interrupt_fn")) \
    X(disabled_across_batch_thread, disabled_across_batch(VSN_SD_F_THREAD | VSN_SD_F_KICK_FD | VSN_SD_F_CALL_FD, "device thread, call fd")) \
    X(thread_sleeps_on_interrupts, thread_sleeps_on_interrupts()) \
    X(no_interrupt_flag, no_interrupt_flag()) \
    X(kicks_event_idx, kicks_event_idx()) \
    X(kicks_while_busy_flags, kicks_while_busy(false)) \
    X(kicks_while_busy_event_idx, kicks_while_busy(true)) \
    X(wrap_event_idx, wrap(true)) \
    X(wrap_flags, wrap(false))
static const char *const CASE_NAMES[] = { CASES(VSN_CASE_NAME) };

int main(int argc, char **argv)
{
    VSN_CASES_INIT(argc, argv, CASE_NAMES);
    CASES(VSN_CASE_RUN)
    return vsn_check_summary("queue_event_idx");
}
