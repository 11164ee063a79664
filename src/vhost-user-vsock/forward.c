/* forward.c: forward-cid / forward-listen, the AF_VSOCK backend (see forward.h). */
#include "forward.h"
#include "vu_backend.h"

#include <errno.h>
#include <linux/vm_sockets.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define FWD_BUF (64u * 1024u)

enum { TAG_STOP = 1, TAG_LISTEN = 2, TAG_PROXY = 3 };

/* One direction: bytes read from `from` wait in buf until written to `to`. */
typedef struct fwd_dir {
    uint8_t buf[FWD_BUF];
    size_t head, tail;  /* buf[head, tail) is pending */
    bool eof;           /* `from` ended; SHUT_WR passed on once the buffer is empty */
    bool shut;          /* SHUT_WR done */
} fwd_dir;

struct fwd_proxy {
    fwd_proxy *next;
    int vsock_fd, pair_fd;  /* the host's AF_VSOCK socket; the device's end */
    bool connecting;        /* guest to host: the AF_VSOCK connect has not completed */
    bool vsock_hup, pair_hup; /* the socket hung up: nothing more can be written to it */
    bool vsock_reg, pair_reg; /* in the epoll set (a hung-up socket leaves it once it has nothing to read) */
    uint32_t port;
    fwd_dir to_pair, to_vsock;
    /* epoll tags: pointer with the low bit telling which fd */
};

static uint64_t tag_of(int kind, uint64_t value) { return ((uint64_t)kind << 56) | value; }

