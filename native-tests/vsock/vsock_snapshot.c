/*
 * vsock_snapshot.c — snapshot and restore through the C ABI (vsn_device_save_state,
 * vsn_device_restore_state), with the guest stack on the driver simulator: the device is replaced
 * under a guest that goes on (its memory, rings and sockets stay), as a VMM does when it restores a
 * VM snapshot. BEHAVIOUR.md, "Snapshot and restore".
 *
 * Cases:
 *   restore          traffic in flight both ways, a tx chain the old device never processed; save
 *                    (refused while running), destroy (host peers see their streams end), restore
 *                    into a new device: rx is held while the driver has not acted on TRANSPORT_RESET
 *                    (nothing reaches the guest, a waiting hybrid CONNECT included), the pre-snapshot
 *                    tx chain is processed (tx kick replayed), the guest's connections reset, then it
 *                    reconnects both ways with pattern-checked data; the host-port allocator goes on.
 *   pause_resume     vsn_device_stop + vsn_device_start without a snapshot: no TRANSPORT_RESET, rx not
 *                    held, the connection carries on both ways.
 *   bad_blobs        another ABI major, an unknown version, truncated at every length, padded, one
 *                    byte flipped at every position, a bad queue size, another CID, rings outside the
 *                    memory table, restore twice: -EINVAL each; the device then takes the good blob.
 */
#include "guest_stack.h"
#include "vsn_check.h"
#include "vt_util.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define T 5000 /* default deadline of a wait, ms */

static char g_dir[64];
static char g_uds[128];
static char g_listen_path[160];
static int g_lfd = -1; /* host listener at <uds>_5000 */

/* CRC-32 (IEEE), to forge blobs whose only fault is the one a case wants. */
static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static void reseal(uint8_t *b, size_t len)
{
    uint32_t c = crc32_ieee(b + 16, len - 16);
    memcpy(b + 12, &c, 4); /* little-endian host */
}

static gs_stack *make_stack(void)
{
    gs_config cfg = gs_config_default();
    cfg.uds_path = g_uds;
    return vt_create_stack(&cfg, "vsock_snapshot");
}

/* Stops the device and saves its state into a malloc'd blob. */
static uint8_t *save(gs_stack *s, size_t *len)
{
    *len = 0;
    CHECK_EQ(vsn_device_stop(gs_device(s)), 0);
    CHECK_EQ(vsn_device_save_state(gs_device(s), NULL, 0, len), 0);
    CHECK(*len > 16);
    uint8_t *b = malloc(*len);
    size_t got = 0;
    CHECK_EQ(vsn_device_save_state(gs_device(s), b, *len - 1, &got), -ENOSPC);
    CHECK_EQ(got, *len);
    CHECK_EQ(vsn_device_save_state(gs_device(s), b, *len, &got), 0);
    CHECK_EQ(got, *len);
    return b;
}

/* Waits, without any device, until fd reads end of stream or a reset (data before it is dropped). */
static bool stream_ends(int fd)
{
    int64_t dl = gs_now_ms() + T;
    uint8_t junk[4096];
    while (gs_now_ms() < dl) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = read(fd, junk, sizeof junk);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            return true;
    }
    return false;
}

/* The host-initiated connection through the hybrid socket: "CONNECT port\n" written on fd, the
 * guest accepts, the host reads "OK <host port>\n". */
static gs_conn *hybrid_accept(gs_stack *s, int fd, uint32_t port)
{
    bool ok;
    gs_conn *c = NULL;
    VT_WAIT(s, T, (c = gs_accept(s, port)) != NULL, "the guest to accept the hybrid CONNECT", ok);
    if (c == NULL)
        return NULL;
    char line[64];
    size_t len = 0;
    bool eof = false;
    int err = 0;
    VT_WAIT(s, T, (vt_drain(fd, (uint8_t *)line, sizeof line - 1, &len, &eof, &err), memchr(line, '\n', len) != NULL || eof || err),
            "OK line on the hybrid socket", ok);
    line[len] = 0;
    char expect[32];
    snprintf(expect, sizeof expect, "OK %u\n", c->host_port);
    CHECK(strcmp(line, expect) == 0);
    return c;
}

