/* vu_backend.c: vhost-user requests -> vsn_device calls (see vu_backend.h). */
#include "vu_backend.h"
#include "vu_io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Protocol features this backend offers. MQ is not offered: a vsock device has exactly the rx
 * and tx rings here, so there is nothing to negotiate (GET_QUEUE_NUM is still answered). */
#define VU_OFFERED_PROTOCOL_FEATURES \
    ((1ull << VU_PROTOCOL_F_REPLY_ACK) | (1ull << VU_PROTOCOL_F_CONFIG) | (1ull << VU_PROTOCOL_F_RESET_DEVICE) \
     | (1ull << VU_PROTOCOL_F_DEVICE_STATE))
/* Largest device state read from a LOAD transfer (a saved device is a few hundred bytes). */
#define VU_MAX_STATE (1u << 20)
/* How long a state transfer may wait for the other end of its channel. */
#define VU_STATE_TIMEOUT_MS 5000

int vu_log_level = VSN_LOG_INFO;

void vu_log(int level, const char *fmt, ...)
{
    static const char *names[] = { "error", "warn", "info", "debug" };
    if (level > vu_log_level) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "vhost-user-vsock: %s: %s\n", names[level < 0 ? 0 : level > 3 ? 3 : level], line);
}

static void ring_clear(vu_backend *b, vu_ring *r)
{
    if (r->kick_fd >= 0) close(r->kick_fd);
    if (r->call_fd >= 0) close(r->call_fd);
    pthread_mutex_lock(&b->err_lock);  /* the device's thread may be signalling the err fd */
    if (r->err_fd >= 0) close(r->err_fd);
    *r = (vu_ring){ .kick_fd = -1, .call_fd = -1, .err_fd = -1 };
    pthread_mutex_unlock(&b->err_lock);
}

void vu_backend_init(vu_backend *b, vsn_device *dev, const char *name)
{
    memset(b, 0, sizeof *b);
    b->dev = dev;
    b->name = name;
    b->max_ring = VU_MAX_RING;
    pthread_mutex_init(&b->err_lock, NULL);
    for (unsigned i = 0; i < VU_RINGS; i++) b->rings[i].kick_fd = b->rings[i].call_fd = b->rings[i].err_fd = -1;
    b->state_fd = -1;
}

/* Writes 1 to an err eventfd without ever blocking the device's thread: only when poll says the
 * write fits (a frontend could leave the counter at its maximum, where a blocking write waits). */
static bool signal_err_fd(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    uint64_t one = 1;
    return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT) && write(fd, &one, sizeof one) == sizeof one;
}

void vu_backend_needs_reset(vu_backend *b, uint32_t queue_index, const char *reason)
{
    char told[96] = "";
    size_t len = 0;
    pthread_mutex_lock(&b->err_lock);
    bool only = queue_index < VU_RINGS && b->rings[queue_index].err_fd >= 0;
    for (uint32_t i = 0; i < VU_RINGS; i++) {
        int fd = b->rings[i].err_fd;
        if (fd < 0 || (only && i != queue_index)) continue;
        int n = snprintf(told + len, sizeof told - len, "%s ring %u%s", len ? "," : "", i, signal_err_fd(fd) ? "" : " (not writable)");
        if (n > 0 && (size_t)n < sizeof told - len) len += (size_t)n;
    }
    pthread_mutex_unlock(&b->err_lock);
    vu_log(VSN_LOG_ERROR, "%s: device needs a reset (%s); err fd signalled:%s", b->name, reason, len ? told : " none (no ring has one)");
}

static void unmap_all(vu_mapping *maps, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (maps[i].base != NULL) munmap(maps[i].base, maps[i].length);
}

/* ---- start / stop ------------------------------------------------------------------------ */

/* Stops the device and remembers where each ring stopped. */
static void stop(vu_backend *b)
{
    if (!b->running) return;
    vsn_device_stop(b->dev);
    for (uint32_t i = 0; i < VU_RINGS; i++) {
        uint16_t base;
        if (vsn_queue_get_base(b->dev, i, &base) == 0) b->rings[i].base = base;
    }
    b->running = false;
    b->stats.stops++;
    vu_log(VSN_LOG_DEBUG, "%s: device stopped (rx base %u, tx base %u)", b->name, b->rings[0].base, b->rings[1].base);
}

static bool ring_ready(const vu_backend *b, const vu_ring *r)
{
    bool enabled = r->enabled || !(b->features & (1ull << VU_F_PROTOCOL_FEATURES));
    return r->has_num && r->has_addr && r->kicked && enabled;
}

