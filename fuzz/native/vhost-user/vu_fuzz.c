/*
 * vu_fuzz.c: libFuzzer harness over the vhost-user-vsock daemon's message handling, in process.
 *
 * The daemon's own vu_io.c and vu_backend.c are compiled in; one vsn_device (manual poll, so
 * nothing runs behind the harness's back) serves every input. An input is one frontend
 * connection: a socketpair, then a sequence of ops decoded from the bytes:
 *
 *   MSG       one message, written on the frontend's end with its fds as SCM_RIGHTS and read
 *             by the daemon's vu_recv (the real receive path), then vu_backend_handle. The
 *             request, flags, size and fds are chosen by the input; the payload is built for the
 *             request (memory tables over the input's memfds, ring addresses inside or outside
 *             them, ring indexes, config ranges) or is raw bytes.
 *   TRUNCATE  a message cut short (in the header or the payload), then the frontend hangs up.
 *   KICK      signals a kick eventfd the harness sent, then polls the device once.
 *   POKE      writes bytes into a guest-memory memfd (ring contents the device reads).
 *   ERR       the device's needs-reset path (vu_backend_needs_reset) for a ring or none.
 *   RESET     vu_backend_disconnect in the middle (as a RESET_OWNER would).
 *
 * The connection ends as the daemon ends it: at a receive error or a handler's negative return.
 * Checked after every message: each reply has the reply flag, the request's number and a
 * payload that fits. After every input: vu_backend_disconnect, and no fd and no mapping of the
 * input's memfds is left (/proc/self/fd and /proc/self/maps compared with before the input).
 */
#include "fz_input.h"
#include "vu_backend.h"
#include "vu_io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define MEMFD_NAME "vufz-guest"
#define POOL_MAX 6

/* The fds an input made: the harness keeps its own copy of each until the input ends. */
typedef struct fd_pool {
    int memfd[POOL_MAX];
    uint64_t memfd_size[POOL_MAX];
    unsigned nmemfd;
    int eventfd[POOL_MAX];
    unsigned neventfd;
    uint64_t pipe_inode[64]; /* the pipes the input made (fz_count_fds counts only those) */
    unsigned npipes;
} fd_pool;

typedef struct session {
    fz_in in;
    int front, back; /* the frontend's and the daemon's end of the connection */
    bool over;       /* the daemon ended the connection */
    fd_pool pool;
    vu_mem_region table[VU_MAX_REGIONS]; /* the last memory table sent, for in-range addresses */
    unsigned ntable;
} session;

/* The daemon's shared file mappings (guest memory), counted as they are made and unmapped: every
 * input must end with none. The fuzzer is linked with --wrap=mmap,--wrap=munmap. /proc/self/maps
 * is read too, every 16th input that made memfds (it costs more than the rest of an input). */
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_munmap(void *addr, size_t len);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __wrap_munmap(void *addr, size_t len);
static void *g_shared[4 * VU_MAX_REGIONS]; /* the daemon's live shared file mappings */
static long g_shared_maps;

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *p = __real_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED && fd >= 0 && (flags & MAP_SHARED)) {
        for (unsigned i = 0; i < sizeof g_shared / sizeof g_shared[0]; i++)
            if (g_shared[i] == NULL) {
                g_shared[i] = p;
                break;
            }
        g_shared_maps++;
    }
    return p;
}

int __wrap_munmap(void *addr, size_t len)
{
    int rc = __real_munmap(addr, len);
    for (unsigned i = 0; rc == 0 && i < sizeof g_shared / sizeof g_shared[0]; i++)
        if (g_shared[i] == addr) { /* a munmap of anything else (libFuzzer's own) is not counted */
            g_shared[i] = NULL;
            g_shared_maps--;
        }
    return rc;
}

static vsn_device *g_dev;
static vu_backend g_backend;

static void on_needs_reset(void *user, uint32_t queue_index, const char *reason)
{
    vu_backend_needs_reset(user, queue_index, reason);
}

static void on_log(void *user, int32_t level, const char *message)
{
    (void)user;
    (void)level;
    FZ_CHECK_LOG_LINE(message);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    vsn_set_log_callback(on_log, NULL, VSN_LOG_ERROR);
    vu_log_level = getenv("VUFZ_LOG") ? VSN_LOG_DEBUG : -1;
    vsn_device_config cfg = {
        .struct_size = sizeof cfg,
        .flags = VSN_DEVICE_F_MANUAL_POLL,
        .guest_cid = 3,
        .log_fn = on_log,
        .log_level = VSN_LOG_ERROR,
        .needs_reset_fn = on_needs_reset,
        .needs_reset_user = &g_backend,
    };
    int rc = vsn_device_create(&cfg, &g_dev);
    if (rc < 0) {
        fprintf(stderr, "vu_fuzz: vsn_device_create: %d\n", rc);
        abort();
    }
    return 0;
}

