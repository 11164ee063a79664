/*
 * bench_rows.c — the rows of issue 11's table the older benchmarks do not cover, each against its
 * baseline in the same run. Not a test: prints figures, asserts nothing about timing. The guest is
 * the C guest stack (native-tests/vsock/guest_stack.c) on the driver simulator.
 *
 *   threaded <MiB>   threaded_stream_cpu: the device on its own loop thread (eventfd kicks, a call
 *                    eventfd), the guest on this thread sending 64 KiB packets, the host reading on
 *                    its own thread; the device thread's CPU time per GiB (its thread CPU clock),
 *                    against a thread writing the same bytes in 64 KiB writes into a socketpair
 *                    (its own CPU clock) while another thread reads.
 *   rtt <count>      rtt_64: 64-byte request guest->host, the host echoes it, back to the guest;
 *                    device on its own thread; p50 and p99 against a socketpair ping-pong between
 *                    two threads.
 *   connect <count>  connect_rate: REQUEST -> the device connects to the host listener -> accept ->
 *                    RESPONSE -> the guest resets, the host closes; one at a time, manual poll;
 *                    against Unix connect/accept/close one at a time.
 *   idle <conns> <MiB>
 *                    idle_10k_memory, idle_10k_busy, idle_wakeups: the host peers of <conns> idle
 *                    connections live in a forked child (one fd each there, one in the device
 *                    here: RLIMIT_NOFILE's soft limit is raised to the hard one). Memory per
 *                    connection = (growth of this process's RSS - growth of the C side's own
 *                    malloc heap, mallinfo2) / connections: the device's managed heap and native
 *                    memory, garbage not yet collected included (an upper bound); kernel socket
 *                    buffers are not in RSS. Busy: one threaded stream (as above) with the idle
 *                    connections open / alone (the mean of a run before they were opened and
 *                    one after they were closed). Wake-ups: the device loop's
 *                    epoll_wait calls per second over 3 s while everything is idle.
 *   smoke            every mode, tiny (ctest bench_rows_smoke: each must complete).
 * Exit status 1 when something did not complete. With VSN_BENCH_ROWS=1 each row also goes out as
 * an @row line (vsn_bench_row.h). VSN_BENCH_ONLY=threaded_stream_cpu (mode threaded) or
 * connect_rate (mode connect) runs that row's device side alone (no baseline) and
 * VSN_BENCH_PERF_CTL brackets its measured part for perf (vsn_bench_row.h; profile.sh).
 */
#include "bench_util.h"
#include "guest_stack.h"
#include "vsn_bench_row.h"

#include <dirent.h>
#include <malloc.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

static char g_dir[64] = "/tmp/vsn_rowsXXXXXX", g_uds[128];
static uint8_t g_buf[1 << 18];

static void path_for(char *out, size_t cap, uint32_t port)
{
    snprintf(out, cap, "%s_%u", g_uds, port);
}

static int set_blocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -errno : fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

/* ---- the device's loop thread and thread CPU clocks -------------------------------------------- */

/* The tid of the device loop thread (named "vsn-device-<cid>"), or -1. */
static pid_t device_tid(uint64_t cid)
{
    char want[32];
    snprintf(want, sizeof want, "vsn-device-%llu", (unsigned long long)cid);
    DIR *d = opendir("/proc/self/task");
    pid_t found = -1;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        char p[300], comm[64] = "";
        snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(p, "r");
        if (f == NULL)
            continue;
        if (fgets(comm, sizeof comm, f) != NULL && strncmp(comm, want, strlen(want)) == 0 &&
            (comm[strlen(want)] == '\n' || comm[strlen(want)] == '\0'))
            found = (pid_t)atoi(e->d_name);
        fclose(f);
    }
    if (d != NULL)
        closedir(d);
    return found;
}

