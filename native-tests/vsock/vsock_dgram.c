/*
 * vsock_dgram.c — datagrams (VIRTIO_VSOCK_F_DGRAM) end to end, from the C guest stack to real
 * host sockets, on both queue layouts (the 2023 proposal's shared rx/tx queues and the 2021
 * proposal's five queues). Every datagram is pattern-checked byte by byte and its length exact.
 *
 * Sections, per layout: guest->host to "<uds>_P" from "<uds>-G" (sizes 1 .. 64 KiB, fragmented by
 * the guest) and the host's reply with sendto to the address recvfrom gave (fragmented by the
 * device into 4 KiB rx buffers); send-first through the hub "<uds>_dgram" with a vsn_dgram_addr
 * prefix; vsn_device_listen(P, DGRAM) (prefix) and vsn_device_connect(G, DGRAM) (no prefix); too big each way
 * (dropped, counted); RST when nothing is bound (device -> guest) and the guest's RST counted;
 * a host socket that does not read (guest datagrams dropped as no_rx_space, nothing else lost);
 * a partial datagram that never ends (reassembly timeout) and one interrupted by another
 * datagram (malformed); malformed datagram packets; the guest's tx queue full (-EAGAIN, no partial
 * datagram queued, everything accepted arrives). Shared layout only: host->guest backpressure
 * (the guest posts no rx buffers: the program's writes end in EAGAIN; everything written arrives).
 */
#include "guest_stack.h"
#include "vsn_check.h"
#include "vt_util.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define T 5000

static char g_dir[64];
static char g_uds[128];
static uint8_t g_buf[GS_DGRAM_MAX + 64], g_pat[GS_DGRAM_MAX + 64];

static vsn_dgram_counter_values dg(gs_stack *s)
{
    vsn_device_counters c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    CHECK_EQ(vsn_device_get_counters(gs_device(s), &c), 0);
    return c.datagrams;
}

static int hsock(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof a.sun_path)
        return -1;
    memcpy(a.sun_path, path, strlen(path) + 1);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("bind");
        close(fd);
        return -1;
    }
    return fd;
}

static void port_path(char *out, size_t cap, char sep, uint32_t port)
{
    snprintf(out, cap, "%s%c%u", g_uds, sep, port);
}

/* Receives one datagram on a host socket within the deadline (pumping the guest): its length or -1. */
static ssize_t host_recv(gs_stack *s, int fd, uint8_t *buf, size_t cap, struct sockaddr_un *from)
{
    ssize_t n = -1;
    socklen_t fl = sizeof *from;
    bool ok;
    VT_WAIT(s, T, (fl = sizeof *from, n = recvfrom(fd, buf, cap, MSG_TRUNC, (struct sockaddr *)from, &fl)) >= 0,
            "a datagram on a host socket", ok);
    return ok ? n : -1;
}

static int guest_recv(gs_stack *s, uint32_t *src, uint32_t *dst, uint8_t *buf, uint32_t cap)
{
    int n = -EAGAIN;
    bool ok;
    VT_WAIT(s, T, (n = gs_dgram_recv(s, src, dst, buf, cap)) >= 0, "a datagram in the guest", ok);
    return ok ? n : -1;
}

static void check_pattern(uint64_t seed, const uint8_t *p, size_t n)
{
    size_t bad = vt_pat_check(seed, 0, p, n);
    if (bad != n)
        fprintf(stderr, "datagram seed %llu: wrong byte at %zu of %zu\n", (unsigned long long)seed, bad, n);
    CHECK_EQ(bad, n);
}

/* Waits until nothing moves for a few rounds. */
static void settle(gs_stack *s)
{
    int idle = 0;
    int64_t dl = gs_now_ms() + T;
    while (idle < 5 && gs_now_ms() < dl)
        idle = gs_pump(s, 1) == 0 ? idle + 1 : 0;
}

static const uint32_t k_sizes[] = { 0, 1, 100, 4051, 4052, 4053, 4096, 8192, 30000, 65535, 65536 };
#define NSIZES (sizeof k_sizes / sizeof k_sizes[0])

/* Guest port 6000 <-> "<uds>_7000": every size each way, boundaries and bytes exact; the reply goes
 * to the address recvfrom named ("<uds>-6000"). */