/* ---- the fds an input sends ------------------------------------------------------------------ */

static int pool_memfd(session *s)
{
    fd_pool *p = &s->pool;
    uint8_t c = fz_u8(&s->in);
    if (p->nmemfd > 0 && (c & 0x80)) return p->memfd[c % p->nmemfd];
    if (p->nmemfd == POOL_MAX) return p->memfd[c % POOL_MAX];
    /* Sizes: a few pages mostly, sometimes large (sparse: never touched but by POKE). */
    static const uint64_t sizes[] = { 4096, 8192, 16384, 65536, 1u << 20, 1ull << 30, 12288, 4095 };
    uint64_t size = sizes[c & 7];
    unsigned flags = MFD_CLOEXEC | ((c & 0x08) ? 0 : MFD_ALLOW_SEALING);
    int fd = memfd_create(MEMFD_NAME, flags);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)size) < 0) {
        close(fd);
        return -1;
    }
    if ((c & 0x18) == 0x10) fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL); /* sealed without F_SEAL_SHRINK */
    p->memfd[p->nmemfd] = fd;
    p->memfd_size[p->nmemfd++] = size;
    return fd;
}

static int pool_eventfd(session *s)
{
    fd_pool *p = &s->pool;
    uint8_t c = fz_u8(&s->in);
    if (p->neventfd > 0 && (c & 0x80)) return p->eventfd[c % p->neventfd];
    if (p->neventfd == POOL_MAX) return p->eventfd[c % POOL_MAX];
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return -1;
    if (c & 0x40) { /* a counter at its maximum: a write would block */
        uint64_t v = 0xfffffffffffffffeull;
        if (write(fd, &v, sizeof v) < 0) { /* nothing: the counter keeps what it has */ }
    }
    p->eventfd[p->neventfd++] = fd;
    return fd;
}

/* One fd of a kind the input chooses. *own is set when the caller must close it after sending. */
static int make_fd(session *s, bool *own)
{
    *own = true;
    int pipefd[2], sv[2];
    switch (fz_u8(&s->in) % 6) {
    case 0: *own = false; return pool_memfd(s);
    case 1: *own = false; return pool_eventfd(s);
    case 2:
        if (pipe2(pipefd, O_CLOEXEC) < 0) return -1;
        struct stat st;
        if (s->pool.npipes == 64 || fstat(pipefd[0], &st) < 0) {
            close(pipefd[0]);
            close(pipefd[1]);
            return -1;
        }
        s->pool.pipe_inode[s->pool.npipes++] = (uint64_t)st.st_ino;
        close(pipefd[1]); /* a hung-up pipe: ready for ever */
        return pipefd[0];
    case 3:
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return -1;
        close(sv[1]);
        return sv[0];
    case 4: return open("/dev/null", O_RDWR | O_CLOEXEC);
    default: *own = false; return pool_memfd(s);
    }
}

/* ---- building messages ----------------------------------------------------------------------- */

static const uint32_t requests[] = {
    VU_GET_FEATURES, VU_SET_FEATURES, VU_SET_OWNER, VU_RESET_OWNER, VU_SET_MEM_TABLE, VU_SET_LOG_BASE,
    VU_SET_LOG_FD, VU_SET_VRING_NUM, VU_SET_VRING_ADDR, VU_SET_VRING_BASE, VU_GET_VRING_BASE,
    VU_SET_VRING_KICK, VU_SET_VRING_CALL, VU_SET_VRING_ERR, VU_GET_PROTOCOL_FEATURES,
    VU_SET_PROTOCOL_FEATURES, VU_GET_QUEUE_NUM, VU_SET_VRING_ENABLE, VU_GET_CONFIG, VU_SET_CONFIG,
    VU_RESET_DEVICE,
};
#define NREQUESTS (sizeof requests / sizeof requests[0])

/* A frontend address: inside the last table sent (a region plus an offset), or any value. */
static uint64_t frontend_addr(session *s)
{
    uint8_t c = fz_u8(&s->in);
    if (s->ntable > 0 && c < 224) {
        const vu_mem_region *r = &s->table[c % s->ntable];
        uint64_t off = (uint64_t)fz_u16(&s->in) * 2;
        if (c & 0x40) off = r->memory_size - 2; /* the last bytes: the ring runs past the end */
        return r->userspace_addr + off;
    }
    return fz_u64(&s->in);
}

