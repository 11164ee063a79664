/*
 * abi_fuzz.c: libFuzzer harness over the C ABI (include/vsock_native.h only) with the guest-driver
 * simulator (native-tests/sim) compiled in.
 *
 * An input is a session: a prologue (guest memory regions, device settings, driver features,
 * queue sizes) and then ops, one byte each selecting a slot of the op table (ops[], FZ_OP_SLOTS
 * slots, so adding an op never changes what the existing bytes mean), each op reading its own
 * arguments from the input. The device runs in manual-poll mode: nothing happens behind the
 * harness's back, an input replays exactly.
 *
 * Guest side (the simulator): well-formed tx packets (a coherent header for a connection the
 * harness's guest tracks, or every field from the input), rx and event buffers, the simulator's
 * malformed chains, raw writes to descriptors, avail ring entries and indexes, used_event, kicks,
 * interrupt suppression. Host side: listeners whose fds read, write, shut down, close; host
 * connects; a router. Device side: stop/start with base save/restore, reset and set up again,
 * TRANSPORT_RESET, every getter with odd sizes, and bad arguments to every export (each must
 * return a negative errno).
 *
 * Checked after each op (FZ_CHECK aborts: libFuzzer keeps the input):
 *  - guest memory outside the used rings and the device-writable buffers the driver posted
 *    (every writable descriptor of every table, indirect ones included, whenever the device may
 *    run) is unchanged: a shadow copy is compared after each op that calls the library and before
 *    each driver write that follows such a call (the QUIET ops only play the driver: their writes
 *    join the shadow before the device may run next); ABIFZ_STRAY tests that this check fires;
 *  - each used entry names a chain in flight, once, with len <= its writable bytes (the
 *    simulator's reap), unless the input rewrote that queue's ring by hand;
 *  - rx packets: used len = header + hdr.len, dst_cid the guest, and on connections the guest
 *    tracks the device never sends beyond the credit the guest gave (buf_alloc, fwd_cnt);
 *  - counters add up: bad chains = the sum of their reasons, unusable chains = theirs,
 *    connections opened - closed = open connections;
 *  - every ABI result is 0, a count, or -errno (-4095..-1).
 * After each input the device is destroyed; no fd of the input is left open.
 */
#include "fz_input.h"
#include "vsn_sim.h"
#include "vsn_sim_bind.h"
#include "vsock_native.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR ((uint32_t)sizeof(vsn_virtio_vsock_hdr))
#define GUEST_CID 3u
#define MAXQ VSN_QUEUE_COUNT_MAX
#define MAX_HOST_FDS 16
#define MAX_CONNS 16
#define MAX_REGIONS 3
#define REGION_MAX 32768u
#define RECENT 4

typedef struct fz_queue {
    vsn_sim_queue *q;
    bool writes;   /* the device writes this queue (rx, datagram rx, event) */
    bool tainted;  /* the input rewrote the ring by hand: reap results are not the device's fault */
    bool broken;   /* the simulator saw an error on it: not used any more */
    int kick_fd;   /* an eventfd given as kick_fd, or -1 (kicks through vsn_queue_notify) */
    bool requeued; /* set up again with the rings below (the simulator keeps its own) */
    uint32_t dev_size;
    uint64_t dev_desc, dev_avail, dev_used;
} fz_queue;

/* A connection as the harness's guest sees it (for the credit check). */
typedef struct fz_conn {
    bool used;
    uint32_t guest_port, host_port;
    uint32_t buf_alloc;  /* what the guest announces */
    uint32_t fwd_cnt;    /* the last fwd_cnt the guest announced */
    uint32_t rx_bytes;   /* RW payload the device sent (free-running) */
    bool tainted;        /* the guest sent raw credit fields: no check */
} fz_conn;

typedef struct fz {
    fz_in in;
    vsn_device *dev;
    vsn_device_config cfg; /* what dev was created with (a restored device gets the same) */
    vsn_sim_mem *mem;
    uint32_t nregions;
    uint8_t *shadow[MAX_REGIONS];
    uint8_t *mask[MAX_REGIONS]; /* 1: the device may write this byte */
    fz_queue q[MAXQ];
    uint32_t nq;
    uint64_t features;
    bool five;       /* the five-queue layout */
    bool running;
    bool set_up;     /* memory, features and queues given to the device */
    bool quiet;      /* the device has not run since the shadow was compared (a driver-only op) */
    bool pending;    /* quiet, and the driver wrote guest memory since (not yet in the shadow) */
    bool blind;      /* a requeue put a descriptor table the device walks over a used ring it writes */
    int host_fd[MAX_HOST_FDS];
    unsigned nhost;
    fz_conn conn[MAX_CONNS];
    vsn_virtio_vsock_hdr recent[RECENT]; /* the last packets the device sent (for replies) */
    unsigned nrecent;
    uint64_t irqs;
    int router_rc;
} fz;

/* ---- checks ---------------------------------------------------------------------------------- */

#define CHECK_RC(call)                                                                      \
    ({                                                                                      \
        int32_t rc_ = (call);                                                               \
        FZ_CHECK(rc_ >= -4095, "%s returned %d, not -errno", #call, rc_);                   \
        rc_;                                                                                \
    })
/* A call the header documents as failing for these arguments. */
#define CHECK_FAILS(call)                                                                   \
    do {                                                                                    \
        int32_t rc_ = (call);                                                               \
        FZ_CHECK(rc_ < 0 && rc_ >= -4095, "%s returned %d, expected -errno", #call, rc_);   \
    } while (0)

/* ABIFZ_LOG: the device's log, the ops and the sessions on stderr (read once, at start). */
static bool logging;

FZ_NOCOV static void on_log(void *user, int32_t level, const char *message)
{
    (void)user;
    fz_feature_text(4096, 4096, message);
    FZ_CHECK_LOG_LINE(message);
    if (logging) fprintf(stderr, "vsn %d: %s\n", level, message);
}

static void on_irq(void *user, uint32_t queue_index)
{
    (void)queue_index;
    ((fz *)user)->irqs++;
}

/* Marks [gpa, gpa + len) as device-writable, clamped to the regions. */
FZ_NOCOV static void mask_range(fz *f, uint64_t gpa, uint64_t len)
{
    uint32_t n;
    const vsn_sim_region *r = vsn_sim_mem_regions(f->mem, &n);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t lo = gpa > r[i].gpa ? gpa : r[i].gpa;
        uint64_t end = gpa + len < gpa ? UINT64_MAX : gpa + len;
        uint64_t hi = end < r[i].gpa + r[i].size ? end : r[i].gpa + r[i].size;
        if (lo < hi) memset(f->mask[i] + (lo - r[i].gpa), 1, hi - lo);
    }
}

/* ABIFZ_LOG: every queue's rings, the simulator's and (after a requeue) the device's. */
FZ_NOCOV static void log_layouts(const fz *f)
{
    for (uint32_t j = 0; j < f->nq; j++) {
        if (f->q[j].q == NULL) continue;
        vsn_sim_queue_layout m;
        vsn_sim_queue_layout_get(f->q[j].q, &m);
        fprintf(stderr, "  queue %u: size %u, desc 0x%llx, avail 0x%llx, used 0x%llx%s", j, m.queue_size,
                (unsigned long long)m.desc_gpa, (unsigned long long)m.avail_gpa, (unsigned long long)m.used_gpa,
                f->q[j].tainted ? " (tainted)" : "");
        if (f->q[j].requeued)
            fprintf(stderr, "; the device's: size %u, desc 0x%llx, avail 0x%llx, used 0x%llx", f->q[j].dev_size,
                    (unsigned long long)f->q[j].dev_desc, (unsigned long long)f->q[j].dev_avail,
                    (unsigned long long)f->q[j].dev_used);
        fputc('\n', stderr);
    }
}

/* Every writable buffer a descriptor table of n entries names (indirect tables included). */
FZ_NOCOV static void mask_table(fz *f, const uint8_t *table, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        struct vring_desc d; /* a table moved by a requeue need not be aligned in the harness's view */
        memcpy(&d, table + 16 * i, sizeof d);
        uint16_t flags = le16toh(d.flags);
        if (flags & VRING_DESC_F_WRITE) mask_range(f, le64toh(d.addr), le32toh(d.len));
        if (flags & VRING_DESC_F_INDIRECT) {
            uint32_t len = le32toh(d.len);
            void *hva;
            if (len == 0 || vsn_sim_mem_gpa_to_hva(f->mem, le64toh(d.addr), len, &hva) != 0) continue;
            for (uint32_t k = 0; k < len / 16; k++) {
                struct vring_desc t; /* a hostile table need not be aligned */
                memcpy(&t, (const uint8_t *)hva + 16 * k, sizeof t);
                if (le16toh(t.flags) & VRING_DESC_F_WRITE) mask_range(f, le64toh(t.addr), le32toh(t.len));
            }
        }
    }
}

/* Every writable buffer the descriptor tables name now: the simulator's, and those the device was
 * given by a requeue (it walks those: a chain there may name any buffer). */
