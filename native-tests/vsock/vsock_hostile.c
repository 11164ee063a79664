/*
 * vsock_hostile.c — the device's limits and failure paths, end to end: a C guest stack
 * (guest_stack.c on the driver simulator) against the real device and host peers that fail,
 * stall or misbehave, serviced from the same thread. Every wait is a pump loop with a deadline;
 * "promptly" only ever means "within that deadline". Beside each hostile episode a background
 * flow (data both ways on an established connection, every byte pattern-checked) keeps running,
 * and must keep moving: no failure stalls the device.
 *
 * Sections:
 *  1. host-side failures: a <uds>_P listener whose backlog is full, paths that exist but are not
 *     listening sockets (file, bound-but-not-listening socket, stale socket file, directory): RST,
 *     counted. Host peers that close or shut down mid-transfer in both directions (<uds>_P, the
 *     hybrid socket before its "OK", the fd API) while the process keeps the DEFAULT SIGPIPE
 *     action: the guest gets SHUTDOWN/RST, nothing the host sent is lost, nobody dies.
 *  2. a host peer that never reads (buf_alloc 16 KiB): the guest stalls, the device holds at most
 *     buf_alloc (sampled all along), no credit violation; a guest that ignores the credit is reset
 *     and its excess never reaches the host; when the host reads, every byte arrives.
 *  3. a guest that never reads (its buf_alloc 32 KiB): the host writes until EAGAIN, the device
 *     sends exactly the guest's credit and holds nothing, asks for credit without spinning; when
 *     the guest reads, every byte arrives.
 *  4. the hybrid line: garbage, an out-of-range port, over-long lines, a client that closes or
 *     never finishes the line (handshake timeout), a guest that never answers the REQUEST
 *     (connect timeout) or refuses it: each closed without "OK" and counted.
 *  5. max_connections: guest REQUESTs get RST (refused_limit), hybrid clients are closed
 *     (handshakes_rejected), vsn_device_connect returns -EAGAIN; freeing a connection makes room again.
 *  6. no file descriptor left (RLIMIT_NOFILE reached): guest REQUESTs get RST (refused_no_resources),
 *     vsn_device_connect -EMFILE, hybrid clients wait in the backlog with the loop not spinning on
 *     the readable listener (accept_pauses); when fds come back, everything is served again.
 *  7. TRANSPORT_RESET while four connections move data both ways: every connection reset, nothing
 *     the device acknowledged lost at the host, no connection left, a new one served.
 *  8. a guest whose rx ring stays empty while four host peers fill their sockets: the device stops
 *     reading them (no socket read in 500 loop turns), memory flat; every byte arrives afterwards.
 */
#include "guest_stack.h"
#include "vsn_check.h"
#include "vt_util.h"

#include <endian.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define T 5000      /* deadline of a wait, ms */
#define SLOW 15000  /* deadline of a wait that includes a device timeout (handshake, connect: 5 s) */
#define ANY_PORT UINT32_MAX

static char g_dir[64];
static char g_uds[128];

static void port_path(char *out, size_t cap, uint32_t port)
{
    snprintf(out, cap, "%s_%u", g_uds, port);
}

static vsn_device_counters device_counters(gs_stack *s)
{
    vsn_device_counters c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    CHECK_EQ(vsn_device_get_counters(gs_device(s), &c), 0);
    return c;
}

static vsn_connection_layer_counter_values counters(gs_stack *s) { return device_counters(s).connections; }

/* The counters of every freed connection, added up. */
static vsn_connection_counter_values ended(gs_stack *s) { return device_counters(s).ended_connections; }

/* The device's view of one connection (by ports; ANY_PORT matches any host port). */
static bool conn_info(gs_stack *s, uint32_t guest_port, uint32_t host_port, vsn_connection_info *out)
{
    vsn_connection_info v[16];
    uint32_t total = 0;
    int n = vsn_device_get_connections(gs_device(s), v, 16, sizeof v[0], &total);
    for (int i = 0; i < n; i++)
        if (v[i].guest_port == guest_port && (host_port == ANY_PORT || v[i].host_port == host_port)) {
            *out = v[i];
            return true;
        }
    return false;
}

static uint32_t conn_total(gs_stack *s)
{
    uint32_t total = 0;
    vsn_device_get_connections(gs_device(s), NULL, 0, sizeof(vsn_connection_info), &total);
    return total;
}

/* Whether a packet with this op to guest_port (from host_port, or any) was received since `from`. */
static bool logged(gs_stack *s, uint64_t from, uint16_t op, uint32_t guest_port, uint32_t host_port)
{
    gs_pkt p[256];
    size_t n = gs_log_since(s, from, p, 256);
    for (size_t i = 0; i < n; i++)
        if (p[i].op == op && p[i].dst_port == guest_port && (host_port == ANY_PORT || p[i].src_port == host_port))
            return true;
    return false;
}

/* A non-blocking connect from the test: the fd, or -errno (-EAGAIN: the listener's backlog is full). */
static int nb_connect(const char *path)
{
    return vt_unix_connect_as(path, SOCK_NONBLOCK);
}

static gs_stack *make_stack(uint32_t dev_buf_alloc, uint32_t guest_buf_alloc, uint32_t max_conns)
{
    gs_config cfg = gs_config_default();
    cfg.uds_path = g_uds;
    cfg.dev_buf_alloc = dev_buf_alloc;
    cfg.guest_buf_alloc = guest_buf_alloc;
    cfg.max_connections = max_conns;
    return vt_create_stack(&cfg, "vsock_hostile");
}

/* Guest sends pattern `seed` from offset *sent, at most `max` bytes this call; returns bytes taken. */
static size_t send_pattern(gs_stack *s, gs_conn *c, uint64_t seed, uint64_t *sent, size_t max)
{
    static uint8_t chunk[16384];
    size_t k = max < sizeof chunk ? max : sizeof chunk;
    vt_pat_fill(seed, *sent, chunk, k);
    size_t n = gs_send(s, c, chunk, k);
    *sent += n;
    return n;
}

/* Host writes pattern `seed` from offset *sent; returns what write returned (-EAGAIN when full). */
static ssize_t write_pattern(int fd, uint64_t seed, uint64_t *sent, size_t max)
{
    static uint8_t chunk[16384];
    size_t k = max < sizeof chunk ? max : sizeof chunk;
    vt_pat_fill(seed, *sent, chunk, k);
    ssize_t n = vt_write(fd, chunk, k);
    if (n > 0)
        *sent += (uint64_t)n;
    return n;
}

/* Host reads what fd has into pattern checker r (up to `max` bytes); eof and err as vt_drain. */
static void read_pattern(int fd, vt_rx *r, uint64_t max, bool *eof, int *err)
{
    static uint8_t buf[65536];
    uint64_t left = max;
    while (left > 0) {
        ssize_t n = vt_read(fd, buf, left < sizeof buf ? left : sizeof buf);
        if (n > 0) {
            vt_rx_take(r, buf, (size_t)n);
            left -= (uint64_t)n;
            continue;
        }
        if (n == 0 && eof)
            *eof = true;
        else if (n != -EAGAIN && n != 0 && err)
            *err = (int)n;
        return;
    }
}