/* The memory table of a SET_MEM_TABLE: regions over the input's memfds, their fds attached. */
static uint32_t build_mem_table(session *s, vu_msg *m, int *fds, bool *own, unsigned *nfds)
{
    unsigned n = fz_u8(&s->in) % (VU_MAX_REGIONS + 2); /* 0 and VU_MAX_REGIONS + 1: refused */
    m->payload.mem.nregions = n;
    m->payload.mem.padding = 0;
    uint64_t gpa = 0, uva = 0x7f0000000000ull;
    unsigned kept = 0;
    for (unsigned i = 0; i < n && i < VU_MAX_REGIONS; i++) {
        vu_mem_region *r = &m->payload.mem.regions[i];
        int fd = pool_memfd(s);
        uint64_t fsize = 0;
        for (unsigned k = 0; k < s->pool.nmemfd; k++)
            if (s->pool.memfd[k] == fd) fsize = s->pool.memfd_size[k];
        uint8_t how = fz_u8(&s->in);
        /* Mostly a region that fits its file, laid after the previous one; sometimes a value the
         * input chooses (overlaps, offsets past the end, sizes that wrap). */
        r->mmap_offset = (how & 0x03) == 0x03 ? fz_u64(&s->in) : (how & 0x01) ? 4096 : 0;
        r->memory_size = (how & 0x0c) == 0x0c ? fz_u64(&s->in) : fsize > r->mmap_offset ? fsize - r->mmap_offset : fsize;
        r->guest_phys_addr = (how & 0x30) == 0x30 ? fz_u64(&s->in) : (how & 0x10) ? gpa - 4096 : gpa;
        r->userspace_addr = (how & 0xc0) == 0xc0 ? fz_u64(&s->in) : uva;
        gpa = r->guest_phys_addr + r->memory_size + ((how & 0x20) ? 0x10000 : 0);
        uva = r->userspace_addr + r->memory_size + 0x100000;
        fds[(*nfds)] = fd;
        own[(*nfds)++] = false;
        kept++;
    }
    memcpy(s->table, m->payload.mem.regions, sizeof s->table);
    s->ntable = kept;
    return 8 + n * (uint32_t)sizeof(vu_mem_region);
}

