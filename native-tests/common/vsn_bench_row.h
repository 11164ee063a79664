/*
 * vsn_bench_row.h — the machine-readable line a benchmark prints per row of issue 11's table, for
 * native-tests/bench/run.sh (which repeats the programs, takes medians and writes
 * build/bench/results.json). Printed only with VSN_BENCH_ROWS=1 in the environment, one line each:
 *
 *   @row {"name":"stream_g2h","device":812.0,"baseline":1650.0,"unit":"MB/s","ratio":0.49,
 *         "syscalls_per_packet":2.01,"packets":16384,"syscalls":{...},"alloc_bytes":0,"gc_count":0}
 *
 * syscalls_per_packet: the device's own syscalls (vsn_device_counters.syscalls, every kind) during
 * the measured part, divided by the packets the device moved in it (tx_packets taken from the
 * guest + rx_packets written for it), summed over the devices given; alloc_bytes / gc_count: the
 * library's managed allocations and collections over the same span (vsn_get_runtime_counters).
 * Rows that move no packets pass no devices: syscalls_per_packet is then null.
 */
#ifndef VSN_BENCH_ROW_H
#define VSN_BENCH_ROW_H

#include "vsock_native.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VSN_BENCH_MAX_DEVS 4

/*
 * One row alone, for native-tests/bench/profile.sh: with VSN_BENCH_ONLY=<row name> in the
 * environment a program runs only the device side of that row (its warm-up and measured part), no
 * baseline and no other row; its @row line then has baseline and ratio null. A program given a row
 * it does not produce exits with status 2.
 */
static inline const char *vsn_bench_only(void)
{
    const char *e = getenv("VSN_BENCH_ONLY");
    return e != NULL && *e != '\0' ? e : NULL;
}

/* Whether the row `name` is to be run (every row when VSN_BENCH_ONLY is not set). */
static inline bool vsn_bench_wants(const char *name)
{
    return vsn_bench_only() == NULL || strcmp(vsn_bench_only(), name) == 0;
}

/* Whether baselines are to be run (not when one row's device side is profiled). */
static inline bool vsn_bench_baselines(void)
{
    return vsn_bench_only() == NULL;
}

/* device / baseline; NAN when the baseline was not run (NAN), 0 when it failed (0). */
static inline double vsn_bench_ratio(double device, double baseline)
{
    return baseline > 0 || baseline != baseline ? device / baseline : 0;
}

/* Exits with status 2 when VSN_BENCH_ONLY names a row none of names[0..n) is. */
static inline void vsn_bench_only_check(const char *prog, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n && vsn_bench_only() != NULL; i++)
        if (strcmp(vsn_bench_only(), names[i]) == 0)
            return;
    if (vsn_bench_only() == NULL)
        return;
    fprintf(stderr, "%s: VSN_BENCH_ONLY=%s is not a row of this program (", prog, vsn_bench_only());
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s%s", i > 0 ? " " : "", names[i]);
    fprintf(stderr, ")\n");
    exit(2);
}

/*
 * The measured part under perf, for profile.sh: with VSN_BENCH_PERF_CTL=<ctl fifo>,<ack fifo> (the
 * fifos of `perf record --control fifo:<ctl>,<ack> --delay -1`, which starts with its events off)
 * vsn_bench_perf(true) turns the events on where a row's measured part begins and
 * vsn_bench_perf(false) off where it ends, each waiting for perf's ack, so set-up, warm-up and
 * baselines stay out of the profile. Without the variable both do nothing.
 */
