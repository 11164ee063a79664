/*
 * vu_guest.h: a test guest for the vhost-user daemon, on the driver simulator (native-tests/sim):
 * guest memory is a memfd-backed vsn_sim_mem (its region fd goes to the daemon with
 * SET_MEM_TABLE), the rx (0) and tx (1) split rings are vsn_sim_queues in it, eventfds for kick and
 * call; on top, a small vsock stream stack (what a Linux guest's virtio_transport does:
 * REQUEST/RESPONSE/RST, credit both ways, CREDIT_UPDATE after consuming) that talks to the host and
 * to sibling guests (any peer CID, unlike vsock/guest_stack.c, which talks to the host only).
 * It attaches either to the daemon as a vhost-user frontend (vg_vu_*), or straight to an
 * in-process vsn_device (vg_attach_device).
 *
 * Stream data is a pattern: byte k of a connection's stream in one direction is vg_pattern(seed, k),
 * so the receiver checks every byte (order, loss, duplication) as it arrives.
 * Nothing runs by itself: vg_pump() reaps the rings and answers; tests loop on it with a deadline.
 * Thread rules: one thread per guest. Prefix vg_.
 */
#ifndef VU_GUEST_H
#define VU_GUEST_H

#include "vsock_native.h"
#include "vsn_sim.h"

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
    bool credit_asked;         /* a CREDIT_REQUEST is out (vg_send_msg: a message beyond the credit known) */
    uint32_t fwd_cnt, last_fwd_sent;
    uint64_t sent, received;
    uint8_t seed_out, seed_in;
    uint64_t bad_bytes;        /* received bytes that broke the pattern */
    uint64_t credit_violations; /* RW beyond what we advertised */
    uint16_t type;             /* VSN_VIRTIO_VSOCK_TYPE_*; 0 is stream */
    uint32_t peer_shut;        /* SHUTDOWN flags the peer sent (1 receive, 2 send) */
    /* seqpacket: every RW goes here (payload, the header's flags: EOM, EOR) instead of the
     * pattern check above; fwd_cnt still counts it as consumed */
    void (*on_data)(struct vg_conn *c, const uint8_t *p, uint32_t len, uint32_t flags);
    void *user;
} vg_conn;

#define VG_RX 0u /* ring indexes */
#define VG_TX 1u

typedef struct vg {
    uint64_t cid;
    vsn_sim_mem *mem;          /* memfd-backed guest memory */
    vsn_sim_queue *q[2];       /* rx, tx */
    int kick[2], call[2];      /* eventfds per ring */
    uint64_t rx_gpa[VG_QSIZE]; /* rx buffer of token i */
    uint64_t tx_gpa[VG_QSIZE]; /* tx slot of token i */
    uint16_t tx_free[VG_QSIZE];
    unsigned tx_nfree;
    vg_conn conns[VG_MAX_CONNS];
    uint32_t listening[8];
    uint8_t listen_seed_in[8], listen_seed_out[8]; /* the seeds of connections accepted on that port */
    unsigned nlistening;
    uint32_t next_port;
    uint64_t rx_packets, tx_packets, rsts_received, unknown_packets;
    int sock;                 /* vhost-user socket, or -1 */
    vsn_device *dev;          /* in-process device, or NULL */
    bool seqpacket;           /* set before vg_vu_setup: negotiate VIRTIO_VSOCK_F_SEQPACKET */
    /* given to every incoming seqpacket connection at its REQUEST (vg_conn.on_data, .user) */
    void (*seq_on_data)(struct vg_conn *c, const uint8_t *p, uint32_t len, uint32_t flags);
    void *seq_user;
    /* Device state (VHOST_USER_PROTOCOL_F_DEVICE_STATE), set before vg_vu_setup: negotiate it; with
     * load_state, send it (SET_DEVICE_STATE_FD load + CHECK_DEVICE_STATE, whose answer goes to
     * load_check) after the rings' sizes, bases and addresses and before their fds; with use_bases,
     * SET_VRING_BASE sends bases[] (where a saved device stopped) instead of the guest's used index. */
    bool device_state;
    const void *load_state;
    size_t load_len;
    int64_t load_check;
    bool use_bases;
    uint16_t bases[2];
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
/* Stops both rings (GET_VRING_BASE: their bases into g->bases) and saves the device state through a
 * pipe (SET_DEVICE_STATE_FD save, read to EOF, CHECK_DEVICE_STATE) into buf. Returns the state's size,
 * or a negative code (printed). Needs device_state negotiated. */
long vg_vu_save_state(vg *g, uint8_t *buf, size_t cap);
/* Sends `len` bytes of state through a pipe (SET_DEVICE_STATE_FD load) and returns the
 * CHECK_DEVICE_STATE answer (0 ok, >0 the backend's error), or a negative code. */
int64_t vg_vu_load_state(int sock, const void *state, size_t len);
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
/* Rings' indexes as the guest sees them (for GET_VRING_BASE checks): the avail idx published,
 * the used idx the device published. */
uint16_t vg_avail_idx(const vg *g, unsigned ring);
uint16_t vg_used_idx(const vg *g, unsigned ring);
/* True when the device has returned every tx chain and the guest reaped it. */
bool vg_tx_idle(const vg *g);

int vg_listen(vg *g, uint32_t port);
/* As vg_listen, with the pattern seeds of the connections it accepts set before their first byte
 * arrives (data may come in the same pump as the REQUEST: seeds set after vg_accept are too late). */
int vg_listen_seeded(vg *g, uint32_t port, uint8_t seed_in, uint8_t seed_out);
vg_conn *vg_connect(vg *g, uint64_t cid, uint32_t port, uint8_t seed);
/* The same with a socket type (VSN_VIRTIO_VSOCK_TYPE_SEQPACKET needs the feature, which vg_vu_setup
 * accepts when the daemon offers it). */
vg_conn *vg_connect_type(vg *g, uint64_t cid, uint32_t port, uint8_t seed, uint16_t type);
/* Seqpacket: sends one message of len bytes (any size: split into packets, EOM on the last, EOR too
 * when eor) if the peer's credit takes it whole; 1 sent, 0 no credit yet, -errno. */
int vg_send_msg(vg *g, vg_conn *c, const uint8_t *data, uint32_t len, bool eor);
/* Sends SHUTDOWN with flags (1 receive, 2 send). */
int vg_shutdown(vg *g, vg_conn *c, uint32_t flags);
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