static int hybrid_connect(uint32_t port)
{
    int fd = vt_unix_connect(g_uds);
    CHECK(fd >= 0);
    char req[32];
    int n = snprintf(req, sizeof req, "CONNECT %u\n", port);
    CHECK_EQ(vt_write(fd, req, (size_t)n), n);
    return fd;
}

static uint64_t connections_opened(gs_stack *s)
{
    vsn_device_counters c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    vsn_device_get_counters(gs_device(s), &c);
    return c.connections.connections_opened;
}

static void test_restore(void)
{
    bool ok;
    gs_stack *s = make_stack();
    int ha = -1, hb, hr = -1, hd, he = -1;
    gs_conn *a = vt_connect_listener(s, g_lfd, 5000, VSN_VIRTIO_VSOCK_TYPE_STREAM, &ha);
    gs_listen(s, 1234);
    hb = hybrid_connect(1234);
    gs_conn *b = hybrid_accept(s, hb, 1234);
    if (a == NULL || b == NULL)
        goto out;
    vt_transfer(s, a, ha, 100000, 100000, 1, 2, "before the snapshot (guest-initiated)");
    vt_transfer(s, b, hb, 100000, 100000, 3, 4, "before the snapshot (host-initiated)");
    uint32_t b_port = b->host_port;

    /* In flight both ways: host bytes the device has not read, guest packets the device has not
     * taken, and a REQUEST whose kick went to the old device only (it is never polled again). */
    uint8_t chunk[20000];
    vt_pat_fill(9, 0, chunk, sizeof chunk);
    CHECK_EQ(vt_write(ha, chunk, sizeof chunk), (ssize_t)sizeof chunk);
    CHECK_EQ(vt_write(hb, chunk, sizeof chunk), (ssize_t)sizeof chunk);
    CHECK(gs_send(s, a, chunk, sizeof chunk) > 0);
    CHECK(gs_send(s, b, chunk, sizeof chunk) > 0);
    gs_conn *pending = gs_connect(s, 5000, 0);
    CHECK(pending != NULL);
    gs_kick(s);

    size_t size = 0;
    CHECK_EQ(vsn_device_save_state(gs_device(s), NULL, 0, &size), -EBUSY); /* running */
    uint8_t *blob = save(s, &size);
    gs_device_detach(s);
    CHECK(stream_ends(ha)); /* the old device's host peers see their streams end at once */
    CHECK(stream_ends(hb));

    /* The driver will not act on events until released; meanwhile a host program connects in. */
    gs_event_hold(s, true);
    CHECK_EQ(gs_device_attach_new(s), 0);
    hd = hybrid_connect(1234);
    CHECK_EQ(vsn_device_restore_state(gs_device(s), blob, size), 0);
    CHECK_EQ(gs_device_resume(s), 0);
    uint64_t log_at = gs_log_next(s);
    /* The REQUEST made available before the snapshot reaches the host (the tx kick is replayed)
     * and the hybrid client's line is read: two connections on the new device. */
    VT_WAIT(s, T, (hr >= 0 || (hr = vt_accept(g_lfd)) >= 0) && connections_opened(s) >= 2,
            "the pre-snapshot REQUEST at the host and the hybrid CONNECT", ok);
    for (int i = 0; i < 20; i++)
        gs_pump(s, 1);
    /* Rx is held: the driver has not acted on TRANSPORT_RESET, so no packet reached it. */
    CHECK_EQ(gs_log_next(s), log_at);
    CHECK_EQ(gs_get_stats(s)->transport_resets, 0);

    gs_event_hold(s, false);
    VT_WAIT(s, T, gs_get_stats(s)->transport_resets == 1, "TRANSPORT_RESET after the restore", ok);
    CHECK_EQ(a->state, GS_RESET);
    CHECK_EQ(b->state, GS_RESET);
    /* The pre-snapshot REQUEST's guest socket was reset: the guest answers the RESPONSE with RST. */
    uint8_t junk[64];
    size_t jl = 0;
    bool eof = false;
    int err = 0;
    VT_WAIT(s, T, hr >= 0 && (vt_drain(hr, junk, sizeof junk, &jl, &eof, &err), eof || err),
            "end of stream on the host side of the pre-snapshot REQUEST", ok);

    /* The connection that waited behind the gate is the guest's, whole. */
    gs_conn *d = hybrid_accept(s, hd, 1234);
    if (d != NULL) {
        CHECK(d->host_port != b_port); /* the allocator continued; a fresh one would give b's port again */
        vt_transfer(s, d, hd, 200000, 200000, 5, 6, "host-initiated after the restore");
    }
    gs_conn *e = vt_connect_listener(s, g_lfd, 5000, VSN_VIRTIO_VSOCK_TYPE_STREAM, &he);
    if (e != NULL)
        vt_transfer(s, e, he, 200000, 200000, 7, 8, "guest-initiated after the restore");
    free(blob);
    close(hd);
out:
    if (ha >= 0) close(ha);
    if (hr >= 0) close(hr);
    if (he >= 0) close(he);
    close(hb);
    gs_destroy(&s);
}

