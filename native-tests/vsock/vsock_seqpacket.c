/*
 * vsock_seqpacket.c — SEQPACKET connections end to end (VIRTIO_VSOCK_F_SEQPACKET), from the C
 * guest stack (guest_stack.c, which keeps message boundaries as Linux does) to real
 * AF_UNIX SOCK_SEQPACKET sockets serviced from the same thread; the device in manual-poll mode.
 *
 * Sections: messages of 0, 1, 4095, 4096, 4097, 64 KiB, 200 000 bytes and the limit (the device's
 * buf_alloc, 256 KiB) guest->host and host->guest, each arriving intact and alone (length, every
 * byte and a running checksum checked), for both host endpoint kinds: a "<uds>_P" SOCK_SEQPACKET
 * listener and the fd API (vsn_device_listen and vsn_device_connect); a message split across several rx buffers
 * (EOM only on its last packet); EOR; refusal (no listener, a stream listener, feature not
 * negotiated); half-close both ways (an empty host message is not an end of stream); oversize
 * messages both ways (RST, nothing partial delivered); the connection limit and TRANSPORT_RESET.
 */
#include "guest_stack.h"
#include "vsn_check.h"
#include "vt_util.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#define T 5000 /* default deadline of a wait, ms */
#define LIMIT (256u * 1024) /* the device's default buf_alloc: the largest guest message */
#define HOST_SNDBUF (1 << 20)

static char g_dir[64];
static char g_uds[128];

static const uint32_t k_sizes[] = { 1, 4095, 4096, 4097, 65536, 0, 200000, LIMIT };
#define NSIZES (sizeof k_sizes / sizeof k_sizes[0])

static vsn_connection_layer_counter_values conn_counters(gs_stack *s)
{
    vsn_device_counters c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    CHECK_EQ(vsn_device_get_counters(gs_device(s), &c), 0);
    return c.connections;
}

static void uds_port_path(char *out, size_t cap, uint32_t port)
{
    snprintf(out, cap, "%s_%u", g_uds, port);
}

static int seq_listen(uint32_t port)
{
    char path[160];
    uds_port_path(path, sizeof path, port);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0) {
        perror("seqpacket listener");
        exit(1);
    }
    return fd;
}

/* Host sockets get a send buffer that takes the largest message. */
static void big_sndbuf(int fd)
{
    int v = HOST_SNDBUF;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
}

static gs_stack *make_stack(bool seqpacket, uint32_t guest_buf_alloc, uint32_t max_conns)
{
    gs_config cfg = gs_config_default();
    cfg.uds_path = g_uds;
    cfg.seqpacket = seqpacket;
    cfg.guest_buf_alloc = guest_buf_alloc;
    cfg.max_connections = max_conns;
    return vt_create_stack(&cfg, "vsock_seqpacket");
}

/* A seqpacket connection to "<uds>_port"; the host end takes messages up to the limit. */
static gs_conn *connect_seq(gs_stack *s, int lfd, uint32_t port, int *hfd)
{
    gs_conn *c = vt_connect_listener(s, lfd, port, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET, hfd);
    if (c != NULL)
        big_sndbuf(*hfd);
    return c;
}

/* One message: `size` bytes of pattern `seed`, checked byte by byte and by checksum. */
static void check_msg(long got, const uint8_t *buf, uint32_t size, uint64_t seed, const char *what)
{
    CHECK_EQ(got, size);
    if (got != (long)size) {
        fprintf(stderr, "%s: message of %u bytes arrived as %ld\n", what, size, got);
        return;
    }
    CHECK_EQ(vt_pat_check(seed, 0, buf, size), size);
    static uint8_t want[LIMIT];
    vt_pat_fill(seed, 0, want, size);
    vt_sum a = { 0, 0 }, b = { 0, 0 };
    vt_sum_add(&a, want, size);
    vt_sum_add(&b, buf, size);
    CHECK(a.a == b.a && a.b == b.b);
}

/* The host's side of a message: 1 sent, 0 not now, -errno. */
static int host_send(int fd, const uint8_t *msg, size_t len, bool eor)
{
    ssize_t n = send(fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL | (eor ? MSG_EOR : 0));
    if (n >= 0)
        return n == (ssize_t)len ? 1 : -EIO;
    return errno == EAGAIN ? 0 : -errno;
}

