/*
 * vsn_sim.h — driver simulator: plays the GUEST's virtio driver for split virtqueues.
 *
 * The simulator lays out real split rings (virtio 1.2 §2.7) in simulated guest memory, builds
 * descriptor chains the way a guest driver would (and, on request, the malformed ones a hostile
 * guest would), publishes them, decides kicks like Linux's virtqueue_kick_prepare(), reaps the
 * used ring and checks the device's interrupt behaviour.  The device under test only sees the
 * region table (vsn_sim_mem_regions()) and the ring addresses (vsn_sim_queue_layout()).
 *
 * Conventions
 *  - One prefix, vsn_sim_.  Every function that can fail returns 0 (or a documented positive
 *    value) on success and a negative vsn_sim_err code on failure; codes are distinct per
 *    failure path and vsn_sim_strerror() names them.  A notifier's own negative return value is
 *    passed through unchanged by vsn_sim_queue_kick(); keep notifier errors in the errno range
 *    (-1 .. -4095) so they never collide with vsn_sim_err (all below -4095).
 *  - Validate, then assign: a call that fails leaves the object unchanged unless stated.
 *  - Ring fields are little-endian in guest memory; all values crossing this API are host order.
 *  - Thread rules: an object (memory, queue) is used by one driver thread at a time.  The
 *    device under test may run concurrently on another thread; all ring-index and event-field
 *    accesses use atomics/fences as the spec requires.
 *  - No global mutable state.
 */
#ifndef VSN_SIM_H
#define VSN_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_ring.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                     */
/* ---------------------------------------------------------------------------------------- */

/** Failure codes; all negative and below -4095 so they never collide with -errno. */
typedef enum vsn_sim_err {
    VSN_SIM_OK = 0,
    VSN_SIM_E_ARG = -5000,          /**< NULL pointer or a field outside its documented range */
    VSN_SIM_E_STRUCT_SIZE,          /**< struct_size field smaller than the known struct */
    VSN_SIM_E_NOMEM,                /**< host allocation (malloc/mmap) failed */
    VSN_SIM_E_REGION_COUNT,         /**< region count is 0 or above VSN_SIM_MAX_REGIONS */
    VSN_SIM_E_REGION_SIZE,          /**< region size is 0 or above VSN_SIM_REGION_MAX */
    VSN_SIM_E_REGION_WRAP,          /**< region gpa + size wraps past 2^64 */
    VSN_SIM_E_REGION_OVERLAP,       /**< two regions overlap in guest-physical space */
    VSN_SIM_E_RANGE_WRAP,           /**< gpa + len wraps past 2^64 */
    VSN_SIM_E_UNMAPPED,             /**< a byte of [gpa, gpa+len) is in no region */
    VSN_SIM_E_DISCONTIG,            /**< range is mapped but crosses a region boundary */
    VSN_SIM_E_HVA_UNMAPPED,         /**< host pointer is not inside any region */
    VSN_SIM_E_ALIGN,                /**< alignment is 0, not a power of two, or above 4096 */
    VSN_SIM_E_NO_SPACE,             /**< the bump allocator has no room left */
    VSN_SIM_E_NO_BOUNDARY,          /**< no free region boundary fits a straddling buffer */
    VSN_SIM_E_STRADDLE_LEN,         /**< straddling buffer shorter than 2 bytes */
    VSN_SIM_E_NO_GAP,               /**< memory has no gap between regions */
    VSN_SIM_E_NO_OUTSIDE,           /**< no guest-physical address lies above all regions */
    VSN_SIM_E_QUEUE_SIZE,           /**< queue size not a power of two in 1..32768 */
    VSN_SIM_E_FEATURE,              /**< operation needs a ring feature that is not enabled */
    VSN_SIM_E_NO_DESC,              /**< not enough free descriptors */
    VSN_SIM_E_CHAIN_EMPTY,          /**< a chain needs at least one buffer */
    VSN_SIM_E_CHAIN_TOO_LONG,       /**< chain has more buffers than the queue size */
    VSN_SIM_E_CHAIN_ORDER,          /**< device-readable buffer after a device-writable one */
    VSN_SIM_E_CHAIN_BYTES,          /**< chain total exceeds 2^32 - 1 bytes */
    VSN_SIM_E_HDR_SPLIT,            /**< header split point beyond the header length */
    VSN_SIM_E_PIECES,               /**< piece count 0, above VSN_SIM_MAX_PIECES, or > bytes */
    VSN_SIM_E_PIECE_SIZES,          /**< explicit piece sizes do not sum to the length */
    VSN_SIM_E_STRADDLE_MASK,        /**< straddle mask names a missing or 1-byte descriptor */
    VSN_SIM_E_BROKEN,               /**< queue saw a device error earlier; it is unusable */
    VSN_SIM_E_USED_IDX_JUMP,        /**< used idx moved by more than the chains in flight */
    VSN_SIM_E_USED_ID,              /**< used id out of range or not a chain in flight */
    VSN_SIM_E_USED_LEN,             /**< used len larger than the chain's writable bytes */
    VSN_SIM_E_IRQ_NO_WINDOW,        /**< irq check without vsn_sim_queue_irq_window_begin() */
    VSN_SIM_E_IRQ_MISSED,           /**< the device owed an interrupt and sent none */
    VSN_SIM_E_IRQ_COUNT,            /**< interrupt counter went backwards */
    VSN_SIM_E_BAD_KIND,             /**< unknown malformed-chain kind */
    VSN_SIM_E_NOTHING_TO_RESTORE,   /**< avail idx was not corrupted */
} vsn_sim_err;