FZ_NOCOV static void mask_descriptors(fz *f)
{
    for (uint32_t qi = 0; qi < f->nq; qi++) {
        if (f->q[qi].q == NULL) continue;
        vsn_sim_queue_layout lay;
        vsn_sim_queue_layout_get(f->q[qi].q, &lay);
        mask_table(f, (const uint8_t *)lay.desc, lay.queue_size);
        void *hva;
        if (f->q[qi].requeued && vsn_sim_mem_gpa_to_hva(f->mem, f->q[qi].dev_desc, 16ull * f->q[qi].dev_size, &hva) == 0)
            mask_table(f, hva, f->q[qi].dev_size);
    }
}

/* The shadow and the mask are compared without coverage or sanitizer hooks (a whole guest memory
 * is walked after every op that calls the library, and only the device's behaviour is the
 * subject) and without calls to memcmp/memcpy, which ASan intercepts (each call would check both
 * ranges for poisoning first): 64-byte blocks through vector registers, bytes only inside a block
 * that differs. */
#define FZ_PLAIN __attribute__((no_sanitize("coverage", "address", "undefined")))
#define BLOCK 64u
typedef uint64_t fz_vec __attribute__((vector_size(16)));

FZ_PLAIN static inline fz_vec vec_load(const uint8_t *p)
{
    fz_vec v;
    __builtin_memcpy(&v, p, sizeof v); /* an unaligned load, never a call */
    return v;
}

FZ_PLAIN static inline bool block_same(const uint8_t *a, const uint8_t *b)
{
    fz_vec d = (vec_load(a) ^ vec_load(b)) | (vec_load(a + 16) ^ vec_load(b + 16))
             | (vec_load(a + 32) ^ vec_load(b + 32)) | (vec_load(a + 48) ^ vec_load(b + 48));
    return (d[0] | d[1]) == 0;
}

static void shadow_broken(const fz *f, const vsn_sim_region *r, uint32_t i, uint64_t k)
{
    const uint8_t *now = r->hva;
    if (logging) log_layouts(f);
    FZ_CHECK(0, "the device wrote gpa 0x%llx (0x%02x -> 0x%02x), outside every used ring and writable buffer",
             (unsigned long long)(r->gpa + k), f->shadow[i][k], now[k]);
}

/* Bit 7 of each byte of the result: that byte of x is not zero. */
FZ_PLAIN static inline uint64_t bytes_nonzero(uint64_t x)
{
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7full;
    return (((x & low7) + low7) | x) & ~low7;
}

/* Brings the shadow up to date with guest memory, copying only the blocks that differ. check: the
 * differences are the device's writes since the last look, each byte must be device-writable.
 * Region sizes are multiples of 8 (8 or 32 KiB); a block that differs is looked at word by word. */
FZ_PLAIN static void shadow_update(fz *f, bool check)
{
    uint32_t n;
    const vsn_sim_region *r = vsn_sim_mem_regions(f->mem, &n);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *now = r[i].hva, *may = f->mask[i];
        uint8_t *was = f->shadow[i];
        for (uint64_t at = 0; at < r[i].size; at += BLOCK) {
            uint64_t end = r[i].size - at < BLOCK ? r[i].size : at + BLOCK;
            if (end - at == BLOCK && block_same(now + at, was + at)) continue;
            for (uint64_t w = at; w < end; w += 8) {
                uint64_t a, b, m;
                __builtin_memcpy(&a, now + w, 8);
                __builtin_memcpy(&b, was + w, 8);
                if (a == b) continue;
                __builtin_memcpy(&m, may + w, 8);
                if (check && (bytes_nonzero(a ^ b) & ~bytes_nonzero(m)) != 0)
                    for (uint64_t k = w; k < w + 8; k++)
                        if (now[k] != was[k] && !may[k]) shadow_broken(f, &r[i], i, k);
                __builtin_memcpy(was + w, &a, 8);
            }
        }
    }
}

/* The device wrote only where it may; its writes become the reference. */
static void shadow_check(fz *f)
{
    FZ_CHECK(!f->pending, "harness: guest memory looked at before the driver's writes were settled");
    /* A requeue put a descriptor table over a used ring: the device's own used entries rewrite
     * descriptors it walks in the same poll, so which buffers it was given cannot be known from
     * outside (the VMM's mistake): its writes become the reference unchecked. */
    shadow_update(f, !f->blind);
}
/* The driver's writes become the reference. */
static void shadow_sync(fz *f) { shadow_update(f, false); }

/* The driver's writes so far (and the buffers they make device-writable) become the reference:
 * what a quiet op wrote, before the device may run again. */
static void driver_settle(fz *f)
{
    if (!f->pending) return;
    mask_descriptors(f);
    shadow_sync(f);
    f->pending = false;
}

/* Before the device runs again: the driver's writes of the quiet ops before are settled, and
 * from now on the device's writes are checked. */
static void device_may_run(fz *f)
{
    driver_settle(f);
    f->quiet = false;
}

/* The driver (the harness) writes guest memory: first the device's writes since the last look
 * are checked, then the new state (and what it makes device-writable) is the reference. In a
 * quiet op the device cannot have written since the last look and cannot run before the op ends:
 * the look waits for driver_settle, once, before the device runs next. The device sees the
 * descriptor tables only when it runs, so the buffers they name then are all it may write. */
#define DRIVER(f, stmt)                                                                     \
    do {                                                                                    \
        if ((f)->quiet) {                                                                   \
            stmt;                                                                           \
            (f)->pending = true;                                                            \
        } else {                                                                            \
            shadow_check(f);                                                                \
            stmt;                                                                           \
            mask_descriptors(f);                                                            \
            shadow_sync(f);                                                                 \
        }                                                                                   \
    } while (0)

/* ABIFZ_STRAY=poll|kick, the harness's self-test (ctest fuzz_c_abi_stray_*): right after
 * vsn_device_poll or after a kick, the harness writes one byte the device may not write, as a
 * broken device would; the next look at guest memory must report it (and abort). The byte is the
 * first one after a device-writable byte inside the same 8 bytes (the hardest case for the word
 * compare), else the last one the device may not write. */
typedef enum { STRAY_NONE, STRAY_POLL, STRAY_KICK } fz_stray;
static fz_stray stray;

static void stray_write(fz *f, fz_stray where)
{
    if (stray != where) return;
    uint32_t n;
    const vsn_sim_region *r = vsn_sim_mem_regions(f->mem, &n);
    uint8_t *at = NULL;
    for (uint32_t i = 0; i < n; i++)
        for (uint64_t k = 0; k < r[i].size; k++) {
            if (f->mask[i][k]) continue;
            at = (uint8_t *)r[i].hva + k;
            if (k % 8 != 0 && f->mask[i][k - 1]) {
                *at ^= 0x5a;
                return;
            }
        }
    if (at != NULL) *at ^= 0x5a;
}

FZ_NOCOV static void counters_check(fz *f)
{
    for (uint32_t qi = 0; qi < f->nq; qi++) {
        vsn_queue_counters c = { .struct_size = sizeof c };
        if (CHECK_RC(vsn_queue_get_counters(f->dev, qi, &c)) < 0) continue;
        const vsn_queue_counter_values *v = &c.values;
        const uint64_t *all = (const uint64_t *)v;
        for (uint32_t k = 0; k < sizeof *v / 8; k++) fz_feature(1024 + qi * 128 + k, all[k]);
        uint64_t reasons = v->head_out_of_range + v->next_out_of_range + v->chain_too_long + v->indirect_not_negotiated
                         + v->nested_indirect + v->indirect_with_next + v->indirect_table_empty
                         + v->indirect_table_length_invalid + v->indirect_table_out_of_memory + v->readable_after_writable
                         + v->buffer_out_of_memory + v->buffer_address_wrap + v->too_many_segments + v->length_overflow;
        FZ_CHECK(v->bad_chains == reasons, "queue %u: bad_chains %llu, reasons add up to %llu", qi,
                 (unsigned long long)v->bad_chains, (unsigned long long)reasons);
        uint64_t unusable = v->unusable_readable + v->unusable_too_small + v->unusable_header_only;
        FZ_CHECK(v->unusable_chains == unusable, "queue %u: unusable_chains %llu, reasons add up to %llu", qi,
                 (unsigned long long)v->unusable_chains, (unsigned long long)unusable);
    }
    vsn_device_counters d = { .struct_size = sizeof d };
    uint32_t total = 0;
    if (CHECK_RC(vsn_device_get_counters(f->dev, &d)) == 0
        && CHECK_RC(vsn_device_get_connections(f->dev, NULL, 0, sizeof(vsn_connection_info), &total)) == 0) {
        const uint64_t *all = (const uint64_t *)&d.values;
        for (uint32_t k = 0; k < (sizeof d - offsetof(vsn_device_counters, values)) / 8; k++) fz_feature(k, all[k]);
        uint64_t open = d.connections.connections_opened - d.connections.connections_closed;
        FZ_CHECK(open == total, "connections opened %llu - closed %llu != %u open",
                 (unsigned long long)d.connections.connections_opened,
                 (unsigned long long)d.connections.connections_closed, total);
    }
    static vsn_connection_info infos[MAX_CONNS];
    int32_t n = CHECK_RC(vsn_device_get_connections(f->dev, infos, MAX_CONNS, sizeof infos[0], NULL));
    for (int32_t i = 0; i < n; i++)
        fz_feature(2048 + (infos[i].state % 8) * 64 + (infos[i].end_reason % 16) * 4 + infos[i].type % 4, 1);
}