/* One recv: the next message's length, or -errno (-EAGAIN: none yet). */
static long host_recv(int fd, uint8_t *buf, size_t cap)
{
    ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
    return n >= 0 ? (long)n : -errno;
}

/* Every size as one message, back to back (so merged or cut messages would show), pattern
 * seed + i for message i. g2h: the guest sends (gs_seq_send) and the host reads one recv per
 * message; otherwise the host sends (one send each) and the guest reads whole messages. */
static void exchange(gs_stack *s, gs_conn *c, int hfd, bool g2h, uint64_t seed, bool eor, const char *what)
{
    static uint8_t msg[LIMIT], buf[LIMIT + 1];
    size_t sent = 0, got = 0, done = 0;
    vt_pat_fill(seed, 0, msg, k_sizes[0]);
    int64_t dl = gs_now_ms() + 30000;
    while (got < NSIZES && gs_now_ms() < dl) {
        if (sent < NSIZES) {
            int rc = g2h ? gs_seq_send(s, c, msg, k_sizes[sent], eor, &done)
                         : host_send(hfd, msg, k_sizes[sent], eor);
            CHECK(rc >= 0);
            if (rc < 0) {
                fprintf(stderr, "%s: sending message %zu: %s\n", what, sent, strerror(-rc));
                break;
            }
            if (rc == 1 && ++sent < NSIZES) {
                done = 0;
                vt_pat_fill(seed + sent, 0, msg, k_sizes[sent]);
            }
        }
        bool e;
        long n = g2h ? host_recv(hfd, buf, sizeof buf) : gs_seq_recv(s, c, buf, sizeof buf, &e);
        if (n != -EAGAIN) {
            check_msg(n, buf, k_sizes[got], seed + got, what);
            got++;
        }
        if (gs_pump(s, 0) < 0)
            break;
    }
    if (got < NSIZES)
        fprintf(stderr, "%s: stalled: sent %zu, received %zu of %zu messages\n", what, sent, got, NSIZES);
    CHECK_EQ(got, NSIZES);
    CHECK_EQ(c->credit_violations, 0);
    CHECK_EQ(c->bad_flags, 0);
}

/* ---- sections ------------------------------------------------------------------------------ */

static int g_lfd = -1; /* SOCK_SEQPACKET listener at <uds>_6000 */

static void test_unix_listener(gs_stack *s)
{
    int hfd;
    uint64_t opened = conn_counters(s).connections_opened;
    gs_conn *c = connect_seq(s, g_lfd, 6000, &hfd);
    if (c == NULL)
        return;
    CHECK_EQ(conn_counters(s).connections_opened, opened + 1);
    int type = 0;
    socklen_t tl = sizeof type;
    getsockopt(hfd, SOL_SOCKET, SO_TYPE, &type, &tl);
    CHECK_EQ(type, SOCK_SEQPACKET);
    exchange(s, c, hfd, true, 100, false, "unix g2h");
    uint64_t from = gs_log_next(s);
    exchange(s, c, hfd, false, 200, false, "unix h2g");
    /* the 64 KiB message crossed several 4 KiB rx buffers: EOM on its last packet only, and
     * every message ends with exactly one EOM */
    static gs_pkt p[GS_LOG_SIZE];
    size_t n = gs_log_since(s, from, p, GS_LOG_SIZE);
    uint32_t run = 0, pieces = 0, eoms = 0;
    bool saw64k = false;
    for (size_t i = 0; i < n; i++) {
        if (p[i].op != VSN_VIRTIO_VSOCK_OP_RW || p[i].dst_port != c->guest_port)
            continue;
        CHECK_EQ(p[i].type, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET);
        CHECK(p[i].len <= 4096 - GS_HDR);
        run += p[i].len;
        pieces++;
        if (p[i].flags & VSN_VIRTIO_VSOCK_SEQ_EOM) {
            eoms++;
            if (run == 65536) {
                saw64k = true;
                CHECK(pieces >= 17); /* 65536 / (4096 - 44) rounded up */
            }
            run = 0;
            pieces = 0;
        }
    }
    CHECK_EQ(eoms, NSIZES);
    CHECK(saw64k);
    /* EOR: the guest's record ends go to the host as MSG_EOR sendmsg calls, and host MSG_EOR sends
     * are taken; AF_UNIX keeps no record marks (BEHAVIOUR.md), the messages arrive intact */
    exchange(s, c, hfd, true, 300, true, "unix g2h EOR");
    exchange(s, c, hfd, false, 350, true, "unix h2g MSG_EOR");
    close(hfd);
    bool ok;
    VT_WAIT(s, T, c->peer_shutdown == 3 && c->rst_sent, "SHUTDOWN(RCV|SEND) after the host closed", ok);
}

