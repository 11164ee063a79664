/* vm.c: one VM's device and vhost-user socket (see vm.h). */
#include "vm.h"
#include "vu_io.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define VM_MESSAGE_TIMEOUT_S 5
#define VM_TIMEOUT_TEXT "5 s"

static void device_log(void *user, int32_t level, const char *message)
{
    vu_log(level, "%s: %s", ((vm *)user)->name, message);
}

static void device_needs_reset(void *user, uint32_t queue_index, const char *reason)
{
    vu_backend_needs_reset(&((vm *)user)->backend, queue_index, reason);
}

static int listen_on(const char *path, bool *created)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return -EEXIST;  /* never remove something that is not a socket */
        unlink(path);                                /* a stale socket of an earlier run */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    *created = true;
    return fd;
}

int vm_open(vm *v, const vm_options *opt, int stop_fd)
{
    memset(v, 0, sizeof *v);
    v->opt = opt;
    v->listen_fd = -1;
    v->stop_fd = stop_fd;
    snprintf(v->name, sizeof v->name, "vm%llu", (unsigned long long)opt->guest_cid);
    vsn_device_config cfg = {
        .struct_size = sizeof cfg,
        .guest_cid = opt->guest_cid,
        .log_fn = device_log,
        .log_user = v,
        .log_level = vu_log_level,
        .uds_path = opt->uds_path,
        .buf_alloc = opt->tx_buffer_size,
        .needs_reset_fn = device_needs_reset,
        .needs_reset_user = v,
        /* forward-cid: guest connections to the host go to the router (router.c -> forward.c) */
        .flags = opt->has_forward_cid ? VSN_DEVICE_F_ROUTE_HOST : 0,
    };
    struct stat st;
    if (opt->uds_path != NULL && lstat(opt->uds_path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
        /* the library binds uds_path at creation and replaces what is there: never a file of the user's */
        vu_log(VSN_LOG_ERROR, "%s: uds-path %s exists and is not a socket", v->name, opt->uds_path);
        return -EEXIST;
    }
    int rc = vsn_device_create(&cfg, &v->dev);
    if (rc < 0) {
        vu_log(VSN_LOG_ERROR, "%s: device not created (errno %d)", v->name, -rc);
        return rc;
    }
    vu_backend_init(&v->backend, v->dev, v->name);
    v->backend.max_ring = opt->queue_size;
    v->listen_fd = listen_on(opt->socket, &v->socket_created);
    if (v->listen_fd < 0) {
        rc = v->listen_fd;
        vu_log(VSN_LOG_ERROR, "%s: cannot listen on %s: %s", v->name, opt->socket,
               rc == -EEXIST ? "the path exists and is not a socket" : strerror(-rc));
        return rc;
    }
    if (opt->has_forward_cid) {
        rc = forward_open(&v->fwd, opt, v->name, v->dev, stop_fd);
        v->fwd_open = true;
        if (rc < 0) return rc;
    }
    vu_log(VSN_LOG_INFO, "%s: guest cid %llu, vhost-user socket %s, uds-path %s, queue-size %u", v->name,
           (unsigned long long)opt->guest_cid, opt->socket, opt->uds_path ? opt->uds_path : "(none)", opt->queue_size);
    return 0;
}

/* Waits until fd is readable or the daemon stops: 1 readable, 0 stopping, -errno. */
static int wait_readable(vm *v, int fd)
{
    struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = v->stop_fd, .events = POLLIN } };
    while (1) {
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        if (p[1].revents) return 0;
        if (p[0].revents) return 1;
    }
}

static const char *recv_error(int status)
{
    switch (status) {
    case VU_RECV_IO: return "read error";
    case VU_RECV_SHORT: return "closed in the middle of a message";
    case VU_RECV_VERSION: return "wrong version or reply flag in a request";
    case VU_RECV_FLAGS: return "unknown flag bits";
    case VU_RECV_TOO_BIG: return "payload size beyond the largest message";
    case VU_RECV_TOO_MANY_FDS: return "too many file descriptors";
    case VU_RECV_TIMEOUT: return "a message stopped half-way for " VM_TIMEOUT_TEXT;
    default: return "?";
    }
}

static void serve(vm *v, int conn)
{
    while (wait_readable(v, conn) == 1) {
        int status = vu_recv(conn, &v->msg);
        if (status == VU_RECV_EOF) {
            vu_log(VSN_LOG_INFO, "%s: frontend disconnected", v->name);
            return;
        }
        if (status != VU_RECV_OK) {
            v->backend.stats.rejected++;
            vu_log(VSN_LOG_WARN, "%s: %s: disconnecting", v->name, recv_error(status));
            return;
        }
        if (vu_backend_handle(&v->backend, conn, &v->msg) < 0) return;
    }
}

static void *vm_thread(void *arg)
{
    vm *v = arg;
    bool short_of_fds = false;
    while (wait_readable(v, v->listen_fd) == 1) {
        int conn = accept4(v->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0 && vu_short_of_fds(errno)) {
            /* No fd (or memory) left: the listener stays readable with the frontend in its backlog,
             * so polling it again at once would spin. It waits; we try again every 100 ms. */
            if (!short_of_fds)
                vu_log(VSN_LOG_WARN, "%s: accept: %s; the frontend waits, trying again every 100 ms", v->name, strerror(errno));
            short_of_fds = true;
            struct pollfd stop = { .fd = v->stop_fd, .events = POLLIN };
            if (poll(&stop, 1, 100) > 0) break;
            continue;
        }
        if (conn < 0) {
            if (errno != EINTR && errno != ECONNABORTED) vu_log(VSN_LOG_WARN, "%s: accept: %s", v->name, strerror(errno));
            continue;
        }
        if (short_of_fds) vu_log(VSN_LOG_INFO, "%s: accepting frontends again", v->name);
        short_of_fds = false;
        __atomic_add_fetch(&v->connections, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&v->connected, 1, __ATOMIC_RELAXED);
        /* A message is read whole once its first byte is there; a frontend that stops in the middle
         * of one for this long is broken, and must not keep the thread (or shutdown) waiting. */
        struct timeval tv = { .tv_sec = VM_MESSAGE_TIMEOUT_S };
        setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        vu_log(VSN_LOG_INFO, "%s: frontend connected", v->name);
        serve(v, conn);
        close(conn);
        vu_backend_disconnect(&v->backend);  /* ready for the next frontend */
        __atomic_store_n(&v->connected, 0, __ATOMIC_RELAXED);
    }
    return NULL;
}

int vm_start(vm *v)
{
    int rc = pthread_create(&v->thread, NULL, vm_thread, v);
    if (rc != 0) return -rc;
    v->thread_started = true;
    return v->fwd_open ? forward_start(&v->fwd) : 0;
}

void vm_stop(vm *v)
{
    if (v->thread_started) pthread_join(v->thread, NULL);
    v->thread_started = false;
    if (v->dev != NULL) vu_backend_disconnect(&v->backend);
    /* The device is stopped: no more routed connections; the forwarder's thread sees the stop fd. */
    if (v->fwd_open) forward_close(&v->fwd);
}

void vm_close(vm *v)
{
    vm_stop(v);
    if (v->dev != NULL) {
        vsn_device_destroy(v->dev);
        v->dev = NULL;
    }
    if (v->listen_fd >= 0) close(v->listen_fd);
    v->listen_fd = -1;
    if (v->socket_created) unlink(v->opt->socket);
    v->socket_created = false;
}
