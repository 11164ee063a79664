/*
 * vhost_user.h: the vhost-user wire protocol as this daemon speaks it (the backend side), written
 * from QEMU's docs/interop/vhost-user.rst. Numbers are in the machine's byte order.
 *
 * A message is a 12-byte header (request, flags, size) followed by size bytes of payload; file
 * descriptors travel as SCM_RIGHTS ancillary data of the header's recvmsg.
 */
#ifndef VU_VHOST_USER_H
#define VU_VHOST_USER_H

#include <stdint.h>

/* Requests from the frontend (the ones this backend knows by name). */
enum vu_request {
    VU_GET_FEATURES = 1,
    VU_SET_FEATURES = 2,
    VU_SET_OWNER = 3,
    VU_RESET_OWNER = 4,
    VU_SET_MEM_TABLE = 5,
    VU_SET_LOG_BASE = 6,
    VU_SET_LOG_FD = 7,
    VU_SET_VRING_NUM = 8,
    VU_SET_VRING_ADDR = 9,
    VU_SET_VRING_BASE = 10,
    VU_GET_VRING_BASE = 11,
    VU_SET_VRING_KICK = 12,
    VU_SET_VRING_CALL = 13,
    VU_SET_VRING_ERR = 14,
    VU_GET_PROTOCOL_FEATURES = 15,
    VU_SET_PROTOCOL_FEATURES = 16,
    VU_GET_QUEUE_NUM = 17,
    VU_SET_VRING_ENABLE = 18,
    VU_GET_CONFIG = 24,
    VU_SET_CONFIG = 25,
    VU_RESET_DEVICE = 34,
    VU_SET_DEVICE_STATE_FD = 42,
    VU_CHECK_DEVICE_STATE = 43,
};

/* Header flags. */
#define VU_VERSION 0x1u
#define VU_VERSION_MASK 0x3u
#define VU_FLAG_REPLY (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)
#define VU_KNOWN_FLAGS (VU_VERSION_MASK | VU_FLAG_REPLY | VU_FLAG_NEED_REPLY)

/* Virtio feature bit the protocol borrows: protocol features may be negotiated. */
#define VU_F_PROTOCOL_FEATURES 30

/* Protocol feature bits. */
#define VU_PROTOCOL_F_MQ 0
#define VU_PROTOCOL_F_REPLY_ACK 3
#define VU_PROTOCOL_F_CONFIG 9
#define VU_PROTOCOL_F_RESET_DEVICE 13
#define VU_PROTOCOL_F_DEVICE_STATE 19

/* SET_DEVICE_STATE_FD payload: transfer direction and migration phase (u32 each); its fd is the
 * frontend's end of the channel (a pipe). The reply is a u64: bits 0-7 an error code (0: success),
 * bit 8 set when the backend returns no fd of its own (this backend never does). */
#define VU_STATE_SAVE 0u
#define VU_STATE_LOAD 1u
#define VU_STATE_PHASE_STOPPED 0u
#define VU_STATE_NOFD (1u << 8)
typedef struct vu_device_state_params {
    uint32_t direction;
    uint32_t phase;
} vu_device_state_params;

/* SET_VRING_KICK/CALL/ERR payload: ring index in bits 0-7, bit 8 = no fd sent. */
#define VU_VRING_IDX_MASK 0xffu
#define VU_VRING_NOFD (1u << 8)

/* Largest memory table in one SET_MEM_TABLE (and so most fds per message). */
#define VU_MAX_REGIONS 8u
#define VU_MAX_FDS VU_MAX_REGIONS
/* Largest config space read/written in one message. */
#define VU_MAX_CONFIG_SIZE 256u
/* Largest payload this backend reads: the biggest message it accepts (GET_CONFIG). */
#define VU_MAX_PAYLOAD 4096u

typedef struct vu_header {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
} vu_header;
_Static_assert(sizeof(vu_header) == 12, "vu_header");

typedef struct vu_vring_state {
    uint32_t index;
    uint32_t num;
} vu_vring_state;
_Static_assert(sizeof(vu_vring_state) == 8, "vu_vring_state");

typedef struct vu_vring_addr {
    uint32_t index;
    uint32_t flags;
    uint64_t desc_user_addr;
    uint64_t used_user_addr;
    uint64_t avail_user_addr;
    uint64_t log_guest_addr;
} vu_vring_addr;
_Static_assert(sizeof(vu_vring_addr) == 40, "vu_vring_addr");

typedef struct vu_mem_region {
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr;
    uint64_t mmap_offset;
} vu_mem_region;
_Static_assert(sizeof(vu_mem_region) == 32, "vu_mem_region");

typedef struct vu_mem_table {
    uint32_t nregions;
    uint32_t padding;
    vu_mem_region regions[VU_MAX_REGIONS];
} vu_mem_table;

typedef struct vu_config {
    uint32_t offset;
    uint32_t size;
    uint32_t flags;
    uint8_t region[VU_MAX_CONFIG_SIZE];
} vu_config;
#define VU_CONFIG_HDR 12u

/* One message with its payload and the fds that came with it. */
typedef struct vu_msg {
    vu_header hdr;
    union {
        uint64_t u64;
        vu_vring_state state;
        vu_vring_addr addr;
        vu_mem_table mem;
        vu_config config;
        vu_device_state_params device_state;
        uint8_t bytes[VU_MAX_PAYLOAD];
    } payload;
    int fds[VU_MAX_FDS];
    unsigned nfds;
} vu_msg;

#endif
