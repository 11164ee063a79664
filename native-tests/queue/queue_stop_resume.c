/*
 * queue_stop_resume.c — stopping the device with chains in flight and resuming it, on the same
 * device and across a "reconnect" (vhost-user style: GET_VRING_BASE from the stopped device,
 * destroy it, create a new one, SET_VRING_BASE, start), without losing or repeating a chain.
 *
 *  - manual mode, deterministic: chains processed, chains available but not processed, chains
 *    processed but not yet reaped by the driver; stop; vsn_queue_get_base equals exactly what
 *    was consumed; reconnect / restart; every token comes back exactly once, and each device
 *    counted exactly the packets it consumed;
 *  - thread mode, concurrent: a driver thread streams 30000 packets of varied shapes (eventfd
 *    kicks, sleeping on the call fd) and never pauses, while the control thread stops the
 *    device at progress milestones and either reconnects (new device + set_base) or restarts
 *    it; again every token exactly once, and the bases and per-device packet counts agree.
 */
#include "queue_util.h"
#include "vsn_check.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define QSIZE 256u

struct rig {
    vsn_sim_mem *mem;
    vsn_sd *sd;
    vsn_sim_queue *q;
    qu_ledger ledger;
    uint32_t token;
    uint64_t payload_sent;
};

static int rig_open(struct rig *r, uint32_t flags, uint32_t tokens)
{
    memset(r, 0, sizeof *r);
    vsn_sd_config cfg = vsn_sd_config_default(flags);
    int rc = qu_mem_single(&r->mem);
    if (rc == 0)
        rc = qu_ledger_init(&r->ledger, tokens);
    if (rc == 0)
        rc = vsn_sd_create(&cfg, r->mem, NULL, 0, &r->sd);
    if (rc == 0)
        rc = vsn_sd_add_queue(r->sd, VSN_QUEUE_TX, QSIZE, &r->q);
    if (rc == 0)
        rc = vsn_sd_start(r->sd);
    if (rc != 0)
        fprintf(stderr, "rig: %d (%s)\n", rc, vsn_sd_strerror(rc));
    return rc;
}

static void rig_close(struct rig *r)
{
    vsn_sd_destroy(&r->sd);
    qu_ledger_free(&r->ledger);
    vsn_sim_mem_destroy(&r->mem);
}

/* A packet whose shape depends on its token: header split, pieces, direct or indirect. */
static int add_varied(struct rig *r)
{
    uint32_t t = r->token;
    uint32_t payload = 16 + t % 200;
    vsn_sim_layout lay = { .hdr_split = t % 45, .pieces = 1 + t % 4,
                           .flags = t % 3 == 0 ? VSN_SIM_F_INDIRECT : 0 };
    uint16_t head;
    int rc = qu_add_packet(r->q, &lay, payload, payload, t, &head);
    if (rc == 0) {
        r->token++;
        r->payload_sent += payload;
    }
    return rc;
}

static bool add_n(struct rig *r, uint32_t n, bool kick)
{
    for (uint32_t i = 0; i < n; i++)
        if (add_varied(r) != 0)
            return false;
    return !kick || vsn_sim_queue_kick(r->q) >= 0;
}

static uint64_t tx_packets(const struct rig *r)
{
    vsn_device_counter_values v;
    return vsn_sd_device_counters(r->sd, &v) == 0 ? v.tx_packets : ~0ull;
}

/* Manual mode: polls until the device consumed `n` more chains in all (used idx), bounded. */
static bool poll_until_used(struct rig *r, uint16_t pending)
{
    int64_t deadline = vsn_sd_now_ms() + QU_TIMEOUT_MS;
    while (vsn_sim_queue_used_pending(r->q) < pending)
        if (vsn_sd_now_ms() > deadline || vsn_device_poll(vsn_sd_device(r->sd), 50) < 0)
            return false;
    return true;
}

static uint16_t get_base(struct rig *r)
{
    uint16_t base = 0xbeef;
    CHECK_EQ(vsn_queue_get_base(vsn_sd_device(r->sd), VSN_QUEUE_TX, &base), 0);
    return base;
}