static void test_roundtrip(gs_stack *s)
{
    char p7000[160], g6000[160];
    port_path(p7000, sizeof p7000, '_', 7000);
    port_path(g6000, sizeof g6000, '-', 6000);
    int h = hsock(p7000);
    CHECK(h >= 0);
    vsn_dgram_counter_values c0 = dg(s);
    uint64_t bytes = 0, frags_rx0 = gs_get_stats(s)->dgram_rx_frags, frags_expect = 0;
    for (size_t i = 0; i < NSIZES; i++) {
        uint32_t len = k_sizes[i];
        vt_pat_fill(100 + i, 0, g_pat, len);
        CHECK_EQ(gs_dgram_send(s, 6000, 7000, g_pat, len, 4096), 0);
        struct sockaddr_un from;
        ssize_t n = host_recv(s, h, g_buf, sizeof g_buf, &from);
        CHECK_EQ(n, len);
        if (n == (ssize_t)len)
            check_pattern(100 + i, g_buf, len);
        CHECK(strcmp(from.sun_path, g6000) == 0);
        /* the reply: sendto the address recvfrom gave */
        vt_pat_fill(200 + i, 0, g_pat, len);
        CHECK_EQ(sendto(h, g_pat, len, 0, (struct sockaddr *)&from, sizeof from), len);
        uint32_t src = 0, dst = 0;
        int m = guest_recv(s, &src, &dst, g_buf, sizeof g_buf);
        CHECK_EQ(m, len);
        CHECK_EQ(src, 7000);
        CHECK_EQ(dst, 6000);
        if (m == (int)len)
            check_pattern(200 + i, g_buf, len);
        bytes += len;
        frags_expect += len == 0 ? 1 : (len + 4051) / 4052; /* 4096-byte rx buffers, 44-byte headers */
    }
    vsn_dgram_counter_values c1 = dg(s);
    CHECK_EQ(c1.guest_to_host_datagrams - c0.guest_to_host_datagrams, NSIZES);
    CHECK_EQ(c1.guest_to_host_bytes - c0.guest_to_host_bytes, bytes);
    CHECK_EQ(c1.host_to_guest_datagrams - c0.host_to_guest_datagrams, NSIZES);
    CHECK_EQ(c1.host_to_guest_bytes - c0.host_to_guest_bytes, bytes);
    CHECK_EQ(gs_get_stats(s)->dgram_rx_frags - frags_rx0, frags_expect);
    CHECK_EQ(c1.fragments_sent - c0.fragments_sent, frags_expect);
    close(h);
    unlink(p7000);
}

/* A host program that sends first: bound at "<uds>_7001", it sends prefix{6000} + payload to the hub. */
static void test_hub(gs_stack *s)
{
    char p7001[160], hub[160], g6000[160];
    port_path(p7001, sizeof p7001, '_', 7001);
    snprintf(hub, sizeof hub, "%s_dgram", g_uds);
    port_path(g6000, sizeof g6000, '-', 6000);
    int h = hsock(p7001);
    struct sockaddr_un to = { .sun_family = AF_UNIX };
    memcpy(to.sun_path, hub, strlen(hub) + 1);
    vsn_dgram_addr a = { .port = htole32(6000), .reserved = 0 };
    memcpy(g_pat, &a, sizeof a);
    vt_pat_fill(300, 0, g_pat + sizeof a, 5000);
    CHECK_EQ(sendto(h, g_pat, sizeof a + 5000, 0, (struct sockaddr *)&to, sizeof to), sizeof a + 5000);
    uint32_t src = 0, dst = 0;
    CHECK_EQ(guest_recv(s, &src, &dst, g_buf, sizeof g_buf), 5000);
    CHECK_EQ(src, 7001);
    CHECK_EQ(dst, 6000);
    check_pattern(300, g_buf, 5000);
    /* the guest answers; it comes from "<uds>-6000" */
    vt_pat_fill(301, 0, g_pat, 77);
    CHECK_EQ(gs_dgram_send(s, 6000, 7001, g_pat, 77, 0), 0);
    struct sockaddr_un from;
    CHECK_EQ(host_recv(s, h, g_buf, sizeof g_buf, &from), 77);
    check_pattern(301, g_buf, 77);
    CHECK(strcmp(from.sun_path, g6000) == 0);
    /* an unbound sender cannot name its host port: dropped, counted */
    uint64_t hm = dg(s).host_malformed;
    int anon = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK_EQ(sendto(anon, g_pat, sizeof a + 10, 0, (struct sockaddr *)&to, sizeof to), sizeof a + 10);
    bool ok;
    VT_WAIT(s, T, dg(s).host_malformed == hm + 1, "host_malformed for an unbound hub sender", ok);
    close(anon);
    close(h);
    unlink(p7001);
}

