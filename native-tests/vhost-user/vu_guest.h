/*
 * vu_guest.h: a test guest for the vhost-user daemon: guest memory in a memfd, the rx (0) and tx
 * (1) split rings laid out in it, eventfds for kick and call, and a small vsock stream stack (what
 * a Linux guest's virtio_transport does: REQUEST/RESPONSE/RST, credit both ways, CREDIT_UPDATE
 * after consuming). It attaches either to the daemon as a vhost-user frontend (vg_vu_*), sharing
 * the memfd with SET_MEM_TABLE, or straight to an in-process vsn_device (vg_attach_device).
 *
 * Stream data is a pattern: byte k of a connection's stream in one direction is vg_pattern(seed, k),
 * so the receiver checks every byte (order, loss, duplication) as it arrives.
 * Nothing runs by itself: vg_pump() reaps the rings and answers; tests loop on it with a deadline.
 * Thread rules: one thread per guest. Prefix vg_.
 */
#ifndef VU_GUEST_H
#define VU_GUEST_H

#include "vsock_native.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_QSIZE 256u
#define VG_RX_BUF 4096u
#define VG_MAX_PAYLOAD (VG_RX_BUF - 44u)
#define VG_MAX_CONNS 64u
#define VG_BUF_ALLOC (256u * 1024u)
#define VG_HOST_CID 2u

enum vg_state { VG_FREE, VG_CONNECTING, VG_ESTABLISHED, VG_REFUSED, VG_RESET };

typedef struct vg_conn {
    enum vg_state state;
    uint64_t peer_cid;
    uint32_t local_port, peer_port;
    bool incoming;
    uint32_t tx_cnt, peer_buf_alloc, peer_fwd_cnt;
    uint32_t fwd_cnt, last_fwd_sent;
    uint64_t sent, received;
    uint8_t seed_out, seed_in;
    uint64_t bad_bytes;        /* received bytes that broke the pattern */
    uint64_t credit_violations; /* RW beyond what we advertised */
} vg_conn;

typedef struct vg_ring {
    uint16_t num;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    struct vring_desc_le *desc;
    volatile uint16_t *avail_flags, *avail_idx, *avail_ring;
    volatile uint16_t *used_idx;
    volatile uint32_t *used_ring; /* pairs: id, len */
    uint16_t next_avail, last_used;
    int kick, call;
} vg_ring;

typedef struct vg {
    uint64_t cid;
    int memfd;
    uint8_t *mem;
    uint64_t mem_size, gpa_base;
    vg_ring rx, tx;
    uint16_t tx_free[VG_QSIZE];
    unsigned tx_nfree;
    vg_conn conns[VG_MAX_CONNS];
    uint32_t listening[8];
    unsigned nlistening;
    uint32_t next_port;
    uint64_t rx_packets, tx_packets, rsts_received, unknown_packets;
    int sock;                 /* vhost-user socket, or -1 */
    vsn_device *dev;          /* in-process device, or NULL */
} vg;

/* Memory (memfd) and rings, nothing attached yet. 0 or -errno. */
int vg_init(vg *g, uint64_t cid);
void vg_destroy(vg *g);

/* ---- vhost-user frontend ---- */
/* Connects to the daemon's socket (retrying up to timeout_ms while it does not exist yet). */
int vg_vu_connect(vg *g, const char *path, int timeout_ms);
/* The whole negotiation (features, REPLY_ACK, config, memory table, rings, enable), checking every
 * reply; the device runs afterwards. 0 or a negative code (printed). */
int vg_vu_setup(vg *g);
/* Closes the vhost-user socket (the daemon resets the device). */
void vg_vu_disconnect(vg *g);

/* Sends one message; fds may be NULL. */
int vg_vu_send(int sock, uint32_t request, uint32_t flags, const void *payload, uint32_t size, const int *fds, unsigned nfds);
/* Reads a reply header and payload (up to cap bytes) within timeout_ms. Returns the payload size,
 * -EPIPE for end of stream, -ETIMEDOUT, -EPROTO for a malformed reply. */
int vg_vu_reply(int sock, uint32_t request, void *payload, uint32_t cap, int timeout_ms);
/* Sends request with NEED_REPLY and returns the acknowledged status (0 ok, >0 the backend's
 * error), or a negative code when no ack came. */
int64_t vg_vu_acked(int sock, uint32_t request, const void *payload, uint32_t size, const int *fds, unsigned nfds);
/* True when the daemon closed the connection within timeout_ms (reads until EOF). */
bool vg_vu_closed(int sock, int timeout_ms);

/* ---- in-process device ---- */
/* Gives an in-process device the memory and the rings (own event loop), and starts it. */
int vg_attach_device(vg *g, vsn_device *dev);

/* ---- rings and stream ---- */
/* Reaps both rings, handles packets, reposts rx buffers, kicks. Returns packets handled. */
int vg_pump(vg *g);
/* Waits up to timeout_ms for an interrupt from either ring. */
void vg_wait(vg *g, int timeout_ms);
/* Rings' next indexes as the guest sees them (for GET_VRING_BASE checks). */
uint16_t vg_avail_idx(const vg *g, unsigned ring);

int vg_listen(vg *g, uint32_t port);
vg_conn *vg_connect(vg *g, uint64_t cid, uint32_t port, uint8_t seed);
/* An incoming connection on a listening port not yet returned, or NULL. */
vg_conn *vg_accept(vg *g, uint32_t port);
/* Sends up to len more pattern bytes within the peer's credit. Returns bytes queued. */
size_t vg_send(vg *g, vg_conn *c, size_t len);
int vg_rst(vg *g, vg_conn *c);
void vg_release(vg_conn *c);
/* Sends a raw packet (header fields host order) from this guest. */
int vg_send_raw(vg *g, uint64_t dst_cid, uint32_t src_port, uint32_t dst_port, uint16_t op, uint32_t flags,
                const void *payload, uint32_t len);

static inline uint8_t vg_pattern(uint8_t seed, uint64_t k)
{
    uint64_t x = (k + seed) * 0x9E3779B97F4A7C15ull;
    return (uint8_t)(x >> 56) ^ (uint8_t)k;
}

int64_t vg_now_ms(void);

#endif
