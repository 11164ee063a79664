/*
 * vsock_unidirectional.c — one-way streams that only complete thanks to credit updates.
 *
 *  1. 1 GiB guest -> host (Unix listener "<uds>_5001"), no host->guest application traffic: the
 *     guest sends only within the credit it learned, so it finishes only if the device sends
 *     CREDIT_UPDATEs on its own (counted: > 0, and no RW ever comes back).
 *  2. 1 GiB host -> guest (vsn_connect) into 4 KiB rx buffers: the device sends only within the
 *     guest's credit, which moves only through the guest's Linux-style CREDIT_UPDATEs.
 *  3. > 4 GiB guest -> host on one connection: tx_cnt / fwd_cnt wrap past 2^32.
 *  4. > 4 GiB host -> guest on one connection: the device's tx_cnt and the guest's fwd_cnt wrap,
 *     and the device still never sends beyond the guest's credit.
 * Every byte is checked against a position-dependent pattern (vt_fp_*). MB/s are printed for
 * information only. A stall (no progress for 10 s) fails with the connection's credit state.
 */
#include "guest_stack.h"
#include "vsn_check.h"
#include "vt_util.h"

#include <stdlib.h>
#include <time.h>
#include <string.h>

#define STALL_MS 10000

static char g_dir[64], g_uds[128], g_lpath[160];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* guest -> host: returns bytes verified at the host. */
static uint64_t g2h(gs_stack *s, gs_conn *c, int hfd, uint64_t total, const char *what)
{
    static uint8_t buf[1 << 18];
    uint64_t sent = 0, got = 0;
    bool bad = false;
    int64_t last = gs_now_ms();
    double t0 = now_s();
    while (got < total) {
        int progress = 0;
        if (sent < total) {
            uint64_t k = total - sent < VT_FP_MAXCHUNK ? total - sent : VT_FP_MAXCHUNK;
            size_t n = gs_send(s, c, vt_fp_at(sent), (size_t)k);
            sent += n;
            progress += n > 0;
        }
        ssize_t n = vt_read(hfd, buf, sizeof buf);
        if (n > 0) {
            if (!bad && vt_fp_check(got, buf, (size_t)n) != (size_t)n) {
                bad = true;
                fprintf(stderr, "%s: wrong byte near host offset %llu\n", what, (unsigned long long)got);
            }
            got += (uint64_t)n;
            progress++;
        } else if (n == 0 || (n < 0 && n != -EAGAIN)) {
            fprintf(stderr, "%s: host read ended: %zd\n", what, n);
            break;
        }
        if (gs_pump(s, 0) > 0)
            progress++;
        if (progress) {
            last = gs_now_ms();
        } else if (gs_now_ms() - last > STALL_MS) {
            fprintf(stderr, "%s: STALL: sent %llu, host got %llu, tx_cnt %u peer_fwd_cnt %u peer_buf_alloc %u peer_free %u, credit updates seen %llu\n",
                    what, (unsigned long long)sent, (unsigned long long)got, c->tx_cnt,
                    c->peer_fwd_cnt, c->peer_buf_alloc, gs_peer_free(c),
                    (unsigned long long)c->ops[VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE]);
            break;
        }
    }
    double dt = now_s() - t0;
    printf("%s: %llu MiB in %.2f s = %.0f MB/s; CREDIT_UPDATEs from the device: %llu\n", what,
           (unsigned long long)(got >> 20), dt, got / dt / 1e6,
           (unsigned long long)c->ops[VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE]);
    CHECK(!bad);
    CHECK_EQ(got, total);
    return bad ? 0 : got;
}