static void test_fd_api(gs_stack *s)
{
    bool ok;
    /* vsn_device_listen: a guest seqpacket connection arrives as a SOCK_SEQPACKET fd */
    static vt_accepted a = { .fd = -1 };
    CHECK_EQ(vsn_device_listen(gs_device(s), 6001, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET, vt_on_accept, &a), 0);
    gs_conn *c = gs_connect_type(s, 6001, 0, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET);
    VT_WAIT(s, T, c->state != GS_CONNECTING && a.fd >= 0, "RESPONSE and the accept callback", ok);
    CHECK_EQ(c->state, GS_ESTABLISHED);
    /* a stream connection to the same port does not reach the seqpacket listener */
    gs_conn *st = gs_connect(s, 6001, 0);
    VT_WAIT(s, T, st->state != GS_CONNECTING, "an answer to a stream REQUEST", ok);
    CHECK_EQ(st->state, GS_REFUSED);
    CHECK_EQ(a.n, 1);
    if (a.fd >= 0) {
        int type = 0;
        socklen_t tl = sizeof type;
        getsockopt(a.fd, SOL_SOCKET, SO_TYPE, &type, &tl);
        CHECK_EQ(type, SOCK_SEQPACKET); /* its send buffer takes the limit without help */
        exchange(s, c, a.fd, true, 400, false, "vsn_device_listen g2h");
        exchange(s, c, a.fd, false, 500, false, "vsn_device_listen h2g");
        close(a.fd);
    }
    CHECK_EQ(vsn_device_unlisten(gs_device(s), 6001, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET), 0);

    /* vsn_device_connect: the program's fd is SOCK_SEQPACKET; messages written before the guest
     * accepted wait and arrive whole */
    gs_listen(s, 7001);
    int fd = -1;
    CHECK_EQ(vsn_device_connect(gs_device(s), 7001, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET, &fd), 0);
    if (fd < 0)
        return;
    CHECK_EQ(send(fd, "early", 5, MSG_DONTWAIT), 5);
    CHECK_EQ(send(fd, "bird", 4, MSG_DONTWAIT), 4);
    gs_conn *g = NULL;
    VT_WAIT(s, T, (g = gs_accept(s, 7001)) != NULL, "the guest to accept vsn_device_connect", ok);
    if (g == NULL) {
        close(fd);
        return;
    }
    CHECK_EQ(g->type, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET);
    char m[16];
    bool eor;
    long n = -EAGAIN;
    VT_WAIT(s, T, (n = gs_seq_recv(s, g, m, sizeof m, &eor)) != -EAGAIN, "the first early message", ok);
    CHECK(n == 5 && memcmp(m, "early", 5) == 0);
    VT_WAIT(s, T, (n = gs_seq_recv(s, g, m, sizeof m, &eor)) != -EAGAIN, "the second early message", ok);
    CHECK(n == 4 && memcmp(m, "bird", 4) == 0);
    exchange(s, g, fd, true, 600, false, "vsn_device_connect g2h");
    exchange(s, g, fd, false, 700, false, "vsn_device_connect h2g");
    close(fd);
    VT_WAIT(s, T, g->peer_shutdown == 3, "SHUTDOWN after the program closed", ok);
}

static void test_refused(gs_stack *s)
{
    bool ok;
    uint64_t before = conn_counters(s).refused_no_listener;
    gs_conn *c = gs_connect_type(s, 7777, 0, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET);
    VT_WAIT(s, T, c->state != GS_CONNECTING, "an answer with no listener", ok);
    CHECK_EQ(c->state, GS_REFUSED);
    /* a stream listener at <uds>_5000 takes no seqpacket connection */
    char path[160];
    uds_port_path(path, sizeof path, 5000);
    int slfd = vt_unix_listen(path);
    CHECK(slfd >= 0);
    c = gs_connect_type(s, 5000, 0, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET);
    VT_WAIT(s, T, c->state != GS_CONNECTING, "an answer from a stream listener", ok);
    CHECK_EQ(c->state, GS_REFUSED);
    int fd = vt_accept(slfd);
    CHECK(fd < 0);
    if (fd >= 0) close(fd);
    close(slfd);
    unlink(path);
    CHECK_EQ(conn_counters(s).refused_no_listener, before + 2);
}

