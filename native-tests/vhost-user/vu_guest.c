/* vu_guest.c: the test guest (see vu_guest.h). */
#include "vu_guest.h"
#include "../../src/vhost-user-vsock/vhost_user.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct vring_desc_le {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
#define DESC_F_WRITE 2u

#define MEM_SIZE (4u << 20)
#define GPA_BASE 0x40000000ull
#define RX_RING_OFF 0u
#define TX_RING_OFF (16u << 10)
#define RX_BUFS_OFF (64u << 10)
#define TX_BUFS_OFF (2u << 20)
#define TX_STRIDE 8192u

int64_t vg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ring_layout(vg *g, vg_ring *r, uint32_t off)
{
    r->num = VG_QSIZE;
    r->desc_gpa = g->gpa_base + off;
    r->avail_gpa = r->desc_gpa + 16u * VG_QSIZE;
    r->used_gpa = (r->avail_gpa + 6u + 2u * VG_QSIZE + 3u) & ~3ull;
    uint8_t *base = g->mem + off;
    r->desc = (struct vring_desc_le *)base;
    uint8_t *avail = g->mem + (r->avail_gpa - g->gpa_base);
    r->avail_flags = (volatile uint16_t *)avail;
    r->avail_idx = (volatile uint16_t *)(avail + 2);
    r->avail_ring = (volatile uint16_t *)(avail + 4);
    uint8_t *used = g->mem + (r->used_gpa - g->gpa_base);
    r->used_idx = (volatile uint16_t *)(used + 2);
    r->used_ring = (volatile uint32_t *)(used + 4);
    r->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

static void publish(vg_ring *r, uint16_t id)
{
    r->avail_ring[r->next_avail % r->num] = htole16(id);
    r->next_avail++;
    __atomic_store_n(r->avail_idx, htole16(r->next_avail), __ATOMIC_RELEASE);
}

static void kick(vg_ring *r)
{
    uint64_t one = 1;
    if (write(r->kick, &one, sizeof one) != sizeof one) perror("vu_guest: kick");
}

static void post_rx(vg *g, uint16_t id)
{
    g->rx.desc[id] = (struct vring_desc_le){ htole64(g->gpa_base + RX_BUFS_OFF + (uint64_t)id * VG_RX_BUF), htole32(VG_RX_BUF),
                                             htole16(DESC_F_WRITE), 0 };
    publish(&g->rx, id);
}

int vg_init(vg *g, uint64_t cid)
{
    memset(g, 0, sizeof *g);
    g->cid = cid;
    g->sock = -1;
    g->next_port = 40000;
    g->memfd = memfd_create("vu_guest", MFD_CLOEXEC);
    if (g->memfd < 0 || ftruncate(g->memfd, MEM_SIZE) < 0) return -errno;
    g->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g->memfd, 0);
    if (g->mem == MAP_FAILED) return -errno;
    g->mem_size = MEM_SIZE;
    g->gpa_base = GPA_BASE;
    ring_layout(g, &g->rx, RX_RING_OFF);
    ring_layout(g, &g->tx, TX_RING_OFF);
    for (uint16_t i = 0; i < VG_QSIZE; i++) {
        post_rx(g, i);
        g->tx_free[g->tx_nfree++] = i;
    }
    return 0;
}

void vg_destroy(vg *g)
{
    vg_vu_disconnect(g);
    vg_ring *rings[2] = { &g->rx, &g->tx };
    for (int i = 0; i < 2; i++) {
        if (rings[i]->kick > 0) close(rings[i]->kick);
        if (rings[i]->call > 0) close(rings[i]->call);
    }
    if (g->mem != NULL && g->mem != MAP_FAILED) munmap(g->mem, MEM_SIZE);
    if (g->memfd >= 0) close(g->memfd);
    memset(g, 0, sizeof *g);
    g->memfd = g->sock = -1;
}