/* The guest consumes what c has into pattern checker r. */
static void recv_pattern(gs_stack *s, gs_conn *c, vt_rx *r)
{
    static uint8_t buf[65536];
    size_t m;
    while ((m = gs_recv(s, c, buf, sizeof buf)) > 0)
        vt_rx_take(r, buf, m);
}

/* ---- the background flow -------------------------------------------------------------------- */

typedef struct flow {
    gs_conn *c;
    int fd;
    uint64_t gsent, hsent;
    vt_rx hrx, grx; /* the host receives the guest's pattern, the guest the host's */
} flow;

static void flow_open(gs_stack *s, flow *f, int lfd, uint32_t port)
{
    memset(f, 0, sizeof *f);
    f->hrx.seed = 901;
    f->grx.seed = 902;
    f->c = vt_connect_listener(s, lfd, port, VSN_VIRTIO_VSOCK_TYPE_STREAM, &f->fd);
}

/* One step of the flow: a bounded piece each way, both ends read what they have. */
static void flow_step(gs_stack *s, flow *f)
{
    if (f->c == NULL)
        return;
    if (f->gsent - f->hrx.got < (1u << 20))
        send_pattern(s, f->c, 901, &f->gsent, 8192);
    if (f->hsent - f->grx.got < (1u << 20))
        write_pattern(f->fd, 902, &f->hsent, 8192);
    read_pattern(f->fd, &f->hrx, 1u << 20, NULL, NULL);
    recv_pattern(s, f->c, &f->grx);
}

#define WAIT_FLOW(s, f, ms, cond, what, ok) VT_WAIT((s), (ms), (flow_step((s), (f)), (cond)), (what), ok)

/* Both directions of the flow moved at least 64 KiB beyond `mark`, intact, still established. */
static void flow_moves(gs_stack *s, flow *f, const char *after)
{
    bool ok;
    if (f->c == NULL)
        return;
    uint64_t h0 = f->hrx.got, g0 = f->grx.got;
    WAIT_FLOW(s, f, T, f->hrx.got >= h0 + 65536 && f->grx.got >= g0 + 65536, after, ok);
    CHECK(!f->hrx.bad);
    CHECK(!f->grx.bad);
    CHECK_EQ(f->c->state, GS_ESTABLISHED);
    CHECK_EQ(f->c->credit_violations, 0);
    CHECK_EQ(f->c->rst_received, 0);
}

/* Ends the flow: everything sent arrives, then both close. */
static void flow_close(gs_stack *s, flow *f)
{
    bool ok;
    if (f->c == NULL)
        return;
    bool eof = false;
    VT_WAIT(s, T, (read_pattern(f->fd, &f->hrx, 1u << 20, &eof, NULL), recv_pattern(s, f->c, &f->grx),
                   f->hrx.got == f->gsent && f->grx.got == f->hsent),
            "the background flow to drain", ok);
    CHECK(!f->hrx.bad && !f->grx.bad);
    printf("  background flow: %llu bytes guest->host, %llu host->guest\n",
           (unsigned long long)f->hrx.got, (unsigned long long)f->grx.got);
    close(f->fd);
    VT_WAIT(s, T, f->c->rst_sent || f->c->rst_received, "the flow's connection to end", ok);
    f->c = NULL;
}

/* ---- 1. host-side failures ----------------------------------------------------------------- */

static int sigpipe_action(void)
{
    struct sigaction sa;
    sigaction(SIGPIPE, NULL, &sa);
    return sa.sa_handler == SIG_DFL ? 0 : sa.sa_handler == SIG_IGN ? 1 : 2;
}

/* The guest's REQUEST to `port` is refused with RST and counted as refused_no_listener. */
static void expect_refused(gs_stack *s, flow *f, uint32_t port, const char *what)
{
    bool ok;
    uint64_t before = counters(s).refused_no_listener;
    gs_conn *r = gs_connect(s, port, 0);
    CHECK(r != NULL);
    if (r == NULL)
        return;
    WAIT_FLOW(s, f, T, r->state != GS_CONNECTING, what, ok);
    CHECK_EQ(r->state, GS_REFUSED);
    CHECK_EQ(counters(s).refused_no_listener, before + 1);
    gs_release(s, r);
}

static void test_unreachable_listeners(gs_stack *s, flow *f)
{
    bool ok;
    char p[160];
    /* a listener that never accepts, its backlog (0: one pending connect) filled by the test */
    port_path(p, sizeof p, 5001);
    int full = vt_unix_listen_backlog(p, 0);
    CHECK(full >= 0);
    int fillers[64], nf = 0, rc = 0;
    while (nf < 64 && (rc = nb_connect(p)) >= 0)
        fillers[nf++] = rc;
    CHECK_EQ(rc, -EAGAIN);
    CHECK(nf >= 1);
    for (int i = 0; i < 3; i++)
        expect_refused(s, f, 5001, "RST for a REQUEST to a listener whose backlog is full");
    flow_moves(s, f, "the flow after REQUESTs to a full backlog");
    /* the listener accepts its backlog: the same port takes the guest again */
    for (int i = 0; i < nf; i++) {
        int a = vt_accept(full);
        CHECK(a >= 0);
        if (a >= 0)
            close(a);
        close(fillers[i]);
    }
    int hfd = -1;
    gs_conn *c = vt_connect_listener(s, full, 5001, VSN_VIRTIO_VSOCK_TYPE_STREAM, &hfd);
    if (c != NULL) {
        close(hfd);
        VT_WAIT(s, T, c->rst_sent || c->rst_received, "the connection to the drained listener to end", ok);
    }
    close(full);
    unlink(p);

    /* a regular file */
    port_path(p, sizeof p, 5002);
    int file = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    CHECK(file >= 0);
    if (file >= 0)
        close(file);
    expect_refused(s, f, 5002, "RST for a REQUEST to a path that is a regular file");
    unlink(p);
    /* a socket bound but never listening */
    port_path(p, sizeof p, 5003);
    int bound = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    CHECK(strlen(p) < sizeof a.sun_path);
    memcpy(a.sun_path, p, strlen(p) + 1);
    CHECK_EQ(bind(bound, (struct sockaddr *)&a, sizeof a), 0);
    expect_refused(s, f, 5003, "RST for a REQUEST to a bound socket that does not listen");
    /* a stale socket file (its socket closed) */
    close(bound);
    expect_refused(s, f, 5003, "RST for a REQUEST to a stale socket file");
    unlink(p);
    /* a directory */
    port_path(p, sizeof p, 5004);
    CHECK_EQ(mkdir(p, 0700), 0);
    expect_refused(s, f, 5004, "RST for a REQUEST to a directory");
    rmdir(p);
    flow_moves(s, f, "the flow after REQUESTs to unreachable paths");
}

/* The guest's connection c ends (the stack's RST after the device's full SHUTDOWN, or the
 * device's RST) and the device frees it. */
static void wait_ended(gs_stack *s, flow *f, gs_conn *c, uint32_t conns_after, const char *what)
{
    bool ok;
    WAIT_FLOW(s, f, T, (c->rst_sent || c->rst_received) && conn_total(s) == conns_after, what, ok);
    if (!ok)
        fprintf(stderr, "  %s: state %d peer_shutdown %u rst_sent %d rst_received %d, %u connections\n", what,
                (int)c->state, c->peer_shutdown, (int)c->rst_sent, (int)c->rst_received, conn_total(s));
}

