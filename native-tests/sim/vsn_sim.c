/*
 * vsn_sim.c — simulator-wide helpers: error names.
 * The simulator itself lives in sim_mem.c (guest memory), sim_ring.c (queue, kicks, reaping,
 * interrupts), sim_chain.c (well-formed chains) and sim_bad.c (malformed chains).
 */
#include "vsn_sim.h"

static const char *const err_names[] = {
    "invalid argument",                          /* VSN_SIM_E_ARG */
    "struct_size too small",                     /* VSN_SIM_E_STRUCT_SIZE */
    "out of host memory",                        /* VSN_SIM_E_NOMEM */
    "region count out of range",                 /* VSN_SIM_E_REGION_COUNT */
    "region size out of range",                  /* VSN_SIM_E_REGION_SIZE */
    "region wraps past 2^64",                    /* VSN_SIM_E_REGION_WRAP */
    "regions overlap",                           /* VSN_SIM_E_REGION_OVERLAP */
    "range wraps past 2^64",                     /* VSN_SIM_E_RANGE_WRAP */
    "guest range not mapped",                    /* VSN_SIM_E_UNMAPPED */
    "guest range crosses a region boundary",     /* VSN_SIM_E_DISCONTIG */
    "host pointer not in guest memory",          /* VSN_SIM_E_HVA_UNMAPPED */
    "bad alignment",                             /* VSN_SIM_E_ALIGN */
    "guest memory allocator full",               /* VSN_SIM_E_NO_SPACE */
    "no free region boundary to straddle",       /* VSN_SIM_E_NO_BOUNDARY */
    "straddling buffer too short",               /* VSN_SIM_E_STRADDLE_LEN */
    "no gap between regions",                    /* VSN_SIM_E_NO_GAP */
    "no address above guest memory",             /* VSN_SIM_E_NO_OUTSIDE */
    "bad queue size",                            /* VSN_SIM_E_QUEUE_SIZE */
    "ring feature not enabled",                  /* VSN_SIM_E_FEATURE */
    "not enough free descriptors",               /* VSN_SIM_E_NO_DESC */
    "empty chain",                               /* VSN_SIM_E_CHAIN_EMPTY */
    "chain longer than the queue size",          /* VSN_SIM_E_CHAIN_TOO_LONG */
    "readable buffer after writable buffer",     /* VSN_SIM_E_CHAIN_ORDER */
    "chain longer than 2^32-1 bytes",            /* VSN_SIM_E_CHAIN_BYTES */
    "header split beyond header",                /* VSN_SIM_E_HDR_SPLIT */
    "bad piece count",                           /* VSN_SIM_E_PIECES */
    "piece sizes do not sum to the length",      /* VSN_SIM_E_PIECE_SIZES */
    "bad straddle mask",                         /* VSN_SIM_E_STRADDLE_MASK */
    "queue broken by an earlier device error",   /* VSN_SIM_E_BROKEN */
    "used idx moved past the chains in flight",  /* VSN_SIM_E_USED_IDX_JUMP */
    "used id not a chain in flight",             /* VSN_SIM_E_USED_ID */
    "used len exceeds writable bytes",           /* VSN_SIM_E_USED_LEN */
    "no interrupt window open",                  /* VSN_SIM_E_IRQ_NO_WINDOW */
    "device missed a required interrupt",        /* VSN_SIM_E_IRQ_MISSED */
    "interrupt count went backwards",            /* VSN_SIM_E_IRQ_COUNT */
    "unknown malformed-chain kind",              /* VSN_SIM_E_BAD_KIND */
    "avail idx not corrupted",                   /* VSN_SIM_E_NOTHING_TO_RESTORE */
};

_Static_assert(sizeof(err_names) / sizeof(err_names[0]) ==
                   (size_t)(VSN_SIM_E_NOTHING_TO_RESTORE - VSN_SIM_E_ARG + 1),
               "one name per vsn_sim_err");

const char *vsn_sim_strerror(int err)
{
    if (err == 0)
        return "ok";
    if (err >= VSN_SIM_E_ARG && err <= VSN_SIM_E_NOTHING_TO_RESTORE)
        return err_names[err - VSN_SIM_E_ARG];
    if (err < 0 && err > -4096)
        return "negative errno (from a notifier)";
    return "unknown";
}
