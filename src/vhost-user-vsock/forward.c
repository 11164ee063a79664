/* forward.c: forward-cid / forward-listen, the AF_VSOCK backend (see forward.h). */
#include "forward.h"
#include "vu_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FWD_BUF (64u * 1024u)
#define FWD_DEFAULT_BUF_ALLOC (256u * 1024u) /* the library's buf_alloc when tx-buffer-size is not given */
#define FWD_SEQ_SEND_TIMEOUT_S 5             /* a seqpacket host peer that takes no message for this long is reset */
#define FRAME_EOR 1u                         /* the leading flags byte of a framed route message: the record ends */

enum { TAG_STOP = 1, TAG_LISTEN = 2, TAG_PROXY = 3 };

/* One direction: bytes read from `from` wait in buf until written to `to`. Stream: up to 64 KiB
 * of bytes. Seqpacket: one message at a time, buf[head, tail) its payload, eor its record end. */
typedef struct fwd_dir {
    uint8_t *buf;
    size_t cap;
    size_t head, tail;  /* buf[head, tail) is pending */
    bool eof;           /* `from` ended; SHUT_WR passed on once the buffer is empty */
    bool shut;          /* SHUT_WR done */
    bool eor;           /* seqpacket: the pending message ends a record */
} fwd_dir;

struct fwd_proxy {
    fwd_proxy *next;
    int vsock_fd, pair_fd;  /* the host's AF_VSOCK socket; the device's end */
    bool connecting;        /* guest to host: the AF_VSOCK connect has not completed */
    bool vsock_hup, pair_hup; /* the socket hung up: nothing more can be written to it */
    bool vsock_reg, pair_reg; /* in the epoll set (a hung-up socket leaves it once it has nothing to read) */
    bool seqpacket;         /* SOCK_SEQPACKET on both sides: message by message */
    bool framed;            /* seqpacket: the pair's messages carry a leading flags byte (a route's pair) */
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
        /* seqpacket: a new message only once the pending one is out */
        if (!p->to_pair.eof && (p->seqpacket ? p->to_pair.tail == 0 : p->to_pair.tail < p->to_pair.cap)) ev_vsock |= EPOLLIN;
        if (p->to_vsock.tail > (p->seqpacket ? 0 : p->to_vsock.head)) ev_vsock |= EPOLLOUT;
        if (!p->to_vsock.eof && (p->seqpacket ? p->to_vsock.tail == 0 : p->to_vsock.tail < p->to_vsock.cap)) ev_pair |= EPOLLIN;
        if (p->to_pair.tail > (p->seqpacket ? 0 : p->to_pair.head)) ev_pair |= EPOLLOUT;
    }
    watch(f, p->vsock_fd, ev_vsock, p->vsock_hup, &p->vsock_reg, proxy_tag(p, true));
    watch(f, p->pair_fd, ev_pair, p->pair_hup, &p->pair_reg, proxy_tag(p, false));
}

static void proxy_release(fwd_proxy *p)
{
    free(p->to_pair.buf);
    free(p->to_vsock.buf);
    free(p);
}

/* A seqpacket direction's buffer: the largest message either side takes (the device's buf_alloc;
 * what a host peer may send us, our AF_VSOCK socket's buffer size), plus the frame byte. */
static size_t seq_cap(const forwarder *f, int vsock_fd)
{
    size_t cap = f->opt->tx_buffer_size ? f->opt->tx_buffer_size : FWD_DEFAULT_BUF_ALLOC;
    uint64_t vbuf = 0; /* what a host peer may send us in one message: our AF_VSOCK receive buffer */
    socklen_t len = sizeof vbuf;
    if (getsockopt(vsock_fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &vbuf, &len) == 0 && vbuf > cap) cap = (size_t)vbuf;
    return cap + 1;
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
    proxy_release(p);
}

/* Registers a proxy (the pair non-blocking; the AF_VSOCK socket non-blocking for a stream; for a
 * seqpacket its sends block, see seq_blocking_sends); -errno and nothing kept on failure. */
