/*
 * vm.h: one VM served by the daemon: its device (own event-loop thread, from the library), its
 * vhost-user socket and the thread that serves one frontend connection at a time on it.
 */
#ifndef VU_VM_H
#define VU_VM_H

#include "forward.h"
#include "options.h"
#include "vu_backend.h"

#include <pthread.h>
#include <stdbool.h>

typedef struct vm {
    const vm_options *opt;
    char name[32];
    vsn_device *dev;
    vu_backend backend;
    forwarder fwd;        /* forward-cid / forward-listen (opt->has_forward_cid) */
    bool fwd_open;
    int listen_fd;
    int stop_fd;          /* the daemon's stop eventfd (shared, never drained) */
    bool socket_created;  /* the daemon created opt->socket, so it removes it */
    bool thread_started;
    pthread_t thread;
    vu_msg msg;
    uint64_t connections;  /* frontends accepted so far */
    uint64_t connected;    /* 1 while a frontend is connected (read by the metrics) */
} vm;

/* Creates the device and the listening vhost-user socket. 0 or -errno (reason logged). */
int vm_open(vm *v, const vm_options *opt, int stop_fd);
/* Starts the thread that accepts and serves frontends. */
int vm_start(vm *v);
/* Waits for the thread (after the stop fd was signalled) and stops and resets the device. Run
 * it for every VM before vm_close on any: a running sibling may still route to this device. */
void vm_stop(vm *v);
/* Destroys the device, closes and removes the socket. Safe on a VM that vm_open failed on. */
void vm_close(vm *v);

#endif
