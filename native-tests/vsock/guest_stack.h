/*
 * guest_stack.h — a small guest-side virtio-vsock STREAM and SEQPACKET stack on top of the driver
 * simulator (native-tests/sim), bound to a real VsockNative device in manual-poll mode.
 *
 * It plays what a Linux guest's vsock driver (virtio_transport + virtio_transport_common) does:
 *  - connect: REQUEST, then wait for RESPONSE or RST; accept host-initiated REQUESTs on ports
 *    the test listens on (RESPONSE), RST for REQUESTs to other ports and for packets of unknown
 *    connections (never for a RST);
 *  - send data within the device's credit: peer_free = peer_buf_alloc - (tx_cnt - peer_fwd_cnt),
 *    learned from every header the device sends; packets at most max_pkt bytes;
 *  - receive data from rx buffers (reposted at once unless held), into a per-connection buffer
 *    of buf_alloc bytes; the application consumes with gs_recv(); after consuming, a
 *    CREDIT_UPDATE goes out as Linux's virtio_transport_stream_do_dequeue() decides
 *    (buf_alloc - (fwd_cnt - last_fwd_cnt_sent) < credit_threshold);
 *  - SHUTDOWN(RCV/SEND), RST, CREDIT_REQUEST (answered with CREDIT_UPDATE);
 *  - reads TRANSPORT_RESET from the event queue and resets every connection, as Linux does;
 *  - SEQPACKET (when gs_config.seqpacket negotiates VIRTIO_VSOCK_F_SEQPACKET), as Linux's
 *    virtio_transport_seqpacket_enqueue/do_dequeue: a message is refused with -EMSGSIZE beyond the
 *    device's buf_alloc, sent in packets within credit with SEQ_EOM on the last (and SEQ_EOR when
 *    asked); received messages are kept with their boundaries and read whole (the rest of a
 *    message longer than the reader's buffer is discarded), then a CREDIT_UPDATE goes out.
 *  - DATAGRAMS (cfg.dgram: VIRTIO_VSOCK_F_DGRAM negotiated): gs_dgram_send() splits a datagram into
 *    fragments (type DGRAM, op RW, VIRTIO_VSOCK_DGRAM_EOM on the last) queued back to back, or
 *    fails with -EAGAIN without queueing anything when the tx queue lacks room (the proposal's
 *    "clear error when full"); received fragments are reassembled (an interleaved or oversized
 *    sequence is counted bad), whole datagrams to a bound port are queued for gs_dgram_recv(), to
 *    an unbound port answered with a DGRAM RST. On the shared rx/tx queues, or on the five-queue
 *    layout (cfg.dgram_layout VSN_DGRAM_LAYOUT_SEPARATE: rx 0, tx 1, dgram rx 2, dgram tx 3, event 4).
 *
 * Nothing runs by itself: gs_pump() polls the device once (vsn_device_poll on the caller's
 * thread; with gs_config.threaded it waits for the device thread's interrupt instead) and
 * processes what came back. The stack itself is used by one thread at a time. Every wait in the tests is a loop of gs_pump() calls
 * with a deadline. Prefix gs_. Functions return 0 / a count, or a negative errno / vsn_sim_err.
 */
#ifndef VSN_GUEST_STACK_H
#define VSN_GUEST_STACK_H

#include "vsock_native.h"
#include "vsn_sim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GS_HDR 44u
#define GS_MAX_CONNS 64u /* connection slots unless gs_config.max_conns says otherwise */
#define GS_LOG_SIZE 8192u /* rx packet log entries kept (a ring) */