/* Frontend virtual address -> guest-physical address, through the memory table. */
static int uva_to_gpa(const vu_backend *b, uint64_t uva, uint64_t *gpa)
{
    for (unsigned i = 0; i < b->nmaps; i++) {
        const vu_mem_region *r = &b->maps[i].region;
        if (uva >= r->userspace_addr && uva - r->userspace_addr < r->memory_size) {
            *gpa = r->guest_phys_addr + (uva - r->userspace_addr);
            return 0;
        }
    }
    return -EFAULT;
}

static int give_memory(vu_backend *b)
{
    vsn_mem_region regions[VU_MAX_REGIONS];
    for (unsigned i = 0; i < b->nmaps; i++) {
        regions[i].guest_phys_addr = b->maps[i].region.guest_phys_addr;
        regions[i].size = b->maps[i].region.memory_size;
        regions[i].host_addr = b->maps[i].base + b->maps[i].region.mmap_offset;
    }
    return vsn_device_set_mem_table(b->dev, regions, b->nmaps);
}

static int setup_ring(vu_backend *b, uint32_t i)
{
    const vu_ring *r = &b->rings[i];
    vsn_queue_config q = { .struct_size = sizeof q, .size = r->num, .kick_fd = r->kick_fd, .call_fd = r->call_fd };
    if (uva_to_gpa(b, r->addr.desc_user_addr, &q.desc_addr) < 0 || uva_to_gpa(b, r->addr.avail_user_addr, &q.avail_addr) < 0
        || uva_to_gpa(b, r->addr.used_user_addr, &q.used_addr) < 0) {
        vu_log(VSN_LOG_WARN, "%s: ring %u addresses are outside guest memory", b->name, i);
        return -EFAULT;
    }
    int rc = vsn_queue_setup(b->dev, i, &q);
    if (rc == 0) rc = vsn_queue_set_base(b->dev, i, r->base);
    return rc;
}

/* Hands everything to the (stopped) device and starts it, when both rings are complete. */
static int apply_state(vu_backend *b);

static int start_if_ready(vu_backend *b)
{
    if (b->running || b->nmaps == 0 || !b->features_set) return 0;
    for (unsigned i = 0; i < VU_RINGS; i++)
        if (!ring_ready(b, &b->rings[i])) return 0;
    if (b->pending_state != NULL && apply_state(b) < 0) return -EINVAL;
    uint64_t features = b->features & ~(1ull << VU_F_PROTOCOL_FEATURES);
    int rc = give_memory(b);
    if (rc == 0) rc = vsn_device_set_features(b->dev, features);
    if (rc == -EBUSY || rc == -EINVAL) {
        /* Features changed under queues set up before, or old queues do not fit the new memory:
         * only a reset clears them (connections are dropped; logged). */
        vu_log(VSN_LOG_INFO, "%s: device reset to apply new features or memory (errno %d)", b->name, -rc);
        vsn_device_reset(b->dev);
        rc = give_memory(b);
        if (rc == 0) rc = vsn_device_set_features(b->dev, features);
    }
    for (uint32_t i = 0; rc == 0 && i < VU_RINGS; i++) rc = setup_ring(b, i);
    if (rc == 0) rc = vsn_device_start(b->dev);
    if (rc < 0) {
        vu_log(VSN_LOG_WARN, "%s: device not started (errno %d, reason in the library's log)", b->name, -rc);
        return rc;
    }
    b->running = true;
    b->stats.starts++;
    vu_log(VSN_LOG_INFO, "%s: device started (rings %u/%u entries, bases %u/%u)", b->name, b->rings[0].num,
           b->rings[1].num, b->rings[0].base, b->rings[1].base);
    return 0;
}

void vu_backend_disconnect(vu_backend *b)
{
    if (b->running) {
        vsn_device_stop(b->dev);
        b->running = false;
    }
    vsn_device_reset(b->dev);  /* connections dropped: host sockets see EOF; the guest gets RST */
    unmap_all(b->maps, b->nmaps);
    b->nmaps = 0;
    for (unsigned i = 0; i < VU_RINGS; i++) ring_clear(b, &b->rings[i]);
    b->features = 0;
    b->features_set = false;
    b->protocol_features = 0;
    b->owner = false;
    if (b->state_fd >= 0) close(b->state_fd);
    b->state_fd = -1;
    free(b->pending_state);
    b->pending_state = NULL;
    b->pending_len = 0;
    b->state_result = 0;
}