static int g_listen_fd = -1;
static uint32_t g_listen_guest_port;

static void on_accept(void *user, uint32_t port, uint32_t guest_port, int fd)
{
    (void)user;
    CHECK_EQ(port, 8000);
    g_listen_guest_port = guest_port;
    g_listen_fd = fd;
}

static void test_fd_api(gs_stack *s)
{
    bool ok;
    CHECK_EQ(vsn_device_listen(gs_device(s), 8000, VSN_VIRTIO_VSOCK_TYPE_DGRAM, on_accept, NULL), 0);
    CHECK_EQ(vsn_device_listen(gs_device(s), 8000, VSN_VIRTIO_VSOCK_TYPE_DGRAM, on_accept, NULL), -EEXIST);
    vt_pat_fill(400, 0, g_pat, 65536);
    CHECK_EQ(gs_dgram_send(s, 6000, 8000, g_pat, 65536, 0), 0);
    VT_WAIT(s, T, g_listen_fd >= 0, "the vsn_device_listen callback", ok);
    CHECK_EQ(g_listen_guest_port, 6000);
    ssize_t n = -1;
    VT_WAIT(s, T, (n = recv(g_listen_fd, g_buf, sizeof g_buf, 0)) >= 0, "a datagram on the listen fd", ok);
    CHECK_EQ(n, (ssize_t)sizeof(vsn_dgram_addr) + 65536);
    vsn_dgram_addr a;
    memcpy(&a, g_buf, sizeof a);
    CHECK_EQ(le32toh(a.port), 6000);
    CHECK_EQ(a.reserved, 0);
    check_pattern(400, g_buf + sizeof a, 65536);
    /* the program answers guest port 6000 through the prefix */
    memcpy(g_pat, &a, sizeof a);
    vt_pat_fill(401, 0, g_pat + sizeof a, 1234);
    CHECK_EQ(send(g_listen_fd, g_pat, sizeof a + 1234, 0), sizeof a + 1234);
    uint32_t src = 0, dst = 0;
    CHECK_EQ(guest_recv(s, &src, &dst, g_buf, sizeof g_buf), 1234);
    CHECK_EQ(src, 8000);
    CHECK_EQ(dst, 6000);
    check_pattern(401, g_buf, 1234);
    /* a datagram shorter than the prefix: dropped, counted */
    uint64_t hm = dg(s).host_malformed;
    CHECK_EQ(send(g_listen_fd, g_pat, 3, 0), 3);
    VT_WAIT(s, T, dg(s).host_malformed == hm + 1, "host_malformed for a short datagram", ok);
    CHECK_EQ(vsn_device_unlisten(gs_device(s), 8000, VSN_VIRTIO_VSOCK_TYPE_DGRAM), 0);
    CHECK_EQ(vsn_device_unlisten(gs_device(s), 8000, VSN_VIRTIO_VSOCK_TYPE_DGRAM), -ENOENT);
    close(g_listen_fd);
    g_listen_fd = -1;

    /* vsn_device_connect: no prefix, bound to guest port 6000 */
    int fd = -1;
    CHECK_EQ(vsn_device_connect(gs_device(s), 6000, VSN_VIRTIO_VSOCK_TYPE_DGRAM, &fd), 0);
    vt_pat_fill(402, 0, g_pat, 40000);
    CHECK_EQ(send(fd, g_pat, 40000, 0), 40000);
    CHECK_EQ(guest_recv(s, &src, &dst, g_buf, sizeof g_buf), 40000);
    CHECK_EQ(dst, 6000);
    CHECK(src >= (1u << 30));
    check_pattern(402, g_buf, 40000);
    vt_pat_fill(403, 0, g_pat, 999);
    CHECK_EQ(gs_dgram_send(s, 6000, src, g_pat, 999, 0), 0);
    VT_WAIT(s, T, (n = recv(fd, g_buf, sizeof g_buf, 0)) >= 0, "a datagram on the vsn_device_connect fd", ok);
    CHECK_EQ(n, 999);
    check_pattern(403, g_buf, 999);
    /* another guest port to that host port: nobody there, RST */
    uint64_t rst = gs_get_stats(s)->dgram_rst_rx;
    CHECK_EQ(gs_dgram_send(s, 6005, src, g_pat, 10, 0), 0);
    VT_WAIT(s, T, gs_get_stats(s)->dgram_rst_rx == rst + 1, "RST for a datagram to a bound pair from another port", ok);
    close(fd);
}