static uint64_t h2g(gs_stack *s, gs_conn *c, int fd, uint64_t total, const char *what)
{
    static uint8_t buf[1 << 18];
    uint64_t sent = 0, got = 0;
    bool bad = false;
    int64_t last = gs_now_ms();
    double t0 = now_s();
    while (got < total) {
        int progress = 0;
        if (sent < total) {
            uint64_t k = total - sent < VT_FP_MAXCHUNK ? total - sent : VT_FP_MAXCHUNK;
            ssize_t n = vt_write(fd, vt_fp_at(sent), (size_t)k);
            if (n > 0) {
                sent += (uint64_t)n;
                progress++;
            }
        }
        size_t n = gs_recv(s, c, buf, sizeof buf);
        if (n > 0) {
            if (!bad && vt_fp_check(got, buf, n) != n) {
                bad = true;
                fprintf(stderr, "%s: wrong byte near guest offset %llu\n", what, (unsigned long long)got);
            }
            got += n;
            progress++;
        }
        if (gs_pump(s, 0) > 0)
            progress++;
        if (c->state != GS_ESTABLISHED) {
            fprintf(stderr, "%s: connection ended (state %d)\n", what, c->state);
            break;
        }
        if (progress) {
            last = gs_now_ms();
        } else if (gs_now_ms() - last > STALL_MS) {
            fprintf(stderr, "%s: STALL: host sent %llu, guest got %llu, rx_cnt %u fwd_cnt %u last sent %u\n",
                    what, (unsigned long long)sent, (unsigned long long)got, c->rx_cnt, c->fwd_cnt,
                    c->last_fwd_cnt_sent);
            break;
        }
    }
    double dt = now_s() - t0;
    printf("%s: %llu MiB in %.2f s = %.0f MB/s; guest CREDIT_UPDATEs sent: %llu\n", what,
           (unsigned long long)(got >> 20), dt, got / dt / 1e6,
           (unsigned long long)gs_get_stats(s)->credit_updates_sent);
    CHECK(!bad);
    CHECK_EQ(got, total);
    CHECK_EQ(c->credit_violations, 0);
    return got;
}

static gs_conn *connect_listener(gs_stack *s, int lfd, uint32_t port, int *hfd)
{
    bool ok;
    gs_conn *c = gs_connect(s, port, 0);
    *hfd = -1;
    VT_WAIT(s, 5000, c->state != GS_CONNECTING && (*hfd >= 0 || (*hfd = vt_accept(lfd)) >= 0),
            "RESPONSE and the host accept", ok);
    CHECK_EQ(c->state, GS_ESTABLISHED);
    return ok && c->state == GS_ESTABLISHED ? c : NULL;
}

/* 1. guest -> host: 1 GiB into a Unix listener */
static void guest_to_host(gs_stack *s, int lfd, uint64_t total)
{
    bool ok;
    int hfd;
    gs_conn *c = connect_listener(s, lfd, 5001, &hfd);
    if (c != NULL) {
        g2h(s, c, hfd, total, "1 GiB guest->host");
        CHECK(c->ops[VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE] > 0);
        CHECK_EQ(c->ops[VSN_VIRTIO_VSOCK_OP_RW], 0);
        CHECK_EQ(c->ops[VSN_VIRTIO_VSOCK_OP_CREDIT_REQUEST], 0);
        gs_shutdown(s, c, 3);
        VT_WAIT(s, 5000, c->rst_received, "RST after the guest's close", ok);
        close(hfd);
    }
}

/* 2. host -> guest into 4 KiB rx buffers: 1 GiB */
static void host_to_guest(gs_stack *s, uint64_t total)
{
    bool ok;
    gs_listen(s, 2000);
    int fd = -1;
    CHECK_EQ(vsn_device_connect(gs_device(s), 2000, VSN_VIRTIO_VSOCK_TYPE_STREAM, &fd), 0);
    gs_conn *d = NULL;
    VT_WAIT(s, 5000, (d = gs_accept(s, 2000)) != NULL, "the guest to accept vsn_connect", ok);
    if (d != NULL && fd >= 0) {
        uint64_t cu0 = gs_get_stats(s)->credit_updates_sent;
        h2g(s, d, fd, total, "1 GiB host->guest");
        CHECK(gs_get_stats(s)->credit_updates_sent > cu0);
        close(fd);
        VT_WAIT(s, 5000, d->peer_shutdown == 3, "SHUTDOWN after the host closed", ok);
    }
}