/* ---- requests ---------------------------------------------------------------------------- */

/* Outcome of a handler: 0 done (ack 0 if asked), >0 replied already, <0 failed (-errno). */
#define REPLIED 1

static int expect_size(const vu_msg *m, uint32_t size)
{
    if (m->hdr.size == size) return 0;
    vu_log(VSN_LOG_WARN, "%s with payload of %u bytes (expected %u)", vu_request_name(m->hdr.request), m->hdr.size, size);
    return -EINVAL;
}

static int expect_fds(const vu_msg *m, unsigned n)
{
    if (m->nfds == n) return 0;
    vu_log(VSN_LOG_WARN, "%s with %u fds (expected %u)", vu_request_name(m->hdr.request), m->nfds, n);
    return -EINVAL;
}

static int reply_u64(int sock, const vu_msg *m, uint64_t value)
{
    return vu_send_reply(sock, m->hdr.request, &value, sizeof value) == 0 ? REPLIED : -EPIPE;
}

static int get_features(vu_backend *b, int sock, vu_msg *m)
{
    if (m->hdr.size != 0 && expect_size(m, 8) < 0) return -EINVAL;
    uint64_t features = 0;
    int rc = vsn_device_get_features(b->dev, &features);
    if (rc < 0) return rc;
    return reply_u64(sock, m, features | (1ull << VU_F_PROTOCOL_FEATURES));
}

static int set_features(vu_backend *b, vu_msg *m)
{
    if (expect_size(m, 8) < 0) return -EINVAL;
    uint64_t offered = 0;
    vsn_device_get_features(b->dev, &offered);
    offered |= 1ull << VU_F_PROTOCOL_FEATURES;
    if (m->payload.u64 & ~offered) {
        vu_log(VSN_LOG_WARN, "%s: SET_FEATURES 0x%llx has bits never offered (0x%llx)", b->name,
               (unsigned long long)m->payload.u64, (unsigned long long)(m->payload.u64 & ~offered));
        return -EINVAL;
    }
    stop(b);
    b->features = m->payload.u64;
    b->features_set = true;
    return start_if_ready(b);
}

static int set_protocol_features(vu_backend *b, vu_msg *m)
{
    if (expect_size(m, 8) < 0) return -EINVAL;
    if (m->payload.u64 & ~VU_OFFERED_PROTOCOL_FEATURES) {
        vu_log(VSN_LOG_WARN, "%s: SET_PROTOCOL_FEATURES 0x%llx has bits never offered", b->name, (unsigned long long)m->payload.u64);
        return -EINVAL;
    }
    b->protocol_features = m->payload.u64;
    return 0;
}

/* Validates the whole table, maps every region, then swaps it in (validate, then assign). */
/* A frontend that truncates guest memory under the daemon would make the next access to it a SIGBUS
 * that kills every VM this process serves. A memfd that can be sealed is sealed against shrinking
 * (QEMU seals its memfd backends so by default; the seal only forbids what must never happen); one
 * that cannot (a file, hugetlbfs, a memfd made without MFD_ALLOW_SEALING or already F_SEAL_SEAL'ed
 * without F_SEAL_SHRINK) is accepted, as vhost-device-vsock and QEMU's own backends do, with a warning
 * that names the risk (README, "guest memory"). */
static void guard_against_shrinking(vu_backend *b, uint32_t i, int fd)
{
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals >= 0 && (seals & F_SEAL_SHRINK)) return;
    if (seals >= 0 && !(seals & F_SEAL_SEAL) && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0) {
        b->stats.regions_sealed++;
        vu_log(VSN_LOG_DEBUG, "%s: region %u: memfd sealed against shrinking", b->name, i);
        return;
    }
    b->stats.regions_unsealed++;
    vu_log(VSN_LOG_WARN, "%s: region %u: %s; a frontend that shrinks it while the device runs would crash this "
           "daemon (seal it: F_SEAL_SHRINK, as QEMU's memory-backend-memfd does by default)", b->name, i,
           seals < 0 ? "its backing is not a memfd and cannot be sealed" : "its memfd cannot be sealed against shrinking");
}