/* ---- the guest's connections ----------------------------------------------------------------- */

static fz_conn *conn_find(fz *f, uint32_t guest_port, uint32_t host_port, bool make)
{
    fz_conn *free_slot = NULL;
    for (unsigned i = 0; i < MAX_CONNS; i++) {
        fz_conn *c = &f->conn[i];
        if (c->used && c->guest_port == guest_port && c->host_port == host_port) return c;
        if (!c->used && free_slot == NULL) free_slot = c;
    }
    if (!make || free_slot == NULL) return NULL;
    *free_slot = (fz_conn){ .used = true, .guest_port = guest_port, .host_port = host_port, .tainted = true };
    return free_slot;
}

/* A packet the device sent the guest (from an rx chain). */
static void guest_receives(fz *f, const uint8_t *buf, uint32_t got, uint32_t used_len)
{
    FZ_CHECK(used_len >= HDR, "rx used len %u is shorter than a header", used_len);
    if (got < HDR) return;
    vsn_virtio_vsock_hdr h;
    memcpy(&h, buf, HDR);
    uint32_t len = le32toh(h.len);
    FZ_CHECK(used_len == HDR + len, "rx used len %u for a packet of hdr.len %u", used_len, len);
    FZ_CHECK(le64toh(h.dst_cid) == GUEST_CID, "rx packet for cid %llu", (unsigned long long)le64toh(h.dst_cid));
    f->recent[f->nrecent++ % RECENT] = h;
    uint16_t op = le16toh(h.op);
    fz_conn *c = conn_find(f, le32toh(h.dst_port), le32toh(h.src_port), false);
    if (le16toh(h.type) == VSN_VIRTIO_VSOCK_TYPE_DGRAM) return;
    if (op == VSN_VIRTIO_VSOCK_OP_REQUEST || op == VSN_VIRTIO_VSOCK_OP_RST) {
        if (c != NULL) c->used = false; /* a new connection, or none: forget the old credit */
        return;
    }
    if (op != VSN_VIRTIO_VSOCK_OP_RW || c == NULL) return;
    c->rx_bytes += len;
    if (!c->tainted)
        FZ_CHECK(c->rx_bytes - c->fwd_cnt <= c->buf_alloc,
                 "port %u->%u: the device sent %u bytes beyond fwd_cnt %u, credit is buf_alloc %u",
                 c->host_port, c->guest_port, c->rx_bytes - c->fwd_cnt, c->fwd_cnt, c->buf_alloc);
}

/* ---- guest memory, kept from one input to the next ------------------------------------------- */

/* Mapping guest memory and faulting its pages in again for every input cost about a tenth of the
 * time. The memory of every layout an input can ask for (52) is made once, at start (so the
 * simulator's code that maps it runs for no input, and an input's coverage does not depend on the
 * inputs before it), and kept between inputs: zeroed, the simulator's allocator reset, and
 * inaccessible (PROT_NONE), so a device that still touched it after its input would fault as it
 * would on unmapped memory. */
#define MEM_POOL 64
static struct {
    uint32_t n;
    vsn_sim_region_spec spec[MAX_REGIONS];
    vsn_sim_mem *mem;
} mem_pool[MEM_POOL];
static unsigned mem_pooled;

FZ_NOCOV static void mem_protect(vsn_sim_mem *mem, int prot)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uint32_t n;
    const vsn_sim_region *r = vsn_sim_mem_regions(mem, &n);
    for (uint32_t i = 0; i < n; i++) {
        /* whole pages of the region's data (the simulator's guard pages lie outside) */
        uintptr_t lo = (uintptr_t)r[i].hva & ~(page - 1), hi = ((uintptr_t)r[i].hva + r[i].size + page - 1) & ~(page - 1);
        FZ_CHECK(mprotect((void *)lo, hi - lo, prot) == 0, "harness: mprotect of guest memory: %s", strerror(errno));
    }
}

FZ_PLAIN static void mem_zero(vsn_sim_mem *mem)
{
    static const uint8_t zero[BLOCK];
    uint32_t n;
    const vsn_sim_region *r = vsn_sim_mem_regions(mem, &n);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *p = r[i].hva;
        for (uint64_t at = 0; at < r[i].size; at += BLOCK) {
            if (r[i].size - at < BLOCK) {
                for (uint64_t k = at; k < r[i].size; k++) p[k] = 0;
            } else if (!block_same(p + at, zero)) { /* pages never written stay the shared zero page */
                __builtin_memset(p + at, 0, BLOCK);
            }
        }
    }
}

/* Guest memory of this layout, as vsn_sim_mem_create makes it: all zero, nothing allocated. */
FZ_NOCOV static int mem_get(const vsn_sim_mem_config *mc, vsn_sim_mem **out)
{
    for (unsigned k = 0; k < mem_pooled; k++) {
        if (mem_pool[k].n != mc->nregions || memcmp(mem_pool[k].spec, mc->regions, mc->nregions * sizeof *mc->regions) != 0)
            continue;
        *out = mem_pool[k].mem;
        mem_pool[k] = mem_pool[--mem_pooled];
        mem_protect(*out, PROT_READ | PROT_WRITE);
        return 0;
    }
    return vsn_sim_mem_create(mc, out);
}

FZ_NOCOV static void mem_put(vsn_sim_mem **mem)
{
    if (*mem == NULL) return;
    if (mem_pooled == MEM_POOL) {
        vsn_sim_mem_destroy(mem);
        return;
    }
    uint32_t n;
    const vsn_sim_region *r = vsn_sim_mem_regions(*mem, &n);
    mem_pool[mem_pooled].n = n;
    for (uint32_t i = 0; i < n; i++) mem_pool[mem_pooled].spec[i] = (vsn_sim_region_spec){ .gpa = r[i].gpa, .size = r[i].size };
    mem_zero(*mem);
    vsn_sim_mem_reset(*mem);
    mem_protect(*mem, PROT_NONE);
    mem_pool[mem_pooled++].mem = *mem;
    *mem = NULL;
}

/* Guest memory from the prologue's byte m: 1..3 regions of 8..32 KiB, adjacent (buffers may
 * straddle) or with gaps. */
static vsn_sim_mem_config mem_layout(uint8_t m, vsn_sim_region_spec spec[MAX_REGIONS])
{
    uint32_t n = 1 + m % MAX_REGIONS;
    uint64_t gpa = (m & 0x80) ? 0x100000 : 0;
    for (uint32_t i = 0; i < n; i++) {
        spec[i].gpa = gpa;
        spec[i].size = (m >> (2 + i)) & 1 ? REGION_MAX : REGION_MAX / 4;
        gpa += spec[i].size + ((m & 0x40) ? 0x10000 : 0);
    }
    return (vsn_sim_mem_config){ .struct_size = sizeof(vsn_sim_mem_config), .nregions = n, .regions = spec, .straddle_reserve = 512 };
}

static void mem_pool_fill(void)
{
    for (unsigned m = 0; m < 256; m++) {
        vsn_sim_region_spec spec[MAX_REGIONS];
        vsn_sim_mem_config mc = mem_layout((uint8_t)m, spec);
        vsn_sim_mem *mem = NULL;
        FZ_CHECK(mem_get(&mc, &mem) == 0, "harness: guest memory layout %u", m);
        mem_put(&mem);
    }
    FZ_CHECK(mem_pooled < MEM_POOL, "harness: %u guest memory layouts fill the pool", mem_pooled);
}

/* ---- the session: memory, device, queues ------------------------------------------------------ */

static void queues_destroy(fz *f)
{
    for (uint32_t i = 0; i < MAXQ; i++) {
        vsn_sim_queue_destroy(&f->q[i].q);
        if (f->q[i].kick_fd >= 0) close(f->q[i].kick_fd);
        f->q[i] = (fz_queue){ .kick_fd = -1 };
    }
    f->blind = false;
}

static int notify(void *user, uint16_t queue_index)
{
    fz *f = user;
    if (f->q[queue_index].kick_fd >= 0) {
        uint64_t one = 1;
        return write(f->q[queue_index].kick_fd, &one, sizeof one) == sizeof one ? 0 : -errno;
    }
    /* A kick the simulator sends by itself inside a quiet op (its 16-bit num_added about to wrap):
     * vsn_queue_notify only marks the queue, but it is the device: looked at like any other call. */
    if (f->quiet) {
        f->pending = true;
        driver_settle(f);
    }
    int rc = vsn_queue_notify(f->dev, queue_index);
    stray_write(f, STRAY_KICK);
    if (f->quiet) shadow_check(f);
    return rc < 0 ? rc : 0;
}