/* Fills m (header, payload, fds) from the input. Returns the payload bytes to send. */
static uint32_t build_msg(session *s, vu_msg *m, int *fds, bool *own, unsigned *nfds)
{
    memset(&m->hdr, 0, sizeof m->hdr);
    *nfds = 0;
    uint8_t r = fz_u8(&s->in);
    m->hdr.request = r < 240 ? requests[r % NREQUESTS] : fz_u32(&s->in);
    uint8_t f = fz_u8(&s->in);
    m->hdr.flags = f < 200 ? VU_VERSION | ((f & 1) ? VU_FLAG_NEED_REPLY : 0) : fz_u32(&s->in);
    uint32_t size = 0;
    uint8_t kind = fz_u8(&s->in);
    if (kind >= 224) { /* raw payload */
        const uint8_t *b;
        size = (uint32_t)fz_bytes(&s->in, &b, 600);
        memcpy(m->payload.bytes, b, size);
    } else switch (m->hdr.request) {
    case VU_SET_MEM_TABLE: size = build_mem_table(s, m, fds, own, nfds); break;
    case VU_SET_VRING_ADDR:
        m->payload.addr = (vu_vring_addr){ .index = fz_u8(&s->in) % 3, .flags = kind & 1 };
        m->payload.addr.desc_user_addr = frontend_addr(s);
        m->payload.addr.used_user_addr = frontend_addr(s);
        m->payload.addr.avail_user_addr = frontend_addr(s);
        size = sizeof m->payload.addr;
        break;
    case VU_SET_VRING_NUM:
    case VU_SET_VRING_BASE:
    case VU_GET_VRING_BASE:
    case VU_SET_VRING_ENABLE: {
        uint8_t v = fz_u8(&s->in);
        m->payload.state.index = (kind & 0x10) ? fz_u32(&s->in) : kind % 3;
        m->payload.state.num = v < 200 ? (1u << (v % 17)) >> (v >= 100) : fz_u32(&s->in);
        size = 8;
        break;
    }
    case VU_SET_VRING_KICK:
    case VU_SET_VRING_CALL:
    case VU_SET_VRING_ERR: {
        uint8_t v = fz_u8(&s->in);
        m->payload.u64 = v < 220 ? (uint64_t)(v % 3) | ((v & 0x40) ? VU_VRING_NOFD : 0) : fz_u64(&s->in);
        size = 8;
        if (!(m->payload.u64 & VU_VRING_NOFD) || (kind & 0x20)) {
            bool o;
            fds[*nfds] = (kind & 0x40) ? make_fd(s, &o) : (o = false, pool_eventfd(s));
            own[(*nfds)++] = o;
        }
        break;
    }
    case VU_GET_CONFIG:
    case VU_SET_CONFIG:
        m->payload.config.offset = (kind & 0x10) ? fz_u32(&s->in) : fz_u8(&s->in) % 12;
        m->payload.config.size = (kind & 0x20) ? fz_u32(&s->in) : fz_u8(&s->in) % 12;
        m->payload.config.flags = 0;
        size = VU_CONFIG_HDR + (m->payload.config.size <= VU_MAX_CONFIG_SIZE ? m->payload.config.size : 0);
        memset(m->payload.config.region, 0, sizeof m->payload.config.region);
        break;
    default: /* SET_FEATURES, SET_PROTOCOL_FEATURES and the rest: a u64, or nothing */
        if (kind & 1) {
            uint8_t v = fz_u8(&s->in);
            m->payload.u64 = v < 128 ? (1ull << 32) | (1ull << 30) | (v & 0x0f) | ((uint64_t)(v & 0x30) << 24)
                           : v < 192 ? (uint64_t)(v & 0x0f) << 3 | (1ull << 9) | (1ull << 13)
                                     : fz_u64(&s->in);
            size = 8;
        }
        break;
    }
    /* Extra fds on any message, sometimes more than a message may carry. */
    uint8_t extra = fz_u8(&s->in);
    if (extra >= 232) {
        unsigned want = extra - 231u; /* 1..24 */
        while (want-- > 0 && *nfds < VU_MAX_FDS + 4) {
            bool o;
            int fd = make_fd(s, &o);
            if (fd < 0) break;
            fds[*nfds] = fd;
            own[(*nfds)++] = o;
        }
    }
    m->hdr.size = size;
    if (fz_u8(&s->in) >= 250) m->hdr.size = fz_u32(&s->in); /* a size that lies */
    return size;
}

/* ---- the frontend's side of the socket ------------------------------------------------------- */