static int set_mem_table(vu_backend *b, vu_msg *m)
{
    const vu_mem_table *t = &m->payload.mem;
    if (m->hdr.size < 8) return expect_size(m, 8);
    uint32_t n = t->nregions;
    if (n == 0 || n > VU_MAX_REGIONS) {
        vu_log(VSN_LOG_WARN, "%s: SET_MEM_TABLE with %u regions (1..%u)", b->name, n, VU_MAX_REGIONS);
        return -EINVAL;
    }
    if (expect_size(m, 8 + n * (uint32_t)sizeof(vu_mem_region)) < 0 || expect_fds(m, n) < 0) return -EINVAL;
    for (uint32_t i = 0; i < n; i++) {
        const vu_mem_region *r = &t->regions[i];
        if (r->memory_size == 0 || r->guest_phys_addr + r->memory_size < r->guest_phys_addr
            || r->userspace_addr + r->memory_size < r->userspace_addr || r->mmap_offset + r->memory_size < r->mmap_offset
            || r->mmap_offset + r->memory_size > (uint64_t)SIZE_MAX) {
            vu_log(VSN_LOG_WARN, "%s: region %u is empty or wraps around", b->name, i);
            return -EINVAL;
        }
        for (uint32_t j = 0; j < i; j++) {
            const vu_mem_region *o = &t->regions[j];
            bool gpa = r->guest_phys_addr < o->guest_phys_addr + o->memory_size && o->guest_phys_addr < r->guest_phys_addr + r->memory_size;
            bool uva = r->userspace_addr < o->userspace_addr + o->memory_size && o->userspace_addr < r->userspace_addr + r->memory_size;
            if (gpa || uva) {
                vu_log(VSN_LOG_WARN, "%s: regions %u and %u overlap (%s)", b->name, j, i, gpa ? "guest-physical" : "frontend addresses");
                return -EINVAL;
            }
        }
        struct stat st;
        if (fstat(m->fds[i], &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < r->mmap_offset + r->memory_size) {
            vu_log(VSN_LOG_WARN, "%s: region %u: its fd is not a file of at least %llu bytes", b->name, i,
                   (unsigned long long)(r->mmap_offset + r->memory_size));
            return -EINVAL;
        }
    }
    for (uint32_t i = 0; i < n; i++) guard_against_shrinking(b, i, m->fds[i]);
    vu_mapping fresh[VU_MAX_REGIONS] = { 0 };
    for (uint32_t i = 0; i < n; i++) {
        size_t length = (size_t)(t->regions[i].mmap_offset + t->regions[i].memory_size);
        void *p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, m->fds[i], 0);
        if (p == MAP_FAILED) {
            int err = errno;
            vu_log(VSN_LOG_WARN, "%s: region %u does not map (%s)", b->name, i, strerror(err));
            unmap_all(fresh, i);
            return -err;
        }
        fresh[i] = (vu_mapping){ .base = p, .length = length, .region = t->regions[i] };
    }
    vu_msg_close_fds(m);  /* the mappings keep the memory */
    stop(b);
    vu_mapping old[VU_MAX_REGIONS];
    unsigned old_n = b->nmaps;
    memcpy(old, b->maps, sizeof old);
    memcpy(b->maps, fresh, sizeof fresh);
    b->nmaps = n;
    int rc = give_memory(b);
    if (rc < 0) {
        /* Queues set up on the old table do not fit the new one: forget them (reset). */
        vsn_device_reset(b->dev);
        rc = give_memory(b);
    }
    unmap_all(old, old_n);  /* the device no longer points into it */
    if (rc < 0) {
        vu_log(VSN_LOG_WARN, "%s: the device rejected the memory table (errno %d)", b->name, -rc);
        unmap_all(b->maps, b->nmaps);
        b->nmaps = 0;
        return rc;
    }
    vu_log(VSN_LOG_DEBUG, "%s: memory table with %u region(s)", b->name, n);
    return start_if_ready(b);
}

/* Checks a ring index from a payload; ring messages for other rings are errors. */
static vu_ring *ring_at(vu_backend *b, uint32_t index, const vu_msg *m)
{
    if (index < VU_RINGS) return &b->rings[index];
    vu_log(VSN_LOG_WARN, "%s: %s for ring %u (a vhost-user-vsock backend has rings 0 and 1)", b->name,
           vu_request_name(m->hdr.request), index);
    return NULL;
}

static int set_vring_num(vu_backend *b, vu_msg *m)
{
    if (expect_size(m, 8) < 0) return -EINVAL;
    vu_ring *r = ring_at(b, m->payload.state.index, m);
    uint32_t num = m->payload.state.num;
    if (r == NULL) return -EINVAL;
    if (num == 0 || num > 32768 || (num & (num - 1)) != 0) {
        vu_log(VSN_LOG_WARN, "%s: ring size %u (a power of two up to 32768)", b->name, num);
        return -EINVAL;
    }
    if (num > b->max_ring) {
        vu_log(VSN_LOG_WARN, "%s: SET_VRING_NUM: ring %u of %u entries is larger than queue-size %u", b->name,
               m->payload.state.index, num, b->max_ring);
        return -EINVAL;
    }
    stop(b);
    r->num = num;
    r->has_num = true;
    return start_if_ready(b);
}