/* Features, queues (new simulator rings) and start: what a driver does after a reset. */
static void session_setup(fz *f, uint8_t qsizes)
{
    queues_destroy(f);
    f->running = f->set_up = false;
    vsn_mem_region regions[MAX_REGIONS];
    uint32_t n = vsn_sim_bind_regions(f->mem, regions, MAX_REGIONS);
    if (CHECK_RC(vsn_device_set_mem_table(f->dev, regions, n)) < 0) return;
    if (CHECK_RC(vsn_device_set_features(f->dev, f->features)) < 0) return;
    f->five = (f->features & (1ull << VSN_VIRTIO_VSOCK_F_DGRAM)) && f->nq == 5;
    uint32_t nq = f->five ? 5 : 3;
    uint64_t ring_features = f->features & ((1ull << VSN_VIRTIO_RING_F_EVENT_IDX) | (1ull << VSN_VIRTIO_RING_F_INDIRECT_DESC));
    for (uint32_t i = 0; i < nq; i++) {
        uint16_t size = (uint16_t)(1u << ((qsizes >> (i & 1 ? 4 : 0)) % 7)); /* 1..64 */
        vsn_sim_queue_config qc = { .struct_size = sizeof qc, .queue_size = size, .queue_index = (uint16_t)i,
                                    .features = ring_features, .notify = notify, .notify_user = f };
        int rc;
        DRIVER(f, rc = vsn_sim_queue_create(f->mem, &qc, &f->q[i].q));
        if (rc != 0) return;
        f->q[i].writes = i != VSN_QUEUE_TX && !(f->five && i == VSN_QUEUE_DGRAM_TX);
        if ((qsizes >> i) & 0x80 && i == VSN_QUEUE_TX) f->q[i].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        vsn_queue_config c = vsn_sim_bind_queue(f->q[i].q, f->q[i].kick_fd, -1);
        c.interrupt_fn = on_irq;
        c.interrupt_user = f;
        vsn_sim_queue_layout lay;
        vsn_sim_queue_layout_get(f->q[i].q, &lay);
        mask_range(f, lay.used_gpa, 6 + 8ull * lay.queue_size);
        if (CHECK_RC(vsn_queue_setup(f->dev, i, &c)) < 0) return;
    }
    f->nq = nq;
    f->set_up = true;
    f->running = CHECK_RC(vsn_device_start(f->dev)) == 0;
}

/* ---- ops -------------------------------------------------------------------------------------- */

static const uint32_t ports[] = { 1024, 1025, 5000, 9999, 0xffffffffu, 0, 1, 80 };

static fz_queue *pick_queue(fz *f, bool writes)
{
    uint8_t c = fz_u8(&f->in);
    for (uint32_t k = 0; k < f->nq; k++) {
        fz_queue *q = &f->q[(c + k) % f->nq];
        if (q->q != NULL && !q->broken && q->writes == writes) return q;
    }
    return NULL;
}

static vsn_sim_layout pick_layout(fz *f)
{
    uint8_t c = fz_u8(&f->in);
    vsn_sim_layout lay = { .hdr_split = (c & 3) == 3 ? fz_u8(&f->in) % (HDR + 1) : HDR, .pieces = 1 + ((c >> 2) & 3) };
    if ((c & 0x10) && (f->features & (1ull << VSN_VIRTIO_RING_F_INDIRECT_DESC)))
        lay.flags = VSN_SIM_F_INDIRECT | ((c & 0x80) ? VSN_SIM_F_DIRECT_PREFIX(1) : 0);
    if (c & 0x20) lay.straddle_mask = fz_u8(&f->in) & 7;
    return lay;
}

static void op_tx(fz *f)
{
    fz_queue *q = pick_queue(f, false);
    uint8_t mode = fz_u8(&f->in);
    uint16_t op = (uint16_t)(1 + fz_u8(&f->in) % 7);
    vsn_virtio_vsock_hdr h;
    const uint8_t *payload;
    uint32_t plen = (uint32_t)fz_bytes(&f->in, &payload, 1024);
    uint32_t guest_port, host_port;
    if (mode & 0x80 && f->nrecent > 0) { /* answer a packet the device sent */
        const vsn_virtio_vsock_hdr *r = &f->recent[fz_u8(&f->in) % (f->nrecent < RECENT ? f->nrecent : RECENT)];
        guest_port = le32toh(r->dst_port);
        host_port = le32toh(r->src_port);
    } else {
        guest_port = ports[mode & 7];
        host_port = ports[(mode >> 3) & 7];
    }
    uint16_t type = (mode & 0x40) ? (uint16_t)(1 + fz_u8(&f->in) % 3) : VSN_VIRTIO_VSOCK_TYPE_STREAM;
    if (q == NULL) return;
    fz_conn *c = conn_find(f, guest_port, host_port, true);
    bool raw = fz_u8(&f->in) >= 224;
    if (c != NULL && (op == VSN_VIRTIO_VSOCK_OP_REQUEST || op == VSN_VIRTIO_VSOCK_OP_RESPONSE)) {
        *c = (fz_conn){ .used = true, .guest_port = guest_port, .host_port = host_port,
                        .buf_alloc = (mode & 0x20) ? 4096 : 65536 };
    }
    if (raw) {
        h.src_cid = htole64(fz_u64(&f->in));
        h.dst_cid = htole64(fz_u64(&f->in));
        h.src_port = htole32(fz_u32(&f->in));
        h.dst_port = htole32(fz_u32(&f->in));
        h.len = htole32(fz_u8(&f->in) < 128 ? plen : fz_u32(&f->in));
        h.type = htole16(fz_u16(&f->in));
        h.op = htole16(fz_u16(&f->in));
        h.flags = htole32(fz_u32(&f->in));
        h.buf_alloc = htole32(fz_u32(&f->in));
        h.fwd_cnt = htole32(fz_u32(&f->in));
        if (c != NULL) c->tainted = true;
    } else {
        uint32_t flags = op == VSN_VIRTIO_VSOCK_OP_SHUTDOWN ? (fz_u8(&f->in) & 3)
                       : op == VSN_VIRTIO_VSOCK_OP_RW && type == VSN_VIRTIO_VSOCK_TYPE_SEQPACKET ? (fz_u8(&f->in) & 3) : 0;
        uint32_t buf_alloc = c != NULL ? c->buf_alloc : 65536, fwd = c != NULL ? c->rx_bytes : 0;
        vsn_sim_bind_hdr(&h, GUEST_CID, (mode & 0x20) && fz_bool(&f->in) ? 4 : 2, guest_port,
                         host_port, type, op, op == VSN_VIRTIO_VSOCK_OP_RW || type == VSN_VIRTIO_VSOCK_TYPE_DGRAM ? plen : 0,
                         flags, buf_alloc, fwd);
        if (op != VSN_VIRTIO_VSOCK_OP_RW && type != VSN_VIRTIO_VSOCK_TYPE_DGRAM) plen = 0;
        if (c != NULL) c->fwd_cnt = fwd;
    }
    vsn_sim_layout lay = pick_layout(f);
    uint16_t head;
    DRIVER(f, vsn_sim_queue_add_tx(q->q, &h, HDR, payload, plen, &lay, 0, &head));
}

static void op_rx(fz *f)
{
    fz_queue *q = pick_queue(f, true);
    uint8_t c = fz_u8(&f->in);
    static const uint32_t lens[] = { HDR, HDR + 1, HDR + 64, 4096, 8, 1, 200, HDR + 1024 };
    uint32_t len = (c & 0x80) ? 1 + fz_u16(&f->in) % 8192 : lens[c & 7];
    vsn_sim_layout lay = pick_layout(f);
    lay.hdr_split = 0;
    if (lay.pieces > len) lay.pieces = 1;
    unsigned count = 1 + ((c >> 3) & 3);
    uint16_t head;
    int rc = 0;
    for (unsigned i = 0; q != NULL && rc == 0 && i < count; i++) DRIVER(f, rc = vsn_sim_queue_add_rx(q->q, len, &lay, 0, &head));
}

static void op_bad(fz *f)
{
    uint8_t c = fz_u8(&f->in);
    fz_queue *q = pick_queue(f, c & 1);
    vsn_sim_bad kind = (vsn_sim_bad)(fz_u8(&f->in) % VSN_SIM_BAD_COUNT);
    uint16_t head;
    if (q == NULL) return;
    int rc;
    DRIVER(f, rc = vsn_sim_queue_add_bad(q->q, kind, &head));
    /* A bogus head or avail index: the device breaks the queue (NEEDS_RESET); the simulator's
     * view of the ring is no longer the device's. */
    if (rc == 0 && (kind == VSN_SIM_BAD_HEAD_RANGE || kind == VSN_SIM_BAD_AVAIL_IDX_JUMP)) q->tainted = true;
    if (rc == 0 && kind == VSN_SIM_BAD_AVAIL_IDX_JUMP && (c & 2)) DRIVER(f, vsn_sim_queue_restore_avail_idx(q->q));
}

