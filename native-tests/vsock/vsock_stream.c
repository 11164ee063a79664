/*
 * vsock_stream.c — the device's stream protocol end to end, from a guest stack in C
 * (guest_stack.c on the driver simulator) to real host sockets serviced from the same thread.
 * The device runs in manual-poll mode; every wait is a pump loop with a deadline.
 *
 * Sections: guest->host to "<uds>_P" (data both ways, pattern-checked); host->guest through the
 * hybrid socket ("CONNECT <port>\n", any case; "OK <port>\n"; bytes behind the newline reach the
 * guest); host->guest with vsn_device_connect; guest->host to a vsn_device_listen port; refusal (no listener);
 * half-close both ways; full close both ways ending in RST; malformed packets of every class
 * (RST + counter), with and without a connection; spoofed src_cid (dropped, counted, silent);
 * RST for no connection (ignored); REQUEST on an existing connection (reset); replies owed while
 * the guest has no rx buffers (delivered, control first); the connection limit; TRANSPORT_RESET.
 */
#include "guest_stack.h"
#include "vsn_check.h"
#include "vt_util.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define T 5000 /* default deadline of a wait, ms */

static char g_dir[64];
static char g_uds[128];

static void uds_port_path(char *out, size_t cap, uint32_t port)
{
    snprintf(out, cap, "%s_%u", g_uds, port);
}

static vsn_connection_layer_counter_values conn_counters(gs_stack *s)
{
    vsn_device_counters c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    int rc = vsn_device_get_counters(gs_device(s), &c);
    if (rc != 0)
        fprintf(stderr, "vsn_device_get_counters: %d\n", rc);
    return c.connections;
}

static vsn_device_counter_values dev_counters(gs_stack *s)
{
    vsn_device_counters c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    vsn_device_get_counters(gs_device(s), &c);
    return c.values;
}

static void dump_log(gs_stack *s, uint64_t from, const char *why)
{
    gs_pkt p[64];
    size_t n = gs_log_since(s, from, p, 64);
    fprintf(stderr, "  packets received since #%llu (%s):\n", (unsigned long long)from, why);
    for (size_t i = 0; i < n; i++)
        gs_print_pkt("   ", &p[i]);
}

/* First logged packet (seq >= from) with this op and ports, or NULL. */
static bool find_pkt(gs_stack *s, uint64_t from, uint16_t op, uint32_t guest_port,
                     uint32_t host_port, gs_pkt *out)
{
    gs_pkt p[256];
    size_t n = gs_log_since(s, from, p, 256);
    for (size_t i = 0; i < n; i++)
        if (p[i].op == op && p[i].dst_port == guest_port && p[i].src_port == host_port) {
            if (out) *out = p[i];
            return true;
        }
    return false;
}

/* Pumps until the tx queue has returned everything sent so far and `rounds` more polls found
 * nothing to do: the device has consumed and answered (or not) every packet. */
static void settle(gs_stack *s, int rounds)
{
    int idle = 0;
    int64_t dl = gs_now_ms() + T;
    while (idle < rounds && gs_now_ms() < dl) {
        int r = gs_pump(s, 1);
        idle = r == 0 ? idle + 1 : 0;
    }
}

static gs_stack *make_stack(uint32_t max_conns, uint32_t rx_bufs)
{
    gs_config cfg = gs_config_default();
    cfg.uds_path = g_uds;
    cfg.max_connections = max_conns;
    cfg.rx_bufs = rx_bufs;
    return vt_create_stack(&cfg, "vsock_stream");
}

/* Guest connects to "<uds>_port" served by listener lfd; returns the conn, *hfd the host end. */
static gs_conn *connect_to_listener(gs_stack *s, int lfd, uint32_t port, int *hfd)
{
    return vt_connect_listener(s, lfd, port, VSN_VIRTIO_VSOCK_TYPE_STREAM, hfd);
}

/* ---- sections ------------------------------------------------------------------------------ */

static int g_lfd = -1; /* listener at <uds>_5000 */

