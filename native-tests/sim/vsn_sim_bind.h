/*
 * vsn_sim_bind.h — what every binding of the simulator to a VsockNative device tells the device,
 * in one place: the region table (vsn_device_set_mem_table), a queue's rings
 * (vsn_queue_setup), and a virtio-vsock packet header.  Used by queue/sim_device.c,
 * queue/queue_malformed.c, vsock/guest_stack.c and vhost-user/vu_guest.c.  Header-only; the
 * simulator library itself stays device-agnostic (it does not include vsock_native.h).
 */
#ifndef VSN_SIM_BIND_H
#define VSN_SIM_BIND_H

#include "vsn_sim.h"
#include "vsock_native.h"

#include <endian.h>
#include <string.h>

/** The simulator's region table as the device takes it; returns the count (at most cap). */
static inline uint32_t vsn_sim_bind_regions(const vsn_sim_mem *mem, vsn_mem_region *out, uint32_t cap)
{
    uint32_t n = 0;
    const vsn_sim_region *r = vsn_sim_mem_regions(mem, &n);
    if (n > cap)
        n = cap;
    for (uint32_t i = 0; i < n; i++) {
        out[i].guest_phys_addr = r[i].gpa;
        out[i].size = r[i].size;
        out[i].host_addr = r[i].hva;
    }
    return n;
}

/** The queue's rings as the device takes them, with the given kick and call fds (-1: none;
 *  the caller fills interrupt_fn itself when it wants one). */
static inline vsn_queue_config vsn_sim_bind_queue(const vsn_sim_queue *q, int kick_fd, int call_fd)
{
    vsn_sim_queue_layout lay;
    vsn_queue_config c;
    vsn_sim_queue_layout_get(q, &lay);
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    c.size = lay.queue_size;
    c.desc_addr = lay.desc_gpa;
    c.avail_addr = lay.avail_gpa;
    c.used_addr = lay.used_gpa;
    c.kick_fd = kick_fd;
    c.call_fd = call_fd;
    return c;
}

/** A little-endian virtio-vsock header (values in host order). */
static inline void vsn_sim_bind_hdr(struct vsn_virtio_vsock_hdr *h, uint64_t src_cid, uint64_t dst_cid,
                                    uint32_t src_port, uint32_t dst_port, uint16_t type, uint16_t op,
                                    uint32_t len, uint32_t flags, uint32_t buf_alloc, uint32_t fwd_cnt)
{
    memset(h, 0, sizeof *h);
    h->src_cid = htole64(src_cid);
    h->dst_cid = htole64(dst_cid);
    h->src_port = htole32(src_port);
    h->dst_port = htole32(dst_port);
    h->len = htole32(len);
    h->type = htole16(type);
    h->op = htole16(op);
    h->flags = htole32(flags);
    h->buf_alloc = htole32(buf_alloc);
    h->fwd_cnt = htole32(fwd_cnt);
}

#endif /* VSN_SIM_BIND_H */