static int set_vring_addr(vu_backend *b, vu_msg *m)
{
    if (expect_size(m, sizeof(vu_vring_addr)) < 0) return -EINVAL;
    const vu_vring_addr *a = &m->payload.addr;
    vu_ring *r = ring_at(b, a->index, m);
    if (r == NULL) return -EINVAL;
    uint64_t gpa;
    if (uva_to_gpa(b, a->desc_user_addr, &gpa) < 0 || uva_to_gpa(b, a->avail_user_addr, &gpa) < 0
        || uva_to_gpa(b, a->used_user_addr, &gpa) < 0) {
        vu_log(VSN_LOG_WARN, "%s: SET_VRING_ADDR for ring %u points outside guest memory", b->name, a->index);
        return -EFAULT;
    }
    stop(b);
    r->addr = *a;
    r->has_addr = true;
    return start_if_ready(b);
}

static int set_vring_base(vu_backend *b, vu_msg *m)
{
    if (expect_size(m, 8) < 0) return -EINVAL;
    vu_ring *r = ring_at(b, m->payload.state.index, m);
    if (r == NULL) return -EINVAL;
    if (m->payload.state.num > 0xffff) {
        vu_log(VSN_LOG_WARN, "%s: SET_VRING_BASE %u does not fit 16 bits", b->name, m->payload.state.num);
        return -EINVAL;
    }
    stop(b);
    r->base = (uint16_t)m->payload.state.num;
    return start_if_ready(b);
}

static int get_vring_base(vu_backend *b, int sock, vu_msg *m)
{
    if (expect_size(m, 8) < 0) return -EINVAL;
    uint32_t index = m->payload.state.index;
    vu_ring *r = ring_at(b, index, m);
    if (r == NULL) return -EINVAL;
    stop(b);
    r->kicked = false;  /* stopped until the next SET_VRING_KICK */
    vu_vring_state s = { .index = index, .num = r->base };
    return vu_send_reply(sock, m->hdr.request, &s, sizeof s) == 0 ? REPLIED : -EPIPE;
}

/* True when fd is an eventfd; what receives what it is, as /proc/self/fd names it
 * ("anon_inode:[eventfd]", "pipe:[1234]", "socket:[1234]", a path). */
static bool is_eventfd(int fd, char *what, size_t cap)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, what, cap - 1);
    if (n < 0) {
        int err = errno;
        snprintf(what, cap, "of a kind not known (readlink %s: %s)", link, strerror(err));
        return false;
    }
    what[n] = '\0';
    return strcmp(what, "anon_inode:[eventfd]") == 0;
}

/* SET_VRING_KICK / CALL / ERR: u64 with the index and the no-fd bit; the fd in ancillary data. */
static int set_vring_fd(vu_backend *b, vu_msg *m)
{
    if (expect_size(m, 8) < 0) return -EINVAL;
    uint64_t v = m->payload.u64;
    bool nofd = (v & VU_VRING_NOFD) != 0;
    if ((v & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD)) != 0) {
        vu_log(VSN_LOG_WARN, "%s: %s with unknown bits 0x%llx", b->name, vu_request_name(m->hdr.request), (unsigned long long)v);
        return -EINVAL;
    }
    vu_ring *r = ring_at(b, (uint32_t)(v & VU_VRING_IDX_MASK), m);
    if (r == NULL || expect_fds(m, nofd ? 0 : 1) < 0) return -EINVAL;
    if (nofd && m->hdr.request == VU_SET_VRING_KICK) {
        vu_log(VSN_LOG_WARN, "%s: SET_VRING_KICK without an fd (polling mode) is not supported", b->name);
        return -ENOTSUP;
    }
    char what[256];
    if (m->hdr.request == VU_SET_VRING_KICK && !is_eventfd(m->fds[0], what, sizeof what)) {
        /* The device loop would watch it: a hung-up pipe or socket is ready for ever (a spinning
         * loop). Refused before any change; the message's fd is closed with it. */
        vu_log(VSN_LOG_WARN, "%s: SET_VRING_KICK for ring %u: the fd is %s, not an eventfd: refused", b->name,
               (unsigned)(r - b->rings), what);
        return -EINVAL;
    }
    int fd = nofd ? -1 : m->fds[0];
    m->nfds = 0;  /* the ring owns it now */
    if (m->hdr.request == VU_SET_VRING_ERR) {
        /* Signalled by vu_backend_needs_reset on the device's thread: replaced under the lock. */
        pthread_mutex_lock(&b->err_lock);
        if (r->err_fd >= 0) close(r->err_fd);
        r->err_fd = fd;
        pthread_mutex_unlock(&b->err_lock);
        return 0;
    }
    stop(b);
    int *slot = m->hdr.request == VU_SET_VRING_KICK ? &r->kick_fd : &r->call_fd;
    if (*slot >= 0) close(*slot);
    *slot = fd;
    if (m->hdr.request == VU_SET_VRING_KICK) r->kicked = true;
    return start_if_ready(b);
}

