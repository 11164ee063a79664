/*
 * ring_walk.h — a minimal, bounds-checked, DEVICE-side split-virtqueue walker in C.
 *
 * Reference for the driver simulator's self tests and the baseline of the queue micro-benchmark
 * ("a C loop that only walks the same ring").  It pops avail entries, walks descriptor chains
 * (direct, indirect, or direct prefix + indirect tail), translates every guest range through
 * a checked region table into host segments (split at region boundaries), and pushes used
 * elements.  A malformed chain is returned used with len 0 and its error code is reported;
 * queue-level corruption (avail idx jump, head out of range) marks the walker broken.
 *
 * Conventions: prefix vsn_rw_; functions return 0/positive on success or a negative
 * vsn_rw_err; the vsn_rw struct is public only so it can live on the stack — treat it as
 * opaque.  One thread per walker; the driver may run concurrently on another thread.
 */
#ifndef VSN_RING_WALK_H
#define VSN_RING_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_ring.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VSN_RW_MAX_REGIONS 64u

/** Walker errors; distinct per failure, all below -4095. */
typedef enum vsn_rw_err {
    VSN_RW_OK = 0,
    VSN_RW_E_ARG = -6000,         /**< NULL pointer or zero segment capacity */
    VSN_RW_E_STRUCT_SIZE,         /**< config struct_size too small */
    VSN_RW_E_QUEUE_SIZE,          /**< queue size not a power of two in 1..32768 */
    VSN_RW_E_REGIONS,             /**< region table empty, too long, NULL hva, wrap or overlap */
    VSN_RW_E_RING_ALIGN,          /**< a ring part is misaligned (GPA or host address) */
    VSN_RW_E_RING_RANGE,          /**< a ring part is not inside one region */
    VSN_RW_E_BROKEN,              /**< walker marked broken by an earlier queue-level error */
    VSN_RW_E_AVAIL_IDX_JUMP,      /**< avail idx more than queue size ahead (queue-level) */
    VSN_RW_E_HEAD_RANGE,          /**< avail ring entry >= queue size (queue-level) */
    VSN_RW_E_NEXT_RANGE,          /**< next >= queue size (or >= indirect table entries) */
    VSN_RW_E_DESC_LOOP,           /**< more descriptors visited than the table holds: a cycle */
    VSN_RW_E_CHAIN_TOO_LONG,      /**< indirect table has more entries than the queue size */
    VSN_RW_E_INDIRECT_FEATURE,    /**< INDIRECT flag without VIRTIO_RING_F_INDIRECT_DESC */
    VSN_RW_E_NESTED_INDIRECT,     /**< INDIRECT inside an indirect table */
    VSN_RW_E_INDIRECT_WITH_NEXT,  /**< INDIRECT and NEXT set together */
    VSN_RW_E_INDIRECT_LEN_ZERO,   /**< indirect table length 0 */
    VSN_RW_E_INDIRECT_LEN_ALIGN,  /**< indirect table length not a multiple of 16 */
    VSN_RW_E_INDIRECT_WRAP,       /**< indirect table addr + len wraps past 2^64 */
    VSN_RW_E_INDIRECT_UNMAPPED,   /**< indirect table not inside guest memory */
    VSN_RW_E_READ_AFTER_WRITE,    /**< device-readable descriptor after a writable one */
    VSN_RW_E_ADDR_WRAP,           /**< buffer addr + len wraps past 2^64 */
    VSN_RW_E_ADDR_UNMAPPED,       /**< buffer not inside guest memory (incl. gaps) */
    VSN_RW_E_CHAIN_BYTES,         /**< chain total above 2^32 - 1 bytes */
    VSN_RW_E_TOO_MANY_SEGS,       /**< more host segments than the caller's capacity */
    VSN_RW_E_PUSH_ID,             /**< push of an id >= queue size */
    VSN_RW_E_PUSH_OVERFLOW,       /**< push without a popped chain outstanding */
} vsn_rw_err;

/** Returns a static name for a vsn_rw_err. */
const char *vsn_rw_strerror(int err);

/** Guest memory region as the device receives it (same layout as vsn_sim_region). */
typedef struct vsn_rw_region {
    uint64_t gpa;
    uint64_t size;
    void *hva;
} vsn_rw_region;

/** Walker configuration; struct_size first. */
typedef struct vsn_rw_config {
    uint32_t struct_size;          /**< sizeof(vsn_rw_config) */
    uint16_t queue_size;           /**< power of two, 1..32768 */
    uint64_t features;             /**< 1ull << VIRTIO_RING_F_EVENT_IDX | _INDIRECT_DESC */
    uint64_t desc_gpa, avail_gpa, used_gpa;
    const vsn_rw_region *regions;  /**< copied; any order */
    uint32_t nregions;
} vsn_rw_config;