/** Returns a static, human-readable name for a vsn_sim_err (or "errno n" / "unknown"). */
const char *vsn_sim_strerror(int err);

/* ---------------------------------------------------------------------------------------- */
/* Guest memory                                                                               */
/* ---------------------------------------------------------------------------------------- */

#define VSN_SIM_MAX_REGIONS 64u
#define VSN_SIM_REGION_MAX (1ull << 30) /**< largest single region (1 GiB) */

/** One region of the table handed to the device: guest-physical base, size, host pointer. */
typedef struct vsn_sim_region {
    uint64_t gpa;
    uint64_t size;
    void *hva;
} vsn_sim_region;

/** A region the caller asks for: guest-physical base and size in bytes. */
typedef struct vsn_sim_region_spec {
    uint64_t gpa;
    uint64_t size;
} vsn_sim_region_spec;

/** Memory configuration; struct_size first so the struct can grow. */
typedef struct vsn_sim_mem_config {
    uint32_t struct_size;               /**< sizeof(vsn_sim_mem_config) */
    uint32_t nregions;                  /**< 1..VSN_SIM_MAX_REGIONS */
    const vsn_sim_region_spec *regions; /**< any order; must not overlap */
    /** Bytes kept out of ordinary allocation at each side of a region that touches a
     *  GPA-adjacent neighbour, reserved for buffers that straddle that boundary. */
    uint64_t straddle_reserve;
    uint32_t flags;                     /**< VSN_SIM_MEM_F_*; a smaller struct_size means 0 */
    const char *memfd_name;             /**< with VSN_SIM_MEM_F_MEMFD: the memfd's name (NULL: "vsn_sim") */
} vsn_sim_mem_config;

/** Each region is a memfd mapped MAP_SHARED (guard pages as ever), so another process can map the
 *  same guest memory: vsn_sim_mem_region_fd() gives what vhost-user SET_MEM_TABLE sends. */
#define VSN_SIM_MEM_F_MEMFD 0x1u

/** The struct_size of a vsn_sim_mem_config without flags and memfd_name (still accepted). */
#define VSN_SIM_MEM_CONFIG_SIZE_V1 ((uint32_t)offsetof(vsn_sim_mem_config, flags))

/** Opaque simulated guest memory. */
typedef struct vsn_sim_mem vsn_sim_mem;

/** Allocator state snapshot for vsn_sim_mem_mark_get()/vsn_sim_mem_mark_release(). */
typedef struct vsn_sim_mem_mark {
    uint64_t lo[VSN_SIM_MAX_REGIONS];
    uint64_t straddled; /**< bit i: boundary after sorted region i is taken */
} vsn_sim_mem_mark;

/**
 * Creates guest memory.  Each region is a separate anonymous mapping with PROT_NONE guard pages
 * on both sides, so regions adjacent in GPA are never adjacent in host VA and an overrun faults.
 * hva % 64 == gpa % 64 for every region, so GPA alignment up to 64 carries over to the host.
 * @param cfg  configuration (validated as a whole before anything is allocated)
 * @param out  receives the handle; untouched on failure
 * @return 0, or VSN_SIM_E_ARG/STRUCT_SIZE/REGION_COUNT/REGION_SIZE/REGION_WRAP/REGION_OVERLAP/NOMEM
 */
