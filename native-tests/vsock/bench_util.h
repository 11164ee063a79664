/*
 * bench_util.h — what the stream benchmarks share: a monotonic clock in seconds, and the
 * baseline every device figure is set against: the same bytes over socketpair(AF_UNIX,
 * SOCK_STREAM) on one thread, 64 KiB writes, reads of a given size (the chunking of the path
 * measured).
 */
#ifndef VSN_BENCH_UTIL_H
#define VSN_BENCH_UTIL_H

#include "vt_util.h"

#include <time.h>

static inline double vt_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* MB/s of total bytes through a non-blocking socketpair: VT_FP_MAXCHUNK (64 KiB) writes, reads of
 * rchunk bytes (at most cap) into buf until the pipe is empty, one thread. 0 when it failed. */
static inline double vt_bench_socketpair(uint64_t total, size_t rchunk, uint8_t *buf)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
        return 0;
    uint64_t sent = 0, got = 0;
    double t0 = vt_now_s();
    while (got < total) {
        if (sent < total) {
            uint64_t k = total - sent < VT_FP_MAXCHUNK ? total - sent : VT_FP_MAXCHUNK;
            ssize_t n = vt_write(sv[0], vt_fp_at(sent), (size_t)k);
            if (n > 0)
                sent += (uint64_t)n;
        }
        for (;;) { /* drain what is there, rchunk at a time */
            ssize_t n = vt_read(sv[1], buf, rchunk);
            if (n <= 0)
                break;
            got += (uint64_t)n;
        }
    }
    double dt = vt_now_s() - t0;
    close(sv[0]);
    close(sv[1]);
    return total / dt / 1e6;
}

#endif
