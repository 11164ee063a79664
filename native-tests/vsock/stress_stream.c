/*
 * stress_stream.c — stress without loss through the simulator (after the 2013 transport's own test:
 * a 512 MB file both ways, again and again): N stream connections at once (default 64), each moving
 * M bytes (default 512 MiB) both ways at the same time between the C guest stack (guest_stack.c on
 * the driver simulator) and host Unix sockets, on one thread (manual poll).
 *
 *  - connections: even ones guest-initiated (to the host listener "<uds>_5000"), odd ones
 *    host-initiated (the hybrid socket, "CONNECT 5001\n" into a guest listener);
 *  - random chunk sizes on every side: guest sends and reads, host writes and reads each take
 *    1..64 KiB at a time, and each side skips a turn now and then (credit stalls both ways);
 *  - every byte checked at its offset (vt_util.h's fast pattern, each direction of each connection
 *    at its own seed-derived offset), and the exact count: nothing lost, duplicated or reordered;
 *  - random half-closes at the end: per connection the seed picks which side shuts its write side
 *    first (the other one only after it has read that end of stream), then which side closes;
 *  - afterwards: no connection left in the device (vsn_device_get_connections, opened == closed),
 *    the ended connections' byte counters add up, no byte dropped, no credit violation; no fd left
 *    (/proc/self/fd as before the connections); memory back (RSS after the run within a fixed
 *    bound of RSS before it; the peak is printed).
 *
 * Usage: stress_stream [--conns N] [--mib M | --kib K] [--seed S] [--rx-buf BYTES]
 * Prints bytes, seconds, throughput and the peak RSS; exit 0 only when every check held.
 * ctest stress_stream_smoke runs 64 x 2 MiB; the full run is in the README.
 */
#include "bench_util.h"
#include "guest_stack.h"
#include "vsn_check.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define GUEST_PORT 5001
#define HOST_PORT 5000
#define STALL_MS 30000 /* no byte moved anywhere for this long: a hang, reported as such */

typedef struct sconn {
    gs_conn *c;
    int fd;
    bool hybrid;
    uint64_t g2h_base, h2g_base;   /* pattern offsets of each direction */
    uint64_t g_sent, g_recv, h_sent, h_recv;
    bool g_shut, h_shut;           /* write side shut (guest SHUTDOWN(SEND), host SHUT_WR) */
    bool g_eof, h_eof;             /* each end has read the other's end of stream */
    bool guest_shuts_first, guest_closes;
    bool closing, done;
} sconn;

static uint64_t g_rng;

static uint64_t rnd(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1Dull;
}

/* 1..max, spread over the powers of two (small chunks as often as large ones). */
static size_t rnd_chunk(size_t max)
{
    unsigned bits = 1 + (unsigned)(rnd() % 16);
    size_t k = 1 + (size_t)(rnd() % (1u << bits));
    return k < max ? k : max;
}

static int fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own fd */
}

/* A field of /proc/self/status in KiB (VmRSS, VmHWM). */
static long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

static uint8_t g_buf[65536];
static int g_failures_reported;

static void fail_conn(int i, const char *what, uint64_t at)
{
    CHECK(0);
    if (g_failures_reported++ < 20)
        fprintf(stderr, "stress: connection %d: %s (at byte %" PRIu64 ")\n", i, what, at);
}

/* Opens connection i (established, host fd non-blocking); false on failure. */
static bool open_conn(gs_stack *s, int lfd, const char *uds, sconn *k, int i)
{
    bool ok;
    k->fd = -1;
    k->hybrid = (i & 1) != 0;
    k->g2h_base = vt_mix(((uint64_t)i << 1) ^ g_rng) % VT_FP_LEN;
    k->h2g_base = vt_mix(((uint64_t)i << 1 | 1) ^ g_rng) % VT_FP_LEN;
    k->guest_shuts_first = rnd() & 1;
    k->guest_closes = rnd() & 1;
    if (!k->hybrid) {
        k->c = vt_connect_listener(s, lfd, HOST_PORT, VSN_VIRTIO_VSOCK_TYPE_STREAM, &k->fd);
        return k->c != NULL && k->fd >= 0;
    }
    k->fd = vt_unix_connect(uds);
    CHECK(k->fd >= 0);
    if (k->fd < 0)
        return false;
    CHECK_EQ(vt_write(k->fd, "CONNECT 5001\n", 13), 13);
    /* the guest accepts, then "OK <port>\n" arrives before any data (read a byte at a time) */
    char line[32];
    size_t len = 0;
    k->c = NULL;
    VT_WAIT(s, 5000,
            ((k->c != NULL || (k->c = gs_accept(s, GUEST_PORT)) != NULL)
             && ((len > 0 && line[len - 1] == '\n')
                 || (vt_read(k->fd, line + len, 1) == 1 && ++len < sizeof line && line[len - 1] == '\n'))),
            "the hybrid connection and its OK line", ok);
    CHECK(len >= 3 && memcmp(line, "OK ", 3) == 0);
    return ok && k->c != NULL;
}

