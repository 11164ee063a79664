/*
 * vu_io.h: reading and writing vhost-user messages on a connected Unix socket.
 * Thread rules: one thread per socket.
 */
#ifndef VU_IO_H
#define VU_IO_H

#include "vhost_user.h"

#include <stddef.h>

/* What vu_recv found wrong with a message's framing (the connection cannot be trusted after). */
enum vu_recv_status {
    VU_RECV_OK = 1,
    VU_RECV_EOF = 0,
    VU_RECV_IO = -1,         /* read error (errno logged) */
    VU_RECV_SHORT = -2,      /* the frontend closed in the middle of a message */
    VU_RECV_VERSION = -3,    /* flags carry a version other than 1, or the reply bit */
    VU_RECV_FLAGS = -4,      /* unknown flag bits */
    VU_RECV_TOO_BIG = -5,    /* size beyond VU_MAX_PAYLOAD */
    VU_RECV_TOO_MANY_FDS = -6, /* more than VU_MAX_FDS descriptors (ancillary data truncated) */
    VU_RECV_TIMEOUT = -7,    /* the rest of a started message did not come in time (SO_RCVTIMEO) */
};

/* Reads one message (header with its fds, then the payload). On any status other than VU_RECV_OK
 * no fd is left open in msg (msg->nfds is 0). */
int vu_recv(int sock, vu_msg *msg);

/* Closes the fds a message carried and sets nfds to 0. */
void vu_msg_close_fds(vu_msg *msg);

/* Sends a reply to request with the given payload. 0 or -errno. */
int vu_send_reply(int sock, uint32_t request, const void *payload, uint32_t size);

/* A name for a request number (for logs). */
const char *vu_request_name(uint32_t request);

#endif
