/*
 * bench_stream.c — stream throughput through the device vs. a plain AF_UNIX socketpair.
 * Not a test: prints figures, asserts nothing about timing.
 *
 *   guest->host : the guest sends 64 KiB RW packets; the device writes them into a Unix socket
 *                 (a real "<uds>_P" listener); the host reads 256 KiB at a time.
 *   host->guest : the host writes 64 KiB to a vsn_device_connect fd; the device fills 4 KiB rx buffers
 *                 (4052 payload bytes each); the guest consumes and sends Linux-style updates.
 *   baselines   : the same bytes over socketpair(AF_UNIX, SOCK_STREAM), one thread, the same
 *                 chunking (64 KiB writes; 256 KiB resp. 4 KiB reads).
 * Both sides run on the calling thread (manual poll), as in the harnesses.
 * Each direction first moves 1/16 of the bytes unmeasured (warm-up); with VSN_BENCH_ROWS=1 the rows
 * stream_g2h and stream_h2g also go out as @row lines (vsn_bench_row.h) with the device's syscalls
 * per packet and the library's allocations over the measured part.
 * Usage: bench_stream [MiB]   (default 1024 per direction). Exit status 1 when a transfer through
 * the device did not complete (ctest bench_stream_smoke runs 16 MiB: it checks that, never a speed).
 * VSN_BENCH_ONLY=stream_g2h|stream_h2g runs that direction's device side alone (no baseline) and
 * VSN_BENCH_PERF_CTL brackets its measured part for perf (vsn_bench_row.h; profile.sh).
 */
#include "bench_util.h"
#include "guest_stack.h"
#include "vsn_bench_row.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint8_t g_buf[1 << 18];

static double bench_g2h(gs_stack *s, gs_conn *c, int hfd, uint64_t total)
{
    uint64_t sent = 0, got = 0;
    double t0 = vt_now_s();
    while (got < total) {
        if (sent < total) {
            uint64_t k = total - sent < VT_FP_MAXCHUNK ? total - sent : VT_FP_MAXCHUNK;
            sent += gs_send(s, c, vt_fp_at(sent), (size_t)k);
        }
        ssize_t n = vt_read(hfd, g_buf, sizeof g_buf);
        if (n > 0)
            got += (uint64_t)n;
        else if (n == 0 || n != -EAGAIN)
            break;
        if (gs_pump(s, 0) < 0)
            break;
    }
    double dt = vt_now_s() - t0;
    return got == total ? total / dt / 1e6 : 0;
}

static double bench_h2g(gs_stack *s, gs_conn *c, int fd, uint64_t total)
{
    uint64_t sent = 0, got = 0;
    double t0 = vt_now_s();
    while (got < total) {
        if (sent < total) {
            uint64_t k = total - sent < VT_FP_MAXCHUNK ? total - sent : VT_FP_MAXCHUNK;
            ssize_t n = vt_write(fd, vt_fp_at(sent), (size_t)k);
            if (n > 0)
                sent += (uint64_t)n;
        }
        got += gs_recv(s, c, g_buf, sizeof g_buf);
        if (gs_pump(s, 0) < 0 || c->state != GS_ESTABLISHED)
            break;
    }
    double dt = vt_now_s() - t0;
    return got == total ? total / dt / 1e6 : 0;
}

int main(int argc, char **argv)
{
    uint64_t total = (argc > 1 ? strtoull(argv[1], NULL, 10) : 1024) << 20;
    static const char *const rows[] = { "stream_g2h", "stream_h2g" };
    vsn_bench_only_check("bench_stream", rows, 2);
    const bool do_g2h = vsn_bench_wants(rows[0]), do_h2g = vsn_bench_wants(rows[1]);
    char dir[64] = "/tmp/vsn_benchXXXXXX", uds[128], lpath[160];
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(uds, sizeof uds, "%s/vsock", dir);
    snprintf(lpath, sizeof lpath, "%s_5002", uds);
    int lfd = vt_unix_listen(lpath);
    gs_config cfg = gs_config_default();
    cfg.uds_path = uds;
    cfg.max_pkt = 65536;
    cfg.rx_buf_size = 4096;
    gs_stack *s = NULL;
    if (lfd < 0 || gs_create(&cfg, &s) != 0)
        return 1;

    gs_conn *c = gs_connect(s, 5002, 0);
    int hfd = -1;
    int64_t dl = gs_now_ms() + 5000;
    while ((c->state == GS_CONNECTING || hfd < 0) && gs_now_ms() < dl) {
        if (hfd < 0)
            hfd = vt_accept(lfd);
        gs_pump(s, 1);
    }
    vsn_bench_snap g0, g1, h0, h1;
    double g2h = 0, h2g = 0;
    if (do_g2h && c->state == GS_ESTABLISHED && hfd >= 0 && bench_g2h(s, c, hfd, total / 16) > 0) {
        vsn_bench_snap1(&g0, gs_device(s));
        vsn_bench_perf(true);
        g2h = bench_g2h(s, c, hfd, total);
        vsn_bench_perf(false);
        vsn_bench_snap1(&g1, gs_device(s));
    }

    gs_listen(s, 3000);
    int fd = -1;
    vsn_device_connect(gs_device(s), 3000, VSN_VIRTIO_VSOCK_TYPE_STREAM, &fd);
    gs_conn *d = NULL;
    dl = gs_now_ms() + 5000;
    while ((d = gs_accept(s, 3000)) == NULL && gs_now_ms() < dl)
        gs_pump(s, 1);
    if (do_h2g && d != NULL && fd >= 0 && bench_h2g(s, d, fd, total / 16) > 0) {
        vsn_bench_snap1(&h0, gs_device(s));
        vsn_bench_perf(true);
        h2g = bench_h2g(s, d, fd, total);
        vsn_bench_perf(false);
        vsn_bench_snap1(&h1, gs_device(s));
    }

    double p_g2h = vsn_bench_baselines() ? vt_bench_socketpair(total, sizeof g_buf, g_buf) : NAN;
    double p_h2g = vsn_bench_baselines() ? vt_bench_socketpair(total, 4096, g_buf) : NAN;

    printf("bench_stream: %llu MiB per direction, one thread, manual poll\n",
           (unsigned long long)(total >> 20));
    printf("%-44s %10s %12s %8s\n", "path", "device MB/s", "socketpair", "ratio");
    printf("%-44s %10.0f %12.0f %8.2f\n", "guest->host, 64 KiB packets -> Unix socket", g2h, p_g2h,
           vsn_bench_ratio(g2h, p_g2h));
    printf("%-44s %10.0f %12.0f %8.2f\n", "host->guest, 64 KiB writes -> 4 KiB rx bufs", h2g, p_h2g,
           vsn_bench_ratio(h2g, p_h2g));
    int failed = (do_g2h && g2h == 0) || (do_h2g && h2g == 0);
    if (!failed) {
        if (do_g2h)
            vsn_bench_row("stream_g2h", g2h, p_g2h, "MB/s", vsn_bench_ratio(g2h, p_g2h), &g0, &g1, NULL);
        if (do_h2g)
            vsn_bench_row("stream_h2g", h2g, p_h2g, "MB/s", vsn_bench_ratio(h2g, p_h2g), &h0, &h1, NULL);
    }
    if (failed)
        fprintf(stderr, "bench_stream: a transfer through the device did not complete (%s)\n",
                do_g2h && g2h == 0 ? "guest->host" : "host->guest");
    if (hfd >= 0) close(hfd);
    if (fd >= 0) close(fd);
    gs_destroy(&s);
    close(lfd);
    unlink(lpath);
    unlink(uds);
    rmdir(dir);
    return failed;
}