int vsn_sim_mem_create(const vsn_sim_mem_config *cfg, vsn_sim_mem **out);

/**
 * The file behind region i (sorted order, as vsn_sim_mem_regions()) of a VSN_SIM_MEM_F_MEMFD
 * memory: its fd (owned by the memory; closed by vsn_sim_mem_destroy) and the file offset of the
 * region's first byte (vhost-user's mmap_offset).  The file holds at least *offset + size bytes.
 * @return 0, VSN_SIM_E_ARG (i out of range) or VSN_SIM_E_FEATURE (memory not memfd-backed)
 */
int vsn_sim_mem_region_fd(const vsn_sim_mem *mem, uint32_t i, int *fd, uint64_t *offset);

/** Unmaps all regions and frees the handle; sets *mem to NULL.  Safe to call twice / on NULL. */
void vsn_sim_mem_destroy(vsn_sim_mem **mem);

/**
 * Returns the region table, sorted by ascending gpa: this is what the device receives.
 * @param count receives the number of regions (may be NULL)
 */
const vsn_sim_region *vsn_sim_mem_regions(const vsn_sim_mem *mem, uint32_t *count);

/**
 * Driver-side translation of a guest range that must lie inside ONE region.
 * @return 0 and *hva set, VSN_SIM_E_RANGE_WRAP, VSN_SIM_E_UNMAPPED, or VSN_SIM_E_DISCONTIG
 *         (mapped, but crossing into an adjacent region)
 */
int vsn_sim_mem_gpa_to_hva(const vsn_sim_mem *mem, uint64_t gpa, uint64_t len, void **hva);

/** Reverse translation of a host pointer inside a region.  @return 0 or VSN_SIM_E_HVA_UNMAPPED */
int vsn_sim_mem_hva_to_gpa(const vsn_sim_mem *mem, const void *hva, uint64_t *gpa);

/** Copies len bytes into guest memory at gpa; the range may span GPA-adjacent regions.
 *  @return 0, VSN_SIM_E_RANGE_WRAP or VSN_SIM_E_UNMAPPED (nothing written in that case) */
int vsn_sim_mem_write(vsn_sim_mem *mem, uint64_t gpa, const void *src, uint64_t len);

/** Copies len bytes out of guest memory at gpa; the range may span GPA-adjacent regions.
 *  @return 0, VSN_SIM_E_RANGE_WRAP or VSN_SIM_E_UNMAPPED */
int vsn_sim_mem_read(const vsn_sim_mem *mem, uint64_t gpa, void *dst, uint64_t len);

/** Fills len bytes at gpa with byte; same rules as vsn_sim_mem_write(). */
int vsn_sim_mem_fill(vsn_sim_mem *mem, uint64_t gpa, int byte, uint64_t len);

/**
 * Bump-allocates len bytes (GPA-aligned to align, a power of two <= 4096) inside a single
 * region, trying regions in ascending GPA order.  Memory is not cleared.
 * @return 0 and *gpa, or VSN_SIM_E_ARG (len 0), VSN_SIM_E_ALIGN, VSN_SIM_E_NO_SPACE
 */
int vsn_sim_mem_alloc(vsn_sim_mem *mem, uint64_t len, uint64_t align, uint64_t *gpa);

/**
 * Allocates len bytes that straddle a boundary between two GPA-adjacent regions: `before`
 * bytes at the end of the lower region and len - before at the start of the upper one
 * (before == 0 means len / 2).  Uses the straddle reserve; one buffer per boundary until the
 * next release/reset.  The device must split such a buffer into two host segments.
 * @return 0 and *gpa, or VSN_SIM_E_STRADDLE_LEN (len < 2), VSN_SIM_E_ARG (before >= len),
 *         VSN_SIM_E_NO_BOUNDARY
 */
int vsn_sim_mem_alloc_straddle(vsn_sim_mem *mem, uint64_t len, uint64_t before, uint64_t *gpa);

/** Saves the allocator state (cursors and taken boundaries) into *mark. */
void vsn_sim_mem_mark_get(const vsn_sim_mem *mem, vsn_sim_mem_mark *mark);