/* A driver without VIRTIO_VSOCK_F_SEQPACKET: its seqpacket REQUEST is reset and counted, and the
 * fd API refuses seqpacket connects. */
static void test_not_negotiated(void)
{
    bool ok;
    gs_stack *s = make_stack(false, 0, 0);
    uint64_t features = 0;
    CHECK_EQ(vsn_device_get_features(gs_device(s), &features), 0);
    CHECK(features & (1ull << VSN_VIRTIO_VSOCK_F_SEQPACKET)); /* offered all the same */
    gs_conn *c = gs_connect_type(s, 6000, 0, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET);
    VT_WAIT(s, T, c->state != GS_CONNECTING, "an answer to a seqpacket REQUEST", ok);
    CHECK_EQ(c->state, GS_REFUSED);
    vsn_connection_layer_counter_values cc = conn_counters(s);
    CHECK_EQ(cc.seqpacket_not_negotiated, 1);
    CHECK_EQ(cc.connections_opened, 0);
    int fd = vt_accept(g_lfd);
    CHECK(fd < 0);
    if (fd >= 0) close(fd);
    int vfd = -1;
    CHECK_EQ(vsn_device_connect(gs_device(s), 1, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET, &vfd), -ENOTSUP);
    CHECK_EQ(vfd, -1);
    gs_destroy(&s);
}

static void test_half_close(gs_stack *s)
{
    bool ok;
    int hfd;
    uint8_t buf[64];
    /* (a) guest SHUTDOWN(SEND) right behind two messages: the host reads both, then EOF; the
     * host can still send */
    gs_conn *c = connect_seq(s, g_lfd, 6000, &hfd);
    if (c == NULL)
        return;
    size_t done = 0;
    CHECK_EQ(gs_seq_send(s, c, "one", 3, false, &done), 1);
    done = 0;
    CHECK_EQ(gs_seq_send(s, c, "two!", 4, false, &done), 1);
    gs_shutdown(s, c, VSN_VIRTIO_VSOCK_SHUTDOWN_SEND);
    ssize_t lens[3] = { -1, -1, -1 };
    int k = 0;
    VT_WAIT(s, T, (k < 3 && ((lens[k] = recv(hfd, buf, sizeof buf, MSG_DONTWAIT)) >= 0 ? k++ : 0), k == 3),
            "two messages then EOF on the host", ok);
    CHECK_EQ(lens[0], 3);
    CHECK_EQ(lens[1], 4);
    CHECK_EQ(lens[2], 0);
    CHECK_EQ(send(hfd, "back", 4, MSG_DONTWAIT), 4);
    bool eor;
    long n = -EAGAIN;
    VT_WAIT(s, T, (n = gs_seq_recv(s, c, buf, sizeof buf, &eor)) != -EAGAIN, "host->guest after the guest's SHUTDOWN(SEND)", ok);
    CHECK_EQ(n, 4);
    close(hfd);
    VT_WAIT(s, T, c->peer_shutdown == 3 && c->rst_sent, "SHUTDOWN(RCV|SEND) after host close", ok);

    /* (b) the host sends an empty message, a message, then shutdown(SHUT_WR): the guest gets an
     * empty message (not an end of stream), the message, then SHUTDOWN(SEND); it can still send */
    c = connect_seq(s, g_lfd, 6000, &hfd);
    if (c == NULL)
        return;
    CHECK_EQ(send(hfd, "", 0, MSG_DONTWAIT), 0);
    CHECK_EQ(send(hfd, "last", 4, MSG_DONTWAIT), 4);
    shutdown(hfd, SHUT_WR);
    VT_WAIT(s, T, (c->peer_shutdown & VSN_VIRTIO_VSOCK_SHUTDOWN_SEND) != 0, "SHUTDOWN(SEND) after SHUT_WR", ok);
    CHECK_EQ(c->msgs_received, 2);
    CHECK_EQ(gs_seq_recv(s, c, buf, sizeof buf, &eor), 0);
    CHECK_EQ(gs_seq_recv(s, c, buf, sizeof buf, &eor), 4);
    CHECK_EQ(c->rw_after_shutdown, 0);
    done = 0;
    CHECK_EQ(gs_seq_send(s, c, "still", 5, false, &done), 1);
    ssize_t r = -1;
    VT_WAIT(s, T, (r = recv(hfd, buf, sizeof buf, MSG_DONTWAIT)) >= 0, "guest->host after the host's SHUT_WR", ok);
    CHECK_EQ(r, 5);
    gs_shutdown(s, c, 3);
    VT_WAIT(s, T, c->rst_received, "RST after the guest's SHUTDOWN(RCV|SEND)", ok);
    close(hfd);
}