static void test_pause_resume(void)
{
    gs_stack *s = make_stack();
    int ha = -1;
    gs_conn *a = vt_connect_listener(s, g_lfd, 5000, VSN_VIRTIO_VSOCK_TYPE_STREAM, &ha);
    if (a != NULL) {
        vt_transfer(s, a, ha, 50000, 50000, 11, 12, "before the pause");
        uint8_t chunk[8192];
        vt_pat_fill(13, 0, chunk, sizeof chunk);
        CHECK_EQ(vt_write(ha, chunk, sizeof chunk), (ssize_t)sizeof chunk);
        CHECK_EQ(vsn_device_stop(gs_device(s)), 0);
        CHECK_EQ(vsn_device_start(gs_device(s)), 0);
        /* the bytes written during the pause arrive, then more both ways */
        uint8_t got[8192];
        size_t n = 0;
        bool ok;
        VT_WAIT(s, T, (n += gs_recv(s, a, got + n, sizeof got - n), n == sizeof got), "the bytes written during the pause", ok);
        CHECK(memcmp(got, chunk, sizeof chunk) == 0);
        vt_transfer(s, a, ha, 50000, 50000, 14, 15, "after the resume");
        CHECK_EQ(gs_get_stats(s)->transport_resets, 0);
        CHECK_EQ(a->state, GS_ESTABLISHED);
        close(ha);
    }
    gs_destroy(&s);
}

/* A device of CID cid (no uds, no memory table yet). */
static vsn_device *side_device(uint64_t cid)
{
    vsn_device_config dc;
    memset(&dc, 0, sizeof dc);
    dc.struct_size = sizeof dc;
    dc.flags = VSN_DEVICE_F_MANUAL_POLL;
    dc.guest_cid = cid;
    vsn_device *d = NULL;
    CHECK_EQ(vsn_device_create(&dc, &d), 0);
    return d;
}