/* CPU seconds of thread tid of this process (Linux's per-thread CPU clock id: ~tid << 3 | 6). */
static double thread_cpu_s(pid_t tid)
{
    clockid_t id = (clockid_t)((~(unsigned)tid << 3) | 6u);
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return NAN;
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double self_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- a host reader thread and a threaded guest stream ------------------------------------------ */

typedef struct reader {
    int fd;
    _Atomic uint64_t got;
    pthread_t th;
} reader;

static void *reader_main(void *p)
{
    reader *r = p;
    static uint8_t buf[1 << 18];
    for (;;) {
        ssize_t n = read(r->fd, buf, sizeof buf);
        if (n <= 0 && !(n < 0 && errno == EINTR))
            break;
        if (n > 0)
            atomic_fetch_add(&r->got, (uint64_t)n);
    }
    return NULL;
}

/* The guest streams `bytes` in 64 KiB packets; returns MB/s once the reader has them all (0 on
 * failure); *cpu the device thread's CPU seconds meanwhile (tid > 0). */
static double guest_stream(gs_stack *s, gs_conn *c, reader *r, uint64_t bytes, pid_t tid, double *cpu)
{
    uint64_t start = atomic_load(&r->got), sent = 0;
    double c0 = tid > 0 ? thread_cpu_s(tid) : 0, t0 = vt_now_s();
    while (sent < bytes) {
        uint64_t k = bytes - sent < VT_FP_MAXCHUNK ? bytes - sent : VT_FP_MAXCHUNK;
        size_t n = gs_send(s, c, vt_fp_at(sent), (size_t)k);
        sent += n;
        if (gs_pump(s, n == 0 ? 5 : 0) < 0 || c->state != GS_ESTABLISHED)
            return 0;
    }
    while (atomic_load(&r->got) - start < bytes) {
        if (gs_pump(s, 1) < 0 || vt_now_s() - t0 > 120)
            return 0;
    }
    double dt = vt_now_s() - t0;
    if (cpu != NULL)
        *cpu = tid > 0 ? thread_cpu_s(tid) - c0 : NAN;
    return bytes / dt / 1e6;
}

/* The guest (cid 3) connects to "<uds>_port"; the host end is accepted on lfd into *hfd (-1 if
 * not within 10 s). The connection, or NULL. */
static gs_conn *connect_accepted(gs_stack *s, int lfd, uint32_t port, int *hfd)
{
    gs_conn *c = gs_connect(s, port, 0);
    *hfd = -1;
    double dl = vt_now_s() + 10;
    while (c != NULL && (c->state == GS_CONNECTING || *hfd < 0) && vt_now_s() < dl) {
        if (*hfd < 0)
            *hfd = vt_accept(lfd);
        gs_pump(s, 1);
    }
    return c;
}

/* A threaded guest stack (cid 3) connected to "<uds>_port" with a reader thread on the host end. */
static gs_conn *open_stream(gs_stack *s, int lfd, uint32_t port, reader *r)
{
    int hfd;
    gs_conn *c = connect_accepted(s, lfd, port, &hfd);
    if (c == NULL || c->state != GS_ESTABLISHED || hfd < 0 || set_blocking(hfd) != 0) {
        fprintf(stderr, "bench_rows: stream to port %u not established\n", port);
        if (hfd >= 0)
            close(hfd);
        return NULL;
    }
    r->fd = hfd;
    atomic_store(&r->got, 0);
    if (pthread_create(&r->th, NULL, reader_main, r) != 0) {
        close(hfd);
        return NULL;
    }
    return c;
}

static void close_stream(gs_stack *s, gs_conn *c, reader *r)
{
    shutdown(r->fd, SHUT_RDWR); /* the reader sees EOF whatever the device does */
    pthread_join(r->th, NULL);
    close(r->fd);
    gs_rst(s, c);
    gs_pump(s, 0);
    gs_release(s, c);
}

static gs_config threaded_config(void)
{
    gs_config cfg = gs_config_default();
    cfg.uds_path = g_uds;
    cfg.max_pkt = 65536;
    cfg.rx_buf_size = 4096;
    cfg.threaded = true;
    return cfg;
}

/* ---- threaded_stream_cpu ----------------------------------------------------------------------- */

typedef struct pair_writer {
    int fd;
    uint64_t bytes;
    double cpu;
} pair_writer;

static void *pair_writer_main(void *p)
{
    pair_writer *w = p;
    double c0 = self_cpu_s();
    for (uint64_t sent = 0; sent < w->bytes;) {
        uint64_t k = w->bytes - sent < VT_FP_MAXCHUNK ? w->bytes - sent : VT_FP_MAXCHUNK;
        ssize_t n = send(w->fd, vt_fp_at(sent), (size_t)k, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (uint64_t)n;
    }
    w->cpu = self_cpu_s() - c0;
    shutdown(w->fd, SHUT_WR);
    return NULL;
}

/* The writer thread's CPU seconds for `bytes` into a socketpair read by another thread; NAN on failure. */
static double pair_writer_cpu(uint64_t bytes, double *mbs)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return NAN;
    pair_writer w = { .fd = sv[0], .bytes = bytes, .cpu = NAN };
    reader r = { .fd = sv[1] };
    double t0 = vt_now_s();
    pthread_t wt;
    if (pthread_create(&r.th, NULL, reader_main, &r) != 0 || pthread_create(&wt, NULL, pair_writer_main, &w) != 0)
        abort();
    pthread_join(wt, NULL);
    pthread_join(r.th, NULL);
    *mbs = bytes / (vt_now_s() - t0) / 1e6;
    close(sv[0]);
    close(sv[1]);
    return atomic_load(&r.got) == bytes ? w.cpu : NAN;
}

static int row_threaded(uint64_t mib)
{
    uint64_t bytes = mib << 20;
    char lpath[160];
    path_for(lpath, sizeof lpath, 5002);
    int lfd = vt_unix_listen(lpath);
    gs_config cfg = threaded_config();
    gs_stack *s = NULL;
    reader r;
    if (lfd < 0 || gs_create(&cfg, &s) != 0)
        return 1;
    gs_conn *c = open_stream(s, lfd, 5002, &r);
    pid_t tid = device_tid(3);
    double cpu = NAN, mbs = 0;
    vsn_bench_snap a, b;
    if (c != NULL && tid > 0 && guest_stream(s, c, &r, bytes / 16, tid, NULL) > 0) {
        vsn_bench_snap1(&a, gs_device(s));
        vsn_bench_perf(true);
        mbs = guest_stream(s, c, &r, bytes, tid, &cpu);
        vsn_bench_perf(false);
        vsn_bench_snap1(&b, gs_device(s));
    }
    if (c != NULL)
        close_stream(s, c, &r);
    gs_destroy(&s);
    close(lfd);
    unlink(lpath);
    double pmbs = NAN, pcpu = vsn_bench_baselines() ? pair_writer_cpu(bytes, &pmbs) : NAN;
    double gib = bytes / (double)(1u << 30);
    double dev = cpu / gib, base = pcpu / gib;
    printf("%-40s %12s %12s %8s\n", "threaded_stream_cpu (CPU s per GiB)", "device thr", "writer thr", "ratio");
    printf("%-40s %12.3f %12.3f %8.2f   (device %0.f MB/s, socketpair %0.f MB/s)\n", "guest->host 64 KiB, own loop thread",
           dev, base, dev / base, mbs, pmbs);
    if (mbs <= 0 || !(cpu >= 0) || (vsn_bench_baselines() && !(pcpu > 0))) {
        fprintf(stderr, "bench_rows: threaded stream did not complete (tid %d)\n", (int)tid);
        return 1;
    }
    vsn_bench_row("threaded_stream_cpu", dev, base, "CPU s/GiB", vsn_bench_ratio(dev, base), &a, &b,
                  "\"device_mbs\":%.1f,\"baseline_mbs\":%.1f", mbs, pmbs);
    return 0;
}

/* ---- rtt_64 ------------------------------------------------------------------------------------ */

static void *echo_main(void *p)
{
    int fd = *(int *)p;
    uint8_t m[64];
    for (;;) {
        size_t have = 0;
        while (have < sizeof m) {
            ssize_t n = read(fd, m + have, sizeof m - have);
            if (n <= 0)
                return NULL;
            have += (size_t)n;
        }
        if (send(fd, m, sizeof m, MSG_NOSIGNAL) != (ssize_t)sizeof m)
            return NULL;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i];
}

static int row_rtt(uint64_t count)
{
    char lpath[160];
    path_for(lpath, sizeof lpath, 5003);
    int lfd = vt_unix_listen(lpath);
    gs_config cfg = threaded_config();
    gs_stack *s = NULL;
    if (lfd < 0 || gs_create(&cfg, &s) != 0)
        return 1;
    int hfd;
    gs_conn *c = connect_accepted(s, lfd, 5003, &hfd);
    double *dev = calloc(count, sizeof *dev), *base = calloc(count, sizeof *base);
    uint64_t warm = count / 10 + 1, done = 0;
    vsn_bench_snap a, b;
    pthread_t et;
    bool ok = c != NULL && c->state == GS_ESTABLISHED && hfd >= 0 && dev != NULL && base != NULL &&
              set_blocking(hfd) == 0 && pthread_create(&et, NULL, echo_main, &hfd) == 0;
    for (uint64_t i = 0; ok && i < warm + count; i++) {
        if (i == warm)
            vsn_bench_snap1(&a, gs_device(s));
        double t0 = vt_now_s();
        size_t sent = 0;
        while (ok && sent < 64) {
            sent += gs_send(s, c, vt_fp_at(i + sent), 64 - sent);
            ok = gs_pump(s, sent < 64 ? 1 : 0) >= 0;
        }
        while (ok && gs_rx_avail(c) < 64)
            ok = gs_pump(s, 10) >= 0 && c->state == GS_ESTABLISHED && vt_now_s() - t0 < 10;
        if (ok && gs_recv(s, c, g_buf, 64) == 64 && i >= warm)
            dev[done++] = (vt_now_s() - t0) * 1e6;
    }
    vsn_bench_snap1(&b, gs_device(s));
    if (hfd >= 0) {
        shutdown(hfd, SHUT_RDWR);
        if (ok || done > 0)
            pthread_join(et, NULL);
        close(hfd);
    }
    gs_destroy(&s);
    close(lfd);
    unlink(lpath);
    if (!ok || done != count) {
        fprintf(stderr, "bench_rows: rtt did not complete (%llu of %llu)\n", (unsigned long long)done,
                (unsigned long long)count);
        free(dev);
        free(base);
        return 1;
    }
    /* baseline: the same ping-pong over a socketpair between this thread and an echo thread */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || pthread_create(&et, NULL, echo_main, &sv[1]) != 0)
        return 1;
    for (uint64_t i = 0; i < warm + count; i++) {
        double t0 = vt_now_s();
        size_t have = 0;
        if (send(sv[0], vt_fp_at(i), 64, MSG_NOSIGNAL) != 64)
            return 1;
        while (have < 64) {
            ssize_t n = read(sv[0], g_buf + have, 64 - have);
            if (n <= 0)
                return 1;
            have += (size_t)n;
        }
        if (i >= warm)
            base[i - warm] = (vt_now_s() - t0) * 1e6;
    }
    shutdown(sv[0], SHUT_RDWR);
    pthread_join(et, NULL);
    close(sv[0]);
    close(sv[1]);
    double d50 = pct(dev, count, 0.5), d99 = pct(dev, count, 0.99);
    double b50 = pct(base, count, 0.5), b99 = pct(base, count, 0.99);
    printf("%-40s %12s %12s %8s\n", "rtt_64 (us)", "device p50", "socketpair", "ratio");
    printf("%-40s %12.1f %12.1f %8.2f   (p99: device %.1f, socketpair %.1f)\n", "64 B guest->host->guest", d50, b50,
           d50 / b50, d99, b99);
    vsn_bench_row("rtt_64", d50, b50, "us p50", d50 / b50, &a, &b,
                  "\"device_p99\":%.2f,\"baseline_p99\":%.2f,\"round_trips\":%llu", d99, b99, (unsigned long long)count);
    free(dev);
    free(base);
    return 0;
}

