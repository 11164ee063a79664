/*
 * guest_stack.c — the guest-side virtio-vsock stream stack (see guest_stack.h).
 */
#include "guest_stack.h"
#include "vsn_sim_bind.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define HOST_CID 2u
#define EVENT_BUFS 8u
#define EVENT_BUF_SIZE 8u
#define MAX_PENDING 4096u
#define MAX_LISTEN 16u
#define ACCEPT_Q 64u

struct txslot {
    uint64_t hdr_gpa, pay_gpa;
    uint8_t *hdr, *pay;
};

struct rxbuf {
    uint64_t gpa;
    uint8_t *p;
};

struct pending { /* a control packet waiting for a tx slot */
    struct vsn_virtio_vsock_hdr h;
};

struct listener {
    uint32_t port;
    bool silent; /* REQUESTs get no answer at all (gs_listen_silent) */
    int q[ACCEPT_Q];
    uint32_t head, n;
};

struct dgram_slot { /* a received datagram waiting for gs_dgram_recv() */
    uint32_t src_port, dst_port, len;
    uint8_t *data;
};

struct gs_stack {
    gs_config cfg;
    uint64_t cid;
    uint64_t peer; /* the CID of the other end: the host, or cfg.peer_cid */
    vsn_sim_mem *mem;
    vsn_device *dev;
    vsn_sim_queue *rxq, *txq, *evq;
    struct txslot *tx;
    uint32_t ntx, *txfree, ntxfree;
    struct rxbuf *rx;
    uint32_t nrx, *rxfree, nrxfree, rx_posted;
    bool rx_hold;
    bool ev_hold; /* the event queue is not reaped (a driver that has not acted on events yet) */
    uint64_t ev_gpa[EVENT_BUFS];
    uint8_t *ev_p[EVENT_BUFS];
    struct pending *pend;
    uint32_t npend;
    gs_conn *conns;
    uint32_t nconns;
    int kick_fd[VSN_QUEUE_COUNT_MAX]; /* cfg.threaded: the kick eventfd of each queue, else -1 */
    int call_fd;                      /* cfg.threaded: the call eventfd of every queue, else -1 */
    struct listener lst[MAX_LISTEN];
    uint32_t nlst;
    uint32_t next_port;
    gs_pkt log[GS_LOG_SIZE];
    uint64_t log_seq;
    gs_stats st;
    bool trace;
    bool txq_dirty, rxq_dirty, evq_dirty;
    /* datagrams */
    bool five;                          /* five-queue layout */
    vsn_sim_queue *dgrxq, *dgtxq;
    struct txslot *dgtx;
    uint32_t ndgtx, *dgtxfree, ndgtxfree;
    struct rxbuf *dgrx;
    uint32_t ndgrx;
    bool dgtxq_dirty, dgrxq_dirty;
    uint32_t dg_bound[MAX_LISTEN], ndg_bound;
    uint8_t *dg_part;                   /* reassembly of the fragments in flight */
    uint32_t dg_part_len, dg_part_src, dg_part_dst;
    bool dg_part_active, dg_part_bad;
    struct dgram_slot dgq[GS_DGRAM_QUEUE];
    uint32_t dgq_head, dgq_n;
};

int64_t gs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *gs_op_name(uint16_t op)
{
    static const char *n[] = { "INVALID", "REQUEST", "RESPONSE", "RST", "SHUTDOWN", "RW",
                               "CREDIT_UPDATE", "CREDIT_REQUEST" };
    return op < 8 ? n[op] : "?";
}

void gs_print_pkt(const char *prefix, const gs_pkt *p)
{
    fprintf(stderr, "%s #%llu %s type=%u %llu:%u -> %llu:%u len=%u flags=%#x buf_alloc=%u fwd_cnt=%u\n",
            prefix, (unsigned long long)p->seq, gs_op_name(p->op), p->type,
            (unsigned long long)p->src_cid, p->src_port, (unsigned long long)p->dst_cid,
            p->dst_port, p->len, p->flags, p->buf_alloc, p->fwd_cnt);
}

static void decode(const struct vsn_virtio_vsock_hdr *h, gs_pkt *p)
{
    p->src_cid = le64toh(h->src_cid);
    p->dst_cid = le64toh(h->dst_cid);
    p->src_port = le32toh(h->src_port);
    p->dst_port = le32toh(h->dst_port);
    p->len = le32toh(h->len);
    p->type = le16toh(h->type);
    p->op = le16toh(h->op);
    p->flags = le32toh(h->flags);
    p->buf_alloc = le32toh(h->buf_alloc);
    p->fwd_cnt = le32toh(h->fwd_cnt);
}

static void stderr_log(void *user, int32_t level, const char *message)
{
    (void)user;
    fprintf(stderr, "[vsn %d] %s\n", level, message);
}

gs_config gs_config_default(void)
{
    gs_config c;
    memset(&c, 0, sizeof c);
    return c;
}

vsn_device *gs_device(gs_stack *s) { return s->dev; }
uint64_t gs_cid(gs_stack *s) { return s->cid; }
const gs_stats *gs_get_stats(gs_stack *s) { return &s->st; }
uint64_t gs_log_next(gs_stack *s) { return s->log_seq; }

size_t gs_log_since(gs_stack *s, uint64_t from, gs_pkt *out, size_t max)
{
    uint64_t lo = s->log_seq > GS_LOG_SIZE ? s->log_seq - GS_LOG_SIZE : 0;
    if (from < lo)
        from = lo;
    size_t n = 0;
    for (uint64_t q = from; q < s->log_seq && n < max; q++)
        out[n++] = s->log[q % GS_LOG_SIZE];
    return n;
}

/* ---- creation ---------------------------------------------------------------------------- */

static int alloc_buf(gs_stack *s, uint64_t len, uint64_t *gpa, uint8_t **p)
{
    int rc = vsn_sim_mem_alloc(s->mem, len, 64, gpa);
    if (rc == 0) {
        void *h;
        rc = vsn_sim_mem_gpa_to_hva(s->mem, *gpa, len, &h);
        *p = h;
    }
    return rc;
}

/* n transmit slots (a header and a max_pkt payload buffer each), all free. */
static int alloc_tx_slots(gs_stack *s, uint32_t n, struct txslot **slots, uint32_t **freelist, uint32_t *nfree)
{
    *slots = calloc(n, sizeof **slots);
    *freelist = calloc(n, sizeof **freelist);
    if (*slots == NULL || *freelist == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        int rc;
        if ((rc = alloc_buf(s, GS_HDR, &(*slots)[i].hdr_gpa, &(*slots)[i].hdr)) != 0 ||
            (rc = alloc_buf(s, s->cfg.max_pkt, &(*slots)[i].pay_gpa, &(*slots)[i].pay)) != 0)
            return rc;
        (*freelist)[(*nfree)++] = n - 1 - i;
    }
    return 0;
}

static int sim_notify(void *user, uint16_t queue_index)
{
    gs_stack *s = user;
    if (s->kick_fd[queue_index] >= 0) {
        uint64_t one = 1;
        return write(s->kick_fd[queue_index], &one, sizeof one) == sizeof one ? 0 : -errno;
    }
    return vsn_queue_notify(s->dev, queue_index);
}

