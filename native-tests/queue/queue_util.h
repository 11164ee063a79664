/*
 * queue_util.h — what the queue harnesses share on top of the binding: standard guest-memory
 * layouts, a tx packet builder (vsock header + patterned payload, cut per vsn_sim_layout), and
 * a token ledger that proves every chain came back exactly once with the expected used length.
 * Prefix qu_.  Functions return 0 or a vsn_sim_err / negative errno like the binding.
 */
#ifndef VSN_QUEUE_UTIL_H
#define VSN_QUEUE_UTIL_H

#include "sim_device.h"

#include <stdbool.h>
#include <stdint.h>

#define QU_HDR 44u            /* sizeof(struct vsn_virtio_vsock_hdr) */
#define QU_MAX_PAYLOAD 8192u  /* largest payload qu_add_packet() takes */
#define QU_TIMEOUT_MS 10000   /* default deadline of one wait */
/* src_cid of the harness's packets: not the guest's CID (3), so the connection layer drops each
 * one at its first check (counted as "spoofed") and sends nothing back on rx: a null consumer,
 * which keeps these harnesses about the virtqueue engine. */
#define QU_NULL_SRC_CID 0x5eedull

/* ---- guest memory layouts -------------------------------------------------------------- */

/** One 16 MiB region at GPA 0x100000. */
int qu_mem_single(vsn_sim_mem **out);

/** QU_MULTI_GROUPS groups of 4 GPA-adjacent 32 KiB regions (host mappings never adjacent),
 *  128 KiB gaps between the groups, 4 KiB straddle reserve at each inner boundary:
 *  QU_MULTI_BOUNDARIES buffers can straddle a boundary between two mark releases. */
#define QU_MULTI_GROUPS 12u
#define QU_MULTI_BOUNDARIES (QU_MULTI_GROUPS * 3u)
int qu_mem_multi(vsn_sim_mem **out);

/** Two 1 MiB regions with a 1 MiB gap between them (for "buffer in a gap" chains). */
int qu_mem_gapped(vsn_sim_mem **out);

/* ---- tx packets ------------------------------------------------------------------------ */

/** Byte `off` of the payload of the packet with this token. */
uint8_t qu_payload_byte(uint64_t token, uint32_t off);

/**
 * Adds a tx chain: a vsock header (hdr.len = hdr_len_field) followed by payload_len patterned
 * bytes, cut per *lay (header split, pieces, direct/indirect, straddle mask).
 */
int qu_add_packet(vsn_sim_queue *q, const vsn_sim_layout *lay, uint32_t payload_len,
                  uint32_t hdr_len_field, uint64_t token, uint16_t *head);

/**
 * Descriptor lengths the simulator will use for a tx chain (mirror of its cutting rule: header
 * split k, payload in `pieces` even pieces, k == 0 merges the header into the first piece).
 * @return the number of descriptors written to lens (at most 2 + pieces)
 */
uint32_t qu_tx_desc_lens(uint32_t k, uint32_t payload_len, uint32_t pieces, uint32_t *lens);

/** A straddle mask making exactly one descriptor (of length >= 2) straddle a region boundary,
 *  chosen by `pick` among the candidates; 0 if none qualifies. */
uint64_t qu_straddle_one(const uint32_t *lens, uint32_t n, uint32_t pick);

/* ---- the ledger ------------------------------------------------------------------------ */

/** Tokens 0..n-1 issued; what came back. */
typedef struct qu_ledger {
    uint32_t n;
    uint8_t *seen;          /* times each token came back */
    uint64_t reaped;
    uint64_t duplicates;    /* a token seen twice */
    uint64_t unknown;       /* a token >= n */
    uint64_t wrong_len;     /* used len != expected_len */
    uint32_t expected_len;
    uint64_t bad_reaped;    /* elements of chains added with vsn_sim_queue_add_bad */
} qu_ledger;

int qu_ledger_init(qu_ledger *l, uint32_t n);
void qu_ledger_free(qu_ledger *l);
/** A vsn_sd_used_fn: user is the qu_ledger. */
void qu_ledger_on_used(void *user, const vsn_sim_used *u);
/** Tokens in [0, upto) that never came back. */
uint64_t qu_ledger_missing(const qu_ledger *l, uint32_t upto);

#endif /* VSN_QUEUE_UTIL_H */