/* Pops a connection the guest accepted on `port` (if any); true once the device is back to
 * `base` connections and that connection (if there was one) ended. */
static bool accepted_ended(gs_stack *s, uint32_t port, gs_conn **a, uint32_t base)
{
    if (*a == NULL)
        *a = gs_accept(s, port);
    return conn_total(s) == base && (*a == NULL || (*a)->rst_sent || (*a)->rst_received);
}

static void test_peers_closing(gs_stack *s, flow *f, int lfd)
{
    bool ok;
    uint32_t base = conn_total(s);
    int hfd;

    /* (a) the host shuts its read side while the guest sends: the device's next write meets EPIPE
     * (no HUP, no EOF announces it). The guest gets SHUTDOWN(RCV); host->guest still works. */
    gs_conn *c = vt_connect_listener(s, lfd, 5000, VSN_VIRTIO_VSOCK_TYPE_STREAM, &hfd);
    if (c == NULL)
        return;
    uint64_t gsent = 0, hsent = 0;
    vt_rx hrx = { .seed = 31 }, grx = { .seed = 32 };
    WAIT_FLOW(s, f, T, (send_pattern(s, c, 31, &gsent, 16384), read_pattern(hfd, &hrx, 1u << 20, NULL, NULL),
                        hrx.got >= 100000),
              "guest->host data before the host's SHUT_RD", ok);
    CHECK_EQ(shutdown(hfd, SHUT_RD), 0);
    WAIT_FLOW(s, f, T, (send_pattern(s, c, 31, &gsent, 16384), (c->peer_shutdown & VSN_VIRTIO_VSOCK_SHUTDOWN_RCV) != 0),
              "SHUTDOWN(RCV) after the host's write side failed with EPIPE", ok);
    CHECK(!hrx.bad);
    WAIT_FLOW(s, f, T, (write_pattern(hfd, 32, &hsent, 50000 - hsent), recv_pattern(s, c, &grx), grx.got >= 50000),
              "host->guest data after the EPIPE", ok);
    CHECK(!grx.bad);
    CHECK_EQ(c->state, GS_ESTABLISHED);
    close(hfd);
    wait_ended(s, f, c, base, "the end after the host closed (a)");

    /* (b) data both ways, then the host closes without reading what the guest sent: the guest
     * still gets every byte the host wrote, then the end; the guest keeps sending into it. */
    c = vt_connect_listener(s, lfd, 5000, VSN_VIRTIO_VSOCK_TYPE_STREAM, &hfd);
    if (c == NULL)
        return;
    gsent = hsent = 0;
    hrx = (vt_rx){ .seed = 33 };
    grx = (vt_rx){ .seed = 34 };
    WAIT_FLOW(s, f, T, (send_pattern(s, c, 33, &gsent, 16384), write_pattern(hfd, 34, &hsent, 300000 - hsent),
                        recv_pattern(s, c, &grx), read_pattern(hfd, &hrx, 4096, NULL, NULL),
                        hsent >= 300000 && gsent >= 300000),
              "300 KB each way written before the host closes", ok);
    close(hfd); /* unread guest data in its queue: the device's socket gets ECONNRESET/EPIPE */
    WAIT_FLOW(s, f, T, (send_pattern(s, c, 33, &gsent, 16384), recv_pattern(s, c, &grx),
                        (c->peer_shutdown & VSN_VIRTIO_VSOCK_SHUTDOWN_SEND) != 0 || c->rst_received),
              "the end of the host's data after it closed (b)", ok);
    recv_pattern(s, c, &grx);
    CHECK_EQ(grx.got, hsent); /* nothing the host wrote was lost */
    CHECK(!grx.bad);
    CHECK(!hrx.bad);
    wait_ended(s, f, c, base, "the end after the host closed (b)");

    /* (c) a hybrid client writes its CONNECT line and shuts its read side: the device's "OK"
     * meets EPIPE. That is a host write error: guest data gets SHUTDOWN(RCV) (not a device that
     * retries the greeting forever); the client's own data still reaches the guest. */
    gs_listen(s, 1240);
    int hy = vt_unix_connect(g_uds);
    CHECK(hy >= 0);
    if (hy < 0)
        return;
    CHECK_EQ(vt_write(hy, "CONNECT 1240\n", 13), 13);
    CHECK_EQ(shutdown(hy, SHUT_RD), 0);
    gs_conn *a = NULL;
    WAIT_FLOW(s, f, T, (a = gs_accept(s, 1240)) != NULL, "the guest to accept the CONNECT of a client that reads nothing", ok);
    if (a != NULL) {
        gsent = 0;
        WAIT_FLOW(s, f, T, (send_pattern(s, a, 35, &gsent, 16384), (a->peer_shutdown & VSN_VIRTIO_VSOCK_SHUTDOWN_RCV) != 0 || a->rst_received),
                  "SHUTDOWN(RCV) when the OK line cannot be written", ok);
        CHECK_EQ(a->peer_shutdown, VSN_VIRTIO_VSOCK_SHUTDOWN_RCV);
        CHECK_EQ(vt_write(hy, "from-client", 11), 11);
        uint8_t got[16];
        size_t glen = 0;
        WAIT_FLOW(s, f, T, (glen += gs_recv(s, a, got + glen, sizeof got - glen), glen >= 11),
                  "the client's bytes after its OK failed", ok);
        CHECK(glen == 11 && memcmp(got, "from-client", 11) == 0);
        close(hy);
        wait_ended(s, f, a, base, "the end of the connection whose OK failed");
    } else {
        close(hy);
    }
    /* ... and one that leaves at once: whether the guest saw the REQUEST or not, it ends */
    hy = vt_unix_connect(g_uds);
    CHECK(hy >= 0);
    if (hy < 0)
        return;
    CHECK_EQ(vt_write(hy, "CONNECT 1240\n", 13), 13);
    close(hy);
    a = NULL;
    WAIT_FLOW(s, f, T, accepted_ended(s, 1240, &a, base), "the departed hybrid client's connection to end", ok);

    /* (d) the fd API: the program closes its end of vsn_device_connect before the guest could accept
     * (it ends either way), and its end of a vsn_device_listen connection while the guest sends */
    gs_listen(s, 1241);
    int vfd = -1;
    CHECK_EQ(vsn_device_connect(gs_device(s), 1241, VSN_VIRTIO_VSOCK_TYPE_STREAM, &vfd), 0);
    if (vfd >= 0)
        close(vfd);
    a = NULL;
    WAIT_FLOW(s, f, T, accepted_ended(s, 1241, &a, base), "the closed vsn_device_connect to end", ok);
    static vt_accepted acc = { .fd = -1 };
    CHECK_EQ(vsn_device_listen(gs_device(s), 6100, VSN_VIRTIO_VSOCK_TYPE_STREAM, vt_on_accept, &acc), 0);
    c = gs_connect(s, 6100, 0);
    WAIT_FLOW(s, f, T, c->state != GS_CONNECTING && acc.fd >= 0, "RESPONSE and the vsn_device_listen callback", ok);
    if (acc.fd >= 0) {
        gsent = 0;
        hrx = (vt_rx){ .seed = 37 };
        WAIT_FLOW(s, f, T, (send_pattern(s, c, 37, &gsent, 16384), read_pattern(acc.fd, &hrx, 8192, NULL, NULL),
                            hrx.got >= 50000),
                  "guest data at the vsn_device_listen fd", ok);
        close(acc.fd);
        WAIT_FLOW(s, f, T, (send_pattern(s, c, 37, &gsent, 16384), c->peer_shutdown != 0 || c->rst_received),
                  "SHUTDOWN or RST after the program closed its fd mid-transfer", ok);
        CHECK(!hrx.bad);
        wait_ended(s, f, c, base, "the end after the program closed its fd");
    }
    CHECK_EQ(vsn_device_unlisten(gs_device(s), 6100, VSN_VIRTIO_VSOCK_TYPE_STREAM), 0);
    flow_moves(s, f, "the flow after peers closed mid-transfer");
}

