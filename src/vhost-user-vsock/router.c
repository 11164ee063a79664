/* router.c: sibling routing between VMs that share a group (see router.h). */
#include "router.h"

#include <errno.h>

#define HOST_CID 2u  /* the host, as the guest addresses it */

static vm *table;
static unsigned table_size;

static int32_t route(void *user, uint32_t type, uint64_t dst_cid, uint32_t dst_port, uint64_t src_cid, uint32_t src_port,
                     int32_t fd)
{
    vm *self = user;
    if (dst_cid == HOST_CID && self->fwd_open)  /* VSN_DEVICE_F_ROUTE_HOST: forward-cid, stream or seqpacket */
        return forward_route(&self->fwd, type, dst_port, src_port, fd);
    for (unsigned i = 0; i < table_size; i++) {
        vm *t = &table[i];
        if (t == self || t->opt->guest_cid != dst_cid) continue;
        if (!options_share_group(self->opt, t->opt)) break;
        int rc = vsn_device_connect_from(t->dev, dst_port, type, src_cid, src_port, fd);
        vu_log(rc == 0 ? VSN_LOG_DEBUG : VSN_LOG_INFO, "%s: %s port %u -> cid %llu port %u: %s", self->name,
               type == VSN_VIRTIO_VSOCK_TYPE_SEQPACKET ? "seqpacket" : "stream", src_port, (unsigned long long)dst_cid,
               dst_port, rc == 0 ? "routed" : "refused by the target device");
        return rc;
    }
    vu_log(VSN_LOG_INFO, "%s: port %u -> cid %llu port %u: no VM with that CID in a shared group", self->name, src_port,
           (unsigned long long)dst_cid, dst_port);
    return -EHOSTUNREACH;
}

int router_attach(vm *vms, unsigned n)
{
    table = vms;
    table_size = n;
    for (unsigned i = 0; i < n; i++) {
        int rc = vsn_device_set_router(vms[i].dev, route, &vms[i]);
        if (rc < 0) {
            vu_log(VSN_LOG_ERROR, "%s: router not installed (errno %d)", vms[i].name, -rc);
            return rc;
        }
    }
    return 0;
}