/* ---- connect_rate ------------------------------------------------------------------------------ */

static int row_connect(uint64_t count)
{
    char lpath[160];
    path_for(lpath, sizeof lpath, 5004);
    int lfd = vt_unix_listen_backlog(lpath, 128);
    gs_config cfg = gs_config_default();
    cfg.uds_path = g_uds;
    cfg.guest_buf_alloc = 65536;
    gs_stack *s = NULL;
    if (lfd < 0 || gs_create(&cfg, &s) != 0)
        return 1;
    uint64_t warm = count / 10 + 1, done = 0;
    vsn_bench_snap a, b;
    double t0 = 0;
    bool ok = true;
    for (uint64_t i = 0; ok && i < warm + count; i++) {
        if (i == warm) {
            vsn_bench_snap1(&a, gs_device(s));
            vsn_bench_perf(true);
            t0 = vt_now_s();
        }
        gs_conn *c = gs_connect(s, 5004, 0);
        int hfd = -1;
        double dl = vt_now_s() + 5;
        while (c != NULL && (c->state == GS_CONNECTING || hfd < 0) && vt_now_s() < dl) {
            if (hfd < 0)
                hfd = vt_accept(lfd);
            if (c->state == GS_CONNECTING || hfd < 0)
                gs_pump(s, 0);
        }
        ok = c != NULL && c->state == GS_ESTABLISHED && hfd >= 0;
        if (hfd >= 0)
            close(hfd);
        if (c != NULL) {
            gs_rst(s, c);
            gs_pump(s, 0);
            gs_release(s, c);
        }
        done += ok && i >= warm;
    }
    double dt = vt_now_s() - t0;
    vsn_bench_perf(false);
    vsn_bench_snap1(&b, gs_device(s));
    gs_destroy(&s);
    if (!ok) {
        fprintf(stderr, "bench_rows: connect %llu did not establish\n", (unsigned long long)done);
        close(lfd);
        return 1;
    }
    double dev = done / dt;
    /* baseline: Unix connect, accept, close both, one at a time, the same listener */
    double p0 = vt_now_s();
    for (uint64_t i = 0; i < (vsn_bench_baselines() ? count : 0); i++) {
        int fd = vt_unix_connect_as(lpath, 0);
        int afd = fd >= 0 ? vt_accept(lfd) : -1;
        if (fd < 0 || afd < 0)
            return 1;
        close(fd);
        close(afd);
    }
    double base = vsn_bench_baselines() ? count / (vt_now_s() - p0) : NAN;
    close(lfd);
    unlink(lpath);
    printf("%-40s %12s %12s %8s\n", "connect_rate (per s)", "device", "unix", "ratio");
    printf("%-40s %12.0f %12.0f %8.2f\n", "REQUEST/accept/RESPONSE/close, 1 at a time", dev, base,
           vsn_bench_ratio(dev, base));
    vsn_bench_row("connect_rate", dev, base, "conn/s", vsn_bench_ratio(dev, base), &a, &b, "\"connections\":%llu",
                  (unsigned long long)count);
    return 0;
}