uint16_t vg_avail_idx(const vg *g, unsigned ring) { return ring == 0 ? g->rx.next_avail : g->tx.next_avail; }

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
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int64_t deadline = vg_now_ms() + timeout_ms;
    while (1) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            g->sock = fd;
            return 0;
        }
        int err = errno;
        close(fd);
        if (vg_now_ms() > deadline) return -err;
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
    uint64_t want = (1ull << VU_PROTOCOL_F_REPLY_ACK) | (1ull << VU_PROTOCOL_F_CONFIG);
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
    CHECK(vg_vu_acked(s, VU_SET_FEATURES, &accept, 8, NULL, 0) == 0, "SET_FEATURES");
    struct { uint32_t n, pad; vu_mem_region r; } mem = { 1, 0, { g->gpa_base, g->mem_size, (uint64_t)(uintptr_t)g->mem, 0 } };
    CHECK(vg_vu_acked(s, VU_SET_MEM_TABLE, &mem, sizeof mem, &g->memfd, 1) == 0, "SET_MEM_TABLE");
    vg_ring *rings[2] = { &g->rx, &g->tx };
    for (uint32_t i = 0; i < 2; i++) {
        vg_ring *r = rings[i];
        CHECK(ring_msg(s, VU_SET_VRING_NUM, i, r->num) == 0, "SET_VRING_NUM %u", i);
        CHECK(ring_msg(s, VU_SET_VRING_BASE, i, r->last_used) == 0, "SET_VRING_BASE %u", i);
        vu_vring_addr a = { i, 0, (uint64_t)(uintptr_t)r->desc, (uint64_t)(uintptr_t)(g->mem + (r->used_gpa - g->gpa_base)),
                            (uint64_t)(uintptr_t)(g->mem + (r->avail_gpa - g->gpa_base)), 0 };
        CHECK(vg_vu_acked(s, VU_SET_VRING_ADDR, &a, sizeof a, NULL, 0) == 0, "SET_VRING_ADDR %u", i);
        uint64_t idx = i;
        CHECK(vg_vu_acked(s, VU_SET_VRING_CALL, &idx, 8, &r->call, 1) == 0, "SET_VRING_CALL %u", i);
        CHECK(vg_vu_acked(s, VU_SET_VRING_KICK, &idx, 8, &r->kick, 1) == 0, "SET_VRING_KICK %u", i);
    }
    for (uint32_t i = 0; i < 2; i++) CHECK(ring_msg(s, VU_SET_VRING_ENABLE, i, 1) == 0, "SET_VRING_ENABLE %u", i);
    kick(&g->rx);
    kick(&g->tx);
    return 0;
}

/* ---- in-process device ---- */

int vg_attach_device(vg *g, vsn_device *dev)
{
    g->dev = dev;
    vsn_mem_region region = { g->gpa_base, g->mem_size, g->mem };
    int rc = vsn_device_set_mem_table(dev, &region, 1);
    if (rc == 0) rc = vsn_device_set_features(dev, 1ull << VSN_VIRTIO_F_VERSION_1);
    vg_ring *rings[2] = { &g->rx, &g->tx };
    for (uint32_t i = 0; rc == 0 && i < 2; i++) {
        vsn_queue_config q = { .struct_size = sizeof q, .size = rings[i]->num, .desc_addr = rings[i]->desc_gpa,
                               .avail_addr = rings[i]->avail_gpa, .used_addr = rings[i]->used_gpa,
                               .kick_fd = rings[i]->kick, .call_fd = rings[i]->call };
        rc = vsn_queue_setup(dev, i, &q);
    }
    if (rc == 0) rc = vsn_device_start(dev);
    return rc;
}

/* ---- packets ---- */

static void hdr_fill(vg *g, struct vsn_virtio_vsock_hdr *h, uint64_t dst_cid, uint32_t src_port, uint32_t dst_port,
                     uint16_t op, uint32_t flags, uint32_t len, const vg_conn *c)
{
    memset(h, 0, sizeof *h);
    h->src_cid = htole64(g->cid);
    h->dst_cid = htole64(dst_cid);
    h->src_port = htole32(src_port);
    h->dst_port = htole32(dst_port);
    h->len = htole32(len);
    h->type = htole16(VSN_VIRTIO_VSOCK_TYPE_STREAM);
    h->op = htole16(op);
    h->flags = htole32(flags);
    h->buf_alloc = htole32(VG_BUF_ALLOC);
    h->fwd_cnt = htole32(c ? c->fwd_cnt : 0);
}