/* 3. past 2^32 on one connection, guest -> host */
static void guest_to_host_wrap(gs_stack *s, int lfd, uint64_t total)
{
    bool ok;
    int hfd;
    gs_conn *c = connect_listener(s, lfd, 5001, &hfd);
    if (c != NULL) {
        char what[64];
        snprintf(what, sizeof what, "%.2f GiB guest->host (u32 wrap)", total / (double)(1ull << 30));
        g2h(s, c, hfd, total, what);
        CHECK_EQ(c->tx_cnt, (uint32_t)total);
        CHECK(c->tx_cnt < (uint32_t)(512u << 20)); /* it wrapped */
        gs_credit_request(s, c);
        uint64_t cu = c->ops[VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE];
        VT_WAIT(s, 5000, c->ops[VSN_VIRTIO_VSOCK_OP_CREDIT_UPDATE] > cu, "CREDIT_UPDATE answering CREDIT_REQUEST", ok);
        CHECK_EQ(c->peer_fwd_cnt, c->tx_cnt);
        CHECK_EQ(gs_peer_free(c), c->peer_buf_alloc);
        close(hfd);
    }
}

/* 4. past 2^32 host -> guest */
static void host_to_guest_wrap(gs_stack *s, uint64_t total)
{
    bool ok;
    gs_listen(s, 2001);
    int fd = -1;
    CHECK_EQ(vsn_device_connect(gs_device(s), 2001, VSN_VIRTIO_VSOCK_TYPE_STREAM, &fd), 0);
    gs_conn *d = NULL;
    VT_WAIT(s, 5000, (d = gs_accept(s, 2001)) != NULL, "the guest to accept the second vsn_connect", ok);
    if (d != NULL && fd >= 0) {
        char what[64];
        snprintf(what, sizeof what, "%.2f GiB host->guest (u32 wrap)", total / (double)(1ull << 30));
        h2g(s, d, fd, total, what);
        CHECK_EQ(d->rx_cnt, (uint32_t)total);
        CHECK(d->rx_cnt < (uint32_t)(512u << 20)); /* it wrapped */
        CHECK_EQ(d->fwd_cnt, d->rx_cnt);           /* everything consumed */
        close(fd);
        VT_WAIT(s, 5000, d->peer_shutdown == 3, "SHUTDOWN after the host closed (wrapped counters)", ok);
    }
}

#define CASES(X)                                                  \
    X(guest_to_host, guest_to_host(s, lfd, gib))                  \
    X(host_to_guest, host_to_guest(s, gib))                       \
    X(guest_to_host_wrap, guest_to_host_wrap(s, lfd, wrap_total)) \
    X(host_to_guest_wrap, host_to_guest_wrap(s, wrap_total))
static const char *const CASE_NAMES[] = { CASES(VSN_CASE_NAME) };

int main(int argc, char **argv)
{
    VSN_CASES_INIT(argc, argv, CASE_NAMES);
    uint64_t gib = 1ull << 30;
    uint64_t wrap_total = (1ull << 32) + (256ull << 20);
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) { /* for debugging */
        gib = 64ull << 20;
        wrap_total = 128ull << 20;
    }
    strcpy(g_dir, "/tmp/vsn_uniXXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return 1;
    snprintf(g_uds, sizeof g_uds, "%s/vsock", g_dir);
    snprintf(g_lpath, sizeof g_lpath, "%s_5001", g_uds);
    int lfd = vt_unix_listen(g_lpath);
    CHECK(lfd >= 0);

    gs_config cfg = gs_config_default();
    cfg.uds_path = g_uds;
    gs_stack *s = vt_create_stack(&cfg, "vsock_unidirectional");
    CASES(VSN_CASE_RUN)

    const gs_stats *st = gs_get_stats(s);
    CHECK_EQ(st->oversize_pkts, 0);
    CHECK_EQ(st->bad_used_len, 0);
    gs_destroy(&s);
    close(lfd);
    unlink(g_lpath);
    unlink(g_uds);
    rmdir(g_dir);
    return vsn_check_summary("vsock_unidirectional");
}
