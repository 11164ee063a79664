/*
 * bench_vm2vm.c — VM to VM inside one process: guest 3 streams to guest 4 through their two devices
 * (a router calls vsn_connect_from, so the connection goes device to device over a direct link),
 * against a plain AF_UNIX socketpair with the same chunking, in the same run.
 * Not a test: prints figures, asserts nothing about timing.
 *
 *   vm2vm      : guest 3 writes 64 KiB (one RW packet each, within credit); device 3 copies it into
 *                the link, device 4 copies it into guest 4's rx buffers; guest 4 reads what arrived
 *                (rx buffer payload at a time) and sends Linux-style credit updates. Both guests and
 *                both devices run on the calling thread (manual poll), one pump of each per round.
 *                Run twice: 4 KiB rx buffers (a Linux guest's), and 64 KiB ones.
 *   socketpair : the same bytes over socketpair(AF_UNIX, SOCK_STREAM), 64 KiB writes, reads of the rx
 *                buffer's payload size, one thread.
 * Every byte guest 4 reads is checked against the pattern. Each run first moves 1/16 of the bytes
 * unmeasured (warm-up). With VSN_BENCH_ROWS=1 the rows vm_to_vm (4 KiB rx buffers) and
 * vm_to_vm_rx64k also go out as @row lines (vsn_bench_row.h; syscalls of both devices).
 * Usage: bench_vm2vm [MiB]   (default 1024). Exit status 1 when a transfer did not complete, a byte
 * was wrong, or the connection was not direct (ctest bench_vm2vm_smoke runs 16 MiB: it checks that,
 * never a speed).
 */
#include "bench_util.h"
#include "guest_stack.h"
#include "vsn_bench_row.h"

#include <stdlib.h>
#include <string.h>

#define PORT 5000u

static vsn_device *g_devs[2]; /* the devices of guests 3 and 4 */
static uint8_t g_buf[1 << 17];

/* The daemon's router, in short: a REQUEST to CID 3 or 4 goes to that guest's device. */
static int32_t route(void *user, uint32_t type, uint64_t dst_cid, uint32_t dst_port, uint64_t src_cid, uint32_t src_port,
                     int32_t fd)
{
    (void)user;
    if (dst_cid != 3 && dst_cid != 4)
        return -EHOSTUNREACH;
    return vsn_connect_from(g_devs[dst_cid - 3], dst_port, type, src_cid, src_port, fd);
}

typedef struct vm2vm {
    gs_stack *s[2];
    gs_conn *out, *in;
} vm2vm;

/* Two guests routed to each other; guest 3 connects to guest 4's port. 0, or -1 (printed). */
static int vm2vm_open(vm2vm *v, uint32_t rx_buf)
{
    memset(v, 0, sizeof *v);
    for (int i = 0; i < 2; i++) {
        gs_config cfg = gs_config_default();
        cfg.guest_cid = 3 + (uint64_t)i;
        cfg.peer_cid = 4 - (uint64_t)i;
        cfg.max_pkt = 65536;
        cfg.rx_buf_size = rx_buf;
        if (gs_create(&cfg, &v->s[i]) != 0 || vsn_device_set_router(gs_device(v->s[i]), route, NULL) != 0) {
            fprintf(stderr, "bench_vm2vm: guest %d not created\n", 3 + i);
            return -1;
        }
        g_devs[i] = gs_device(v->s[i]);
    }
    gs_listen(v->s[1], PORT);
    v->out = gs_connect(v->s[0], PORT, 0);
    int64_t deadline = gs_now_ms() + 5000;
    while (v->out != NULL && (v->out->state == GS_CONNECTING || v->in == NULL) && gs_now_ms() < deadline) {
        gs_pump(v->s[0], 0);
        gs_pump(v->s[1], 0);
        if (v->in == NULL)
            v->in = gs_accept(v->s[1], PORT);
    }
    if (v->out == NULL || v->out->state != GS_ESTABLISHED || v->in == NULL) {
        fprintf(stderr, "bench_vm2vm: guest 3 -> guest 4 port %u not established\n", PORT);
        return -1;
    }
    return 0;
}