typedef struct gs_config {
    uint64_t guest_cid;        /* 0: 3 */
    const char *uds_path;      /* device config uds_path (may be NULL) */
    uint32_t dev_buf_alloc;    /* device config buf_alloc (0: device default) */
    uint32_t max_connections;  /* device config max_connections (0: device default) */
    uint16_t rx_qsize;         /* 0: 256 */
    uint16_t tx_qsize;         /* 0: 256 */
    uint32_t rx_buf_size;      /* bytes per rx buffer, header included; 0: 4096 */
    uint32_t rx_bufs;          /* rx buffers posted at start (<= rx_qsize); 0: rx_qsize */
    uint32_t max_pkt;          /* largest payload per tx packet; 0: 65536 */
    uint32_t guest_buf_alloc;  /* our buf_alloc per connection; 0: 262144 */
    uint32_t credit_threshold; /* Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE; 0: 65536 */
    bool seqpacket;            /* negotiate VIRTIO_VSOCK_F_SEQPACKET */
    bool verbose;              /* print every packet (also with env VSN_GS_TRACE) */
    bool device_log;           /* device log lines to stderr (also with env VSN_SD_LOG) */
    bool dgram;                /* negotiate VIRTIO_VSOCK_F_DGRAM */
    uint32_t dgram_layout;     /* device config dgram_layout (VSN_DGRAM_LAYOUT_*) */
    uint32_t max_dgram_sockets;/* device config max_dgram_sockets (0: device default) */
    uint64_t peer_cid;         /* the CID connections go to and come from: 0: the host (2); a
                                * sibling guest's CID for VM-to-VM through a router (bench_vm2vm) */
    uint32_t max_conns;        /* connection slots (0: GS_MAX_CONNS); found by a linear scan */
    bool threaded;             /* the device runs its own loop thread (not manual poll): kicks are
                                * eventfd writes, interrupts come on one call eventfd; gs_pump()
                                * re-enables interrupts and waits on it instead of polling */
} gs_config;

#define GS_DGRAM_MAX 65536u /* largest datagram the stack sends or reassembles */
#define GS_DGRAM_QUEUE 64u  /* received datagrams kept for gs_dgram_recv() */

enum gs_state {
    GS_FREE = 0,
    GS_CONNECTING, /* our REQUEST sent, waiting */
    GS_ESTABLISHED,
    GS_REFUSED,    /* RST answered our REQUEST */
    GS_RESET,      /* RST received (or transport reset) after established */
    GS_CLOSED,     /* we sent RST */
};

/* One packet the stack received (kept in the log for the tests). */
typedef struct gs_pkt {
    uint64_t seq; /* 0, 1, 2 ... in arrival order */
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len, flags, buf_alloc, fwd_cnt;
    uint16_t type, op;
} gs_pkt;

/* A complete received seqpacket message: its length and SEQ_EOR. */
typedef struct gs_msg {
    uint32_t len;
    bool eor;
} gs_msg;

#define GS_MAX_MSGS 4096u /* complete messages kept per connection */

typedef struct gs_conn {
    int id;                      /* index in the stack */
    enum gs_state state;
    uint16_t type;               /* VSN_VIRTIO_VSOCK_TYPE_STREAM or _SEQPACKET */
    uint32_t guest_port, host_port;
    bool host_initiated;
    /* send side */
    uint32_t tx_cnt, peer_buf_alloc, peer_fwd_cnt;
    bool peer_credit_known;
    /* receive side */
    uint32_t buf_alloc, rx_cnt, fwd_cnt, last_fwd_cnt_sent;
    uint8_t *rxbuf;              /* ring of buf_alloc bytes */
    uint32_t rx_head, rx_len;
    /* shutdown flags seen from the device / sent by us */
    uint32_t peer_shutdown, our_shutdown;
    bool rst_sent, rst_received;
    /* per-op counts of packets received on this connection */
    uint64_t ops[8];
    uint64_t credit_violations;  /* RW beyond the credit we advertised (device bug) */
    uint64_t rw_after_shutdown;  /* RW after the device's SHUTDOWN(SEND) (device bug) */
    uint64_t bad_flags;          /* RW flags not allowed for the type, or a packet of another type (device bug) */
    /* seqpacket receive side: complete messages (a ring) and the one being received */
    gs_msg *msgs;
    uint32_t msg_head, msg_n, msg_cur;
    uint64_t msgs_received, eor_received;
    uint64_t bytes_received, bytes_sent;
} gs_conn;

