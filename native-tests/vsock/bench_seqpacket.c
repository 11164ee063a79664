/*
 * bench_seqpacket.c — SEQPACKET message rate through the device vs. a plain AF_UNIX
 * SOCK_SEQPACKET socketpair, for a few message sizes. Not a test: prints figures as ratios to the
 * socketpair measured in the same run, asserts nothing about timing.
 *
 *   guest->host : the guest sends whole messages (gs_seq_send); the program reads one per recv
 *                 from its vsn_device_listen fd.
 *   host->guest : the program sends one message per send on a vsn_device_connect fd; the device splits
 *                 it into 4 KiB rx buffers; the guest reads whole messages (and, as Linux, sends a
 *                 CREDIT_UPDATE after each).
 *   baseline    : the same messages over socketpair(AF_UNIX, SOCK_SEQPACKET), one thread.
 * Each size and direction first moves 1/16 of its messages unmeasured (warm-up); with
 * VSN_BENCH_ROWS=1 the rows seqpacket_<size>_<g2h|h2g> also go out as @row lines (vsn_bench_row.h).
 * Usage: bench_seqpacket [MiB]   (default 256 per size and direction; at most 200 000 messages)
 * VSN_BENCH_ONLY=seqpacket_<size>_<g2h|h2g> runs that row's device side alone (no baseline) and
 * VSN_BENCH_PERF_CTL brackets its measured part for perf (vsn_bench_row.h; profile.sh).
 */
#include "guest_stack.h"
#include "vsn_bench_row.h"
#include "vt_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint8_t g_buf[65536 + 1];

/* Messages per second moving `count` messages of `size` bytes; 0 when it did not complete. */
static double run(gs_stack *s, gs_conn *c, int fd, bool g2h, size_t size, uint64_t count)
{
    uint64_t sent = 0, got = 0;
    size_t done = 0;
    double t0 = now_s(), limit = t0 + 60;
    while (got < count && now_s() < limit) {
        if (sent < count) {
            if (g2h) {
                int rc = gs_seq_send(s, c, vt_fp_at(sent), size, false, &done);
                if (rc < 0)
                    return 0;
                if (rc == 1) {
                    sent++;
                    done = 0;
                }
            } else if (send(fd, vt_fp_at(sent), size, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)size) {
                sent++;
            }
        }
        bool eor;
        long n = g2h ? (long)recv(fd, g_buf, sizeof g_buf, MSG_DONTWAIT) : gs_seq_recv(s, c, g_buf, sizeof g_buf, &eor);
        if (n == (long)size)
            got++;
        else if (n >= 0)
            return 0; /* a message of the wrong size: boundaries broken */
        if (gs_pump(s, 0) < 0)
            return 0;
    }
    double dt = now_s() - t0;
    return got == count ? count / dt : 0;
}

static double run_pair(size_t size, uint64_t count)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv) != 0)
        return 0;
    uint64_t sent = 0, got = 0;
    double t0 = now_s();
    while (got < count) {
        if (sent < count && send(sv[0], vt_fp_at(sent), size, MSG_NOSIGNAL) == (ssize_t)size)
            sent++;
        while (recv(sv[1], g_buf, sizeof g_buf, 0) == (ssize_t)size)
            got++;
    }
    double dt = now_s() - t0;
    close(sv[0]);
    close(sv[1]);
    return count / dt;
}

static vt_accepted g_acc = { .fd = -1 };

int main(int argc, char **argv)
{
    uint64_t total = (argc > 1 ? strtoull(argv[1], NULL, 10) : 256) << 20;
    static const char *const rows[] = { "seqpacket_64_g2h",   "seqpacket_64_h2g",
                                        "seqpacket_4000_g2h", "seqpacket_4000_h2g",
                                        "seqpacket_65536_g2h", "seqpacket_65536_h2g" };
    vsn_bench_only_check("bench_seqpacket", rows, sizeof rows / sizeof rows[0]);
    gs_config cfg = gs_config_default();
    cfg.seqpacket = true;
    cfg.max_pkt = 65536;
    cfg.rx_buf_size = 4096;
    gs_stack *s = NULL;
    if (gs_create(&cfg, &s) != 0)
        return 1;
    /* guest->host over vsn_device_listen, host->guest over vsn_device_connect */
    vsn_device_listen(gs_device(s), 4000, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET, vt_on_accept, &g_acc);
    gs_conn *c = gs_connect_type(s, 4000, 0, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET);
    gs_listen(s, 3000);
    int fd = -1;
    vsn_device_connect(gs_device(s), 3000, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET, &fd);
    gs_conn *d = NULL;
    int64_t dl = gs_now_ms() + 5000;
    while ((c->state != GS_ESTABLISHED || g_acc.fd < 0 || d == NULL) && gs_now_ms() < dl) {
        if (d == NULL)
            d = gs_accept(s, 3000);
        gs_pump(s, 1);
    }
    if (c->state != GS_ESTABLISHED || g_acc.fd < 0 || d == NULL || fd < 0) {
        fprintf(stderr, "bench_seqpacket: connections not established\n");
        return 1;
    }

    static const size_t sizes[] = { 64, 4000, 65536 };
    printf("bench_seqpacket: up to %llu MiB per size and direction, one thread, manual poll\n",
           (unsigned long long)(total >> 20));
    printf("%-34s %12s %12s %8s %9s\n", "path", "device msg/s", "socketpair", "ratio", "dev MB/s");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t count = total / sizes[i];
        if (count > 200000)
            count = 200000;
        double pair = NAN;
        for (int dir = 0; dir < 2; dir++) {
            char name[48];
            snprintf(name, sizeof name, "seqpacket_%zu_%s", sizes[i], dir == 0 ? "g2h" : "h2g");
            if (!vsn_bench_wants(name))
                continue;
            if (isnan(pair) && vsn_bench_baselines())
                pair = run_pair(sizes[i], count);
            gs_conn *conn = dir == 0 ? c : d;
            int rfd = dir == 0 ? g_acc.fd : fd;
            vsn_bench_snap a, b;
            double dev = 0;
            if (run(s, conn, rfd, dir == 0, sizes[i], count / 16 + 1) > 0) {
                vsn_bench_snap1(&a, gs_device(s));
                vsn_bench_perf(true);
                dev = run(s, conn, rfd, dir == 0, sizes[i], count);
                vsn_bench_perf(false);
                vsn_bench_snap1(&b, gs_device(s));
            }
            if (dev > 0)
                vsn_bench_row(name, dev, pair, "msg/s", vsn_bench_ratio(dev, pair), &a, &b,
                              "\"message_bytes\":%zu", sizes[i]);
            char what[64];
            snprintf(what, sizeof what, "%s, %zu-byte messages", dir == 0 ? "guest->host" : "host->guest", sizes[i]);
            printf("%-34s %12.0f %12.0f %8.2f %9.0f\n", what, dev, pair, vsn_bench_ratio(dev, pair),
                   dev * sizes[i] / 1e6);
        }
    }
    close(fd);
    close(g_acc.fd);
    gs_destroy(&s);
    return 0;
}