/* Sends one raw seqpacket RW of `len` pattern bytes on c (no credit check: the oversize test). */
static void raw_rw(gs_stack *s, gs_conn *c, uint32_t len, uint32_t flags)
{
    static uint8_t data[65536];
    struct vsn_virtio_vsock_hdr h;
    gs_hdr(s, c, &h, c->guest_port, c->host_port, VSN_VIRTIO_VSOCK_OP_RW, len, flags);
    int rc;
    bool ok;
    VT_WAIT(s, T, (rc = gs_send_raw(s, &h, data, len)) != -EAGAIN, "a free tx slot", ok);
    CHECK_EQ(rc, 0);
    c->tx_cnt += len;
}

static void test_oversize(gs_stack *s)
{
    bool ok;
    int hfd;
    uint8_t buf[64];
    /* guest->host: 4 x 64 KiB without EOM is the limit; one byte more resets; the host gets
     * nothing of it, then EOF */
    gs_conn *c = connect_seq(s, g_lfd, 6000, &hfd);
    if (c == NULL)
        return;
    for (int i = 0; i < 4; i++)
        raw_rw(s, c, 65536, 0);
    raw_rw(s, c, 1, VSN_VIRTIO_VSOCK_SEQ_EOM);
    VT_WAIT(s, T, c->rst_received, "RST for a message beyond buf_alloc", ok);
    ssize_t r = -2;
    VT_WAIT(s, T, (r = recv(hfd, buf, sizeof buf, MSG_DONTWAIT)) >= 0, "host EOF after the reset", ok);
    CHECK_EQ(r, 0);
    close(hfd);
    /* the guest stack refuses such a message itself, as Linux does */
    c = connect_seq(s, g_lfd, 6000, &hfd);
    if (c == NULL)
        return;
    size_t done = 0;
    static uint8_t big[LIMIT + 1];
    CHECK_EQ(gs_seq_send(s, c, big, LIMIT + 1, false, &done), -EMSGSIZE);
    close(hfd);
    VT_WAIT(s, T, c->rst_sent, "the close of the second connection", ok);

    /* host->guest: a guest with a 64 KiB buf_alloc takes a 64 KiB message, a larger one resets */
    gs_stack *small = make_stack(true, 65536, 0);
    c = connect_seq(small, g_lfd, 6000, &hfd);
    if (c != NULL) {
        CHECK_EQ(send(hfd, big, 65536, MSG_DONTWAIT), 65536);
        static uint8_t in[65537];
        bool eor;
        long n = -EAGAIN;
        VT_WAIT(small, T, (n = gs_seq_recv(small, c, in, sizeof in, &eor)) != -EAGAIN, "a message of the guest's buf_alloc", ok);
        CHECK_EQ(n, 65536);
        CHECK_EQ(send(hfd, big, 65537, MSG_DONTWAIT), 65537);
        VT_WAIT(small, T, c->rst_received, "RST for a host message beyond the guest's buf_alloc", ok);
        CHECK_EQ(c->msg_n, 0);
        CHECK_EQ(c->bytes_received, 65536);
        r = -2;
        VT_WAIT(small, T, (r = recv(hfd, buf, sizeof buf, MSG_DONTWAIT)) >= 0, "host EOF", ok);
        CHECK_EQ(r, 0);
        close(hfd);
    }
    gs_destroy(&small);
}