static void test_host_failures(int lfd)
{
    int before = sigpipe_action();
    gs_stack *s = make_stack(0, 0, 0);
    int loaded = sigpipe_action();
    printf("  SIGPIPE action before the library ran: %d, after: %d (0 default, 1 ignored, 2 handler)\n", before, loaded);
    signal(SIGPIPE, SIG_DFL); /* whatever the runtime did, the test runs with the default: death */
    flow f;
    flow_open(s, &f, lfd, 5000);
    test_unreachable_listeners(s, &f);
    test_peers_closing(s, &f, lfd);
    flow_close(s, &f);
    CHECK_EQ(sigpipe_action(), 0); /* still the default, and we are alive */
    gs_destroy(&s);
}

/* ---- 2. a host peer that never reads ------------------------------------------------------- */

#define SMALL_BUF 16384u

/* The largest buffered_to_host seen for guest_port, and whether it ever broke buf_alloc. */
static void sample_buffered(gs_stack *s, uint32_t guest_port, uint32_t *max_seen)
{
    vsn_connection_info i;
    if (conn_info(s, guest_port, 5000, &i) && i.buffered_to_host > *max_seen)
        *max_seen = i.buffered_to_host;
}

/* The guest sends pattern `seed` on c until it has no credit and `idle` pumps in a row changed
 * nothing (the host does not read hfd). */
static void fill_until_stalled(gs_stack *s, flow *f, gs_conn *c, uint64_t seed, uint64_t *sent, uint32_t *max_seen)
{
    bool ok;
    int idle = 0;
    WAIT_FLOW(s, f, 10000, (sample_buffered(s, c->guest_port, max_seen),
                            idle = send_pattern(s, c, seed, sent, 16384) > 0 ? 0 : idle + 1,
                            idle >= 300 && gs_peer_free(c) == 0),
              "the guest to stall against a host that never reads", ok);
}

static void test_host_never_reads(int lfd)
{
    bool ok;
    gs_stack *s = make_stack(SMALL_BUF, 0, 0);
    flow f;
    flow_open(s, &f, lfd, 5000);
    int hfd, hfd2;
    gs_conn *c = vt_connect_listener(s, lfd, 5000, VSN_VIRTIO_VSOCK_TYPE_STREAM, &hfd);
    gs_conn *c2 = vt_connect_listener(s, lfd, 5000, VSN_VIRTIO_VSOCK_TYPE_STREAM, &hfd2);
    if (c == NULL || c2 == NULL) {
        gs_destroy(&s);
        return;
    }
    CHECK_EQ(c->peer_buf_alloc, SMALL_BUF);
    uint64_t sent = 0;
    uint32_t max_seen = 0;
    fill_until_stalled(s, &f, c, 41, &sent, &max_seen);
    vsn_connection_info i;
    CHECK(conn_info(s, c->guest_port, 5000, &i));
    printf("  host never reads: guest stalled after %llu bytes; the device holds %u (buf_alloc %u), the socket the rest\n",
           (unsigned long long)sent, i.buffered_to_host, i.buf_alloc);
    CHECK_EQ(i.buf_alloc, SMALL_BUF);
    CHECK(i.buffered_to_host > 0);
    CHECK(i.buffered_to_host <= i.buf_alloc);
    CHECK(max_seen <= SMALL_BUF);
    CHECK_EQ(i.rx_cnt - i.fwd_cnt, i.buffered_to_host);
    CHECK_EQ(i.counters.bytes_from_guest, sent);
    CHECK_EQ(i.counters.credit_violations, 0);
    CHECK_EQ(i.state, VSN_CONN_STATE_ESTABLISHED);
    flow_moves(s, &f, "the flow beside a stalled connection");

    /* a guest that ignores the credit: 4 KiB beyond it on the second stalled connection -> RST;
     * the excess (another pattern) never reaches the host */
    uint64_t sent2 = 0;
    fill_until_stalled(s, &f, c2, 42, &sent2, &max_seen);
    CHECK(max_seen <= SMALL_BUF);
    struct vsn_virtio_vsock_hdr h;
    static uint8_t excess[4096];
    vt_pat_fill(4242, 0, excess, sizeof excess);
    gs_hdr(s, c2, &h, c2->guest_port, 5000, VSN_VIRTIO_VSOCK_OP_RW, sizeof excess, 0);
    CHECK_EQ(gs_send_raw(s, &h, excess, sizeof excess), 0);
    WAIT_FLOW(s, &f, T, c2->rst_received, "RST for RW beyond the advertised credit", ok);
    vt_rx r2 = { .seed = 42 };
    bool eof2 = false;
    int err2 = 0;
    WAIT_FLOW(s, &f, T, (read_pattern(hfd2, &r2, 1u << 20, &eof2, &err2), eof2 || err2),
              "host EOF after the credit violation", ok);
    CHECK(!r2.bad);            /* no byte of the excess arrived */
    CHECK(r2.got <= sent2);    /* at most what was sent within credit; the buffered rest was dropped */
    close(hfd2);
    /* the violation stays counted after its connection is freed */
    WAIT_FLOW(s, &f, T, !conn_info(s, c2->guest_port, 5000, &i), "the violating connection freed", ok);
    vsn_connection_counter_values e = ended(s);
    CHECK_EQ(e.credit_violations, 1);
    CHECK(e.resets_sent >= 1);
    CHECK(e.bytes_from_guest >= sent2);
    CHECK(e.bytes_to_host <= sent2);  /* the excess never reached the host */

    /* the host reads at last: every byte arrives, and the guest goes on to 2 MiB */
    vt_rx hrx = { .seed = 41 };
    uint64_t total = 2u << 20;
    WAIT_FLOW(s, &f, 30000, (sample_buffered(s, c->guest_port, &max_seen),
                             send_pattern(s, c, 41, &sent, total - sent), read_pattern(hfd, &hrx, 1u << 20, NULL, NULL),
                             hrx.got >= total),
              "every byte at the host once it reads", ok);
    CHECK_EQ(hrx.got, total);
    CHECK(!hrx.bad);
    CHECK(max_seen <= SMALL_BUF);
    CHECK_EQ(c->credit_violations, 0);
    CHECK(conn_info(s, c->guest_port, 5000, &i));
    CHECK_EQ(i.counters.credit_violations, 0);
    CHECK_EQ(i.buffered_to_host, 0);
    close(hfd);
    flow_close(s, &f);
    gs_destroy(&s);
}