static void check_ledger(const struct rig *r, const char *what)
{
    int before = vsn_failed;
    CHECK_EQ(r->ledger.reaped, r->token);
    CHECK_EQ(r->ledger.duplicates, 0);
    CHECK_EQ(r->ledger.unknown, 0);
    CHECK_EQ(r->ledger.wrong_len, 0);
    CHECK_EQ(qu_ledger_missing(&r->ledger, r->token), 0);
    if (vsn_failed != before)
        fprintf(stderr, "  ^ %s: %llu reaped of %u, %llu repeated, %llu lost\n", what,
                (unsigned long long)r->ledger.reaped, r->token,
                (unsigned long long)r->ledger.duplicates,
                (unsigned long long)qu_ledger_missing(&r->ledger, r->token));
}

/* ---- manual, deterministic ---------------------------------------------------------------- */

static void manual(bool reconnect)
{
    struct rig r;
    const char *what = reconnect ? "manual reconnect" : "manual stop/start";
    if (rig_open(&r, 0, 2000) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    vsn_device *dev = vsn_sd_device(r.sd);
    uint16_t base;
    int failed_before = vsn_failed;
    CHECK_EQ(vsn_queue_get_base(dev, VSN_QUEUE_TX, &base), -EBUSY); /* running */

    /* 30 processed and reaped; 15 processed, not reaped; 25 available, not processed (at most
     * 40 chains of at most 6 descriptors in flight: they fit the 256-entry ring) */
    CHECK(add_n(&r, 30, true) && poll_until_used(&r, 30));
    CHECK_EQ(vsn_sd_reap(r.sd, VSN_QUEUE_TX, 30, QU_TIMEOUT_MS, 0, qu_ledger_on_used, &r.ledger,
                         NULL), 0);
    CHECK(add_n(&r, 15, true) && poll_until_used(&r, 15));
    CHECK(add_n(&r, 25, true));
    CHECK_EQ(vsn_sd_stop(r.sd), 0);
    CHECK_EQ(vsn_device_poll(dev, 0), -EINVAL);               /* stopped */
    CHECK_EQ(vsn_queue_notify(dev, VSN_QUEUE_TX), 0);         /* a kick while stopped is fine */
    base = get_base(&r);
    CHECK_EQ(base, 45);
    CHECK_EQ(tx_packets(&r), 45);

    if (reconnect) {
        CHECK_EQ(vsn_sd_reconnect(r.sd), 0);
        dev = vsn_sd_device(r.sd);
        CHECK_EQ(get_base(&r), 0);                             /* a new device starts at 0 ... */
        CHECK_EQ(vsn_queue_set_base(dev, VSN_QUEUE_TX, base), 0); /* ... until told */
        CHECK_EQ(get_base(&r), base);
    }
    CHECK_EQ(vsn_sd_start(r.sd), 0);
    /* the 25 available are processed without a new kick; the 15 unreaped stay as they were */
    CHECK(poll_until_used(&r, 40));
    CHECK_EQ(vsn_sd_reap(r.sd, VSN_QUEUE_TX, 40, QU_TIMEOUT_MS, 0, qu_ledger_on_used, &r.ledger,
                         NULL), 0);
    CHECK_EQ(tx_packets(&r), reconnect ? 25 : 70);

    /* and the queue goes on */
    CHECK(add_n(&r, 40, true) && poll_until_used(&r, 40));
    CHECK_EQ(vsn_sd_reap(r.sd, VSN_QUEUE_TX, 40, QU_TIMEOUT_MS, 0, qu_ledger_on_used, &r.ledger,
                         NULL), 0);
    CHECK_EQ(tx_packets(&r), reconnect ? 65 : 110);
    check_ledger(&r, what);
    rig_close(&r);
    if (vsn_failed == failed_before)
        printf("  %s: base 45 after a stop with 25 chains waiting and 15 unreaped; all once\n",
               what);
}

/* Twenty stop/resume cycles, each with chains consumed and chains waiting at the stop. */
static void manual_cycles(bool reconnect)
{
    struct rig r;
    const char *what = reconnect ? "manual reconnect x20" : "manual stop/start x20";
    if (rig_open(&r, 0, 20000) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    uint64_t counted = 0;
    uint16_t expect_base = 0;
    for (int cycle = 0; cycle < 20; cycle++) {
        /* at most 41 chains of at most 6 descriptors in flight: they fit the 256-entry ring */
        uint32_t processed = 4 + (uint32_t)cycle * 7 % 20, waiting = 2 + (uint32_t)cycle * 13 % 17;
        CHECK(add_n(&r, processed, true) && poll_until_used(&r, (uint16_t)processed));
        CHECK(add_n(&r, waiting, true));
        CHECK_EQ(vsn_sd_stop(r.sd), 0);
        expect_base = (uint16_t)(expect_base + processed);
        uint16_t base = get_base(&r);
        CHECK_EQ(base, expect_base);
        if (reconnect) {
            counted += tx_packets(&r);
            CHECK_EQ(vsn_sd_reconnect(r.sd), 0);
            CHECK_EQ(vsn_queue_set_base(vsn_sd_device(r.sd), VSN_QUEUE_TX, base), 0);
        }
        CHECK_EQ(vsn_sd_start(r.sd), 0);
        CHECK(poll_until_used(&r, (uint16_t)(processed + waiting)));
        expect_base = (uint16_t)(expect_base + waiting);
        CHECK_EQ(vsn_sd_reap(r.sd, VSN_QUEUE_TX, processed + waiting, QU_TIMEOUT_MS, 0,
                             qu_ledger_on_used, &r.ledger, NULL), 0);
    }
    counted += tx_packets(&r);
    CHECK_EQ(counted, r.token);
    int failed_before = vsn_failed;
    check_ledger(&r, what);
    if (vsn_failed == failed_before)
        printf("  %s: %u chains, each exactly once\n", what, r.token);
    rig_close(&r);
}

/* ---- thread mode, concurrent --------------------------------------------------------------- */

#define STREAM 30000u
#define MILESTONES 6u

struct driver {
    struct rig *r;
    int progress_fd;          /* the driver signals each milestone it passes */
    atomic_int failed;
    int64_t deadline;
};

static void *driver_main(void *arg)
{
    struct driver *d = arg;
    struct rig *r = d->r;
    uint32_t next_milestone = 1;
    while (r->ledger.reaped < STREAM) {
        if (vsn_sd_now_ms() > d->deadline) {
            fprintf(stderr, "  driver: deadline: %llu of %u back\n",
                    (unsigned long long)r->ledger.reaped, STREAM);
            atomic_store(&d->failed, 1);
            break;
        }
        /* keep the ring full, a kick decision after every chain */
        while (r->token < STREAM && add_varied(r) == 0)
            if (vsn_sim_queue_kick(r->q) < 0)
                atomic_store(&d->failed, 1);
        /* wait for something back (sleeping on the call fd); a stopped device sends nothing,
         * so a timeout here is normal: the deadline above bounds the whole run */
        int rc = vsn_sd_reap(r->sd, VSN_QUEUE_TX, 1, 100, 0, qu_ledger_on_used, &r->ledger, NULL);
        if (rc != 0 && rc != -ETIMEDOUT) {
            fprintf(stderr, "  driver: reap: %s\n", vsn_sd_strerror(rc));
            atomic_store(&d->failed, 1);
            break;
        }
        (void)vsn_sd_reap(r->sd, VSN_QUEUE_TX, QSIZE, 0, 0, qu_ledger_on_used, &r->ledger, NULL);
        while (next_milestone <= MILESTONES &&
               r->ledger.reaped >= (uint64_t)STREAM * next_milestone / (MILESTONES + 1)) {
            uint64_t one = 1;
            if (write(d->progress_fd, &one, sizeof one) != (ssize_t)sizeof one)
                atomic_store(&d->failed, 1);
            next_milestone++;
        }
    }
    return NULL;
}

/* The driver's published avail idx (read from the control thread: an atomic load). */
static uint16_t avail_idx(struct rig *r)
{
    vsn_sim_queue_layout lay;
    vsn_sim_queue_layout_get(r->q, &lay);
    return le16toh(__atomic_load_n(&lay.avail->idx, __ATOMIC_ACQUIRE));
}

static bool wait_milestone(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    uint64_t v;
    if (poll(&p, 1, QU_TIMEOUT_MS) != 1 || read(fd, &v, sizeof v) != (ssize_t)sizeof v) {
        fprintf(stderr, "  control: no progress from the driver for %d ms\n", QU_TIMEOUT_MS);
        return false;
    }
    return true;
}

static void threaded(bool reconnect)
{
    struct rig r;
    const char *what = reconnect ? "thread mode, reconnect while streaming"
                                 : "thread mode, stop/start while streaming";
    if (rig_open(&r, VSN_SD_F_THREAD | VSN_SD_F_KICK_FD | VSN_SD_F_CALL_FD, STREAM) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    struct driver d = { .r = &r, .progress_fd = eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE),
                        .deadline = vsn_sd_now_ms() + 60000 };
    atomic_init(&d.failed, 0);
    pthread_t t;
    if (d.progress_fd < 0 || pthread_create(&t, NULL, driver_main, &d) != 0) {
        CHECK(0);
        rig_close(&r);
        return;
    }
    uint64_t counted = 0;
    uint16_t prev_base = 0;
    uint32_t stops = 0, mid_stream = 0;
    for (uint32_t m = 0; m < MILESTONES; m++) {
        if (!wait_milestone(d.progress_fd))
            break;
        /* the driver keeps adding and kicking throughout */
        CHECK_EQ(vsn_sd_stop(r.sd), 0);
        uint16_t base = get_base(&r);
        uint64_t pk = tx_packets(&r);
        if (avail_idx(&r) != base)
            mid_stream++; /* chains were available and not consumed when it stopped */
        if (reconnect) {
            CHECK_EQ((uint16_t)(base - prev_base), pk); /* this device consumed base - prev */
            counted += pk;
            CHECK_EQ(vsn_sd_reconnect(r.sd), 0);
            CHECK_EQ(vsn_queue_set_base(vsn_sd_device(r.sd), VSN_QUEUE_TX, base), 0);
        } else {
            CHECK_EQ(base, (uint16_t)pk);
        }
        prev_base = base;
        CHECK_EQ(vsn_sd_start(r.sd), 0);
        stops++;
    }
    pthread_join(t, NULL);
    CHECK_EQ(atomic_load(&d.failed), 0);
    CHECK_EQ(vsn_sd_stop(r.sd), 0);
    uint64_t pk = tx_packets(&r);
    counted = reconnect ? counted + pk : pk;
    CHECK_EQ(counted, STREAM);
    CHECK_EQ((uint16_t)(get_base(&r) - (reconnect ? prev_base : 0)), (uint16_t)pk);
    vsn_device_counter_values v;
    CHECK_EQ(vsn_sd_device_counters(r.sd, &v), 0);
    if (!reconnect)
        CHECK_EQ(v.tx_payload_bytes, r.payload_sent);
    CHECK_EQ(v.tx_malformed, 0);
    int failed_before = vsn_failed;
    check_ledger(&r, what);
    if (vsn_failed == failed_before)
        printf("  %s: %u chains, %u stops (%u with chains waiting), each chain exactly once\n",
               what, STREAM, stops, mid_stream);
    close(d.progress_fd);
    rig_close(&r);
}

#define CASES(X) \
    X(manual_reconnect, manual(true)) \
    X(manual_stop_start, manual(false)) \
    X(manual_cycles_reconnect, manual_cycles(true)) \
    X(manual_cycles_stop_start, manual_cycles(false)) \
    X(threaded_reconnect, threaded(true)) \
    X(threaded_stop_start, threaded(false))
static const char *const CASE_NAMES[] = { CASES(VSN_CASE_NAME) };

int main(int argc, char **argv)
{
    VSN_CASES_INIT(argc, argv, CASE_NAMES);
    CASES(VSN_CASE_RUN)
    return vsn_check_summary("queue_stop_resume");
}
