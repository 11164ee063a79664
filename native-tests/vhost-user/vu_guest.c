/* vu_guest.c: the test guest (see vu_guest.h). */
#include "vu_guest.h"
#include "vsn_sim_bind.h"
#include "vsn_sock.h"
#include "../../src/vhost-user-vsock/vhost_user.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (4u << 20)
#define GPA_BASE 0x40000000ull
#define TX_STRIDE 8192u

int64_t vg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The simulator's notifier: a kick is an eventfd write (to the daemon or the in-process device). */
static int kick_fd(void *user, uint16_t ring)
{
    vg *g = user;
    uint64_t one = 1;
    if (write(g->kick[ring], &one, sizeof one) != sizeof one) {
        perror("vu_guest: kick");
        return -errno;
    }
    return 0;
}

/* Every chain is published with a kick, as this guest always did (no notification suppression). */
static void kick(vg *g, unsigned ring)
{
    vsn_sim_queue_kick_prepare(g->q[ring]); /* counts and resets the batch; the decision is not used */
    vsn_sim_queue_notify(g->q[ring]);
}

static int post_rx(vg *g, uint16_t i)
{
    vsn_sim_buf b = { .gpa = g->rx_gpa[i], .len = VG_RX_BUF, .writable = true };
    uint16_t head;
    return vsn_sim_queue_add_bufs(g->q[VG_RX], &b, 1, 0, i, &head);
}

