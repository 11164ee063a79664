/*
 * sim_internal.h — private structures shared by the simulator's source files.
 * Not part of the public API; include vsn_sim.h instead.
 */
#ifndef VSN_SIM_INTERNAL_H
#define VSN_SIM_INTERNAL_H

#include "vsn_sim.h"

/** Host mapping behind one region (guard pages included). */
struct sim_map {
    void *base;      /* mmap result */
    size_t len;      /* mmap length */
    uint64_t norm_lo; /* first offset usable by ordinary allocations */
    uint64_t norm_hi; /* end offset usable by ordinary allocations */
    uint64_t tail_reserve; /* straddle bytes at the end (0 if no upper neighbour) */
    uint64_t head_reserve; /* straddle bytes at the start (0 if no lower neighbour) */
    int fd;           /* VSN_SIM_MEM_F_MEMFD: the memfd behind the region, else -1 */
    uint64_t fd_off;  /* file offset of the region's first byte */
};

struct vsn_sim_mem {
    uint32_t n;
    vsn_sim_region table[VSN_SIM_MAX_REGIONS]; /* sorted by gpa */
    struct sim_map map[VSN_SIM_MAX_REGIONS];
    vsn_sim_mem_mark alloc;                    /* lo[] = next free offset, straddled bits */
};

/** Index of the region containing gpa, or -1. */
int sim_mem_find(const vsn_sim_mem *mem, uint64_t gpa);

/** Per-head bookkeeping, valid while the chain is in flight. */
struct sim_head {
    uint64_t token;
    uint64_t ind_gpa;   /* indirect table, 0 if direct */
    uint32_t ind_n;     /* entries in the indirect table */
    uint32_t readable;
    uint32_t writable;
    uint16_t ndesc;     /* ring descriptors taken */
    uint8_t in_flight;
    uint8_t bad;
};

/** Private copy of what the driver wrote into a ring descriptor. */
struct sim_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
};

struct sim_irq_window {
    bool open;
    uint16_t old_used;
    uint16_t used_event;
    bool no_interrupt;
    uint64_t irq_start;
};

struct vsn_sim_queue {
    vsn_sim_mem *mem;
    uint16_t size;
    uint16_t index;
    uint64_t features;
    bool event_idx;
    bool indirect;
    bool broken;
    bool avail_corrupt;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint16_t *used_event;   /* avail->ring[size] */
    uint16_t *avail_event;  /* (u16 *)&used->ring[size] */
    uint16_t *link;         /* free list and allocation order */
    struct sim_desc *shadow;
    struct sim_head *heads;
    uint16_t free_head;
    uint32_t num_free;
    uint16_t avail_idx;     /* shadow of the published avail idx */
    uint16_t num_added;     /* chains added since the last kick_prepare */
    uint16_t avail_flags;   /* shadow of avail->flags */
    uint16_t last_used;     /* next used idx to reap */
    uint16_t used_event_val; /* last used_event published */
    uint32_t in_flight;
    vsn_sim_notify_fn notify;
    void *notify_user;
    vsn_sim_queue_stats stats;
    struct sim_irq_window irq;
};

/** Takes n descriptors off the free list (linked through q->link in order); returns head. */
int sim_desc_alloc(vsn_sim_queue *q, uint32_t n, uint16_t *head);

/** Writes ring descriptor i (little-endian) and its shadow copy. */
void sim_desc_write(vsn_sim_queue *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                    uint16_t next);

/** Encodes one descriptor into a 16-byte little-endian buffer. */
void sim_desc_encode(struct vring_desc *out, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next);

/** Records the in-flight chain and publishes head in the avail ring (release + idx store). */
void sim_publish(vsn_sim_queue *q, uint16_t head, const struct sim_head *h);

#endif /* VSN_SIM_INTERNAL_H */