static bool send_all(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
    union {
        char buf[CMSG_SPACE((VU_MAX_FDS + 4) * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = { (void *)buf, len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds > 0) {
        mh.msg_control = control.buf;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    return n == (ssize_t)len;
}

/* Reads every reply the daemon wrote; each must be a well-formed reply to request. */
static void drain_replies(session *s, uint32_t request)
{
    for (;;) {
        vu_header h;
        ssize_t n = recv(s->front, &h, sizeof h, MSG_DONTWAIT);
        if (n <= 0) return;
        FZ_CHECK(n == sizeof h, "a reply header of %zd bytes", n);
        FZ_CHECK(h.flags == (VU_VERSION | VU_FLAG_REPLY), "reply flags 0x%x", h.flags);
        FZ_CHECK(h.request == request, "reply to %u for request %u", h.request, request);
        FZ_CHECK(h.size <= VU_MAX_PAYLOAD, "reply of %u bytes", h.size);
        uint8_t payload[VU_MAX_PAYLOAD];
        n = h.size ? recv(s->front, payload, h.size, MSG_DONTWAIT) : 0;
        FZ_CHECK(n == (ssize_t)h.size, "reply payload %zd of %u bytes", n, h.size);
    }
}

/* The daemon's receive loop, one turn: vu_recv, then the handler. */
static void daemon_turn(session *s, vu_msg *m)
{
    int status = vu_recv(s->back, m);
    if (status != VU_RECV_OK) {
        FZ_CHECK(m->nfds == 0, "vu_recv status %d left %u fds in the message", status, m->nfds);
        s->over = true;
        return;
    }
    uint32_t request = m->hdr.request;
    if (vu_backend_handle(&g_backend, s->back, m) < 0) s->over = true;
    FZ_CHECK(m->nfds == 0, "vu_backend_handle left %u fds in the message", m->nfds);
    drain_replies(s, request);
}

static void op_msg(session *s, bool truncate)
{
    static vu_msg out, in;
    int fds[VU_MAX_FDS + 4];
    bool own[VU_MAX_FDS + 4];
    unsigned nfds = 0;
    uint32_t size = build_msg(s, &out, fds, own, &nfds);
    uint8_t wire[sizeof out.hdr + sizeof out.payload];
    memcpy(wire, &out.hdr, sizeof out.hdr);
    memcpy(wire + sizeof out.hdr, &out.payload, size);
    size_t len = sizeof out.hdr + size;
    /* A size that lies: send what the header announces when it fits, never more than we have. */
    if (out.hdr.size != size && out.hdr.size <= VU_MAX_PAYLOAD) {
        if (out.hdr.size > size) memset(wire + len, 0, out.hdr.size - size);
        len = sizeof out.hdr + out.hdr.size;
    }
    if (truncate) len = fz_pick(&s->in, (uint32_t)len);
    unsigned sendable = 0;
    for (unsigned i = 0; i < nfds; i++)
        if (fds[i] >= 0) fds[sendable++] = fds[i];
    bool sent = len == 0 || send_all(s->front, wire, len, fds, sendable);
    for (unsigned i = 0; i < nfds; i++)
        if (own[i] && fds[i] >= 0) close(fds[i]);
    if (!sent || truncate || (out.hdr.size > VU_MAX_PAYLOAD && out.hdr.size != size)) {
        /* Whatever the daemon reads next is this message's end: hang up after it. */
        shutdown(s->front, SHUT_WR);
    }
    if (len == 0 && !truncate) return;
    daemon_turn(s, &in);
    if (truncate || !sent) s->over = true;
    if (!s->over && out.hdr.size > VU_MAX_PAYLOAD) s->over = true;
}

static void op_kick(session *s)
{
    if (s->pool.neventfd == 0) return;
    uint64_t one = 1;
    if (write(s->pool.eventfd[fz_u8(&s->in) % s->pool.neventfd], &one, sizeof one) < 0) { /* full: fine */ }
    vsn_device_poll(g_dev, 0);
}

static void op_poke(session *s)
{
    if (s->pool.nmemfd == 0) return;
    unsigned i = fz_u8(&s->in) % s->pool.nmemfd;
    uint64_t off = (uint64_t)fz_u16(&s->in) * 2;
    const uint8_t *b;
    size_t n = fz_bytes(&s->in, &b, 64);
    if (off + n <= s->pool.memfd_size[i] && n > 0 && pwrite(s->pool.memfd[i], b, n, (off_t)off) < 0) { /* fine */ }
}

static void session_run(session *s)
{
    while (!fz_done(&s->in) && !s->over) {
        uint8_t op = fz_u8(&s->in);
        if (op < 192) op_msg(s, false);
        else if (op < 200) op_msg(s, true);
        else if (op < 220) op_kick(s);
        else if (op < 240) op_poke(s);
        else if (op < 248) vu_backend_needs_reset(&g_backend, op & 1 ? VSN_QUEUE_NONE : (op >> 1) & 3, "fuzz");
        else vu_backend_disconnect(&g_backend);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fds_before = -1;
    if (fds_before < 0) fds_before = fz_count_fds(NULL, 0);
    session s = { .in = { data, size }, .front = -1, .back = -1 };
    int sv[2];
    FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s", strerror(errno));
    s.front = sv[0];
    s.back = sv[1];
    /* As the daemon's accept loop: a message that stops coming ends with a timeout, not a hang. */
    struct timeval tv = { .tv_sec = 2 };
    setsockopt(s.back, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    vu_backend_init(&g_backend, g_dev, "fuzz");
    session_run(&s);
    vu_backend_disconnect(&g_backend);
    vu_backend_disconnect(&g_backend); /* safe twice */
    pthread_mutex_destroy(&g_backend.err_lock);
    close(s.front);
    close(s.back);
    for (unsigned i = 0; i < s.pool.nmemfd; i++) close(s.pool.memfd[i]);
    for (unsigned i = 0; i < s.pool.neventfd; i++) close(s.pool.eventfd[i]);
    int fds_after = fz_count_fds_settled(s.pool.pipe_inode, s.pool.npipes, fds_before);
    if (fds_after != fds_before) fz_dump_fds();
    FZ_CHECK(fds_after == fds_before, "%d fds open after the input, %d before", fds_after, fds_before);
    FZ_CHECK(g_shared_maps == 0, "%ld mappings of guest memory left", g_shared_maps);
    static unsigned inputs;
    if (s.pool.nmemfd > 0 && inputs++ % 16 == 0) {
        int maps = fz_count_maps(MEMFD_NAME);
        FZ_CHECK(maps == 0, "%d mappings of the input's memfds left", maps);
    }
    return 0;
}
