/*
 * vtool.h — the end-to-end peer: a tiny socat plus checker, built static so the same binary runs
 * in the guest (AF_VSOCK) and on the host (AF_UNIX, and the hybrid "CONNECT <port>\n" handshake).
 *
 *   vtool.c        command line, the connection threads, the verdict
 *   vtool_addr.c   addresses: vsock:CID:PORT, vsock:PORT, unix:PATH, hybrid:PATH:PORT; listen/connect
 *   vtool_xfer.c   one connection's transfer: seed header, pattern out, pattern checked in, half-close
 *
 * Every line it prints starts with "VT "; the last one is "VT PASS ..." or "VT FAIL ...".
 */
#ifndef VSN_E2E_VTOOL_H
#define VSN_E2E_VTOOL_H

#include <stdint.h>
#include <sys/types.h>

enum vt_family { VT_VSOCK, VT_UNIX, VT_HYBRID };
enum vt_order { VT_DUPLEX, VT_SEND_FIRST, VT_RECV_FIRST };

typedef struct vt_addr {
    enum vt_family family;
    uint32_t cid;  /* vsock connect */
    uint32_t port; /* vsock, hybrid */
    char path[108];
} vt_addr;

typedef struct vt_opts {
    int listen;            /* 1: listen + accept, 0: connect */
    vt_addr addr;
    int seqpacket;         /* SOCK_SEQPACKET instead of SOCK_STREAM */
    int conns;             /* connections handled at the same time */
    uint64_t send;         /* pattern bytes each connection sends (after its 8-byte seed header) */
    uint64_t expect;       /* pattern bytes each connection must receive, then EOF */
    int send_set, expect_set;
    enum vt_order order;
    uint64_t seed;         /* connection i sends stream seed + i */
    uint32_t max_msg;      /* seqpacket: largest message; sizes follow the seed */
    uint32_t eor_every;    /* seqpacket: MSG_EOR on about one message in K (the sender's seed picks them)
                            * and on the last; the receiver requires it on exactly those (0: on none) */
    uint32_t trunc_every;  /* seqpacket receiver: about one message in K (of 2+ bytes) read into half its
                            * size with MSG_TRUNC: full length returned, MSG_TRUNC set, the rest dropped */
    uint32_t rcvtimeo_ms;  /* before the transfer: SO_RCVTIMEO, then a recv that must fail EAGAIN */
    uint64_t fake_eor_at;  /* self-test hook: message N - 1 counts as arrived with MSG_EOR (0: never) */
    const char *expect_connect_error; /* connect must fail with this errno name */
    int expect_broken;     /* the transfer must end early (error or short EOF), not complete */
    uint64_t die_after;    /* SIGKILL ourselves once this many bytes arrived (0: never) */
    uint64_t corrupt_at;   /* self-test hook: flip the byte at this pattern offset + 1 when sending (0: never) */
    uint64_t pace_us;      /* sleep this long after every receive call: a slow reader (credit stalls) */
    uint64_t duration_s;   /* send for this many seconds (instead of `send` bytes), then shutdown(SHUT_WR) */
    int expect_any;        /* receive until EOF, any number of bytes (each checked); with --duration peers */
    int timeout_s;
} vt_opts;

typedef struct vt_result {
    uint64_t sent, received;
    uint32_t sent_crc, recv_crc;
    uint64_t peer_seed;
    int peer_seed_known;
    uint64_t messages;     /* seqpacket messages received */
    uint64_t records;      /* seqpacket messages received with MSG_EOR */
    uint64_t truncated;    /* seqpacket messages read truncated (--trunc-every) */
    int err;               /* errno of the first failure, 0 if none */
    char what[160];        /* first failure, "" if none */
} vt_result;

/* vtool_addr.c */
int vt_parse_addr(const char *text, int listen, vt_addr *out);
int vt_listen(const vt_opts *o);                 /* listening fd; prints "VT READY"; -1 on error */
int vt_connect(const vt_opts *o, int *out_errno); /* connected fd, or -1 with *out_errno */
const char *vt_errname(int err);

/* vtool_xfer.c */
void vt_xfer_init(void); /* once, before any thread */
double vt_now(void);     /* CLOCK_MONOTONIC, seconds */
void vt_transfer(const vt_opts *o, int fd, uint64_t my_seed, vt_result *r);
uint32_t vt_msg_size(uint64_t seed, uint64_t k, uint32_t max_msg);

#endif