static int proxy_add(forwarder *f, int vsock_fd, int pair_fd, uint32_t port, bool connecting, bool seqpacket, bool framed)
{
    fwd_proxy *p = calloc(1, sizeof *p);
    if (p == NULL) return -ENOMEM;
    p->vsock_fd = vsock_fd;
    p->pair_fd = pair_fd;
    p->port = port;
    p->connecting = connecting;
    p->seqpacket = seqpacket;
    p->framed = framed;
    p->to_pair.cap = p->to_vsock.cap = seqpacket ? seq_cap(f, vsock_fd) : FWD_BUF;
    p->to_pair.buf = malloc(p->to_pair.cap);
    p->to_vsock.buf = malloc(p->to_vsock.cap);
    if (p->to_pair.buf == NULL || p->to_vsock.buf == NULL) {
        proxy_release(p);
        return -ENOMEM;
    }
    if (seqpacket) {
        int sndbuf = (int)p->to_pair.cap + 4096;  /* an AF_UNIX message must fit the sender's buffer */
        setsockopt(pair_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    }
    pthread_mutex_lock(&f->lock);
    if (f->closed) {
        pthread_mutex_unlock(&f->lock);
        proxy_release(p);
        return -ECONNREFUSED;
    }
    p->vsock_reg = p->pair_reg = true;
    if (set_interest(f, vsock_fd, 0, proxy_tag(p, true), true) < 0 || set_interest(f, pair_fd, 0, proxy_tag(p, false), true) < 0) {
        int err = errno;
        epoll_ctl(f->epfd, EPOLL_CTL_DEL, vsock_fd, NULL);
        pthread_mutex_unlock(&f->lock);
        proxy_release(p);
        return -err;
    }
    p->next = f->proxies;
    f->proxies = p;
    update(f, p);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

/* A seqpacket AF_VSOCK socket once connected: its sends block (a message goes whole: a
 * non-blocking send that finds too little credit can send part of it and fail), for at most
 * FWD_SEQ_SEND_TIMEOUT_S; its reads stay non-blocking (MSG_DONTWAIT). */
static void seq_blocking_sends(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    struct timeval tv = { .tv_sec = FWD_SEQ_SEND_TIMEOUT_S };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static bool transient(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

/* Seqpacket, one direction: one message read whole (MSG_TRUNC never: buffers hold the largest
 * message either side takes; a truncated one resets the connection), written whole as one
 * message. from_framed / to_framed: that side is a route's pair (leading flags byte, bit 0 the
 * record end); an AF_VSOCK side carries the record end as MSG_EOR. to_blocks: `to` is the AF_VSOCK
 * socket, whose send blocks (seq_blocking_sends): tried only once it polls writable. */
static int pump_seq(int from, int to, fwd_dir *d, bool from_framed, bool to_framed, bool to_blocks, bool *progress)
{
    if (!d->eof && d->tail == 0) {
        struct iovec iov = { .iov_base = d->buf, .iov_len = d->cap };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n = recvmsg(from, &m, MSG_DONTWAIT);
        if (n < 0 && !transient(errno)) return -1;
        if (n == 0) d->eof = true, *progress = true;  /* neither Linux's vsock nor a framed pair sends an empty message */
        if (n > 0) {
            if (m.msg_flags & MSG_TRUNC) {
                errno = EMSGSIZE;
                return -1;
            }
            d->head = from_framed ? 1 : 0;
            d->tail = (size_t)n;
            d->eor = from_framed ? (d->buf[0] & FRAME_EOR) != 0 : (m.msg_flags & MSG_EOR) != 0;
            *progress = true;
        }
    }
    if (d->tail > 0) {
        struct pollfd pf = { .fd = to, .events = POLLOUT };
        if (to_blocks && poll(&pf, 1, 0) <= 0) return 0;  /* EPOLLOUT wakes us */
        uint8_t frame = d->eor ? FRAME_EOR : 0;
        struct iovec iov[2] = { { .iov_base = &frame, .iov_len = 1 }, { .iov_base = d->buf + d->head, .iov_len = d->tail - d->head } };
        struct msghdr m = { .msg_iov = to_framed ? iov : iov + 1, .msg_iovlen = to_framed ? 2 : 1 };
        int flags = MSG_NOSIGNAL | (to_blocks ? 0 : MSG_DONTWAIT) | (!to_framed && d->eor ? MSG_EOR : 0);
        ssize_t n = sendmsg(to, &m, flags);
        if (n >= 0) {
            d->head = d->tail = 0;
            *progress = true;
        } else if (to_blocks || !transient(errno)) return -1;  /* a blocking send that timed out: the peer stalls */
    }
    if (d->eof && !d->shut && d->tail == 0) {
        shutdown(to, SHUT_WR);
        d->shut = true;
        *progress = true;
    }
    return 0;
}

/* Moves what it can in one direction: -1 when the proxy must close (an error on either side). */
static int pump(int from, int to, fwd_dir *d, bool *progress)
{
    if (!d->eof && d->tail < d->cap) {
        ssize_t n = recv(from, d->buf + d->tail, d->cap - d->tail, MSG_DONTWAIT);
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
            if (p->seqpacket) seq_blocking_sends(p->vsock_fd);
            __atomic_add_fetch(&f->to_host_opened, 1, __ATOMIC_RELAXED);
            vu_log(VSN_LOG_DEBUG, "%s: guest -> cid %u port %u: connected (%s)", f->name, f->opt->forward_cid, p->port,
                   p->seqpacket ? "seqpacket" : "stream");
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
        int rc = p->seqpacket
                     ? (pump_seq(p->vsock_fd, p->pair_fd, &p->to_pair, false, p->framed, false, &progress) < 0
                        || pump_seq(p->pair_fd, p->vsock_fd, &p->to_vsock, p->framed, false, true, &progress) < 0)
                     : (pump(p->vsock_fd, p->pair_fd, &p->to_pair, &progress) < 0 || pump(p->pair_fd, p->vsock_fd, &p->to_vsock, &progress) < 0);
        if (rc) {
            if (p->seqpacket && errno == EMSGSIZE)
                vu_log(VSN_LOG_WARN, "%s: forward port %u: a seqpacket message larger than the other side takes; reset", f->name, p->port);
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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Watches the listeners (EPOLLIN) or not (0). */
static void listen_watch(forwarder *f, uint32_t events)
{
    for (unsigned i = 0; i < f->nlisten; i++) {
        struct epoll_event ev = { .events = events, .data.u64 = tag_of(TAG_LISTEN, i) };
        epoll_ctl(f->epfd, EPOLL_CTL_MOD, f->listen_fds[i], &ev);
    }
}

/* accept failed for lack of fds or memory: a listener with a peer waiting stays readable, so watching
 * it would wake the thread at once, again and again (a spin). It is left unwatched for 100 ms, then
 * tried again; the peers wait in its backlog. */
static void listen_pause(forwarder *f, int err)
{
    if (!f->listen_short)
        vu_log(VSN_LOG_WARN, "%s: forward: accept: %s; the peers wait, trying again every 100 ms", f->name, strerror(err));
    f->listen_short = true;
    f->listen_paused_until = now_ms() + 100;
    listen_watch(f, 0);
}

static void on_listen(forwarder *f, unsigned i)
{
    int lfd = f->listen_fds[i];
    bool seqpacket = f->opt->forward_listen_seqpacket[i];
    const char *kind = seqpacket ? "seqpacket" : "stream";
    struct sockaddr_vm peer;
    socklen_t len = sizeof peer;
    int a = accept4(lfd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (a < 0 && vu_short_of_fds(errno)) {
        listen_pause(f, errno);
        return;
    }
    if (f->listen_short) vu_log(VSN_LOG_INFO, "%s: forward: accepting again", f->name);
    f->listen_short = false;
    if (a < 0) return;
    uint32_t port = f->opt->forward_listen[i];
    int32_t pair = -1;
    /* seqpacket: the fd API's pair keeps message boundaries but carries no record end (MSG_EOR)
     * either way (AF_UNIX has none, and that pair is not framed): see README, forward-listen */
    int rc = vsn_device_connect(f->dev, port, seqpacket ? VSN_VIRTIO_VSOCK_TYPE_SEQPACKET : VSN_VIRTIO_VSOCK_TYPE_STREAM, &pair);
    if (rc < 0) {
        __atomic_add_fetch(&f->to_guest_refused, 1, __ATOMIC_RELAXED);
        vu_log(VSN_LOG_INFO, "%s: cid %u port %u -> guest port %u (%s): vsn_device_connect failed (errno %d); closed", f->name,
               peer.svm_cid, peer.svm_port, port, kind, -rc);
        close(a);
        return;
    }
    if (seqpacket) seq_blocking_sends(a);
    if ((rc = proxy_add(f, a, pair, port, false, seqpacket, false)) < 0) {
        vu_log(VSN_LOG_WARN, "%s: forward port %u: %s", f->name, port, strerror(-rc));
        close(a);
        close(pair);
        return;
    }
    __atomic_add_fetch(&f->to_guest_opened, 1, __ATOMIC_RELAXED);
    vu_log(VSN_LOG_DEBUG, "%s: cid %u port %u -> guest port %u (%s)", f->name, peer.svm_cid, peer.svm_port, port, kind);
}

static void *fwd_thread(void *arg)
{
    forwarder *f = arg;
    struct epoll_event evs[32];
    while (1) {
        int64_t left = f->listen_paused_until ? f->listen_paused_until - now_ms() : -1;
        if (f->listen_paused_until && left <= 0) {
            f->listen_paused_until = 0;  /* watched again: the next failure pauses again */
            listen_watch(f, EPOLLIN);
            left = -1;
        }
        int n = epoll_wait(f->epfd, evs, 32, (int)left);
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
            if (kind == TAG_LISTEN) on_listen(f, (unsigned)v);
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
        int type = opt->forward_listen_seqpacket[i] ? SOCK_SEQPACKET : SOCK_STREAM;
        int fd = socket(AF_VSOCK, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0) {
            int err = errno;
            vu_log(VSN_LOG_ERROR, "%s: forward-listen: cannot listen on AF_VSOCK %s port %u: %s%s", name,
                   type == SOCK_SEQPACKET ? "seqpacket" : "stream", port, strerror(err),
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

int forward_route(forwarder *f, uint32_t type, uint32_t dst_port, uint32_t src_port, int fd)
{
    bool seqpacket = type == VSN_VIRTIO_VSOCK_TYPE_SEQPACKET;
    int s = socket(AF_VSOCK, (seqpacket ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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
    int rc = proxy_add(f, s, fd, dst_port, true, seqpacket, seqpacket);
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
        proxy_release(p);
        p = next;
    }
    for (unsigned i = 0; i < f->nlisten; i++) close(f->listen_fds[i]);
    f->nlisten = 0;
    if (f->epfd >= 0) close(f->epfd);
    f->epfd = -1;
}