static int set_vring_enable(vu_backend *b, vu_msg *m)
{
    if (expect_size(m, 8) < 0) return -EINVAL;
    vu_ring *r = ring_at(b, m->payload.state.index, m);
    if (r == NULL) return -EINVAL;
    if (m->payload.state.num > 1) {
        vu_log(VSN_LOG_WARN, "%s: SET_VRING_ENABLE %u (0 or 1)", b->name, m->payload.state.num);
        return -EINVAL;
    }
    bool enable = m->payload.state.num == 1;
    if (enable == r->enabled) return 0;
    stop(b);
    r->enabled = enable;
    return start_if_ready(b);
}

static int get_config(vu_backend *b, int sock, vu_msg *m)
{
    vu_config *c = &m->payload.config;
    int rc = 0;
    if (m->hdr.size < VU_CONFIG_HDR || c->size > VU_MAX_CONFIG_SIZE || m->hdr.size != VU_CONFIG_HDR + c->size) {
        vu_log(VSN_LOG_WARN, "%s: GET_CONFIG with payload %u bytes", b->name, m->hdr.size);
        return -EINVAL;
    }
    rc = vsn_device_read_config(b->dev, c->offset, c->region, c->size);
    uint32_t size = rc < 0 ? 0 : m->hdr.size;  /* size 0: the request failed (as libvhost-user) */
    if (rc < 0) {
        vu_log(VSN_LOG_WARN, "%s: GET_CONFIG offset %u size %u is outside the config space", b->name, c->offset, c->size);
        b->stats.rejected++;
    }
    return vu_send_reply(sock, m->hdr.request, c, size) == 0 ? REPLIED : -EPIPE;
}

/* ---- device state (VHOST_USER_PROTOCOL_F_DEVICE_STATE) ------------------------------------- */

/* Waits up to the transfer timeout for fd to be ready for events; false on timeout or error. */
static bool state_fd_ready(int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    int n;
    do n = poll(&p, 1, VU_STATE_TIMEOUT_MS);
    while (n < 0 && errno == EINTR);
    return n == 1 && !(p.revents & POLLNVAL);
}

/* SAVE: the stopped device's state written whole into the frontend's end, which is then closed. */
static int save_state(vu_backend *b, int fd)
{
    stop(b);
    size_t len = 0;
    int rc = vsn_device_save_state(b->dev, NULL, 0, &len);
    uint8_t *buf = rc == 0 ? malloc(len) : NULL;
    if (rc == 0 && buf == NULL) rc = -ENOMEM;
    if (rc == 0) rc = vsn_device_save_state(b->dev, buf, len, &len);
    int flags = fcntl(fd, F_GETFL);
    if (rc == 0 && (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)) rc = -errno;
    for (size_t done = 0; rc == 0 && done < len;) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n > 0) done += (size_t)n;
        else if (n < 0 && errno == EINTR) continue;
        else if (n < 0 && errno == EAGAIN && state_fd_ready(fd, POLLOUT)) continue;
        else rc = n < 0 && errno != EAGAIN ? -errno : -ETIMEDOUT;
    }
    free(buf);
    close(fd);
    vu_log(rc == 0 ? VSN_LOG_INFO : VSN_LOG_WARN, "%s: device state saved: %zu bytes%s", b->name, rc == 0 ? len : 0,
           rc == 0 ? "" : " (failed: reason in the library's log or the write error)");
    return rc;
}

/* The loaded blob into a fresh device: reset, memory table, restore. The rings then start from
 * SET_VRING_BASE as always; the frontend posts TRANSPORT_RESET on the event queue it keeps. */