/* ---- 3. a guest that never reads ----------------------------------------------------------- */

#define GUEST_BUF 32768u

static void test_guest_never_reads(int lfd)
{
    bool ok;
    gs_stack *s = make_stack(0, GUEST_BUF, 0);
    flow f;
    flow_open(s, &f, lfd, 5000);
    int hfd;
    gs_conn *c = vt_connect_listener(s, lfd, 5000, VSN_VIRTIO_VSOCK_TYPE_STREAM, &hfd);
    if (c == NULL) {
        gs_destroy(&s);
        return;
    }
    /* the host writes until the socket is full; the guest application reads nothing */
    uint64_t hsent = 0;
    ssize_t last = 0;
    WAIT_FLOW(s, &f, 10000, (last = write_pattern(hfd, 51, &hsent, 16384),
                             last == -EAGAIN && gs_rx_avail(c) == GUEST_BUF),
              "host EAGAIN with the guest's buffer full", ok);
    uint64_t requests = c->ops[VSN_VIRTIO_VSOCK_OP_CREDIT_REQUEST];
    uint64_t rw = c->ops[VSN_VIRTIO_VSOCK_OP_RW];
    /* nothing moves any more, however long the host keeps trying */
    for (int k = 0; k < 300; k++) {
        CHECK_EQ(write_pattern(hfd, 51, &hsent, 16384), -EAGAIN);
        flow_step(s, &f);
        gs_pump(s, 1);
    }
    vsn_connection_info i;
    CHECK(conn_info(s, c->guest_port, 5000, &i));
    printf("  guest never reads: host wrote %llu bytes before EAGAIN; the guest holds %u, the device %u (credit %u used of %u)\n",
           (unsigned long long)hsent, gs_rx_avail(c), i.tx_cnt - c->rx_cnt, i.tx_cnt - i.peer_fwd_cnt, i.peer_buf_alloc);
    CHECK_EQ(c->credit_violations, 0);
    CHECK_EQ(gs_rx_avail(c), GUEST_BUF);
    CHECK_EQ(c->ops[VSN_VIRTIO_VSOCK_OP_RW], rw);
    CHECK_EQ(i.peer_buf_alloc, GUEST_BUF);
    CHECK_EQ(i.peer_free, 0);
    CHECK_EQ(i.tx_cnt - i.peer_fwd_cnt, GUEST_BUF);
    CHECK_EQ(i.tx_cnt, c->rx_cnt);               /* nothing read from the host waits in the device */
    CHECK_EQ(i.counters.bytes_to_guest, c->rx_cnt);
    CHECK(requests >= 1);                         /* it asked for credit ... */
    CHECK_EQ(c->ops[VSN_VIRTIO_VSOCK_OP_CREDIT_REQUEST], requests); /* ... once per stall, no spinning */
    flow_moves(s, &f, "the flow beside a guest that never reads");

    /* the guest reads at last: every byte arrives, and the host goes on to 2 MiB */
    vt_rx grx = { .seed = 51 };
    uint64_t total = 2u << 20;
    WAIT_FLOW(s, &f, 30000, (write_pattern(hfd, 51, &hsent, total - hsent), recv_pattern(s, c, &grx), grx.got >= total),
              "every host byte in the guest once it reads", ok);
    CHECK_EQ(grx.got, total);
    CHECK(!grx.bad);
    CHECK_EQ(c->credit_violations, 0);
    close(hfd);
    flow_close(s, &f);
    gs_destroy(&s);
}

/* ---- 4. the hybrid line -------------------------------------------------------------------- */

/* A client of the hybrid socket that has written `line`. */
static int hybrid_client(const void *line, size_t n)
{
    int fd = vt_unix_connect(g_uds);
    CHECK(fd >= 0);
    if (fd >= 0 && n > 0)
        CHECK_EQ(vt_write(fd, line, n), (ssize_t)n);
    return fd;
}

/* Whether the device has closed client fd; *got counts what it sent first. */
static bool client_closed(int fd, size_t *got)
{
    uint8_t b[64];
    size_t len = 0;
    bool eof = false;
    int err = 0;
    vt_drain(fd, b, sizeof b, &len, &eof, &err);
    *got += len;
    return eof || err != 0;
}

struct hybrid_case {
    const char *what;
    const char *line;
    size_t len;
};

static void test_hybrid_line(int lfd)
{
    bool ok;
    gs_stack *s = make_stack(0, 0, 0);
    flow f;
    flow_open(s, &f, lfd, 5000);
    vsn_connection_layer_counter_values c0 = counters(s);
    uint32_t base = conn_total(s);

    /* the slow ones first, so their timeouts run while the rest happens */
    size_t got_slow = 0, got_silent = 0;
    int slow = hybrid_client("CONNECT 12", 10); /* never finishes its line */
    gs_listen_silent(s, 2345);
    uint64_t from = gs_log_next(s);
    int silent = hybrid_client("CONNECT 2345\n", 13); /* the guest never answers */
    WAIT_FLOW(s, &f, T, logged(s, from, VSN_VIRTIO_VSOCK_OP_REQUEST, 2345, ANY_PORT),
              "the REQUEST for the unanswered CONNECT to reach the guest", ok);

    static char longline[200];
    memset(longline, 'A', sizeof longline);
    static char longnl[100];
    memset(longnl, ' ', sizeof longnl);
    memcpy(longnl, "CONNECT ", 8);
    memcpy(longnl + sizeof longnl - 6, "1234\r\n", 6);
    static const char garbage[] = "\x01\xff\x7f GARBAGE \x00\x80\n";
    const struct hybrid_case cases[] = {
        { "garbage with a newline", garbage, sizeof garbage - 1 },
        { "an out-of-range port", "CONNECT 99999999999\n", 20 },
        { "a port just beyond u32", "CONNECT 4294967296\n", 19 },
        { "a negative port", "CONNECT -1\n", 11 },
        { "200 bytes with no newline", longline, sizeof longline },
        { "a 100-byte line", longnl, sizeof longnl },
        { "a client that closes before its newline", "CONNECT 1", 9 },
    };
    size_t nc = sizeof cases / sizeof cases[0];
    gs_listen(s, 1234);
    for (size_t k = 0; k < nc; k++) {
        uint64_t rejected = counters(s).handshakes_rejected;
        int fd = hybrid_client(cases[k].line, cases[k].len);
        if (fd < 0)
            continue;
        size_t got = 0;
        if (k == nc - 1) {
            close(fd); /* leaves: the device reads EOF before a line */
            WAIT_FLOW(s, &f, T, counters(s).handshakes_rejected == rejected + 1, cases[k].what, ok);
            continue;
        }
        WAIT_FLOW(s, &f, T, client_closed(fd, &got), cases[k].what, ok);
        CHECK_EQ(got, 0); /* no "OK" */
        CHECK_EQ(counters(s).handshakes_rejected, rejected + 1);
        CHECK(gs_accept(s, 1234) == NULL); /* nothing reached the guest */
        close(fd);
    }

    /* the guest refuses (nobody listens on 3456): closed, no "OK" */
    uint64_t refused = counters(s).host_connects_refused;
    int no = hybrid_client("CONNECT 3456\n", 13);
    size_t got_no = 0;
    WAIT_FLOW(s, &f, T, client_closed(no, &got_no), "a CONNECT the guest refuses to be closed", ok);
    CHECK_EQ(got_no, 0);
    CHECK_EQ(counters(s).host_connects_refused, refused + 1);
    close(no);
    flow_moves(s, &f, "the flow beside rejected hybrid clients");

    /* the timeouts: both still pending now, both closed without "OK" later */
    CHECK(!client_closed(slow, &got_slow));
    CHECK(!client_closed(silent, &got_silent));
    uint64_t h0 = f.hrx.got;
    WAIT_FLOW(s, &f, SLOW, client_closed(slow, &got_slow), "the unfinished line to be closed at the handshake timeout", ok);
    WAIT_FLOW(s, &f, SLOW, client_closed(silent, &got_silent), "the unanswered CONNECT to be closed at the connect timeout", ok);
    CHECK(f.hrx.got > h0); /* the flow moved while they waited */
    CHECK_EQ(got_slow, 0);
    CHECK_EQ(got_silent, 0);
    WAIT_FLOW(s, &f, T, logged(s, from, VSN_VIRTIO_VSOCK_OP_RST, 2345, ANY_PORT), "RST to the guest after the connect timeout", ok);
    close(slow);
    close(silent);
    vsn_connection_layer_counter_values c1 = counters(s);
    CHECK_EQ(c1.handshakes_rejected - c0.handshakes_rejected, nc + 1);
    CHECK_EQ(c1.host_connects_refused - c0.host_connects_refused, 2);
    WAIT_FLOW(s, &f, T, conn_total(s) == base, "only the flow's connection left", ok);
    flow_moves(s, &f, "the flow after the hybrid timeouts");
    /* a good client still works */
    int good = hybrid_client("CONNECT 1234\n", 13);
    gs_conn *a = NULL;
    WAIT_FLOW(s, &f, T, (a = gs_accept(s, 1234)) != NULL, "a good CONNECT after all the bad ones", ok);
    char line[32];
    size_t len = 0;
    bool eof = false;
    int err = 0;
    WAIT_FLOW(s, &f, T, (vt_drain(good, (uint8_t *)line, sizeof line - 1, &len, &eof, &err), memchr(line, '\n', len) != NULL),
              "OK for the good client", ok);
    CHECK(len >= 3 && memcmp(line, "OK ", 3) == 0);
    close(good);
    flow_close(s, &f);
    gs_destroy(&s);
}