static void vm2vm_close(vm2vm *v)
{
    for (int i = 0; i < 2; i++)
        gs_destroy(&v->s[i]);
}

/* Whether guest 3's connection is carried device to device (no socket). */
static bool vm2vm_direct(vm2vm *v)
{
    vsn_connection_info info;
    uint32_t total = 0;
    int n = vsn_device_get_connections(gs_device(v->s[0]), &info, 1, sizeof info, &total);
    return n == 1 && total == 1 && (info.flags & VSN_CONN_F_DIRECT_LINK) != 0;
}

/* MB/s of total bytes from guest 3 to guest 4; 0 when the transfer stalled for 10 s, ended or broke. */
static double vm2vm_stream(vm2vm *v, uint64_t total, size_t rchunk)
{
    uint64_t sent = 0, got = 0, bad = 0;
    double t0 = vt_now_s(), last_progress = t0;
    while (got < total) {
        if (sent < total) {
            uint64_t k = total - sent < VT_FP_MAXCHUNK ? total - sent : VT_FP_MAXCHUNK;
            sent += gs_send(v->s[0], v->out, vt_fp_at(sent), (size_t)k);
        }
        if (gs_pump(v->s[0], 0) < 0 || gs_pump(v->s[1], 0) < 0 || v->out->state != GS_ESTABLISHED)
            break;
        for (size_t n; (n = gs_recv(v->s[1], v->in, g_buf, rchunk)) > 0; got += n) {
            bad += n - vt_fp_check(got, g_buf, n); /* from the first wrong byte on */
            last_progress = vt_now_s();
        }
        if (vt_now_s() - last_progress > 10)
            break;
    }
    double dt = vt_now_s() - t0;
    if (got != total || bad != 0)
        fprintf(stderr, "bench_vm2vm: guest 4 got %llu of %llu bytes, %llu from a wrong one on\n", (unsigned long long)got,
                (unsigned long long)total, (unsigned long long)bad);
    return got == total && bad == 0 ? total / dt / 1e6 : 0;
}

int main(int argc, char **argv)
{
    uint64_t total = (argc > 1 ? strtoull(argv[1], NULL, 10) : 1024) << 20;
    const uint32_t rx_bufs[] = { 4096, 65536 + GS_HDR };
    int failed = 0;
    printf("bench_vm2vm: %llu MiB guest 3 -> guest 4, 64 KiB writes, one thread, manual poll\n",
           (unsigned long long)(total >> 20));
    printf("%-46s %10s %12s %8s\n", "path", "vm2vm MB/s", "socketpair", "ratio");
    for (size_t i = 0; i < sizeof rx_bufs / sizeof rx_bufs[0]; i++) {
        size_t payload = rx_bufs[i] - GS_HDR;
        vm2vm v;
        double mbs = 0, pair = vt_bench_socketpair(total, payload, g_buf);
        bool direct = false;
        if (vm2vm_open(&v, rx_bufs[i]) == 0) {
            direct = vm2vm_direct(&v);
            vsn_device *devs[2] = { gs_device(v.s[0]), gs_device(v.s[1]) };
            vsn_bench_snap a, b;
            if (vm2vm_stream(&v, total / 16, payload) > 0) {
                vsn_bench_snap_take(&a, devs, 2);
                mbs = vm2vm_stream(&v, total, payload);
                vsn_bench_snap_take(&b, devs, 2);
            }
            if (mbs > 0 && direct)
                vsn_bench_row(i == 0 ? "vm_to_vm" : "vm_to_vm_rx64k", mbs, pair, "MB/s",
                              pair > 0 ? mbs / pair : 0, &a, &b, "\"rx_buf_bytes\":%u", rx_bufs[i]);
        }
        vm2vm_close(&v);
        char path[64];
        snprintf(path, sizeof path, "%s, %u-byte rx buffers", direct ? "direct link" : "NOT DIRECT", rx_bufs[i]);
        printf("%-46s %10.0f %12.0f %8.2f\n", path, mbs, pair, pair > 0 ? mbs / pair : 0);
        failed |= mbs == 0 || !direct;
    }
    if (failed)
        fprintf(stderr, "bench_vm2vm: a transfer did not complete or did not go device to device\n");
    return failed;
}