/** Rolls the allocator back to *mark: everything allocated since is free again.  The caller
 *  guarantees no in-flight chain still uses that memory. */
void vsn_sim_mem_mark_release(vsn_sim_mem *mem, const vsn_sim_mem_mark *mark);

/** Frees every allocation (rings included!).  Only for callers that own all users. */
void vsn_sim_mem_reset(vsn_sim_mem *mem);

/** Returns in *gpa the first guest-physical address of a gap between two regions.
 *  @return 0 or VSN_SIM_E_NO_GAP */
int vsn_sim_mem_gap_gpa(const vsn_sim_mem *mem, uint64_t *gpa);

/** Returns in *gpa an address above every region (end of the highest region, page aligned up).
 *  @return 0 or VSN_SIM_E_NO_OUTSIDE */
int vsn_sim_mem_outside_gpa(const vsn_sim_mem *mem, uint64_t *gpa);

/* ---------------------------------------------------------------------------------------- */
/* Queue                                                                                      */
/* ---------------------------------------------------------------------------------------- */

#define VSN_SIM_MAX_QUEUE_SIZE 32768u
#define VSN_SIM_MAX_PIECES 256u /**< payload/rx pieces per chain built by the helpers */

/** Feature bits as ring features: VSN_SIM_FEAT(VIRTIO_RING_F_EVENT_IDX) etc. */
#define VSN_SIM_FEAT(bit) (1ull << (bit))

/** Available-buffer notifier ("kick"): an eventfd write, a direct device call, ... .
 *  Return 0 or a negative errno; the value is passed back by vsn_sim_queue_kick(). */
typedef int (*vsn_sim_notify_fn)(void *user, uint16_t queue_index);

/** Queue configuration; struct_size first. */
typedef struct vsn_sim_queue_config {
    uint32_t struct_size;       /**< sizeof(vsn_sim_queue_config) */
    uint16_t queue_size;        /**< power of two, 1..32768 */
    uint16_t queue_index;       /**< passed to the notifier */
    uint64_t features;          /**< VSN_SIM_FEAT(VIRTIO_RING_F_EVENT_IDX | _INDIRECT_DESC) */
    vsn_sim_notify_fn notify;   /**< may be NULL: kicks are then only counted */
    void *notify_user;
} vsn_sim_queue_config;

/** Opaque simulated driver queue. */
typedef struct vsn_sim_queue vsn_sim_queue;

/** Where the rings live; what the device is told. */
typedef struct vsn_sim_queue_layout {
    uint16_t queue_size;
    uint64_t features;
    uint64_t desc_gpa;  /**< 16-aligned, 16 * size bytes */
    uint64_t avail_gpa; /**< 2-aligned, 6 + 2 * size bytes (used_event last) */
    uint64_t used_gpa;  /**< 4-aligned, 6 + 8 * size bytes (avail_event last) */
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
} vsn_sim_queue_layout;

/** Driver counters. */
typedef struct vsn_sim_queue_stats {
    uint64_t chains_added;
    uint64_t chains_reaped;
    uint64_t bad_chains_added;
    uint64_t kicks_sent;
    uint64_t kicks_suppressed;
    uint32_t in_flight;
    uint32_t free_descs;
} vsn_sim_queue_stats;

/**
 * Creates a queue: allocates and zeroes the descriptor table, avail ring and used ring from
 * mem (each inside one region), and puts every descriptor on the free list.
 * @return 0, or VSN_SIM_E_ARG/STRUCT_SIZE/QUEUE_SIZE/NOMEM/NO_SPACE
 */
int vsn_sim_queue_create(vsn_sim_mem *mem, const vsn_sim_queue_config *cfg, vsn_sim_queue **out);

/** Frees the queue's host bookkeeping (ring memory stays in mem); sets *q = NULL.  Idempotent. */
void vsn_sim_queue_destroy(vsn_sim_queue **q);

/** Fills *out with ring addresses, host pointers, size and features. */
void vsn_sim_queue_layout_get(const vsn_sim_queue *q, vsn_sim_queue_layout *out);

/** Fills *out with the driver counters. */
void vsn_sim_queue_stats_get(const vsn_sim_queue *q, vsn_sim_queue_stats *out);