/* ---- 5. the connection limit --------------------------------------------------------------- */

static void test_limits(int lfd)
{
    bool ok;
    gs_stack *s = make_stack(0, 0, 3);
    /* three connections of three kinds fill the limit */
    flow f;
    flow_open(s, &f, lfd, 5000);               /* guest-initiated */
    gs_listen(s, 1300);
    int hy = hybrid_client("CONNECT 1300\n", 13);  /* hybrid */
    gs_conn *ch = NULL;
    WAIT_FLOW(s, &f, T, (ch = gs_accept(s, 1300)) != NULL, "the hybrid connection", ok);
    int vfd = -1;
    CHECK_EQ(vsn_device_connect(gs_device(s), 1300, VSN_VIRTIO_VSOCK_TYPE_STREAM, &vfd), 0); /* fd API */
    gs_conn *cv = NULL;
    WAIT_FLOW(s, &f, T, (cv = gs_accept(s, 1300)) != NULL, "the vsn_device_connect connection", ok);
    if (f.c == NULL || ch == NULL || cv == NULL || hy < 0 || vfd < 0) {
        gs_destroy(&s);
        return;
    }
    CHECK_EQ(conn_total(s), 3);
    vsn_connection_layer_counter_values c0 = counters(s);

    /* beyond it: guest REQUEST -> RST, hybrid client closed, vsn_device_connect -EAGAIN; nothing reached a host */
    gs_conn *r = gs_connect(s, 5000, 0);
    WAIT_FLOW(s, &f, T, r->state != GS_CONNECTING, "RST for a REQUEST beyond max_connections", ok);
    CHECK_EQ(r->state, GS_REFUSED);
    gs_release(s, r);
    int extra = hybrid_client("CONNECT 1300\n", 13);
    size_t got = 0;
    WAIT_FLOW(s, &f, T, client_closed(extra, &got), "a hybrid client beyond max_connections to be closed", ok);
    CHECK_EQ(got, 0);
    close(extra);
    int nofd = -1;
    CHECK_EQ(vsn_device_connect(gs_device(s), 1300, VSN_VIRTIO_VSOCK_TYPE_STREAM, &nofd), -EAGAIN);
    CHECK_EQ(nofd, -1);
    vsn_connection_layer_counter_values c1 = counters(s);
    CHECK_EQ(c1.refused_limit - c0.refused_limit, 1);
    CHECK_EQ(c1.handshakes_rejected - c0.handshakes_rejected, 1);
    CHECK(gs_accept(s, 1300) == NULL);
    int stray = vt_accept(lfd);
    CHECK(stray < 0);
    if (stray >= 0)
        close(stray);
    CHECK_EQ(conn_total(s), 3);
    flow_moves(s, &f, "the flow at the connection limit");

    /* freeing makes room: one freed -> a guest REQUEST gets through ... */
    close(vfd);
    WAIT_FLOW(s, &f, T, (cv->rst_sent || cv->rst_received) && conn_total(s) == 2, "the vsn_device_connect connection to be freed", ok);
    int h2 = -1;
    gs_conn *g2 = vt_connect_listener(s, lfd, 5000, VSN_VIRTIO_VSOCK_TYPE_STREAM, &h2);
    CHECK(g2 != NULL);
    /* ... another freed -> a hybrid client gets its "OK" ... */
    if (g2 != NULL) {
        close(h2);
        WAIT_FLOW(s, &f, T, (g2->rst_sent || g2->rst_received) && conn_total(s) == 2, "the second guest connection to be freed", ok);
    }
    int hy2 = hybrid_client("CONNECT 1300\n", 13);
    gs_conn *ch2 = NULL;
    WAIT_FLOW(s, &f, T, (ch2 = gs_accept(s, 1300)) != NULL, "a hybrid connection after one was freed", ok);
    char line[32];
    size_t len = 0;
    bool eof = false;
    int err = 0;
    WAIT_FLOW(s, &f, T, (vt_drain(hy2, (uint8_t *)line, sizeof line - 1, &len, &eof, &err), memchr(line, '\n', len) != NULL || eof),
              "OK for the hybrid client after room was made", ok);
    CHECK(len >= 3 && memcmp(line, "OK ", 3) == 0);
    /* ... and once more -> vsn_device_connect succeeds */
    close(hy2);
    if (ch2 != NULL)
        WAIT_FLOW(s, &f, T, (ch2->rst_sent || ch2->rst_received) && conn_total(s) == 2, "the hybrid connection to be freed", ok);
    CHECK_EQ(vsn_device_connect(gs_device(s), 1300, VSN_VIRTIO_VSOCK_TYPE_STREAM, &vfd), 0);
    cv = NULL;
    WAIT_FLOW(s, &f, T, (cv = gs_accept(s, 1300)) != NULL, "vsn_device_connect after room was made", ok);
    CHECK_EQ(conn_total(s), 3);
    flow_moves(s, &f, "the flow after the limit was reached and relieved");
    close(vfd);
    close(hy);
    flow_close(s, &f);
    gs_destroy(&s);
}