static int apply_state(vu_backend *b)
{
    stop(b);
    vsn_device_reset(b->dev);
    int rc = give_memory(b);
    if (rc == 0) rc = vsn_device_restore_state(b->dev, b->pending_state, b->pending_len);
    vu_log(rc == 0 ? VSN_LOG_INFO : VSN_LOG_WARN, "%s: device state of %zu bytes %s", b->name, b->pending_len,
           rc == 0 ? "restored" : "refused (the reason is in the library's log)");
    free(b->pending_state);
    b->pending_state = NULL;
    b->pending_len = 0;
    b->state_result = rc;
    return rc;
}

/* LOAD: reads the frontend's end until EOF (it closed it before CHECK_DEVICE_STATE), then applies
 * the blob now, or when the memory table comes. */
static int load_state(vu_backend *b)
{
    int fd = b->state_fd;
    b->state_fd = -1;
    uint8_t *buf = malloc(VU_MAX_STATE + 1);
    size_t len = 0;
    int rc = buf == NULL ? -ENOMEM : 0;
    int flags = fcntl(fd, F_GETFL);
    if (rc == 0 && (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)) rc = -errno;
    while (rc == 0) {
        ssize_t n = read(fd, buf + len, VU_MAX_STATE + 1 - len);
        if (n == 0) break;
        if (n > 0 && (len += (size_t)n) > VU_MAX_STATE) rc = -EFBIG;
        else if (n < 0 && errno == EINTR) continue;
        else if (n < 0 && errno == EAGAIN && !state_fd_ready(fd, POLLIN)) rc = -ETIMEDOUT;
        else if (n < 0 && errno != EAGAIN) rc = -errno;
    }
    close(fd);
    if (rc < 0) {
        vu_log(VSN_LOG_WARN, "%s: device state transfer failed (errno %d)", b->name, -rc);
        free(buf);
        return rc;
    }
    free(b->pending_state);
    b->pending_state = buf;
    b->pending_len = len;
    if (b->nmaps == 0) {
        vu_log(VSN_LOG_INFO, "%s: device state of %zu bytes received; restored when the memory table comes", b->name, len);
        return 0;
    }
    rc = apply_state(b);
    return rc == 0 ? start_if_ready(b) : rc;
}

static int set_device_state_fd(vu_backend *b, int sock, vu_msg *m)
{
    if (expect_size(m, sizeof(vu_device_state_params)) < 0 || expect_fds(m, 1) < 0) return -EINVAL;
    vu_device_state_params p = m->payload.device_state;
    int rc = 0;
    if (!(b->protocol_features & (1ull << VU_PROTOCOL_F_DEVICE_STATE))) {
        vu_log(VSN_LOG_WARN, "%s: SET_DEVICE_STATE_FD without VHOST_USER_PROTOCOL_F_DEVICE_STATE negotiated", b->name);
        rc = -ENOTSUP;
    } else if (p.phase != VU_STATE_PHASE_STOPPED || (p.direction != VU_STATE_SAVE && p.direction != VU_STATE_LOAD)) {
        vu_log(VSN_LOG_WARN, "%s: SET_DEVICE_STATE_FD direction %u phase %u (save 0 / load 1, phase stopped 0)", b->name,
               p.direction, p.phase);
        rc = -EINVAL;
    } else if (p.direction == VU_STATE_SAVE) {
        m->nfds = 0;  /* save_state closes it */
        rc = save_state(b, m->fds[0]);
    } else {
        if (b->state_fd >= 0) close(b->state_fd);
        b->state_fd = m->fds[0];  /* read at CHECK_DEVICE_STATE, once the frontend wrote and closed */
        m->nfds = 0;
    }
    b->state_result = rc;
    if (rc < 0) b->stats.rejected++;
    /* Bits 0-7: 0 or an error code; bit 8: no fd of the backend's own (the frontend's is used). */
    return reply_u64(sock, m, (rc < 0 ? (uint64_t)(-rc & 0xff) : 0) | VU_STATE_NOFD);
}

static int check_device_state(vu_backend *b, int sock, vu_msg *m)
{
    if (m->hdr.size != 0 && expect_size(m, 8) < 0) return -EINVAL;
    if (b->state_fd >= 0) b->state_result = load_state(b);
    if (b->state_result < 0) b->stats.rejected++;
    return reply_u64(sock, m, b->state_result < 0 ? (uint64_t)-b->state_result : 0);
}

/* Requests that always carry a reply: a failure cannot be acknowledged, only disconnected. */
static bool replies_always(uint32_t request)
{
    return request == VU_GET_FEATURES || request == VU_GET_PROTOCOL_FEATURES || request == VU_GET_VRING_BASE
        || request == VU_GET_QUEUE_NUM || request == VU_GET_CONFIG || request == VU_SET_DEVICE_STATE_FD
        || request == VU_CHECK_DEVICE_STATE;
}