/* Raw ring writes: what the simulator would never do. */
static void op_raw(fz *f)
{
    uint8_t c = fz_u8(&f->in);
    if (f->nq == 0 || f->q[c % f->nq].q == NULL) return;
    fz_queue *q = &f->q[c % f->nq];
    vsn_sim_queue_layout lay;
    vsn_sim_queue_layout_get(q->q, &lay);
    uint16_t i = (uint16_t)(fz_u16(&f->in) % lay.queue_size);
    switch ((c >> 3) % 5) {
    case 0: lay.avail->idx = htole16(fz_u16(&f->in)); break;
    case 1: lay.avail->ring[i] = htole16(fz_u16(&f->in)); break;
    case 2: lay.avail->flags = htole16(fz_u16(&f->in)); break;
    case 3: lay.avail->ring[lay.queue_size] = htole16(fz_u16(&f->in)); break; /* used_event */
    default: {
        struct vring_desc *d = &lay.desc[i];
        uint8_t what = fz_u8(&f->in);
        if (what & 1) d->addr = htole64(fz_u8(&f->in) < 128 ? le64toh(d->addr) + fz_u16(&f->in) : fz_u64(&f->in));
        if (what & 2) d->len = htole32(fz_u32(&f->in));
        if (what & 4) d->flags = htole16(fz_u16(&f->in));
        if (what & 8) d->next = htole16(fz_u16(&f->in));
        break;
    }
    }
    f->pending = true; /* a quiet op */
    q->tainted = true;
}

static void op_kick(fz *f)
{
    uint8_t c = fz_u8(&f->in);
    if (f->nq == 0 || f->q[c % f->nq].q == NULL) return;
    if (c & 0x80) vsn_sim_queue_notify(f->q[c % f->nq].q); /* a kick the driver would not send */
    else vsn_sim_queue_kick(f->q[c % f->nq].q);
}

static void host_add(fz *f, int fd)
{
    if (f->nhost < MAX_HOST_FDS) f->host_fd[f->nhost++] = fd;
    else close(fd);
}

static void on_accept(void *user, uint32_t port, uint32_t guest_port, int32_t fd)
{
    (void)port;
    (void)guest_port;
    host_add(user, fd);
}

static int32_t on_route(void *user, uint32_t type, uint64_t dst_cid, uint32_t dst_port, uint64_t src_cid,
                        uint32_t src_port, int32_t fd)
{
    (void)type, (void)dst_cid, (void)dst_port, (void)src_cid, (void)src_port;
    fz *f = user;
    if (f->router_rc < 0) return f->router_rc;  /* the device closes fd */
    host_add(f, fd);                              /* the program keeps it */
    return 0;
}

/* Reaps every queue, checks what came back; the device's rx packets reach the guest model. */
static void reap_all(fz *f)
{
    static uint8_t buf[16384];
    for (uint32_t i = 0; i < f->nq; i++) {
        fz_queue *q = &f->q[i];
        if (q->q == NULL || q->broken) continue;
        for (int k = 0; k < 4096; k++) {
            vsn_sim_used u;
            int rc = vsn_sim_queue_reap(q->q, &u, buf, sizeof buf);
            if (rc == 0) break;
            if (rc < 0 && logging) {
                vsn_sim_queue_layout l;
                vsn_sim_queue_layout_get(q->q, &l);
                fprintf(stderr, "queue %u size %u: avail idx %u, used idx %u, used[0] = {%u, %u}, flags %u\n", i, l.queue_size,
                        le16toh(l.avail->idx), le16toh(l.used->idx), le32toh(l.used->ring[0].id), le32toh(l.used->ring[0].len),
                        le16toh(l.used->flags));
                log_layouts(f);
            }
            if (rc < 0) {
                FZ_CHECK(q->tainted, "queue %u: the simulator's reap failed: %s", i, vsn_sim_strerror(rc));
                q->broken = rc != VSN_SIM_E_USED_LEN;
                if (q->broken) break;
                continue;
            }
            bool rx = i == VSN_QUEUE_RX || (f->five && i == VSN_QUEUE_DGRAM_RX);
            if (rx && !u.bad && !q->tainted && u.len > 0) guest_receives(f, buf, u.copied, u.len);
        }
    }
}

static void op_poll(fz *f)
{
    int32_t rc = CHECK_RC(vsn_device_poll(f->dev, 0));
    stray_write(f, STRAY_POLL);
    if (!f->running) FZ_CHECK(rc < 0, "vsn_device_poll on a stopped device returned %d", rc);
    reap_all(f);
    counters_check(f);
    if (fz_bool(&f->in)) { /* the guest turns interrupts on or off: the rest of the op is quiet */
        shadow_check(f);
        f->quiet = true;
        for (uint32_t i = 0; i < f->nq; i++)
            if (f->q[i].q != NULL && !f->q[i].broken) {
                if (fz_bool(&f->in)) DRIVER(f, vsn_sim_queue_enable_interrupts(f->q[i].q));
                else DRIVER(f, vsn_sim_queue_disable_interrupts(f->q[i].q));
            }
    }
}