typedef struct gs_stats {
    uint64_t rx_pkts, tx_pkts, tx_payload, rx_payload;
    uint64_t credit_updates_sent, unknown_conn_pkts, rst_replies_sent;
    uint64_t events, transport_resets;
    uint64_t oversize_pkts;      /* hdr.len larger than the used length allowed */
    uint64_t bad_used_len;
    uint64_t not_for_us;         /* dst_cid not our CID / src_cid not host */
    /* datagrams */
    uint64_t dgram_tx, dgram_tx_frags, dgram_rx, dgram_rx_bytes, dgram_rx_frags;
    uint64_t dgram_bad;          /* device bug: bad flags/op, nonzero buf_alloc/fwd_cnt, interleaved or oversized fragments */
    uint64_t dgram_rst_rx;       /* DGRAM RSTs from the device (no host socket) */
    uint64_t dgram_unbound;      /* datagrams to a port we did not bind (answered with a DGRAM RST) */
    uint64_t dgram_queue_full;   /* datagrams dropped because GS_DGRAM_QUEUE were waiting */
    uint32_t dgram_last_rst_src, dgram_last_rst_dst; /* ports of the last DGRAM RST received */
} gs_stats;

typedef struct gs_stack gs_stack;

/** Default config (all zero = defaults). */
gs_config gs_config_default(void);

/** Creates memory, the device (manual poll), the three queues; posts rx and event buffers;
 *  starts the device. */
int gs_create(const gs_config *cfg, gs_stack **out);
void gs_destroy(gs_stack **s);

vsn_device *gs_device(gs_stack *s);

/* Snapshot and restore: the device is replaced while the guest (memory, rings, connections) stays.
 * detach: vsn_device_stop + vsn_device_destroy (the old host sockets end). attach_new: a new device
 * with the same config and the guest's memory table, nothing else (then vsn_device_restore_state).
 * resume: vsn_queue_setup of every ring the stack has (same addresses) and vsn_device_start. */
void gs_device_detach(gs_stack *s);
int gs_device_attach_new(gs_stack *s);
int gs_device_resume(gs_stack *s);
/* While held, gs_pump leaves the event queue alone (a driver that has not acted on an event yet). */
void gs_event_hold(gs_stack *s, bool hold);
/* Flushes queued control packets and kicks dirty rings, without polling the device. */
void gs_kick(gs_stack *s);
/* The guest's memory table as vsn_device_set_mem_table takes it; returns the count (at most cap). */
uint32_t gs_mem_table(gs_stack *s, vsn_mem_region *out, uint32_t cap);
uint64_t gs_cid(gs_stack *s);
const gs_stats *gs_get_stats(gs_stack *s);

/**
 * One round: vsn_device_poll(timeout_ms), then reap tx (recycle), rx (process, repost),
 * event; then sends owed control packets.
 * @return number of used elements processed (>= 0), or a negative error (device or ring).
 */
int gs_pump(gs_stack *s, int timeout_ms);

/* ---- connections ------------------------------------------------------------------------- */

/** Sends REQUEST from guest_port (0: an ephemeral one) to host_port; returns the conn (state
 *  GS_CONNECTING) or NULL. */
gs_conn *gs_connect(gs_stack *s, uint32_t host_port, uint32_t guest_port);

/** Accept host-initiated REQUESTs to guest_port (answer RESPONSE). */
int gs_listen(gs_stack *s, uint32_t guest_port);
/** A port whose REQUESTs get no answer at all (neither RESPONSE nor RST): a hung guest. The
 *  REQUEST still shows in the packet log. */
int gs_listen_silent(gs_stack *s, uint32_t guest_port);
/** Pops a connection accepted on a listening port (in order), or NULL. */
gs_conn *gs_accept(gs_stack *s, uint32_t guest_port);

/** As gs_connect, for a socket type (VSN_VIRTIO_VSOCK_TYPE_STREAM or _SEQPACKET). */
gs_conn *gs_connect_type(gs_stack *s, uint32_t host_port, uint32_t guest_port, uint16_t type);

/** Seqpacket: sends the message msg[0..len) from *done on, within credit and free tx slots;
 *  SEQ_EOM (and SEQ_EOR when eor) on the packet that carries its end. Call again with the same
 *  arguments until it returns 1 (the whole message is out); 0: more later; -EMSGSIZE when len is
 *  beyond the device's buf_alloc (as Linux); -EINVAL for a stream or closed connection. */
int gs_seq_send(gs_stack *s, gs_conn *c, const void *msg, size_t len, bool eor, size_t *done);
/** Seqpacket: reads the next complete message: copies up to cap bytes (the rest of a longer
 *  message is discarded), sets *eor; returns its real length, or -EAGAIN when none is complete. */