/* ---- 6. no file descriptor left ----------------------------------------------------------- */

static int g_fillers[512], g_nfill;
static struct rlimit g_nofile;

/* Lowers RLIMIT_NOFILE to a little above the fds open now and takes every free fd below it, so this
 * process, and the device in it, can open no fd until fds_return(). */
static void fds_exhaust(void)
{
    int maxfd = 0;
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        if (atoi(e->d_name) > maxfd)
            maxfd = atoi(e->d_name);
    if (d != NULL)
        closedir(d);
    CHECK_EQ(getrlimit(RLIMIT_NOFILE, &g_nofile), 0);
    struct rlimit low = { (rlim_t)maxfd + 32, g_nofile.rlim_max };
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fd;
    g_nfill = 0;
    while (g_nfill < 512 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        g_fillers[g_nfill++] = fd;
    CHECK_EQ(errno, EMFILE);
}

static void fds_return(void)
{
    for (int i = 0; i < g_nfill; i++)
        close(g_fillers[i]);
    g_nfill = 0;
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &g_nofile), 0);
}

#define WAITING_CLIENTS 3

/* With RLIMIT_NOFILE reached in the device's process: guest REQUESTs get RST, counted as
 * refused_no_resources; vsn_device_connect returns -EMFILE; hybrid clients wait in the listener's
 * backlog without the loop retrying accept at every turn (a readable listener whose accept fails
 * with EMFILE makes a level-triggered loop spin); the established flow keeps moving. When fds
 * come back, the waiting clients are served and guest REQUESTs get through again. */