static void op_host_io(fz *f)
{
    uint8_t c = fz_u8(&f->in);
    if (f->nhost == 0) return;
    unsigned i = c % f->nhost;
    int fd = f->host_fd[i];
    switch ((c >> 4) & 3) {
    case 0: {
        const uint8_t *b;
        size_t n = fz_bytes(&f->in, &b, 2048);
        if (send(fd, b, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) { /* full or gone: fine */ }
        break;
    }
    case 1: {
        uint8_t buf[4096];
        for (int k = 0; k < 8 && recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0; k++) { }
        break;
    }
    case 2: shutdown(fd, (c & 1) ? SHUT_WR : SHUT_RD); break;
    default:
        close(fd);
        f->host_fd[i] = f->host_fd[--f->nhost];
        break;
    }
}

static uint32_t pick_type(fz *f)
{
    uint8_t t = fz_u8(&f->in);
    return t < 250 ? 1u + t % 3 : t;
}

static void op_listen(fz *f)
{
    uint8_t c = fz_u8(&f->in);
    uint32_t port = ports[c & 7], type = pick_type(f);
    if (c & 0x80) CHECK_RC(vsn_device_unlisten(f->dev, port, type));
    else CHECK_RC(vsn_device_listen(f->dev, port, type, on_accept, f));
}

static void op_connect(fz *f)
{
    uint8_t c = fz_u8(&f->in);
    int32_t fd = -1;
    uint32_t type = pick_type(f);
    if (CHECK_RC(vsn_device_connect(f->dev, ports[c & 7], type, &fd)) == 0) {
        FZ_CHECK(fd >= 0, "vsn_device_connect succeeded with fd %d", fd);
        host_add(f, fd);
    }
}

static void op_stop_start(fz *f)
{
    uint8_t c = fz_u8(&f->in);
    if (f->running) {
        CHECK_RC(vsn_device_stop(f->dev));
        f->running = false;
        for (uint32_t i = 0; i < f->nq; i++) {
            uint16_t base;
            if (CHECK_RC(vsn_queue_get_base(f->dev, i, &base)) == 0 && (c & 1)) {
                uint16_t to = (c & 2) ? (uint16_t)(base + fz_u16(&f->in)) : base;
                /* Another base makes the device take entries the simulator never made available. */
                if (CHECK_RC(vsn_queue_set_base(f->dev, i, to)) == 0 && to != base) f->q[i].tainted = true;
            }
        }
    } else if (f->set_up) {
        f->running = CHECK_RC(vsn_device_start(f->dev)) == 0;
    }
}

static void op_reset(fz *f)
{
    uint8_t c = fz_u8(&f->in);
    CHECK_RC(vsn_device_reset(f->dev));
    f->running = f->set_up = false;
    memset(f->conn, 0, sizeof f->conn);
    f->nrecent = 0;
    if (c & 1) session_setup(f, fz_u8(&f->in)); /* else stays reset: every later op must cope */
}

static void op_transport_reset(fz *f)
{
    CHECK_RC(vsn_device_transport_reset(f->dev));
    for (unsigned i = 0; i < MAX_CONNS; i++) f->conn[i].used = false;
}

/* The getter wrote nothing past what the caller said it has room for. */
FZ_NOCOV static void untouched(const uint8_t *bytes, size_t from, size_t size, const char *what)
{
    for (size_t k = from; k < size; k++)
        FZ_CHECK(bytes[k] == 0xee, "%s wrote byte %zu, past the %zu the caller gave", what, k, from);
}

/* Getters with sizes a caller of another header version could pass. */
static void op_getters(fz *f)
{
    uint8_t c = fz_u8(&f->in);
    union {
        vsn_device_counters d;
        vsn_queue_counters q;
        vsn_connection_info conns[4];
        uint8_t bytes[4 * sizeof(vsn_connection_info) + 64];
    } u;
    memset(&u, 0xee, sizeof u);
    uint32_t size = (c & 0x80) ? fz_u16(&f->in) % (sizeof u + 1) : 0;
    switch (c % 6) {
    case 0:
        u.d.struct_size = size ? size : sizeof u.d;
        if (u.d.struct_size > sizeof u.d) u.d.struct_size = sizeof u.d; /* the larger tail is ours */
        if (CHECK_RC(vsn_device_get_counters(f->dev, &u.d)) == 0)
            untouched(u.bytes, u.d.struct_size, sizeof u, "vsn_device_get_counters");
        break;
    case 1:
        u.q.struct_size = size ? size : sizeof u.q;
        if (u.q.struct_size > sizeof u.q) u.q.struct_size = sizeof u.q;
        if (CHECK_RC(vsn_queue_get_counters(f->dev, fz_u8(&f->in) % 7, &u.q)) == 0)
            untouched(u.bytes, u.q.struct_size, sizeof u, "vsn_queue_get_counters");
        break;
    case 2: {
        uint32_t total, entry = size ? size : sizeof(vsn_connection_info), cap = fz_u8(&f->in) % 5;
        if (entry > 0 && (uint64_t)entry * cap > sizeof u) cap = (uint32_t)(sizeof u / entry);
        int32_t n = CHECK_RC(vsn_device_get_connections(f->dev, cap ? u.conns : NULL, cap, entry, &total));
        if (n >= 0) FZ_CHECK((uint32_t)n <= cap, "vsn_device_get_connections wrote %d entries into %u", n, cap);
        if (n >= 0) untouched(u.bytes, (size_t)n * entry, sizeof u, "vsn_device_get_connections");
        break;
    }
    case 3: {
        uint32_t off = fz_u8(&f->in) < 200 ? fz_u8(&f->in) % 12 : fz_u32(&f->in);
        uint32_t len = fz_u8(&f->in) % 12;
        int32_t n = CHECK_RC(vsn_device_read_config(f->dev, off, u.bytes, len));
        if (n >= 0) FZ_CHECK((uint64_t)off + len <= sizeof(vsn_virtio_vsock_config), "config read %u+%u accepted", off, len);
        untouched(u.bytes, n >= 0 ? len : 0, sizeof u, "vsn_device_read_config");
        break;
    }
    case 4: {
        uint32_t st;
        CHECK_RC(vsn_device_get_status(f->dev, &st));
        break;
    }
    default: {
        uint64_t feat;
        CHECK_RC(vsn_device_get_features(f->dev, &feat));
        break;
    }
    }
}

/* Bad arguments to every export: each must fail with -errno (and log why), never crash. */
static void op_bad_args(fz *f)
{
    static vsn_device *dead; /* a handle destroyed once: never valid again */
    if (dead == NULL) {
        vsn_device_config cfg = { .struct_size = sizeof cfg, .flags = VSN_DEVICE_F_MANUAL_POLL, .guest_cid = 9 };
        if (vsn_device_create(&cfg, &dead) == 0) vsn_device_destroy(dead);
    }
    uint8_t c = fz_u8(&f->in);
    vsn_device *bogus = (c & 0x80) ? dead : (vsn_device *)(uintptr_t)(0x1000 + fz_u16(&f->in) * 8);
    vsn_device *d = f->dev;
    vsn_queue_config qc = { .struct_size = sizeof qc, .size = 8, .kick_fd = -1, .call_fd = -1 };
    vsn_device_counters dc = { .struct_size = sizeof dc };
    vsn_queue_counters qcn = { .struct_size = sizeof qcn };
    vsn_mem_region region = { .guest_phys_addr = 0, .size = 4096, .host_addr = &qc };
    uint64_t u64;
    uint32_t u32;
    uint16_t u16;
    int32_t fd;
    int pipefd[2] = { -1, -1 };
    switch (c % 40) {
    case 0: CHECK_FAILS(vsn_device_create(NULL, &dead)); break;
    case 1: {
        vsn_device_config cfg = { .struct_size = fz_u8(&f->in) % VSN_DEVICE_CONFIG_MIN_SIZE, .guest_cid = 3 };
        vsn_device *x = NULL;
        CHECK_FAILS(vsn_device_create(&cfg, &x));
        break;
    }
    case 2: {
        vsn_device_config cfg = { .struct_size = sizeof cfg, .flags = 1u << (2 + fz_u8(&f->in) % 30), .guest_cid = 3 };
        vsn_device *x = NULL;
        CHECK_FAILS(vsn_device_create(&cfg, &x));
        break;
    }
    case 3: {
        static const uint64_t cids[] = { 0, 1, 2, 0xffffffffull, 1ull << 32, UINT64_MAX };
        vsn_device_config cfg = { .struct_size = sizeof cfg, .flags = VSN_DEVICE_F_MANUAL_POLL, .guest_cid = cids[fz_u8(&f->in) % 6] };
        vsn_device *x = NULL;
        CHECK_FAILS(vsn_device_create(&cfg, &x));
        break;
    }
    case 4: CHECK_FAILS(vsn_device_destroy(bogus)); break;
    case 5: CHECK_FAILS(vsn_device_reset(bogus)); break;
    case 6: CHECK_FAILS(vsn_device_get_status(d, NULL)); break;
    case 7: CHECK_FAILS(vsn_device_get_status(bogus, &u32)); break;
    case 8: CHECK_FAILS(vsn_device_set_mem_table(d, NULL, 1 + fz_u8(&f->in))); break;
    case 9: CHECK_FAILS(vsn_device_set_mem_table(bogus, &region, 1)); break;
    case 10: {
        vsn_mem_region bad[2] = { region, region }; /* overlapping, or empty, or wrapping */
        uint8_t how = fz_u8(&f->in) % 3;
        if (how == 1) bad[0].size = 0;
        if (how == 2) bad[0].guest_phys_addr = UINT64_MAX - 100;
        if (f->running) break; /* -EBUSY either way; the check below wants the table's reason */
        CHECK_FAILS(vsn_device_set_mem_table(d, bad, how == 0 ? 2 : 1));
        /* The device's table is gone or unchanged: set up again before going on. */
        f->set_up = false;
        break;
    }
    case 11: CHECK_FAILS(vsn_device_get_features(d, NULL)); break;
    case 12: CHECK_FAILS(vsn_device_get_features(bogus, &u64)); break;
    case 13: CHECK_FAILS(vsn_device_set_features(d, fz_u64(&f->in) | (1ull << 60))); break;
    case 14: CHECK_FAILS(vsn_device_read_config(d, 0, NULL, 4)); break;
    case 15: CHECK_FAILS(vsn_device_read_config(d, fz_u32(&f->in) | 8, &u64, 1)); break;
    case 16: CHECK_FAILS(vsn_queue_setup(d, 5 + fz_u8(&f->in), &qc)); break;
    case 17: CHECK_FAILS(vsn_queue_setup(d, 0, NULL)); break;
    case 18:
        qc.struct_size = fz_u8(&f->in) % 8;
        CHECK_FAILS(vsn_queue_setup(d, 0, &qc));
        break;
    case 19:
        if (pipe2(pipefd, O_CLOEXEC) == 0) {
            qc.kick_fd = (c & 0x40) ? pipefd[0] : 1000000;
            if (!f->running) CHECK_FAILS(vsn_queue_setup(d, 1, &qc));
            close(pipefd[0]);
            close(pipefd[1]);
            f->set_up = false; /* a failed setup may leave the queue unset */
        }
        break;
    case 20:
        qc.size = (c & 0x40) ? 3 : 65536;
        if (!f->running) CHECK_FAILS(vsn_queue_setup(d, 0, &qc));
        f->set_up = false;
        break;
    case 21: CHECK_FAILS(vsn_queue_set_base(d, 5 + fz_u8(&f->in), 0)); break;
    case 22: CHECK_FAILS(vsn_queue_get_base(d, 0, NULL)); break;
    case 23: CHECK_FAILS(vsn_queue_get_base(d, 5 + fz_u8(&f->in), &u16)); break;
    case 24: CHECK_FAILS(vsn_queue_notify(d, 5 + fz_u32(&f->in) % 1000)); break;
    case 25: CHECK_FAILS(vsn_queue_notify(bogus, 0)); break;
    case 26: CHECK_FAILS(vsn_device_start(bogus)); break;
    case 27: CHECK_FAILS(vsn_device_stop(bogus)); break;
    case 28: CHECK_FAILS(vsn_device_poll(bogus, 0)); break;
    case 29: CHECK_FAILS(vsn_device_transport_reset(bogus)); break;
    case 30: CHECK_FAILS(vsn_device_listen(d, ports[c & 7], VSN_VIRTIO_VSOCK_TYPE_STREAM, NULL, NULL)); break;
    case 31: CHECK_FAILS(vsn_device_listen(d, 7, 4 + fz_u8(&f->in), on_accept, f)); break;
    case 32: CHECK_FAILS(vsn_device_connect(d, 7, VSN_VIRTIO_VSOCK_TYPE_STREAM, NULL)); break;
    case 33: CHECK_FAILS(vsn_device_connect(d, 7, 4 + fz_u8(&f->in), &fd)); break;
    case 34: CHECK_FAILS(vsn_device_connect_from(d, 7, VSN_VIRTIO_VSOCK_TYPE_DGRAM, 4, 1, -1)); break;
    case 35: {
        static const uint64_t cids[] = { 0, 1, 2, GUEST_CID, 0xffffffffull, 1ull << 40 };
        CHECK_FAILS(vsn_device_connect_from(d, 7, VSN_VIRTIO_VSOCK_TYPE_STREAM, cids[fz_u8(&f->in) % 6], 1, 1000000));
        break;
    }
    case 36: CHECK_FAILS(vsn_queue_get_counters(d, 0, NULL)); break;
    case 37:
        qcn.struct_size = fz_u8(&f->in) % 8;
        CHECK_FAILS(vsn_queue_get_counters(d, (c & 0x40) ? 0 : 5 + fz_u8(&f->in), &qcn));
        break;
    case 38:
        dc.struct_size = fz_u8(&f->in) % 8;
        CHECK_FAILS(vsn_device_get_counters((c & 0x40) ? d : bogus, &dc));
        break;
    default: CHECK_FAILS(vsn_device_get_connections(d, NULL, 1 + fz_u8(&f->in), sizeof(vsn_connection_info), &u32)); break;
    }
    if (!f->set_up && !f->running) {
        /* A bad call may have left half a setup: a driver would reset and set up again. */
        CHECK_RC(vsn_device_reset(d));
        memset(f->conn, 0, sizeof f->conn);
        session_setup(f, fz_u8(&f->in));
    }
}

/* vsn_device_create with a config from the input: accepted or -errno; destroyed twice. */
static void op_create(fz *f)
{
    vsn_device_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = fz_u8(&f->in) < 200 ? sizeof cfg : fz_u8(&f->in) % (sizeof cfg + 1);
    cfg.flags = fz_u8(&f->in) < 200 ? VSN_DEVICE_F_MANUAL_POLL : fz_u32(&f->in);
    cfg.flags |= VSN_DEVICE_F_MANUAL_POLL; /* no threads: a started device here is never started */
    cfg.guest_cid = fz_u8(&f->in) < 200 ? 3 + fz_u8(&f->in) : fz_u64(&f->in);
    cfg.features = fz_u8(&f->in) < 128 ? 0 : fz_u64(&f->in);
    cfg.log_fn = on_log;
    cfg.log_level = (int32_t)(fz_u8(&f->in) % 6) - 1;
    cfg.reserved0 = fz_u8(&f->in) < 250 ? 0 : fz_u32(&f->in);
    cfg.buf_alloc = fz_u8(&f->in) < 128 ? 0 : fz_u32(&f->in);
    cfg.max_connections = fz_u8(&f->in) < 128 ? 0 : fz_u32(&f->in);
    cfg.dgram_layout = fz_u8(&f->in) < 200 ? fz_u8(&f->in) % 2 : fz_u32(&f->in);
    cfg.max_dgram_sockets = fz_u8(&f->in) < 128 ? 0 : fz_u32(&f->in);
    cfg.reserved1 = fz_u8(&f->in) < 250 ? 0 : fz_u32(&f->in);
    vsn_device *x = NULL;
    if (CHECK_RC(vsn_device_create(&cfg, &x)) == 0) {
        FZ_CHECK(x != NULL, "vsn_device_create succeeded without a device");
        FZ_CHECK(vsn_device_destroy(x) == 0, "vsn_device_destroy of a new device failed");
        FZ_CHECK(vsn_device_destroy(x) == -EBADF, "the second vsn_device_destroy did not return -EBADF");
    } else {
        FZ_CHECK(x == NULL, "a failed vsn_device_create wrote its out argument");
    }
}

static void op_router(fz *f)
{
    uint8_t c = fz_u8(&f->in);
    f->router_rc = (c & 1) ? -ECONNREFUSED : 0;
    CHECK_RC(vsn_device_set_router(f->dev, (c & 2) ? NULL : on_route, f));
    if (c & 4) { /* a program's socket connected to this guest, as a sibling would */
        int sv[2];
        if (socketpair(AF_UNIX, ((c & 8) ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0) {
            uint32_t type = (c & 0x10) ? VSN_VIRTIO_VSOCK_TYPE_SEQPACKET : VSN_VIRTIO_VSOCK_TYPE_STREAM;
            if (CHECK_RC(vsn_device_connect_from(f->dev, ports[(c >> 5) & 7], type, 4, 1000 + (c >> 5), sv[0])) < 0)
                close(sv[0]);
            host_add(f, sv[1]);
        }
    }
}

/* The rings the device was given for queue i (the requeued ones, or the simulator's): gpa and
 * length of its descriptor table, avail ring and used ring. */
enum { RING_DESC, RING_AVAIL, RING_USED };
FZ_NOCOV static void device_rings(const fz *f, uint32_t i, uint64_t r[3][2])
{
    uint64_t n, desc, avail, used;
    if (f->q[i].requeued) {
        n = f->q[i].dev_size > 32768 ? 32768 : f->q[i].dev_size;
        desc = f->q[i].dev_desc, avail = f->q[i].dev_avail, used = f->q[i].dev_used;
    } else {
        vsn_sim_queue_layout m;
        vsn_sim_queue_layout_get(f->q[i].q, &m);
        n = m.queue_size, desc = m.desc_gpa, avail = m.avail_gpa, used = m.used_gpa;
    }
    r[RING_DESC][0] = desc, r[RING_DESC][1] = 16 * n;
    r[RING_AVAIL][0] = avail, r[RING_AVAIL][1] = 6 + 2 * n;
    r[RING_USED][0] = used, r[RING_USED][1] = 6 + 8 * n;
}

static bool ranges_overlap(const uint64_t a[2], const uint64_t b[2]) { return a[0] < b[0] + b[1] && b[0] < a[0] + a[1]; }

/* Does a descriptor table the device walks lie over a used ring it writes? */
FZ_NOCOV static bool tables_over_used_rings(const fz *f)
{
    for (uint32_t i = 0; i < f->nq; i++) {
        if (f->q[i].q == NULL) continue;
        uint64_t mine[3][2];
        device_rings(f, i, mine);
        for (uint32_t j = 0; j < f->nq; j++) {
            uint64_t theirs[3][2];
            if (f->q[j].q == NULL) continue;
            device_rings(f, j, theirs);
            if (ranges_overlap(mine[RING_DESC], theirs[RING_USED])) return true;
        }
    }
    return false;
}

/* A queue set up again while stopped, with addresses or sizes from the input. */
static void op_requeue(fz *f)
{
    uint8_t c = fz_u8(&f->in);
    if (f->running || f->nq == 0 || f->q[c % f->nq].q == NULL) return;
    uint32_t i = c % f->nq;
    vsn_queue_config qc = vsn_sim_bind_queue(f->q[i].q, -1, -1);
    qc.interrupt_fn = on_irq;
    qc.interrupt_user = f;
    switch ((c >> 3) & 3) {
    case 0: qc.desc_addr += fz_u16(&f->in); break;
    case 1: qc.avail_addr = fz_u64(&f->in); break;
    case 2: qc.used_addr += fz_u16(&f->in); break;
    default: qc.size = fz_u32(&f->in); break;
    }
    if (CHECK_RC(vsn_queue_setup(f->dev, i, &qc)) == 0) {
        if (logging)
            fprintf(stderr, "queue %u set up again: size %u, desc 0x%llx, avail 0x%llx, used 0x%llx\n", i, qc.size,
                    (unsigned long long)qc.desc_addr, (unsigned long long)qc.avail_addr, (unsigned long long)qc.used_addr);
        /* The device now reads rings the simulator does not keep: its reaps are not checked. Nor are
         * those of a queue whose rings the new ones overlap: the device publishes this queue's used
         * entries there, or takes its chains from there (the VMM's mistake, not the device's). */
        f->q[i].tainted = true;
        f->q[i].requeued = true;
        f->q[i].dev_size = qc.size;
        f->q[i].dev_desc = qc.desc_addr;
        f->q[i].dev_avail = qc.avail_addr;
        f->q[i].dev_used = qc.used_addr;
        uint64_t mine[3][2];
        device_rings(f, i, mine);
        for (uint32_t j = 0; j < f->nq; j++) {
            if (j == i || f->q[j].q == NULL) continue;
            uint64_t theirs[3][2];
            device_rings(f, j, theirs);
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++)
                    if (ranges_overlap(mine[a], theirs[b])) f->q[j].tainted = true;
        }
        mask_range(f, mine[RING_USED][0], mine[RING_USED][1]);
        if (!f->blind && tables_over_used_rings(f)) {
            f->blind = true;
            if (logging) fprintf(stderr, "a descriptor table lies over a used ring: the device's writes are not checked any more\n");
        }
    }
}

/* The snapshot blob is input from the VMM: the device's own blob (saved once stopped; -EBUSY while
 * it runs), cut short and/or with bytes overwritten by the input, restored into a new device made
 * like this one, with or without the guest's memory table: 0 or -EINVAL, never another result,
 * never a crash; the new device is destroyed again (the session goes on with the old one). */
static void op_snapshot(fz *f)
{
    uint8_t c = fz_u8(&f->in);
    size_t size = 0;
    int32_t rc = CHECK_RC(vsn_device_save_state(f->dev, NULL, 0, &size));
    if (f->running) {
        FZ_CHECK(rc == -EBUSY || rc == -EINVAL, "vsn_device_save_state of a running device returned %d", rc);
        return;
    }
    if (rc < 0 || size == 0 || size > (1u << 20)) return;
    uint8_t *blob = malloc(size);
    if (blob == NULL) return;
    size_t got = 0;
    if (CHECK_RC(vsn_device_save_state(f->dev, blob, size, &got)) == 0 && got == size) {
        size_t len = got;
        if (c & 1) len = fz_u16(&f->in) % (got + 1);
        if (c & 2)
            for (unsigned k = fz_u8(&f->in) % 8 + 1; k > 0; k--) blob[fz_u16(&f->in) % got] = fz_u8(&f->in);
        vsn_device *x = NULL;
        if (CHECK_RC(vsn_device_create(&f->cfg, &x)) == 0) {
            if (!(c & 4)) {
                vsn_mem_region regions[MAX_REGIONS];
                uint32_t n = vsn_sim_bind_regions(f->mem, regions, MAX_REGIONS);
                CHECK_RC(vsn_device_set_mem_table(x, regions, n));
            }
            rc = CHECK_RC(vsn_device_restore_state(x, blob, len));
            FZ_CHECK(rc == 0 || rc == -EINVAL, "vsn_device_restore_state returned %d, not 0 or -EINVAL", rc);
            FZ_CHECK(vsn_device_destroy(x) == 0, "vsn_device_destroy of a restored device failed");
        }
    } else {
        FZ_CHECK(got == size, "the blob's size changed between two saves of a stopped device (%zu, %zu)", size, got);
    }
    free(blob);
}

/* ---- the op table: FZ_OP_SLOTS slots, the input's byte % FZ_OP_SLOTS picks one; empty slots are
 * no-ops, so a new op goes into a free slot without changing what committed inputs mean. ---- */

#define FZ_OP_SLOTS 32
typedef void (*fz_op_fn)(fz *f);
/* QUIET: the op plays the driver only and calls no export, so the device cannot write guest memory
 * during it: the look at guest memory waits until the device may run again (device_may_run). */
#define QUIET true
#define DEVICE false
static const struct {
    const char *name;
    fz_op_fn fn;
    bool quiet;
} ops[FZ_OP_SLOTS] = {
    [0] = { "tx", op_tx, QUIET },             [1] = { "rx", op_rx, QUIET },
    [2] = { "bad_chain", op_bad, QUIET },     [3] = { "raw_ring", op_raw, QUIET },
    [4] = { "kick", op_kick, DEVICE },        [5] = { "poll", op_poll, DEVICE },
    [6] = { "host_io", op_host_io, QUIET },    [7] = { "listen", op_listen, DEVICE },
    [8] = { "connect", op_connect, DEVICE },  [9] = { "stop_start", op_stop_start, DEVICE },
    [10] = { "reset", op_reset, DEVICE },     [11] = { "transport_reset", op_transport_reset, DEVICE },
    [12] = { "getters", op_getters, DEVICE }, [13] = { "bad_args", op_bad_args, DEVICE },
    [14] = { "create", op_create, DEVICE },   [15] = { "router", op_router, DEVICE },
    [16] = { "requeue", op_requeue, DEVICE },
    /* the common ones again, so they are picked more often */
    [17] = { "tx", op_tx, QUIET },            [18] = { "poll", op_poll, DEVICE },
    [19] = { "rx", op_rx, QUIET },            [20] = { "kick", op_kick, DEVICE },
    [21] = { "tx", op_tx, QUIET },            [22] = { "poll", op_poll, DEVICE },
    [23] = { "snapshot", op_snapshot, DEVICE },
    /* 24..31: free */
};

/* ---- one input ------------------------------------------------------------------------------- */


static bool session_open(fz *f)
{
    vsn_sim_region_spec spec[MAX_REGIONS];
    vsn_sim_mem_config mc = mem_layout(fz_u8(&f->in), spec);
    if (mem_get(&mc, &f->mem) != 0) return false;
    uint32_t count;
    const vsn_sim_region *r = vsn_sim_mem_regions(f->mem, &count);
    f->nregions = count;
    static uint64_t shadow[MAX_REGIONS][REGION_MAX / 8], mask[MAX_REGIONS][REGION_MAX / 8];
    for (uint32_t i = 0; i < count; i++) {
        if (r[i].size > REGION_MAX) return false;
        f->shadow[i] = (uint8_t *)shadow[i];
        f->mask[i] = (uint8_t *)mask[i];
        memset(f->mask[i], 0, r[i].size);
    }
    shadow_sync(f);
    /* The device: small buffers (credit runs out), few connections. */
    uint8_t d = fz_u8(&f->in);
    static const uint32_t bufs[] = { 0, 4096, 65536, 1 };
    vsn_device_config cfg = {
        .struct_size = sizeof cfg, .flags = VSN_DEVICE_F_MANUAL_POLL, .guest_cid = GUEST_CID,
        .log_fn = on_log, .log_level = logging ? VSN_LOG_DEBUG : VSN_LOG_ERROR,
        .buf_alloc = bufs[d & 3], .max_connections = (d & 4) ? 2 : 0,
        .dgram_layout = (d & 8) ? VSN_DGRAM_LAYOUT_SEPARATE : VSN_DGRAM_LAYOUT_SHARED,
    };
    if (CHECK_RC(vsn_device_create(&cfg, &f->dev)) < 0) return false;
    f->cfg = cfg;
    uint64_t offered = 0;
    CHECK_RC(vsn_device_get_features(f->dev, &offered));
    /* Driver features: VERSION_1 (mostly), and what the input picks of the rest. */
    uint8_t feat = fz_u8(&f->in);
    f->features = offered & (((uint64_t)(feat & 0x0f)) | ((uint64_t)(feat & 0x30) << 24) | ((feat & 0x40) ? 0 : 1ull << VSN_VIRTIO_F_VERSION_1));
    f->nq = (d & 8) ? 5 : 3;
    session_setup(f, fz_u8(&f->in));
    return true;
}

static void session_close(fz *f)
{
    vsn_device_counters d = { .struct_size = sizeof d };
    if (logging && f->dev != NULL && vsn_device_get_counters(f->dev, &d) == 0)
        fprintf(stderr, "session: tx %llu (malformed %llu), rx %llu, kicks %llu, opened %llu, closed %llu, no listener %llu, "
                "bytes to host %llu, to guest %llu, irqs %llu\n",
                (unsigned long long)d.values.tx_packets, (unsigned long long)d.values.tx_malformed,
                (unsigned long long)d.values.rx_packets, (unsigned long long)d.values.kicks,
                (unsigned long long)d.connections.connections_opened, (unsigned long long)d.connections.connections_closed,
                (unsigned long long)d.connections.refused_no_listener, (unsigned long long)d.ended_connections.bytes_to_host,
                (unsigned long long)d.ended_connections.bytes_to_guest, (unsigned long long)f->irqs);
    if (f->dev != NULL) FZ_CHECK(vsn_device_destroy(f->dev) == 0, "vsn_device_destroy failed");
    queues_destroy(f);
    for (unsigned i = 0; i < f->nhost; i++) close(f->host_fd[i]);
    mem_put(&f->mem);
}

static int fds_before = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fz f;
    memset(&f, 0, sizeof f);
    for (uint32_t i = 0; i < MAXQ; i++) f.q[i].kick_fd = -1;
    f.in = (fz_in){ data, size };
    if (session_open(&f)) {
        while (!fz_done(&f.in)) {
            uint8_t op = fz_u8(&f.in) % FZ_OP_SLOTS;
            if (ops[op].fn == NULL) continue;
            if (logging) fprintf(stderr, "op %s\n", ops[op].name);
            if (!ops[op].quiet) device_may_run(&f);
            f.quiet = ops[op].quiet;
            ops[op].fn(&f);
            if (!f.quiet) shadow_check(&f); /* the device's writes during the op */
        }
        /* The end of the input: whatever is still owed comes back and adds up. */
        if (f.running) {
            device_may_run(&f);
            vsn_device_poll(f.dev, 0);
            stray_write(&f, STRAY_POLL);
            shadow_check(&f);
            reap_all(&f);
        }
        counters_check(&f);
    }
    session_close(&f);
    if (fds_before < 0) return 0; /* the warm-up */
    int fds_after = fz_count_fds_settled(NULL, 0, fds_before); /* bad_args's pipes are closed at once */
    if (fds_after != fds_before) fz_dump_fds();
    FZ_CHECK(fds_after == fds_before, "%d fds open after the input, %d before", fds_after, fds_before);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    logging = getenv("ABIFZ_LOG") != NULL;
    mem_pool_fill();
    vsn_set_log_callback(on_log, NULL, logging ? VSN_LOG_DEBUG : VSN_LOG_ERROR);
    /* A warm-up session first: the .NET runtime opens files of its own (/dev/urandom, ...) the
     * first time a device is made; the fd count of every input is compared with the count after. */
    static const uint8_t warm[] = { 0, 0, 0x30, 0x11, 1, 0, 0, 5, 0, 7, 0, 1, 8, 2, 1, 5, 0, 9, 0, 9, 0 };
    LLVMFuzzerTestOneInput(warm, sizeof warm);
    fds_before = fz_count_fds(NULL, 0);
    const char *stray_at = getenv("ABIFZ_STRAY"); /* after the warm-up: the inputs are tested */
    stray = stray_at == NULL ? STRAY_NONE : strcmp(stray_at, "poll") == 0 ? STRAY_POLL : STRAY_KICK;
    return 0;
}