/* One turn of connection i; returns bytes moved. */
static uint64_t step(gs_stack *s, sconn *k, int i, uint64_t m)
{
    uint64_t moved = 0;
    gs_conn *c = k->c;
    /* guest sends */
    if (k->g_sent < m && (rnd() & 3) != 0) {
        size_t n = gs_send(s, c, vt_fp_at(k->g2h_base + k->g_sent), rnd_chunk(m - k->g_sent));
        k->g_sent += n;
        moved += n;
    }
    /* host writes */
    if (k->h_sent < m && (rnd() & 3) != 0) {
        ssize_t n = vt_write(k->fd, vt_fp_at(k->h2g_base + k->h_sent), rnd_chunk(m - k->h_sent));
        if (n > 0) {
            k->h_sent += (uint64_t)n;
            moved += (uint64_t)n;
        } else if (n != -EAGAIN) {
            fail_conn(i, "host write failed", k->h_sent);
        }
    }
    /* host reads */
    if (!k->h_eof && (rnd() & 3) != 0) {
        ssize_t n = vt_read(k->fd, g_buf, rnd_chunk(sizeof g_buf));
        if (n > 0) {
            size_t bad = vt_fp_check(k->g2h_base + k->h_recv, g_buf, (size_t)n);
            if (bad != (size_t)n || k->h_recv + (uint64_t)n > m)
                fail_conn(i, bad != (size_t)n ? "guest->host byte wrong" : "guest->host more than sent", k->h_recv + bad);
            k->h_recv += (uint64_t)n;
            moved += (uint64_t)n;
        } else if (n == 0) {
            k->h_eof = true;
            if (k->h_recv != m)
                fail_conn(i, "host end of stream early", k->h_recv);
        } else if (n != -EAGAIN) {
            fail_conn(i, "host read failed", k->h_recv);
            k->h_eof = true;
        }
    }
    /* guest reads */
    if (!k->g_eof && (rnd() & 3) != 0) {
        size_t n = gs_recv(s, c, g_buf, rnd_chunk(sizeof g_buf));
        if (n > 0) {
            size_t bad = vt_fp_check(k->h2g_base + k->g_recv, g_buf, n);
            if (bad != n || k->g_recv + n > m)
                fail_conn(i, bad != n ? "host->guest byte wrong" : "host->guest more than sent", k->g_recv + bad);
            k->g_recv += n;
            moved += n;
        } else if (((c->peer_shutdown & VSN_VIRTIO_VSOCK_SHUTDOWN_SEND) != 0 || c->rst_received) && gs_rx_avail(c) == 0) {
            k->g_eof = true;
            if (k->g_recv != m)
                fail_conn(i, "guest end of stream early", k->g_recv);
        }
    }
    /* The device may end the connection (RST) once both sides shut their write sides: nothing is
     * left to carry. Before that a RST is a failure. */
    if (c->rst_received && !(k->g_shut && k->h_shut) && !k->closing) {
        fail_conn(i, "reset before both sides shut down", k->g_recv);
        k->closing = true;
    }
    /* half-closes: the first side as soon as it sent everything, the other once it read that EOF */
    bool g_may = k->guest_shuts_first || k->g_eof, h_may = !k->guest_shuts_first || k->h_eof;
    if (!k->g_shut && k->g_sent == m && g_may && !c->rst_received) {
        gs_shutdown(s, c, VSN_VIRTIO_VSOCK_SHUTDOWN_SEND);
        k->g_shut = true;
    }
    if (!k->h_shut && k->h_sent == m && h_may) {
        if (shutdown(k->fd, SHUT_WR) != 0)
            fail_conn(i, "host shutdown(SHUT_WR) failed", k->h_sent);
        k->h_shut = true;
    }
    /* both ends of stream read: one side closes (unless the device ended it already) */
    if (!k->closing && k->g_eof && k->h_eof && k->g_shut && k->h_shut) {
        k->closing = true;
        if (c->rst_received || c->rst_sent) {
            /* the device ended it after both shutdowns */
        } else if (k->guest_closes) {
            gs_shutdown(s, c, VSN_VIRTIO_VSOCK_SHUTDOWN_RCV | VSN_VIRTIO_VSOCK_SHUTDOWN_SEND);
        } else {
            close(k->fd);
            k->fd = -1;
        }
    }
    if (k->closing && (c->rst_sent || c->rst_received) && (k->h_eof || k->fd < 0)) {
        if (k->fd >= 0)
            close(k->fd);
        k->fd = -1;
        if (c->credit_violations || c->rw_after_shutdown || c->bad_flags)
            fail_conn(i, "device broke the protocol (credit, RW after SHUTDOWN, flags)", 0);
        gs_release(s, c);
        k->c = NULL;
        k->done = true;
    }
    return moved;
}