static int make_queue(gs_stack *s, uint16_t size, uint16_t index, uint64_t feat, vsn_sim_queue **q)
{
    vsn_sim_queue_config qc;
    memset(&qc, 0, sizeof qc);
    qc.struct_size = sizeof qc;
    qc.queue_size = size;
    qc.queue_index = index;
    qc.features = feat;
    qc.notify = sim_notify;
    qc.notify_user = s;
    int rc = vsn_sim_queue_create(s->mem, &qc, q);
    if (rc != 0)
        return rc;
    if (s->cfg.threaded && (s->kick_fd[index] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        return -errno;
    vsn_queue_config c = vsn_sim_bind_queue(*q, s->kick_fd[index], s->call_fd);
    return vsn_queue_setup(s->dev, index, &c);
}

static int post_writable(vsn_sim_queue *q, uint64_t gpa, uint32_t len, uint32_t token, bool *dirty)
{
    vsn_sim_buf b = { .gpa = gpa, .len = len, .writable = true };
    uint16_t head;
    int rc = vsn_sim_queue_add_bufs(q, &b, 1, 0, token, &head);
    if (rc == 0)
        *dirty = true;
    return rc;
}

static int post_rx(gs_stack *s, uint32_t i)
{
    int rc = post_writable(s->rxq, s->rx[i].gpa, s->cfg.rx_buf_size, i, &s->rxq_dirty);
    if (rc == 0)
        s->rx_posted++;
    return rc;
}

static int post_ev(gs_stack *s, uint32_t i)
{
    vsn_sim_buf b = { .gpa = s->ev_gpa[i], .len = EVENT_BUF_SIZE, .writable = true };
    uint16_t head;
    memset(s->ev_p[i], 0xA5, EVENT_BUF_SIZE);
    int rc = vsn_sim_queue_add_bufs(s->evq, &b, 1, 0, i, &head);
    if (rc == 0)
        s->evq_dirty = true;
    return rc;
}

/* A device with the stack's config, given the guest's memory table (nothing else yet). */
static int new_device(gs_stack *s)
{
    const gs_config *cfg = &s->cfg;
    vsn_device_config dc;
    memset(&dc, 0, sizeof dc);
    dc.struct_size = sizeof dc;
    dc.flags = cfg->threaded ? 0 : VSN_DEVICE_F_MANUAL_POLL;
    dc.guest_cid = s->cid;
    dc.uds_path = cfg->uds_path;
    dc.buf_alloc = cfg->dev_buf_alloc;
    dc.max_connections = cfg->max_connections;
    dc.dgram_layout = cfg->dgram_layout;
    dc.max_dgram_sockets = cfg->max_dgram_sockets;
    if (cfg->device_log || getenv("VSN_SD_LOG") != NULL) {
        dc.log_fn = stderr_log;
        dc.log_level = VSN_LOG_DEBUG;
    }
    int rc = vsn_device_create(&dc, &s->dev);
    if (rc != 0)
        return rc;
    vsn_mem_region mr[VSN_SIM_MAX_REGIONS];
    uint32_t nreg = gs_mem_table(s, mr, VSN_SIM_MAX_REGIONS);
    return vsn_device_set_mem_table(s->dev, mr, nreg);
}

int gs_create(const gs_config *cfg_in, gs_stack **out)
{
    gs_stack *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->cfg = *cfg_in;
    gs_config *cfg = &s->cfg;
    if (cfg->guest_cid == 0) cfg->guest_cid = 3;
    if (cfg->rx_qsize == 0) cfg->rx_qsize = 256;
    if (cfg->tx_qsize == 0) cfg->tx_qsize = 256;
    if (cfg->rx_buf_size == 0) cfg->rx_buf_size = 4096;
    if (cfg->rx_bufs == 0 || cfg->rx_bufs > cfg->rx_qsize) cfg->rx_bufs = cfg->rx_qsize;
    if (cfg->max_pkt == 0) cfg->max_pkt = 65536;
    if (cfg->guest_buf_alloc == 0) cfg->guest_buf_alloc = 262144;
    if (cfg->credit_threshold == 0) cfg->credit_threshold = 65536;
    s->cid = cfg->guest_cid;
    s->peer = cfg->peer_cid != 0 ? cfg->peer_cid : HOST_CID;
    s->trace = cfg->verbose || getenv("VSN_GS_TRACE") != NULL;
    s->next_port = 50000;
    s->nrx = cfg->rx_qsize;
    s->call_fd = -1;
    for (uint32_t i = 0; i < VSN_QUEUE_COUNT_MAX; i++)
        s->kick_fd[i] = -1;
    s->nconns = cfg->max_conns != 0 ? cfg->max_conns : GS_MAX_CONNS;
    if ((s->conns = calloc(s->nconns, sizeof *s->conns)) == NULL ||
        (cfg->threaded && (s->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)) {
        free(s->conns);
        free(s);
        return -ENOMEM;
    }
    /* Touched now (calloc may hand out untouched pages): a benchmark that measures the device's
     * memory by the process's RSS (bench_rows idle) must not see the guest's slots grow into it. */
    memset(s->conns, 0, (size_t)s->nconns * sizeof *s->conns);
    s->ntx = cfg->tx_qsize / 2; /* two descriptors per data packet */

    uint64_t need = (uint64_t)s->nrx * (cfg->rx_buf_size + 64) +
                    (uint64_t)s->ntx * (GS_HDR + 64 + cfg->max_pkt + 64) + (8u << 20);
    if (cfg->dgram && cfg->dgram_layout == VSN_DGRAM_LAYOUT_SEPARATE)
        need *= 2; /* the datagram queues get as many buffers again */
    need = (need + 0xFFFFF) & ~0xFFFFFull;
    vsn_sim_region_spec spec = { .gpa = 0x100000, .size = need };
    vsn_sim_mem_config mc = { .struct_size = sizeof mc, .nregions = 1, .regions = &spec };
    int rc = vsn_sim_mem_create(&mc, &s->mem);
    if (rc != 0)
        goto fail;

    if ((rc = new_device(s)) != 0)
        goto fail;
    uint64_t offered = 0;
    vsn_device_get_features(s->dev, &offered);
    uint64_t want = (1ull << VSN_VIRTIO_F_VERSION_1) | (1ull << VSN_VIRTIO_RING_F_EVENT_IDX) |
                    (1ull << VSN_VIRTIO_VSOCK_F_STREAM) |
                    (cfg->seqpacket ? 1ull << VSN_VIRTIO_VSOCK_F_SEQPACKET : 0) |
                    (cfg->dgram ? 1ull << VSN_VIRTIO_VSOCK_F_DGRAM : 0);
    uint64_t feat = offered & want;
    s->five = (feat & (1ull << VSN_VIRTIO_VSOCK_F_DGRAM)) && cfg->dgram_layout == VSN_DGRAM_LAYOUT_SEPARATE;
    if ((rc = vsn_device_set_features(s->dev, feat)) != 0)
        goto fail;
    uint64_t ring = (feat & (1ull << VSN_VIRTIO_RING_F_EVENT_IDX)) ? VSN_SIM_FEAT(VIRTIO_RING_F_EVENT_IDX) : 0;
    if ((rc = make_queue(s, cfg->rx_qsize, VSN_QUEUE_RX, ring, &s->rxq)) != 0 ||
        (rc = make_queue(s, cfg->tx_qsize, VSN_QUEUE_TX, ring, &s->txq)) != 0 ||
        (rc = make_queue(s, 16, s->five ? VSN_QUEUE_DGRAM_EVENT : VSN_QUEUE_EVENT, ring, &s->evq)) != 0)
        goto fail;
    if (s->five && ((rc = make_queue(s, cfg->rx_qsize, VSN_QUEUE_DGRAM_RX, ring, &s->dgrxq)) != 0 ||
                    (rc = make_queue(s, cfg->tx_qsize, VSN_QUEUE_DGRAM_TX, ring, &s->dgtxq)) != 0))
        goto fail;
    if (s->five) {
        s->ndgrx = cfg->rx_qsize;
        s->ndgtx = cfg->tx_qsize / 2;
        if ((s->dgrx = calloc(s->ndgrx, sizeof *s->dgrx)) == NULL ||
            (rc = alloc_tx_slots(s, s->ndgtx, &s->dgtx, &s->dgtxfree, &s->ndgtxfree)) != 0) {
            rc = rc != 0 ? rc : -ENOMEM;
            goto fail;
        }
        for (uint32_t i = 0; i < s->ndgrx; i++)
            if ((rc = alloc_buf(s, cfg->rx_buf_size, &s->dgrx[i].gpa, &s->dgrx[i].p)) != 0 ||
                (rc = post_writable(s->dgrxq, s->dgrx[i].gpa, cfg->rx_buf_size, i, &s->dgrxq_dirty)) != 0)
                goto fail;
    }

    s->rx = calloc(s->nrx, sizeof *s->rx);
    s->rxfree = calloc(s->nrx, sizeof *s->rxfree);
    s->pend = calloc(MAX_PENDING, sizeof *s->pend);
    if (!s->rx || !s->rxfree || !s->pend) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = alloc_tx_slots(s, s->ntx, &s->tx, &s->txfree, &s->ntxfree)) != 0)
        goto fail;
    for (uint32_t i = 0; i < s->nrx; i++)
        if ((rc = alloc_buf(s, cfg->rx_buf_size, &s->rx[i].gpa, &s->rx[i].p)) != 0)
            goto fail;
    for (uint32_t i = 0; i < EVENT_BUFS; i++)
        if ((rc = alloc_buf(s, EVENT_BUF_SIZE, &s->ev_gpa[i], &s->ev_p[i])) != 0)
            goto fail;
    for (uint32_t i = 0; i < s->nrx; i++) {
        if (i < cfg->rx_bufs) {
            if ((rc = post_rx(s, i)) != 0)
                goto fail;
        } else {
            s->rxfree[s->nrxfree++] = i;
        }
    }
    for (uint32_t i = 0; i < EVENT_BUFS; i++)
        if ((rc = post_ev(s, i)) != 0)
            goto fail;
    if ((rc = vsn_device_start(s->dev)) != 0)
        goto fail;
    vsn_sim_queue_kick(s->rxq);
    vsn_sim_queue_kick(s->evq);
    if (s->five)
        vsn_sim_queue_kick(s->dgrxq);
    s->rxq_dirty = s->evq_dirty = s->dgrxq_dirty = false;
    *out = s;
    return 0;
fail:
    fprintf(stderr, "gs_create failed: %d (%s)\n", rc,
            rc < -4095 ? vsn_sim_strerror(rc) : strerror(-rc));
    gs_destroy(&s);
    return rc;
}

/* ---- snapshot and restore (the device is replaced, the guest goes on) ---------------------- */

static void flush_pending(gs_stack *s);
static void kick_dirty(gs_stack *s);


void gs_device_detach(gs_stack *s)
{
    if (s->dev == NULL)
        return;
    vsn_device_stop(s->dev);
    vsn_device_destroy(s->dev);
    s->dev = NULL;
}

int gs_device_attach_new(gs_stack *s)
{
    if (s->dev != NULL)
        return -EBUSY;
    int rc = new_device(s);
    if (rc != 0)
        gs_device_detach(s);
    return rc;
}

int gs_device_resume(gs_stack *s)
{
    vsn_sim_queue *qs[] = { s->rxq, s->txq, s->evq, s->dgrxq, s->dgtxq };
    uint32_t idx[] = { VSN_QUEUE_RX, VSN_QUEUE_TX, s->five ? VSN_QUEUE_DGRAM_EVENT : VSN_QUEUE_EVENT,
                       VSN_QUEUE_DGRAM_RX, VSN_QUEUE_DGRAM_TX };
    for (unsigned i = 0; i < 5; i++) {
        if (qs[i] == NULL)
            continue;
        vsn_queue_config c = vsn_sim_bind_queue(qs[i], -1, -1);
        int rc = vsn_queue_setup(s->dev, idx[i], &c);
        if (rc != 0)
            return rc;
    }
    return vsn_device_start(s->dev);
}

uint32_t gs_mem_table(gs_stack *s, vsn_mem_region *out, uint32_t cap)
{
    return vsn_sim_bind_regions(s->mem, out, cap);
}

void gs_event_hold(gs_stack *s, bool hold) { s->ev_hold = hold; }

void gs_kick(gs_stack *s)
{
    flush_pending(s);
    kick_dirty(s);
}

void gs_destroy(gs_stack **ps)
{
    gs_stack *s = *ps;
    if (s == NULL)
        return;
    if (s->dev != NULL) {
        vsn_device_stop(s->dev);
        vsn_device_destroy(s->dev);
    }
    vsn_sim_queue_destroy(&s->rxq);
    vsn_sim_queue_destroy(&s->txq);
    vsn_sim_queue_destroy(&s->evq);
    vsn_sim_queue_destroy(&s->dgrxq);
    vsn_sim_queue_destroy(&s->dgtxq);
    vsn_sim_mem_destroy(&s->mem);
    free(s->dgrx);
    free(s->dgtx);
    free(s->dgtxfree);
    free(s->dg_part);
    for (uint32_t i = 0; i < GS_DGRAM_QUEUE; i++)
        free(s->dgq[i].data);
    for (uint32_t i = 0; i < s->nconns; i++) {
        free(s->conns[i].rxbuf);
        free(s->conns[i].msgs);
    }
    free(s->conns);
    for (uint32_t i = 0; i < VSN_QUEUE_COUNT_MAX; i++)
        if (s->kick_fd[i] >= 0)
            close(s->kick_fd[i]);
    if (s->call_fd >= 0)
        close(s->call_fd);
    free(s->tx);
    free(s->txfree);
    free(s->rx);
    free(s->rxfree);
    free(s->pend);
    free(s);
    *ps = NULL;
}

/* ---- sending ----------------------------------------------------------------------------- */

void gs_hdr(gs_stack *s, const gs_conn *c, struct vsn_virtio_vsock_hdr *h, uint32_t src_port,
            uint32_t dst_port, uint16_t op, uint32_t len, uint32_t flags)
{
    vsn_sim_bind_hdr(h, s->cid, s->peer, src_port, dst_port,
                     c != NULL ? c->type : VSN_VIRTIO_VSOCK_TYPE_STREAM, op, len, flags,
                     c != NULL ? c->buf_alloc : 0, c != NULL ? c->fwd_cnt : 0);
}

static void trace_tx(gs_stack *s, const struct vsn_virtio_vsock_hdr *h)
{
    if (!s->trace)
        return;
    gs_pkt p;
    decode(h, &p);
    p.seq = s->st.tx_pkts;
    gs_print_pkt("guest tx", &p);
}

/* Puts one chain (hdr + optional payload) on a transmit queue; -EAGAIN without a free slot. */
static int put_chain(gs_stack *s, vsn_sim_queue *q, struct txslot *slots, uint32_t *freelist,
                     uint32_t *nfree, bool *dirty, const struct vsn_virtio_vsock_hdr *h,
                     const void *pay, uint32_t plen)
{
    if (*nfree == 0 || plen > s->cfg.max_pkt)
        return -EAGAIN;
    uint32_t slot = freelist[--*nfree];
    struct txslot *t = &slots[slot];
    memcpy(t->hdr, h, GS_HDR);
    vsn_sim_buf b[2] = { { .gpa = t->hdr_gpa, .len = GS_HDR, .writable = false },
                         { .gpa = t->pay_gpa, .len = plen, .writable = false } };
    if (plen > 0)
        memcpy(t->pay, pay, plen);
    uint16_t head;
    int rc = vsn_sim_queue_add_bufs(q, b, plen > 0 ? 2 : 1, 0, slot, &head);
    if (rc != 0) {
        freelist[(*nfree)++] = slot;
        return rc == VSN_SIM_E_NO_DESC ? -EAGAIN : rc;
    }
    trace_tx(s, h);
    s->st.tx_pkts++;
    s->st.tx_payload += plen;
    *dirty = true;
    return 0;
}

static int tx_chain(gs_stack *s, const struct vsn_virtio_vsock_hdr *h, const void *pay, uint32_t plen)
{
    return put_chain(s, s->txq, s->tx, s->txfree, &s->ntxfree, &s->txq_dirty, h, pay, plen);
}

/* A datagram-queue packet: the datagram tx queue of the five-queue layout, else the tx queue. */
static int dg_chain(gs_stack *s, const struct vsn_virtio_vsock_hdr *h, const void *pay, uint32_t plen)
{
    if (!s->five)
        return tx_chain(s, h, pay, plen);
    return put_chain(s, s->dgtxq, s->dgtx, s->dgtxfree, &s->ndgtxfree, &s->dgtxq_dirty, h, pay, plen);
}

static void kick_dirty(gs_stack *s)
{
    if (s->txq_dirty) { vsn_sim_queue_kick(s->txq); s->txq_dirty = false; }
    if (s->rxq_dirty) { vsn_sim_queue_kick(s->rxq); s->rxq_dirty = false; }
    if (s->evq_dirty) { vsn_sim_queue_kick(s->evq); s->evq_dirty = false; }
    if (s->dgtxq_dirty) { vsn_sim_queue_kick(s->dgtxq); s->dgtxq_dirty = false; }
    if (s->dgrxq_dirty) { vsn_sim_queue_kick(s->dgrxq); s->dgrxq_dirty = false; }
}

int gs_send_raw(gs_stack *s, const struct vsn_virtio_vsock_hdr *h, const void *payload, uint32_t plen)
{
    int rc = tx_chain(s, h, payload, plen);
    kick_dirty(s);
    return rc;
}

/* A control packet (len 0) for a connection: sent now or queued until a slot frees. */
static void send_ctl_type(gs_stack *s, gs_conn *c, uint16_t type, uint32_t guest_port,
                          uint32_t host_port, uint16_t op, uint32_t flags)
{
    struct vsn_virtio_vsock_hdr h;
    gs_hdr(s, c, &h, guest_port, host_port, op, 0, flags);
    if (c == NULL)
        h.type = htole16(type);
    if (c != NULL)
        c->last_fwd_cnt_sent = c->fwd_cnt;
    if (s->npend == 0 && tx_chain(s, &h, NULL, 0) == 0)
        return;
    if (s->npend < MAX_PENDING)
        s->pend[s->npend++].h = h;
    else
        fprintf(stderr, "guest_stack: control backlog full, %s dropped\n", gs_op_name(op));
}

static void send_ctl(gs_stack *s, gs_conn *c, uint32_t guest_port, uint32_t host_port,
                     uint16_t op, uint32_t flags)
{
    send_ctl_type(s, c, VSN_VIRTIO_VSOCK_TYPE_STREAM, guest_port, host_port, op, flags);
}

static void flush_pending(gs_stack *s)
{
    uint32_t i = 0;
    while (i < s->npend && tx_chain(s, &s->pend[i].h, NULL, 0) == 0)
        i++;
    if (i > 0) {
        memmove(s->pend, s->pend + i, (s->npend - i) * sizeof *s->pend);
        s->npend -= i;
    }
}

uint32_t gs_peer_free(const gs_conn *c)
{
    uint32_t used = c->tx_cnt - c->peer_fwd_cnt;
    if (used > c->peer_buf_alloc)
        return 0;
    return c->peer_buf_alloc - used;
}

size_t gs_send(gs_stack *s, gs_conn *c, const void *data, size_t len)
{
    size_t done = 0;
    const uint8_t *d = data;
    if (c->state != GS_ESTABLISHED || (c->our_shutdown & VSN_VIRTIO_VSOCK_SHUTDOWN_SEND) ||
        c->type != VSN_VIRTIO_VSOCK_TYPE_STREAM)
        return 0;
    flush_pending(s);
    while (done < len && s->npend == 0) {
        uint32_t n = gs_peer_free(c);
        if (n == 0)
            break;
        if (n > s->cfg.max_pkt)
            n = s->cfg.max_pkt;
        if (n > len - done)
            n = (uint32_t)(len - done);
        struct vsn_virtio_vsock_hdr h;
        gs_hdr(s, c, &h, c->guest_port, c->host_port, VSN_VIRTIO_VSOCK_OP_RW, n, 0);
        if (tx_chain(s, &h, d + done, n) != 0)
            break;
        c->last_fwd_cnt_sent = c->fwd_cnt;
        c->tx_cnt += n;
        c->bytes_sent += n;
        done += n;
    }
    kick_dirty(s);
    return done;
}

/* ---- connections ------------------------------------------------------------------------- */

static gs_conn *new_conn(gs_stack *s, uint32_t guest_port, uint32_t host_port)
{
    for (int i = 0; i < (int)s->nconns; i++) {
        gs_conn *c = &s->conns[i];
        if (c->state != GS_FREE)
            continue;
        uint8_t *buf = c->rxbuf;
        gs_msg *msgs = c->msgs;
        if (buf == NULL && (buf = calloc(1, s->cfg.guest_buf_alloc)) == NULL)
            return NULL;
        if (c->rxbuf == NULL)
            memset(buf, 0, s->cfg.guest_buf_alloc); /* touched now, as the slots (gs_create) */
        c->rxbuf = buf;
        if (s->cfg.seqpacket && msgs == NULL && (msgs = calloc(GS_MAX_MSGS, sizeof *msgs)) == NULL)
            return NULL;
        memset(c, 0, sizeof *c);
        c->rxbuf = buf;
        c->msgs = msgs;
        c->type = VSN_VIRTIO_VSOCK_TYPE_STREAM;
        c->id = i;
        c->guest_port = guest_port;
        c->host_port = host_port;
        c->buf_alloc = s->cfg.guest_buf_alloc;
        return c;
    }
    fprintf(stderr, "guest_stack: no free connection slot\n");
    return NULL;
}

void gs_release(gs_stack *s, gs_conn *c)
{
    (void)s;
    c->state = GS_FREE;
}

gs_conn *gs_connect(gs_stack *s, uint32_t host_port, uint32_t guest_port)
{
    return gs_connect_type(s, host_port, guest_port, VSN_VIRTIO_VSOCK_TYPE_STREAM);
}

gs_conn *gs_connect_type(gs_stack *s, uint32_t host_port, uint32_t guest_port, uint16_t type)
{
    if (guest_port == 0)
        guest_port = s->next_port++;
    gs_conn *c = new_conn(s, guest_port, host_port);
    if (c == NULL)
        return NULL;
    c->type = type;
    c->state = GS_CONNECTING;
    send_ctl(s, c, guest_port, host_port, VSN_VIRTIO_VSOCK_OP_REQUEST, 0);
    kick_dirty(s);
    return c;
}

int gs_listen(gs_stack *s, uint32_t guest_port)
{
    if (s->nlst >= MAX_LISTEN)
        return -ENOSPC;
    memset(&s->lst[s->nlst], 0, sizeof s->lst[0]);
    s->lst[s->nlst++].port = guest_port;
    return 0;
}

int gs_listen_silent(gs_stack *s, uint32_t guest_port)
{
    int rc = gs_listen(s, guest_port);
    if (rc == 0)
        s->lst[s->nlst - 1].silent = true;
    return rc;
}

static struct listener *find_listener(gs_stack *s, uint32_t port)
{
    for (uint32_t i = 0; i < s->nlst; i++)
        if (s->lst[i].port == port)
            return &s->lst[i];
    return NULL;
}

gs_conn *gs_accept(gs_stack *s, uint32_t guest_port)
{
    struct listener *l = find_listener(s, guest_port);
    if (l == NULL || l->n == 0)
        return NULL;
    int id = l->q[l->head];
    l->head = (l->head + 1) % ACCEPT_Q;
    l->n--;
    return &s->conns[id];
}

int gs_shutdown(gs_stack *s, gs_conn *c, uint32_t flags)
{
    c->our_shutdown |= flags;
    send_ctl(s, c, c->guest_port, c->host_port, VSN_VIRTIO_VSOCK_OP_SHUTDOWN, flags);
    kick_dirty(s);
    return 0;
}

int gs_rst(gs_stack *s, gs_conn *c)
{
    send_ctl(s, c, c->guest_port, c->host_port, VSN_VIRTIO_VSOCK_OP_RST, 0);
    c->rst_sent = true;
    c->state = GS_CLOSED;
    kick_dirty(s);
    return 0;
}

int gs_credit_request(gs_stack *s, gs_conn *c)
{
    send_ctl(s, c, c->guest_port, c->host_port, VSN_VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0);
    kick_dirty(s);
    return 0;
}

int gs_credit_update(gs_stack *s, gs_conn *c)
{
    send_ctl(s, c, c->guest_port, c->host_port, VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
    s->st.credit_updates_sent++;
    kick_dirty(s);
    return 0;
}

uint32_t gs_rx_avail(const gs_conn *c) { return c->rx_len; }

/* Linux: both directions shut by the peer and nothing left to read -> RST. */
static void maybe_close(gs_stack *s, gs_conn *c)
{
    if (c->state == GS_ESTABLISHED && c->peer_shutdown == 3u && c->rx_len == 0 && !c->rst_sent)
        gs_rst(s, c);
}

/* Takes n bytes out of the receive ring, copying at most cap of them to d (the rest is discarded). */
static void ring_take(gs_conn *c, uint8_t *d, size_t cap, uint32_t n)
{
    uint32_t done = 0;
    while (done < n) {
        uint32_t chunk = c->buf_alloc - c->rx_head;
        if (chunk > n - done)
            chunk = n - done;
        if (done < cap)
            memcpy(d + done, c->rxbuf + c->rx_head, chunk < cap - done ? chunk : (uint32_t)(cap - done));
        c->rx_head = (c->rx_head + chunk) % c->buf_alloc;
        done += chunk;
    }
    c->rx_len -= n;
    c->fwd_cnt += n;
}

size_t gs_recv(gs_stack *s, gs_conn *c, void *buf, size_t cap)
{
    if (c->type != VSN_VIRTIO_VSOCK_TYPE_STREAM)
        return 0;
    size_t n = cap < c->rx_len ? cap : c->rx_len;
    ring_take(c, buf, cap, (uint32_t)n);
    /* virtio_transport_stream_do_dequeue(): update when the credit freed but not yet reported
     * leaves less than VIRTIO_VSOCK_MAX_PKT_BUF_SIZE of what the peer last heard. */
    if (n > 0 && c->state == GS_ESTABLISHED &&
        c->buf_alloc - (c->fwd_cnt - c->last_fwd_cnt_sent) < s->cfg.credit_threshold) {
        send_ctl(s, c, c->guest_port, c->host_port, VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
        s->st.credit_updates_sent++;
    }
    maybe_close(s, c);
    kick_dirty(s);
    return n;
}

/* virtio_transport_seqpacket_enqueue(): -EMSGSIZE beyond the peer's buf_alloc, then the stream
 * path, which marks the packet carrying the message's end with SEQ_EOM (and SEQ_EOR for MSG_EOR). */
int gs_seq_send(gs_stack *s, gs_conn *c, const void *msg, size_t len, bool eor, size_t *done)
{
    const uint8_t *d = msg;
    if (c->type != VSN_VIRTIO_VSOCK_TYPE_SEQPACKET || c->state != GS_ESTABLISHED ||
        (c->our_shutdown & VSN_VIRTIO_VSOCK_SHUTDOWN_SEND))
        return -EINVAL;
    if (len > c->peer_buf_alloc)
        return -EMSGSIZE;
    flush_pending(s);
    int rc = 0;
    while (s->npend == 0) {
        size_t rest = len - *done;
        uint32_t n = gs_peer_free(c);
        if (n > s->cfg.max_pkt)
            n = s->cfg.max_pkt;
        if (n > rest)
            n = (uint32_t)rest;
        if (n == 0 && rest > 0)
            break; /* no credit now */
        uint32_t flags = n == rest ? VSN_VIRTIO_VSOCK_SEQ_EOM | (eor ? VSN_VIRTIO_VSOCK_SEQ_EOR : 0) : 0;
        struct vsn_virtio_vsock_hdr h;
        gs_hdr(s, c, &h, c->guest_port, c->host_port, VSN_VIRTIO_VSOCK_OP_RW, n, flags);
        if (tx_chain(s, &h, d + *done, n) != 0)
            break;
        c->last_fwd_cnt_sent = c->fwd_cnt;
        c->tx_cnt += n;
        c->bytes_sent += n;
        *done += n;
        if (flags != 0) {
            rc = 1;
            break;
        }
    }
    kick_dirty(s);
    return rc;
}

/* virtio_transport_seqpacket_do_dequeue(): one whole message (the part beyond the reader's
 * buffer is discarded), all its bytes freed, then always a CREDIT_UPDATE. */
long gs_seq_recv(gs_stack *s, gs_conn *c, void *buf, size_t cap, bool *eor)
{
    if (c->type != VSN_VIRTIO_VSOCK_TYPE_SEQPACKET || c->msg_n == 0)
        return -EAGAIN;
    gs_msg m = c->msgs[c->msg_head];
    c->msg_head = (c->msg_head + 1) % GS_MAX_MSGS;
    c->msg_n--;
    ring_take(c, buf, cap, m.len);
    *eor = m.eor;
    if (c->state == GS_ESTABLISHED) {
        send_ctl(s, c, c->guest_port, c->host_port, VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
        s->st.credit_updates_sent++;
    }
    maybe_close(s, c);
    kick_dirty(s);
    return m.len;
}

/* ---- receiving --------------------------------------------------------------------------- */

static gs_conn *find_conn(gs_stack *s, uint32_t guest_port, uint32_t host_port)
{
    gs_conn *old = NULL;
    for (uint32_t i = 0; i < s->nconns; i++) {
        gs_conn *c = &s->conns[i];
        if (c->state == GS_FREE || c->guest_port != guest_port || c->host_port != host_port)
            continue;
        if (c->state == GS_CONNECTING || c->state == GS_ESTABLISHED)
            return c;
        old = c;
    }
    return old;
}

static void on_dgram(gs_stack *s, const gs_pkt *p, const uint8_t *payload);

static void on_packet(gs_stack *s, const gs_pkt *p, const uint8_t *payload)
{
    if (p->dst_cid != s->cid || p->src_cid != s->peer) {
        s->st.not_for_us++;
        return;
    }
    if (p->type == VSN_VIRTIO_VSOCK_TYPE_DGRAM) {
        on_dgram(s, p, payload);
        return;
    }
    gs_conn *c = find_conn(s, p->dst_port, p->src_port);
    bool live = c != NULL && (c->state == GS_CONNECTING || c->state == GS_ESTABLISHED);
    if (c != NULL) {
        if (p->op < 8)
            c->ops[p->op]++;
        c->peer_buf_alloc = p->buf_alloc;
        c->peer_fwd_cnt = p->fwd_cnt;
        c->peer_credit_known = true;
    }
    if (p->op == VSN_VIRTIO_VSOCK_OP_REQUEST && !live) {
        struct listener *l = find_listener(s, p->dst_port);
        if (l != NULL && l->silent)
            return; /* a guest that never answers: logged, nothing sent */
        bool type_ok = p->type == VSN_VIRTIO_VSOCK_TYPE_STREAM ||
                       (p->type == VSN_VIRTIO_VSOCK_TYPE_SEQPACKET && s->cfg.seqpacket);
        if (l == NULL || l->n == ACCEPT_Q || !type_ok) {
            s->st.rst_replies_sent++;
            send_ctl_type(s, NULL, p->type, p->dst_port, p->src_port, VSN_VIRTIO_VSOCK_OP_RST, 0);
            return;
        }
        gs_conn *n = new_conn(s, p->dst_port, p->src_port);
        if (n == NULL) {
            send_ctl_type(s, NULL, p->type, p->dst_port, p->src_port, VSN_VIRTIO_VSOCK_OP_RST, 0);
            return;
        }
        n->type = p->type;
        n->host_initiated = true;
        n->ops[p->op]++;
        n->peer_buf_alloc = p->buf_alloc;
        n->peer_fwd_cnt = p->fwd_cnt;
        n->peer_credit_known = true;
        n->state = GS_ESTABLISHED;
        send_ctl(s, n, n->guest_port, n->host_port, VSN_VIRTIO_VSOCK_OP_RESPONSE, 0);
        l->q[(l->head + l->n) % ACCEPT_Q] = n->id;
        l->n++;
        return;
    }
    if (!live) {
        s->st.unknown_conn_pkts++;
        if (p->op != VSN_VIRTIO_VSOCK_OP_RST) {
            s->st.rst_replies_sent++;
            send_ctl_type(s, NULL, p->type, p->dst_port, p->src_port, VSN_VIRTIO_VSOCK_OP_RST, 0);
        }
        return;
    }
    if (p->type != c->type)
        c->bad_flags++;
    switch (p->op) {
    case VSN_VIRTIO_VSOCK_OP_RESPONSE:
        if (c->state == GS_CONNECTING)
            c->state = GS_ESTABLISHED;
        break;
    case VSN_VIRTIO_VSOCK_OP_RST:
        c->rst_received = true;
        c->state = c->state == GS_CONNECTING ? GS_REFUSED : GS_RESET;
        break;
    case VSN_VIRTIO_VSOCK_OP_SHUTDOWN:
        c->peer_shutdown |= p->flags & 3u;
        maybe_close(s, c);
        break;
    case VSN_VIRTIO_VSOCK_OP_RW: {
        uint32_t allowed = c->type == VSN_VIRTIO_VSOCK_TYPE_SEQPACKET
                               ? VSN_VIRTIO_VSOCK_SEQ_EOM | VSN_VIRTIO_VSOCK_SEQ_EOR : 0;
        if (p->flags & ~allowed)
            c->bad_flags++;
        uint32_t advertised = c->buf_alloc - (c->rx_cnt - c->last_fwd_cnt_sent);
        if (c->peer_shutdown & VSN_VIRTIO_VSOCK_SHUTDOWN_SEND)
            c->rw_after_shutdown++;
        if (p->len > advertised)
            c->credit_violations++;
        if (p->len > c->buf_alloc - c->rx_len) {
            fprintf(stderr, "guest_stack: RW of %u bytes does not fit (%u buffered of %u), dropped\n",
                    p->len, c->rx_len, c->buf_alloc);
            break;
        }
        uint32_t tail = (c->rx_head + c->rx_len) % c->buf_alloc;
        uint32_t first = c->buf_alloc - tail;
        if (first > p->len)
            first = p->len;
        memcpy(c->rxbuf + tail, payload, first);
        memcpy(c->rxbuf, payload + first, p->len - first);
        c->rx_len += p->len;
        c->rx_cnt += p->len;
        c->bytes_received += p->len;
        s->st.rx_payload += p->len;
        if (c->type == VSN_VIRTIO_VSOCK_TYPE_SEQPACKET) {
            c->msg_cur += p->len;
            if (p->flags & VSN_VIRTIO_VSOCK_SEQ_EOM) {
                if (c->msg_n == GS_MAX_MSGS) {
                    fprintf(stderr, "guest_stack: more than %u messages waiting\n", GS_MAX_MSGS);
                    abort();
                }
                gs_msg *m = &c->msgs[(c->msg_head + c->msg_n++) % GS_MAX_MSGS];
                m->len = c->msg_cur;
                m->eor = (p->flags & VSN_VIRTIO_VSOCK_SEQ_EOR) != 0;
                c->msg_cur = 0;
                c->msgs_received++;
                c->eor_received += m->eor;
            }
        }
        break;
    }
    case VSN_VIRTIO_VSOCK_OP_CREDIT_REQUEST:
        send_ctl(s, c, c->guest_port, c->host_port, VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
        s->st.credit_updates_sent++;
        break;
    default: /* CREDIT_UPDATE: credit already taken; REQUEST on a live conn: counted only */
        break;
    }
}

/* One used rx buffer: logged, checked against its used length, handed to on_packet. */
static void take_rx(gs_stack *s, const uint8_t *b, const vsn_sim_used *u)
{
    if (u->len < GS_HDR) {
        s->st.bad_used_len++;
        fprintf(stderr, "guest_stack: rx used len %u < header\n", u->len);
        return;
    }
    gs_pkt p;
    decode((const struct vsn_virtio_vsock_hdr *)b, &p);
    p.seq = s->log_seq++;
    s->log[p.seq % GS_LOG_SIZE] = p;
    s->st.rx_pkts++;
    if (s->trace)
        gs_print_pkt("guest rx", &p);
    if ((uint64_t)GS_HDR + p.len > u->len) {
        s->st.oversize_pkts++;
        fprintf(stderr, "guest_stack: hdr.len %u beyond used len %u\n", p.len, u->len);
    } else {
        on_packet(s, &p, b + GS_HDR);
    }
}

static int reap_rx(gs_stack *s)
{
    int n = 0;
    vsn_sim_used u;
    int rc;
    while ((rc = vsn_sim_queue_reap(s->rxq, &u, NULL, 0)) == 1) {
        n++;
        s->rx_posted--;
        uint32_t i = (uint32_t)u.token;
        take_rx(s, s->rx[i].p, &u);
        if (s->rx_hold) {
            s->rxfree[s->nrxfree++] = i;
        } else if ((rc = post_rx(s, i)) != 0) {
            return rc;
        }
    }
    return rc < 0 ? rc : n;
}

static int reap_slots(vsn_sim_queue *q, uint32_t *freelist, uint32_t *nfree)
{
    int n = 0;
    vsn_sim_used u;
    int rc;
    while ((rc = vsn_sim_queue_reap(q, &u, NULL, 0)) == 1) {
        n++;
        freelist[(*nfree)++] = (uint32_t)u.token;
    }
    return rc < 0 ? rc : n;
}

static int reap_tx(gs_stack *s)
{
    int rc = reap_slots(s->txq, s->txfree, &s->ntxfree);
    if (rc < 0 || !s->five)
        return rc;
    int d = reap_slots(s->dgtxq, s->dgtxfree, &s->ndgtxfree);
    return d < 0 ? d : rc + d;
}

/* The datagram rx queue of the five-queue layout: buffers reposted at once. */
static int reap_dgrx(gs_stack *s)
{
    if (!s->five)
        return 0;
    int n = 0;
    vsn_sim_used u;
    int rc;
    while ((rc = vsn_sim_queue_reap(s->dgrxq, &u, NULL, 0)) == 1) {
        n++;
        uint32_t i = (uint32_t)u.token;
        take_rx(s, s->dgrx[i].p, &u);
        if ((rc = post_writable(s->dgrxq, s->dgrx[i].gpa, s->cfg.rx_buf_size, i, &s->dgrxq_dirty)) != 0)
            return rc;
    }
    return rc < 0 ? rc : n;
}

static int reap_ev(gs_stack *s)
{
    if (s->ev_hold)
        return 0;
    int n = 0;
    vsn_sim_used u;
    int rc;
    while ((rc = vsn_sim_queue_reap(s->evq, &u, NULL, 0)) == 1) {
        n++;
        uint32_t i = (uint32_t)u.token;
        uint32_t id;
        memcpy(&id, s->ev_p[i], 4);
        id = le32toh(id);
        s->st.events++;
        if (s->trace)
            fprintf(stderr, "guest ev id=%u len=%u\n", id, u.len);
        if (u.len >= 4 && id == VSN_VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) {
            s->st.transport_resets++;
            for (uint32_t k = 0; k < s->nconns; k++) {
                gs_conn *c = &s->conns[k];
                if (c->state == GS_CONNECTING || c->state == GS_ESTABLISHED)
                    c->state = GS_RESET;
            }
        }
        if ((rc = post_ev(s, i)) != 0)
            return rc;
    }
    return rc < 0 ? rc : n;
}

/* The device runs on its own thread: with a timeout, re-enable interrupts on every queue (as a
 * driver does before it sleeps) and wait for the call fd unless used entries are already there. */
static int wait_call(gs_stack *s, int timeout_ms)
{
    if (timeout_ms != 0) {
        vsn_sim_queue *qs[] = { s->rxq, s->txq, s->evq, s->dgrxq, s->dgtxq };
        int pending = 0;
        for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
            if (qs[i] != NULL)
                pending |= vsn_sim_queue_enable_interrupts(qs[i]);
        struct pollfd pfd = { .fd = s->call_fd, .events = POLLIN };
        if (!pending && poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
            return -errno;
    }
    uint64_t v;
    while (read(s->call_fd, &v, sizeof v) == sizeof v)
        ;
    return 0;
}

int gs_pump(gs_stack *s, int timeout_ms)
{
    int rc = s->cfg.threaded ? wait_call(s, timeout_ms) : vsn_device_poll(s->dev, timeout_ms);
    if (rc < 0)
        return rc;
    int total = 0;
    if ((rc = reap_tx(s)) < 0)
        return rc;
    total += rc;
    flush_pending(s);
    if ((rc = reap_rx(s)) < 0)
        return rc;
    total += rc;
    if ((rc = reap_dgrx(s)) < 0)
        return rc;
    total += rc;
    if ((rc = reap_ev(s)) < 0)
        return rc;
    total += rc;
    flush_pending(s);
    kick_dirty(s);
    return total;
}

/* ---- rx control -------------------------------------------------------------------------- */

void gs_rx_hold(gs_stack *s, bool hold) { s->rx_hold = hold; }
uint32_t gs_rx_posted(gs_stack *s) { return s->rx_posted; }

uint32_t gs_rx_post(gs_stack *s, uint32_t n)
{
    uint32_t done = 0;
    while (done < n && s->nrxfree > 0) {
        uint32_t i = s->rxfree[--s->nrxfree];
        if (post_rx(s, i) != 0) {
            s->rxfree[s->nrxfree++] = i;
            break;
        }
        done++;
    }
    kick_dirty(s);
    return done;
}

/* ---- datagrams --------------------------------------------------------------------------- */

bool gs_five_queues(gs_stack *s) { return s->five; }

static bool dg_is_bound(gs_stack *s, uint32_t port)
{
    for (uint32_t i = 0; i < s->ndg_bound; i++)
        if (s->dg_bound[i] == port)
            return true;
    return false;
}

int gs_dgram_bind(gs_stack *s, uint32_t guest_port)
{
    if (s->ndg_bound >= MAX_LISTEN)
        return -ENOSPC;
    if (s->dg_part == NULL && (s->dg_part = malloc(GS_DGRAM_MAX)) == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < GS_DGRAM_QUEUE; i++)
        if (s->dgq[i].data == NULL && (s->dgq[i].data = malloc(GS_DGRAM_MAX)) == NULL)
            return -ENOMEM;
    s->dg_bound[s->ndg_bound++] = guest_port;
    return 0;
}

static void dg_hdr(gs_stack *s, struct vsn_virtio_vsock_hdr *h, uint32_t src_port, uint32_t dst_port,
                   uint16_t op, uint32_t len, uint32_t flags)
{
    gs_hdr(s, NULL, h, src_port, dst_port, op, len, flags);
    h->type = htole16(VSN_VIRTIO_VSOCK_TYPE_DGRAM); /* buf_alloc and fwd_cnt stay 0 (reserved) */
}

int gs_dgram_send_raw(gs_stack *s, const struct vsn_virtio_vsock_hdr *h, const void *payload, uint32_t plen)
{
    int rc = dg_chain(s, h, payload, plen);
    kick_dirty(s);
    return rc;
}

int gs_dgram_send(gs_stack *s, uint32_t src_port, uint32_t dst_port, const void *data, uint32_t len,
                  uint32_t frag)
{
    if (frag == 0 || frag > s->cfg.max_pkt)
        frag = s->cfg.max_pkt;
    if (len > GS_DGRAM_MAX)
        return -EMSGSIZE;
    uint32_t nfrag = len == 0 ? 1 : (len + frag - 1) / frag;
    uint32_t room = s->five ? s->ndgtxfree : s->ntxfree;
    if (nfrag > room || (!s->five && s->npend > 0))
        return -EAGAIN; /* all fragments go back to back, or none */
    const uint8_t *d = data;
    for (uint32_t i = 0, off = 0; i < nfrag; i++) {
        uint32_t n = len - off < frag ? len - off : frag;
        struct vsn_virtio_vsock_hdr h;
        dg_hdr(s, &h, src_port, dst_port, VSN_VIRTIO_VSOCK_OP_RW, n,
               i + 1 == nfrag ? VSN_VIRTIO_VSOCK_DGRAM_EOM : 0);
        int rc = dg_chain(s, &h, d + off, n);
        if (rc != 0) {
            fprintf(stderr, "guest_stack: datagram fragment %u/%u not queued (%d)\n", i + 1, nfrag, rc);
            kick_dirty(s);
            return rc;
        }
        s->st.dgram_tx_frags++;
        off += n;
    }
    s->st.dgram_tx++;
    kick_dirty(s);
    return 0;
}

int gs_dgram_recv(gs_stack *s, uint32_t *src_port, uint32_t *dst_port, void *buf, uint32_t cap)
{
    if (s->dgq_n == 0)
        return -EAGAIN;
    struct dgram_slot *d = &s->dgq[s->dgq_head];
    s->dgq_head = (s->dgq_head + 1) % GS_DGRAM_QUEUE;
    s->dgq_n--;
    if (src_port) *src_port = d->src_port;
    if (dst_port) *dst_port = d->dst_port;
    memcpy(buf, d->data, d->len < cap ? d->len : cap);
    return (int)d->len;
}

static void dg_bad(gs_stack *s, const gs_pkt *p, const char *why)
{
    s->st.dgram_bad++;
    fprintf(stderr, "guest_stack: bad datagram packet (%s): ", why);
    gs_print_pkt("", p);
}

/* A whole datagram: kept for gs_dgram_recv(), or answered with a DGRAM RST when nobody is bound. */
static void dg_deliver(gs_stack *s, uint32_t src, uint32_t dst, const uint8_t *data, uint32_t len)
{
    s->st.dgram_rx++;
    s->st.dgram_rx_bytes += len;
    if (!dg_is_bound(s, dst)) {
        s->st.dgram_unbound++;
        struct vsn_virtio_vsock_hdr h;
        dg_hdr(s, &h, dst, src, VSN_VIRTIO_VSOCK_OP_RST, 0, 0);
        if (dg_chain(s, &h, NULL, 0) != 0)
            fprintf(stderr, "guest_stack: no tx slot for a DGRAM RST\n");
        return;
    }
    if (s->dgq_n == GS_DGRAM_QUEUE) {
        s->st.dgram_queue_full++;
        return;
    }
    struct dgram_slot *d = &s->dgq[(s->dgq_head + s->dgq_n++) % GS_DGRAM_QUEUE];
    d->src_port = src;
    d->dst_port = dst;
    d->len = len;
    memcpy(d->data, data, len);
}

static void on_dgram(gs_stack *s, const gs_pkt *p, const uint8_t *payload)
{
    if (p->buf_alloc != 0 || p->fwd_cnt != 0)
        dg_bad(s, p, "buf_alloc/fwd_cnt not 0");
    if (p->op == VSN_VIRTIO_VSOCK_OP_RST) {
        s->st.dgram_rst_rx++;
        s->st.dgram_last_rst_src = p->src_port;
        s->st.dgram_last_rst_dst = p->dst_port;
        return;
    }
    if (p->op != VSN_VIRTIO_VSOCK_OP_RW || (p->flags & ~(uint32_t)VSN_VIRTIO_VSOCK_DGRAM_EOM) != 0) {
        dg_bad(s, p, "op or flags");
        return;
    }
    s->st.dgram_rx_frags++;
    bool eom = (p->flags & VSN_VIRTIO_VSOCK_DGRAM_EOM) != 0;
    if (s->dg_part_active && (p->src_port != s->dg_part_src || p->dst_port != s->dg_part_dst)) {
        dg_bad(s, p, "interleaved with another datagram's fragments");
        s->dg_part_active = false;
    }
    if (!s->dg_part_active) {
        if (eom) { /* whole in one packet */
            dg_deliver(s, p->src_port, p->dst_port, payload, p->len);
            return;
        }
        if (s->dg_part == NULL && (s->dg_part = malloc(GS_DGRAM_MAX)) == NULL)
            return;
        s->dg_part_active = true;
        s->dg_part_bad = false;
        s->dg_part_len = 0;
        s->dg_part_src = p->src_port;
        s->dg_part_dst = p->dst_port;
    }
    if (s->dg_part_len + (uint64_t)p->len > GS_DGRAM_MAX) {
        if (!s->dg_part_bad)
            dg_bad(s, p, "datagram longer than GS_DGRAM_MAX");
        s->dg_part_bad = true;
    } else {
        memcpy(s->dg_part + s->dg_part_len, payload, p->len);
        s->dg_part_len += p->len;
    }
    if (eom) {
        if (!s->dg_part_bad)
            dg_deliver(s, s->dg_part_src, s->dg_part_dst, s->dg_part, s->dg_part_len);
        s->dg_part_active = false;
    }
}