static inline void vsn_bench_perf(bool enable)
{
    static int ctl = -1, ack = -1;
    const char *e = getenv("VSN_BENCH_PERF_CTL");
    if (e == NULL || *e == '\0')
        return;
    if (ctl < 0) {
        char path[512];
        const char *comma = strchr(e, ',');
        size_t n = comma != NULL ? (size_t)(comma - e) : strlen(e);
        if (n >= sizeof path)
            return;
        memcpy(path, e, n);
        path[n] = '\0';
        ctl = open(path, O_WRONLY | O_CLOEXEC);
        ack = comma != NULL ? open(comma + 1, O_RDONLY | O_CLOEXEC) : -1;
        if (ctl < 0) {
            fprintf(stderr, "vsn_bench_perf: cannot open %s: %s\n", path, strerror(errno));
            return;
        }
    }
    const char *cmd = enable ? "enable\n" : "disable\n";
    if (write(ctl, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
        fprintf(stderr, "vsn_bench_perf: write to perf's control fifo: %s\n", strerror(errno));
    char reply[16];
    if (ack >= 0 && read(ack, reply, sizeof reply) <= 0)
        fprintf(stderr, "vsn_bench_perf: no ack from perf\n");
}

/* The counters of up to VSN_BENCH_MAX_DEVS devices and of the runtime at one moment. */
typedef struct vsn_bench_snap {
    uint32_t ndev;
    vsn_syscall_counter_values sys;
    uint64_t packets;
    vsn_runtime_counters rt;
} vsn_bench_snap;

static inline bool vsn_bench_rows_on(void)
{
    const char *e = getenv("VSN_BENCH_ROWS");
    return e != NULL && strcmp(e, "1") == 0;
}

/* Takes the counters of devs[0..ndev) (ndev 0: the runtime's only). */
static inline void vsn_bench_snap_take(vsn_bench_snap *s, vsn_device *const *devs, uint32_t ndev)
{
    memset(s, 0, sizeof *s);
    s->ndev = ndev;
    for (uint32_t i = 0; i < ndev && i < VSN_BENCH_MAX_DEVS; i++) {
        vsn_device_counters c;
        memset(&c, 0, sizeof c);
        c.struct_size = sizeof c;
        if (vsn_device_get_counters(devs[i], &c) != 0)
            continue;
        s->sys.epoll_wait += c.syscalls.epoll_wait;
        s->sys.epoll_ctl += c.syscalls.epoll_ctl;
        s->sys.socket_reads += c.syscalls.socket_reads;
        s->sys.socket_writes += c.syscalls.socket_writes;
        s->sys.event_fd_reads += c.syscalls.event_fd_reads;
        s->sys.event_fd_writes += c.syscalls.event_fd_writes;
        s->sys.other += c.syscalls.other;
        s->packets += c.values.tx_packets + c.values.rx_packets;
    }
    s->rt.struct_size = sizeof s->rt;
    vsn_get_runtime_counters(&s->rt);
}

static inline void vsn_bench_snap1(vsn_bench_snap *s, vsn_device *dev)
{
    vsn_bench_snap_take(s, &dev, dev != NULL ? 1 : 0);
}

static inline uint64_t vsn_bench_sys_total(const vsn_syscall_counter_values *v)
{
    return v->epoll_wait + v->epoll_ctl + v->socket_reads + v->socket_writes + v->event_fd_reads +
           v->event_fd_writes + v->other;
}

static inline void vsn_bench_num(const char *key, double v)
{
    if (v != v)
        printf(",\"%s\":null", key);
    else
        printf(",\"%s\":%.6g", key, v);
}

/*
 * Prints one row (when VSN_BENCH_ROWS=1): device and baseline figures (NAN for none), the unit,
 * the ratio as the table defines it (NAN for none), the counters between a and b (either may be
 * NULL: no syscall or allocation figures), and extra JSON members ("\"p99\":1.5", or NULL).
 */
static inline void vsn_bench_row(const char *name, double device, double baseline, const char *unit,
                                 double ratio, const vsn_bench_snap *a, const vsn_bench_snap *b,
                                 const char *extra_fmt, ...)
{
    if (!vsn_bench_rows_on())
        return;
    printf("@row {\"name\":\"%s\"", name);
    vsn_bench_num("device", device);
    vsn_bench_num("baseline", baseline);
    printf(",\"unit\":\"%s\"", unit);
    vsn_bench_num("ratio", ratio);
    if (a != NULL && b != NULL && a->ndev > 0 && b->packets > a->packets) {
        vsn_syscall_counter_values d = {
            b->sys.epoll_wait - a->sys.epoll_wait, b->sys.epoll_ctl - a->sys.epoll_ctl,
            b->sys.socket_reads - a->sys.socket_reads, b->sys.socket_writes - a->sys.socket_writes,
            b->sys.event_fd_reads - a->sys.event_fd_reads, b->sys.event_fd_writes - a->sys.event_fd_writes,
            b->sys.other - a->sys.other,
        };
        double pk = (double)(b->packets - a->packets);
        vsn_bench_num("syscalls_per_packet", vsn_bench_sys_total(&d) / pk);
        printf(",\"packets\":%llu,\"syscalls\":{\"epoll_wait\":%llu,\"epoll_ctl\":%llu,"
               "\"socket_reads\":%llu,\"socket_writes\":%llu,\"event_fd_reads\":%llu,"
               "\"event_fd_writes\":%llu,\"other\":%llu}",
               (unsigned long long)(b->packets - a->packets), (unsigned long long)d.epoll_wait,
               (unsigned long long)d.epoll_ctl, (unsigned long long)d.socket_reads,
               (unsigned long long)d.socket_writes, (unsigned long long)d.event_fd_reads,
               (unsigned long long)d.event_fd_writes, (unsigned long long)d.other);
    } else {
        printf(",\"syscalls_per_packet\":null");
    }
    if (a != NULL && b != NULL)
        printf(",\"alloc_bytes\":%llu,\"gc_count\":%llu",
               (unsigned long long)(b->rt.allocated_bytes - a->rt.allocated_bytes),
               (unsigned long long)(b->rt.gc_count - a->rt.gc_count));
    if (extra_fmt != NULL) {
        va_list ap;
        va_start(ap, extra_fmt);
        printf(",");
        vprintf(extra_fmt, ap);
        va_end(ap);
    }
    printf("}\n");
    fflush(stdout);
}

#endif
