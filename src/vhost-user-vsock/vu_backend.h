/*
 * vu_backend.h: the backend side of one vhost-user connection, driving one vsn_device.
 *
 * vhost-user sends ring settings one message at a time (NUM, ADDR, BASE, KICK, CALL, ENABLE);
 * vsn_queue_setup takes them together and needs the device stopped. The backend keeps a shadow of
 * every ring, stops the device before any change, and starts it again as soon as both rings QEMU
 * gives a vhost-user-vsock backend (0 rx, 1 tx; QEMU emulates the event queue itself) are complete:
 * size, addresses, a kick fd since the last stop, and enabled (when protocol features were
 * negotiated; without them a ring starts enabled, as the spec says).
 *
 * Thread rules: one thread per backend (the VM's vhost-user thread), except vu_backend_needs_reset,
 * which the device's event-loop thread calls: the rings' err fds are read and written only under
 * err_lock, so an err fd being replaced or closed is never signalled after its close.
 */
#ifndef VU_BACKEND_H
#define VU_BACKEND_H

#include "vhost_user.h"
#include "vsock_native.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VU_RINGS 2u
#define VU_MAX_RING 32768u  /* the largest split ring */

typedef struct vu_ring {
    uint32_t num;
    bool has_num;
    vu_vring_addr addr;
    bool has_addr;
    uint16_t base;
    int kick_fd, call_fd;
    int err_fd;   /* under the backend's err_lock */
    bool kicked;  /* SET_VRING_KICK since the last stop (GET_VRING_BASE) */
    bool enabled;
} vu_ring;

typedef struct vu_mapping {
    uint8_t *base;  /* mmap of [0, mmap_offset + memory_size) of the region's fd */
    size_t length;
    vu_mem_region region;
} vu_mapping;

typedef struct vu_backend_stats {
    uint64_t messages;
    uint64_t rejected;      /* messages answered with an error (or that ended the connection) */
    uint64_t starts, stops;
    uint64_t regions_sealed;   /* memfd regions the daemon sealed against shrinking */
    uint64_t regions_unsealed; /* regions whose backing cannot be sealed (accepted, warned) */
} vu_backend_stats;

typedef struct vu_backend {
    vsn_device *dev;
    const char *name;       /* for log lines, e.g. "vm3" */
    uint32_t max_ring;      /* the largest ring SET_VRING_NUM accepts (--queue-size); VU_MAX_RING after init */
    uint64_t features;
    bool features_set;
    uint64_t protocol_features;
    bool owner;
    vu_mapping maps[VU_MAX_REGIONS];
    unsigned nmaps;
    vu_ring rings[VU_RINGS];
    pthread_mutex_t err_lock;  /* guards rings[].err_fd (see the thread rules above) */
    bool running;
    /* Device state (VHOST_USER_PROTOCOL_F_DEVICE_STATE): the frontend's writing end of a LOAD
     * transfer, read at CHECK_DEVICE_STATE (-1: none); a loaded blob that waits for the memory
     * table; the outcome of the last transfer (0 or -errno, what CHECK_DEVICE_STATE answers). */
    int state_fd;
    uint8_t *pending_state;
    size_t pending_len;
    int state_result;
    vu_backend_stats stats;
} vu_backend;

/* Prepares a backend for a device (no connection yet). */
void vu_backend_init(vu_backend *b, vsn_device *dev, const char *name);

/* Handles one message received on sock, replying as the protocol asks. Returns 0 to go on, or a
 * negative errno when the connection must end (a malformed message the frontend cannot be told
 * about, or a write error). The message's fds are owned by the backend afterwards (kept or
 * closed). */
int vu_backend_handle(vu_backend *b, int sock, vu_msg *msg);

/* The frontend is gone (or reset the device): stop and reset the device, unmap guest memory, close
 * every fd, forget the negotiation. Safe to call twice. */
void vu_backend_disconnect(vu_backend *b);

/* The device needs a reset (its vsn_needs_reset_fn, on the device's thread): logs the reason and
 * writes 1 to the err eventfd of ring queue_index, or of every ring that has one when that ring has
 * none or queue_index is VSN_QUEUE_NONE. */
void vu_backend_needs_reset(vu_backend *b, uint32_t queue_index, const char *reason);

/* accept() failed for lack of file descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): its
 * listener stays readable while the peer waits in the backlog, so watching it again at once spins;
 * the daemon's listeners pause instead and try again later. */
static inline bool vu_short_of_fds(int err) { return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM; }

/* Logging for the daemon: printf-like, one line, prefixed with the level. */
void vu_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
extern int vu_log_level;

#endif