static int set_interest(forwarder *f, int fd, uint32_t events, uint64_t tag, bool add)
{
    struct epoll_event ev = { .events = events, .data.u64 = tag };
    return epoll_ctl(f->epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
}

static uint64_t proxy_tag(fwd_proxy *p, bool vsock_side)
{
    return tag_of(TAG_PROXY, ((uint64_t)(uintptr_t)p) | (vsock_side ? 1u : 0u));
}

/* Puts fd in the epoll set with events, or takes it out: a socket that hung up reports EPOLLHUP
 * whatever it is asked, so it stays in only while it still has bytes to read. */
static void watch(forwarder *f, int fd, uint32_t events, bool hup, bool *reg, uint64_t tag)
{
    if (hup && events == 0) {
        if (*reg) epoll_ctl(f->epfd, EPOLL_CTL_DEL, fd, NULL);
        *reg = false;
        return;
    }
    set_interest(f, fd, events, tag, !*reg);
    *reg = true;
}

/* What each fd waits for: readable while its direction's buffer has room and it has not ended;
 * writable while the other direction has bytes for it. */
static void update(forwarder *f, fwd_proxy *p)
{
    uint32_t ev_vsock = 0, ev_pair = 0;
    if (p->connecting) ev_vsock = EPOLLOUT;
    else {
        if (!p->to_pair.eof && p->to_pair.tail < FWD_BUF) ev_vsock |= EPOLLIN;
        if (p->to_vsock.tail > p->to_vsock.head) ev_vsock |= EPOLLOUT;
        if (!p->to_vsock.eof && p->to_vsock.tail < FWD_BUF) ev_pair |= EPOLLIN;
        if (p->to_pair.tail > p->to_pair.head) ev_pair |= EPOLLOUT;
    }
    watch(f, p->vsock_fd, ev_vsock, p->vsock_hup, &p->vsock_reg, proxy_tag(p, true));
    watch(f, p->pair_fd, ev_pair, p->pair_hup, &p->pair_reg, proxy_tag(p, false));
}

static void proxy_free(forwarder *f, fwd_proxy *p, const char *why)
{
    vu_log(VSN_LOG_DEBUG, "%s: forward port %u: closed (%s)", f->name, p->port, why);
    if (p->vsock_reg) epoll_ctl(f->epfd, EPOLL_CTL_DEL, p->vsock_fd, NULL);
    if (p->pair_reg) epoll_ctl(f->epfd, EPOLL_CTL_DEL, p->pair_fd, NULL);
    close(p->vsock_fd);
    close(p->pair_fd);
    pthread_mutex_lock(&f->lock);
    for (fwd_proxy **pp = &f->proxies; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    pthread_mutex_unlock(&f->lock);
    free(p);
}

/* Registers a proxy (both fds non-blocking); -errno and nothing kept on failure. */
static int proxy_add(forwarder *f, int vsock_fd, int pair_fd, uint32_t port, bool connecting)
{
    fwd_proxy *p = calloc(1, sizeof *p);
    if (p == NULL) return -ENOMEM;
    p->vsock_fd = vsock_fd;
    p->pair_fd = pair_fd;
    p->port = port;
    p->connecting = connecting;
    pthread_mutex_lock(&f->lock);
    if (f->closed) {
        pthread_mutex_unlock(&f->lock);
        free(p);
        return -ECONNREFUSED;
    }
    p->vsock_reg = p->pair_reg = true;
    if (set_interest(f, vsock_fd, 0, proxy_tag(p, true), true) < 0 || set_interest(f, pair_fd, 0, proxy_tag(p, false), true) < 0) {
        int err = errno;
        epoll_ctl(f->epfd, EPOLL_CTL_DEL, vsock_fd, NULL);
        pthread_mutex_unlock(&f->lock);
        free(p);
        return -err;
    }
    p->next = f->proxies;
    f->proxies = p;
    update(f, p);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

/* Moves what it can in one direction: -1 when the proxy must close (an error on either side). */
static int pump(int from, int to, fwd_dir *d, bool *progress)
{
    if (!d->eof && d->tail < FWD_BUF) {
        ssize_t n = recv(from, d->buf + d->tail, FWD_BUF - d->tail, MSG_DONTWAIT);
        if (n > 0) d->tail += (size_t)n, *progress = true;
        else if (n == 0) d->eof = true, *progress = true;
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
    }
    if (d->tail > d->head) {
        ssize_t n = send(to, d->buf + d->head, d->tail - d->head, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            d->head += (size_t)n;
            *progress = true;
            if (d->head == d->tail) d->head = d->tail = 0;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
    }
    if (d->eof && !d->shut && d->head == d->tail) {
        shutdown(to, SHUT_WR);
        d->shut = true;
        *progress = true;
    }
    return 0;
}

static void on_proxy(forwarder *f, fwd_proxy *p, bool vsock_side, uint32_t events)
{
    if (p->connecting) {
        if (!vsock_side || !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(p->vsock_fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err == 0 && !(events & (EPOLLERR | EPOLLHUP))) {
            uint8_t ok = VSN_ROUTE_ACCEPTED;
            if (send(p->pair_fd, &ok, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
                proxy_free(f, p, "the device's end went away");
                return;
            }
            p->connecting = false;
            __atomic_add_fetch(&f->to_host_opened, 1, __ATOMIC_RELAXED);
            vu_log(VSN_LOG_DEBUG, "%s: guest -> cid %u port %u: connected", f->name, f->opt->forward_cid, p->port);
        } else {
            __atomic_add_fetch(&f->to_host_refused, 1, __ATOMIC_RELAXED);
            vu_log(VSN_LOG_INFO, "%s: guest -> cid %u port %u: %s; RST to the guest", f->name, f->opt->forward_cid, p->port,
                   strerror(err ? err : ECONNREFUSED));
            proxy_free(f, p, "connect failed");
            return;
        }
    }
    if (events & (EPOLLHUP | EPOLLERR)) {
        /* That socket hung up: bytes for it can no longer be delivered (dropped, its direction
         * ends); what it sent before is still read out and passed on, then end of stream. */
        *(vsock_side ? &p->vsock_hup : &p->pair_hup) = true;
        fwd_dir *into = vsock_side ? &p->to_vsock : &p->to_pair;
        into->eof = into->shut = true;
        into->head = into->tail = 0;
    }
    for (int round = 0; round < 16; round++) {
        bool progress = false;
        if (pump(p->vsock_fd, p->pair_fd, &p->to_pair, &progress) < 0 || pump(p->pair_fd, p->vsock_fd, &p->to_vsock, &progress) < 0) {
            proxy_free(f, p, "a peer failed (reset or gone)");
            return;
        }
        if (p->to_pair.shut && p->to_vsock.shut) {
            proxy_free(f, p, "both directions ended");
            return;
        }
        if (!progress) break;
    }
    update(f, p);
}

static void on_listen(forwarder *f, int lfd)
{
    struct sockaddr_vm peer;
    socklen_t len = sizeof peer;
    struct sockaddr_vm local;
    socklen_t llen = sizeof local;
    int a = accept4(lfd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (a < 0) return;
    getsockname(lfd, (struct sockaddr *)&local, &llen);
    uint32_t port = local.svm_port;
    int32_t pair = -1;
    int rc = vsn_device_connect(f->dev, port, VSN_VIRTIO_VSOCK_TYPE_STREAM, &pair);
    if (rc < 0) {
        __atomic_add_fetch(&f->to_guest_refused, 1, __ATOMIC_RELAXED);
        vu_log(VSN_LOG_INFO, "%s: cid %u port %u -> guest port %u: vsn_device_connect failed (errno %d); closed", f->name,
               peer.svm_cid, peer.svm_port, port, -rc);
        close(a);
        return;
    }
    if ((rc = proxy_add(f, a, pair, port, false)) < 0) {
        vu_log(VSN_LOG_WARN, "%s: forward port %u: %s", f->name, port, strerror(-rc));
        close(a);
        close(pair);
        return;
    }
    __atomic_add_fetch(&f->to_guest_opened, 1, __ATOMIC_RELAXED);
    vu_log(VSN_LOG_DEBUG, "%s: cid %u port %u -> guest port %u", f->name, peer.svm_cid, peer.svm_port, port);
}

static void *fwd_thread(void *arg)
{
    forwarder *f = arg;
    struct epoll_event evs[32];
    while (1) {
        int n = epoll_wait(f->epfd, evs, 32, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            vu_log(VSN_LOG_ERROR, "%s: forward: epoll_wait: %s", f->name, strerror(errno));
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            uint64_t t = evs[i].data.u64;
            int kind = (int)(t >> 56);
            uint64_t v = t & ((1ull << 56) - 1);
            if (kind == TAG_STOP) return NULL;
            if (kind == TAG_LISTEN) on_listen(f, f->listen_fds[v]);
            else if (kind == TAG_PROXY) {
                fwd_proxy *p = (fwd_proxy *)(uintptr_t)(v & ~(uint64_t)1);
                /* A proxy freed earlier in this batch: skip its stale events. */
                bool live = false;
                pthread_mutex_lock(&f->lock);
                for (fwd_proxy *q = f->proxies; q; q = q->next) live |= q == p;
                pthread_mutex_unlock(&f->lock);
                if (live) on_proxy(f, p, (v & 1) != 0, evs[i].events);
            }
        }
    }
}

int forward_open(forwarder *f, const vm_options *opt, const char *name, vsn_device *dev, int stop_fd)
{
    memset(f, 0, sizeof *f);
    f->opt = opt;
    f->name = name;
    f->dev = dev;
    f->stop_fd = stop_fd;
    f->epfd = -1;
    pthread_mutex_init(&f->lock, NULL);
    if ((f->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) return -errno;
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag_of(TAG_STOP, 0) };
    if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, stop_fd, &ev) < 0) return -errno;
    for (unsigned i = 0; i < opt->nforward_listen; i++) {
        uint32_t port = opt->forward_listen[i];
        int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0) {
            int err = errno;
            vu_log(VSN_LOG_ERROR, "%s: forward-listen: cannot listen on AF_VSOCK port %u: %s%s", name, port, strerror(err),
                   err == EAFNOSUPPORT || err == EADDRNOTAVAIL ? " (no vsock transport on this host? modprobe vsock_loopback or vhost_vsock)" : "");
            if (fd >= 0) close(fd);
            return -err;
        }
        f->listen_fds[f->nlisten] = fd;
        ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = tag_of(TAG_LISTEN, f->nlisten) };
        f->nlisten++;
        if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) return -errno;
    }
    vu_log(VSN_LOG_INFO, "%s: forwarding guest connections to AF_VSOCK cid %u; %u host port(s) forwarded into the guest", name,
           opt->forward_cid, f->nlisten);
    return 0;
}

int forward_start(forwarder *f)
{
    int rc = pthread_create(&f->thread, NULL, fwd_thread, f);
    if (rc != 0) return -rc;
    f->thread_started = true;
    return 0;
}

int forward_route(forwarder *f, uint32_t dst_port, uint32_t src_port, int fd)
{
    int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
        int err = errno;
        vu_log(VSN_LOG_INFO, "%s: guest port %u -> cid %u port %u: socket: %s", f->name, src_port, f->opt->forward_cid, dst_port,
               strerror(err));
        __atomic_add_fetch(&f->to_host_refused, 1, __ATOMIC_RELAXED);
        return -err;
    }
    struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = f->opt->forward_cid, .svm_port = dst_port };
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        int err = errno;
        vu_log(VSN_LOG_INFO, "%s: guest port %u -> cid %u port %u: %s; RST to the guest", f->name, src_port, f->opt->forward_cid,
               dst_port, strerror(err));
        __atomic_add_fetch(&f->to_host_refused, 1, __ATOMIC_RELAXED);
        close(s);
        return -err;
    }
    int rc = proxy_add(f, s, fd, dst_port, true);
    if (rc < 0) close(s);
    return rc;
}

void forward_close(forwarder *f)
{
    if (f->thread_started) pthread_join(f->thread, NULL);
    f->thread_started = false;
    pthread_mutex_lock(&f->lock);
    f->closed = true;
    fwd_proxy *p = f->proxies;
    f->proxies = NULL;
    pthread_mutex_unlock(&f->lock);
    while (p != NULL) {
        fwd_proxy *next = p->next;
        close(p->vsock_fd);
        close(p->pair_fd);
        free(p);
        p = next;
    }
    for (unsigned i = 0; i < f->nlisten; i++) close(f->listen_fds[i]);
    f->nlisten = 0;
    if (f->epfd >= 0) close(f->epfd);
    f->epfd = -1;
}