/** One host segment of a chain; a guest buffer crossing regions gives several. */
typedef struct vsn_rw_seg {
    uint8_t *hva;
    uint32_t len;
    bool writable;
} vsn_rw_seg;

/** A popped chain: the caller provides segs/cap; pop fills the rest. */
typedef struct vsn_rw_chain {
    uint16_t head;       /**< head id (0xffff if none was read) */
    uint32_t ndesc;      /**< descriptors visited (ring + indirect) */
    uint32_t readable;   /**< device-readable bytes */
    uint32_t writable;   /**< device-writable bytes */
    uint32_t nsegs;
    uint32_t cap;
    vsn_rw_seg *segs;
} vsn_rw_chain;

/** Walker counters. */
typedef struct vsn_rw_stats {
    uint64_t chains;            /**< well-formed chains popped */
    uint64_t bad_chains;        /**< malformed chains returned with len 0 */
    uint64_t interrupts;        /**< flushes that required an interrupt */
    uint64_t interrupts_suppressed;
} vsn_rw_stats;

/** Walker state; public for stack allocation only. */
typedef struct vsn_rw {
    uint16_t size;
    bool event_idx, indirect, broken, notify_enabled;
    uint32_t nregions;
    vsn_rw_region regions[VSN_RW_MAX_REGIONS]; /* sorted by gpa */
    const struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint16_t *used_event;   /* avail->ring[size], written by the driver */
    uint16_t *avail_event;  /* after used->ring[size], written by us */
    uint16_t last_avail;    /* next avail entry to pop */
    uint16_t avail_cache;   /* last avail idx read */
    uint16_t used_idx;      /* next used slot (not yet published beyond used_pub) */
    uint16_t used_pub;      /* used idx last published */
    uint32_t in_flight;     /* popped, not yet pushed */
    vsn_rw_stats stats;
} vsn_rw;

/**
 * Validates cfg and initialises *w: rings must be aligned (16/2/4, in GPA and host address)
 * and each ring part inside one region.  Notifications start enabled.
 * @return 0 or VSN_RW_E_ARG/STRUCT_SIZE/QUEUE_SIZE/REGIONS/RING_ALIGN/RING_RANGE
 */
int vsn_rw_init(vsn_rw *w, const vsn_rw_config *cfg);

/**
 * Pops and walks the next available chain into c (c->segs/c->cap from the caller).
 * @return 1 chain ready; 0 ring empty; a chain error (chain already pushed used with len 0,
 *         c->head names it); VSN_RW_E_AVAIL_IDX_JUMP / VSN_RW_E_HEAD_RANGE (walker now
 *         broken, nothing pushed); VSN_RW_E_BROKEN; VSN_RW_E_ARG
 */
int vsn_rw_pop(vsn_rw *w, vsn_rw_chain *c);

/** Writes a used element (id, len) into the next used slot; not visible until flush.
 *  @return 0, VSN_RW_E_PUSH_ID or VSN_RW_E_PUSH_OVERFLOW */
int vsn_rw_push(vsn_rw *w, uint16_t head, uint32_t len);

/**
 * Publishes pushed elements (release, used idx store), then a full barrier and the interrupt
 * decision: vring_need_event(used_event, new, old) with EVENT_IDX, else avail flags.
 * @param interrupt receives whether the driver must be interrupted (may be NULL)
 * @return 0
 */
int vsn_rw_flush(vsn_rw *w, bool *interrupt);

/**
 * Enables available-buffer notifications: with EVENT_IDX writes avail_event = last popped
 * idx (and keeps doing so on every pop), else clears VRING_USED_F_NO_NOTIFY; full barrier;
 * re-reads avail idx.
 * @return 1 if entries arrived meanwhile (caller should pop again), else 0
 */
int vsn_rw_enable_notify(vsn_rw *w);

/** Disables notifications: sets VRING_USED_F_NO_NOTIFY, or with EVENT_IDX stops moving
 *  avail_event. */
void vsn_rw_disable_notify(vsn_rw *w);

/** Clears the broken mark (test use: after the driver repaired the ring). */
void vsn_rw_clear_broken(vsn_rw *w);

/**
 * Translates [gpa, gpa+len) into host segments appended to c (checked: overflow, mapping,
 * capacity), splitting at region boundaries.  Exposed for tests.
 * @return 0, VSN_RW_E_ADDR_WRAP, VSN_RW_E_ADDR_UNMAPPED or VSN_RW_E_TOO_MANY_SEGS
 */
int vsn_rw_translate(const vsn_rw *w, uint64_t gpa, uint32_t len, bool writable, vsn_rw_chain *c);

#ifdef __cplusplus
}
#endif

#endif /* VSN_RING_WALK_H */