static void test_drops(gs_stack *s)
{
    bool ok;
    char p7000[160];
    port_path(p7000, sizeof p7000, '_', 7000);
    int h = hsock(p7000);
    struct vsn_virtio_vsock_hdr hd;
    /* too big, guest->host: 17 fragments of 4096 bytes (69632 > 65536) -> dropped, counted; the
     * next datagram goes through */
    vsn_dgram_counter_values c0 = dg(s);
    memset(g_pat, 0x5a, 4096);
    for (int i = 0; i < 17; i++) {
        gs_hdr(s, NULL, &hd, 6000, 7000, VSN_VIRTIO_VSOCK_OP_RW, 4096, i == 16 ? VSN_VIRTIO_VSOCK_DGRAM_EOM : 0);
        hd.type = htole16(VSN_VIRTIO_VSOCK_TYPE_DGRAM);
        CHECK_EQ(gs_dgram_send_raw(s, &hd, g_pat, 4096), 0);
        gs_pump(s, 0);
    }
    vt_pat_fill(500, 0, g_pat, 3000);
    CHECK_EQ(gs_dgram_send(s, 6000, 7000, g_pat, 3000, 1000), 0);
    struct sockaddr_un from;
    CHECK_EQ(host_recv(s, h, g_buf, sizeof g_buf, &from), 3000);
    check_pattern(500, g_buf, 3000);
    CHECK_EQ(dg(s).dropped_too_big - c0.dropped_too_big, 1);
    /* too big, host->guest: 65537 bytes */
    uint64_t rx0 = gs_get_stats(s)->dgram_rx;
    CHECK_EQ(sendto(h, g_pat, 65537, 0, (struct sockaddr *)&from, sizeof from), 65537);
    VT_WAIT(s, T, dg(s).dropped_too_big - c0.dropped_too_big == 2, "dropped_too_big for a host datagram", ok);
    settle(s);
    CHECK_EQ(gs_get_stats(s)->dgram_rx, rx0);
    /* nothing bound at the host port: RST to the guest's ports, counted */
    c0 = dg(s);
    uint64_t rst = gs_get_stats(s)->dgram_rst_rx;
    CHECK_EQ(gs_dgram_send(s, 6000, 7999, g_pat, 10, 0), 0);
    VT_WAIT(s, T, gs_get_stats(s)->dgram_rst_rx == rst + 1, "DGRAM RST for an unbound host port", ok);
    CHECK_EQ(gs_get_stats(s)->dgram_last_rst_src, 7999);
    CHECK_EQ(gs_get_stats(s)->dgram_last_rst_dst, 6000);
    CHECK_EQ(dg(s).dropped_no_listener - c0.dropped_no_listener, 1);
    CHECK_EQ(dg(s).rst_sent - c0.rst_sent, 1);
    /* the host sends to a guest port nobody bound: the guest's RST is counted by the device */
    char g6001[160];
    port_path(g6001, sizeof g6001, '-', 6001);
    CHECK_EQ(gs_dgram_send(s, 6001, 7000, g_pat, 5, 0), 0); /* makes "<uds>-6001" */
    CHECK_EQ(host_recv(s, h, g_buf, sizeof g_buf, &from), 5);
    CHECK_EQ(sendto(h, g_pat, 5, 0, (struct sockaddr *)&from, sizeof from), 5); /* 6001 is not bound in the guest */
    VT_WAIT(s, T, dg(s).rst_received == c0.rst_received + 1, "the guest's DGRAM RST counted", ok);
    /* a partial datagram that never ends: dropped at the reassembly timeout */
    c0 = dg(s);
    gs_hdr(s, NULL, &hd, 6000, 7000, VSN_VIRTIO_VSOCK_OP_RW, 100, 0);
    hd.type = htole16(VSN_VIRTIO_VSOCK_TYPE_DGRAM);
    CHECK_EQ(gs_dgram_send_raw(s, &hd, g_pat, 100), 0);
    VT_WAIT(s, 3000, dg(s).dropped_reassembly_timeout == c0.dropped_reassembly_timeout + 1, "reassembly timeout", ok);
    /* a partial datagram interrupted by another datagram: the partial one is malformed, the other arrives */
    CHECK_EQ(gs_dgram_send_raw(s, &hd, g_pat, 100), 0);
    vt_pat_fill(501, 0, g_pat, 700);
    CHECK_EQ(gs_dgram_send(s, 6002, 7000, g_pat, 700, 0), 0);
    CHECK_EQ(host_recv(s, h, g_buf, sizeof g_buf, &from), 700);
    check_pattern(501, g_buf, 700);
    CHECK_EQ(dg(s).dropped_malformed, c0.dropped_malformed + 1);
    /* malformed datagram packets: REQUEST, unknown flag, len not what follows */
    struct { uint16_t op; uint32_t len, flags, plen; } bad[] = {
        { VSN_VIRTIO_VSOCK_OP_REQUEST, 0, 0, 0 },
        { VSN_VIRTIO_VSOCK_OP_RW, 4, 2 | VSN_VIRTIO_VSOCK_DGRAM_EOM, 4 },
        { VSN_VIRTIO_VSOCK_OP_RW, 9, VSN_VIRTIO_VSOCK_DGRAM_EOM, 4 },
        { VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0, 0 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t m = dg(s).dropped_malformed;
        gs_hdr(s, NULL, &hd, 6000, 7000, bad[i].op, bad[i].len, bad[i].flags);
        hd.type = htole16(VSN_VIRTIO_VSOCK_TYPE_DGRAM);
        CHECK_EQ(gs_dgram_send_raw(s, &hd, g_pat, bad[i].plen), 0);
        VT_WAIT(s, T, dg(s).dropped_malformed == m + 1, "dropped_malformed", ok);
    }
    settle(s);
    CHECK(recv(h, g_buf, sizeof g_buf, 0) < 0); /* none of them reached the host */
    close(h);
    unlink(p7000);
}

/* A host socket that never reads: its queue fills, the device drops what does not fit (counted
 * no_rx_space) and never blocks; received + dropped = sent. */
static void test_host_full(gs_stack *s)
{
    char p7002[160];
    port_path(p7002, sizeof p7002, '_', 7002);
    int h = hsock(p7002);
    vsn_dgram_counter_values c0 = dg(s);
    uint32_t sent = 0;
    memset(g_pat, 1, 60000);
    for (int i = 0; i < 64; i++) {
        if (gs_dgram_send(s, 6000, 7002, g_pat, 60000, 0) == 0)
            sent++;
        settle(s);
    }
    uint32_t got = 0;
    while (recv(h, g_buf, sizeof g_buf, 0) == 60000)
        got++;
    vsn_dgram_counter_values c1 = dg(s);
    CHECK(c1.dropped_no_rx_space - c0.dropped_no_rx_space > 0);
    CHECK_EQ(c1.dropped_no_rx_space - c0.dropped_no_rx_space + got, sent);
    CHECK_EQ(c1.guest_to_host_datagrams - c0.guest_to_host_datagrams, got);
    fprintf(stderr, "  host socket not reading: %u sent, %u received, %llu dropped (no_rx_space)\n", sent, got,
            (unsigned long long)(c1.dropped_no_rx_space - c0.dropped_no_rx_space));
    close(h);
    unlink(p7002);
}

/* Shared layout: the guest posts no rx buffers; the program's writes end in EAGAIN (backpressure),
 * the device drops nothing; once buffers come, every datagram written arrives, in order. */
static void test_backpressure(gs_stack *s)
{
    int fd = -1;
    CHECK_EQ(vsn_device_connect(gs_device(s), 6000, VSN_VIRTIO_VSOCK_TYPE_DGRAM, &fd), 0);
    gs_rx_hold(s, true);
    settle(s);
    int written = 0;
    int64_t dl = gs_now_ms() + 20000;
    for (;;) {
        vt_pat_fill(600 + written, 0, g_pat, 65536);
        ssize_t n = send(fd, g_pat, 65536, MSG_DONTWAIT);
        if (n < 0) {
            CHECK(errno == EAGAIN);
            /* the device may still take some: EAGAIN twice with the loop settled means full */
            settle(s);
            if (send(fd, g_pat, 65536, MSG_DONTWAIT) < 0 && errno == EAGAIN)
                break;
            written++;
            continue;
        }
        written++;
        gs_pump(s, 0);
        if (gs_now_ms() > dl)
            break;
    }
    CHECK(written > 4);
    fprintf(stderr, "  backpressure: %d datagrams of 64 KiB written before EAGAIN\n", written);
    gs_rx_hold(s, false);
    gs_rx_post(s, 1000);
    vsn_dgram_counter_values c0 = dg(s);
    for (int i = 0; i < written; i++) {
        uint32_t src = 0, dst = 0;
        int m = guest_recv(s, &src, &dst, g_buf, sizeof g_buf);
        CHECK_EQ(m, 65536);
        if (m == 65536)
            check_pattern(600 + i, g_buf, 65536);
    }
    CHECK_EQ(dg(s).dropped_no_rx_space, c0.dropped_no_rx_space);
    CHECK_EQ(dg(s).dropped_too_big, c0.dropped_too_big);
    close(fd);
}

/* The guest's tx side when its queue is full: gs_dgram_send fails with -EAGAIN and queues no
 * fragment of that datagram; every datagram it accepted arrives whole, in order. */
static void test_guest_tx_full(gs_stack *s)
{
    char p7003[160];
    port_path(p7003, sizeof p7003, '_', 7003);
    int h = hsock(p7003);
    int ok_sends = 0, rc = 0;
    for (int i = 0; i < 64 && rc == 0; i++) {
        vt_pat_fill(700 + i, 0, g_pat, 1000);
        /* 10 fragments each, no pump in between: 64 tx slots take 6 datagrams, fewer than the host
         * socket's queue holds (net.unix.max_dgram_qlen, 10 by default) */
        rc = gs_dgram_send(s, 6000, 7003, g_pat, 1000, 100);
        if (rc == 0)
            ok_sends++;
    }
    CHECK_EQ(rc, -EAGAIN);
    CHECK(ok_sends > 0);
    for (int i = 0; i < ok_sends; i++) {
        struct sockaddr_un from;
        ssize_t n = host_recv(s, h, g_buf, sizeof g_buf, &from);
        CHECK_EQ(n, 1000);
        if (n == 1000)
            check_pattern(700 + i, g_buf, 1000);
    }
    settle(s);
    CHECK(recv(h, g_buf, sizeof g_buf, 0) < 0); /* nothing of the refused datagram */
    close(h);
    unlink(p7003);
}

static void run_layout(uint32_t layout)
{
    const char *name = layout == VSN_DGRAM_LAYOUT_SEPARATE ? "five-queue" : "shared";
    fprintf(stderr, "vsock_dgram: %s layout\n", name);
    snprintf(g_uds, sizeof g_uds, "%s/v%u", g_dir, layout);
    gs_config cfg = gs_config_default();
    cfg.uds_path = g_uds;
    cfg.dgram = true;
    cfg.dgram_layout = layout;
    cfg.rx_qsize = 64;
    cfg.tx_qsize = 128;
    gs_stack *s = NULL;
    CHECK_EQ(gs_create(&cfg, &s), 0);
    if (s == NULL)
        return;
    CHECK_EQ(gs_five_queues(s), layout == VSN_DGRAM_LAYOUT_SEPARATE);
    CHECK_EQ(gs_dgram_bind(s, 6000), 0);
    test_roundtrip(s);
    test_hub(s);
    test_fd_api(s);
    test_drops(s);
    test_host_full(s);
    test_guest_tx_full(s);
    if (layout == VSN_DGRAM_LAYOUT_SHARED)
        test_backpressure(s);
    const gs_stats *st = gs_get_stats(s);
    CHECK_EQ(st->dgram_bad, 0);
    CHECK_EQ(st->oversize_pkts, 0);
    CHECK_EQ(st->not_for_us, 0);
    CHECK_EQ(st->dgram_queue_full, 0);
    gs_destroy(&s);
}

#define CASES(X)                                              \
    X(shared_queues, run_layout(VSN_DGRAM_LAYOUT_SHARED))     \
    X(separate_queues, run_layout(VSN_DGRAM_LAYOUT_SEPARATE))
static const char *const CASE_NAMES[] = { CASES(VSN_CASE_NAME) };

int main(int argc, char **argv)
{
    VSN_CASES_INIT(argc, argv, CASE_NAMES);
    strcpy(g_dir, "/tmp/vsn_dgramXXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    CASES(VSN_CASE_RUN)
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", g_dir);
    return vsn_check_summary("vsock_dgram");
}