/** The memory a queue was created on. */
vsn_sim_mem *vsn_sim_queue_mem(const vsn_sim_queue *q);

/** One buffer element of a chain (guest address, length, device-writable or not). */
typedef struct vsn_sim_buf {
    uint64_t gpa;
    uint32_t len;
    bool writable;
} vsn_sim_buf;

/* Flags for vsn_sim_queue_add_bufs() and vsn_sim_layout.flags. */
#define VSN_SIM_F_INDIRECT 0x1u        /**< one ring descriptor pointing to an indirect table */
#define VSN_SIM_F_STRADDLE_TABLE 0x2u  /**< the indirect table itself straddles a boundary,
                                            cutting one table entry in two */
/** With VSN_SIM_F_INDIRECT: the first k buffers go in direct ring descriptors, the rest in an
 *  indirect table referenced by the last ring descriptor (spec: "zero or more normal chained
 *  descriptors followed by a single descriptor with INDIRECT", §2.7.5.3.2).  k < n. */
#define VSN_SIM_F_DIRECT_PREFIX(k) (((uint32_t)(k) & 0xffffu) << 8)
#define VSN_SIM_F_PREFIX_OF(flags) (((uint32_t)(flags) >> 8) & 0xffffu)

/**
 * Adds one well-formed chain: readable buffers first, then writable ones.  Direct chains take
 * n descriptors; indirect chains take one and place a 16-aligned table in guest memory.
 * The chain is published at once (descriptors, avail entry, release barrier, avail idx), as
 * Linux does; call vsn_sim_queue_kick() afterwards.
 * @param token  opaque value returned by vsn_sim_queue_reap() for this chain
 * @param head   receives the head descriptor id
 * @return 0, or VSN_SIM_E_ARG/BROKEN/CHAIN_EMPTY/CHAIN_TOO_LONG/CHAIN_ORDER/CHAIN_BYTES/FEATURE/
 *         NO_DESC/NO_SPACE/NO_BOUNDARY/UNMAPPED
 */
int vsn_sim_queue_add_bufs(vsn_sim_queue *q, const vsn_sim_buf *bufs, uint32_t n, uint32_t flags,
                           uint64_t token, uint16_t *head);

/**
 * How the tx/rx helpers cut bytes into descriptors.
 *
 * hdr_split (tx only), for a header of hdr_len bytes:
 *   0 < k < hdr_len : header in two descriptors, [0,k) and [k,hdr_len)
 *   k == hdr_len    : header in one descriptor of its own
 *   k == 0          : header merged into the first payload descriptor (one buffer holding the
 *                     header and the first payload piece); header alone if payload is empty
 * pieces / sizes: the payload (tx) or the rx buffer is cut in `pieces` descriptors: evenly
 *   (sizes == NULL; the first len % pieces get one extra byte; needs len >= pieces) or with the
 *   given sizes (which may include 0-length pieces; must sum to the length).  Empty tx payload
 *   means no payload descriptors.
 * straddle_mask: bit i makes descriptor i (0 = first in the chain, header included) straddle a
 *   region boundary, `straddle_before` bytes below it (0: half).
 */
typedef struct vsn_sim_layout {
    uint32_t hdr_split;
    uint32_t pieces;
    const uint32_t *sizes;
    uint32_t flags;          /**< VSN_SIM_F_INDIRECT, VSN_SIM_F_STRADDLE_TABLE */
    uint64_t straddle_mask;
    uint32_t straddle_before;
} vsn_sim_layout;

/**
 * Adds a device-readable (tx) chain carrying hdr then payload, cut per *lay.  Buffers are
 * allocated from the memory's bump allocator and filled; release them with
 * vsn_sim_mem_mark_release() once the chain is reaped.
 * @return 0 (*head set) or any code of vsn_sim_queue_add_bufs() plus HDR_SPLIT/PIECES/
 *         PIECE_SIZES/STRADDLE_MASK/STRADDLE_LEN
 */
int vsn_sim_queue_add_tx(vsn_sim_queue *q, const void *hdr, uint32_t hdr_len, const void *payload,
                         uint32_t payload_len, const vsn_sim_layout *lay, uint64_t token,
                         uint16_t *head);

/**
 * Posts a device-writable (rx) chain of len bytes cut per *lay (hdr_split ignored).  The
 * buffer is pre-filled with VSN_SIM_RX_POISON so unwritten bytes are recognisable.
 * @return as vsn_sim_queue_add_tx()
 */