static void test_guest_to_unix(gs_stack *s)
{
    int hfd = -1;
    vsn_connection_layer_counter_values before = conn_counters(s);
    gs_conn *c = connect_to_listener(s, g_lfd, 5000, &hfd);
    if (c == NULL)
        return;
    CHECK_EQ(c->ops[VSN_VIRTIO_VSOCK_OP_RESPONSE], 1);
    CHECK(c->peer_buf_alloc == 262144); /* the default device buf_alloc */
    vt_transfer(s, c, hfd, 3u << 20, 3u << 20, 11, 12, "guest->unix");
    CHECK_EQ(c->credit_violations, 0);
    vsn_connection_layer_counter_values after = conn_counters(s);
    CHECK_EQ(after.connections_opened - before.connections_opened, 1);
    /* guest closes: SHUTDOWN(RCV|SEND) -> the device's RST; the host sees EOF */
    uint64_t from = gs_log_next(s);
    gs_shutdown(s, c, 3);
    bool ok, eof = false;
    int err = 0;
    uint8_t b[16];
    size_t len = 0;
    VT_WAIT(s, T, c->rst_received, "RST after the guest's SHUTDOWN(RCV|SEND)", ok);
    if (!ok) dump_log(s, from, "full close by the guest");
    VT_WAIT(s, T, (vt_drain(hfd, b, sizeof b, &len, &eof, &err), eof || err), "host EOF after guest close", ok);
    CHECK_EQ(len, 0);
    VT_WAIT(s, T, conn_counters(s).connections_closed > before.connections_closed, "connection freed", ok);
    close(hfd);
}