/* ---- idle_10k_* -------------------------------------------------------------------------------- */

static uint64_t rss_bytes(void)
{
    unsigned long size = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t malloc_bytes(void)
{
    struct mallinfo2 m = mallinfo2();
    return (uint64_t)m.uordblks + (uint64_t)m.hblkhd;
}

/* The host peers: a child that accepts on lpath and holds every connection until its stdin-like
 * control pipe closes. Runs before the library is first called. */
static pid_t spawn_peers(const char *lpath, int *ctl)
{
    int ready[2], stop[2];
    if (pipe(ready) != 0 || pipe(stop) != 0)
        return -1;
    pid_t pid = fork();
    if (pid != 0) {
        close(ready[1]);
        close(stop[0]);
        char x;
        if (pid < 0 || read(ready[0], &x, 1) != 1)
            pid = -1;
        close(ready[0]);
        *ctl = stop[1];
        return pid;
    }
    close(ready[0]);
    close(stop[1]);
    int lfd = vt_unix_listen_backlog(lpath, 4096);
    if (lfd < 0 || write(ready[1], "r", 1) != 1)
        _exit(1);
    close(ready[1]);
    for (;;) {
        struct pollfd p[2] = { { .fd = lfd, .events = POLLIN }, { .fd = stop[0], .events = POLLIN } };
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            _exit(1);
        if (p[1].revents != 0)
            _exit(0);
        while (vt_accept(lfd) >= 0) /* held open (and never read) until the child exits */
            ;
    }
}

static int row_idle(uint32_t nconns, uint64_t busy_mib)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < nconns + 64) {
        fprintf(stderr, "bench_rows: RLIMIT_NOFILE %llu is too low for %u connections\n",
                (unsigned long long)rl.rlim_cur, nconns);
        return 1;
    }
    char ipath[160], bpath[160];
    path_for(ipath, sizeof ipath, 6000);
    path_for(bpath, sizeof bpath, 5002);
    int ctl = -1;
    pid_t child = spawn_peers(ipath, &ctl);
    int lfd = vt_unix_listen(bpath);
    gs_config cfg = threaded_config();
    cfg.max_conns = nconns + 8;
    cfg.max_connections = nconns + 8;
    cfg.guest_buf_alloc = 4096; /* the guest only sends on the busy one */
    gs_stack *s = NULL;
    reader r;
    if (child < 0 || lfd < 0 || gs_create(&cfg, &s) != 0)
        return 1;
    gs_conn *busy = open_stream(s, lfd, 5002, &r); /* slot 0: found first by the guest's scan */
    pid_t tid = device_tid(3);
    uint64_t bytes = busy_mib << 20;
    int failed = busy == NULL || tid <= 0;
    double alone = 0, beside = 0;
    vsn_bench_snap a, b, w0, w1;
    if (!failed && guest_stream(s, busy, &r, bytes / 16, tid, NULL) > 0) {
        vsn_bench_snap1(&a, gs_device(s));
        alone = guest_stream(s, busy, &r, bytes, tid, NULL);
        vsn_bench_snap1(&b, gs_device(s));
    }
    failed |= alone <= 0;

    /* the idle connections, 200 at a time */
    uint64_t rss0 = rss_bytes(), mal0 = malloc_bytes();
    vsn_runtime_counters rt0 = { .struct_size = sizeof rt0 }, rt1 = { .struct_size = sizeof rt1 };
    vsn_get_runtime_counters(&rt0);
    uint32_t open = 0;
    gs_conn **idle = calloc(nconns, sizeof *idle);
    failed |= idle == NULL;
    double t_open = vt_now_s();
    while (!failed && open < nconns) {
        gs_conn **batch = idle + open;
        uint32_t n = nconns - open < 200 ? nconns - open : 200;
        for (uint32_t i = 0; i < n; i++)
            batch[i] = gs_connect(s, 6000, 0);
        double dl = vt_now_s() + 20;
        for (uint32_t i = 0; i < n && !failed; i++) {
            while (batch[i] != NULL && batch[i]->state == GS_CONNECTING && vt_now_s() < dl)
                gs_pump(s, 1);
            failed = batch[i] == NULL || batch[i]->state != GS_ESTABLISHED;
        }
        open += failed ? 0 : n;
    }
    t_open = vt_now_s() - t_open;
    gs_pump(s, 0);
    uint64_t rss1 = rss_bytes(), mal1 = malloc_bytes();
    vsn_get_runtime_counters(&rt1);
    double per_conn = open > 0 ? ((double)(rss1 - rss0) - ((double)mal1 - (double)mal0)) / open : NAN;
    double heap_per_conn = open > 0 ? ((double)rt1.heap_bytes - (double)rt0.heap_bytes) / open : NAN;
    if (failed)
        fprintf(stderr, "bench_rows: %u of %u idle connections established\n", open, nconns);

    /* wake-ups while everything is idle: nobody kicks, no host peer writes */
    double wakeups = NAN;
    if (!failed) {
        struct timespec settle = { 0, 300 * 1000 * 1000 }, span = { 3, 0 };
        nanosleep(&settle, NULL);
        vsn_bench_snap1(&w0, gs_device(s));
        double t0 = vt_now_s();
        nanosleep(&span, NULL);
        vsn_bench_snap1(&w1, gs_device(s));
        wakeups = (double)(w1.sys.epoll_wait - w0.sys.epoll_wait) / (vt_now_s() - t0);
    }
    vsn_bench_snap c0, c1;
    if (!failed) {
        vsn_bench_snap1(&c0, gs_device(s));
        beside = guest_stream(s, busy, &r, bytes, tid, NULL);
        vsn_bench_snap1(&c1, gs_device(s));
        failed |= beside <= 0;
    }
    /* and alone again once they are closed: the baseline is the mean of before and after */
    for (uint32_t i = 0; i < open; i++) {
        gs_rst(s, idle[i]);
        if (i % 64 == 63)
            gs_pump(s, 0);
    }
    for (int i = 0; i < 100; i++)
        gs_pump(s, 1);
    for (uint32_t i = 0; i < open; i++)
        gs_release(s, idle[i]);
    free(idle);
    double alone2 = failed ? 0 : guest_stream(s, busy, &r, bytes, tid, NULL);
    failed |= alone2 <= 0;
    alone = (alone + alone2) / 2;
    if (busy != NULL)
        close_stream(s, busy, &r);
    gs_destroy(&s);
    close(ctl);
    int st = 0;
    waitpid(child, &st, 0);
    close(lfd);
    unlink(bpath);
    unlink(ipath);
    printf("%-40s %12s %12s %8s\n", "idle connections", "device", "baseline", "ratio");
    printf("%-40s %12.0f %12s %8s   (managed heap growth %.0f B/conn; %u opened in %.2f s)\n",
           "memory per idle connection (bytes)", per_conn, "-", "-", heap_per_conn, open, t_open);
    printf("%-40s %12.0f %12.0f %8.2f   (alone: mean of before %.0f and after %.0f)\n",
           "busy stream MB/s beside them / alone", beside, alone, alone > 0 ? beside / alone : 0, 2 * alone - alone2, alone2);
    printf("%-40s %12.2f %12s %8s\n", "loop wake-ups per second, all idle", wakeups, "-", "-");
    if (failed)
        return 1;
    vsn_bench_row("idle_10k_memory", per_conn, NAN, "bytes/conn", NAN, NULL, NULL,
                  "\"connections\":%u,\"method\":\"(RSS growth of the device process - growth of its C "
                  "malloc heap) / connections while opening them; host peers in a forked child; kernel "
                  "socket buffers are not in RSS; managed garbage not yet collected is included (upper "
                  "bound)\",\"managed_heap_per_conn\":%.0f",
                  open, heap_per_conn);
    vsn_bench_row("idle_10k_busy", beside, alone, "MB/s", beside / alone, &c0, &c1,
                  "\"connections\":%u,\"baseline_note\":\"baseline = the same stream alone, the mean of "
                  "a run before the idle connections were opened and one after they were closed\"", open);
    vsn_bench_row("idle_wakeups", wakeups, NAN, "wake-ups/s", NAN, NULL, NULL,
                  "\"connections\":%u,\"epoll_wait\":%llu,\"seconds\":3", open,
                  (unsigned long long)(w1.sys.epoll_wait - w0.sys.epoll_wait));
    (void)a;
    (void)b;
    return 0;
}