int vg_init(vg *g, uint64_t cid)
{
    memset(g, 0, sizeof *g);
    g->cid = cid;
    g->sock = -1;
    g->next_port = 40000;
    g->kick[0] = g->kick[1] = g->call[0] = g->call[1] = -1;
    vsn_sim_region_spec spec = { .gpa = GPA_BASE, .size = MEM_SIZE };
    vsn_sim_mem_config mc = { .struct_size = sizeof mc, .nregions = 1, .regions = &spec,
                              .flags = VSN_SIM_MEM_F_MEMFD, .memfd_name = "vu_guest" };
    int rc = vsn_sim_mem_create(&mc, &g->mem);
    for (unsigned i = 0; rc == 0 && i < 2; i++) {
        g->kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        g->call[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (g->kick[i] < 0 || g->call[i] < 0)
            return -errno;
        vsn_sim_queue_config qc = { .struct_size = sizeof qc, .queue_size = VG_QSIZE, .queue_index = (uint16_t)i,
                                    .notify = kick_fd, .notify_user = g };
        rc = vsn_sim_queue_create(g->mem, &qc, &g->q[i]);
    }
    for (uint16_t i = 0; rc == 0 && i < VG_QSIZE; i++) {
        rc = vsn_sim_mem_alloc(g->mem, VG_RX_BUF, 64, &g->rx_gpa[i]);
        if (rc == 0)
            rc = vsn_sim_mem_alloc(g->mem, TX_STRIDE, 64, &g->tx_gpa[i]);
        if (rc == 0)
            rc = post_rx(g, i);
        g->tx_free[g->tx_nfree++] = i;
    }
    if (rc != 0) {
        fprintf(stderr, "vu_guest: guest memory and rings: %s\n", vsn_sim_strerror(rc));
        return rc < -4095 ? -ENOMEM : rc;
    }
    return 0;
}

void vg_destroy(vg *g)
{
    vg_vu_disconnect(g);
    for (int i = 0; i < 2; i++) {
        vsn_sim_queue_destroy(&g->q[i]);
        if (g->kick[i] >= 0) close(g->kick[i]);
        if (g->call[i] >= 0) close(g->call[i]);
    }
    vsn_sim_mem_destroy(&g->mem);
    memset(g, 0, sizeof *g);
    g->sock = g->kick[0] = g->kick[1] = g->call[0] = g->call[1] = -1;
}

uint16_t vg_avail_idx(const vg *g, unsigned ring)
{
    vsn_sim_queue_layout lay;
    vsn_sim_queue_layout_get(g->q[ring], &lay);
    return le16toh(__atomic_load_n(&lay.avail->idx, __ATOMIC_ACQUIRE));
}

uint16_t vg_used_idx(const vg *g, unsigned ring)
{
    vsn_sim_queue_layout lay;
    vsn_sim_queue_layout_get(g->q[ring], &lay);
    return le16toh(__atomic_load_n(&lay.used->idx, __ATOMIC_ACQUIRE));
}

bool vg_tx_idle(const vg *g)
{
    vsn_sim_queue_stats st;
    vsn_sim_queue_stats_get(g->q[VG_TX], &st);
    return st.in_flight == 0;
}

/* ---- vhost-user ---- */

int vg_vu_send(int sock, uint32_t request, uint32_t flags, const void *payload, uint32_t size, const int *fds, unsigned nfds)
{
    vu_header h = { request, flags, size };
    struct iovec iov[2] = { { &h, sizeof h }, { (void *)payload, size } };
    union {
        char buf[CMSG_SPACE(16 * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
    if (nfds > 0) {
        mh.msg_control = control.buf;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    return n == (ssize_t)(sizeof h + size) ? 0 : -EPIPE;
}

static int read_timed(int sock, void *buf, size_t len, int timeout_ms)
{
    size_t done = 0;
    while (done < len) {
        struct pollfd p = { sock, POLLIN, 0 };
        int rc = poll(&p, 1, timeout_ms);
        if (rc == 0) return -ETIMEDOUT;
        ssize_t n = recv(sock, (char *)buf + done, len - done, 0);
        if (n == 0) return -EPIPE;
        if (n < 0) return errno == EINTR ? 0 : -EPIPE;
        done += (size_t)n;
    }
    return 0;
}

int vg_vu_reply(int sock, uint32_t request, void *payload, uint32_t cap, int timeout_ms)
{
    vu_header h;
    int rc = read_timed(sock, &h, sizeof h, timeout_ms);
    if (rc < 0) return rc;
    if (h.request != request || h.flags != (VU_VERSION | VU_FLAG_REPLY) || h.size > cap) return -EPROTO;
    if (h.size > 0 && (rc = read_timed(sock, payload, h.size, timeout_ms)) < 0) return rc;
    return (int)h.size;
}

int64_t vg_vu_acked(int sock, uint32_t request, const void *payload, uint32_t size, const int *fds, unsigned nfds)
{
    if (vg_vu_send(sock, request, VU_VERSION | VU_FLAG_NEED_REPLY, payload, size, fds, nfds) < 0) return -EPIPE;
    uint64_t status;
    int rc = vg_vu_reply(sock, request, &status, sizeof status, 5000);
    if (rc < 0) return rc;
    return rc == 8 ? (int64_t)status : -EPROTO;
}

bool vg_vu_closed(int sock, int timeout_ms)
{
    char buf[256];
    int64_t deadline = vg_now_ms() + timeout_ms;
    while (vg_now_ms() < deadline) {
        struct pollfd p = { sock, POLLIN, 0 };
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t n = recv(sock, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN)) return true;
    }
    return false;
}

int vg_vu_connect(vg *g, const char *path, int timeout_ms)
{
    int64_t deadline = vg_now_ms() + timeout_ms;
    while (1) {
        int fd = vt_unix_connect_as(path, 0); /* a blocking socket: the messages are short */
        if (fd >= 0) {
            g->sock = fd;
            return 0;
        }
        if (fd == -ENAMETOOLONG || vg_now_ms() > deadline) return fd;
        usleep(20000);
    }
}

void vg_vu_disconnect(vg *g)
{
    if (g->sock >= 0) close(g->sock);
    g->sock = -1;
}

#define CHECK(cond, ...)                                                                                   \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            fprintf(stderr, "vu_guest: setup: " __VA_ARGS__);                                              \
            fprintf(stderr, "\n");                                                                         \
            return -EPROTO;                                                                                \
        }                                                                                                  \
    } while (0)

static int64_t ring_msg(int sock, uint32_t request, uint32_t index, uint32_t num)
{
    vu_vring_state s = { index, num };
    return vg_vu_acked(sock, request, &s, sizeof s, NULL, 0);
}

int vg_vu_setup(vg *g)
{
    int s = g->sock;
    uint64_t features = 0, protocol = 0;
    CHECK(vg_vu_send(s, VU_GET_FEATURES, VU_VERSION, NULL, 0, NULL, 0) == 0, "send");
    CHECK(vg_vu_reply(s, VU_GET_FEATURES, &features, 8, 5000) == 8, "GET_FEATURES reply");
    CHECK(features & (1ull << VU_F_PROTOCOL_FEATURES), "no PROTOCOL_FEATURES in 0x%llx", (unsigned long long)features);
    CHECK(features & (1ull << VSN_VIRTIO_F_VERSION_1), "no VERSION_1");
    CHECK(vg_vu_send(s, VU_GET_PROTOCOL_FEATURES, VU_VERSION, NULL, 0, NULL, 0) == 0, "send");
    CHECK(vg_vu_reply(s, VU_GET_PROTOCOL_FEATURES, &protocol, 8, 5000) == 8, "GET_PROTOCOL_FEATURES reply");
    uint64_t want = (1ull << VU_PROTOCOL_F_REPLY_ACK) | (1ull << VU_PROTOCOL_F_CONFIG)
                    | (g->device_state ? 1ull << VU_PROTOCOL_F_DEVICE_STATE : 0);
    CHECK((protocol & want) == want, "protocol features 0x%llx lack REPLY_ACK|CONFIG", (unsigned long long)protocol);
    CHECK(vg_vu_send(s, VU_SET_PROTOCOL_FEATURES, VU_VERSION, &want, 8, NULL, 0) == 0, "send");
    CHECK(vg_vu_acked(s, VU_SET_OWNER, NULL, 0, NULL, 0) == 0, "SET_OWNER");
    vu_config cfg = { .offset = 0, .size = 8 };
    CHECK(vg_vu_send(s, VU_GET_CONFIG, VU_VERSION, &cfg, VU_CONFIG_HDR + 8, NULL, 0) == 0, "send");
    CHECK(vg_vu_reply(s, VU_GET_CONFIG, &cfg, sizeof cfg, 5000) == VU_CONFIG_HDR + 8, "GET_CONFIG reply");
    uint64_t cid;
    memcpy(&cid, cfg.region, 8);
    CHECK(le64toh(cid) == g->cid, "config guest_cid %llu, expected %llu", (unsigned long long)le64toh(cid), (unsigned long long)g->cid);
    uint64_t accept = (1ull << VSN_VIRTIO_F_VERSION_1) | (1ull << VU_F_PROTOCOL_FEATURES) | (1ull << VSN_VIRTIO_VSOCK_F_STREAM);
    if (g->seqpacket) {
        CHECK(features & (1ull << VSN_VIRTIO_VSOCK_F_SEQPACKET), "no VIRTIO_VSOCK_F_SEQPACKET in 0x%llx", (unsigned long long)features);
        accept |= 1ull << VSN_VIRTIO_VSOCK_F_SEQPACKET;
    }
    CHECK(vg_vu_acked(s, VU_SET_FEATURES, &accept, 8, NULL, 0) == 0, "SET_FEATURES");
    /* The simulator's regions, each with its memfd (one here). */
    uint32_t nreg = 0;
    const vsn_sim_region *reg = vsn_sim_mem_regions(g->mem, &nreg);
    struct { uint32_t n, pad; vu_mem_region r[VU_MAX_REGIONS]; } mem = { nreg, 0, { { 0 } } };
    int fds[VU_MAX_REGIONS];
    CHECK(nreg <= VU_MAX_REGIONS, "%u regions", nreg);
    for (uint32_t i = 0; i < nreg; i++) {
        uint64_t off;
        CHECK(vsn_sim_mem_region_fd(g->mem, i, &fds[i], &off) == 0, "region %u has no memfd", i);
        mem.r[i] = (vu_mem_region){ reg[i].gpa, reg[i].size, (uint64_t)(uintptr_t)reg[i].hva, off };
    }
    CHECK(vg_vu_acked(s, VU_SET_MEM_TABLE, &mem, 8 + nreg * (uint32_t)sizeof(vu_mem_region), fds, nreg) == 0, "SET_MEM_TABLE");
    for (uint32_t i = 0; i < 2; i++) {
        vsn_sim_queue_layout lay;
        vsn_sim_queue_layout_get(g->q[i], &lay);
        CHECK(ring_msg(s, VU_SET_VRING_NUM, i, lay.queue_size) == 0, "SET_VRING_NUM %u", i);
        uint32_t base = g->use_bases ? g->bases[i] : vsn_sim_queue_next_used(g->q[i]);
        CHECK(ring_msg(s, VU_SET_VRING_BASE, i, base) == 0, "SET_VRING_BASE %u", i);
        vu_vring_addr a = { i, 0, (uint64_t)(uintptr_t)lay.desc, (uint64_t)(uintptr_t)lay.used, (uint64_t)(uintptr_t)lay.avail, 0 };
        CHECK(vg_vu_acked(s, VU_SET_VRING_ADDR, &a, sizeof a, NULL, 0) == 0, "SET_VRING_ADDR %u", i);
    }
    if (g->load_state != NULL)
        g->load_check = vg_vu_load_state(s, g->load_state, g->load_len);
    for (uint32_t i = 0; i < 2; i++) {
        uint64_t idx = i;
        CHECK(vg_vu_acked(s, VU_SET_VRING_CALL, &idx, 8, &g->call[i], 1) == 0, "SET_VRING_CALL %u", i);
        CHECK(vg_vu_acked(s, VU_SET_VRING_KICK, &idx, 8, &g->kick[i], 1) == 0, "SET_VRING_KICK %u", i);
    }
    for (uint32_t i = 0; i < 2; i++) CHECK(ring_msg(s, VU_SET_VRING_ENABLE, i, 1) == 0, "SET_VRING_ENABLE %u", i);
    kick(g, VG_RX);
    kick(g, VG_TX);
    return 0;
}

/* ---- device state ---- */

/* SET_DEVICE_STATE_FD with one end of a pipe; the reply must say success and "no fd returned". */
static int state_fd_msg(int sock, uint32_t direction, int fd)
{
    vu_device_state_params p = { direction, VU_STATE_PHASE_STOPPED };
    uint64_t r = ~0ull;
    if (vg_vu_send(sock, VU_SET_DEVICE_STATE_FD, VU_VERSION, &p, sizeof p, &fd, 1) != 0
        || vg_vu_reply(sock, VU_SET_DEVICE_STATE_FD, &r, 8, 5000) != 8)
        return -EPROTO;
    if (r != VU_STATE_NOFD) fprintf(stderr, "vu_guest: SET_DEVICE_STATE_FD answered 0x%llx\n", (unsigned long long)r);
    return r == VU_STATE_NOFD ? 0 : (int)(r & 0xff ? r & 0xff : 0xff);
}

static int64_t check_state(int sock)
{
    uint64_t r = 0;
    if (vg_vu_send(sock, VU_CHECK_DEVICE_STATE, VU_VERSION, NULL, 0, NULL, 0) != 0
        || vg_vu_reply(sock, VU_CHECK_DEVICE_STATE, &r, 8, 10000) != 8)
        return -EPROTO;
    return (int64_t)r;
}

long vg_vu_save_state(vg *g, uint8_t *buf, size_t cap)
{
    for (uint32_t i = 0; i < 2; i++) {
        vu_vring_state st = { i, 0 };
        CHECK(vg_vu_send(g->sock, VU_GET_VRING_BASE, VU_VERSION, &st, sizeof st, NULL, 0) == 0, "send");
        CHECK(vg_vu_reply(g->sock, VU_GET_VRING_BASE, &st, sizeof st, 5000) == 8, "GET_VRING_BASE %u reply", i);
        g->bases[i] = (uint16_t)st.num;
    }
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    int rc = state_fd_msg(g->sock, VU_STATE_SAVE, p[1]);
    close(p[1]);
    size_t len = 0;
    while (rc == 0) {
        struct pollfd pf = { .fd = p[0], .events = POLLIN };
        if (poll(&pf, 1, 5000) != 1) {
            rc = -ETIMEDOUT;
            break;
        }
        ssize_t n = read(p[0], buf + len, cap - len);
        if (n == 0) break;
        if (n < 0 || (len += (size_t)n) == cap) rc = -EMSGSIZE;
    }
    close(p[0]);
    int64_t check = check_state(g->sock);
    if (rc == 0 && check != 0) rc = -EPROTO;
    return rc != 0 ? rc : (long)len;
}

int64_t vg_vu_load_state(int sock, const void *state, size_t len)
{
    int p[2];
    if (pipe(p) != 0) return -errno;
    int rc = state_fd_msg(sock, VU_STATE_LOAD, p[0]);
    close(p[0]);
    if (rc == 0 && write(p[1], state, len) != (ssize_t)len) rc = -EIO; /* small: fits the pipe */
    close(p[1]);
    return rc != 0 ? rc : check_state(sock);
}

/* ---- in-process device ---- */

int vg_attach_device(vg *g, vsn_device *dev)
{
    g->dev = dev;
    vsn_mem_region regions[VSN_SIM_MAX_REGIONS];
    uint32_t n = vsn_sim_bind_regions(g->mem, regions, VSN_SIM_MAX_REGIONS);
    int rc = vsn_device_set_mem_table(dev, regions, n);
    if (rc == 0) rc = vsn_device_set_features(dev, 1ull << VSN_VIRTIO_F_VERSION_1);
    for (uint32_t i = 0; rc == 0 && i < 2; i++) {
        vsn_queue_config q = vsn_sim_bind_queue(g->q[i], g->kick[i], g->call[i]);
        rc = vsn_queue_setup(dev, i, &q);
    }
    if (rc == 0) rc = vsn_device_start(dev);
    return rc;
}

/* ---- packets ---- */

static void hdr_fill(vg *g, struct vsn_virtio_vsock_hdr *h, uint64_t dst_cid, uint32_t src_port, uint32_t dst_port,
                     uint16_t op, uint32_t flags, uint32_t len, const vg_conn *c)
{
    vsn_sim_bind_hdr(h, g->cid, dst_cid, src_port, dst_port, c && c->type ? c->type : VSN_VIRTIO_VSOCK_TYPE_STREAM, op, len, flags, VG_BUF_ALLOC,
                     c ? c->fwd_cnt : 0);
}

/* A device bug the simulator caught while reaping (a used entry naming no chain in flight, a
 * length beyond the buffer): printed, as this guest always did. */
static void bad_used(vg *g, const char *ring, int rc)
{
    fprintf(stderr, "vu_guest: cid %llu: bad used entry on %s: %s\n", (unsigned long long)g->cid, ring, vsn_sim_strerror(rc));
}

static void reap_tx(vg *g)
{
    vsn_sim_used u;
    int rc;
    while ((rc = vsn_sim_queue_reap(g->q[VG_TX], &u, NULL, 0)) != 0) {
        if (rc < 0 && rc != VSN_SIM_E_USED_LEN) {
            bad_used(g, "tx", rc);
            return;
        }
        if (rc < 0) bad_used(g, "tx", rc);
        if (u.token < VG_QSIZE && g->tx_nfree < VG_QSIZE) g->tx_free[g->tx_nfree++] = (uint16_t)u.token;
    }
}

/* Queues one packet on tx; waits (reaping) for a free slot up to 10 s. */
static int tx_packet(vg *g, const struct vsn_virtio_vsock_hdr *h, const void *payload, uint32_t len)
{
    int64_t deadline = vg_now_ms() + 10000;
    while (g->tx_nfree == 0) {
        reap_tx(g);
        if (g->tx_nfree > 0) break;
        if (vg_now_ms() > deadline) {
            fprintf(stderr, "vu_guest: cid %llu: tx ring full for 10 s\n", (unsigned long long)g->cid);
            return -ETIMEDOUT;
        }
        vsn_sim_queue_notify(g->q[VG_TX]);
        usleep(1000);
    }
    uint16_t slot = g->tx_free[--g->tx_nfree];
    vsn_sim_mem_write(g->mem, g->tx_gpa[slot], h, sizeof *h);
    if (len) vsn_sim_mem_write(g->mem, g->tx_gpa[slot] + sizeof *h, payload, len);
    vsn_sim_buf b = { .gpa = g->tx_gpa[slot], .len = (uint32_t)sizeof *h + len, .writable = false };
    uint16_t head;
    int rc = vsn_sim_queue_add_bufs(g->q[VG_TX], &b, 1, 0, slot, &head);
    if (rc != 0) {
        fprintf(stderr, "vu_guest: cid %llu: tx chain: %s\n", (unsigned long long)g->cid, vsn_sim_strerror(rc));
        g->tx_free[g->tx_nfree++] = slot;
        return -EIO;
    }
    kick(g, VG_TX);
    g->tx_packets++;
    return 0;
}

int vg_send_raw(vg *g, uint64_t dst_cid, uint32_t src_port, uint32_t dst_port, uint16_t op, uint32_t flags,
                const void *payload, uint32_t len)
{
    struct vsn_virtio_vsock_hdr h;
    hdr_fill(g, &h, dst_cid, src_port, dst_port, op, flags, len, NULL);
    return tx_packet(g, &h, payload, len);
}

static int ctl(vg *g, vg_conn *c, uint16_t op)
{
    struct vsn_virtio_vsock_hdr h;
    hdr_fill(g, &h, c->peer_cid, c->local_port, c->peer_port, op, 0, 0, c);
    if (op == VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE || op == VSN_VIRTIO_VSOCK_OP_RESPONSE) c->last_fwd_sent = c->fwd_cnt;
    return tx_packet(g, &h, NULL, 0);
}

static vg_conn *find(vg *g, uint64_t peer_cid, uint32_t peer_port, uint32_t local_port)
{
    for (unsigned i = 0; i < VG_MAX_CONNS; i++) {
        vg_conn *c = &g->conns[i];
        if (c->state != VG_FREE && c->peer_cid == peer_cid && c->peer_port == peer_port && c->local_port == local_port
            && (c->state == VG_CONNECTING || c->state == VG_ESTABLISHED))
            return c;
    }
    return NULL;
}

static vg_conn *new_conn(vg *g)
{
    for (unsigned i = 0; i < VG_MAX_CONNS; i++)
        if (g->conns[i].state == VG_FREE) {
            memset(&g->conns[i], 0, sizeof g->conns[i]);
            return &g->conns[i];
        }
    return NULL;
}

static bool listens(vg *g, uint32_t port, unsigned *slot)
{
    for (unsigned i = 0; i < g->nlistening; i++)
        if (g->listening[i] == port) return *slot = i, true;
    return false;
}

static void on_packet(vg *g, const uint8_t *buf, uint32_t used_len)
{
    struct vsn_virtio_vsock_hdr h;
    if (used_len < sizeof h) return;
    memcpy(&h, buf, sizeof h);
    uint64_t src = le64toh(h.src_cid);
    uint32_t sport = le32toh(h.src_port), dport = le32toh(h.dst_port), len = le32toh(h.len);
    uint16_t op = le16toh(h.op);
    g->rx_packets++;
    if (len > used_len - sizeof h) len = used_len - (uint32_t)sizeof h;
    vg_conn *c = find(g, src, sport, dport);
    if (c == NULL) {
        unsigned slot = 0;
        if (op == VSN_VIRTIO_VSOCK_OP_REQUEST && listens(g, dport, &slot) && (c = new_conn(g)) != NULL) {
            *c = (vg_conn){ .state = VG_ESTABLISHED, .peer_cid = src, .local_port = dport, .peer_port = sport, .incoming = true,
                            .peer_buf_alloc = le32toh(h.buf_alloc), .peer_fwd_cnt = le32toh(h.fwd_cnt), .type = le16toh(h.type),
                            .seed_in = g->listen_seed_in[slot], .seed_out = g->listen_seed_out[slot] };
            if (c->type == VSN_VIRTIO_VSOCK_TYPE_SEQPACKET) c->on_data = g->seq_on_data, c->user = g->seq_user;
            ctl(g, c, VSN_VIRTIO_VSOCK_OP_RESPONSE);
            return;
        }
        g->unknown_packets++;
        if (op != VSN_VIRTIO_VSOCK_OP_RST) vg_send_raw(g, src, dport, sport, VSN_VIRTIO_VSOCK_OP_RST, 0, NULL, 0);
        return;
    }
    c->peer_buf_alloc = le32toh(h.buf_alloc);
    c->peer_fwd_cnt = le32toh(h.fwd_cnt);
    c->credit_asked = false;
    switch (op) {
    case VSN_VIRTIO_VSOCK_OP_RESPONSE:
        if (c->state == VG_CONNECTING) c->state = VG_ESTABLISHED;
        break;
    case VSN_VIRTIO_VSOCK_OP_RST:
        g->rsts_received++;
        c->state = c->state == VG_CONNECTING ? VG_REFUSED : VG_RESET;
        break;
    case VSN_VIRTIO_VSOCK_OP_CREDIT_REQUEST: ctl(g, c, VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE); break;
    case VSN_VIRTIO_VSOCK_OP_SHUTDOWN: c->peer_shut |= le32toh(h.flags); break;
    case VSN_VIRTIO_VSOCK_OP_RW: {
        if (len > VG_BUF_ALLOC - (c->fwd_cnt - c->last_fwd_sent)) c->credit_violations++;
        const uint8_t *p = buf + sizeof h;
        if (c->on_data != NULL) c->on_data(c, p, len, le32toh(h.flags));
        else
            for (uint32_t i = 0; i < len; i++)
                if (p[i] != vg_pattern(c->seed_in, c->received + i)) c->bad_bytes++;
        c->received += len;
        c->fwd_cnt += len;  /* consumed at once */
        if (c->fwd_cnt - c->last_fwd_sent >= VG_BUF_ALLOC / 4) ctl(g, c, VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE);
        break;
    }
    default: break;
    }
}

int vg_pump(vg *g)
{
    int handled = 0;
    uint64_t v;
    if (read(g->call[VG_RX], &v, sizeof v) < 0 && errno != EAGAIN) perror("vu_guest: call");
    if (read(g->call[VG_TX], &v, sizeof v) < 0 && errno != EAGAIN) perror("vu_guest: call");
    reap_tx(g);
    bool reposted = false;
    uint8_t buf[VG_RX_BUF];
    vsn_sim_used u;
    int rc;
    while ((rc = vsn_sim_queue_reap(g->q[VG_RX], &u, buf, sizeof buf)) != 0) {
        if (rc < 0) {
            bad_used(g, "rx", rc);
            if (rc != VSN_SIM_E_USED_LEN) break; /* the queue is broken */
            post_rx(g, (uint16_t)u.token);
            reposted = true;
            continue;
        }
        on_packet(g, buf, u.copied);
        post_rx(g, (uint16_t)u.token);
        reposted = true;
        handled++;
    }
    if (reposted) kick(g, VG_RX);
    return handled;
}

void vg_wait(vg *g, int timeout_ms)
{
    struct pollfd p[2] = { { g->call[VG_RX], POLLIN, 0 }, { g->call[VG_TX], POLLIN, 0 } };
    poll(p, 2, timeout_ms);
}

int vg_listen(vg *g, uint32_t port) { return vg_listen_seeded(g, port, 0, 0); }

int vg_listen_seeded(vg *g, uint32_t port, uint8_t seed_in, uint8_t seed_out)
{
    if (g->nlistening == 8) return -ENOSPC;
    g->listen_seed_in[g->nlistening] = seed_in;
    g->listen_seed_out[g->nlistening] = seed_out;
    g->listening[g->nlistening++] = port;
    return 0;
}

vg_conn *vg_connect(vg *g, uint64_t cid, uint32_t port, uint8_t seed)
{
    return vg_connect_type(g, cid, port, seed, VSN_VIRTIO_VSOCK_TYPE_STREAM);
}

vg_conn *vg_connect_type(vg *g, uint64_t cid, uint32_t port, uint8_t seed, uint16_t type)
{
    vg_conn *c = new_conn(g);
    if (c == NULL) return NULL;
    *c = (vg_conn){ .state = VG_CONNECTING, .peer_cid = cid, .local_port = g->next_port++, .peer_port = port, .seed_out = seed,
                    .seed_in = (uint8_t)(seed + 1), .type = type };
    if (ctl(g, c, VSN_VIRTIO_VSOCK_OP_REQUEST) < 0) return NULL;
    return c;
}

vg_conn *vg_accept(vg *g, uint32_t port)
{
    for (unsigned i = 0; i < VG_MAX_CONNS; i++) {
        vg_conn *c = &g->conns[i];
        if (c->state == VG_ESTABLISHED && c->incoming && c->local_port == port) {
            c->incoming = false;
            return c;
        }
    }
    return NULL;
}

size_t vg_send(vg *g, vg_conn *c, size_t len)
{
    uint8_t payload[VG_MAX_PAYLOAD];
    size_t done = 0;
    while (done < len && c->state == VG_ESTABLISHED) {
        uint32_t credit = c->peer_buf_alloc - (c->tx_cnt - c->peer_fwd_cnt);
        if (c->tx_cnt - c->peer_fwd_cnt > c->peer_buf_alloc) credit = 0;
        size_t n = len - done;
        if (n > credit) n = credit;
        if (n > VG_MAX_PAYLOAD) n = VG_MAX_PAYLOAD;
        if (n == 0) break;
        for (size_t i = 0; i < n; i++) payload[i] = vg_pattern(c->seed_out, c->sent + i);
        struct vsn_virtio_vsock_hdr h;
        hdr_fill(g, &h, c->peer_cid, c->local_port, c->peer_port, VSN_VIRTIO_VSOCK_OP_RW, 0, (uint32_t)n, c);
        c->last_fwd_sent = c->fwd_cnt;
        if (tx_packet(g, &h, payload, (uint32_t)n) < 0) break;
        c->tx_cnt += (uint32_t)n;
        c->sent += n;
        done += n;
    }
    return done;
}

int vg_send_msg(vg *g, vg_conn *c, const uint8_t *data, uint32_t len, bool eor)
{
    if (c->state != VG_ESTABLISHED) return -ENOTCONN;
    uint32_t credit = c->peer_buf_alloc - (c->tx_cnt - c->peer_fwd_cnt);
    if (c->tx_cnt - c->peer_fwd_cnt > c->peer_buf_alloc) credit = 0;
    if (len > credit) {
        /* A whole message waits for credit: the device sends an unsolicited update only when its
         * free space ran low (as Linux does), not whenever more than the last figure is free, so
         * ask once (Linux's guest would send the message in pieces instead). */
        if (!c->credit_asked && ctl(g, c, VSN_VIRTIO_VSOCK_OP_CREDIT_REQUEST) == 0) c->credit_asked = true;
        return 0;
    }
    uint32_t done = 0;
    do {
        uint32_t n = len - done > VG_MAX_PAYLOAD ? VG_MAX_PAYLOAD : len - done;
        uint32_t flags = done + n == len ? VSN_VIRTIO_VSOCK_SEQ_EOM | (eor ? VSN_VIRTIO_VSOCK_SEQ_EOR : 0) : 0;
        struct vsn_virtio_vsock_hdr h;
        hdr_fill(g, &h, c->peer_cid, c->local_port, c->peer_port, VSN_VIRTIO_VSOCK_OP_RW, flags, n, c);
        c->last_fwd_sent = c->fwd_cnt;
        int rc = tx_packet(g, &h, data + done, n);
        if (rc < 0) return rc;
        c->tx_cnt += n;
        c->sent += n;
        done += n;
    } while (done < len);
    return 1;
}

int vg_shutdown(vg *g, vg_conn *c, uint32_t flags)
{
    struct vsn_virtio_vsock_hdr h;
    hdr_fill(g, &h, c->peer_cid, c->local_port, c->peer_port, VSN_VIRTIO_VSOCK_OP_SHUTDOWN, flags, 0, c);
    return tx_packet(g, &h, NULL, 0);
}

int vg_rst(vg *g, vg_conn *c)
{
    int rc = ctl(g, c, VSN_VIRTIO_VSOCK_OP_RST);
    c->state = VG_RESET;
    return rc;
}

void vg_release(vg_conn *c) { c->state = VG_FREE; }