static void reap_tx(vg *g)
{
    vg_ring *r = &g->tx;
    uint16_t used = le16toh(__atomic_load_n(r->used_idx, __ATOMIC_ACQUIRE));
    while (r->last_used != used) {
        uint32_t id = le32toh(r->used_ring[2 * (r->last_used % r->num)]);
        if (id < VG_QSIZE && g->tx_nfree < VG_QSIZE) g->tx_free[g->tx_nfree++] = (uint16_t)id;
        r->last_used++;
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
        kick(&g->tx);
        usleep(1000);
    }
    uint16_t id = g->tx_free[--g->tx_nfree];
    uint8_t *buf = g->mem + TX_BUFS_OFF + (size_t)id * TX_STRIDE;
    memcpy(buf, h, sizeof *h);
    if (len) memcpy(buf + sizeof *h, payload, len);
    g->tx.desc[id] = (struct vring_desc_le){ htole64(g->gpa_base + TX_BUFS_OFF + (uint64_t)id * TX_STRIDE),
                                             htole32((uint32_t)sizeof *h + len), 0, 0 };
    publish(&g->tx, id);
    kick(&g->tx);
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

static bool listens(vg *g, uint32_t port)
{
    for (unsigned i = 0; i < g->nlistening; i++)
        if (g->listening[i] == port) return true;
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
        if (op == VSN_VIRTIO_VSOCK_OP_REQUEST && listens(g, dport) && (c = new_conn(g)) != NULL) {
            *c = (vg_conn){ .state = VG_ESTABLISHED, .peer_cid = src, .local_port = dport, .peer_port = sport, .incoming = true,
                            .peer_buf_alloc = le32toh(h.buf_alloc), .peer_fwd_cnt = le32toh(h.fwd_cnt) };
            ctl(g, c, VSN_VIRTIO_VSOCK_OP_RESPONSE);
            return;
        }
        g->unknown_packets++;
        if (op != VSN_VIRTIO_VSOCK_OP_RST) vg_send_raw(g, src, dport, sport, VSN_VIRTIO_VSOCK_OP_RST, 0, NULL, 0);
        return;
    }
    c->peer_buf_alloc = le32toh(h.buf_alloc);
    c->peer_fwd_cnt = le32toh(h.fwd_cnt);
    switch (op) {
    case VSN_VIRTIO_VSOCK_OP_RESPONSE:
        if (c->state == VG_CONNECTING) c->state = VG_ESTABLISHED;
        break;
    case VSN_VIRTIO_VSOCK_OP_RST:
        g->rsts_received++;
        c->state = c->state == VG_CONNECTING ? VG_REFUSED : VG_RESET;
        break;
    case VSN_VIRTIO_VSOCK_OP_CREDIT_REQUEST: ctl(g, c, VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE); break;
    case VSN_VIRTIO_VSOCK_OP_RW: {
        if (len > VG_BUF_ALLOC - (c->fwd_cnt - c->last_fwd_sent)) c->credit_violations++;
        const uint8_t *p = buf + sizeof h;
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
    if (read(g->rx.call, &v, sizeof v) < 0 && errno != EAGAIN) perror("vu_guest: call");
    if (read(g->tx.call, &v, sizeof v) < 0 && errno != EAGAIN) perror("vu_guest: call");
    reap_tx(g);
    vg_ring *r = &g->rx;
    uint16_t used = le16toh(__atomic_load_n(r->used_idx, __ATOMIC_ACQUIRE));
    bool reposted = false;
    while (r->last_used != used) {
        uint32_t id = le32toh(r->used_ring[2 * (r->last_used % r->num)]);
        uint32_t len = le32toh(r->used_ring[2 * (r->last_used % r->num) + 1]);
        r->last_used++;
        if (id >= VG_QSIZE || len > VG_RX_BUF) {
            fprintf(stderr, "vu_guest: cid %llu: bad used entry id %u len %u\n", (unsigned long long)g->cid, id, len);
            continue;
        }
        on_packet(g, g->mem + RX_BUFS_OFF + (size_t)id * VG_RX_BUF, len);
        post_rx(g, (uint16_t)id);
        reposted = true;
        handled++;
    }
    if (reposted) kick(&g->rx);
    return handled;
}

void vg_wait(vg *g, int timeout_ms)
{
    struct pollfd p[2] = { { g->rx.call, POLLIN, 0 }, { g->tx.call, POLLIN, 0 } };
    poll(p, 2, timeout_ms);
}

int vg_listen(vg *g, uint32_t port)
{
    if (g->nlistening == 8) return -ENOSPC;
    g->listening[g->nlistening++] = port;
    return 0;
}

vg_conn *vg_connect(vg *g, uint64_t cid, uint32_t port, uint8_t seed)
{
    vg_conn *c = new_conn(g);
    if (c == NULL) return NULL;
    *c = (vg_conn){ .state = VG_CONNECTING, .peer_cid = cid, .local_port = g->next_port++, .peer_port = port, .seed_out = seed,
                    .seed_in = (uint8_t)(seed + 1) };
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

int vg_rst(vg *g, vg_conn *c)
{
    int rc = ctl(g, c, VSN_VIRTIO_VSOCK_OP_RST);
    c->state = VG_RESET;
    return rc;
}

void vg_release(vg_conn *c) { c->state = VG_FREE; }