/* ---- main -------------------------------------------------------------------------------------- */

static uint64_t arg(int argc, char **argv, int i, uint64_t dflt)
{
    return argc > i ? strtoull(argv[i], NULL, 10) : dflt;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (mkdtemp(g_dir) == NULL)
        return 1;
    snprintf(g_uds, sizeof g_uds, "%s/vsock", g_dir);
    int rc;
    static const char *const only[] = { "threaded_stream_cpu", "connect_rate" };
    vsn_bench_only_check("bench_rows", only, 2);
    if (vsn_bench_only() != NULL && strcmp(mode, strcmp(vsn_bench_only(), only[0]) == 0 ? "threaded" : "connect") != 0) {
        fprintf(stderr, "bench_rows: VSN_BENCH_ONLY=%s is not a row of mode %s\n", vsn_bench_only(), mode);
        return 2;
    }
    if (strcmp(mode, "threaded") == 0)
        rc = row_threaded(arg(argc, argv, 2, 1024));
    else if (strcmp(mode, "rtt") == 0)
        rc = row_rtt(arg(argc, argv, 2, 20000));
    else if (strcmp(mode, "connect") == 0)
        rc = row_connect(arg(argc, argv, 2, 20000));
    else if (strcmp(mode, "idle") == 0)
        rc = row_idle((uint32_t)arg(argc, argv, 2, 10000), arg(argc, argv, 3, 512));
    else if (strcmp(mode, "smoke") == 0)
        rc = row_threaded(4) | row_rtt(200) | row_connect(200) | row_idle(100, 4);
    else {
        fprintf(stderr, "usage: %s threaded [MiB] | rtt [count] | connect [count] | idle [conns] [MiB] | smoke\n",
                argv[0]);
        rc = 2;
    }
    unlink(g_uds);
    rmdir(g_dir);
    return rc;
}