int vsn_sim_queue_add_rx(vsn_sim_queue *q, uint32_t len, const vsn_sim_layout *lay,
                         uint64_t token, uint16_t *head);

#define VSN_SIM_RX_POISON 0xA5

/**
 * Decides whether the device needs a notification for the chains added since the last
 * prepare, exactly like Linux virtqueue_kick_prepare(): full barrier, then with EVENT_IDX
 * vring_need_event(avail_event, new, old), else !(used->flags & VRING_USED_F_NO_NOTIFY).
 * Counts the decision (sent or suppressed) and resets the added count.
 * @return true if a notification must be sent
 */
bool vsn_sim_queue_kick_prepare(vsn_sim_queue *q);

/** Sends a notification through the notifier (no decision, no counting).
 *  @return 0, or the notifier's negative return value */
int vsn_sim_queue_notify(vsn_sim_queue *q);

/** kick_prepare() + notify() when needed.
 *  @return 1 sent, 0 suppressed, or the notifier's negative return value */
int vsn_sim_queue_kick(vsn_sim_queue *q);

/** A reaped used element. */
typedef struct vsn_sim_used {
    uint16_t id;        /**< head descriptor id */
    uint32_t len;       /**< used.len as written by the device */
    uint64_t token;     /**< token given when the chain was added */
    uint32_t readable;  /**< device-readable bytes in the chain */
    uint32_t writable;  /**< device-writable bytes in the chain */
    uint32_t copied;    /**< rx bytes gathered into the caller's buffer */
    bool bad;           /**< chain came from vsn_sim_queue_add_bad() */
} vsn_sim_used;

/**
 * Reaps one used element: acquire-loads used idx, validates it and the element, recycles the
 * chain's descriptors and, when rx_dst is given, gathers min(len, writable, rx_cap) bytes
 * from the chain's writable buffers.
 * @return 1 reaped, 0 nothing used, VSN_SIM_E_USED_LEN (reaped and recycled, but len exceeds
 *         writable bytes), or VSN_SIM_E_USED_IDX_JUMP / VSN_SIM_E_USED_ID (device bug: the
 *         queue is marked broken) / VSN_SIM_E_BROKEN
 */
int vsn_sim_queue_reap(vsn_sim_queue *q, vsn_sim_used *out, void *rx_dst, size_t rx_cap);

/** The used index the driver reaps next (what a vhost-user frontend resumes a ring at with
 *  SET_VRING_BASE once every used element is reaped). */
uint16_t vsn_sim_queue_next_used(const vsn_sim_queue *q);

/** Number of used elements published by the device and not reaped yet (0..size). */
uint16_t vsn_sim_queue_used_pending(const vsn_sim_queue *q);

/**
 * Re-enables used-buffer notifications: with EVENT_IDX publishes used_event = last seen used
 * idx, otherwise clears VRING_AVAIL_F_NO_INTERRUPT; then a full barrier (§2.7.14).
 * @return 1 if used entries are already pending (caller should reap), else 0
 */
int vsn_sim_queue_enable_interrupts(vsn_sim_queue *q);

/** Suppresses used-buffer notifications: with EVENT_IDX used_event = last seen used idx - 1
 *  (a value the device can only reach after 65536 more entries), else sets
 *  VRING_AVAIL_F_NO_INTERRUPT. */
void vsn_sim_queue_disable_interrupts(vsn_sim_queue *q);

/** Publishes an arbitrary used_event (EVENT_IDX only).  @return 0 or VSN_SIM_E_FEATURE */
int vsn_sim_queue_set_used_event(vsn_sim_queue *q, uint16_t used_event);

/** Result of an interrupt-window check. */
typedef struct vsn_sim_irq_report {
    uint16_t old_used;    /**< used idx at window begin */
    uint16_t new_used;    /**< used idx at check */
    uint16_t used_event;  /**< published used_event during the window (EVENT_IDX) */
    bool no_interrupt;    /**< VRING_AVAIL_F_NO_INTERRUPT during the window (no EVENT_IDX) */
    bool required;        /**< the spec obliged the device to interrupt at least once */
    uint64_t received;    /**< interrupts the binding counted during the window */
    bool spurious;        /**< received > 0 although not required (allowed: SHOULD NOT) */
} vsn_sim_irq_report;