long gs_seq_recv(gs_stack *s, gs_conn *c, void *buf, size_t cap, bool *eor);

/** Queues up to len bytes within the device's credit and free tx slots; returns bytes taken. */
size_t gs_send(gs_stack *s, gs_conn *c, const void *data, size_t len);
/** Peer credit as the stack sees it now. */
uint32_t gs_peer_free(const gs_conn *c);
/** Copies up to cap received bytes out (consumes them; may send CREDIT_UPDATE). */
size_t gs_recv(gs_stack *s, gs_conn *c, void *buf, size_t cap);
/** Bytes received and not consumed. */
uint32_t gs_rx_avail(const gs_conn *c);

int gs_shutdown(gs_stack *s, gs_conn *c, uint32_t flags); /* VSN_VIRTIO_VSOCK_SHUTDOWN_* */
int gs_rst(gs_stack *s, gs_conn *c);
int gs_credit_request(gs_stack *s, gs_conn *c);
int gs_credit_update(gs_stack *s, gs_conn *c);
/** Frees the slot of a finished connection. */
void gs_release(gs_stack *s, gs_conn *c);

/* ---- datagrams (cfg.dgram) ------------------------------------------------------------------ */

/** Whether the device runs the five-queue layout (datagrams on queues 2 and 3). */
bool gs_five_queues(gs_stack *s);
/** Datagrams to guest_port are kept for gs_dgram_recv() (others get a DGRAM RST). */
int gs_dgram_bind(gs_stack *s, uint32_t guest_port);
/** Sends one datagram from src_port to host dst_port in fragments of at most frag bytes (0: max_pkt).
 *  @return 0; -EAGAIN when the tx queue has no room for every fragment (nothing queued);
 *  -EMSGSIZE above GS_DGRAM_MAX or max_pkt fragments. */
int gs_dgram_send(gs_stack *s, uint32_t src_port, uint32_t dst_port, const void *data, uint32_t len,
                  uint32_t frag);
/** Sends a raw datagram-queue packet (five-queue layout: on the datagram tx queue; else the tx queue). */
int gs_dgram_send_raw(gs_stack *s, const struct vsn_virtio_vsock_hdr *hdr, const void *payload,
                      uint32_t plen);
/** Takes the oldest received datagram: its length (copies at most cap bytes), or -EAGAIN. */
int gs_dgram_recv(gs_stack *s, uint32_t *src_port, uint32_t *dst_port, void *buf, uint32_t cap);

/* ---- raw packets and rx control ---------------------------------------------------------- */

/** Sends one tx chain: hdr (44 bytes, little-endian, as given) + payload of plen bytes
 *  (hdr->len is NOT fixed up). */
int gs_send_raw(gs_stack *s, const struct vsn_virtio_vsock_hdr *hdr, const void *payload,
                uint32_t plen);
/** Fills a little-endian header from this stack's CID to the host (buf_alloc/fwd_cnt 0 unless
 *  a connection is given, then its values). */
void gs_hdr(gs_stack *s, const gs_conn *c, struct vsn_virtio_vsock_hdr *h, uint32_t src_port,
            uint32_t dst_port, uint16_t op, uint32_t len, uint32_t flags);

/** Hold rx: reaped rx buffers are not reposted (and gs_rx_post adds them back). */
void gs_rx_hold(gs_stack *s, bool hold);
/** Number of rx buffers posted to the device now. */
uint32_t gs_rx_posted(gs_stack *s);
/** Takes back nothing; posts up to n of the held buffers. @return buffers posted */
uint32_t gs_rx_post(gs_stack *s, uint32_t n);

/** The packet log: entries with seq >= from (oldest first), at most max. @return count */
size_t gs_log_since(gs_stack *s, uint64_t from, gs_pkt *out, size_t max);
/** The seq the next received packet will get. */
uint64_t gs_log_next(gs_stack *s);

const char *gs_op_name(uint16_t op);
void gs_print_pkt(const char *prefix, const gs_pkt *p);

/** Monotonic milliseconds. */
int64_t gs_now_ms(void);

#ifdef __cplusplus
}
#endif

#endif /* VSN_GUEST_STACK_H */