static void test_hybrid(gs_stack *s)
{
    bool ok;
    gs_listen(s, 1234);
    int fd = vt_unix_connect(g_uds);
    CHECK(fd >= 0);
    if (fd < 0) {
        fprintf(stderr, "connect %s: %s\n", g_uds, strerror(-fd));
        return;
    }
    const char req[] = "CoNnEcT 1234\nearly-bytes";
    CHECK_EQ(vt_write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    gs_conn *c = NULL;
    VT_WAIT(s, T, (c = gs_accept(s, 1234)) != NULL, "the guest to accept the hybrid CONNECT", ok);
    if (c == NULL) {
        close(fd);
        return;
    }
    char line[64];
    size_t len = 0;
    bool eof = false;
    int err = 0;
    VT_WAIT(s, T, (vt_drain(fd, (uint8_t *)line, sizeof line - 1, &len, &eof, &err),
                   memchr(line, '\n', len) != NULL || eof || err),
            "OK line on the hybrid socket", ok);
    line[len < sizeof line ? len : sizeof line - 1] = 0;
    char expect[32];
    snprintf(expect, sizeof expect, "OK %u\n", c->host_port);
    if (strcmp(line, expect) != 0)
        fprintf(stderr, "hybrid: got line \"%s\", expected \"%s\"\n", line, expect);
    CHECK(strcmp(line, expect) == 0);
    uint8_t got[64];
    size_t glen = 0;
    VT_WAIT(s, T, (glen += gs_recv(s, c, got + glen, sizeof got - glen), glen >= 11),
            "the bytes written after the CONNECT line", ok);
    CHECK_EQ(glen, 11);
    CHECK(memcmp(got, "early-bytes", 11) == 0);
    vt_transfer(s, c, fd, 300000, 300000, 21, 22, "hybrid");
    close(fd);
    /* host close -> SHUTDOWN(RCV|SEND) -> our (Linux-like) RST */
    VT_WAIT(s, T, c->peer_shutdown == 3 && c->rst_sent, "SHUTDOWN(RCV|SEND) after the host closed", ok);

    /* a lower-case line works too; a bad line is rejected */
    fd = vt_unix_connect(g_uds);
    CHECK(fd >= 0);
    CHECK_EQ(vt_write(fd, "connect 1234\n", 13), 13);
    VT_WAIT(s, T, (c = gs_accept(s, 1234)) != NULL, "accept of a lower-case CONNECT", ok);
    close(fd);
    uint64_t rej = conn_counters(s).handshakes_rejected;
    fd = vt_unix_connect(g_uds);
    CHECK_EQ(vt_write(fd, "HELLO 1234\n", 11), 11);
    len = 0;
    eof = false;
    VT_WAIT(s, T, (vt_drain(fd, (uint8_t *)line, sizeof line - 1, &len, &eof, &err), eof || err),
            "a bad CONNECT line to be refused (EOF)", ok);
    CHECK_EQ(conn_counters(s).handshakes_rejected, rej + 1);
    close(fd);
}

static void test_vsn_connect(gs_stack *s)
{
    bool ok;
    gs_listen(s, 1235);
    int fd = -1;
    CHECK_EQ(vsn_device_connect(gs_device(s), 1235, VSN_VIRTIO_VSOCK_TYPE_STREAM, &fd), 0);
    if (fd < 0)
        return;
    CHECK_EQ(vt_write(fd, "before-accept", 13), 13); /* waits until the guest accepts */
    gs_conn *c = NULL;
    VT_WAIT(s, T, (c = gs_accept(s, 1235)) != NULL, "the guest to accept vsn_device_connect", ok);
    if (c == NULL) {
        close(fd);
        return;
    }
    uint8_t got[32];
    size_t glen = 0;
    VT_WAIT(s, T, (glen += gs_recv(s, c, got + glen, sizeof got - glen), glen >= 13),
            "bytes written before the guest accepted", ok);
    CHECK(glen == 13 && memcmp(got, "before-accept", 13) == 0);
    vt_transfer(s, c, fd, 500000, 500000, 31, 32, "vsn_device_connect");
    close(fd);
    VT_WAIT(s, T, c->peer_shutdown == 3, "SHUTDOWN after the host closed", ok);
}

static void test_vsn_listen(gs_stack *s)
{
    bool ok;
    static vt_accepted a = { .fd = -1 };
    CHECK_EQ(vsn_device_listen(gs_device(s), 6000, VSN_VIRTIO_VSOCK_TYPE_STREAM, vt_on_accept, &a), 0);
    CHECK_EQ(vsn_device_listen(gs_device(s), 6000, VSN_VIRTIO_VSOCK_TYPE_STREAM, vt_on_accept, &a), -EEXIST);
    gs_conn *c = gs_connect(s, 6000, 0);
    VT_WAIT(s, T, c->state != GS_CONNECTING && a.fd >= 0, "RESPONSE and the accept callback", ok);
    CHECK_EQ(c->state, GS_ESTABLISHED);
    CHECK_EQ(a.port, 6000);
    CHECK_EQ(a.guest_port, c->guest_port);
    if (a.fd >= 0) {
        vt_transfer(s, c, a.fd, 400000, 400000, 41, 42, "vsn_device_listen");
        close(a.fd);
    }
    VT_WAIT(s, T, c->peer_shutdown == 3, "SHUTDOWN after the accepted fd was closed", ok);
    CHECK_EQ(vsn_device_unlisten(gs_device(s), 6000, VSN_VIRTIO_VSOCK_TYPE_STREAM), 0);
}

static void test_refused(gs_stack *s)
{
    bool ok;
    uint64_t before = conn_counters(s).refused_no_listener;
    gs_conn *c = gs_connect(s, 7777, 0);
    VT_WAIT(s, T, c->state != GS_CONNECTING, "an answer to a REQUEST with no listener", ok);
    CHECK_EQ(c->state, GS_REFUSED);
    CHECK_EQ(conn_counters(s).refused_no_listener, before + 1);
    /* after vsn_device_unlisten the port refuses as well */
    c = gs_connect(s, 6000, 0);
    VT_WAIT(s, T, c->state != GS_CONNECTING, "an answer after vsn_device_unlisten", ok);
    CHECK_EQ(c->state, GS_REFUSED);
}

static void test_half_close(gs_stack *s)
{
    bool ok;
    int hfd;
    static uint8_t buf[1 << 20];
    /* (a) guest SHUTDOWN(SEND) right behind 700 KB: the host reads it all, then EOF; the other
     * direction still works */
    gs_conn *c = connect_to_listener(s, g_lfd, 5000, &hfd);
    if (c == NULL)
        return;
    size_t total = 700000, sent = 0, len = 0;
    bool eof = false;
    int err = 0;
    uint8_t chunk[65536];
    int64_t dl = gs_now_ms() + T;
    while (sent < total && gs_now_ms() < dl) {
        size_t k = total - sent < sizeof chunk ? total - sent : sizeof chunk;
        vt_pat_fill(51, sent, chunk, k);
        sent += gs_send(s, c, chunk, k);
        vt_drain(hfd, buf, sizeof buf, &len, &eof, &err);
        gs_pump(s, 0);
    }
    CHECK_EQ(sent, total);
    gs_shutdown(s, c, VSN_VIRTIO_VSOCK_SHUTDOWN_SEND);
    VT_WAIT(s, T, (vt_drain(hfd, buf, sizeof buf, &len, &eof, &err), eof || err),
            "host EOF after the guest's SHUTDOWN(SEND)", ok);
    CHECK_EQ(err, 0);
    CHECK_EQ(len, total);
    CHECK_EQ(vt_pat_check(51, 0, buf, len < total ? len : total), len < total ? len : total);
    CHECK_EQ(vt_write(hfd, "still-open", 10), 10);
    uint8_t got[16];
    size_t glen = 0;
    VT_WAIT(s, T, (glen += gs_recv(s, c, got + glen, sizeof got - glen), glen >= 10),
            "host->guest data after the guest's SHUTDOWN(SEND)", ok);
    CHECK(glen == 10 && memcmp(got, "still-open", 10) == 0);
    CHECK(c->state == GS_ESTABLISHED);
    /* host closes its end: SHUTDOWN(RCV|SEND) completes it; our RST ends it */
    uint64_t closed = conn_counters(s).connections_closed;
    close(hfd);
    VT_WAIT(s, T, c->peer_shutdown == 3 && c->rst_sent, "SHUTDOWN(RCV|SEND) after host close", ok);
    VT_WAIT(s, T, conn_counters(s).connections_closed > closed, "connection freed after our RST", ok);
    CHECK(!c->rst_received); /* the device does not answer a RST */

    /* (b) host shutdown(SHUT_WR) right behind 600 KB: the guest gets every byte, then
     * SHUTDOWN(SEND) (after the last RW); the guest can still send */
    c = connect_to_listener(s, g_lfd, 5000, &hfd);
    if (c == NULL)
        return;
    uint64_t from = gs_log_next(s);
    total = 600000;
    sent = 0;
    size_t grx = 0;
    vt_rx r = { .seed = 52 };
    dl = gs_now_ms() + T;
    while ((sent < total || grx < total) && gs_now_ms() < dl) {
        if (sent < total) {
            size_t k = total - sent < sizeof chunk ? total - sent : sizeof chunk;
            vt_pat_fill(52, sent, chunk, k);
            ssize_t n = vt_write(hfd, chunk, k);
            if (n > 0) sent += (size_t)n;
            if (sent == total)
                shutdown(hfd, SHUT_WR);
        }
        size_t m = gs_recv(s, c, buf, sizeof buf);
        vt_rx_take(&r, buf, m);
        grx += m;
        gs_pump(s, 0);
    }
    CHECK_EQ(grx, total);
    CHECK(!r.bad);
    VT_WAIT(s, T, (c->peer_shutdown & VSN_VIRTIO_VSOCK_SHUTDOWN_SEND) != 0,
            "SHUTDOWN(SEND) after host shutdown(SHUT_WR)", ok);
    CHECK_EQ(c->rw_after_shutdown, 0);
    gs_pkt sh, p[256];
    if (find_pkt(s, from, VSN_VIRTIO_VSOCK_OP_SHUTDOWN, c->guest_port, c->host_port, &sh)) {
        CHECK_EQ(sh.flags, VSN_VIRTIO_VSOCK_SHUTDOWN_SEND);
        size_t n = gs_log_since(s, sh.seq + 1, p, 256);
        for (size_t i = 0; i < n; i++)
            if (p[i].op == VSN_VIRTIO_VSOCK_OP_RW && p[i].dst_port == c->guest_port)
                CHECK(!"RW after SHUTDOWN(SEND)");
    } else {
        CHECK(!"SHUTDOWN packet in the log");
    }
    size_t n = gs_send(s, c, "guest-still-sends", 17);
    CHECK_EQ(n, 17);
    len = 0;
    eof = false;
    VT_WAIT(s, T, (vt_drain(hfd, buf, sizeof buf, &len, &eof, &err), len >= 17 || eof || err),
            "guest->host data after the host's SHUT_WR", ok);
    CHECK(len == 17 && memcmp(buf, "guest-still-sends", 17) == 0);
    /* guest completes the close: its SHUTDOWN(RCV|SEND) -> the device's RST */
    gs_shutdown(s, c, 3);
    VT_WAIT(s, T, c->rst_received, "RST after the guest's SHUTDOWN", ok);
    VT_WAIT(s, T, (vt_drain(hfd, buf, sizeof buf, &len, &eof, &err), eof || err), "host EOF", ok);
    close(hfd);
}

/* One raw packet; returns the log position before it was sent. */
static uint64_t send_raw(gs_stack *s, uint64_t src_cid, uint32_t sport, uint32_t dport, uint16_t type,
                         uint16_t op, uint32_t hlen, uint32_t flags, uint32_t plen, gs_conn *c)
{
    struct vsn_virtio_vsock_hdr h;
    static const uint8_t payload[64] = "0123456789abcdef0123456789abcdef";
    gs_hdr(s, c, &h, sport, dport, op, hlen, flags);
    h.type = htole16(type);
    h.src_cid = htole64(src_cid);
    if (c == NULL)
        h.buf_alloc = htole32(65536);
    uint64_t from = gs_log_next(s);
    CHECK_EQ(gs_send_raw(s, &h, payload, plen), 0);
    return from;
}

struct bad_case {
    const char *name;
    uint16_t type, op;
    uint32_t hlen, flags, plen;
};

static const struct bad_case k_bad[] = {
    { "CREDIT_UPDATE with len 4", 1, VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE, 4, 0, 4 },
    { "SHUTDOWN with len 8", 1, VSN_VIRTIO_VSOCK_OP_SHUTDOWN, 8, 1, 8 },
    { "RW with flags 1 (stream)", 1, VSN_VIRTIO_VSOCK_OP_RW, 4, 1, 4 },
    { "SHUTDOWN with flags 4", 1, VSN_VIRTIO_VSOCK_OP_SHUTDOWN, 0, 4, 0 },
    { "CREDIT_REQUEST with flags 2", 1, VSN_VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0, 2, 0 },
    { "op 0 (INVALID)", 1, 0, 0, 0, 0 },
    { "op 8", 1, 8, 0, 0, 0 },
    { "op 0xffff", 1, 0xffff, 0, 0, 0 },
    { "type 0", 0, VSN_VIRTIO_VSOCK_OP_RW, 4, 0, 4 },
    { "type 9", 9, VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0, 0 },
    { "RW hdr.len 10, 5 bytes follow", 1, VSN_VIRTIO_VSOCK_OP_RW, 10, 0, 5 },
    { "RW hdr.len 0, 5 bytes follow", 1, VSN_VIRTIO_VSOCK_OP_RW, 0, 0, 5 },
    { "RW hdr.len 3, 5 bytes follow", 1, VSN_VIRTIO_VSOCK_OP_RW, 3, 0, 5 },
};

static void test_malformed(gs_stack *s)
{
    bool ok;
    size_t nb = sizeof k_bad / sizeof k_bad[0];
    /* (a) no connection: RST to the sender's ports, `malformed` counted */
    for (size_t i = 0; i < nb; i++) {
        const struct bad_case *b = &k_bad[i];
        uint32_t gp = 40000 + (uint32_t)i;
        vsn_connection_layer_counter_values before = conn_counters(s);
        uint64_t txm = dev_counters(s).tx_malformed;
        uint64_t from = send_raw(s, gs_cid(s), gp, 5000, b->type, b->op, b->hlen, b->flags, b->plen, NULL);
        VT_WAIT(s, T, find_pkt(s, from, VSN_VIRTIO_VSOCK_OP_RST, gp, 5000, NULL), b->name, ok);
        if (!ok) {
            fprintf(stderr, "  malformed, no connection: %s: no RST (device tx_malformed %llu -> %llu)\n",
                    b->name, (unsigned long long)txm, (unsigned long long)dev_counters(s).tx_malformed);
            dump_log(s, from, b->name);
        }
        vsn_connection_layer_counter_values after = conn_counters(s);
        if (after.malformed != before.malformed + 1)
            fprintf(stderr, "  malformed, no connection: %s: malformed %llu -> %llu (no_connection %llu -> %llu)\n",
                    b->name, (unsigned long long)before.malformed, (unsigned long long)after.malformed,
                    (unsigned long long)before.no_connection, (unsigned long long)after.no_connection);
        CHECK_EQ(after.malformed, before.malformed + 1);
        CHECK_EQ(after.no_connection, before.no_connection);
    }
    /* (b) on an established connection: RST on it, the host end sees EOF */
    for (size_t i = 0; i < nb; i++) {
        const struct bad_case *b = &k_bad[i];
        int hfd;
        gs_conn *c = connect_to_listener(s, g_lfd, 5000, &hfd);
        if (c == NULL)
            return;
        uint64_t from = send_raw(s, gs_cid(s), c->guest_port, 5000, b->type, b->op, b->hlen,
                                 b->flags, b->plen, c);
        VT_WAIT(s, T, c->rst_received, b->name, ok);
        if (!ok) {
            fprintf(stderr, "  malformed on a connection: %s: no RST\n", b->name);
            dump_log(s, from, b->name);
        }
        uint8_t junk[64];
        size_t len = 0;
        bool eof = false;
        int err = 0;
        VT_WAIT(s, T, (vt_drain(hfd, junk, sizeof junk, &len, &eof, &err), eof || err),
                "host EOF after a malformed packet", ok);
        CHECK_EQ(len, 0);
        close(hfd);
    }
    /* (c) this stack does not negotiate VIRTIO_VSOCK_F_SEQPACKET: a seqpacket REQUEST to a
     * listening port gets RST (a DGRAM packet without VIRTIO_VSOCK_F_DGRAM is dropped: (d)) */
    for (uint16_t type = 2; type <= 2; type++) {
        uint32_t gp = 41000 + type;
        uint64_t from = send_raw(s, gs_cid(s), gp, 5000, type, VSN_VIRTIO_VSOCK_OP_REQUEST, 0, 0, 0, NULL);
        VT_WAIT(s, T, find_pkt(s, from, VSN_VIRTIO_VSOCK_OP_RST, gp, 5000, NULL), "RST for a SEQPACKET REQUEST", ok);
        int fd = vt_accept(g_lfd);
        CHECK(fd < 0);
        if (fd >= 0) close(fd);
    }
    /* (d) a DGRAM packet while VIRTIO_VSOCK_F_DGRAM is not negotiated (this stack does not ask for
     * it): dropped and counted, no RST, no host connection (BEHAVIOUR.md, "Datagrams") */
    vsn_device_counters dc;
    memset(&dc, 0, sizeof dc);
    dc.struct_size = sizeof dc;
    CHECK_EQ(vsn_device_get_counters(gs_device(s), &dc), 0);
    uint64_t not_negotiated = dc.datagrams.dropped_not_negotiated;
    uint64_t from = send_raw(s, gs_cid(s), 41003, 5000, 3, VSN_VIRTIO_VSOCK_OP_REQUEST, 0, 0, 0, NULL);
    settle(s, 3);
    CHECK(!find_pkt(s, from, VSN_VIRTIO_VSOCK_OP_RST, 41003, 5000, NULL));
    CHECK_EQ(vsn_device_get_counters(gs_device(s), &dc), 0);
    CHECK_EQ(dc.datagrams.dropped_not_negotiated, not_negotiated + 1);
    int fd = vt_accept(g_lfd);
    CHECK(fd < 0);
    if (fd >= 0) close(fd);
}

static void test_spoof_and_stray_rst(gs_stack *s)
{
    settle(s, 3);
    /* spoofed src_cid: dropped, counted, no reply, no host connection */
    vsn_connection_layer_counter_values before = conn_counters(s);
    uint64_t from = send_raw(s, 99, 42000, 5000, 1, VSN_VIRTIO_VSOCK_OP_REQUEST, 0, 0, 0, NULL);
    settle(s, 5);
    vsn_connection_layer_counter_values after = conn_counters(s);
    CHECK_EQ(after.spoofed, before.spoofed + 1);
    CHECK_EQ(gs_log_next(s), from);
    int fd = vt_accept(g_lfd);
    CHECK(fd < 0);
    if (fd >= 0) close(fd);
    CHECK_EQ(after.connections_opened, before.connections_opened);
    /* RST for no connection: ignored (counted, no reply) */
    from = send_raw(s, gs_cid(s), 42001, 5000, 1, VSN_VIRTIO_VSOCK_OP_RST, 0, 0, 0, NULL);
    settle(s, 5);
    vsn_connection_layer_counter_values after2 = conn_counters(s);
    CHECK_EQ(after2.rst_ignored, after.rst_ignored + 1);
    CHECK_EQ(gs_log_next(s), from);
    /* any other op for no connection: RST, no_connection counted */
    from = send_raw(s, gs_cid(s), 42002, 5000, 1, VSN_VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0, 0, 0, NULL);
    bool ok;
    VT_WAIT(s, T, find_pkt(s, from, VSN_VIRTIO_VSOCK_OP_RST, 42002, 5000, NULL),
            "RST for a CREDIT_REQUEST of no connection", ok);
    CHECK_EQ(conn_counters(s).no_connection, after2.no_connection + 1);
}

static void test_duplicate_request(gs_stack *s)
{
    bool ok;
    int hfd;
    gs_conn *c = connect_to_listener(s, g_lfd, 5000, &hfd);
    if (c == NULL)
        return;
    uint64_t from = send_raw(s, gs_cid(s), c->guest_port, 5000, 1, VSN_VIRTIO_VSOCK_OP_REQUEST, 0, 0, 0, c);
    VT_WAIT(s, T, c->rst_received, "RST after a REQUEST on an existing connection", ok);
    if (!ok) dump_log(s, from, "duplicate REQUEST");
    CHECK(!find_pkt(s, from, VSN_VIRTIO_VSOCK_OP_RESPONSE, c->guest_port, 5000, NULL));
    uint8_t junk[16];
    size_t len = 0;
    bool eof = false;
    int err = 0;
    VT_WAIT(s, T, (vt_drain(hfd, junk, sizeof junk, &len, &eof, &err), eof || err),
            "host EOF after the duplicate REQUEST", ok);
    close(hfd);
    /* the old host connection was not replaced by a new one */
    settle(s, 3);
    int fd = vt_accept(g_lfd);
    CHECK(fd < 0);
    if (fd >= 0) close(fd);
}

/* Replies owed while the guest has posted no rx buffers: nothing is lost, control first. */
static void test_no_rx_buffers(void)
{
    bool ok;
    gs_stack *s = make_stack(0, 4);
    int hfd;
    gs_conn *a = connect_to_listener(s, g_lfd, 5000, &hfd);
    if (a == NULL) {
        gs_destroy(&s);
        return;
    }
    gs_rx_hold(s, true);
    static uint8_t big[65536];
    vt_pat_fill(61, 0, big, sizeof big);
    CHECK_EQ(vt_write(hfd, big, sizeof big), (ssize_t)sizeof big);
    VT_WAIT(s, T, gs_rx_posted(s) == 0, "the device to use every posted rx buffer", ok);
    settle(s, 3);
    uint64_t from = gs_log_next(s);
    gs_credit_request(s, a);                /* owes CREDIT_UPDATE on a */
    gs_conn *r = gs_connect(s, 7778, 0);    /* owes RST (no listener) */
    gs_conn *b = gs_connect(s, 5000, 0);    /* owes RESPONSE */
    settle(s, 5);
    CHECK_EQ(gs_log_next(s), from);         /* nothing could be written */
    int bfd = -1;
    VT_WAIT(s, T, (bfd = vt_accept(g_lfd)) >= 0, "the host accept for the second connection", ok);
    /* one buffer at a time */
    int64_t dl = gs_now_ms() + T;
    while (gs_now_ms() < dl && (r->state == GS_CONNECTING || b->state == GS_CONNECTING ||
                                a->ops[VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE] == 0)) {
        if (gs_rx_posted(s) == 0)
            gs_rx_post(s, 1);
        gs_pump(s, 1);
    }
    CHECK_EQ(r->state, GS_REFUSED);
    CHECK_EQ(b->state, GS_ESTABLISHED);
    CHECK_EQ(a->ops[VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE], 1);
    gs_pkt p[64];
    size_t n = gs_log_since(s, from, p, 64);
    bool rw_seen = false, ctl_after_rw = false;
    for (size_t i = 0; i < n; i++) {
        if (p[i].dst_port != a->guest_port)
            continue;
        if (p[i].op == VSN_VIRTIO_VSOCK_OP_RW)
            rw_seen = true;
        else if (rw_seen)
            ctl_after_rw = true;
    }
    if (ctl_after_rw || n == 0)
        dump_log(s, from, "owed replies");
    CHECK(!ctl_after_rw);
    CHECK(n >= 3);
    /* all the data still arrives, every byte */
    gs_rx_hold(s, false);
    gs_rx_post(s, 1000);
    static uint8_t buf[65536];
    vt_rx rx = { .seed = 61 };
    VT_WAIT(s, T, (vt_rx_take(&rx, buf, gs_recv(s, a, buf, sizeof buf)), rx.got >= sizeof big),
            "all host data after rx buffers came back", ok);
    CHECK(!rx.bad);
    CHECK_EQ(a->credit_violations, 0);
    close(hfd);
    if (bfd >= 0) close(bfd);
    gs_destroy(&s);
}

static void test_limit(void)
{
    bool ok;
    gs_stack *s = make_stack(2, 0);
    int h1, h2;
    gs_conn *c1 = connect_to_listener(s, g_lfd, 5000, &h1);
    gs_conn *c2 = connect_to_listener(s, g_lfd, 5000, &h2);
    CHECK(c1 != NULL && c2 != NULL);
    uint64_t before = conn_counters(s).refused_limit;
    gs_conn *c3 = gs_connect(s, 5000, 0);
    VT_WAIT(s, T, c3->state != GS_CONNECTING, "an answer to the 3rd REQUEST", ok);
    CHECK_EQ(c3->state, GS_REFUSED);
    CHECK_EQ(conn_counters(s).refused_limit, before + 1);
    settle(s, 3);
    int fd = vt_accept(g_lfd);
    CHECK(fd < 0);
    if (fd >= 0) close(fd);
    /* vsn_device_connect is limited too */
    int vfd = -1;
    CHECK_EQ(vsn_device_connect(gs_device(s), 1, VSN_VIRTIO_VSOCK_TYPE_STREAM, &vfd), -EAGAIN);
    if (vfd >= 0) close(vfd);
    if (c1) close(h1);
    if (c2) close(h2);
    gs_destroy(&s);
}

static void test_transport_reset(gs_stack *s)
{
    bool ok;
    int h1, h2 = -1;
    gs_conn *c1 = connect_to_listener(s, g_lfd, 5000, &h1);
    gs_listen(s, 1236);
    CHECK_EQ(vsn_device_connect(gs_device(s), 1236, VSN_VIRTIO_VSOCK_TYPE_STREAM, &h2), 0);
    gs_conn *c2 = NULL;
    VT_WAIT(s, T, (c2 = gs_accept(s, 1236)) != NULL, "accept before the transport reset", ok);
    if (c1 == NULL || c2 == NULL)
        return;
    uint64_t resets = dev_counters(s).transport_resets;
    CHECK_EQ(vsn_device_transport_reset(gs_device(s)), 0);
    VT_WAIT(s, T, gs_get_stats(s)->transport_resets == 1, "the TRANSPORT_RESET event", ok);
    CHECK_EQ(gs_get_stats(s)->events, 1);
    CHECK_EQ(c1->state, GS_RESET);
    CHECK_EQ(c2->state, GS_RESET);
    CHECK_EQ(dev_counters(s).transport_resets, resets + 1);
    uint8_t junk[16];
    size_t l1 = 0, l2 = 0;
    bool e1 = false, e2 = false;
    int r1 = 0, r2 = 0;
    VT_WAIT(s, T, (vt_drain(h1, junk, sizeof junk, &l1, &e1, &r1), e1 || r1), "EOF on the guest-initiated host socket", ok);
    VT_WAIT(s, T, (vt_drain(h2, junk, sizeof junk, &l2, &e2, &r2), e2 || r2), "EOF on the vsn_device_connect fd", ok);
    close(h1);
    close(h2);
    /* the guest can connect again afterwards */
    int h3;
    gs_conn *c3 = connect_to_listener(s, g_lfd, 5000, &h3);
    if (c3 != NULL) {
        vt_transfer(s, c3, h3, 10000, 10000, 71, 72, "after transport reset");
        close(h3);
    }
}

/* CASES_A run on one shared stack (made in main); CASES_B make their own devices. */
#define CASES_A(X) \
    X(guest_to_unix, test_guest_to_unix(s)) \
    X(hybrid, test_hybrid(s)) \
    X(vsn_connect, test_vsn_connect(s)) \
    X(vsn_listen, test_vsn_listen(s)) \
    X(refused, test_refused(s)) \
    X(half_close, test_half_close(s)) \
    X(malformed, test_malformed(s)) \
    X(spoof_and_stray_rst, test_spoof_and_stray_rst(s)) \
    X(duplicate_request, test_duplicate_request(s)) \
    X(transport_reset, test_transport_reset(s))
#define CASES_B(X) \
    X(no_rx_buffers, test_no_rx_buffers()) \
    X(limit, test_limit())
static const char *const CASE_NAMES[] = { CASES_A(VSN_CASE_NAME) CASES_B(VSN_CASE_NAME) };

int main(int argc, char **argv)
{
    VSN_CASES_INIT(argc, argv, CASE_NAMES);
    strcpy(g_dir, "/tmp/vsn_streamXXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(g_uds, sizeof g_uds, "%s/vsock", g_dir);
    char p[160];
    uds_port_path(p, sizeof p, 5000);
    g_lfd = vt_unix_listen(p);
    CHECK(g_lfd >= 0);

    gs_stack *s = make_stack(0, 0);
    CASES_A(VSN_CASE_RUN)
    const gs_stats *st = gs_get_stats(s);
    CHECK_EQ(st->oversize_pkts, 0);
    CHECK_EQ(st->bad_used_len, 0);
    CHECK_EQ(st->not_for_us, 0);
    gs_destroy(&s);

    CASES_B(VSN_CASE_RUN)

    close(g_lfd);
    unlink(p);
    char hp[160];
    snprintf(hp, sizeof hp, "%s", g_uds);
    unlink(hp);
    rmdir(g_dir);
    return vsn_check_summary("vsock_stream");
}