static void test_fds_exhausted(int lfd)
{
    bool ok;
    gs_stack *s = make_stack(0, 0, 0);
    flow f;
    flow_open(s, &f, lfd, 5000);
    gs_listen(s, 1250);
    int cl[WAITING_CLIENTS]; /* made while fds remain; they connect once none is left */
    for (int i = 0; i < WAITING_CLIENTS; i++)
        cl[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un ua;
    CHECK_EQ(vt_unix_addr(g_uds, &ua), 0);
    flow_moves(s, &f, "the flow before the fds run out");
    vsn_connection_layer_counter_values c0 = counters(s);
    vsn_resource_counter_values r0 = device_counters(s).resources;

    fds_exhaust();
    for (int i = 0; i < 3; i++) {
        gs_conn *r = gs_connect(s, 5000, 0);
        CHECK(r != NULL);
        if (r == NULL)
            break;
        WAIT_FLOW(s, &f, T, r->state != GS_CONNECTING, "RST for a REQUEST with no fd left", ok);
        CHECK_EQ(r->state, GS_REFUSED);
        gs_release(s, r);
    }
    vsn_connection_layer_counter_values c1 = counters(s);
    CHECK_EQ(device_counters(s).resources.refused_no_resources - r0.refused_no_resources, 3);
    CHECK_EQ(c1.refused_no_listener, c0.refused_no_listener);
    int vfd = -1;
    CHECK_EQ(vsn_device_connect(gs_device(s), 1250, VSN_VIRTIO_VSOCK_TYPE_STREAM, &vfd), -EMFILE);
    CHECK_EQ(vfd, -1);
    for (int i = 0; i < WAITING_CLIENTS; i++) {
        CHECK_EQ(connect(cl[i], (struct sockaddr *)&ua, sizeof ua), 0); /* into the backlog: no fd needed */
        CHECK_EQ(vt_write(cl[i], "CONNECT 1250\n", 13), 13);
    }
    flow_moves(s, &f, "the flow with no fd left and clients waiting");
    /* The loop's turns while the backlog waits and accept cannot succeed: the accept attempts (and
     * every other syscall but the loop's own epoll_wait) stay few, however many turns go by. */
    vsn_device_counters d0 = device_counters(s);
    for (int k = 0; k < 200; k++)
        gs_pump(s, 1);
    vsn_device_counters d1 = device_counters(s);
    uint64_t tries = d1.syscalls.other - d0.syscalls.other;
    printf("  no fd left: 200 loop turns with %d clients in the backlog: %llu accept (other) syscalls, "
           "%llu epoll_wait; accept paused %llu time(s)\n", WAITING_CLIENTS, (unsigned long long)tries,
           (unsigned long long)(d1.syscalls.epoll_wait - d0.syscalls.epoll_wait),
           (unsigned long long)d1.resources.accept_pauses);
    CHECK(tries < 40);
    CHECK_EQ(d1.resources.accept_pauses - r0.accept_pauses, 1);
    CHECK(gs_accept(s, 1250) == NULL);
    flow_moves(s, &f, "the flow after 200 idle turns with no fd left");

    fds_return();
    for (int i = 0; i < WAITING_CLIENTS; i++) {
        gs_conn *a = NULL;
        WAIT_FLOW(s, &f, T, (a = gs_accept(s, 1250)) != NULL, "a waiting hybrid client served once fds came back", ok);
        char line[32];
        size_t len = 0;
        bool eof = false;
        int err = 0;
        WAIT_FLOW(s, &f, T, (vt_drain(cl[i], (uint8_t *)line, sizeof line - 1, &len, &eof, &err), memchr(line, '\n', len) != NULL || eof),
                  "OK for a client that waited", ok);
        CHECK(len >= 3 && memcmp(line, "OK ", 3) == 0);
        close(cl[i]);
    }
    int hfd = -1;
    gs_conn *c = vt_connect_listener(s, lfd, 5000, VSN_VIRTIO_VSOCK_TYPE_STREAM, &hfd);
    CHECK(c != NULL);
    if (c != NULL) {
        close(hfd);
        VT_WAIT(s, T, c->rst_sent || c->rst_received, "the connection made after fds came back to end", ok);
    }
    flow_moves(s, &f, "the flow after fds came back");
    flow_close(s, &f);
    gs_destroy(&s);
}

/* ---- 7. TRANSPORT_RESET during traffic --------------------------------------------------------- */

#define RESET_FLOWS 4

/* Four connections moving data both ways; vsn_device_transport_reset in the middle: the guest resets
 * every connection (the event), each host stream ends, what the host received is intact and at least
 * what the device had acknowledged to the guest (its fwd_cnt); the device holds no connection, then
 * serves a new one. */
static void test_transport_reset_traffic(int lfd)
{
    bool ok;
    gs_stack *s = make_stack(0, 0, 0);
    flow fl[RESET_FLOWS];
    for (int i = 0; i < RESET_FLOWS; i++)
        flow_open(s, &fl[i], lfd, 5000);
    for (int k = 0; k < 200; k++) {
        for (int i = 0; i < RESET_FLOWS; i++)
            flow_step(s, &fl[i]);
        gs_pump(s, 0);
    }
    /* more in flight, unread at the host, with nothing pumped in between for one of them */
    for (int i = 0; i < RESET_FLOWS; i++) {
        if (fl[i].c != NULL)
            send_pattern(s, fl[i].c, 901, &fl[i].gsent, 65536);
        if (i == 0)
            gs_pump(s, 0);
    }
    uint32_t acked[RESET_FLOWS];
    for (int i = 0; i < RESET_FLOWS; i++) {
        CHECK(fl[i].c != NULL && fl[i].hrx.got > 0 && fl[i].grx.got > 0);
        if (fl[i].c == NULL) {
            gs_destroy(&s);
            return;
        }
        acked[i] = fl[i].c->peer_fwd_cnt;
    }
    vsn_connection_layer_counter_values c0 = counters(s);
    CHECK_EQ(vsn_device_transport_reset(gs_device(s)), 0);
    VT_WAIT(s, T, gs_get_stats(s)->transport_resets == 1, "the TRANSPORT_RESET event during traffic", ok);
    for (int i = 0; i < RESET_FLOWS; i++) {
        flow *f = &fl[i];
        CHECK_EQ(f->c->state, GS_RESET);
        bool eof = false;
        int err = 0;
        VT_WAIT(s, T, (read_pattern(f->fd, &f->hrx, 1u << 20, &eof, &err), eof || err), "the host stream to end after the reset", ok);
        CHECK(!f->hrx.bad && !f->grx.bad);
        CHECK(f->hrx.got >= acked[i]);
        CHECK(f->hrx.got <= f->gsent);
        printf("  transport reset: connection %d: host got %llu bytes intact (acknowledged %u, sent %llu)\n", i,
               (unsigned long long)f->hrx.got, acked[i], (unsigned long long)f->gsent);
        close(f->fd);
        gs_release(s, f->c);
        f->c = NULL;
    }
    CHECK_EQ(conn_total(s), 0);
    vsn_connection_layer_counter_values c1 = counters(s);
    CHECK_EQ(c1.connections_opened, c1.connections_closed);
    CHECK_EQ(c1.connections_closed - c0.connections_closed, RESET_FLOWS);
    flow f;
    flow_open(s, &f, lfd, 5000);
    flow_moves(s, &f, "a new connection after the transport reset");
    flow_close(s, &f);
    gs_destroy(&s);
}

/* ---- 8. a guest whose rx ring stays empty ---------------------------------------------------- */

/* The guest posts no rx buffers (its ring empty) while the host peers of four connections write until
 * their sockets are full, and for 500 loop turns after: the device does not keep reading what it
 * cannot deliver (socket reads flat), nor does the process grow; the host peers' writes only block.
 * When the guest posts buffers again, every byte each host wrote arrives. */
static void test_rx_ring_empty(int lfd)
{
    bool ok;
    gs_config cfg = gs_config_default();
    cfg.uds_path = g_uds;
    cfg.rx_bufs = 32; /* fewer than one connection's credit fills */
    gs_stack *s = vt_create_stack(&cfg, "vsock_hostile");
    flow fl[RESET_FLOWS];
    for (int i = 0; i < RESET_FLOWS; i++)
        flow_open(s, &fl[i], lfd, 5000);
    gs_rx_hold(s, true);
    VT_WAIT(s, T, (write_pattern(fl[0].fd, 902, &fl[0].hsent, 16384), gs_rx_posted(s) == 0),
            "the device to use every posted rx buffer", ok);
    /* every host peer writes until its socket is full */
    for (int i = 0; i < RESET_FLOWS; i++) {
        int idle = 0;
        VT_WAIT(s, 10000, (idle = write_pattern(fl[i].fd, 902, &fl[i].hsent, 16384) == -EAGAIN ? idle + 1 : 0, idle >= 50),
                "a host peer's socket to fill", ok);
    }
    long rss0 = -1;
    vsn_device_counters d0 = device_counters(s);
    FILE *st = fopen("/proc/self/statm", "r");
    if (st != NULL) {
        CHECK(fscanf(st, "%*d %ld", &rss0) == 1);
        fclose(st);
    }
    int64_t t0 = gs_now_ms();
    for (int k = 0; k < 500; k++) {
        for (int i = 0; i < RESET_FLOWS; i++)
            CHECK_EQ(write_pattern(fl[i].fd, 902, &fl[i].hsent, 16384), -EAGAIN);
        gs_pump(s, 2);
    }
    int64_t dt = gs_now_ms() - t0;
    vsn_device_counters d1 = device_counters(s);
    long rss1 = -1;
    st = fopen("/proc/self/statm", "r");
    if (st != NULL) {
        CHECK(fscanf(st, "%*d %ld", &rss1) == 1);
        fclose(st);
    }
    uint64_t held = 0;
    for (int i = 0; i < RESET_FLOWS; i++)
        held += fl[i].hsent - fl[i].grx.got;
    printf("  rx ring empty: %llu bytes written by the host peers wait; 500 turns (%lld ms): %llu socket reads, %llu other syscalls, "
           "RSS %+ld pages\n", (unsigned long long)held, (long long)dt,
           (unsigned long long)(d1.syscalls.socket_reads - d0.syscalls.socket_reads),
           (unsigned long long)(d1.syscalls.other - d0.syscalls.other), rss1 - rss0);
    CHECK(d1.syscalls.socket_reads - d0.syscalls.socket_reads < 10);
    CHECK(rss1 - rss0 < 256); /* 1 MiB */
    gs_rx_hold(s, false);
    gs_rx_post(s, 1000);
    for (int i = 0; i < RESET_FLOWS; i++) {
        flow *f = &fl[i];
        VT_WAIT(s, 30000, (recv_pattern(s, f->c, &f->grx), f->grx.got == f->hsent), "every byte the host wrote, once rx buffers came back", ok);
        CHECK(!f->grx.bad);
        CHECK_EQ(f->c->credit_violations, 0);
    }
    for (int i = 0; i < RESET_FLOWS; i++)
        flow_moves(s, &fl[i], "a flow after the rx ring was empty");
    for (int i = 0; i < RESET_FLOWS; i++)
        flow_close(s, &fl[i]);
    gs_destroy(&s);
}

#define CASES(X) \
    X(host_failures, test_host_failures(lfd)) \
    X(host_never_reads, test_host_never_reads(lfd)) \
    X(guest_never_reads, test_guest_never_reads(lfd)) \
    X(hybrid_line, test_hybrid_line(lfd)) \
    X(limits, test_limits(lfd)) \
    X(fds_exhausted, test_fds_exhausted(lfd)) \
    X(transport_reset_traffic, test_transport_reset_traffic(lfd)) \
    X(rx_ring_empty, test_rx_ring_empty(lfd))
static const char *const CASE_NAMES[] = { CASES(VSN_CASE_NAME) };

int main(int argc, char **argv)
{
    VSN_CASES_INIT(argc, argv, CASE_NAMES);
    strcpy(g_dir, "/tmp/vsn_hostileXXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(g_uds, sizeof g_uds, "%s/vsock", g_dir);
    char p[160];
    port_path(p, sizeof p, 5000);
    int lfd = vt_unix_listen(p);
    CHECK(lfd >= 0);
    if (lfd < 0)
        return vsn_check_summary("vsock_hostile");

    CASES(VSN_CASE_RUN)

    close(lfd);
    unlink(p);
    unlink(g_uds);
    rmdir(g_dir);
    return vsn_check_summary("vsock_hostile");
}