static void usage(void)
{
    fprintf(stderr, "usage: stress_stream [--conns N (1..%u)] [--mib M | --kib K] [--seed S] [--rx-buf BYTES]\n",
            GS_MAX_CONNS);
    exit(2);
}

int main(int argc, char **argv)
{
    unsigned nconns = 64;
    uint64_t m = 512ull << 20, seed = 1;
    uint32_t rx_buf = 4096;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            usage();
        if (strcmp(argv[i], "--conns") == 0) nconns = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--mib") == 0) m = strtoull(v, NULL, 10) << 20;
        else if (strcmp(argv[i], "--kib") == 0) m = strtoull(v, NULL, 10) << 10;
        else if (strcmp(argv[i], "--seed") == 0) seed = strtoull(v, NULL, 10);
        else if (strcmp(argv[i], "--rx-buf") == 0) rx_buf = (uint32_t)strtoul(v, NULL, 10);
        else usage();
        i++;
    }
    if (nconns < 1 || nconns > GS_MAX_CONNS || m == 0 || rx_buf < 256 || rx_buf > 65536 + GS_HDR)
        usage();
    g_rng = vt_mix(seed) | 1;
    vt_fp_base();

    char dir[64] = "/tmp/vsn_stressXXXXXX", uds[128], lpath[160];
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(uds, sizeof uds, "%s/vsock", dir);
    snprintf(lpath, sizeof lpath, "%s_%u", uds, HOST_PORT);
    int lfd = vt_unix_listen(lpath);
    CHECK(lfd >= 0);
    gs_config cfg = gs_config_default();
    cfg.uds_path = uds;
    cfg.rx_buf_size = rx_buf;
    cfg.max_connections = nconns + 1;
    gs_stack *s = vt_create_stack(&cfg, "stress_stream");
    CHECK_EQ(gs_listen(s, GUEST_PORT), 0);
    for (int k = 0; k < 50; k++)
        gs_pump(s, 0);
    int fds_before = fd_count();
    long rss_before = status_kib("VmRSS");

    sconn *cs = calloc(nconns, sizeof *cs);
    bool opened = cs != NULL;
    for (unsigned i = 0; opened && i < nconns; i++)
        opened = open_conn(s, lfd, uds, &cs[i], (int)i);
    CHECK(opened);

    double t0 = vt_now_s();
    uint64_t moved = 0;
    unsigned left = opened ? nconns : 0;
    int64_t last_move = gs_now_ms();
    double next_report = t0 + 10;
    while (left > 0) {
        uint64_t before = moved;
        for (unsigned i = 0; i < nconns; i++)
            if (!cs[i].done) {
                moved += step(s, &cs[i], (int)i, m);
                if (cs[i].done)
                    left--;
            }
        int r = gs_pump(s, 0);
        if (r < 0) {
            fprintf(stderr, "stress: gs_pump failed: %d\n", r);
            CHECK(0);
            break;
        }
        int64_t now = gs_now_ms();
        if (moved != before || r > 0)
            last_move = now;
        else if (now - last_move > STALL_MS) {
            fprintf(stderr, "stress: nothing moved for %d s with %u connections open\n", STALL_MS / 1000, left);
            for (unsigned i = 0; i < nconns && i < 8; i++)
                if (!cs[i].done)
                    fprintf(stderr, "  conn %u: g_sent %" PRIu64 " h_recv %" PRIu64 " h_sent %" PRIu64 " g_recv %" PRIu64
                            " shut g%d h%d eof g%d h%d state %d\n", i, cs[i].g_sent, cs[i].h_recv, cs[i].h_sent,
                            cs[i].g_recv, cs[i].g_shut, cs[i].h_shut, cs[i].g_eof, cs[i].h_eof, (int)cs[i].c->state);
            CHECK(0);
            break;
        }
        if (vt_now_s() > next_report) {
            next_report += 10;
            printf("  ... %.1f GiB sent and received, %u connections open, RSS %ld MiB\n", moved / 2 / 1073741824.0, left,
                   status_kib("VmRSS") / 1024);
            fflush(stdout);
        }
    }
    double secs = vt_now_s() - t0;
    /* the device lets go of every connection */
    bool ok;
    uint32_t total = 1;
    VT_WAIT(s, 5000, (vsn_device_get_connections(gs_device(s), NULL, 0, sizeof(vsn_connection_info), &total), total == 0),
            "no connection left in the device", ok);
    vsn_device_counters dc = { .struct_size = sizeof dc };
    CHECK_EQ(vsn_device_get_counters(gs_device(s), &dc), 0);
    uint64_t want = (uint64_t)nconns * m;
    CHECK_EQ(dc.connections.connections_opened, nconns);
    CHECK_EQ(dc.connections.connections_closed, nconns);
    CHECK_EQ(dc.ended_connections.bytes_from_guest, want);
    CHECK_EQ(dc.ended_connections.bytes_to_host, want);
    CHECK_EQ(dc.ended_connections.bytes_to_guest, want);
    CHECK_EQ(dc.ended_connections.bytes_dropped, 0);
    CHECK_EQ(dc.ended_connections.credit_violations, 0);
    CHECK_EQ(dc.ended_connections.malformed, 0);
    for (unsigned i = 0; i < nconns && opened; i++) {
        CHECK_EQ(cs[i].h_recv, m);
        CHECK_EQ(cs[i].g_recv, m);
    }
    int fds_after = fd_count();
    CHECK_EQ(fds_after, fds_before);
    long rss_after = status_kib("VmRSS"), hwm = status_kib("VmHWM");
    /* memory back: what the connections used (rx buffers of the guest stack, the device's per-connection
     * buffers, the sockets' user-space side) is returned or reused; a fixed 64 MiB covers the runtime's
     * heap growth, whatever M is */
    CHECK(rss_after - rss_before < 64 * 1024);
    const gs_stats *st = gs_get_stats(s);
    CHECK_EQ(st->oversize_pkts, 0);
    CHECK_EQ(st->bad_used_len, 0);
    CHECK_EQ(st->not_for_us, 0);

    double bytes = 2.0 * (double)want;
    printf("stress_stream: %u connections x %" PRIu64 " KiB each way (seed %" PRIu64 ", rx buffers %u B): "
           "%.2f GiB moved in %.1f s, %.0f MB/s; RSS before %ld MiB, after %ld MiB, peak %ld MiB; "
           "fds %d before, %d after; connections opened %" PRIu64 ", closed %" PRIu64 "\n",
           nconns, m >> 10, seed, rx_buf, bytes / 1073741824.0, secs, bytes / secs / 1e6, rss_before / 1024,
           rss_after / 1024, hwm / 1024, fds_before, fds_after, dc.connections.connections_opened,
           dc.connections.connections_closed);

    for (unsigned i = 0; i < nconns && cs; i++)
        if (cs[i].fd >= 0)
            close(cs[i].fd);
    free(cs);
    gs_destroy(&s);
    close(lfd);
    unlink(lpath);
    unlink(uds);
    rmdir(dir);
    return vsn_check_summary("stress_stream");
}
