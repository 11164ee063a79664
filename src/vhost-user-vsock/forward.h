/*
 * forward.h: vhost-device-vsock's AF_VSOCK backend for one VM (forward-cid, forward-listen).
 *
 *  - Guest to host: the device is created with VSN_DEVICE_F_ROUTE_HOST, so a guest stream or
 *    seqpacket connection to the host (CID 2) port P reaches the router (router.c), which hands it
 *    here: a non-blocking AF_VSOCK connect (same socket type) to (forward-cid, P); when it
 *    completes, VSN_ROUTE_ACCEPTED is written on the device's socketpair end (the guest gets
 *    RESPONSE) and the data is carried both ways; when it fails the pair is closed (the guest gets RST).
 *  - Host to guest: the daemon listens on AF_VSOCK (VMADDR_CID_ANY, P) for every forward-listen
 *    port P (SOCK_STREAM) and forward-listen-seqpacket port (SOCK_SEQPACKET); each accepted
 *    connection becomes vsn_device_connect(P, that type) on the device, whose fd is carried to and
 *    from the accepted socket (a guest that refuses: the host peer reads end of stream).
 *
 * Carrying: one thread per VM with an epoll set. Stream: each direction has a 64 KiB buffer.
 * Seqpacket: one message per direction in flight, read whole with one recvmsg and written whole
 * with one sendmsg; the buffers hold the largest message either side takes (the device's
 * buf_alloc, the AF_VSOCK socket's buffer size), a message that would be truncated resets the
 * connection. The record end (VIRTIO_VSOCK_SEQ_EOR) goes between MSG_EOR on AF_VSOCK and the
 * leading flags byte of the route pair's messages (forward-cid, both ways); the fd API's pair of
 * forward-listen does not carry it (boundaries kept, record ends dropped both ways). AF_VSOCK
 * seqpacket sends block (a non-blocking one with too little credit would send part of a message),
 * at most 5 s: a host peer that takes no message for that long is reset. End of stream on one
 * side is passed on as shutdown(SHUT_WR) once its data is out; an error (a peer killed:
 * ECONNRESET, EPIPE) closes both sides at once, so the other peer sees its connection end.
 */
#ifndef VU_FORWARD_H
#define VU_FORWARD_H

#include "options.h"
#include "vsock_native.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct fwd_proxy fwd_proxy;

typedef struct forwarder {
    const vm_options *opt;
    const char *name;
    vsn_device *dev;
    int epfd;
    int stop_fd;               /* the daemon's stop eventfd (never drained) */
    int listen_fds[VU_MAX_FORWARD_PORTS];
    unsigned nlisten;
    int64_t listen_paused_until; /* accept failed for lack of fds: listeners unwatched until then (ms), 0: watched */
    bool listen_short;         /* accept has failed for lack of fds since it last did not (logged once) */
    pthread_mutex_t lock;      /* proxies list, closed (the router calls in from the device's thread) */
    fwd_proxy *proxies;
    bool closed;
    bool thread_started;
    pthread_t thread;
    uint64_t to_host_opened, to_host_refused, to_guest_opened, to_guest_refused;
} forwarder;

/* Binds the forward-listen ports. 0 or -errno (reason logged). */
int forward_open(forwarder *f, const vm_options *opt, const char *name, vsn_device *dev, int stop_fd);
/* Starts the thread. */
int forward_start(forwarder *f);
/* A guest connection (type VSN_VIRTIO_VSOCK_TYPE_STREAM or _SEQPACKET) to host port dst_port (the
 * router, on the device's thread): starts the AF_VSOCK connect. 0 (fd taken) or -errno (fd stays
 * the caller's). */
int forward_route(forwarder *f, uint32_t type, uint32_t dst_port, uint32_t src_port, int fd);
/* Joins the thread (after the stop fd was signalled) and closes every socket. Safe to call twice. */
void forward_close(forwarder *f);

#endif