static int handle(vu_backend *b, int sock, vu_msg *m)
{
    switch (m->hdr.request) {
    case VU_GET_FEATURES: return get_features(b, sock, m);
    case VU_SET_FEATURES: return set_features(b, m);
    case VU_GET_PROTOCOL_FEATURES:
        if (m->hdr.size != 0 && expect_size(m, 8) < 0) return -EINVAL;
        return reply_u64(sock, m, VU_OFFERED_PROTOCOL_FEATURES);
    case VU_SET_PROTOCOL_FEATURES: return set_protocol_features(b, m);
    case VU_SET_OWNER:
        if (m->hdr.size != 0 && expect_size(m, 8) < 0) return -EINVAL;
        b->owner = true;
        return 0;
    case VU_RESET_OWNER:
    case VU_RESET_DEVICE: {
        uint64_t protocol = b->protocol_features;
        vu_backend_disconnect(b);  /* same clean slate as a new connection, the socket stays */
        b->protocol_features = protocol;
        b->features_set = false;
        return 0;
    }
    case VU_GET_QUEUE_NUM:
        if (m->hdr.size != 0 && expect_size(m, 8) < 0) return -EINVAL;
        return reply_u64(sock, m, VU_RINGS);
    case VU_SET_MEM_TABLE: return set_mem_table(b, m);
    case VU_SET_VRING_NUM: return set_vring_num(b, m);
    case VU_SET_VRING_ADDR: return set_vring_addr(b, m);
    case VU_SET_VRING_BASE: return set_vring_base(b, m);
    case VU_GET_VRING_BASE: return get_vring_base(b, sock, m);
    case VU_SET_VRING_KICK:
    case VU_SET_VRING_CALL:
    case VU_SET_VRING_ERR: return set_vring_fd(b, m);
    case VU_SET_VRING_ENABLE: return set_vring_enable(b, m);
    case VU_GET_CONFIG: return get_config(b, sock, m);
    case VU_SET_DEVICE_STATE_FD: return set_device_state_fd(b, sock, m);
    case VU_CHECK_DEVICE_STATE: return check_device_state(b, sock, m);
    default:
        vu_log(VSN_LOG_WARN, "%s: request %u (%s) is not supported", b->name, m->hdr.request, vu_request_name(m->hdr.request));
        return -ENOTSUP;
    }
}

/* Requests that may carry fds (the handlers check how many). */
static bool takes_fds(uint32_t request)
{
    return request == VU_SET_MEM_TABLE || request == VU_SET_VRING_KICK || request == VU_SET_VRING_CALL
        || request == VU_SET_VRING_ERR || request == VU_SET_DEVICE_STATE_FD;
}

int vu_backend_handle(vu_backend *b, int sock, vu_msg *m)
{
    b->stats.messages++;
    vu_log(VSN_LOG_DEBUG, "%s: %s (size %u, %u fds)", b->name, vu_request_name(m->hdr.request), m->hdr.size, m->nfds);
    int rc;
    if (m->nfds > 0 && !takes_fds(m->hdr.request)) {
        vu_log(VSN_LOG_WARN, "%s: %s carries %u fds but takes none", b->name, vu_request_name(m->hdr.request), m->nfds);
        rc = replies_always(m->hdr.request) ? -EPIPE : -EINVAL;  /* a GET cannot carry an error: disconnect */
    } else
        rc = handle(b, sock, m);
    vu_msg_close_fds(m);  /* whatever a handler did not keep */
    if (rc == REPLIED) return 0;
    if (rc == -EPIPE) return rc;
    if (rc < 0) b->stats.rejected++;
    bool ack = (b->protocol_features & (1ull << VU_PROTOCOL_F_REPLY_ACK)) && (m->hdr.flags & VU_FLAG_NEED_REPLY);
    if (ack && !replies_always(m->hdr.request)) {
        uint64_t status = rc < 0 ? (uint64_t)-rc : 0;
        return vu_send_reply(sock, m->hdr.request, &status, sizeof status) == 0 ? 0 : -EPIPE;
    }
    if (rc < 0) {
        vu_log(VSN_LOG_WARN, "%s: %s failed (errno %d) and no reply-ack was asked for: disconnecting", b->name,
               vu_request_name(m->hdr.request), -rc);
        return rc;
    }
    return 0;
}
