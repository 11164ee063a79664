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

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VSN_BENCH_MAX_DEVS 4

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
