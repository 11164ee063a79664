/* vu_io.c: vhost-user message framing (see vu_io.h). */
#include "vu_io.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t read_full(int sock, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = recv(sock, (char *)buf + done, len - done, 0);
        if (n == 0) return (ssize_t)done;
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

void vu_msg_close_fds(vu_msg *msg)
{
    for (unsigned i = 0; i < msg->nfds; i++)
        if (msg->fds[i] >= 0) close(msg->fds[i]);
    msg->nfds = 0;
}

/* Takes the SCM_RIGHTS fds out of the control data (all of them, so none leaks). */
static void collect_fds(struct msghdr *mh, vu_msg *msg, int *extra)
{
    *extra = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, data + i * sizeof(int), sizeof fd);
            if (msg->nfds < VU_MAX_FDS) msg->fds[msg->nfds++] = fd;
            else {
                close(fd);
                (*extra)++;
            }
        }
    }
}

int vu_recv(int sock, vu_msg *msg)
{
    msg->nfds = 0;
    /* Room for one more fd than allowed, so "too many" is seen (and truncation flagged beyond). */
    union {
        char buf[CMSG_SPACE((VU_MAX_FDS + 1) * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = { .iov_base = &msg->hdr, .iov_len = sizeof msg->hdr };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf };
    ssize_t n;
    do n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
    while (n < 0 && errno == EINTR);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? VU_RECV_TIMEOUT : VU_RECV_IO;
    int extra;
    collect_fds(&mh, msg, &extra);
    int status = VU_RECV_OK;
    if (n == 0) status = VU_RECV_EOF;
    else if ((size_t)n < sizeof msg->hdr) {
        ssize_t more = read_full(sock, (char *)&msg->hdr + n, sizeof msg->hdr - (size_t)n);
        if (more < 0) status = errno == EAGAIN || errno == EWOULDBLOCK ? VU_RECV_TIMEOUT : VU_RECV_IO;
        else if ((size_t)more < sizeof msg->hdr - (size_t)n) status = VU_RECV_SHORT;
    }
    if (status == VU_RECV_OK) {
        if (extra > 0 || (mh.msg_flags & MSG_CTRUNC)) status = VU_RECV_TOO_MANY_FDS;
        else if ((msg->hdr.flags & VU_VERSION_MASK) != VU_VERSION || (msg->hdr.flags & VU_FLAG_REPLY))
            status = VU_RECV_VERSION;
        else if (msg->hdr.flags & ~VU_KNOWN_FLAGS) status = VU_RECV_FLAGS;
        else if (msg->hdr.size > VU_MAX_PAYLOAD) status = VU_RECV_TOO_BIG;
    }
    if (status == VU_RECV_OK && msg->hdr.size > 0) {
        ssize_t got = read_full(sock, msg->payload.bytes, msg->hdr.size);
        if (got < 0) status = errno == EAGAIN || errno == EWOULDBLOCK ? VU_RECV_TIMEOUT : VU_RECV_IO;
        else if ((size_t)got < msg->hdr.size) status = VU_RECV_SHORT;
    }
    if (status != VU_RECV_OK) vu_msg_close_fds(msg);
    return status;
}

int vu_send_reply(int sock, uint32_t request, const void *payload, uint32_t size)
{
    vu_header h = { .request = request, .flags = VU_VERSION | VU_FLAG_REPLY, .size = size };
    struct iovec iov[2] = { { &h, sizeof h }, { (void *)payload, size } };
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
    size_t want = sizeof h + size;
    ssize_t n;
    do n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    return (size_t)n == want ? 0 : -EIO;
}

const char *vu_request_name(uint32_t request)
{
    switch (request) {
    case VU_GET_FEATURES: return "GET_FEATURES";
    case VU_SET_FEATURES: return "SET_FEATURES";
    case VU_SET_OWNER: return "SET_OWNER";
    case VU_RESET_OWNER: return "RESET_OWNER";
    case VU_SET_MEM_TABLE: return "SET_MEM_TABLE";
    case VU_SET_LOG_BASE: return "SET_LOG_BASE";
    case VU_SET_LOG_FD: return "SET_LOG_FD";
    case VU_SET_VRING_NUM: return "SET_VRING_NUM";
    case VU_SET_VRING_ADDR: return "SET_VRING_ADDR";
    case VU_SET_VRING_BASE: return "SET_VRING_BASE";
    case VU_GET_VRING_BASE: return "GET_VRING_BASE";
    case VU_SET_VRING_KICK: return "SET_VRING_KICK";
    case VU_SET_VRING_CALL: return "SET_VRING_CALL";
    case VU_SET_VRING_ERR: return "SET_VRING_ERR";
    case VU_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
    case VU_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
    case VU_GET_QUEUE_NUM: return "GET_QUEUE_NUM";
    case VU_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
    case VU_GET_CONFIG: return "GET_CONFIG";
    case VU_SET_CONFIG: return "SET_CONFIG";
    case VU_RESET_DEVICE: return "RESET_DEVICE";
    case VU_SET_DEVICE_STATE_FD: return "SET_DEVICE_STATE_FD";
    case VU_CHECK_DEVICE_STATE: return "CHECK_DEVICE_STATE";
    default: return "unknown";
    }
}