/* The connection limit and TRANSPORT_RESET treat seqpacket connections as streams. */
static void test_limit_and_transport_reset(void)
{
    bool ok;
    gs_stack *s = make_stack(true, 0, 2);
    int h1, h2 = -1;
    gs_conn *c1 = connect_seq(s, g_lfd, 6000, &h1);
    gs_listen(s, 7002);
    CHECK_EQ(vsn_device_connect(gs_device(s), 7002, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET, &h2), 0);
    gs_conn *c2 = NULL;
    VT_WAIT(s, T, (c2 = gs_accept(s, 7002)) != NULL, "the guest to accept vsn_device_connect", ok);
    uint64_t refused = conn_counters(s).refused_limit;
    gs_conn *c3 = gs_connect_type(s, 6000, 0, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET);
    VT_WAIT(s, T, c3->state != GS_CONNECTING, "an answer to a 3rd REQUEST", ok);
    CHECK_EQ(c3->state, GS_REFUSED);
    CHECK_EQ(conn_counters(s).refused_limit, refused + 1);
    int vfd = -1;
    CHECK_EQ(vsn_device_connect(gs_device(s), 7002, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET, &vfd), -EAGAIN);
    if (c1 == NULL || c2 == NULL) {
        gs_destroy(&s);
        return;
    }
    CHECK_EQ(vsn_device_transport_reset(gs_device(s)), 0);
    VT_WAIT(s, T, gs_get_stats(s)->transport_resets == 1, "the TRANSPORT_RESET event", ok);
    CHECK_EQ(c1->state, GS_RESET);
    CHECK_EQ(c2->state, GS_RESET);
    uint8_t b[8];
    ssize_t r1 = -2, r2 = -2;
    VT_WAIT(s, T, (r1 = recv(h1, b, sizeof b, MSG_DONTWAIT)) >= 0, "EOF on the <uds>_P socket", ok);
    VT_WAIT(s, T, (r2 = recv(h2, b, sizeof b, MSG_DONTWAIT)) >= 0, "EOF on the vsn_device_connect fd", ok);
    CHECK_EQ(r1, 0);
    CHECK_EQ(r2, 0);
    close(h1);
    close(h2);
    /* the guest connects again afterwards, and messages flow */
    gs_conn *c4 = connect_seq(s, g_lfd, 6000, &h1);
    if (c4 != NULL) {
        size_t done = 0;
        CHECK_EQ(gs_seq_send(s, c4, "again", 5, false, &done), 1);
        ssize_t r = -2;
        VT_WAIT(s, T, (r = recv(h1, b, sizeof b, MSG_DONTWAIT)) >= 0, "a message after the transport reset", ok);
        CHECK_EQ(r, 5);
        close(h1);
    }
    gs_destroy(&s);
}

/* CASES_A run on one shared stack (made in main); CASES_B make their own devices. */
#define CASES_A(X) \
    X(unix_listener, test_unix_listener(s)) \
    X(fd_api, test_fd_api(s)) \
    X(refused, test_refused(s)) \
    X(half_close, test_half_close(s)) \
    X(oversize, test_oversize(s))
#define CASES_B(X) \
    X(not_negotiated, test_not_negotiated()) \
    X(limit_and_transport_reset, test_limit_and_transport_reset())
static const char *const CASE_NAMES[] = { CASES_A(VSN_CASE_NAME) CASES_B(VSN_CASE_NAME) };

int main(int argc, char **argv)
{
    VSN_CASES_INIT(argc, argv, CASE_NAMES);
    strcpy(g_dir, "/tmp/vsn_seqXXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(g_uds, sizeof g_uds, "%s/vsock", g_dir);
    g_lfd = seq_listen(6000);

    gs_stack *s = make_stack(true, 0, 0);
    CASES_A(VSN_CASE_RUN)
    const gs_stats *st = gs_get_stats(s);
    CHECK_EQ(st->oversize_pkts, 0);
    CHECK_EQ(st->bad_used_len, 0);
    CHECK_EQ(st->not_for_us, 0);
    gs_destroy(&s);
    CASES_B(VSN_CASE_RUN)

    close(g_lfd);
    char p[160];
    uds_port_path(p, sizeof p, 6000);
    unlink(p);
    unlink(g_uds);
    rmdir(g_dir);
    return vsn_check_summary("vsock_seqpacket");
}