/**
 * Starts an interrupt window: snapshots used idx and the published used_event/flags.  Do not
 * change the interrupt settings while the window is open.
 * @param irq_total interrupts the binding has counted so far (monotonic)
 */
void vsn_sim_queue_irq_window_begin(vsn_sim_queue *q, uint64_t irq_total);

/**
 * Checks the "expected interrupt" rule for the window: with EVENT_IDX the device must have
 * interrupted if vring_need_event(used_event, new, old); without it, if used idx moved and
 * VRING_AVAIL_F_NO_INTERRUPT was clear (§2.7.7.2).  Opens a new window at the check point.
 * @return 0, VSN_SIM_E_IRQ_MISSED, VSN_SIM_E_IRQ_NO_WINDOW or VSN_SIM_E_IRQ_COUNT
 */
int vsn_sim_queue_irq_window_check(vsn_sim_queue *q, uint64_t irq_total, vsn_sim_irq_report *rep);

/* ---------------------------------------------------------------------------------------- */
/* Malformed chains                                                                           */
/* ---------------------------------------------------------------------------------------- */

/** Classes of malformed input a hostile guest can offer. */
typedef enum vsn_sim_bad {
    VSN_SIM_BAD_DESC_LOOP,          /**< NEXT links form a cycle (d0 -> d1 -> d0) */
    VSN_SIM_BAD_NEXT_RANGE,         /**< a next index is >= queue size */
    VSN_SIM_BAD_HEAD_RANGE,         /**< the avail ring entry (head) is >= queue size */
    VSN_SIM_BAD_NESTED_INDIRECT,    /**< an indirect table entry has INDIRECT set */
    VSN_SIM_BAD_INDIRECT_LEN_ALIGN, /**< indirect table length not a multiple of 16 */
    VSN_SIM_BAD_INDIRECT_LEN_ZERO,  /**< indirect table length 0 */
    VSN_SIM_BAD_INDIRECT_UNMAPPED,  /**< indirect table outside guest memory */
    VSN_SIM_BAD_INDIRECT_WITH_NEXT, /**< ring descriptor has INDIRECT and NEXT together */
    VSN_SIM_BAD_READ_AFTER_WRITE,   /**< device-readable descriptor after a writable one */
    VSN_SIM_BAD_ADDR_UNMAPPED,      /**< buffer address above all guest memory */
    VSN_SIM_BAD_ADDR_WRAP,          /**< addr + len wraps past 2^64 */
    VSN_SIM_BAD_CHAIN_TOO_LONG,     /**< indirect chain with queue size + 1 descriptors */
    VSN_SIM_BAD_AVAIL_IDX_JUMP,     /**< avail idx published more than queue size ahead */
    VSN_SIM_BAD_ADDR_IN_GAP,        /**< buffer lies in a gap between two regions */
    VSN_SIM_BAD_COUNT
} vsn_sim_bad;

/** Short name of a malformed class ("desc_loop", ...). */
const char *vsn_sim_bad_name(vsn_sim_bad kind);

/**
 * Builds and publishes one malformed chain of the given class.  The descriptors it takes are
 * recycled when the device returns the head (expected: used with len 0).  For
 * VSN_SIM_BAD_HEAD_RANGE no descriptor is taken and *head is the bogus index written; for
 * VSN_SIM_BAD_AVAIL_IDX_JUMP nothing is queued, only avail->idx is overwritten with
 * shadow + size + 1 (*head = 0xffff); repair with vsn_sim_queue_restore_avail_idx().
 * @return 0, or VSN_SIM_E_BAD_KIND/FEATURE/NO_GAP/NO_DESC/NO_SPACE/BROKEN
 */
int vsn_sim_queue_add_bad(vsn_sim_queue *q, vsn_sim_bad kind, uint16_t *head);

/** Rewrites avail->idx from the driver's shadow after VSN_SIM_BAD_AVAIL_IDX_JUMP (test-only:
 *  a real driver never decrements avail idx).  @return 0 or VSN_SIM_E_NOTHING_TO_RESTORE */
int vsn_sim_queue_restore_avail_idx(vsn_sim_queue *q);

#ifdef __cplusplus
}
#endif

#endif /* VSN_SIM_H */