static void test_bad_blobs(void)
{
    gs_stack *s = make_stack();
    int ha = -1, hb = -1;
    gs_conn *a = vt_connect_listener(s, g_lfd, 5000, VSN_VIRTIO_VSOCK_TYPE_STREAM, &ha);
    if (a == NULL) {
        gs_destroy(&s);
        return;
    }
    vt_transfer(s, a, ha, 10000, 10000, 21, 22, "before the snapshot");
    size_t len = 0;
    uint8_t *blob = save(s, &len);
    gs_device_detach(s);
    CHECK(stream_ends(ha));
    CHECK_EQ(gs_device_attach_new(s), 0);
    vsn_device *dev = gs_device(s);
    uint8_t *bad = malloc(len + 1);

    memcpy(bad, blob, len); /* another ABI major, checksum right */
    bad[6] ^= 1;
    reseal(bad, len);
    CHECK_EQ(vsn_device_restore_state(dev, bad, len), -EINVAL);
    memcpy(bad, blob, len); /* a format version this library does not know */
    bad[4] = 2;
    reseal(bad, len);
    CHECK_EQ(vsn_device_restore_state(dev, bad, len), -EINVAL);
    memcpy(bad, blob, len); /* rx queue size 100: not a power of two */
    uint32_t q = 100;
    memcpy(bad + 52 + 4, &q, 4);
    reseal(bad, len);
    CHECK_EQ(vsn_device_restore_state(dev, bad, len), -EINVAL);
    memcpy(bad, blob, len); /* rx queue size 65536: too large */
    q = 65536;
    memcpy(bad + 52 + 4, &q, 4);
    reseal(bad, len);
    CHECK_EQ(vsn_device_restore_state(dev, bad, len), -EINVAL);
    memcpy(bad, blob, len); /* the used index the blob says is not the one in guest memory */
    bad[52 + 34] ^= 0x40;
    reseal(bad, len);
    CHECK_EQ(vsn_device_restore_state(dev, bad, len), -EINVAL);
    int refused = 0;
    for (size_t n = 0; n < len; n++) /* truncated at every length */
        refused += vsn_device_restore_state(dev, blob, n) == -EINVAL;
    CHECK_EQ(refused, len);
    memcpy(bad, blob, len); /* padded by one byte */
    bad[len] = 0;
    CHECK_EQ(vsn_device_restore_state(dev, bad, len + 1), -EINVAL);
    refused = 0;
    for (size_t i = 0; i < len; i++) { /* one byte flipped anywhere (the checksum no longer fits) */
        memcpy(bad, blob, len);
        bad[i] ^= 0xFF;
        refused += vsn_device_restore_state(dev, bad, len) == -EINVAL;
    }
    CHECK_EQ(refused, len);
    CHECK_EQ(vsn_device_restore_state(dev, NULL, len), -EINVAL);

    /* The memory the VMM gives does not hold the rings: the same memory 1 GiB higher. */
    vsn_device *other = side_device(3);
    vsn_mem_region mr[8];
    uint32_t n = gs_mem_table(s, mr, 8);
    for (uint32_t i = 0; i < n; i++)
        mr[i].guest_phys_addr += 1ull << 30;
    CHECK_EQ(vsn_device_restore_state(other, blob, len), -EINVAL); /* no memory table yet */
    CHECK_EQ(vsn_device_set_mem_table(other, mr, n), 0);
    CHECK_EQ(vsn_device_restore_state(other, blob, len), -EINVAL);
    vsn_device_destroy(other);
    /* Another guest CID than the blob's, with the right memory. */
    other = side_device(4);
    n = gs_mem_table(s, mr, 8);
    CHECK_EQ(vsn_device_set_mem_table(other, mr, n), 0);
    CHECK_EQ(vsn_device_restore_state(other, blob, len), -EINVAL);
    vsn_device_destroy(other);

    /* After every refusal the device takes the good blob, once, and the guest goes on. */
    CHECK_EQ(vsn_device_restore_state(dev, blob, len), 0);
    CHECK_EQ(vsn_device_restore_state(dev, blob, len), -EINVAL); /* queues are set up now */
    CHECK_EQ(gs_device_resume(s), 0);
    bool ok;
    VT_WAIT(s, T, gs_get_stats(s)->transport_resets == 1, "TRANSPORT_RESET after the restore", ok);
    gs_conn *b = vt_connect_listener(s, g_lfd, 5000, VSN_VIRTIO_VSOCK_TYPE_STREAM, &hb);
    if (b != NULL)
        vt_transfer(s, b, hb, 100000, 100000, 23, 24, "after the refused blobs");
    free(bad);
    free(blob);
    close(ha);
    if (hb >= 0) close(hb);
    gs_destroy(&s);
}

#define CASES(X) \
    X(restore, test_restore()) \
    X(pause_resume, test_pause_resume()) \
    X(bad_blobs, test_bad_blobs())
static const char *const CASE_NAMES[] = { CASES(VSN_CASE_NAME) };

int main(int argc, char **argv)
{
    VSN_CASES_INIT(argc, argv, CASE_NAMES);
    strcpy(g_dir, "/tmp/vsn_snapXXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(g_uds, sizeof g_uds, "%s/vsock", g_dir);
    snprintf(g_listen_path, sizeof g_listen_path, "%s_5000", g_uds);
    g_lfd = vt_unix_listen(g_listen_path);
    CHECK(g_lfd >= 0);
    CASES(VSN_CASE_RUN)
    close(g_lfd);
    unlink(g_listen_path);
    unlink(g_uds);
    rmdir(g_dir);
    return vsn_check_summary("vsock_snapshot");
}
